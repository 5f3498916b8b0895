/* Deterministic mode: results that do not depend on the number of ranks.
 *
 * Each global batch is cut into `training.blocks` blocks of consecutive
 * samples, the same cut whatever the rank count, and every block's gradient
 * comes from its own forward and backward pass (so every GEMM has the same
 * shape on any rank count). Block gradients are summed along one fixed binary
 * tree over block indices: rank r owns the aligned subtree of blocks
 * [r*B/P, (r+1)*B/P) and sums it with a binary counter; ranks then combine
 * sibling subtrees by recursive doubling (dpt_comm_tree_sum_f). Float
 * addition is commutative, so every pairing gives the same bits. Block losses
 * travel in a per-block array that one allreduce fills exactly (each slot has
 * one non-zero contributor), then are summed in block order. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/train.h"

static int is_pow2(long v)
{
    return v > 0 && (v & (v - 1)) == 0;
}

int dpt_trainer_det_check(const dpt_config *c, int ranks, dpt_err *e)
{
    long b = c->train.blocks;
    if (!is_pow2(b) || b > (1L << DPT_DET_LEVELS))
        return dpt_errf(e, "training.blocks = %ld: deterministic mode needs a power of two up to %ld", b,
                        1L << DPT_DET_LEVELS);
    if (!is_pow2(ranks) || ranks > b) {
        char ok[128] = "";
        for (long p = 1; p <= b && strlen(ok) < sizeof ok - 16; p *= 2)
            snprintf(ok + strlen(ok), sizeof ok - strlen(ok), "%s%ld", p > 1 ? ", " : "", p);
        return dpt_errf(e, "training.deterministic: %d ranks cannot share training.blocks = %ld along a binary "
                        "tree; use %s ranks (or change training.blocks)", ranks, b, ok);
    }
    return DPT_OK;
}

int dpt_trainer_det_init(dpt_trainer *t, dpt_err *e)
{
    int per = t->cfg->train.blocks / t->comm->size, levels = 0;
    while ((1 << levels) < per)
        levels++;
    t->grads_own = t->model.grads;
    t->det_pool[0] = t->model.grads;
    t->det_npool = levels + 2;
    for (int i = 1; i < t->det_npool; i++)
        if (!(t->det_pool[i] = malloc(sizeof(float) * (t->model.nparams ? t->model.nparams : 1))))
            return dpt_errf(e, "training.deterministic: out of memory for %d gradient buffers", t->det_npool);
    size_t nchunks = t->model.nparams / DPT_DET_ALIGN + 1;
    t->det_loss = calloc((size_t)t->cfg->train.blocks, sizeof(double));
    t->det_sq = calloc(nchunks, sizeof(double));
    if (!t->det_loss || !t->det_sq)
        return dpt_errf(e, "training.deterministic: out of memory");
    return DPT_OK;
}

void dpt_trainer_det_free(dpt_trainer *t)
{
    if (!t->det_npool)
        return;
    if (t->grads_own)
        dpt_model_bind_grads(&t->model, t->grads_own);
    for (int i = 1; i < t->det_npool; i++)
        free(t->det_pool[i]);
    free(t->det_loss);
    free(t->det_sq);
}

/* The gradient of one block into g (written, not added); returns the block's loss sum. */
static double block_gradient(dpt_trainer *t, float *g, size_t begin, size_t n)
{
    dpt_model_bind_grads(&t->model, g);
    if (n == 0) {
        memset(g, 0, sizeof(float) * t->model.nparams);
        return 0;
    }
    dpt_data_gather(t->x, t->y, &t->train, t->sampler.order + begin, n);
    dpt_fwd_ctx fwd = {1, t->cfg->run.seed, (uint64_t)t->step, t->sampler.order + begin};
    const float *out = dpt_model_forward_ctx(&t->model, &fwd, t->x, (int)n);
    double loss = dpt_loss_eval(t->loss, t->dout, out, t->y, (int)n, t->model.out_dim);
    dpt_model_backward(&t->model, t->dout, (int)n, 0, NULL, NULL);
    return loss;
}

double dpt_trainer_det_gradients(dpt_trainer *t, size_t i, double *count, size_t *shard_lo, size_t *shard_hi)
{
    size_t nparams = t->model.nparams, nb = (size_t)t->cfg->train.blocks;
    size_t per = nb / (size_t)t->comm->size, first = (size_t)t->comm->rank * per;
    size_t begin, len, total;
    dpt_sampler_slice(&t->sampler, i, 0, 1, 0, 1, &begin, &len, &total);
    float *free_list[DPT_DET_LEVELS + 2], *slot[DPT_DET_LEVELS + 1] = {0};
    int nfree = t->det_npool;
    memcpy(free_list, t->det_pool, sizeof(float *) * (size_t)nfree);
    memset(t->det_loss, 0, sizeof(double) * nb);
    for (size_t k = 0; k < per; k++) {
        size_t j = first + k, lo = len * j / nb, hi = len * (j + 1) / nb;
        float *cur = free_list[--nfree];
        t->det_loss[j] = block_gradient(t, cur, begin + lo, hi - lo);
        /* Binary counter: a left sibling waiting at this level absorbs cur and moves up. */
        int lvl = 0;
        for (; slot[lvl]; lvl++) {
            float *left = slot[lvl];
            for (size_t p = 0; p < nparams; p++)
                left[p] += cur[p];
            free_list[nfree++] = cur;
            cur = left;
            slot[lvl] = NULL;
        }
        slot[lvl] = cur;
    }
    float *sum = NULL;
    for (int l = 0; l <= DPT_DET_LEVELS && !sum; l++)
        sum = slot[l];
    *shard_lo = 0;
    *shard_hi = nparams;
    if (t->sharded) {
        dpt_comm_tree_reduce_scatter_f(t->comm, sum, free_list[nfree - 1], nparams, DPT_DET_ALIGN);
        *shard_lo = t->shard_lo;
        *shard_hi = t->shard_hi;
    } else {
        dpt_comm_tree_sum_f(t->comm, sum, free_list[nfree - 1], nparams);
    }
    dpt_model_bind_grads(&t->model, sum);
    dpt_comm_allreduce_d(t->comm, t->det_loss, nb);
    double loss = 0;
    for (size_t j = 0; j < nb; j++)
        loss += t->det_loss[j];
    *count = (double)len;
    return loss;
}

double dpt_trainer_det_norm(dpt_trainer *t, size_t lo, size_t hi)
{
    /* Fixed chunks, whatever the shards: each chunk's sum of squares lands in its own slot. */
    size_t n = t->model.nparams, nc = n / DPT_DET_ALIGN + 1;
    const float *g = t->model.grads;
    memset(t->det_sq, 0, sizeof(double) * nc);
    for (size_t k = lo / DPT_DET_ALIGN; k * DPT_DET_ALIGN < hi; k++) {
        size_t a = k * DPT_DET_ALIGN, b = a + DPT_DET_ALIGN < n ? a + DPT_DET_ALIGN : n;
        double v = dpt_grad_norm(g + a, b - a);
        t->det_sq[k] = v * v;
    }
    if (t->sharded)
        dpt_comm_allreduce_d(t->comm, t->det_sq, nc);
    double s = 0;
    for (size_t k = 0; k < nc; k++)
        s += t->det_sq[k];
    return sqrt(s);
}
