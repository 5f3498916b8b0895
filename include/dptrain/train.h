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
#include "dptrain/plateau.h"
#include "dptrain/record.h"
#include "dptrain/reduce.h"
#include "dptrain/update.h"
#include "dptrain/sampler.h"

/* What one step or epoch measured; NaN marks a value not measured. */
typedef struct {
    int64_t step, epoch;
    double lr, train_loss, penalty, grad_norm;
    double train_accuracy;        /* classification: correct predictions of the epoch's steps so far */
    double val_loss, val_accuracy;
    double test_loss, test_accuracy; /* training.test_every_epochs */
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

/* Where training stands: what checkpoints save and a resume restores, with the optimizer's step
 * count and early stopping's state. */
typedef struct {
    int64_t step, epoch;          /* optimizer steps taken; current epoch (0-based) */
    int64_t batch_in_epoch;       /* next global batch of the current epoch */
    double epoch_loss, epoch_count; /* sums over the current epoch's batches so far */
    double epoch_correct;         /* classification: correct predictions, summed over the ranks */
    int64_t skipped;              /* steps skipped on non-finite values */
    int64_t skipped_run;          /* of which the latest ones in a row (training.max_skipped) */
    int64_t stopped;              /* early stopping ended the run */
} dpt_position;

struct dpt_trainer {
    const dpt_config *cfg;
    const dpt_comm *comm;
    dpt_dataset train, test;
    size_t *train_idx, ntrain, *val_idx, nval;  /* NULL index list = all samples */
    uint64_t data_sum[4];         /* dpt_data_checksum of train features, targets, test features, targets */
    dpt_model model;
    dpt_optim opt;
    dpt_sampler sampler;
    dpt_grad_source src;          /* what the reducer computes gradients from */
    dpt_reducer *reducer;         /* how gradients are combined (src/reduce/) */
    dpt_update update;            /* the averaging and the optimizer step */
    int fused;                    /* averaging and update in one pass (dpt_trainer_fused) */
    dpt_position pos;
    double correct_local;         /* this rank's correct predictions not yet in pos.epoch_correct */
    int64_t total_steps;
    dpt_early early;              /* the watched validation metric */
    dpt_plateau plateau;          /* schedule.kind = plateau: its rate, stepped on each validation */
    float *best_params;           /* early stopping's best parameters, or NULL */
    int best_saved;               /* best.safetensors holds the current best */
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

/* Starts the sample threads training.sample_threads asks for (src.replicas), for slices of up to
 * max_batch rows, after the model and the batch buffers exist; in deterministic mode they compute
 * a rank's blocks, several at once. */
int dpt_trainer_split_samples(dpt_trainer *t, size_t max_batch, dpt_err *e);

/* Chooses how gradients are combined (t->reducer) and prepares the update for t's model, data
 * and config. Collective: fails on every rank if any failed. Part of dpt_trainer_init, public
 * for tools that assemble a trainer themselves (the bench). */
int dpt_trainer_plan_reduction(dpt_trainer *t, dpt_err *e);

/* How gradients are combined, for the log: "optimizer shards in node-shared memory", ... */
const char *dpt_trainer_reduction(const dpt_trainer *t);

/* Performs one optimizer step on global batch i of the current epoch (collective). On a
 * non-finite loss or gradient with nonfinite = stop it fails on every rank; on the fused path
 * (t->fused) the update has then been applied already, and the trainer's parameters and
 * optimizer state are unfit to save or go on with. */
int dpt_trainer_step(dpt_trainer *t, size_t i, double *loss_sum, double *count, dpt_err *e);

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

/* Adds every rank's correct_local into pos.epoch_correct (collective; nothing for regression). */
void dpt_trainer_fold_correct(dpt_trainer *t);

/* Completes every rank's optimizer state from the shards (collective; nothing when unsharded). */
void dpt_trainer_sync_state(dpt_trainer *t);

/* Whether the averaging rides along with the update chunk by chunk: nothing needs the whole
 * averaged gradient first (no clipping, no penalty), and a non-finite one only stops the run (the
 * parameters it spoils are never saved), so it need not be caught before the update. */
int dpt_trainer_fused(const dpt_config *c, const dpt_reducer *r);

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

/* Validation (or, with test set, test) metrics of the current parameters (collective). */
dpt_eval_result dpt_trainer_eval(dpt_trainer *t, int test);

#endif
