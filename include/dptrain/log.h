/* Rank 0's outputs: the run directory runs/NAME/ with config.ini (every key
 * resolved, plus the facts that make a run reproducible), metrics.jsonl (one
 * JSON object per report) and summary.json; and the progress shown to the
 * user: a live line on a terminal, plain lines otherwise. Computes nothing. */
#ifndef DPTRAIN_LOG_H
#define DPTRAIN_LOG_H

#include <stdint.h>
#include <stdio.h>

#include "dptrain/config.h"
#include "dptrain/error.h"
#include "dptrain/record.h"
#include "dptrain/train.h"

typedef struct {
    int active;           /* this rank writes (rank 0) */
    int tty;              /* stdout is a terminal: redraw one progress line */
    int line_open;        /* a progress line is on screen without its newline */
    char dir[DPT_PATH_MAX + DPT_NAME_MAX + 2];
    FILE *metrics;
    double last_draw;
    int fold;             /* cross-validation fold (1-based) recorded in metrics.jsonl; 0 = none */
    int last_fold;        /* the fold of last_step */
    int64_t last_step;    /* the last step in metrics.jsonl; -1 = none */
    int locked, lock_fd;  /* this process holds the run directory's lock (flock on lock_fd) */
} dpt_log;

/* Facts about the job recorded beside the configuration. */
typedef struct {
    int ranks;
    const dpt_record *record; /* what produced the run (commented lines in config.ini) */
} dpt_log_env;

/* On the writing rank: creates RUN_DIR/NAME/ and locks it (flock on run.lock, which names host
 * and pid) for the life of the process, failing at once with the holder's name when another run
 * has it; then removes temporary files an interrupted write left there. Elsewhere only zeroes l. */
int dpt_log_open(dpt_log *l, const dpt_config *c, int writer, dpt_err *e);

/* Moves everything an earlier run left in the locked run directory (all but run.lock and
 * previous-N/) into a new previous-N/, never over an existing one; moved gets its path, or ""
 * when there was nothing to move. */
int dpt_log_set_aside(dpt_log *l, char *moved, size_t size, dpt_err *e);

/* Writes config.ini and opens metrics.jsonl: when append, keeps its lines up to step (a strictly
 * increasing series) and appends; else starts it empty. */
int dpt_log_start(dpt_log *l, const dpt_config *c, const dpt_log_env *env, int append, int64_t step,
                  dpt_err *e);

/* Appends m to metrics.jsonl unless its step is not after the last one there (every report,
 * whatever training.log_every says); prints a plain line (or ends the live line) when m->console. */
void dpt_log_metrics(dpt_log *l, const dpt_trainer *t, const dpt_metrics *m);

/* Redraws the live progress line (terminal only, at most a few times a second). */
void dpt_log_progress(dpt_log *l, const dpt_trainer *t, double samples_per_s, double eta);

/* Prints one line of text to the user (writing rank only). */
void dpt_log_printf(dpt_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes summary.json atomically from a JSON object text. */
int dpt_log_summary(dpt_log *l, const char *json, dpt_err *e);

/* Drops metrics.jsonl lines after step (a resumed run logs them again) and any that do not
 * increase the step; fails, naming the file, when it cannot (the file is then left whole). */
int dpt_log_trim(dpt_log *l, int64_t step, dpt_err *e);

/* Closes files and releases the run directory's lock; accepts a zeroed log. */
void dpt_log_close(dpt_log *l);

/* Creates directory path and its missing parents (an existing one is fine). */
int dpt_log_mkdir_p(const char *path, dpt_err *e);

#endif
