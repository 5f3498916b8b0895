/* Every rank sums the whole gradient: one blocking allreduce after backward,
 * or buckets of about bucket_mb that backward hands to comm.c's progress
 * thread as their layers finish (ring allreduces that travel while backward
 * computes, waited for before the update). Each rank then averages and
 * updates every parameter itself. With training.comm_dtype = bf16 the
 * gradients travel in 16 bits, as DDP's bf16 compression hook and Horovod's
 * fp16 compression send them: the ring's hops carry bfloat16 partial sums,
 * each rank adds what it receives into float sums, and the summed shards are
 * all-gathered in bfloat16; every rank, the owner of a shard too, uses the
 * rounded sums, so all hold the same gradient. Half the bytes of fp32. */
#include <stdlib.h>

#include "dptrain/reduce.h"

typedef struct {
    dpt_reducer r;
    dpt_bucketed *buckets;
} allreduce;

static void on_ready(void *ctx, size_t off, size_t len)
{
    allreduce *a = ctx;
    double t0 = dpt_trace_now(a->r.src->trace);
    dpt_bucketed_ready(a->buckets, off, len);
    dpt_trace_span(a->r.src->trace, "gradients ready: start buckets", "comm", t0, (int64_t)len);
}

static double gradients(dpt_reducer *r, size_t i, double *count)
{
    allreduce *a = (allreduce *)r;
    double loss = dpt_grad_local(r->src, r->comm, i, on_ready, a, count);
    double t0 = dpt_trace_now(r->src->trace);
    dpt_bucketed_finish(a->buckets);
    dpt_comm_allreduce_d(r->comm, &loss, 1);
    dpt_trace_span(r->src->trace, "wait for allreduces", "comm", t0, (int64_t)(sizeof(float) * r->hi));
    return loss;
}

static void free_allreduce(dpt_reducer *r)
{
    dpt_bucketed_free(((allreduce *)r)->buckets);
}

static const dpt_reducer_ops ops = {
    .gradients = gradients,
    .inputs = dpt_reducer_own_inputs,
    .share_run = dpt_reducer_no_share_run,
    .publish = dpt_reducer_no_op,
    .norm = dpt_reducer_local_norm,
    .gather_state = dpt_reducer_no_gather,
    .skip = dpt_reducer_no_op,
    .free = free_allreduce,
};

int dpt_reduce_allreduce_new(dpt_reducer **out, const dpt_reduce_plan *p, dpt_err *e)
{
    dpt_model *m = p->src->model;
    static const char *names[2][2] = {
        {"one blocking allreduce", "bucketed ring allreduce on a progress thread"},
        {"bf16 reduce-scatter and all-gather (fp32 sums)", "bucketed bf16 ring allreduce on a progress thread (fp32 sums)"},
    };
    const char *name = names[p->bf16 != 0][p->bucket_mb > 0];
    allreduce *a = dpt_reducer_alloc(sizeof *a, &ops, name, p, 0, m->nparams);
    if (!(*out = (dpt_reducer *)a))
        return dpt_errf(e, "train: out of memory");
    a->buckets = dpt_bucketed_new(p->comm, m->grads, m->nparams, (size_t)(p->bucket_mb * 1048576.0), p->bf16);
    return a->buckets ? DPT_OK : dpt_errf(e, "train: out of memory for the gradient buckets (%zu floats)", m->nparams);
}
