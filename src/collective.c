/* Reduce-scatter and tree sums as exchanges between pairs of ranks; the
 * transport (MPI in comm.c, threads in the unit tests) is the caller's. */
#include "dptrain/collective.h"

#include <string.h>

void dpt_shard_range(size_t n, int size, int rank, size_t *lo, size_t *hi)
{
    *lo = n * (size_t)rank / (size_t)size;
    *hi = n * (size_t)(rank + 1) / (size_t)size;
}

void dpt_tree_range(size_t n, size_t align, int size, int rank, size_t *lo, size_t *hi)
{
    *lo = 0;
    *hi = n;
    for (int mask = 1; mask < size; mask <<= 1) {
        size_t mid = *lo + (*hi - *lo) / 2 / align * align;
        if (rank & mask)
            *lo = mid;
        else
            *hi = mid;
    }
}

void dpt_ring_reduce_scatter(const dpt_peers *p, float *buf, float *scratch, size_t n)
{
    /* At step k rank r passes its running sum of shard r-k-1 to the right and adds the left
     * neighbour's running sum of shard r-k-2 into its own; after size-1 steps shard r is complete
     * on rank r, as x_r + (x_{r-1} + (... + x_{r+1})). */
    int s = p->size, r = p->rank, right = (r + 1) % s, left = (r + s - 1) % s;
    for (int k = 0; k < s - 1; k++) {
        size_t slo, shi, rlo, rhi;
        dpt_shard_range(n, s, (r - k - 1 + 2 * s) % s, &slo, &shi);
        dpt_shard_range(n, s, (r - k - 2 + 2 * s) % s, &rlo, &rhi);
        p->exchange(p->ctx, buf + slo, sizeof(float) * (shi - slo), right, scratch, sizeof(float) * (rhi - rlo), left, 7);
        for (size_t j = 0; j < rhi - rlo; j++)
            buf[rlo + j] += scratch[j];
    }
}

void dpt_tree_sum(const dpt_peers *p, float *buf, float *scratch, size_t n)
{
    /* Recursive doubling: at each level a rank and its partner hold sibling subtrees and both
     * form their sum; float addition is commutative, so both get the same bits. */
    for (int mask = 1; mask < p->size; mask <<= 1) {
        int partner = p->rank ^ mask;
        p->exchange(p->ctx, buf, sizeof(float) * n, partner, scratch, sizeof(float) * n, partner, mask);
        for (size_t i = 0; i < n; i++)
            buf[i] += scratch[i];
    }
}

void dpt_tree_reduce_scatter(const dpt_peers *p, float *buf, float *scratch, size_t n, size_t align)
{
    /* Recursive halving: partners share the same range at every level and keep opposite halves,
     * so each kept element is the sum of two sibling subtrees, as in dpt_tree_sum. */
    size_t lo = 0, hi = n;
    for (int mask = 1; mask < p->size; mask <<= 1) {
        int partner = p->rank ^ mask, upper = (p->rank & mask) != 0;
        size_t mid = lo + (hi - lo) / 2 / align * align;
        size_t klo = upper ? mid : lo, khi = upper ? hi : mid, slo = upper ? lo : mid, shi = upper ? mid : hi;
        p->exchange(p->ctx, buf + slo, sizeof(float) * (shi - slo), partner, scratch, sizeof(float) * (khi - klo), partner,
                    mask);
        for (size_t i = klo; i < khi; i++)
            buf[i] += scratch[i - klo];
        lo = klo;
        hi = khi;
    }
}

uint16_t dpt_bf16_from(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it one, quiet */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

float dpt_bf16_to(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

void dpt_ring_reduce_scatter_bf16(const dpt_peers *p, float *buf, uint16_t *out, uint16_t *in, size_t n)
{
    /* The ring of dpt_ring_reduce_scatter, each hop's running sum rounded for the wire only. */
    int s = p->size, r = p->rank, right = (r + 1) % s, left = (r + s - 1) % s;
    for (int k = 0; k < s - 1; k++) {
        size_t slo, shi, rlo, rhi;
        dpt_shard_range(n, s, (r - k - 1 + 2 * s) % s, &slo, &shi);
        dpt_shard_range(n, s, (r - k - 2 + 2 * s) % s, &rlo, &rhi);
        for (size_t j = 0; j < shi - slo; j++)
            out[j] = dpt_bf16_from(buf[slo + j]);
        p->exchange(p->ctx, out, sizeof(uint16_t) * (shi - slo), right, in, sizeof(uint16_t) * (rhi - rlo), left, 7);
        for (size_t j = 0; j < rhi - rlo; j++)
            buf[rlo + j] += dpt_bf16_to(in[j]);
    }
}

void dpt_ring_allgather(const dpt_peers *p, void *buf, size_t n, size_t size)
{
    /* At step k rank r passes shard r-k to the right and receives shard r-k-1 from the left. */
    int s = p->size, r = p->rank, right = (r + 1) % s, left = (r + s - 1) % s;
    char *b = buf;
    for (int k = 0; k < s - 1; k++) {
        size_t slo, shi, rlo, rhi;
        dpt_shard_range(n, s, (r - k + s) % s, &slo, &shi);
        dpt_shard_range(n, s, (r - k - 1 + s) % s, &rlo, &rhi);
        p->exchange(p->ctx, b + size * slo, size * (shi - slo), right, b + size * rlo, size * (rhi - rlo), left, 8);
    }
}

void dpt_ring_allreduce(const dpt_peers *p, float *buf, float *scratch, size_t n)
{
    dpt_ring_reduce_scatter(p, buf, scratch, n);
    dpt_ring_allgather(p, buf, n, sizeof *buf);
}

void dpt_ring_allreduce_bf16(const dpt_peers *p, float *buf, uint16_t *wire, uint16_t *in, size_t n)
{
    size_t lo, hi;
    dpt_ring_reduce_scatter_bf16(p, buf, wire, in, n);
    dpt_shard_range(n, p->size, p->rank, &lo, &hi);
    for (size_t j = lo; j < hi; j++)
        wire[j] = dpt_bf16_from(buf[j]);
    dpt_ring_allgather(p, wire, n, sizeof *wire);
    for (size_t j = 0; j < n; j++)
        buf[j] = dpt_bf16_to(wire[j]);
}
