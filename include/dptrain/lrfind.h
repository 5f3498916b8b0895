/* The learning-rate range test's arithmetic (Smith 2017, as fastai's and Lightning's lr_find):
 * the exponential sweep of rates, the bias-corrected moving average of the loss, the divergence
 * rule and the suggestion. Pure; the command that trains is src/cli_lrfind.c. */
#ifndef DPTRAIN_LRFIND_H
#define DPTRAIN_LRFIND_H

#include "dptrain/error.h"

/* The test stops when the smoothed loss passes this many times its best (fastai's rule). */
#define DPT_LRFIND_DIVERGE 4.0

typedef struct {
    double min_lr, max_lr;
    int steps;
    double beta;      /* smoothing, 0.98 as fastai */
    double avg, best; /* the moving average before bias correction; the best smoothed loss */
    int n;            /* losses added so far */
} dpt_lrfind;

/* Starts a sweep from min_lr to max_lr over steps steps; checks 0 < min_lr < max_lr (finite) and
 * steps >= 2, naming --min, --max or --steps. */
int dpt_lrfind_init(dpt_lrfind *f, double min_lr, double max_lr, int steps, dpt_err *e);

/* Rate of step i (0-based): min_lr * (max_lr / min_lr)^(i / (steps - 1)), both ends included. */
double dpt_lrfind_rate(const dpt_lrfind *f, int i);

/* Adds the next step's loss; sets *smoothed (the moving average divided by 1 - beta^n) and
 * returns 1 when the test should stop: the smoothed loss is above DPT_LRFIND_DIVERGE times the best one, or not
 * finite. */
int dpt_lrfind_add(dpt_lrfind *f, double loss, double *smoothed);

/* Index of the suggested rate among n recorded steps: the most negative slope of the smoothed
 * loss against log lr (central differences, one-sided at the ends, as numpy.gradient), skipping
 * the first n / 10 steps and the last one (as Lightning); -1 when fewer than 2 remain or none
 * falls. */
int dpt_lrfind_suggest(const double *lr, const double *smoothed, int n);

#endif
