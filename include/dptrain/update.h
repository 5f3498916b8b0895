/* The optimizer step over the gradients a reducer combined: averaging by
 * chunks on the rank's threads, with the update fused into the same pass when
 * nothing needs the whole averaged gradient first, or in a second pass. */
#ifndef DPTRAIN_UPDATE_H
#define DPTRAIN_UPDATE_H

#include "dptrain/optim.h"
#include "dptrain/pool.h"
#include "dptrain/reduce.h"

/* Parameters averaged, updated and shared per chunk of this many: the optimizer's four arrays of
 * one chunk stay in L2 for the copies to other ranks. */
enum { DPT_SHARE_CHUNK = 16384 };

/* Models with fewer parameters update on one thread (measured on 784-512-512-10, 1 rank x 2
 * threads: no gain, waking the second thread costs about what it saves). */
#define DPT_POOL_MIN_PARAMS ((size_t)1 << 20)

typedef struct {
    dpt_pool *pool;           /* NULL: the calling thread alone */
    const float **chunk_in;   /* [threads][max_inputs] the summands of a thread's chunk */
    float *chunk_g;           /* [threads][DPT_SHARE_CHUNK] a thread's averaged chunk (fused) */
    double *chunk_sq;         /* [chunks][DPT_NORM_LANES] each chunk's squares */
    int max_inputs;
    dpt_trace *trace;
} dpt_update;

/* Prepares the update of r's parameters on threads threads (1 below DPT_POOL_MIN_PARAMS). */
int dpt_update_init(dpt_update *u, const dpt_reducer *r, int threads, dpt_trace *trace, dpt_err *e);

/* Frees u; accepts a zeroed one. */
void dpt_update_free(dpt_update *u);

/* Averages r's sums over [lo, hi) (scaled by inv) chunk by chunk; fused, each chunk is also
 * updated with lr and shared (opt's step begun by the caller), else the average is written over
 * the model's gradients. Returns the squared norm of the average: the same bits for any thread
 * count. */
double dpt_update_average(dpt_update *u, dpt_reducer *r, dpt_optim *opt, double lr, float inv, int fused);

/* Updates [lo, hi) from the averaged gradients in the model's buffer and shares it, chunk by
 * chunk (each chunk copied while the update has left it in cache), then publishes (collective). */
void dpt_update_apply(dpt_update *u, dpt_reducer *r, dpt_optim *opt, double lr);

#endif
