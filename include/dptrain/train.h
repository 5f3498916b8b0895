/* The training loop: epochs, global batches, micro-batches, the gradient
 * allreduce, regularization, clipping, the optimizer step, evaluation and
 * early stopping. Parses nothing; writes through the log module only. */
#ifndef DPTRAIN_TRAIN_H
#define DPTRAIN_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "dptrain/comm.h"
#include "dptrain/config.h"
#include "dptrain/data.h"
#include "dptrain/early.h"
#include "dptrain/eval.h"
#include "dptrain/loss.h"
#include "dptrain/model.h"
#include "dptrain/optim.h"
#include "dptrain/record.h"
#include "dptrain/pool.h"
#include "dptrain/sampler.h"

enum { DPT_DET_LEVELS = 24, DPT_DET_ALIGN = 1024 };

/* Parameters updated and shared per chunk of this many (node-shared shards): the optimizer's
 * four arrays of one chunk stay in L2 for the copies. */
enum { DPT_SHARE_CHUNK = 16384 };

/* Models with fewer parameters update on one thread (measured on 784-512-512-10, 1 rank x 2
 * threads: no gain, waking the second thread costs about what it saves). */
#define DPT_POOL_MIN_PARAMS ((size_t)1 << 20)

/* Node-shared shards larger than this (a core's L2 here) are copied with streaming stores. */
#define DPT_STREAM_BYTES ((size_t)4 << 20)

/* What one step or epoch measured; NaN marks a value not measured. */
typedef struct {
    int64_t step, epoch;
    double lr, train_loss, penalty, grad_norm;
    double val_loss, val_accuracy;
    double samples_per_s, elapsed;
    int console;      /* worth a line on the console (training.log_every); metrics.jsonl gets all */
} dpt_metrics;

typedef struct dpt_trainer dpt_trainer;

/* Called on rank 0 after each logged epoch or evaluation. */
typedef void (*dpt_metrics_fn)(void *ctx, const dpt_trainer *t, const dpt_metrics *m);

/* Called on rank 0 after each step, for a live progress display. */
typedef void (*dpt_progress_fn)(void *ctx, const dpt_trainer *t, double samples_per_s, double eta);

/* Called on rank 0 with a line worth telling the user (a checkpoint saved or not). */
typedef void (*dpt_note_fn)(void *ctx, const char *line);

struct dpt_trainer {
    const dpt_config *cfg;
    const dpt_comm *comm;
    dpt_dataset train, test;
    size_t *train_idx, ntrain, *val_idx, nval;  /* NULL index list = all samples */
    uint64_t data_sum[4];         /* dpt_data_checksum of train features, targets, test features, targets */
    dpt_model model;
    dpt_optim opt;
    dpt_sampler sampler;
    dpt_bucketed *buckets;
    dpt_loss_kind loss;
    float *x, *y, *dout;          /* one micro-batch slice: [max_batch][d], [..][tdim], [..][out] */
    dpt_range *ranges;            /* [model.nlayers] runs the penalty applies to */
    int nranges;
    /* Sharded optimizer (one node, several ranks): each rank reduces, updates and owns one
     * shard of the parameters, then all gather them (as ZeRO stage 1 does). */
    int sharded;
    size_t shard_lo, shard_hi;
    float *shard_scratch;         /* one shard, for the reduce-scatter */
    dpt_range *shard_ranges;      /* the penalty's ranges within this shard */
    int nshard_ranges;
    /* On one node the shards meet in shared memory instead: each rank's gradients and parameters
     * live in its region of a window; a rank sums its shard straight from every region and writes
     * its updated shard into every region (no MPI copies; two barriers a step). */
    dpt_shared *shared;
    size_t shared_stride;         /* a region: gradients at 0, parameters at shared_stride */
    const float **shared_in;      /* [ranks] this rank's shard of every rank's gradients */
    dpt_pool *pool;               /* the rank's BLAS threads, for the averaging and the update */
    const float **chunk_in;       /* [threads][ranks] the inputs of a thread's chunk */
    float *chunk_g;               /* [threads][DPT_SHARE_CHUNK] a thread's averaged chunk (fused) */
    double *chunk_sq;             /* [chunks][DPT_NORM_LANES] each chunk's squares */
    int64_t step, epoch;          /* optimizer steps taken; current epoch (0-based) */
    size_t batch_in_epoch;        /* next global batch of the current epoch */
    double epoch_loss, epoch_count; /* sums over the current epoch's batches so far */
    int64_t total_steps;
    int64_t skipped;              /* steps skipped on non-finite values */
    int64_t skipped_run;          /* of which the latest ones in a row (training.max_skipped) */
    int stopped;                  /* early stopping ended the run */
    dpt_early early;              /* the watched validation metric */
    float *best_params;           /* early stopping's best parameters, or NULL */
    int best_saved;               /* best.safetensors holds the current best */
    /* Deterministic mode: gradient buffers for the binary-counter tree over this rank's blocks. */
    float *det_pool[DPT_DET_LEVELS + 2];
    int det_npool;
    float *grads_own;             /* the model's own gradient buffer, rebound before freeing */
    double *det_loss;             /* [blocks] loss sum of each block, zero where not ours */
    double *det_sq;               /* [nparams / DPT_DET_ALIGN + 1] squared gradient norm per chunk */
    dpt_metrics last;
    dpt_trace trace;              /* training.trace's timeline (off unless asked) */
    const dpt_record *record;     /* what produced the run, saved in checkpoints; NULL = none */
    char ckpt_dir[DPT_PATH_MAX + DPT_NAME_MAX + 16]; /* where rank 0 saves; "" = never */
    dpt_metrics_fn on_metrics;
    dpt_progress_fn on_progress;
    dpt_note_fn on_note;
    void *ctx;
};

/* Loads data, builds and initializes the model (rank 0's parameters broadcast), optimizer and
 * sampler; fold >= 0 picks a k-fold split. Collective; on failure every rank returns DPT_FAIL
 * with e reported where it failed. */
int dpt_trainer_init(dpt_trainer *t, const dpt_config *cfg, const dpt_comm *comm, int fold, dpt_err *e);

/* The setting ("data.train", ...) that names the file behind checksum k of data_sum, and in *path
 * that file (the features' file for targets kept in it; the generator for synthetic data). */
const char *dpt_trainer_data_source(const dpt_config *c, int k, const char **path);

/* Adds each data file's path, size and checksum (as the ranks compared them) to r. */
void dpt_trainer_record_data(const dpt_trainer *t, dpt_record *r);

/* Frees everything; accepts a zeroed or half-built trainer. */
void dpt_trainer_free(dpt_trainer *t);

/* Plans how gradients are combined for t's model, config and communicator: buckets or one
 * blocking allreduce, optimizer shards (in node-shared memory when one node holds every rank),
 * penalty ranges, deterministic mode's tree buffers. Collective: fails on every rank if any
 * failed. Part of dpt_trainer_init, public for tools that assemble a trainer themselves. */
int dpt_trainer_plan_reduction(dpt_trainer *t, dpt_err *e);

/* The bucket size in MiB training.bucket_mb means for this job: the setting, or for auto none
 * (0) when one node holds every rank and 4 across nodes. */
double dpt_trainer_bucket_mb(const dpt_config *c, const dpt_comm *comm);

/* How gradients are combined, for the log: "node-shared optimizer shards", "deterministic tree", ... */
const char *dpt_trainer_reduction(const dpt_trainer *t);

/* Performs one optimizer step on global batch i of the current epoch (collective). On a
 * non-finite loss or gradient with nonfinite = stop it fails on every rank; on the fused path
 * (dpt_trainer_fused) the update has then been applied already, and the trainer's parameters and
 * optimizer state are unfit to save or go on with. */
int dpt_trainer_step(dpt_trainer *t, size_t i, double *loss_sum, double *count, dpt_err *e);

/* The pieces of a step (train_step.c), public for the bench's timed copy of it. */

/* Points in [ranks] at the summands of the gradient run starting at a (in a shard starting at
 * lo): every rank's region when node-shared, else the model's own gradients; returns how many. */
int dpt_trainer_sum_inputs(const dpt_trainer *t, const float **in, size_t lo, size_t a);

/* Averages [lo, hi) of the summed gradient by chunks on the rank's threads (into each thread's
 * scratch and then updating and sharing the chunk when fused, else in place); returns the squared
 * norm of the average, the same bits for any thread count. */
double dpt_trainer_by_chunks(dpt_trainer *t, double lr, size_t lo, size_t hi, float inv, int fused);

/* Copies this rank's updated parameters [a, b) into every other rank's region (node-shared only). */
void dpt_trainer_share_run(dpt_trainer *t, size_t a, size_t b);

/* Completes the sharing of updated parameters: a barrier (node-shared), an all-gather (sharded
 * through MPI) or nothing (collective). */
void dpt_trainer_share_params(dpt_trainer *t);

/* Whether the averaging rides along with the update chunk by chunk: nothing needs the whole
 * averaged gradient first (no clipping, no penalty), and a non-finite one only stops the run (the
 * parameters it spoils are never saved), so it need not be caught before the update. */
int dpt_trainer_fused(const dpt_trainer *t);

/* Trains to the configured end (collective) and saves the final checkpoint; the model holds the
 * last step's parameters (see dpt_trainer_use_best). */
int dpt_trainer_run(dpt_trainer *t, dpt_err *e);

/* After dpt_trainer_run: with early stopping on, puts the best validation parameters into the
 * model when they differ from the last step's; returns 1 when it did (local, the same on every
 * rank). */
int dpt_trainer_use_best(dpt_trainer *t);

/* Restores the state saved at path (read by rank 0, broadcast): everything for a resume, only the
 * parameters for a warm start. Collective; fails on every rank if the file is bad. */
int dpt_trainer_restore(dpt_trainer *t, const char *path, int params_only, dpt_err *e);

/* Completes every rank's optimizer state from the shards (collective; nothing when unsharded). */
void dpt_trainer_sync_state(dpt_trainer *t);

/* Saves a checkpoint for the current step and prunes old ones (collective: the state is gathered
 * first; rank 0 writes). A failed write leaves earlier checkpoints intact and fails on rank 0 only
 * (e set); every other rank returns DPT_OK. */
int dpt_trainer_checkpoint(dpt_trainer *t, dpt_err *e);

/* Resumes from the newest checkpoint in ckpt_dir that reads and passes its checksum (rank 0
 * reads, every rank receives); damaged newer ones are told through on_note and renamed
 * *.damaged (*.damaged.N when taken). Returns 1 when it resumed (path names the file on rank 0),
 * 0 when no checkpoint reads; DPT_FAIL with nothing renamed when the newest readable one does
 * not fit this experiment (e names the differing settings, tensors and shapes). Collective. */
int dpt_trainer_resume_auto(dpt_trainer *t, char *path, size_t size, dpt_err *e);

/* Deterministic mode (train_det.c): whether the rank count can share the blocks' tree. */
int dpt_trainer_det_check(const dpt_config *c, int ranks, dpt_err *e);

/* Allocates the tree's gradient buffers. */
int dpt_trainer_det_init(dpt_trainer *t, dpt_err *e);

/* Frees them and gives the model its own gradient buffer back. */
void dpt_trainer_det_free(dpt_trainer *t);

/* The summed gradient of global batch i, independent of the rank count, bound as the model's
 * grads (complete in [*lo, *hi), this rank's tree shard when sharded); returns the batch's loss
 * sum and sets *count (collective). */
double dpt_trainer_det_gradients(dpt_trainer *t, size_t i, double *count, size_t *lo, size_t *hi);

/* The gradient norm over chunks of DPT_DET_ALIGN fixed whatever the rank count (collective). */
double dpt_trainer_det_norm(dpt_trainer *t, size_t lo, size_t hi);

/* Validation (or, with test set, test) metrics of the current parameters (collective). */
dpt_eval_result dpt_trainer_eval(dpt_trainer *t, int test);

#endif
