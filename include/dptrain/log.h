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
#include "dptrain/train.h"

typedef struct {
    int active;           /* this rank writes (rank 0) */
    int tty;              /* stdout is a terminal: redraw one progress line */
    int line_open;        /* a progress line is on screen without its newline */
    char dir[DPT_PATH_MAX + DPT_NAME_MAX + 2];
    FILE *metrics;
    double last_draw;
    int fold;             /* cross-validation fold (1-based) recorded in metrics.jsonl; 0 = none */
} dpt_log;

/* Facts about the job recorded beside the configuration. */
typedef struct {
    int ranks;
    const char *blas, *mpi;
} dpt_log_env;

/* On the writing rank: creates runs/NAME/ (truncating metrics.jsonl unless append) and writes
 * config.ini; elsewhere only zeroes l. */
int dpt_log_open(dpt_log *l, const dpt_config *c, const dpt_log_env *env, int writer, int append, dpt_err *e);

/* Appends m to metrics.jsonl and prints a plain line (or ends the live line). */
void dpt_log_metrics(dpt_log *l, const dpt_trainer *t, const dpt_metrics *m);

/* Redraws the live progress line (terminal only, at most a few times a second). */
void dpt_log_progress(dpt_log *l, const dpt_trainer *t, double samples_per_s, double eta);

/* Prints one line of text to the user (writing rank only). */
void dpt_log_printf(dpt_log *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Writes summary.json atomically from a JSON object text. */
int dpt_log_summary(dpt_log *l, const char *json, dpt_err *e);

/* Drops metrics.jsonl lines after step (a resumed run logs them again). */
void dpt_log_trim(dpt_log *l, int64_t step);

/* Closes files; accepts a zeroed log. */
void dpt_log_close(dpt_log *l);

#endif
