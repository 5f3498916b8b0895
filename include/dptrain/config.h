/* The experiment: every setting of a run in one plain struct, filled from
 * built-in defaults, then an INI file, then --set overrides, then validated.
 * The struct holds no pointers, so rank 0 reads it and the other ranks receive
 * it as bytes. Every key lives in one table in config_keys.c, which also
 * prints the resolved file and README's key table; config_ini.c reads text. */
#ifndef DPTRAIN_CONFIG_H
#define DPTRAIN_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "dptrain/data.h"
#include "dptrain/early.h"
#include "dptrain/error.h"
#include "dptrain/loss.h"
#include "dptrain/model.h"
#include "dptrain/optim.h"

enum { DPT_PATH_MAX = 512, DPT_NAME_MAX = 128, DPT_LAYERS_MAX = 1024 };

/* What the trainer does on a NaN or infinite loss or gradient (training.nonfinite). */
typedef enum { DPT_NONFINITE_STOP, DPT_NONFINITE_SKIP } dpt_nonfinite;

/* How gradients travel between ranks (training.comm_dtype). */
typedef enum { DPT_COMM_FP32, DPT_COMM_BF16 } dpt_comm_dtype;

/* run.init_seed and run.data_seed set to auto: they follow run.seed. */
#define DPT_SEED_AUTO UINT64_MAX

/* Room for the key table's size (config_keys.c asserts it fits); origins other than a line of the file. */
enum { DPT_CONFIG_KEYS_MAX = 128, DPT_FROM_SET = -1, DPT_FROM_EARLIER_FILE = -2 };

typedef struct {
    struct {
        dpt_data_format format;          /* auto | idx | npy | csv | libsvm */
        char train[DPT_PATH_MAX];        /* features (and targets for csv, libsvm) */
        char train_targets[DPT_PATH_MAX];/* idx, npy targets */
        char test[DPT_PATH_MAX];
        char test_targets[DPT_PATH_MAX];
        char label[DPT_NAME_MAX];        /* csv label column: name or index; "" = last */
        int header;                      /* csv: -1 auto, 0, 1 */
        dpt_task task;                   /* classify | regress */
        int classes;                     /* 0 = infer */
        int64_t features;                /* libsvm: 0 = infer */
        int standardize;
        double val_fraction;
        int kfold;                       /* 0 = no cross-validation */
        int allow_changed;               /* --resume may go on with data whose checksum changed */
        int shuffle;
        int drop_last;
        dpt_synthetic synthetic;         /* none | linreg: a generated dataset instead of files */
        int64_t synthetic_samples;
    } data;
    struct {
        char layers[DPT_LAYERS_MAX];     /* e.g. "dense 512, relu, dense 10" */
        dpt_init_scheme init;            /* auto | xavier | he */
        char input_shape[32];            /* "C,H,W" of a sample, or "" for the data's own shape */
        dpt_conv_algorithm conv_algorithm; /* auto | im2col | winograd | direct */
    } model;
    struct {
        dpt_loss_kind kind;              /* mse | cross_entropy */
    } loss;
    dpt_optim_config optim;
    double clip_norm;                    /* 0 = no clipping */
    dpt_sched_config sched;
    int scale_lr;                        /* linear scaling rule: lr * batch / reference_batch */
    int64_t reference_batch;
    dpt_reg_config reg;
    int penalize_bias;
    struct {
        int64_t epochs;
        int64_t steps;                   /* > 0: stop after this many optimizer steps */
        int64_t batch;                   /* global batch; 0 = the whole training set */
        int64_t accumulation;            /* micro-batches per optimizer step */
        int64_t eval_every;              /* steps between validations; 0 = each epoch */
        int64_t test_every_epochs;       /* epochs between test evaluations in metrics.jsonl; 0 = only at the end */
        int64_t log_every;               /* epochs between progress lines */
        dpt_nonfinite nonfinite;         /* stop | skip */
        int64_t max_skipped;             /* skip: consecutive skipped steps that stop the run; 0 = no limit */
        double timeout;                  /* watchdog seconds per step or collective; 0 = off */
        int deterministic;               /* bitwise-identical results for any rank count */
        int blocks;                      /* deterministic mode: blocks per global batch */
        double bucket_mb;                /* gradient allreduce bucket; 0 = one blocking call */
        int threads;                     /* BLAS threads per rank; 0 = cores / ranks on the node */
        int update_threads;              /* threads sharing the update; 0 = as many as BLAS threads */
        int sample_threads;              /* threads splitting a rank's samples; 0 = auto (image inputs) */
        char trace[DPT_PATH_MAX];        /* Chrome trace file; "" = none; relative: in the run dir */
        char trace_steps[32];            /* the steps traced, "A-B" (1-based) */
        int shard_optimizer;             /* each rank updates one shard (with one blocking allreduce) */
        int flush_denormals;             /* subnormal floats count as zero (FTZ/DAZ) */
        int shared_memory;               /* shards meet in node-shared memory (all ranks on one node) */
        dpt_comm_dtype comm_dtype;       /* fp32 | bf16: gradients on the wire */
    } train;
    struct {
        dpt_early_metric metric;         /* val_loss | val_accuracy | train_loss */
        int64_t patience;                /* 0 = off */
        double min_delta;
        int64_t n_iter_no_change;        /* train_loss: sklearn's rule */
        double tol;
    } early;
    struct {
        int64_t every_steps, every_epochs, keep_last;
        int keep_best;
    } ckpt;
    struct {
        uint64_t seed;
        uint64_t init_seed;              /* DPT_SEED_AUTO = seed */
        uint64_t data_seed;              /* DPT_SEED_AUTO = seed */
        char name[DPT_NAME_MAX];
        char dir[DPT_PATH_MAX];
    } run;
    /* Where each value came from, so a refusal can point at it: line[i] of key i (the table's
     * order) is 0 for the default, n > 0 for line n of file, DPT_FROM_SET for a --set override,
     * DPT_FROM_EARLIER_FILE for a file loaded before the last one. */
    struct {
        char file[DPT_PATH_MAX];         /* the experiment file last loaded (or "built-in") */
        int line[DPT_CONFIG_KEYS_MAX];
    } origin;
} dpt_config;

/* Fills c with every key's documented default. */
void dpt_config_defaults(dpt_config *c);

/* Applies the INI text of a regular file on top of c, all or nothing (c is unchanged on failure);
 * a key set twice in one file is an error; errors name file, line and key (and the closest valid key).
 * A directory, FIFO or device is refused without reading it. Records each key's line in c->origin. */
int dpt_config_load_file(dpt_config *c, const char *path, dpt_err *e);

/* Applies INI text held in memory, as dpt_config_load_file (origin names it in errors; NULL = "<string>"). */
int dpt_config_load_string(dpt_config *c, const char *text, const char *origin, dpt_err *e);

/* Applies one "section.key=value" override; c is unchanged on failure. */
int dpt_config_set(dpt_config *c, const char *assignment, dpt_err *e);

/* The most --set assignments one command (train, lr-find, study) takes. */
enum { DPT_CONFIG_SETS_MAX = 64 };

/* Appends assignment (kept by pointer) to sets[0..*n), which holds DPT_CONFIG_SETS_MAX; one more
 * is refused with an error naming --set and the limit. */
int dpt_config_add_set(const char **sets, int *n, const char *assignment, dpt_err *e);

/* The "section.key" of assignment as dpt_config_set reads it (blanks around it dropped; all of
 * assignment when it has no '='), cut to fit out[n]. */
void dpt_config_set_name(char *out, size_t n, const char *assignment);

/* Checks every key's range again (the struct may have been filled in code or received as bytes),
 * then combinations that single keys cannot (e.g. test_targets without test). */
int dpt_config_validate(const dpt_config *c, dpt_err *e);

/* Writes into out[n] (and returns out) key "section.key" with its value and origin, the way a
 * refusal starts: "exp.ini:7: training.batch = '512'", "--set training.batch=512", or
 * "training.batch = '512' (the default)". */
const char *dpt_config_where(char *out, size_t n, const dpt_config *c, const char *name);

/* Writes to f one "dptrain: warning: ..." line per key set explicitly to a value other than its
 * default that has no effect with the chosen setting (optimizer.momentum with adam, data.label with
 * idx data); returns the number of lines. */
int dpt_config_warn_unused(FILE *f, const dpt_config *c);

/* The seed of the initial parameters: run.init_seed, or run.seed when it is auto. */
uint64_t dpt_config_init_seed(const dpt_config *c);

/* The seed of the data (split, folds, order, synthetic data): run.data_seed, or run.seed when auto. */
uint64_t dpt_config_data_seed(const dpt_config *c);

/* Replaces every "auto" value (optimizer lr, eps, weight_decay) by torch's default for the kind. */
void dpt_config_resolve(dpt_config *c);

/* Writes every key, resolved, as an INI file that loads back to the same c. */
void dpt_config_write(FILE *f, const dpt_config *c);

/* Writes the Markdown table of all keys: section, key, default, meaning. */
void dpt_config_doc(FILE *f);

/* The built-in default experiment (linear regression) as INI text. */
const char *dpt_config_default_experiment(void);

/* Number of keys in the table. */
int dpt_config_nkeys(void);

/* Key i of the table (0 <= i < dpt_config_nkeys()): section, key, default text and one-line
 * meaning, static strings; any out pointer may be NULL. DPT_FAIL when i is out of range. */
int dpt_config_key_info(int i, const char **section, const char **key, const char **def,
                        const char **meaning);

#endif
