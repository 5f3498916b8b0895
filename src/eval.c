/* Distributed evaluation: slices like the sampler's, one reduction of sums. */
#include "dptrain/eval.h"

#include <stdlib.h>

/* Loss sum and correct count of ds rows idx[lo..hi) (or lo..hi when idx is NULL). */
static void eval_slice(double sums[2], dpt_model *m, dpt_loss_kind loss, const dpt_dataset *ds,
                       const size_t *idx, size_t lo, size_t hi, float *x, float *y)
{
    size_t chunk = (size_t)m->max_batch;
    for (size_t s = lo; s < hi; s += chunk) {
        size_t n = hi - s < chunk ? hi - s : chunk;
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
}

dpt_eval_result dpt_eval(const dpt_comm *c, dpt_model *m, dpt_loss_kind loss, const dpt_dataset *ds,
                         const size_t *idx, size_t n, float *x, float *y)
{
    size_t lo = n * (size_t)c->rank / (size_t)c->size;
    size_t hi = n * (size_t)(c->rank + 1) / (size_t)c->size;
    double sums[3] = {0, 0, (double)(hi - lo)};
    eval_slice(sums, m, loss, ds, idx, lo, hi, x, y);
    dpt_comm_allreduce_d(c, sums, 3);
    dpt_eval_result r = {0, 0, sums[2]};
    if (sums[2] > 0) {
        r.loss = sums[0] / sums[2];
        r.accuracy = sums[1] / sums[2];
    }
    return r;
}
