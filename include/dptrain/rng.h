/* Counter-based random numbers: every value is a pure function of
 * (seed, stream, index), so no state is hidden and any draw can be
 * recomputed on any rank, in any order, after any resume. */
#ifndef DPTRAIN_RNG_H
#define DPTRAIN_RNG_H

#include <stddef.h>
#include <stdint.h>

/* Streams keep unrelated uses of one seed apart. */
#define DPT_STREAM_SPLIT 2ULL              /* validation split and k-fold assignment */
#define DPT_STREAM_DATA 3ULL               /* synthetic datasets */
#define DPT_STREAM_INIT (1ULL << 32)       /* parameter initialization: + layer index */
#define DPT_STREAM_SHUFFLE (2ULL << 32)    /* epoch order: + epoch */
#define DPT_STREAM_DROPOUT (3ULL << 32)    /* dropout masks: + layer index */

/* 64 well-mixed bits determined by (seed, stream, index). */
uint64_t dpt_rng_u64(uint64_t seed, uint64_t stream, uint64_t index);

/* Uniform double in the open interval (0, 1). */
double dpt_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index);

/* Standard normal draw (Box-Muller over indices 2i and 2i+1). */
double dpt_rng_normal(uint64_t seed, uint64_t stream, uint64_t index);

/* Uniform integer in [0, bound), bound > 0, without modulo bias. */
uint64_t dpt_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t bound);

/* Fills perm[0..n) with a permutation of 0..n-1 that depends only on (seed, stream). */
void dpt_rng_permutation(size_t *perm, size_t n, uint64_t seed, uint64_t stream);

#endif
