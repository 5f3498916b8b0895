/* Two levels, as NCCL's and Horovod's hierarchical allreduce: with several
 * ranks on each of several nodes, local rank l first sums slice l of the
 * gradient over its node's ranks straight from node-shared memory, then
 * allreduces that slice with the ranks of the same local rank on the other
 * nodes (each node sends the gradient's bytes once, split over its ranks:
 * a ring's minimum), updates it, and writes the updated slice into every
 * region of its node. The ranks holding slice l on every node apply the
 * same update to the same sums, so every replica stays the same. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/reduce.h"

typedef struct {
    dpt_reducer r;
    dpt_comm node, cross;      /* this node's ranks; the ranks of this local rank on every node */
    dpt_shared *shared;        /* over node: gradients at 0, parameters at stride, per rank */
    size_t stride;
    const float **in;          /* [local ranks] this rank's slice of every local region */
    float *sum;                /* [slice] the node's sum, then every node's */
    dpt_gather *gather;        /* the optimizer state's slices, within the node */
} hier;

static double gradients(dpt_reducer *r, size_t i, double *count)
{
    hier *h = (hier *)r;
    size_t len = r->hi - r->lo;
    int local = h->node.size;
    double loss = dpt_grad_local(r->src, r->comm, i, NULL, NULL, count);
    double t0 = dpt_trace_now(r->src->trace);
    dpt_shared_sync(h->shared); /* every local region is final */
    memcpy(h->sum, h->in[0], sizeof(float) * len);
    for (int q = 1; q < local; q++)
        for (size_t j = 0; j < len; j++)
            h->sum[j] += h->in[q][j];
    dpt_trace_span(r->src->trace, "node sum", "comm", t0, (int64_t)(sizeof(float) * len));
    t0 = dpt_trace_now(r->src->trace);
    dpt_comm_allreduce_f(&h->cross, h->sum, len);
    dpt_comm_allreduce_d(r->comm, &loss, 1);
    dpt_trace_span(r->src->trace, "allreduce across nodes", "comm", t0, (int64_t)(sizeof(float) * len));
    return loss;
}

static int inputs(const dpt_reducer *r, const float **in, size_t a)
{
    in[0] = ((const hier *)r)->sum + (a - r->lo);
    return 1;
}

static void share_run(dpt_reducer *r, size_t a, size_t b)
{
    hier *h = (hier *)r;
    for (int q = 0; q < h->node.size; q++)
        if (q != h->node.rank)
            memcpy(dpt_shared_region(h->shared, q) + h->stride + a, r->src->model->params + a, sizeof(float) * (b - a));
}

static void publish(dpt_reducer *r)
{
    double t0 = dpt_trace_now(r->src->trace);
    dpt_shared_sync(((hier *)r)->shared);
    dpt_trace_span(r->src->trace, "barrier: parameters shared", "comm", t0, -1);
}

/* The node's slices cover the model once: the norm and penalty are summed over the node. */
static double norm(dpt_reducer *r, double *loss, double *penalty, double sq)
{
    double v[2] = {*penalty, sq};
    (void)loss; /* reduced over every rank already */
    dpt_comm_allreduce_d(&((hier *)r)->node, v, 2);
    *penalty = v[0];
    return sqrt(v[1]);
}

static void skip(dpt_reducer *r)
{
    dpt_shared_sync(((hier *)r)->shared);
}

static void gather_state(dpt_reducer *r, dpt_optim *opt)
{
    for (int i = 0; i < opt->nstate; i++)
        dpt_gather_run(((hier *)r)->gather, opt->state[i]);
}

static void free_hier(dpt_reducer *r)
{
    hier *h = (hier *)r;
    if (h->shared) {
        r->src->model->grads = r->src->model->params = NULL; /* the window's */
        dpt_shared_free(h->shared);
    }
    dpt_gather_free(h->gather);
    free(h->in);
    free(h->sum);
    if (h->cross.size)
        dpt_comm_free(&h->cross);
    if (h->node.size)
        dpt_comm_free(&h->node);
}

static const dpt_reducer_ops ops = {
    .gradients = gradients,
    .inputs = inputs,
    .share_run = share_run,
    .publish = publish,
    .norm = norm,
    .gather_state = gather_state,
    .skip = skip,
    .free = free_hier,
};

/* The node and cross groups, the slice and its buffers (collective: agreed). */
static int plan(hier *h, const dpt_reduce_plan *p, dpt_err *e)
{
    size_t n = p->src->model->nparams, lo, hi;
    if (dpt_comm_split_node(p->comm, &h->node, e) != DPT_OK ||
        dpt_comm_split(p->comm, h->node.rank, &h->cross, e) != DPT_OK)
        return DPT_FAIL;
    dpt_comm_shard(&h->node, n, h->node.rank, &lo, &hi);
    int ok = dpt_reducer_set_run(&h->r, p, lo, hi) == DPT_OK;
    h->in = malloc(sizeof(float *) * (size_t)h->node.size);
    h->sum = malloc(sizeof(float) * (hi - lo + 1));
    h->gather = dpt_gather_new(&h->node, n, 0);
    if (dpt_comm_any(p->comm, !ok || !h->in || !h->sum || !h->gather))
        return dpt_errf(e, "train: out of memory for the hierarchical reduction");
    return DPT_OK;
}

void dpt_reduce_hierarchical_new(dpt_reducer **out, const dpt_reduce_plan *p)
{
    dpt_model *m = p->src->model;
    size_t n = m->nparams, stride = (n + 1023) / 1024 * 1024;
    dpt_err e;
    hier *h = dpt_reducer_alloc(sizeof *h, &ops, "hierarchical: node-shared sums, allreduce across nodes", p, 0, n);
    *out = NULL;
    if (dpt_comm_any(p->comm, !h)) {
        dpt_reducer_free(h ? &h->r : NULL);
        return;
    }
    if (plan(h, p, &e) != DPT_OK || !(h->shared = dpt_shared_new(&h->node, 2 * stride))) {
        dpt_reducer_free(&h->r); /* collective: every rank has come this far */
        return;
    }
    float *mine = dpt_shared_region(h->shared, h->node.rank);
    memcpy(mine + stride, m->params, sizeof(float) * n);
    free(m->grads);
    free(m->params);
    dpt_model_bind_grads(m, mine);
    dpt_model_bind_params(m, mine + stride);
    h->stride = stride;
    for (int q = 0; q < h->node.size; q++)
        h->in[q] = dpt_shared_region(h->shared, q) + h->r.lo;
    *out = &h->r;
}
