/* The arithmetic of the collectives dptrain builds from exchanges between pairs of ranks (the ring
 * reduce-scatter, the deterministic tree), written over any transport: comm.c runs them over
 * MPI, the unit tests over threads of one process. Which rank adds what, in which order, is
 * decided here alone, so the tests see the very sums training makes. */
#ifndef DPTRAIN_COLLECTIVE_H
#define DPTRAIN_COLLECTIVE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int rank, size;
    /* Sends n bytes of out to rank dst while receiving m bytes into in from rank src; tag tells
     * the rounds apart. Returns when both are done. */
    void (*exchange)(void *ctx, const void *out, size_t n, int dst, void *in, size_t m, int src, int tag);
    void *ctx;
} dpt_peers;

/* Rank's shard [*lo, *hi) of n elements among size ranks: contiguous, sizes differ by at most one. */
void dpt_shard_range(size_t n, int size, int rank, size_t *lo, size_t *hi);

/* The range rank keeps in dpt_tree_reduce_scatter: [0, n) halved along the bits of rank (size a
 * power of two), each cut at a multiple of align. */
void dpt_tree_range(size_t n, size_t align, int size, int rank, size_t *lo, size_t *hi);

/* Ring reduce-scatter: afterwards this rank's shard (dpt_shard_range) of buf [n] holds the sum
 * over ranks (the rest is left partial); scratch holds one shard. */
void dpt_ring_reduce_scatter(const dpt_peers *p, float *buf, float *scratch, size_t n);

/* Sums buf [n] over a power-of-two number of ranks along a fixed binary tree over ranks
 * (recursive doubling): every rank ends with the same bits; scratch [n]. */
void dpt_tree_sum(const dpt_peers *p, float *buf, float *scratch, size_t n);

/* Like dpt_tree_sum, but each rank ends with only its dpt_tree_range summed (recursive halving),
 * with the bits dpt_tree_sum gives there; scratch holds half of buf. */
void dpt_tree_reduce_scatter(const dpt_peers *p, float *buf, float *scratch, size_t n, size_t align);

/* bfloat16: the upper half of a float's bits, rounded to nearest even (NaN stays NaN). */
uint16_t dpt_bf16_from(float x);

/* The float a bfloat16 stands for (exact). */
float dpt_bf16_to(uint16_t h);

/* The ring reduce-scatter with 16-bit partial sums on the wire: each rank widens what it receives
 * and adds it into its float running sums, so sums are formed in fp32 and only what travels is
 * rounded. Afterwards this rank's shard of buf [n] holds the sum; out and in hold one shard. */
void dpt_ring_reduce_scatter_bf16(const dpt_peers *p, float *buf, uint16_t *out, uint16_t *in, size_t n);

/* Ring all-gather of every rank's shard (dpt_shard_range) of buf [n], elements of size bytes. */
void dpt_ring_allgather(const dpt_peers *p, void *buf, size_t n, size_t size);

/* Ring allreduce: the reduce-scatter, then its shards all-gathered, so every rank ends with the
 * owner's bits of each shard (the same on all ranks); scratch holds one shard. */
void dpt_ring_allreduce(const dpt_peers *p, float *buf, float *scratch, size_t n);

/* The bf16 reduce-scatter, each owner's sums rounded to bfloat16 and all-gathered: every rank,
 * the owner too, ends with the same rounded sums in buf [n]; wire [n] holds them on the way, in
 * one shard. */
void dpt_ring_allreduce_bf16(const dpt_peers *p, float *buf, uint16_t *wire, uint16_t *in, size_t n);

#endif
