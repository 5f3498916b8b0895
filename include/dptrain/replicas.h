/* Sample threads: a rank's share of a batch split among its threads, each running forward and
 * backward of its part on a replica of the model (the parameters shared, its own activations,
 * workspace and gradients), the replicas' gradients then added to the model's in a fixed order.
 * For convolutional models, whose per-sample GEMMs are too small for two BLAS threads to share. */
#ifndef DPTRAIN_REPLICAS_H
#define DPTRAIN_REPLICAS_H

#include <stddef.h>

#include "dptrain/error.h"
#include "dptrain/model.h"

/* Thread k's share of a batch: its model (k = 0: the rank's own), batch buffers and sums. */
typedef struct {
    dpt_model *model;
    float *x, *y, *dout;
    size_t begin, n;      /* its rows of the part being run */
    double loss, correct; /* over the batch so far */
    int written;          /* its gradients hold a part of this batch (later parts add to them) */
} dpt_replica_part;

typedef struct dpt_replicas dpt_replicas;

/* Threads that split the samples for model m by default: threads (at least 1) when dpt_gemm_small
 * runs its own single-threaded kernels on this CPU and m has 64 Ki parameters or more, or when a
 * layer with parameters reads an image as an image (H x W > 1, not flattened: a convolution);
 * else 1 (the BLAS's threads share each product). */
int dpt_replicas_auto(const dpt_model *m, int threads);

/* A split of m's samples over threads threads: threads - 1 replicas of m (built from spec, as m
 * was) for parts of up to max_rows samples each, with batch buffers of d features and tdim targets
 * per sample; thread 0 works on m itself with x, y, dout. *out = NULL for threads < 2. */
int dpt_replicas_new(dpt_replicas **out, dpt_model *m, const char *spec, int threads, size_t max_rows, size_t d,
                     size_t tdim, float *x, float *y, float *dout, dpt_err *e);

/* Threads counting the caller (1 for NULL). */
int dpt_replicas_threads(const dpt_replicas *r);

/* Frees r and its replicas; NULL allowed. */
void dpt_replicas_free(dpt_replicas *r);

/* Splits the n rows at begin into one contiguous run per thread and runs fn on each (a thread of
 * its own each, one BLAS thread each), the replicas' parameters bound to m's current ones. */
void dpt_replicas_run(dpt_replicas *r, size_t begin, size_t n, void (*fn)(void *ctx, dpt_replica_part *p),
                      void *ctx);

/* Runs fn on count <= threads parts at once: part k on thread k's model (0: the model itself),
 * its gradients bound to grads[k], rows [begin[k], begin[k] + n[k]); returns the parts (their
 * loss and correct reset before). The caller binds the model's gradients back as it needs. */
dpt_replica_part *dpt_replicas_run_each(dpt_replicas *r, int count, const size_t *begin, const size_t *n,
                                        float *const *grads, void (*fn)(void *ctx, dpt_replica_part *p), void *ctx);

/* Adds the replicas' gradients into the model's (zeroed first when its own thread had no rows) in
 * thread order, and their loss and correct counts into *loss and *correct; resets for the next
 * batch. */
void dpt_replicas_sum(dpt_replicas *r, double *loss, double *correct);

#endif
