/* The global order of samples in each epoch, and the slice of each global
 * batch that a rank computes. The order depends only on (seed, epoch), so a
 * global batch holds the same samples whatever the number of ranks, and a
 * resumed run needs only (epoch, batch index) to continue. Reads no files. */
#ifndef DPTRAIN_SAMPLER_H
#define DPTRAIN_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "dptrain/error.h"

typedef struct {
    size_t n;            /* samples in the pool */
    size_t batch;        /* global batch size */
    int shuffle, drop_last;
    uint64_t seed;
    const size_t *pool;  /* dataset index of each pool position, or NULL for 0..n-1 */
    size_t *order;       /* [n] this epoch's dataset indices in visiting order */
    size_t *perm;        /* [n] scratch */
    int64_t epoch;
} dpt_sampler;

/* Prepares a sampler over pool [n] (NULL = identity); batch 0 means the whole pool. */
int dpt_sampler_init(dpt_sampler *s, const size_t *pool, size_t n, size_t batch, int shuffle,
                     int drop_last, uint64_t seed, dpt_err *e);

/* Frees s; accepts a zeroed sampler. */
void dpt_sampler_free(dpt_sampler *s);

/* Computes the visiting order of epoch (a permutation from (seed, epoch), or pool order). */
void dpt_sampler_set_epoch(dpt_sampler *s, int64_t epoch);

/* Global batches per epoch (the last partial one counted unless drop_last). */
size_t dpt_sampler_nbatches(const dpt_sampler *s);

/* Positions [*begin, *begin + *count) of s->order that rank computes in part `part` of `parts`
 * of global batch i (parts > 1 for micro-batches); *total is that part's size over all ranks.
 * Slices are contiguous and differ by at most one sample; a slice may be empty. */
void dpt_sampler_slice(const dpt_sampler *s, size_t i, int part, int parts, int rank, int size,
                       size_t *begin, size_t *count, size_t *total);

#endif
