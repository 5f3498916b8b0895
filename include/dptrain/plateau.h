/* schedule.kind = plateau: torch.optim.lr_scheduler.ReduceLROnPlateau with
 * threshold_mode 'rel', as a small pure state machine fed each value of the
 * watched metric. Its state is what checkpoints keep. */
#ifndef DPTRAIN_PLATEAU_H
#define DPTRAIN_PLATEAU_H

#include <stdint.h>

#include "dptrain/optim.h"

typedef struct {
    int maximize;             /* accuracy-like metric (torch's mode 'max') */
    double factor, threshold, min_lr;
    int64_t patience, cooldown;
    double best;              /* -inf or +inf (torch's mode_worse) until a value improves */
    int64_t bad;              /* torch's num_bad_epochs */
    int64_t cooldown_left;    /* torch's cooldown_counter */
    double lr;                /* the current rate, before warmup and the linear scaling rule */
} dpt_plateau;

/* Starts at rate lr with s's factor, patience, threshold, cooldown and min_lr. */
void dpt_plateau_init(dpt_plateau *p, const dpt_sched_config *s, int maximize, double lr);

/* Records one value of the watched metric (torch's step(metrics)); returns 1 when the rate was
 * lowered. A NaN value never improves. */
int dpt_plateau_step(dpt_plateau *p, double value);

#endif
