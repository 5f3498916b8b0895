/* The range test's rules, kept apart from training so they can be tested on made-up losses. */
#include "dptrain/lrfind.h"

#include <math.h>

int dpt_lrfind_init(dpt_lrfind *f, double min_lr, double max_lr, int steps, dpt_err *e)
{
    *f = (dpt_lrfind){.min_lr = min_lr, .max_lr = max_lr, .steps = steps, .beta = 0.98, .best = INFINITY};
    if (!(min_lr > 0) || !isfinite(min_lr))
        return dpt_errf(e, "lr-find: --min %g: must be a finite number > 0", min_lr);
    if (!(max_lr > min_lr) || !isfinite(max_lr))
        return dpt_errf(e, "lr-find: --max %g: must be a finite number above --min %g", max_lr, min_lr);
    if (steps < 2)
        return dpt_errf(e, "lr-find: --steps %d: needs at least 2 steps", steps);
    return DPT_OK;
}

double dpt_lrfind_rate(const dpt_lrfind *f, int i)
{
    return f->min_lr * pow(f->max_lr / f->min_lr, (double)i / (double)(f->steps - 1));
}

int dpt_lrfind_add(dpt_lrfind *f, double loss, double *smoothed)
{
    f->n++;
    f->avg = f->beta * f->avg + (1.0 - f->beta) * loss;
    *smoothed = f->avg / (1.0 - pow(f->beta, f->n));
    if (*smoothed < f->best)
        f->best = *smoothed;
    return !isfinite(*smoothed) || *smoothed > DPT_LRFIND_DIVERGE * f->best;
}

/* Slope of s against log lr at j within [a, b), as numpy.gradient over that range. */
static double slope(const double *lr, const double *s, int a, int b, int j)
{
    int lo = j > a ? j - 1 : j, hi = j + 1 < b ? j + 1 : j;
    return (s[hi] - s[lo]) / (log(lr[hi]) - log(lr[lo]));
}

int dpt_lrfind_suggest(const double *lr, const double *smoothed, int n)
{
    int a = n / 10, b = n - 1, best = -1;
    double steepest = 0;
    if (b - a < 2)
        return -1;
    for (int j = a; j < b; j++) {
        double g = slope(lr, smoothed, a, b, j);
        if (isfinite(g) && g < steepest)
            steepest = g, best = j;
    }
    return best;
}
