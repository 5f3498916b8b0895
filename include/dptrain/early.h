/* Early stopping as a small pure state machine: feed it each validation
 * value (or, with train_loss, each epoch's training loss); it says whether the
 * value is a new best and whether to stop. */
#ifndef DPTRAIN_EARLY_H
#define DPTRAIN_EARLY_H

#include <stdint.h>

/* The metric watched: a validation metric, or each epoch's mean training loss (sklearn's rule). */
typedef enum { DPT_METRIC_VAL_LOSS, DPT_METRIC_VAL_ACCURACY, DPT_METRIC_TRAIN_LOSS } dpt_early_metric;

typedef struct {
    int maximize;        /* accuracy-like metric: larger is better */
    int sklearn;         /* sklearn's rule: patience = n_iter_no_change, min_delta = tol (see below) */
    int64_t patience;    /* evaluations without improvement before stopping; 0 = never stop */
    double min_delta;    /* an improvement must beat the best by more than this */
    double best;         /* NaN until the first value */
    int64_t best_step;
    int64_t bad;         /* evaluations since the last improvement (sklearn: _no_improvement_count) */
} dpt_early;

/* Name of metric as the experiment file and summary.json spell it; NULL outside the enum. */
const char *dpt_early_metric_name(int metric);

/* Starts watching a metric. */
void dpt_early_init(dpt_early *s, int maximize, int64_t patience, double min_delta);

/* Starts watching a loss with sklearn MLP's rule (early_stopping=False): a value above best - tol
 * counts one more epoch without improvement (else the count restarts), any value below best is
 * the new best, and training stops once the count exceeds n_iter_no_change. */
void dpt_early_init_sklearn(dpt_early *s, int64_t n_iter_no_change, double tol);

/* Records value seen at step; sets *improved; returns 1 when training should stop. */
int dpt_early_update(dpt_early *s, double value, int64_t step, int *improved);

#endif
