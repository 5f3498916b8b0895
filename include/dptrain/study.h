/* A study: one base experiment run many times, over a grid (or a zip) of swept values times a
 * list of seeds. This module reads the study file, expands it into trials (each a complete,
 * validated experiment), splits ranks into groups that each train one trial at a time, and does
 * the statistics of the results. It makes no MPI call and writes no file. */
#ifndef DPTRAIN_STUDY_H
#define DPTRAIN_STUDY_H

#include <stdint.h>

#include "dptrain/config.h"
#include "dptrain/error.h"

enum { DPT_STUDY_KEYS_MAX = 8, DPT_STUDY_VALUES_MAX = 64, DPT_STUDY_SEEDS_MAX = 1000, DPT_STUDY_VALUE_MAX = 256 };

typedef enum { DPT_STUDY_GRID, DPT_STUDY_ZIP } dpt_study_mode;

/* One [sweep] line: an experiment key and the values it takes. */
typedef struct {
    char key[DPT_NAME_MAX];                                /* "section.key" */
    int line;                                              /* in the study file */
    int n;
    char values[DPT_STUDY_VALUES_MAX][DPT_STUDY_VALUE_MAX];
} dpt_sweep;

typedef struct {
    char file[DPT_PATH_MAX];    /* the study file */
    char name[DPT_NAME_MAX];    /* study.name: the folder under run.dir; default the file's base name */
    char base[DPT_PATH_MAX];    /* study.base: an experiment file; "" = the file's own sections */
    dpt_study_mode mode;        /* study.mode */
    int ranks_per_run;          /* study.ranks_per_run */
    char seed_key[32];          /* study.seed_key: run.seed, run.init_seed or run.data_seed */
    int nseeds;                 /* study.seeds: a count (run.seed, +1, ...) or a list */
    int seeds_counted;          /* 1 when study.seeds gave a count */
    uint64_t seeds[DPT_STUDY_SEEDS_MAX];
    int nsweep;
    dpt_sweep sweep[DPT_STUDY_KEYS_MAX];
    int line[8];                /* line of each [study] key, for errors (study.c's table order) */
    char *inline_text;          /* the file with [study] and [sweep] lines blanked (line numbers kept) */
    int nsets;                  /* --set KEY=VALUE of the command line, applied to the base experiment */
    const char *sets[DPT_CONFIG_SETS_MAX];
} dpt_study;

/* One run of the study: a setting (a choice of swept values) with a seed. */
typedef struct {
    dpt_config cfg;             /* complete, validated and resolved; run.dir is RUN_DIR/STUDY */
    int setting;                /* 0-based */
    uint64_t seed;
} dpt_trial;

/* Reads the study file at path (no experiment is loaded yet); errors name file:line and key. */
int dpt_study_load(dpt_study *s, const char *path, dpt_err *e);

/* Reads a study from text (origin names it in errors), as dpt_study_load. */
int dpt_study_parse(dpt_study *s, const char *text, const char *origin, dpt_err *e);

/* Adds a command line's --set KEY=VALUE (kept by pointer), applied to the base experiment of
 * every trial as train applies it; refused for a swept key and run.name, which each trial sets. */
int dpt_study_add_set(dpt_study *s, const char *assignment, dpt_err *e);

/* Frees what load or parse allocated (a zeroed s is fine). */
void dpt_study_free(dpt_study *s);

/* Number of settings: the product of the sweep lengths (grid) or their common length (zip). */
int dpt_study_nsettings(const dpt_study *s);

/* Index into sweep[k].values of setting i's value of the k-th swept key. */
int dpt_study_value(const dpt_study *s, int setting, int k);

/* Expands s into *trials (malloc'd, setting-major, then seeds; the caller frees) and *n: each
 * trial's experiment is built, swept, seeded, placed in RUN_DIR/STUDY/TRIAL and validated. */
int dpt_study_trials(const dpt_study *s, dpt_trial **trials, int *n, dpt_err *e);

/* The name of a trial: "s<setting+1>-seed<seed>" (its run directory's name). */
void dpt_study_trial_name(char *out, size_t n, int setting, uint64_t seed);

/* The group (0 .. nranks/k - 1) of each of nranks ranks from the node each is on (host[r], any
 * id): k consecutive ranks of one node when k divides every node's rank count, else rank / k.
 * DPT_FAIL when k does not divide nranks. */
int dpt_study_colors(int *color, const uint64_t *host, int nranks, int k, dpt_err *e);

/* Mean, sample standard deviation (n - 1) and the half-width of the 95% confidence interval of
 * the mean (Student's t, n - 1 degrees of freedom) of x[0..n); sd and half are NaN when n < 2. */
void dpt_study_stats(const double *x, int n, double *mean, double *sd, double *half);

/* The 0.975 quantile of Student's t with df >= 1 degrees of freedom. */
double dpt_study_t975(int df);

#endif
