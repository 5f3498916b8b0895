/* One optimizer step: the reducer's combined gradients, their average and
 * norm, penalty and clipping, the update, and the parameters shared again.
 * Which path combines them is the reducer's business (src/reduce/); every
 * rank makes the same collective calls, and the values that steer control
 * flow (loss, gradient norm) are reduced before they are looked at, so all
 * ranks decide alike. */
#include "dptrain/train.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int dpt_trainer_fused(const dpt_config *c, const dpt_reducer *r)
{
    return !r->deterministic && !(c->clip_norm > 0) && !(c->reg.l1 > 0 || c->reg.l2 > 0) &&
           c->train.nonfinite == DPT_NONFINITE_STOP;
}

/* Skipped steps are told (rank 0): each of the first few, then every SKIP_TELL_EVERY-th; a run that skips
 * must say so, without flooding stderr. */
enum { SKIP_TELL_FIRST = 10, SKIP_TELL_EVERY = 100 };

/* Counts a skipped step and tells it; too many in a row (training.max_skipped) means the run has
 * diverged rather than met a bad batch, and stops it on every rank alike. */
static int skip_step(dpt_trainer *t, const char *what, dpt_err *e)
{
    const dpt_config *c = t->cfg;
    dpt_position *p = &t->pos;
    t->reducer->ops->skip(t->reducer);
    p->skipped++;
    p->skipped_run++;
    p->step++;
    if (c->train.max_skipped > 0 && p->skipped_run >= c->train.max_skipped)
        return dpt_errf(e, "non-finite %s at step %lld (epoch %lld): %lld steps in a row skipped "
                        "(training.max_skipped = %lld); stopping: lower optimizer.lr, or look for extreme values in the data",
                        what, (long long)p->step, (long long)p->epoch + 1, (long long)p->skipped_run,
                        (long long)c->train.max_skipped);
    if (t->comm->rank == 0 && t->on_note && (p->skipped <= SKIP_TELL_FIRST || p->skipped % SKIP_TELL_EVERY == 0)) {
        char line[256];
        snprintf(line, sizeof line, "non-finite %s at step %lld (epoch %lld): step skipped (%lld skipped so far%s)",
                 what, (long long)p->step, (long long)p->epoch + 1, (long long)p->skipped,
                 p->skipped == SKIP_TELL_FIRST ? "; from now on every 100th is told" : "");
        t->on_note(t->ctx, line);
    }
    return DPT_OK;
}

/* A non-finite loss or norm (the same on every rank): stop, or skip the step when asked and the
 * parameters are still untouched. */
static int nonfinite(dpt_trainer *t, double loss, double *loss_sum, double *count, dpt_err *e)
{
    const char *what = isfinite(loss) ? "gradient norm" : "loss";
    if (t->fused || t->cfg->train.nonfinite != DPT_NONFINITE_SKIP)
        return dpt_errf(e, "non-finite %s at step %lld (epoch %lld); stopping", what, (long long)t->pos.step + 1,
                        (long long)t->pos.epoch + 1);
    *loss_sum = *count = 0; /* a skipped step adds nothing to the epoch's loss */
    return skip_step(t, what, e);
}

/* The penalty's value, its gradient added to this rank's averaged gradients; returns their new
 * squared norm over [lo, hi). */
static double add_penalty(dpt_trainer *t, double *penalty)
{
    const dpt_reducer *r = t->reducer;
    *penalty = dpt_reg_apply(&t->cfg->reg, t->model.grads, t->model.params, r->ranges, r->nranges);
    double n2 = dpt_grad_norm(t->model.grads + r->lo, r->hi - r->lo);
    return n2 * n2;
}

int dpt_trainer_step(dpt_trainer *t, size_t i, double *loss_sum, double *count, dpt_err *e)
{
    const dpt_config *c = t->cfg;
    dpt_reducer *r = t->reducer;
    double penalty = 0;
    double base = c->sched.kind == DPT_SCHED_PLATEAU ? t->plateau.lr : c->optim.lr;
    double lr = dpt_sched_lr(&c->sched, base, t->pos.step, t->total_steps);
    if (c->scale_lr)
        lr *= (double)t->sampler.batch / (double)c->reference_batch;
    double loss = r->ops->gradients(r, i, count);
    if (t->fused)
        dpt_optim_begin_step(&t->opt);
    double sq = dpt_update_average(&t->update, r, &t->opt, lr, (float)(1.0 / *count), t->fused);
    if (t->fused)
        r->ops->publish(r);
    else if (c->reg.l1 > 0 || c->reg.l2 > 0)
        sq = add_penalty(t, &penalty);
    double norm = r->ops->norm(r, &loss, &penalty, sq);
    t->last.train_loss = loss / *count;
    t->last.penalty = penalty;
    t->last.grad_norm = norm;
    *loss_sum = loss;
    if (!isfinite(loss) || !isfinite(norm))
        return nonfinite(t, loss, loss_sum, count, e);
    t->pos.skipped_run = 0;
    t->last.lr = lr;
    if (!t->fused) {
        if (c->clip_norm > 0)
            dpt_grad_clip(t->model.grads + r->lo, r->hi - r->lo, norm, c->clip_norm);
        dpt_optim_begin_step(&t->opt);
        dpt_update_apply(&t->update, r, &t->opt, lr);
    }
    t->pos.step++;
    return DPT_OK;
}
