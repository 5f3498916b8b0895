/* How a step's gradients are combined across ranks: one reducer per path
 * (src/reduce/), each an ops table over the same state, chosen in one
 * place (dpt_reducer_new). The trainer's step calls the ops and never asks
 * which path it is on. */
#ifndef DPTRAIN_REDUCE_H
#define DPTRAIN_REDUCE_H

#include <stddef.h>
#include <stdint.h>

#include "dptrain/comm.h"
#include "dptrain/config.h"
#include "dptrain/data.h"
#include "dptrain/loss.h"
#include "dptrain/model.h"
#include "dptrain/optim.h"
#include "dptrain/sampler.h"
#include "dptrain/trace.h"

/* Deterministic mode's tree: at most 2^DPT_DET_LEVELS blocks; shards and norm chunks cut at
 * multiples of DPT_DET_ALIGN, whatever the rank count. */
enum { DPT_DET_LEVELS = 24, DPT_DET_ALIGN = 1024, DPT_DET_WAVE = 64 /* at most this many sample threads */ };

/* Where a step's gradients come from: the trainer's model, data, sampler and batch buffers. */
typedef struct {
    dpt_model *model;
    const dpt_dataset *data;
    const dpt_sampler *sampler;
    dpt_loss_kind loss;
    float *x, *y, *dout;   /* one slice: [rows][d], [rows][tdim], [rows][out] */
    int accumulation;      /* micro-batches per global batch */
    uint64_t seed;         /* run.seed: with the step and each sample's index, dropout's masks */
    const int64_t *step;   /* the trainer's optimizer steps taken */
    dpt_trace *trace;
    double *correct;       /* classification: this rank's correct predictions are added here (NULL: not counted) */
    struct dpt_replicas *replicas; /* sample threads splitting the rank's rows (NULL: one thread) */
} dpt_grad_source;

/* This rank's slice of every micro-batch of global batch i: forward and backward into the
 * model's gradients (zeros for an empty slice), ready called as the last micro-batch's layers
 * finish (NULL: none). Returns the local loss sum; *count is the batch's global sample count. */
double dpt_grad_local(const dpt_grad_source *s, const dpt_comm *c, size_t i, dpt_grad_ready_fn ready, void *ctx,
                      double *count);

/* The gradients of count blocks: block k's (samples [begin[k], begin[k] + n[k]) of the sampler's
 * order; zeros when n[k] = 0) written into g[k], its loss sum into loss[k]; on the sample threads
 * (count <= their number) where there are some, one block each, with the same bits as one after
 * another. The model's gradients are left bound to g[0]. */
void dpt_grad_blocks(const dpt_grad_source *s, int count, const size_t *begin, const size_t *n, float *const *g,
                     double *loss);

typedef struct dpt_reducer dpt_reducer;

typedef struct {
    /* Computes this rank's gradients of global batch i and combines them with the other ranks':
     * afterwards the sums over [lo, hi) are readable through inputs. Returns the loss sum
     * (reduced, unless norm completes it) and sets *count (collective). */
    double (*gradients)(dpt_reducer *r, size_t i, double *count);
    /* Points in[] at the summands of the run of gradients starting at a (lo <= a < hi); returns
     * how many there are (at most r->max_inputs). */
    int (*inputs)(const dpt_reducer *r, const float **in, size_t a);
    /* Copies updated parameters [a, b) to where other ranks read them (any thread). */
    void (*share_run)(dpt_reducer *r, size_t a, size_t b);
    /* Completes the sharing of the updated parameters (collective). */
    void (*publish)(dpt_reducer *r);
    /* The averaged gradient's norm over the whole model from this rank's squared norm over
     * [lo, hi), completing *loss and *penalty where they were this rank's part (collective). */
    double (*norm)(dpt_reducer *r, double *loss, double *penalty, double sq);
    /* Completes every rank's optimizer state from the shards (collective). */
    void (*gather_state)(dpt_reducer *r, dpt_optim *opt);
    /* Ends a skipped step the way an update would have (collective). */
    void (*skip)(dpt_reducer *r);
    /* Frees the path's state and gives the model its own buffers back (collective). */
    void (*free)(dpt_reducer *r);
} dpt_reducer_ops;

/* The state every path shares; a path's own follows in its struct (the first member is this). */
struct dpt_reducer {
    const dpt_reducer_ops *ops;
    const char *name;            /* for the log: "one blocking allreduce", ... */
    const dpt_comm *comm;
    const dpt_grad_source *src;
    size_t lo, hi;               /* the gradients this rank averages, and the parameters it updates */
    dpt_range *ranges;           /* the penalty's runs within [lo, hi) */
    int nranges;
    int max_inputs;              /* the most summands inputs gives */
    int deterministic;           /* sums, norms and evaluation in an order no rank count changes */
};

/* Chooses the path for this config, communicator and model (the only reader of bucket_mb,
 * shard_optimizer, shared_memory and deterministic for reduction) and builds it; may rebind the
 * model's buffers. Collective: fails on every rank if any failed. */
int dpt_reducer_new(dpt_reducer **out, const dpt_config *c, const dpt_comm *comm, const dpt_grad_source *src,
                    dpt_err *e);

/* The bucket size in MiB training.bucket_mb means for this job: the setting, or for auto the
 * fastest measured for this topology (0 on one node and across nodes). */
double dpt_reducer_bucket_mb(const dpt_config *c, const dpt_comm *comm);

/* The most samples one forward pass of a step takes on this path, for a global batch of batch
 * split into accumulation micro-batches; checks that the path can take this rank count. */
int dpt_reducer_max_rows(const dpt_config *c, const dpt_comm *comm, size_t batch, size_t *rows, dpt_err *e);

/* Frees r (NULL allowed; collective otherwise). */
void dpt_reducer_free(dpt_reducer *r);

/* What a path is built from (the chooser fills it from the config). */
typedef struct {
    const dpt_comm *comm;
    const dpt_grad_source *src;
    int penalize_bias;     /* the penalty covers biases too */
    double bucket_mb;      /* allreduce: bucket size (0: one blocking allreduce) */
    int bf16;              /* allreduce: gradients travel in bfloat16 */
    int blocks;            /* tree: blocks per global batch */
    int sharded;           /* tree: optimizer shards along the tree */
} dpt_reduce_plan;

/* The paths' constructors, for the chooser: each fills *out (freed by dpt_reducer_free even when
 * half-built) or fails locally with e set. */
int dpt_reduce_allreduce_new(dpt_reducer **out, const dpt_reduce_plan *p, dpt_err *e);
int dpt_reduce_shards_mpi_new(dpt_reducer **out, const dpt_reduce_plan *p, dpt_err *e);
int dpt_reduce_tree_new(dpt_reducer **out, const dpt_reduce_plan *p, dpt_err *e);
/* Collective: *out stays NULL, without error, when node-shared memory cannot be had. */
void dpt_reduce_shards_shm_new(dpt_reducer **out, const dpt_reduce_plan *p);
void dpt_reduce_hierarchical_new(dpt_reducer **out, const dpt_reduce_plan *p);

/* Shared by the paths (src/reduce/common.c). */

/* Allocates a path's struct of size bytes (its first member a dpt_reducer) with the common
 * fields set: ops, name, the run [lo, hi) and the penalty's runs within it; NULL on no memory. */
void *dpt_reducer_alloc(size_t size, const dpt_reducer_ops *ops, const char *name, const dpt_reduce_plan *p,
                        size_t lo, size_t hi);

/* Sets r's run [lo, hi) and the penalty's runs within it; fails only on memory. */
int dpt_reducer_set_run(dpt_reducer *r, const dpt_reduce_plan *p, size_t lo, size_t hi);

/* inputs for a path whose sums lie in the model's own gradients: one summand. */
int dpt_reducer_own_inputs(const dpt_reducer *r, const float **in, size_t a);

/* Ops with nothing to do, for the paths that need none there. */
void dpt_reducer_no_share_run(dpt_reducer *r, size_t a, size_t b);
void dpt_reducer_no_op(dpt_reducer *r);
void dpt_reducer_no_gather(dpt_reducer *r, dpt_optim *opt);

/* norm for paths whose loss and penalty are complete on every rank: the square root of sq. */
double dpt_reducer_local_norm(dpt_reducer *r, double *loss, double *penalty, double sq);

/* norm for sharded paths: loss, penalty and squared norm summed over ranks in one allreduce. */
double dpt_reducer_shard_norm(dpt_reducer *r, double *loss, double *penalty, double sq);

#endif
