/* Learning-rate schedules as closed forms of the step number: no state, so
 * a resumed run (or any rank) recomputes the rate of any step exactly from
 * (config, base rate, step, total). Also the linear scaling rule. The one
 * schedule with state, plateau, is src/plateau.c. */
#include "dptrain/optim.h"

#include <math.h>
#include <string.h>

static const char *const sched_names[] = {"constant", "step", "exponential", "cosine", "plateau"};
enum { NSCHED = (int)(sizeof sched_names / sizeof sched_names[0]) };

int dpt_sched_kind_parse(dpt_sched_kind *kind, const char *name)
{
    for (int i = 0; name && i < NSCHED; i++)
        if (strcmp(name, sched_names[i]) == 0) {
            *kind = (dpt_sched_kind)i;
            return DPT_OK;
        }
    return DPT_FAIL;
}

const char *dpt_sched_kind_name(int kind)
{
    return kind >= 0 && kind < NSCHED ? sched_names[kind] : NULL;
}

static int plateau_check(const dpt_sched_config *s, dpt_err *e)
{
    if (!(s->factor > 0 && s->factor < 1))
        return dpt_errf(e, "schedule.factor = %g: must be in (0, 1)", s->factor);
    if (s->patience < 0)
        return dpt_errf(e, "schedule.patience = %lld: must be >= 0", (long long)s->patience);
    if (!(s->threshold >= 0) || !isfinite(s->threshold))
        return dpt_errf(e, "schedule.threshold = %g: must be a finite number >= 0", s->threshold);
    if (s->cooldown < 0)
        return dpt_errf(e, "schedule.cooldown = %lld: must be >= 0", (long long)s->cooldown);
    return DPT_OK;
}

int dpt_sched_check(const dpt_sched_config *s, dpt_err *e)
{
    if ((int)s->kind < 0 || (int)s->kind >= NSCHED)
        return dpt_errf(e, "schedule.kind = %d: unknown (constant, step, exponential, cosine, plateau)",
                        (int)s->kind);
    if (s->kind == DPT_SCHED_STEP && s->step_size < 1)
        return dpt_errf(e, "schedule.step_size = %lld: must be >= 1", (long long)s->step_size);
    if ((s->kind == DPT_SCHED_STEP || s->kind == DPT_SCHED_EXP) &&
        (!(s->gamma > 0) || !isfinite(s->gamma)))
        return dpt_errf(e, "schedule.gamma = %g: must be a finite number > 0", s->gamma);
    if (!(s->min_lr >= 0) || !isfinite(s->min_lr))
        return dpt_errf(e, "schedule.min_lr = %g: must be a finite number >= 0", s->min_lr);
    if (s->warmup < 0)
        return dpt_errf(e, "schedule.warmup = %lld: must be >= 0", (long long)s->warmup);
    return s->kind == DPT_SCHED_PLATEAU ? plateau_check(s, e) : DPT_OK;
}

double dpt_sched_lr(const dpt_sched_config *s, double base_lr, int64_t step, int64_t total)
{
    if (step < 0)
        step = 0;
    const int64_t w = s->warmup > 0 ? s->warmup : 0;
    if (step < w)
        return base_lr * (double)(step + 1) / (double)w;
    const int64_t k = step - w;
    switch (s->kind) {
    case DPT_SCHED_CONSTANT:
    case DPT_SCHED_PLATEAU: break; /* the plateau's rate comes in as base_lr */
    case DPT_SCHED_STEP:
        return base_lr * pow(s->gamma, (double)(k / (s->step_size > 0 ? s->step_size : 1)));
    case DPT_SCHED_EXP: return base_lr * pow(s->gamma, (double)k);
    case DPT_SCHED_COSINE: {
        const int64_t T = total - w;
        if (T <= 0)
            return s->min_lr;
        const double x = (double)(k < T ? k : T) / (double)T;
        return s->min_lr + (base_lr - s->min_lr) * (1.0 + cos(acos(-1.0) * x)) / 2.0;
    }
    }
    return base_lr;
}

double dpt_sched_scale(double lr, int64_t batch, int64_t reference_batch)
{
    if (reference_batch <= 0 || batch <= 0)
        return lr;
    return lr * (double)batch / (double)reference_batch;
}
