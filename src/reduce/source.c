/* Where a step's gradients come from: forward and backward passes over the
 * samples the sampler assigns to this rank (or to one block, in deterministic
 * mode), into whatever buffer the model's gradients are bound to; on the
 * rank's sample threads where it has some (src/replicas.c). */
#include <string.h>

#include "dptrain/reduce.h"
#include "dptrain/replicas.h"

/* One forward and backward pass of rows [begin, begin + n) of the sampler's order on model m with
 * batch buffers x, y, dout, adding (accumulate) or writing its gradients; adds the correct
 * predictions to *correct (NULL: not counted: train_accuracy comes from this training pass, dropout
 * on, as Keras counts it); returns the loss sum. ready as in dpt_model_backward. */
static double pass(const dpt_grad_source *s, dpt_model *m, float *x, float *y, float *dout, size_t begin, size_t n,
                   int accumulate, dpt_grad_ready_fn ready, void *ctx, double *correct)
{
    const size_t *ids = s->sampler->order + begin;
    double t0 = m->trace ? dpt_trace_now(m->trace) : 0; /* replicas keep no trace */
    dpt_data_gather(x, y, s->data, ids, n);
    if (m->trace)
        dpt_trace_span(m->trace, "gather batch", "data", t0, (int64_t)n);
    /* training mode: dropout's masks keyed by step and each sample's index in the data set */
    dpt_fwd_ctx fwd = {1, s->seed, (uint64_t)*s->step, ids};
    const float *out = dpt_model_forward_ctx(m, &fwd, x, (int)n);
    double loss = dpt_loss_eval(s->loss, dout, out, y, (int)n, m->out_dim);
    int k = m->out_dim;
    for (size_t j = 0; correct && j < n; j++)
        *correct += dpt_argmax(out + j * (size_t)k, k) == (int)y[j * s->data->tdim];
    dpt_model_backward(m, dout, (int)n, accumulate, ready, ctx);
    return loss;
}

/* One thread's rows of a micro-batch on its replica. */
static void replica_part(void *ctx, dpt_replica_part *p)
{
    const dpt_grad_source *s = ctx;
    if (p->n == 0)
        return;
    p->loss += pass(s, p->model, p->x, p->y, p->dout, p->begin, p->n, p->written, NULL, NULL,
                    s->correct ? &p->correct : NULL);
    p->written = 1;
}

/* dpt_grad_local with the rank's samples split over sample threads: the gradients are whole only
 * once the threads' are summed, so ready hears of every layer then, in backward's order. */
static double local_threads(const dpt_grad_source *s, const dpt_comm *c, size_t i, dpt_grad_ready_fn ready,
                            void *ctx, double *count)
{
    dpt_model *m = s->model;
    double loss = 0, correct = 0;
    *count = 0;
    for (int p = 0; p < s->accumulation; p++) {
        size_t begin, n, total;
        dpt_sampler_slice(s->sampler, i, p, s->accumulation, c->rank, c->size, &begin, &n, &total);
        *count += (double)total;
        double t0 = dpt_trace_now(s->trace);
        dpt_replicas_run(s->replicas, begin, n, replica_part, (void *)s);
        dpt_trace_span(s->trace, "sample threads", "compute", t0, (int64_t)n);
    }
    dpt_replicas_sum(s->replicas, &loss, &correct);
    if (s->correct)
        *s->correct += correct;
    for (int l = m->nlayers - 1; ready && l >= 0; l--)
        if (m->layers[l].nparams)
            ready(ctx, m->layers[l].off, m->layers[l].nparams);
    return loss;
}

double dpt_grad_local(const dpt_grad_source *s, const dpt_comm *c, size_t i, dpt_grad_ready_fn ready, void *ctx,
                      double *count)
{
    if (s->replicas)
        return local_threads(s, c, i, ready, ctx, count);
    dpt_model *m = s->model;
    int parts = s->accumulation, written = 0;
    double loss = 0;
    *count = 0;
    for (int p = 0; p < parts; p++) {
        size_t begin, n, total;
        dpt_sampler_slice(s->sampler, i, p, parts, c->rank, c->size, &begin, &n, &total);
        *count += (double)total;
        if (n == 0)
            continue;
        /* Gradients are final, and may travel, only in the last micro-batch. */
        loss += pass(s, m, s->x, s->y, s->dout, begin, n, written, p == parts - 1 ? ready : NULL, ctx, s->correct);
        written = 1;
    }
    if (!written) /* an empty slice still joins the reduction, with zeros */
        dpt_model_zero_grad(m);
    return loss;
}

/* The gradient of rows [begin, begin + n) written into g, bound as m's gradients. */
static double rows_on(const dpt_grad_source *s, dpt_model *m, float *x, float *y, float *dout, float *g,
                      size_t begin, size_t n, double *correct)
{
    dpt_model_bind_grads(m, g);
    if (n == 0) {
        memset(g, 0, sizeof(float) * m->nparams);
        return 0;
    }
    return pass(s, m, x, y, dout, begin, n, 0, NULL, NULL, correct);
}

static void block_part(void *ctx, dpt_replica_part *p)
{
    const dpt_grad_source *s = ctx;
    p->loss = rows_on(s, p->model, p->x, p->y, p->dout, p->model->grads, p->begin, p->n,
                      s->correct ? &p->correct : NULL);
}

void dpt_grad_blocks(const dpt_grad_source *s, int count, const size_t *begin, const size_t *n, float *const *g,
                     double *loss)
{
    if (!s->replicas) {
        for (int k = 0; k < count; k++)
            loss[k] = rows_on(s, s->model, s->x, s->y, s->dout, g[k], begin[k], n[k], s->correct);
        dpt_model_bind_grads(s->model, g[0]);
        return;
    }
    const dpt_replica_part *p = dpt_replicas_run_each(s->replicas, count, begin, n, g, block_part, (void *)s);
    for (int k = 0; k < count; k++) {
        loss[k] = p[k].loss;
        if (s->correct)
            *s->correct += p[k].correct;
    }
}
