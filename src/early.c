/* Early stopping's bookkeeping, kept apart from the loop so it can be tested
 * on constructed validation curves. */
#include "dptrain/early.h"

#include <math.h>
#include <stddef.h>

static const char *const metric_names[] = {[DPT_METRIC_VAL_LOSS] = "val_loss",
                                           [DPT_METRIC_VAL_ACCURACY] = "val_accuracy",
                                           [DPT_METRIC_TRAIN_LOSS] = "train_loss"};

const char *dpt_early_metric_name(int metric)
{
    return metric >= 0 && metric < (int)(sizeof metric_names / sizeof metric_names[0]) ? metric_names[metric]
                                                                                       : NULL;
}

void dpt_early_init(dpt_early *s, int maximize, int64_t patience, double min_delta)
{
    *s = (dpt_early){.maximize = maximize, .patience = patience, .min_delta = min_delta, .best = NAN};
}

void dpt_early_init_sklearn(dpt_early *s, int64_t n_iter_no_change, double tol)
{
    *s = (dpt_early){.sklearn = 1, .patience = n_iter_no_change, .min_delta = tol, .best = NAN};
}

/* sklearn's _update_no_improvement_count: the count and the best follow two different tests
 * (beat by tol, beat at all), and the stop needs one epoch more than the patience rule. */
static int update_sklearn(dpt_early *s, double value, int64_t step, int *improved)
{
    double best = isnan(s->best) ? INFINITY : s->best;
    if (isnan(value) || value > best - s->min_delta)
        s->bad++;
    else
        s->bad = 0;
    *improved = value < best;
    if (*improved) {
        s->best = value;
        s->best_step = step;
    }
    return s->bad > s->patience;
}

int dpt_early_update(dpt_early *s, double value, int64_t step, int *improved)
{
    if (s->sklearn)
        return update_sklearn(s, value, step, improved);
    /* A NaN value never improves, so a diverged run cannot become "best". */
    *improved = !isnan(value) && (isnan(s->best) || (s->maximize ? value > s->best + s->min_delta
                                                                 : value < s->best - s->min_delta));
    if (*improved) {
        s->best = value;
        s->best_step = step;
        s->bad = 0;
        return 0;
    }
    s->bad++;
    return s->patience > 0 && s->bad >= s->patience;
}
