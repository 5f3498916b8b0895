/* Epoch order and per-rank slices. */
#include "dptrain/sampler.h"

#include <stdlib.h>
#include <string.h>

#include "dptrain/rng.h"

int dpt_sampler_init(dpt_sampler *s, const size_t *pool, size_t n, size_t batch, int shuffle,
                     int drop_last, uint64_t seed, dpt_err *e)
{
    memset(s, 0, sizeof *s);
    if (n == 0)
        return dpt_errf(e, "sampler: no samples to train on");
    s->n = n;
    s->batch = batch == 0 || batch > n ? n : batch;
    s->shuffle = shuffle;
    s->drop_last = drop_last;
    s->seed = seed;
    s->pool = pool;
    s->order = malloc(sizeof(size_t) * n);
    s->perm = malloc(sizeof(size_t) * n);
    s->epoch = -1;
    if (!s->order || !s->perm) {
        dpt_sampler_free(s);
        return dpt_errf(e, "sampler: out of memory for %zu samples", n);
    }
    return DPT_OK;
}

void dpt_sampler_free(dpt_sampler *s)
{
    free(s->order);
    free(s->perm);
    memset(s, 0, sizeof *s);
}

void dpt_sampler_set_epoch(dpt_sampler *s, int64_t epoch)
{
    if (s->shuffle)
        dpt_rng_permutation(s->perm, s->n, s->seed, DPT_STREAM_SHUFFLE + (uint64_t)epoch);
    else
        for (size_t i = 0; i < s->n; i++)
            s->perm[i] = i;
    for (size_t i = 0; i < s->n; i++)
        s->order[i] = s->pool ? s->pool[s->perm[i]] : s->perm[i];
    s->epoch = epoch;
}

size_t dpt_sampler_nbatches(const dpt_sampler *s)
{
    return s->drop_last ? s->n / s->batch : (s->n + s->batch - 1) / s->batch;
}

/* The k-th of `parts` near-equal contiguous pieces of [0, len). */
static void split(size_t len, size_t k, size_t parts, size_t *lo, size_t *hi)
{
    *lo = len * k / parts;
    *hi = len * (k + 1) / parts;
}

void dpt_sampler_slice(const dpt_sampler *s, size_t i, int part, int parts, int rank, int size,
                       size_t *begin, size_t *count, size_t *total)
{
    size_t start = i * s->batch;
    size_t len = s->n - start < s->batch ? s->n - start : s->batch;
    size_t plo, phi, rlo, rhi;
    split(len, (size_t)part, (size_t)parts, &plo, &phi);
    split(phi - plo, (size_t)rank, (size_t)size, &rlo, &rhi);
    *begin = start + plo + rlo;
    *count = rhi - rlo;
    *total = phi - plo;
}
