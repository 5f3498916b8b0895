/* Gradients in 16 bits on the wire (training.comm_dtype = bf16), as DDP's bf16
 * compression hook and Horovod's fp16 compression send them: a ring
 * reduce-scatter whose hops carry bfloat16 partial sums, each rank adding what
 * it receives into float sums, then a ring all-gather of the summed shards in
 * bfloat16. Half the bytes of an fp32 allreduce. Every rank, the owner of a
 * shard too, uses the rounded sums, so all ranks hold the same gradient and
 * apply the same update. */
#include <stdlib.h>

#include "dptrain/reduce.h"

typedef struct {
    dpt_reducer r;
    uint16_t *wire;    /* [nparams] the gathered sums; its first shard also the hops' out buffer */
    uint16_t *in;      /* one shard: a hop's incoming partial sums */
} compressed;

static double gradients(dpt_reducer *r, size_t i, double *count)
{
    compressed *c = (compressed *)r;
    dpt_model *m = r->src->model;
    size_t n = m->nparams, lo, hi;
    double loss = dpt_grad_local(r->src, r->comm, i, NULL, NULL, count);
    double t0 = dpt_trace_now(r->src->trace);
    dpt_peers p = dpt_comm_peers(r->comm);
    dpt_ring_reduce_scatter_bf16(&p, m->grads, c->wire, c->in, n);
    dpt_comm_shard(r->comm, n, r->comm->rank, &lo, &hi);
    for (size_t j = lo; j < hi; j++)
        c->wire[j] = dpt_bf16_from(m->grads[j]);
    dpt_ring_allgather_u16(&p, c->wire, n);
    for (size_t j = 0; j < n; j++)
        m->grads[j] = dpt_bf16_to(c->wire[j]);
    dpt_comm_allreduce_d(r->comm, &loss, 1);
    dpt_trace_span(r->src->trace, "bf16 reduce-scatter and all-gather", "comm", t0, (int64_t)(sizeof(uint16_t) * n));
    return loss;
}

static void free_compressed(dpt_reducer *r)
{
    free(((compressed *)r)->wire);
    free(((compressed *)r)->in);
}

static const dpt_reducer_ops ops = {
    .gradients = gradients,
    .inputs = dpt_reducer_own_inputs,
    .share_run = dpt_reducer_no_share_run,
    .publish = dpt_reducer_no_op,
    .norm = dpt_reducer_local_norm,
    .gather_state = dpt_reducer_no_gather,
    .skip = dpt_reducer_no_op,
    .free = free_compressed,
};

int dpt_reduce_compressed_new(dpt_reducer **out, const dpt_reduce_plan *p, dpt_err *e)
{
    size_t n = p->src->model->nparams, shard = n / (size_t)p->comm->size + 1;
    compressed *c = dpt_reducer_alloc(sizeof *c, &ops, "bf16 reduce-scatter and all-gather (fp32 sums)", p, 0, n);
    if (!(*out = (dpt_reducer *)c))
        return dpt_errf(e, "train: out of memory");
    c->wire = malloc(sizeof(uint16_t) * (n ? n : 1));
    c->in = malloc(sizeof(uint16_t) * shard);
    return c->wire && c->in ? DPT_OK : dpt_errf(e, "training.comm_dtype = bf16: out of memory for %zu gradients", n);
}
