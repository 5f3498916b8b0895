/* ReduceLROnPlateau, rule for rule as torch 1.x/2.x writes it (lr_scheduler.py), so a run
 * carried over from PyTorch lowers its rate at the same evaluations. */
#include "dptrain/plateau.h"

#include <math.h>

/* torch's eps: a cut smaller than this is not made (min_lr reached). */
static const double PLATEAU_EPS = 1e-8;

void dpt_plateau_init(dpt_plateau *p, const dpt_sched_config *s, int maximize, double lr)
{
    *p = (dpt_plateau){.maximize = maximize, .factor = s->factor, .threshold = s->threshold,
                       .min_lr = s->min_lr, .patience = s->patience, .cooldown = s->cooldown,
                       .best = maximize ? -INFINITY : INFINITY, .lr = lr};
}

/* threshold_mode 'rel': better by more than threshold times the best. */
static int is_better(const dpt_plateau *p, double a)
{
    return p->maximize ? a > p->best * (1.0 + p->threshold) : a < p->best * (1.0 - p->threshold);
}

int dpt_plateau_step(dpt_plateau *p, double value)
{
    if (is_better(p, value)) {
        p->best = value;
        p->bad = 0;
    } else {
        p->bad++;
    }
    if (p->cooldown_left > 0) {
        p->cooldown_left--;
        p->bad = 0; /* bad evaluations during the cooldown do not count */
    }
    if (p->bad <= p->patience)
        return 0;
    p->cooldown_left = p->cooldown;
    p->bad = 0;
    double lowered = fmax(p->lr * p->factor, p->min_lr);
    if (!(p->lr - lowered > PLATEAU_EPS))
        return 0;
    p->lr = lowered;
    return 1;
}
