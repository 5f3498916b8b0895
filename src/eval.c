/* Distributed evaluation: slices like the sampler's, one reduction of sums.
 * Chunks are DPT_EVAL_ROWS rows (the trainer sizes its model for them), not
 * the training batch. In deterministic mode the data is cut into chunks that do
 * not depend on the rank count; each chunk's sums travel in their own slot
 * (an allreduce per group of chunks fills every slot exactly) and are added in chunk order. */
#include "dptrain/eval.h"

#include <string.h>

/* Loss sum and correct count of rows idx[s..s+n) (or s..s+n when idx is NULL). */
static void eval_chunk(double sums[2], dpt_model *m, dpt_loss_kind loss, const dpt_dataset *ds,
                       const size_t *idx, size_t s, size_t n, float *x, float *y)
{
    if (idx) {
        dpt_data_gather(x, y, ds, idx + s, n);
    } else {
        size_t ids[256];
        /* Without an index list, gather in runs of at most 256 consecutive rows. */
        for (size_t k = 0; k < n; k += 256) {
            size_t r = n - k < 256 ? n - k : 256;
            for (size_t j = 0; j < r; j++)
                ids[j] = s + k + j;
            dpt_data_gather(x + k * ds->d, y + k * ds->tdim, ds, ids, r);
        }
    }
    const float *out = dpt_model_forward(m, x, (int)n);
    sums[0] += dpt_loss_eval(loss, NULL, out, y, (int)n, m->out_dim);
    if (ds->nclasses > 0)
        for (size_t i = 0; i < n; i++)
            sums[1] += dpt_argmax(out + i * (size_t)m->out_dim, m->out_dim) == (int)y[i];
}

static size_t eval_rows(const dpt_model *m)
{
    return m->max_batch < DPT_EVAL_ROWS ? (size_t)m->max_batch : DPT_EVAL_ROWS;
}

static dpt_eval_result result(double loss, double correct, double count)
{
    dpt_eval_result r = {0, 0, count};
    if (count > 0) {
        r.loss = loss / count;
        r.accuracy = correct / count;
    }
    return r;
}

static dpt_eval_result eval_fast(const dpt_comm *c, dpt_model *m, dpt_loss_kind loss, const dpt_dataset *ds,
                                 const size_t *idx, size_t n, float *x, float *y)
{
    size_t lo = n * (size_t)c->rank / (size_t)c->size, hi = n * (size_t)(c->rank + 1) / (size_t)c->size;
    size_t chunk = eval_rows(m);
    double sums[3] = {0, 0, (double)(hi - lo)};
    for (size_t s = lo; s < hi; s += chunk)
        eval_chunk(sums, m, loss, ds, idx, s, hi - s < chunk ? hi - s : chunk, x, y);
    dpt_comm_allreduce_d(c, sums, 3);
    return result(sums[0], sums[1], sums[2]);
}

/* Chunks whose sums travel in one allreduce: the slots live on the stack, so evaluation
 * allocates nothing (it has no error to return) and a large set takes a few allreduces. */
enum { GROUP_CHUNKS = 256 };

static dpt_eval_result eval_deterministic(const dpt_comm *c, dpt_model *m, dpt_loss_kind loss,
                                          const dpt_dataset *ds, const size_t *idx, size_t n, float *x, float *y)
{
    size_t chunk = eval_rows(m), nc = (n + chunk - 1) / chunk;
    size_t lo = nc * (size_t)c->rank / (size_t)c->size, hi = nc * (size_t)(c->rank + 1) / (size_t)c->size;
    double sums[2 * GROUP_CHUNKS], l = 0, a = 0;
    /* Every slot is filled by one rank and zero elsewhere, so the allreduce adds exact zeros and
     * the totals, added in chunk order, do not depend on the grouping or the rank count. */
    for (size_t g = 0; g < nc; g += GROUP_CHUNKS) {
        size_t ng = nc - g < GROUP_CHUNKS ? nc - g : GROUP_CHUNKS;
        memset(sums, 0, sizeof(double) * 2 * ng);
        for (size_t k = g > lo ? g : lo; k < g + ng && k < hi; k++)
            eval_chunk(sums + 2 * (k - g), m, loss, ds, idx, k * chunk, n - k * chunk < chunk ? n - k * chunk : chunk,
                       x, y);
        dpt_comm_allreduce_d(c, sums, 2 * ng);
        for (size_t k = 0; k < ng; k++)
            l += sums[2 * k], a += sums[2 * k + 1];
    }
    return result(l, a, (double)n);
}

dpt_eval_result dpt_eval(const dpt_comm *c, dpt_model *m, dpt_loss_kind loss, const dpt_dataset *ds,
                         const size_t *idx, size_t n, float *x, float *y, int deterministic)
{
    return deterministic ? eval_deterministic(c, m, loss, ds, idx, n, x, y)
                         : eval_fast(c, m, loss, ds, idx, n, x, y);
}
