/* Where a step's gradients come from: forward and backward passes over the
 * samples the sampler assigns to this rank (or to one block, in deterministic
 * mode), into whatever buffer the model's gradients are bound to. */
#include <string.h>

#include "dptrain/reduce.h"
#include "dptrain/replicas.h"

/* train_accuracy from the training forward pass itself (dropout on, as Keras counts it): no
 * extra pass. */
static void count_correct(const dpt_grad_source *s, const float *out, size_t n)
{
    if (!s->correct)
        return;
    int k = s->model->out_dim;
    for (size_t i = 0; i < n; i++)
        *s->correct += dpt_argmax(out + i * (size_t)k, k) == (int)s->y[i * s->data->tdim];
}

/* One thread's rows of a micro-batch on its replica: gathered, forward, loss, backward. */
static void replica_part(void *ctx, dpt_replica_part *p)
{
    const dpt_grad_source *s = ctx;
    dpt_model *m = p->model;
    const size_t *ids = s->sampler->order + p->begin;
    dpt_data_gather(p->x, p->y, s->data, ids, p->n);
    dpt_fwd_ctx fwd = {1, s->seed, (uint64_t)*s->step, ids};
    const float *out = dpt_model_forward_ctx(m, &fwd, p->x, (int)p->n);
    p->loss += dpt_loss_eval(s->loss, p->dout, out, p->y, (int)p->n, m->out_dim);
    if (s->correct) {
        int k = m->out_dim;
        for (size_t j = 0; j < p->n; j++)
            p->correct += dpt_argmax(out + j * (size_t)k, k) == (int)p->y[j * s->data->tdim];
    }
    dpt_model_backward(m, p->dout, (int)p->n, p->written, NULL, NULL);
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
        double t0 = dpt_trace_now(s->trace);
        dpt_data_gather(s->x, s->y, s->data, s->sampler->order + begin, n);
        dpt_trace_span(s->trace, "gather batch", "data", t0, (int64_t)n);
        /* training mode: dropout's masks keyed by step and each sample's index in the data set */
        dpt_fwd_ctx fwd = {1, s->seed, (uint64_t)*s->step, s->sampler->order + begin};
        const float *out = dpt_model_forward_ctx(m, &fwd, s->x, (int)n);
        loss += dpt_loss_eval(s->loss, s->dout, out, s->y, (int)n, m->out_dim);
        count_correct(s, out, n);
        /* Gradients are final, and may travel, only in the last micro-batch. */
        dpt_model_backward(m, s->dout, (int)n, written, p == parts - 1 ? ready : NULL, ctx);
        written = 1;
    }
    if (!written) /* an empty slice still joins the reduction, with zeros */
        dpt_model_zero_grad(m);
    return loss;
}

double dpt_grad_rows(const dpt_grad_source *s, float *g, size_t begin, size_t n)
{
    dpt_model *m = s->model;
    dpt_model_bind_grads(m, g);
    if (n == 0) {
        memset(g, 0, sizeof(float) * m->nparams);
        return 0;
    }
    dpt_data_gather(s->x, s->y, s->data, s->sampler->order + begin, n);
    dpt_fwd_ctx fwd = {1, s->seed, (uint64_t)*s->step, s->sampler->order + begin};
    const float *out = dpt_model_forward_ctx(m, &fwd, s->x, (int)n);
    double loss = dpt_loss_eval(s->loss, s->dout, out, s->y, (int)n, m->out_dim);
    count_correct(s, out, n);
    dpt_model_backward(m, s->dout, (int)n, 0, NULL, NULL);
    return loss;
}
