/* Optimizer shards meeting in node-shared memory (every rank on one node):
 * each rank's gradients and parameters live in its region of a window; a rank
 * sums its shard straight from every region and writes its updated shard into
 * every region. No MPI copies, two barriers a step. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include "dptrain/reduce.h"

/* Shards larger than this (a core's L2 here) are copied with streaming stores. */
#define STREAM_BYTES ((size_t)4 << 20)

typedef struct {
    dpt_reducer r;
    dpt_shared *shared;
    size_t stride;            /* a region: gradients at 0, parameters at stride */
    const float **in;         /* [ranks] this rank's shard of every rank's gradients */
    int streaming;            /* copy with streaming stores */
    dpt_gather *gather;       /* the optimizer state's all-gathers, for checkpoints */
} shm;

static double gradients(dpt_reducer *r, size_t i, double *count)
{
    double loss = dpt_grad_local(r->src, r->comm, i, NULL, NULL, count);
    double t0 = dpt_trace_now(r->src->trace);
    dpt_shared_sync(((shm *)r)->shared); /* every region is final: the sums are read from them all */
    dpt_trace_span(r->src->trace, "barrier: gradients final", "comm", t0, -1);
    return loss;
}

static int inputs(const dpt_reducer *r, const float **in, size_t a)
{
    const shm *s = (const shm *)r;
    for (int q = 0; q < r->comm->size; q++)
        in[q] = s->in[q] + (a - r->lo);
    return r->comm->size;
}

/* Copies n floats, with stores that bypass the cache when a shard is larger than a core's cache:
 * the other rank then reads the copy from memory anyway, and the cache need not first fetch the
 * lines it overwrites (measured: a 11.6 MB shard copied in 0.61 ms instead of 1.02; a 1.3 MB one
 * is faster with plain stores, which leave it in cache for the reader). */
static void copy_run(float *dst, const float *src, size_t n, int streaming)
{
    if (!streaming) {
        memcpy(dst, src, sizeof(float) * n);
        return;
    }
#if defined(__x86_64__)
    size_t i = 0;
    for (; i < n && ((uintptr_t)(dst + i) & 15); i++)
        dst[i] = src[i];
    for (; i + 4 <= n; i += 4)
        _mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
    for (; i < n; i++)
        dst[i] = src[i];
    _mm_sfence();
#else
    memcpy(dst, src, sizeof(float) * n);
#endif
}

static void share_run(dpt_reducer *r, size_t a, size_t b)
{
    shm *s = (shm *)r;
    for (int q = 0; q < r->comm->size; q++)
        if (q != r->comm->rank)
            copy_run(dpt_shared_region(s->shared, q) + s->stride + a, r->src->model->params + a, b - a, s->streaming);
}

/* After the barrier no rank reads another's memory until the next step's, so parameters may
 * change freely between steps (restore, best parameters). */
static void publish(dpt_reducer *r)
{
    double t0 = dpt_trace_now(r->src->trace);
    dpt_shared_sync(((shm *)r)->shared);
    dpt_trace_span(r->src->trace, "barrier: parameters shared", "comm", t0, -1);
}

/* As after an update: no rank reads another's region past this point. */
static void skip(dpt_reducer *r)
{
    dpt_shared_sync(((shm *)r)->shared);
}

static void gather_state(dpt_reducer *r, dpt_optim *opt)
{
    for (int i = 0; i < opt->nstate; i++)
        dpt_gather_run(((shm *)r)->gather, opt->state[i]);
}

static void free_shm(dpt_reducer *r)
{
    shm *s = (shm *)r;
    if (s->shared) { /* the window's memory, not the model's to free */
        r->src->model->grads = r->src->model->params = NULL;
        dpt_shared_free(s->shared);
    }
    free(s->in);
    dpt_gather_free(s->gather);
}

static const dpt_reducer_ops ops = {
    .gradients = gradients,
    .inputs = inputs,
    .share_run = share_run,
    .publish = publish,
    .norm = dpt_reducer_shard_norm,
    .gather_state = gather_state,
    .skip = skip,
    .free = free_shm,
};

void dpt_reduce_shards_shm_new(dpt_reducer **out, const dpt_reduce_plan *p)
{
    dpt_model *m = p->src->model;
    size_t n = m->nparams, stride = (n + 1023) / 1024 * 1024, lo, hi;
    int ranks = p->comm->size;
    dpt_comm_shard(p->comm, n, p->comm->rank, &lo, &hi);
    shm *s = dpt_reducer_alloc(sizeof *s, &ops, "optimizer shards in node-shared memory", p, lo, hi);
    *out = NULL;
    if (s) {
        s->in = malloc(sizeof(float *) * (size_t)ranks);
        s->gather = dpt_gather_new(p->comm, n, 0);
    }
    if (dpt_comm_any(p->comm, !s || !s->in || !s->gather) || !(s->shared = dpt_shared_new(p->comm, 2 * stride))) {
        if (s) /* nothing collective made yet: a local free */
            dpt_reducer_free(&s->r);
        return;
    }
    float *mine = dpt_shared_region(s->shared, p->comm->rank);
    memcpy(mine + stride, m->params, sizeof(float) * n);
    free(m->grads);
    free(m->params);
    dpt_model_bind_grads(m, mine);
    dpt_model_bind_params(m, mine + stride);
    s->stride = stride;
    s->streaming = (hi - lo) * sizeof(float) > STREAM_BYTES;
    s->r.max_inputs = ranks;
    for (int q = 0; q < ranks; q++)
        s->in[q] = dpt_shared_region(s->shared, q) + lo;
    *out = &s->r;
}
