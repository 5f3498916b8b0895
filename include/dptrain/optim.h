/* Optimizers, regularization, learning-rate schedules and clipping over the
 * model's one contiguous parameter buffer. Each optimizer moment is one
 * buffer laid out like the parameters, so an update is one fused loop and a
 * checkpoint a few writes. Knows nothing of layers or ranks. */
#ifndef DPTRAIN_OPTIM_H
#define DPTRAIN_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "dptrain/error.h"

typedef enum {
    DPT_OPT_GD, DPT_OPT_SGD, DPT_OPT_ADAGRAD, DPT_OPT_RMSPROP, DPT_OPT_ADAM, DPT_OPT_ADAMW
} dpt_optim_kind;

/* Names and defaults follow torch.optim (see README for each formula). */
typedef struct {
    dpt_optim_kind kind;
    double lr;                        /* base learning rate */
    double weight_decay;              /* coupled (added to the gradient); decoupled for adamw */
    double momentum, dampening;       /* sgd */
    int nesterov;                     /* sgd */
    double alpha;                     /* rmsprop smoothing constant */
    int centered;                     /* rmsprop */
    double lr_decay;                  /* adagrad */
    double initial_accumulator_value; /* adagrad */
    double beta1, beta2, eps;         /* adam, adamw (eps also rmsprop, adagrad) */
    int amsgrad;                      /* adam, adamw */
} dpt_optim_config;

enum { DPT_OPTIM_MAX_STATE = 3 };

typedef struct {
    dpt_optim_config cfg;
    size_t n;                                  /* parameters */
    int64_t t;                                 /* steps taken */
    int nstate;                                /* state buffers in use */
    const char *state_name[DPT_OPTIM_MAX_STATE]; /* e.g. "exp_avg", "exp_avg_sq" */
    float *state[DPT_OPTIM_MAX_STATE];         /* each [n], zero or initial value at start */
} dpt_optim;

/* Fills every field of c with torch.optim's defaults for kind (lr 1e-3 adam/adamw, 1e-2 otherwise;
 * eps 1e-10 adagrad, 1e-8 otherwise; weight_decay 1e-2 adamw, 0 otherwise). */
void dpt_optim_defaults(dpt_optim_config *c, dpt_optim_kind kind);

/* Checks every hyper-parameter's range; the message names the key, e.g. "optimizer.beta1 = 1.5: ...". */
int dpt_optim_check(const dpt_optim_config *c, dpt_err *e);

/* Parses "gd", "sgd", "adagrad", "rmsprop", "adam", "adamw"; DPT_FAIL on anything else. */
int dpt_optim_kind_parse(dpt_optim_kind *kind, const char *name);

/* Name of kind as dpt_optim_kind_parse accepts it, from the one table of optimizer names (the
 * experiment file reads and writes them through it too); NULL for a value outside the enum. */
const char *dpt_optim_kind_name(int kind);

/* Allocates state for n parameters (t = 0); fails with a message on a bad hyper-parameter (dpt_optim_check). */
int dpt_optim_init(dpt_optim *o, const dpt_optim_config *c, size_t n, dpt_err *e);

/* Frees the state; accepts a zeroed optimizer. */
void dpt_optim_free(dpt_optim *o);

/* Counts one step (t += 1); call once per step before dpt_optim_update. */
void dpt_optim_begin_step(dpt_optim *o);

/* Updates params[lo..hi) from grads[lo..hi) at learning rate lr, one fused loop; grads untouched. */
void dpt_optim_update(dpt_optim *o, float *params, const float *grads, double lr, size_t lo, size_t hi);

/* Same, with g [hi - lo] holding the gradients of params[lo..hi) (a chunk kept elsewhere). */
void dpt_optim_update_run(dpt_optim *o, float *params, const float *g, double lr, size_t lo, size_t hi);

/* A contiguous run of parameters, e.g. one layer's weights. */
typedef struct {
    size_t off, len;
} dpt_range;

/* J_reg = J + l1 * sum|w| + l2 * 0.5 * sum w^2 over the penalized ranges. */
typedef struct {
    double l1, l2;
} dpt_reg_config;

/* Checks l1, l2 >= 0 and finite; the message names regularization.l1 or .l2. */
int dpt_reg_check(const dpt_reg_config *r, dpt_err *e);

/* Adds l1*sign(w) + l2*w (sign(0) = 0) to grads over ranges and returns the penalty value (in double). */
double dpt_reg_apply(const dpt_reg_config *r, float *grads, const float *params,
                     const dpt_range *ranges, int nranges);

typedef enum { DPT_SCHED_CONSTANT, DPT_SCHED_STEP, DPT_SCHED_EXP, DPT_SCHED_COSINE, DPT_SCHED_PLATEAU } dpt_sched_kind;

typedef struct {
    dpt_sched_kind kind;
    int64_t step_size;   /* step: decay every step_size steps */
    double gamma;        /* step, exp: multiplicative factor */
    double min_lr;       /* cosine: the floor reached at total steps; plateau: the floor */
    int64_t warmup;      /* linear warmup steps in front of any schedule (0 = none) */
    double factor;       /* plateau: the rate is multiplied by this when the metric stalls */
    int64_t patience;    /* plateau: evaluations without improvement tolerated */
    double threshold;    /* plateau: relative improvement that counts */
    int64_t cooldown;    /* plateau: evaluations after a cut during which none is counted */
} dpt_sched_config;

/* Parses "constant", "step", "exponential", "cosine", "plateau". */
int dpt_sched_kind_parse(dpt_sched_kind *kind, const char *name);

/* Name of kind as dpt_sched_kind_parse accepts it (the one table of schedule names); NULL outside the enum. */
const char *dpt_sched_kind_name(int kind);

/* Checks step_size >= 1 (step), gamma > 0 (step, exponential), min_lr >= 0, warmup >= 0, factor in
 * (0, 1), patience, threshold and cooldown >= 0 (plateau); names the schedule.* key. */
int dpt_sched_check(const dpt_sched_config *s, dpt_err *e);

/* Learning rate for 0-based step (of total) from base_lr: closed form, no state (plateau: base_lr,
 * which is then the plateau's current rate, after warmup). */
double dpt_sched_lr(const dpt_sched_config *s, double base_lr, int64_t step, int64_t total);

/* Linear scaling rule: lr * batch / reference_batch (lr unchanged if either is <= 0). */
double dpt_sched_scale(double lr, int64_t batch, int64_t reference_batch);

/* Euclidean norm of g[0..n), accumulated in double in a fixed order. */
double dpt_grad_norm(const float *g, size_t n);

/* Multiplies g by scale and returns the Euclidean norm of the result, in one pass. */
double dpt_grad_scale_norm(float *g, size_t n, float scale);

/* Running sums of squares, element i in lane i % DPT_NORM_LANES: a fixed order that vectorizes. */
enum { DPT_NORM_LANES = 8 };

/* out[i] = scale * (in[0][i] + ... + in[k-1][i]) summed in that order for i < n (out may be one
 * of the inputs), adding out[i]^2 to acc's lane i; a run done in pieces whose lengths are
 * multiples of DPT_NORM_LANES (but the last) gives the bits of one call. */
void dpt_grad_sum_scale_acc(float *out, const float *const *in, int k, size_t n, float scale,
                            double acc[DPT_NORM_LANES]);

/* The sum of acc's lanes, always in the same order. */
double dpt_norm_total(const double acc[DPT_NORM_LANES]);

/* dpt_grad_sum_scale_acc in one call; returns the norm of out. */
double dpt_grad_sum_scale_norm(float *out, const float *const *in, int k, size_t n, float scale);

/* Scales g so its norm (given) is at most max_norm; returns the scale applied (1 if none). */
double dpt_grad_clip(float *g, size_t n, double norm, double max_norm);

#endif
