/* What the reduction paths share: their common fields, and the ops that
 * several paths implement alike. */
#include <math.h>
#include <stdlib.h>

#include "dptrain/reduce.h"

int dpt_reducer_set_run(dpt_reducer *r, const dpt_reduce_plan *p, size_t lo, size_t hi)
{
    dpt_model *m = p->src->model;
    dpt_range *all = malloc(sizeof(dpt_range) * (size_t)m->nlayers);
    if (!r->ranges)
        r->ranges = malloc(sizeof(dpt_range) * (size_t)m->nlayers);
    if (!all || !r->ranges) {
        free(all);
        return DPT_FAIL;
    }
    /* The penalty's runs clipped to [lo, hi): on an unsharded path the model's own runs. */
    int n = dpt_model_penalty_ranges(m, all, m->nlayers, p->penalize_bias);
    r->lo = lo;
    r->hi = hi;
    r->nranges = 0;
    for (int i = 0; i < n; i++) {
        size_t a = all[i].off > lo ? all[i].off : lo, b = all[i].off + all[i].len;
        b = b < hi ? b : hi;
        if (a < b)
            r->ranges[r->nranges++] = (dpt_range){a, b - a};
    }
    free(all);
    return DPT_OK;
}

void *dpt_reducer_alloc(size_t size, const dpt_reducer_ops *ops, const char *name, const dpt_reduce_plan *p,
                        size_t lo, size_t hi)
{
    dpt_reducer *r = calloc(1, size);
    if (!r)
        return NULL;
    *r = (dpt_reducer){.ops = ops, .name = name, .comm = p->comm, .src = p->src, .max_inputs = 1};
    if (dpt_reducer_set_run(r, p, lo, hi) != DPT_OK) {
        free(r->ranges);
        free(r);
        return NULL;
    }
    return r;
}

int dpt_reducer_own_inputs(const dpt_reducer *r, const float **in, size_t a)
{
    in[0] = r->src->model->grads + a;
    return 1;
}

void dpt_reducer_no_share_run(dpt_reducer *r, size_t a, size_t b)
{
    (void)r;
    (void)a;
    (void)b;
}

void dpt_reducer_no_op(dpt_reducer *r)
{
    (void)r;
}

void dpt_reducer_no_gather(dpt_reducer *r, dpt_optim *opt)
{
    (void)r;
    (void)opt;
}

double dpt_reducer_local_norm(dpt_reducer *r, double *loss, double *penalty, double sq)
{
    (void)r;
    (void)loss;
    (void)penalty;
    return sqrt(sq);
}

double dpt_reducer_shard_norm(dpt_reducer *r, double *loss, double *penalty, double sq)
{
    double v[3] = {*loss, *penalty, sq}, t0 = dpt_trace_now(r->src->trace);
    dpt_comm_allreduce_d(r->comm, v, 3);
    dpt_trace_span(r->src->trace, "allreduce loss and norm", "comm", t0, -1);
    *loss = v[0];
    *penalty = v[1];
    return sqrt(v[2]);
}
