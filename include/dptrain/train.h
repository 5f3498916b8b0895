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
#include "dptrain/eval.h"
#include "dptrain/loss.h"
#include "dptrain/model.h"
#include "dptrain/optim.h"
#include "dptrain/sampler.h"

enum { DPT_MAX_RANGES = 64 };

/* What one step or epoch measured; NaN marks a value not measured. */
typedef struct {
    int64_t step, epoch;
    double lr, train_loss, penalty, grad_norm;
    double val_loss, val_accuracy;
    double samples_per_s, elapsed;
} dpt_metrics;

typedef struct dpt_trainer dpt_trainer;

/* Called on rank 0 after each logged epoch or evaluation. */
typedef void (*dpt_metrics_fn)(void *ctx, const dpt_trainer *t, const dpt_metrics *m);

struct dpt_trainer {
    const dpt_config *cfg;
    const dpt_comm *comm;
    dpt_dataset train, test;
    size_t *train_idx, ntrain, *val_idx, nval;  /* NULL index list = all samples */
    dpt_model model;
    dpt_optim opt;
    dpt_sampler sampler;
    dpt_bucketed *buckets;
    dpt_loss_kind loss;
    float *x, *y, *dout;          /* one micro-batch slice: [max_batch][d], [..][tdim], [..][out] */
    dpt_range ranges[DPT_MAX_RANGES];
    int nranges;
    int64_t step, epoch;          /* optimizer steps taken; current epoch (0-based) */
    size_t batch_in_epoch;        /* next global batch of the current epoch */
    int64_t total_steps;
    int64_t skipped;              /* steps skipped on non-finite values */
    double best_metric;
    int64_t best_step, bad_evals;
    float *best_params;           /* early stopping's best parameters, or NULL */
    dpt_metrics last;
    dpt_metrics_fn on_metrics;
    void *ctx;
};

/* Loads data, builds and initializes the model (rank 0's parameters broadcast), optimizer and
 * sampler; fold >= 0 picks a k-fold split. Collective; on failure every rank returns DPT_FAIL
 * with e reported where it failed. */
int dpt_trainer_init(dpt_trainer *t, const dpt_config *cfg, const dpt_comm *comm, int fold, dpt_err *e);

/* Frees everything; accepts a zeroed or half-built trainer. */
void dpt_trainer_free(dpt_trainer *t);

/* Performs one optimizer step on global batch i of the current epoch (collective). */
int dpt_trainer_step(dpt_trainer *t, size_t i, double *loss_sum, double *count, dpt_err *e);

/* Trains to the configured end (collective); on early stop restores the best parameters. */
int dpt_trainer_run(dpt_trainer *t, dpt_err *e);

/* Validation (or, with test set, test) metrics of the current parameters (collective). */
dpt_eval_result dpt_trainer_eval(dpt_trainer *t, int test);

#endif
