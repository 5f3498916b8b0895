/* Early stopping as a small pure state machine: feed it each validation
 * value; it says whether the value is a new best and whether to stop. */
#ifndef DPTRAIN_EARLY_H
#define DPTRAIN_EARLY_H

#include <stdint.h>

/* The validation metric watched. */
typedef enum { DPT_METRIC_VAL_LOSS, DPT_METRIC_VAL_ACCURACY } dpt_early_metric;

typedef struct {
    int maximize;        /* accuracy-like metric: larger is better */
    int64_t patience;    /* evaluations without improvement before stopping; 0 = never stop */
    double min_delta;    /* an improvement must beat the best by more than this */
    double best;         /* NaN until the first value */
    int64_t best_step;
    int64_t bad;         /* evaluations since the last improvement */
} dpt_early;

/* Name of metric as the experiment file and summary.json spell it; NULL outside the enum. */
const char *dpt_early_metric_name(int metric);

/* Starts watching a metric. */
void dpt_early_init(dpt_early *s, int maximize, int64_t patience, double min_delta);

/* Records value seen at step; sets *improved; returns 1 when training should stop. */
int dpt_early_update(dpt_early *s, double value, int64_t step, int *improved);

#endif
