/* Deterministic mode: results that do not depend on the number of ranks.
 *
 * Each global batch is cut into `training.blocks` blocks of consecutive
 * samples, the same cut whatever the rank count, and every block's gradient
 * comes from its own forward and backward pass (so every GEMM has the same
 * shape on any rank count). Block gradients are summed along one fixed binary
 * tree over block indices: rank r owns the aligned subtree of blocks
 * [r*B/P, (r+1)*B/P) and sums it with a binary counter; ranks then combine
 * sibling subtrees by recursive doubling (dpt_comm_tree_sum_f), or with
 * optimizer shards by recursive halving, each rank keeping its tree shard.
 * Float addition is commutative, so every pairing gives the same bits. Block
 * losses travel in a per-block array that one allreduce fills exactly (each
 * slot has one non-zero contributor), then are summed in block order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/reduce.h"
#include "dptrain/replicas.h"

typedef struct {
    dpt_reducer r;
    int sharded;
    size_t blocks;
    float *pool[DPT_DET_LEVELS + 1 + DPT_DET_WAVE]; /* gradient buffers: the counter's and one per block
                                                     * computed at once; [0] the model's own */
    int npool;
    double *loss;                    /* [blocks] loss sum of each block, zero where not ours */
    double *sq;                      /* [nparams / DPT_DET_ALIGN + 1] squared norm per chunk */
    dpt_gather *gather;              /* sharded: the tree shards' all-gathers */
} tree;

/* Binary counter: a left sibling waiting at a level absorbs cur and moves up, freeing cur. */
static void push(float **slot, float **free_list, int *nfree, float *cur, size_t n)
{
    int lvl = 0;
    for (; slot[lvl]; lvl++) {
        float *left = slot[lvl];
        for (size_t p = 0; p < n; p++)
            left[p] += cur[p];
        free_list[(*nfree)++] = cur;
        cur = left;
        slot[lvl] = NULL;
    }
    slot[lvl] = cur;
}

/* Sums this rank's blocks of global batch i along the tree; returns the buffer holding the sum
 * and leaves in *spare one free buffer. Blocks are computed as many at once as there are sample
 * threads, and enter the counter in block order. */
static float *sum_blocks(tree *t, size_t i, float **spare, size_t *len)
{
    const dpt_grad_source *s = t->r.src;
    size_t n = s->model->nparams, per = t->blocks / (size_t)t->r.comm->size;
    size_t first = (size_t)t->r.comm->rank * per, begin, total;
    dpt_sampler_slice(s->sampler, i, 0, 1, 0, 1, &begin, len, &total);
    float *free_list[DPT_DET_LEVELS + 2 + DPT_DET_WAVE], *slot[DPT_DET_LEVELS + 1] = {0};
    int nfree = t->npool, wave = dpt_replicas_threads(s->replicas);
    memcpy(free_list, t->pool, sizeof(float *) * (size_t)nfree);
    memset(t->loss, 0, sizeof(double) * t->blocks);
    for (size_t k = 0; k < per; k += (size_t)wave) {
        int count = per - k < (size_t)wave ? (int)(per - k) : wave;
        size_t at[DPT_DET_WAVE], rows[DPT_DET_WAVE];
        float *g[DPT_DET_WAVE];
        for (int q = 0; q < count; q++) {
            size_t j = first + k + (size_t)q, lo = *len * j / t->blocks, hi = *len * (j + 1) / t->blocks;
            at[q] = begin + lo, rows[q] = hi - lo, g[q] = free_list[--nfree];
        }
        dpt_grad_blocks(s, count, at, rows, g, t->loss + first + k);
        for (int q = 0; q < count; q++)
            push(slot, free_list, &nfree, g[q], n);
    }
    float *sum = NULL;
    for (int l = 0; l <= DPT_DET_LEVELS && !sum; l++)
        sum = slot[l];
    *spare = free_list[nfree - 1];
    return sum;
}

static double gradients(dpt_reducer *r, size_t i, double *count)
{
    tree *t = (tree *)r;
    dpt_model *m = r->src->model;
    double t0 = dpt_trace_now(r->src->trace);
    float *spare;
    size_t len;
    float *sum = sum_blocks(t, i, &spare, &len);
    if (t->sharded)
        dpt_comm_tree_reduce_scatter_f(r->comm, sum, spare, m->nparams, DPT_DET_ALIGN);
    else
        dpt_comm_tree_sum_f(r->comm, sum, spare, m->nparams);
    dpt_model_bind_grads(m, sum);
    dpt_comm_allreduce_d(r->comm, t->loss, t->blocks);
    double loss = 0;
    for (size_t j = 0; j < t->blocks; j++)
        loss += t->loss[j];
    *count = (double)len;
    dpt_trace_span(r->src->trace, "blocks and tree reduction", "comm", t0, -1);
    return loss;
}

/* The norm over chunks of DPT_DET_ALIGN, fixed whatever the rank count: each chunk's sum of
 * squares lands in its own slot (sq, the update's figure, has a rank-dependent order). */
static double norm(dpt_reducer *r, double *loss, double *penalty, double sq)
{
    tree *t = (tree *)r;
    size_t n = r->src->model->nparams, nc = n / DPT_DET_ALIGN + 1;
    const float *g = r->src->model->grads;
    (void)loss;
    (void)penalty;
    (void)sq;
    memset(t->sq, 0, sizeof(double) * nc);
    for (size_t k = r->lo / DPT_DET_ALIGN; k * DPT_DET_ALIGN < r->hi; k++) {
        size_t a = k * DPT_DET_ALIGN, b = a + DPT_DET_ALIGN < n ? a + DPT_DET_ALIGN : n;
        double v = dpt_grad_norm(g + a, b - a);
        t->sq[k] = v * v;
    }
    if (t->sharded)
        dpt_comm_allreduce_d(r->comm, t->sq, nc);
    double s = 0;
    for (size_t k = 0; k < nc; k++)
        s += t->sq[k];
    return sqrt(s);
}

static void publish(dpt_reducer *r)
{
    tree *t = (tree *)r;
    if (!t->sharded)
        return;
    double t0 = dpt_trace_now(r->src->trace);
    dpt_gather_run(t->gather, r->src->model->params);
    dpt_trace_span(r->src->trace, "all-gather", "comm", t0, -1);
}

static void gather_state(dpt_reducer *r, dpt_optim *opt)
{
    tree *t = (tree *)r;
    for (int i = 0; t->sharded && i < opt->nstate; i++)
        dpt_gather_run(t->gather, opt->state[i]);
}

/* Gives the model its own gradient buffer back before the others go. */
static void free_tree(dpt_reducer *r)
{
    tree *t = (tree *)r;
    if (t->pool[0])
        dpt_model_bind_grads(r->src->model, t->pool[0]);
    for (int i = 1; i < t->npool; i++)
        free(t->pool[i]);
    free(t->loss);
    free(t->sq);
    dpt_gather_free(t->gather);
}

static const dpt_reducer_ops ops = {
    .gradients = gradients,
    .inputs = dpt_reducer_own_inputs,
    .share_run = dpt_reducer_no_share_run,
    .publish = publish,
    .norm = norm,
    .gather_state = gather_state,
    .skip = dpt_reducer_no_op,
    .free = free_tree,
};

int dpt_reduce_tree_new(dpt_reducer **out, const dpt_reduce_plan *p, dpt_err *e)
{
    dpt_model *m = p->src->model;
    size_t n = m->nparams, lo = 0, hi = n;
    if (p->sharded)
        dpt_comm_tree_shard(p->comm, n, DPT_DET_ALIGN, p->comm->rank, &lo, &hi);
    tree *t = dpt_reducer_alloc(sizeof *t, &ops, p->sharded ? "deterministic tree, optimizer shards" : "deterministic tree",
                                p, lo, hi);
    if (!(*out = (dpt_reducer *)t))
        return dpt_errf(e, "training.deterministic: out of memory");
    t->r.deterministic = 1;
    t->sharded = p->sharded;
    t->blocks = (size_t)p->blocks;
    int per = p->blocks / p->comm->size, levels = 0;
    while ((1 << levels) < per)
        levels++;
    /* The counter holds at most levels + 1 sums while a wave computes its blocks. */
    int want = levels + 1 + dpt_replicas_threads(p->src->replicas);
    t->pool[0] = m->grads;
    for (t->npool = 1; t->npool < want; t->npool++)
        if (!(t->pool[t->npool] = malloc(sizeof(float) * (n ? n : 1))))
            return dpt_errf(e, "training.deterministic: out of memory for %d gradient buffers", want);
    t->loss = calloc(t->blocks, sizeof(double));
    t->sq = calloc(n / DPT_DET_ALIGN + 1, sizeof(double));
    t->gather = p->sharded ? dpt_gather_new(p->comm, n, DPT_DET_ALIGN) : NULL;
    if (!t->loss || !t->sq || (p->sharded && !t->gather))
        return dpt_errf(e, "training.deterministic: out of memory");
    return DPT_OK;
}
