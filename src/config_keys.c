/* The experiment's keys. One table (section, key, type, field, default text, meaning) drives
 * everything: the defaults are the table's texts fed through the same setter a file uses, the
 * readers (config_ini.c) look keys up in it, the writer and the Markdown doc walk it, checks
 * combine its values, and error messages suggest its nearest names. Each key remembers the line
 * or --set that gave its value, so a check made later, even after the data is loaded, can point
 * at it (dpt_config_where). Settings the code decides on are enums whose names come from their
 * module's table (optimizer, schedule, loss, init, data format, synthetic set, early-stopping
 * metric), so this file holds no list of them of its own. */
#include "dptrain/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_keys.h"

typedef enum { K_STR, K_ENUM, K_BOOL, K_INT, K_I64, K_U64, K_F64 } ktype;

enum {
    LO_OPEN = 1,   /* F64: lower bound excluded */
    HI_OPEN = 2,   /* F64: upper bound excluded */
    NOT_ONE = 4,   /* INT: 0 or >= 2 (k-fold) */
    NONEMPTY = 8,  /* STR: "" refused */
    NAMECHARS = 16, /* STR: [A-Za-z0-9._-] only, a directory name */
    AUTO = 32       /* F64: "auto" (stored as NaN) = torch's default for the optimizer kind;
                     * U64: "auto" (stored as DPT_SEED_AUTO) = run.seed */
};

/* A name a K_ENUM key (stored as int) accepts, for settings only the config decides on. */
typedef struct {
    const char *name;
    int value;
} pick;

typedef struct {
    const char *sec, *key;
    ktype type;
    size_t off, size;   /* the field in dpt_config */
    const pick *picks;  /* K_ENUM: NULL-terminated, or ... */
    const char *(*names)(int); /* ... the owning module's names of values 0, 1, ... (NULL past the last) */
    double lo, hi;      /* numeric bounds */
    int flags;
    const char *def;    /* default, as the file would spell it */
    const char *doc;
} keydef;

static const pick p_header[] = {{"auto", -1}, {"true", 1}, {"false", 0}, {NULL, 0}};
static const pick p_task[] = {{"classify", DPT_TASK_CLASSIFY}, {"regress", DPT_TASK_REGRESS}, {NULL, 0}};
static const pick p_nonfinite[] = {{"stop", DPT_NONFINITE_STOP}, {"skip", DPT_NONFINITE_SKIP}, {NULL, 0}};
static const pick p_comm_dtype[] = {{"fp32", DPT_COMM_FP32}, {"bf16", DPT_COMM_BF16}, {NULL, 0}};

#define FLD(m) offsetof(dpt_config, m), sizeof(((dpt_config *)0)->m)
#define STR(s, k, m, fl, def, doc) {s, k, K_STR, FLD(m), NULL, NULL, 0, 0, fl, def, doc}
#define ENUM(s, k, m, p, def, doc) {s, k, K_ENUM, FLD(m), p, NULL, 0, 0, 0, def, doc}
#define NAMED(s, k, m, fn, def, doc) {s, k, K_ENUM, FLD(m), NULL, fn, 0, 0, 0, def, doc}
#define BOOL(s, k, m, def, doc) {s, k, K_BOOL, FLD(m), NULL, NULL, 0, 0, 0, def, doc}
#define INT(s, k, m, lo, fl, def, doc) {s, k, K_INT, FLD(m), NULL, NULL, lo, HUGE_VAL, fl, def, doc}
#define I64(s, k, m, lo, def, doc) {s, k, K_I64, FLD(m), NULL, NULL, lo, HUGE_VAL, 0, def, doc}
#define U64(s, k, m, def, doc) {s, k, K_U64, FLD(m), NULL, NULL, 0, HUGE_VAL, 0, def, doc}
#define F64(s, k, m, lo, hi, fl, def, doc) {s, k, K_F64, FLD(m), NULL, NULL, lo, hi, fl, def, doc}

static const char *const sections[] = {"data", "model", "loss", "optimizer", "schedule",
                                       "regularization", "training", "early_stopping",
                                       "checkpoint", "run"};
#define NSECTIONS ((int)(sizeof sections / sizeof sections[0]))

/* Every key, grouped by section in the order of `sections`. */
static const keydef keys[] = {
    NAMED("data", "format", data.format, dpt_data_format_name, "auto", "input format; auto picks it by file extension"),
    STR("data", "train", data.train, 0, "", "training features file; csv and libsvm hold the targets too"),
    STR("data", "train_targets", data.train_targets, 0, "", "training targets file, for idx and npy"),
    STR("data", "test", data.test, 0, "", "test features file; empty = no test set"),
    STR("data", "test_targets", data.test_targets, 0, "", "test targets file, for idx and npy"),
    STR("data", "label", data.label, 0, "", "csv label column, by header name or 0-based index; empty = the last"),
    ENUM("data", "header", data.header, p_header, "auto", "csv: whether the first line is a header (auto detects)"),
    ENUM("data", "task", data.task, p_task, "classify", "classify integer labels or regress real targets"),
    INT("data", "classes", data.classes, 0, 0, "0", "number of classes; 0 = largest label + 1"),
    I64("data", "features", data.features, 0, "0", "libsvm: number of features; 0 = largest index seen"),
    BOOL("data", "standardize", data.standardize, "false", "scale features to zero mean and unit variance, fit on the training split"),
    F64("data", "val_fraction", data.val_fraction, 0, 1, HI_OPEN, "0", "fraction of the training set held out for validation"),
    INT("data", "kfold", data.kfold, 0, NOT_ONE, "0", "k-fold cross-validation over the training set; 0 = off"),
    BOOL("data", "allow_changed", data.allow_changed, "false", "let --resume continue on data whose contents differ from the checkpoint's (checksums)"),
    BOOL("data", "shuffle", data.shuffle, "true", "new sample order every epoch"),
    BOOL("data", "drop_last", data.drop_last, "false", "drop an epoch's last incomplete batch"),
    NAMED("data", "synthetic", data.synthetic, dpt_data_synthetic_name, "none", "generated data instead of files; linreg: y = 2x + 0.5 noise"),
    I64("data", "synthetic_samples", data.synthetic_samples, 1, "100", "samples in the synthetic dataset"),

    STR("model", "layers", model.layers, NONEMPTY, "dense 1", "layer stack, comma separated, e.g. dense 512, relu, dense 10"),
    NAMED("model", "init", model.init, dpt_init_scheme_name, "auto", "weight initialization; auto picks by the following activation"),
    NAMED("model", "conv_algorithm", model.conv_algorithm, dpt_conv_algorithm_name, "auto", "how conv layers compute: winograd (F(2x2,3x3), 3x3 kernels of stride 1 only), im2col plus GEMM, direct (any conv; fast for few input channels), or auto: direct for a first layer of up to 3 input channels and stride 1 or 2 (in a build with AVX-512 code for it), winograd for 3x3 stride-1 convs of 8 or more input channels, im2col otherwise"),
    STR("model", "input_shape", model.input_shape, 0, "", "C,H,W of a sample for conv and pooling layers; empty = the data's own (IDX and NPY images keep theirs, CSV and libsvm are flat)"),

    NAMED("loss", "kind", loss.kind, dpt_loss_kind_name, "mse", "loss function; cross_entropy takes class labels"),

    NAMED("optimizer", "kind", optim.kind, dpt_optim_kind_name, "adam", "optimizer, with torch.optim's update rules"),
    F64("optimizer", "lr", optim.lr, 0, HUGE_VAL, AUTO, "auto", "base learning rate; auto = 0.001 for adam, adamw, else 0.01"),
    F64("optimizer", "weight_decay", optim.weight_decay, 0, HUGE_VAL, AUTO, "auto", "weight decay, added to the gradient (decoupled for adamw); auto = 0.01 for adamw, else 0"),
    F64("optimizer", "momentum", optim.momentum, 0, HUGE_VAL, 0, "0", "sgd, rmsprop: momentum factor"),
    F64("optimizer", "dampening", optim.dampening, 0, 1, 0, "0", "sgd: dampening of the momentum"),
    BOOL("optimizer", "nesterov", optim.nesterov, "false", "sgd: Nesterov momentum"),
    F64("optimizer", "alpha", optim.alpha, 0, HUGE_VAL, 0, "0.99", "rmsprop: smoothing constant"),
    BOOL("optimizer", "centered", optim.centered, "false", "rmsprop: divide by the centered second moment"),
    F64("optimizer", "lr_decay", optim.lr_decay, 0, HUGE_VAL, 0, "0", "adagrad: learning-rate decay"),
    F64("optimizer", "initial_accumulator_value", optim.initial_accumulator_value, 0, HUGE_VAL, 0, "0", "adagrad: starting sum of squares"),
    F64("optimizer", "beta1", optim.beta1, 0, 1, HI_OPEN, "0.9", "adam, adamw: first-moment decay"),
    F64("optimizer", "beta2", optim.beta2, 0, 1, HI_OPEN, "0.999", "adam, adamw: second-moment decay"),
    F64("optimizer", "eps", optim.eps, 0, HUGE_VAL, AUTO, "auto", "term added to the denominator; auto = 1e-10 for adagrad, else 1e-8"),
    BOOL("optimizer", "amsgrad", optim.amsgrad, "false", "adam, adamw: use the maximum of past second moments"),
    F64("optimizer", "clip_norm", clip_norm, 0, HUGE_VAL, 0, "0", "clip the global gradient norm to this; 0 = off"),

    NAMED("schedule", "kind", sched.kind, dpt_sched_kind_name, "constant", "learning-rate schedule"),
    I64("schedule", "step_size", sched.step_size, 1, "1000", "step: decay every this many steps"),
    F64("schedule", "gamma", sched.gamma, 0, HUGE_VAL, LO_OPEN, "0.1", "step, exponential: decay factor"),
    F64("schedule", "min_lr", sched.min_lr, 0, HUGE_VAL, 0, "0", "cosine: learning rate at the last step; plateau: the lowest rate"),
    I64("schedule", "warmup", sched.warmup, 0, "0", "linear warmup steps before the schedule; 0 = none"),
    F64("schedule", "factor", sched.factor, 0, 1, LO_OPEN | HI_OPEN, "0.1", "plateau: the rate is multiplied by this when the watched metric stalls"),
    I64("schedule", "patience", sched.patience, 0, "10", "plateau: evaluations without improvement before the rate is lowered"),
    F64("schedule", "threshold", sched.threshold, 0, HUGE_VAL, 0, "0.0001", "plateau: an improvement must beat the best by this fraction of it"),
    I64("schedule", "cooldown", sched.cooldown, 0, "0", "plateau: evaluations after a cut before stalls count again"),
    BOOL("schedule", "scale_lr", scale_lr, "false", "linear scaling rule: lr * batch / reference_batch"),
    I64("schedule", "reference_batch", reference_batch, 1, "256", "batch size that optimizer.lr was tuned for"),

    F64("regularization", "l1", reg.l1, 0, HUGE_VAL, 0, "0", "L1 penalty: l1 * sum of abs(w)"),
    F64("regularization", "l2", reg.l2, 0, HUGE_VAL, 0, "0", "L2 penalty: l2 * 0.5 * sum of w^2"),
    BOOL("regularization", "penalize_bias", penalize_bias, "false", "penalize biases too, not only weights"),

    I64("training", "epochs", train.epochs, 0, "10", "passes over the training set"),
    I64("training", "steps", train.steps, 0, "0", "stop after this many optimizer steps; 0 = no limit"),
    I64("training", "batch", train.batch, 0, "0", "global batch over all ranks; 0 = the whole training set"),
    I64("training", "accumulation", train.accumulation, 1, "1", "micro-batches summed per optimizer step"),
    I64("training", "eval_every", train.eval_every, 0, "0", "steps between validations; 0 = once per epoch"),
    I64("training", "test_every_epochs", train.test_every_epochs, 0, "0", "test loss and accuracy in metrics.jsonl every this many epochs; 0 = only at the end (summary.json)"),
    I64("training", "log_every", train.log_every, 1, "1", "epochs between progress lines"),
    ENUM("training", "nonfinite", train.nonfinite, p_nonfinite, "stop", "on a NaN or infinite loss or gradient: stop the run or skip the step"),
    I64("training", "max_skipped", train.max_skipped, 0, "10", "nonfinite = skip: stop the run after this many consecutive skipped steps; 0 = no limit"),
    F64("training", "timeout", train.timeout, 0, HUGE_VAL, 0, "600", "seconds a step, evaluation or collective may take before the job is ended (a rank stopped or cut off); 0 = no watchdog"),
    BOOL("training", "deterministic", train.deterministic, "false", "bitwise-identical results for any number of ranks"),
    INT("training", "blocks", train.blocks, 1, 0, "8", "deterministic mode: blocks per global batch, a power of two; up to this many ranks (more blocks cost speed)"),
    F64("training", "bucket_mb", train.bucket_mb, 0, HUGE_VAL, AUTO, "auto", "gradient allreduce bucket in MiB, summed on a progress thread during backward; 0 = one blocking call after backward; auto = 0 (measured fastest on one node and across nodes, `make bench-cluster`)"),
    INT("training", "threads", train.threads, 0, 0, "0", "BLAS threads per rank, which also share the update of models of 1M parameters or more; 0 = cores / ranks on the node"),
    STR("training", "trace", train.trace, 0, "", "write a timeline of every rank (Chrome trace JSON: Perfetto, chrome://tracing) to this file; relative to the run directory; empty = none"),
    STR("training", "trace_steps", train.trace_steps, 0, "10-12", "the steps the trace records, A-B (1-based, inclusive) or A"),
    INT("training", "sample_threads", train.sample_threads, 0, 0, "0", "threads per rank that split its samples, each running forward and backward of its share on a replica of the model with one BLAS thread (the layers' products run on one thread each: dptrain's own AVX-512 kernels, or a convolution's small per-sample GEMMs, which two BLAS threads cannot share); in deterministic mode, blocks computed at once, one a thread, with the same bits; 0 = training.threads for models of 65536 parameters or more when every rank of the job has AVX-512, or when a layer with parameters reads an image unflattened (a convolution), else 1 (the BLAS threads share each product); deterministic mode: cores / ranks on the node; never more than a rank's blocks (deterministic) or rows; at most 64"),
    INT("training", "update_threads", train.update_threads, 0, 0, "0", "threads per rank sharing the averaging and the update of models of 1M parameters or more (no bit depends on it); 0 = training.threads"),
    BOOL("training", "shard_optimizer", train.shard_optimizer, "true", "each rank updates one shard of the parameters (when bucket_mb is 0); shards meet in node-shared memory or through reduce-scatter and all-gather"),
    BOOL("training", "flush_denormals", train.flush_denormals, "true", "treat subnormal floats as zero (x86 FTZ/DAZ, as TensorFlow does): Adam's moments of weights whose gradient stays zero decay into subnormals that slow the optimizer step up to 30x"),
    ENUM("training", "comm_dtype", train.comm_dtype, p_comm_dtype, "fp32", "gradients on the wire: fp32, or bf16 (half the bytes; summed in fp32, rounded when they travel; not in deterministic mode)"),
    BOOL("training", "shared_memory", train.shared_memory, "true", "sharded optimizer, every rank on one node: shards meet in node-shared memory instead of MPI's reduce-scatter and all-gather"),

    NAMED("early_stopping", "metric", early.metric, dpt_early_metric_name, "val_loss",
          "metric watched; train_loss: each epoch's mean training loss, stopped by sklearn's rule (tol, n_iter_no_change)"),
    I64("early_stopping", "patience", early.patience, 0, "0", "validations without improvement before stopping; 0 = off"),
    F64("early_stopping", "min_delta", early.min_delta, 0, HUGE_VAL, 0, "0", "smallest change that counts as an improvement"),
    F64("early_stopping", "tol", early.tol, 0, HUGE_VAL, 0, "0.0001",
        "train_loss: an epoch whose loss is above the best minus tol counts as one without improvement"),
    I64("early_stopping", "n_iter_no_change", early.n_iter_no_change, 1, "10",
        "train_loss: stop when more than this many epochs in a row did not improve"),

    I64("checkpoint", "every_steps", ckpt.every_steps, 0, "0", "save every this many steps; 0 = off"),
    I64("checkpoint", "every_epochs", ckpt.every_epochs, 0, "0", "save every this many epochs; 0 = off"),
    I64("checkpoint", "keep_last", ckpt.keep_last, 1, "3", "periodic checkpoints kept"),
    BOOL("checkpoint", "keep_best", ckpt.keep_best, "true", "also keep the checkpoint with the best validation metric"),

    U64("run", "seed", run.seed, "42", "seed of every random stream (init, shuffle, split, synthetic data)"),
    {"run", "init_seed", K_U64, FLD(run.init_seed), NULL, NULL, 0, HUGE_VAL, AUTO, "auto", "seed of the initial parameters; auto = run.seed"},
    {"run", "data_seed", K_U64, FLD(run.data_seed), NULL, NULL, 0, HUGE_VAL, AUTO, "auto", "seed of the data: validation split or folds, sample order, synthetic data; auto = run.seed"},
    STR("run", "name", run.name, NAMECHARS | NONEMPTY, "default", "run name, the run directory's name"),
    STR("run", "dir", run.dir, NONEMPTY, "runs", "directory that holds the run directories"),
};
#define NKEYS ((int)(sizeof keys / sizeof keys[0]))
_Static_assert(NKEYS <= DPT_CONFIG_KEYS_MAX, "raise DPT_CONFIG_KEYS_MAX: dpt_config.origin has a line per key");

/* Common misnamings, offered as suggestions only (never accepted). */
static const struct {
    const char *alias, *sec, *key;
} aliases[] = {
    {"learning_rate", "optimizer", "lr"},   {"batch_size", "training", "batch"},
    {"num_epochs", "training", "epochs"},   {"max_epochs", "training", "epochs"},
    {"max_steps", "training", "steps"},     {"optimizer", "optimizer", "kind"},
    {"loss", "loss", "kind"},               {"scheduler", "schedule", "kind"},
    {"schedule", "schedule", "kind"},       {"max_grad_norm", "optimizer", "clip_norm"},
    {"grad_clip", "optimizer", "clip_norm"}, {"warmup_steps", "schedule", "warmup"},
    {"validation_split", "data", "val_fraction"}, {"random_seed", "run", "seed"},
    {"output_dir", "run", "dir"},
};
#define NALIASES ((int)(sizeof aliases / sizeof aliases[0]))

enum { RAW_MAX = DPT_CFG_RAW_MAX, VALUE_SHOWN = DPT_CFG_VALUE_SHOWN };

/* ---- names ------------------------------------------------------------ */

int dpt_cfgkey_is_section(const char *s)
{
    for (int i = 0; i < NSECTIONS; i++)
        if (strcmp(s, sections[i]) == 0)
            return 1;
    return 0;
}

int dpt_cfgkey_find(const char *sec, const char *key)
{
    for (int i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].sec, sec) == 0 && strcmp(keys[i].key, key) == 0)
            return i;
    return -1;
}

/* Index of key "section.key" in the table, or -1. */
static int find_name(const char *name)
{
    char sec[32];
    const char *dot = strchr(name, '.');
    if (!dot || (size_t)(dot - name) >= sizeof sec)
        return -1;
    memcpy(sec, name, (size_t)(dot - name));
    sec[dot - name] = '\0';
    return dpt_cfgkey_find(sec, dot + 1);
}

/* Levenshtein distance, ignoring case; names past 63 characters are never close. */
static int distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    int row[64];
    if (la > 63 || lb > 63)
        return INT_MAX / 2;
    for (size_t j = 0; j <= lb; j++)
        row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int up = row[j];
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int best = diag + cost;
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

/* Close enough to suggest: about one edit in three characters. */
static int is_close(int d, const char *a, const char *b)
{
    size_t l = strlen(a) > strlen(b) ? strlen(a) : strlen(b);
    int t = (int)(l / 3) > 1 ? (int)(l / 3) : 1;
    return d <= t;
}

/* The key nearest to `key` (preferring section `sec` on ties), or -1 if none is close.
 * Keys of other sections and common aliases count too. */
int dpt_cfgkey_nearest(const char *sec, const char *key)
{
    int best = -1, bestd = INT_MAX, bestsame = 0;
    for (int i = 0; i < NKEYS + NALIASES; i++) {
        int k = i < NKEYS ? i : dpt_cfgkey_find(aliases[i - NKEYS].sec, aliases[i - NKEYS].key);
        const char *name = i < NKEYS ? keys[i].key : aliases[i - NKEYS].alias;
        if (k < 0)
            continue;
        int d = distance(key, name), same = strcmp(keys[k].sec, sec) == 0;
        if (!is_close(d, key, name))
            continue;
        if (d < bestd || (d == bestd && same && !bestsame)) {
            best = k;
            bestd = d;
            bestsame = same;
        }
    }
    return best;
}

void dpt_cfgkey_unknown_section(char *out, size_t n, const char *sec)
{
    int best = -1, bestd = INT_MAX;
    for (int i = 0; i < NSECTIONS; i++) {
        int d = distance(sec, sections[i]);
        if (is_close(d, sec, sections[i]) && d < bestd) {
            best = i;
            bestd = d;
        }
    }
    if (best >= 0) {
        snprintf(out, n, "unknown section [%.100s]; did you mean [%s]?", sec, sections[best]);
        return;
    }
    int len = snprintf(out, n, "unknown section [%.100s]; sections are", sec);
    for (int i = 0; i < NSECTIONS && len > 0 && (size_t)len < n; i++)
        len += snprintf(out + len, n - (size_t)len, "%s %s", i ? "," : "", sections[i]);
}

void dpt_cfgkey_unknown_key(char *out, size_t n, const char *sec, const char *key)
{
    int k = dpt_cfgkey_nearest(sec, key);
    if (k >= 0) {
        snprintf(out, n, "unknown key %s.%.100s; did you mean %s.%s?", sec, key, keys[k].sec, keys[k].key);
        return;
    }
    int len = snprintf(out, n, "unknown key %s.%.100s; keys in [%s] are", sec, key, sec);
    int first = 1;
    for (int i = 0; i < NKEYS && len > 0 && (size_t)len < n; i++)
        if (strcmp(keys[i].sec, sec) == 0) {
            len += snprintf(out + len, n - (size_t)len, "%s %s", first ? "" : ",", keys[i].key);
            first = 0;
        }
}

/* A key written before any [section] line. */
void dpt_cfgkey_sectionless(char *out, size_t n, const char *key)
{
    int k = dpt_cfgkey_nearest("", key);
    if (k >= 0 && strcmp(keys[k].key, key) == 0)
        snprintf(out, n, "key %.100s comes before any [section]; it belongs under [%s]", key, keys[k].sec);
    else if (k >= 0)
        snprintf(out, n, "key %.100s comes before any [section]; did you mean %s.%s under [%s]?", key,
                 keys[k].sec, keys[k].key, keys[k].sec);
    else
        snprintf(out, n, "key %.100s comes before any [section]; start with a line such as [data]", key);
}

/* ---- values ----------------------------------------------------------- */

static int same_ci(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
    return *a == *b;
}

static int parse_bool(const char *s, int *v)
{
    static const char *const yes[] = {"true", "1", "yes", "on"}, *const no[] = {"false", "0", "no", "off"};
    for (int i = 0; i < 4; i++) {
        if (same_ci(s, yes[i])) {
            *v = 1;
            return 0;
        }
        if (same_ci(s, no[i])) {
            *v = 0;
            return 0;
        }
    }
    return -1;
}

static int parse_i64(const char *s, int64_t *v)
{
    char *end;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end || errno == ERANGE)
        return -1;
    *v = (int64_t)x;
    return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    if (!isdigit((unsigned char)*s)) /* strtoull would wrap "-1" around */
        return -1;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (*end || errno == ERANGE)
        return -1;
    *v = (uint64_t)x;
    return 0;
}

/* A decimal number only: strtod also reads hexadecimal ("0x10" is 16), inf and nan, which no
 * experiment means. Returns -1, with a hint in *hint when one helps, on anything else. */
static int parse_f64(const char *s, double *v, const char **hint)
{
    char *end;
    *hint = NULL;
    if (!*s || isspace((unsigned char)*s))
        return -1;
    if (strpbrk(s, "xX"))
        *hint = " (hexadecimal is not read; write the number in decimal)";
    if (s[strspn(s, "0123456789+-.eE")])
        return -1;
    errno = 0;
    double x = strtod(s, &end);
    if (!*end && errno == ERANGE && fabs(x) > 1)
        *hint = " (too large for a double)";
    if (*end || !isfinite(x)) /* underflow to a tiny or zero value is fine */
        return -1;
    *v = x;
    return 0;
}

/* Choice i of K_ENUM key k: its name (NULL past the last) and, in *value, the value it stores. */
static const char *choice(const keydef *k, int i, int *value)
{
    if (k->names) {
        *value = i;
        return k->names(i);
    }
    *value = k->picks[i].value;
    return k->picks[i].name;
}

/* What key k accepts, as "expected ..." text. */
static void expect_text(char *out, size_t n, const keydef *k)
{
    switch (k->type) {
    case K_STR:
        if (k->flags & NAMECHARS)
            snprintf(out, n, "expected letters, digits, '.', '_' or '-', at most %zu", k->size - 1);
        else
            snprintf(out, n, "expected %stext of at most %zu characters", (k->flags & NONEMPTY) ? "non-empty " : "",
                     k->size - 1);
        return;
    case K_ENUM: {
        int len = snprintf(out, n, "expected one of"), v;
        for (int i = 0; choice(k, i, &v) && len > 0 && (size_t)len < n; i++)
            len += snprintf(out + len, n - (size_t)len, "%s %s", i ? "," : "", choice(k, i, &v));
        return;
    }
    case K_BOOL:
        snprintf(out, n, "expected true or false");
        return;
    case K_INT:
    case K_I64:
        if (k->flags & NOT_ONE)
            snprintf(out, n, "expected 0 or an integer >= 2");
        else
            snprintf(out, n, "expected an integer >= %.0f", k->lo);
        return;
    case K_U64:
        if (k->flags & AUTO)
            snprintf(out, n, "expected auto or an integer in [0, %" PRIu64 "]", DPT_SEED_AUTO - 1);
        else
            snprintf(out, n, "expected an integer in [0, %" PRIu64 "]", UINT64_MAX);
        return;
    case K_F64:
        if (k->flags & AUTO)
            snprintf(out, n, "expected auto or a number >= %g", k->lo);
        else if (isinf(k->hi))
            snprintf(out, n, "expected a number %s %g", (k->flags & LO_OPEN) ? ">" : ">=", k->lo);
        else
            snprintf(out, n, "expected a number in %c%g, %g%c", (k->flags & LO_OPEN) ? '(' : '[', k->lo, k->hi,
                     (k->flags & HI_OPEN) ? ')' : ']');
        return;
    }
}

static int in_bounds(const keydef *k, double x)
{
    if (x < k->lo || (x == k->lo && (k->flags & LO_OPEN)))
        return 0;
    return x < k->hi || (x == k->hi && !(k->flags & HI_OPEN));
}

/* The value of key k's choice called name (case ignored); -1 if there is none. */
static int find_choice(const keydef *k, const char *name, int *value)
{
    const char *c;
    for (int i = 0; (c = choice(k, i, value)) != NULL; i++)
        if (same_ci(c, name))
            return 0;
    return -1;
}

/* Sets key k of c from text v; on a bad value leaves c untouched and says why in out[n]. */
static int set_value(dpt_config *c, const keydef *k, const char *v, char *why, size_t n)
{
    char *dst = (char *)c + k->off;
    size_t want = k->type == K_I64 ? sizeof(int64_t) : k->type == K_U64 ? sizeof(uint64_t)
                : k->type == K_F64 ? sizeof(double) : sizeof(int);
    if (k->type != K_STR && k->size != want) {
        snprintf(why, n, "internal: the table's field size is wrong");
        return -1;
    }
    switch (k->type) {
    case K_STR: {
        size_t len = strlen(v);
        if (len >= k->size || ((k->flags & NONEMPTY) && len == 0)) {
            expect_text(why, n, k);
            return -1;
        }
        for (size_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)v[i];
            if (ch < 0x20 || ch == 0x7f) {
                snprintf(why, n, "contains a control character");
                return -1;
            }
            if ((k->flags & NAMECHARS) && !isalnum(ch) && ch != '.' && ch != '_' && ch != '-') {
                expect_text(why, n, k);
                return -1;
            }
        }
        if ((k->flags & NAMECHARS) && (strcmp(v, ".") == 0 || strcmp(v, "..") == 0)) {
            snprintf(why, n, "'.' and '..' are not run names");
            return -1;
        }
        memset(dst, 0, k->size);
        memcpy(dst, v, len);
        return 0;
    }
    case K_ENUM: {
        int value;
        if (find_choice(k, v, &value)) {
            expect_text(why, n, k);
            return -1;
        }
        memcpy(dst, &value, sizeof value);
        return 0;
    }
    case K_BOOL: {
        int b;
        if (parse_bool(v, &b)) {
            snprintf(why, n, "expected true or false (or yes/no, on/off, 1/0)");
            return -1;
        }
        memcpy(dst, &b, sizeof b);
        return 0;
    }
    case K_INT:
    case K_I64: {
        int64_t x;
        if (parse_i64(v, &x) || !in_bounds(k, (double)x) || ((k->flags & NOT_ONE) && x == 1)) {
            expect_text(why, n, k);
            return -1;
        }
        if (k->type == K_I64) {
            memcpy(dst, &x, sizeof x);
            return 0;
        }
        if (x > INT_MAX || x < INT_MIN) {
            expect_text(why, n, k);
            size_t len = strlen(why);
            snprintf(why + len, n - len, ", at most %d", INT_MAX);
            return -1;
        }
        int i = (int)x;
        memcpy(dst, &i, sizeof i);
        return 0;
    }
    case K_U64: {
        uint64_t x = DPT_SEED_AUTO;
        if ((k->flags & AUTO) && same_ci(v, "auto")) {
            memcpy(dst, &x, sizeof x);
            return 0;
        }
        if (parse_u64(v, &x) || ((k->flags & AUTO) && x == DPT_SEED_AUTO)) {
            expect_text(why, n, k);
            return -1;
        }
        memcpy(dst, &x, sizeof x);
        return 0;
    }
    case K_F64: {
        double x = NAN;
        if ((k->flags & AUTO) && same_ci(v, "auto")) {
            memcpy(dst, &x, sizeof x);
            return 0;
        }
        const char *hint;
        if (parse_f64(v, &x, &hint) || !in_bounds(k, x)) {
            expect_text(why, n, k);
            if (strstr(v, " #") || strstr(v, "\t#"))
                hint = " (comments after a value start with ' ;', not '#')";
            size_t len = strlen(why);
            snprintf(why + len, n - len, "%s", hint ? hint : "");
            return -1;
        }
        memcpy(dst, &x, sizeof x);
        return 0;
    }
    }
    return -1;
}

/* The shortest of %.15g..%.17g that reads back to exactly x. */
static void format_double(char *out, size_t n, double x)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, x);
        if (strtod(out, NULL) == x)
            return;
    }
}

/* Key k of c as the text that sets it (unquoted). Values no setter would accept
 * (filled in code or received as bytes) come out as text the setter refuses. */
static void format_value(char *out, size_t n, const dpt_config *c, const keydef *k)
{
    const char *src = (const char *)c + k->off;
    int iv;
    switch (k->type) {
    case K_STR: {
        size_t len = strnlen(src, k->size);
        if (len >= n)
            len = n - 1;
        memcpy(out, src, len);
        out[len] = '\0';
        return;
    }
    case K_ENUM: {
        const char *name;
        int v;
        memcpy(&iv, src, sizeof iv);
        for (int i = 0; (name = choice(k, i, &v)) != NULL; i++)
            if (v == iv) {
                snprintf(out, n, "%s", name);
                return;
            }
        snprintf(out, n, "%d", iv);
        return;
    }
    case K_BOOL:
        memcpy(&iv, src, sizeof iv);
        if (iv == 0 || iv == 1)
            snprintf(out, n, "%s", iv ? "true" : "false");
        else
            snprintf(out, n, "%d", iv);
        return;
    case K_INT:
        memcpy(&iv, src, sizeof iv);
        snprintf(out, n, "%d", iv);
        return;
    case K_I64: {
        int64_t x;
        memcpy(&x, src, sizeof x);
        snprintf(out, n, "%" PRId64, x);
        return;
    }
    case K_U64: {
        uint64_t x;
        memcpy(&x, src, sizeof x);
        if (x == DPT_SEED_AUTO && (k->flags & AUTO))
            snprintf(out, n, "auto");
        else
            snprintf(out, n, "%" PRIu64, x);
        return;
    }
    case K_F64: {
        double x;
        memcpy(&x, src, sizeof x);
        if (isnan(x) && (k->flags & AUTO))
            snprintf(out, n, "auto");
        else
            format_double(out, n, x);
        return;
    }
    }
}

/* ---- for the readers (config_keys.h) ------------------------------------- */

int dpt_cfgkey_set(dpt_config *c, int i, const char *v, char *why, size_t n)
{
    return set_value(c, &keys[i], v, why, n);
}

/* ---- public ------------------------------------------------------------- */

void dpt_config_defaults(dpt_config *c)
{
    char why[256];
    memset(c, 0, sizeof *c); /* padding too: the struct travels as bytes */
    /* a default the setter refuses would leave its field zero; the unit test refuses the table then */
    for (int i = 0; i < NKEYS; i++)
        set_value(c, &keys[i], keys[i].def, why, sizeof why);
}

/* A cosine schedule ends at min_lr: above the base rate, the rate would climb all run. */
static int check_cosine(const dpt_config *c, dpt_err *e)
{
    dpt_optim_config d;
    char at[DPT_PATH_MAX + 256];
    dpt_optim_defaults(&d, c->optim.kind);
    double lr = isnan(c->optim.lr) ? d.lr : c->optim.lr;
    if (c->sched.kind != DPT_SCHED_COSINE || c->sched.min_lr <= lr)
        return DPT_OK;
    return dpt_errf(e, "%s: above optimizer.lr = %g%s; the cosine schedule would raise the rate instead of "
                       "lowering it", dpt_config_where(at, sizeof at, c, "schedule.min_lr"), lr,
                    isnan(c->optim.lr) ? " (auto)" : "");
}

/* A plateau schedule steps on each validation of the watched metric: without one it would never act. */
static int check_plateau(const dpt_config *c, dpt_err *e)
{
    char at[DPT_PATH_MAX + 256];
    if (c->sched.kind != DPT_SCHED_PLATEAU || c->data.val_fraction > 0 || c->data.kfold)
        return DPT_OK;
    return dpt_errf(e, "%s: watches the validation metric (early_stopping.metric = %s), but there is no "
                       "validation set (set data.val_fraction or data.kfold)",
                    dpt_config_where(at, sizeof at, c, "schedule.kind"), dpt_early_metric_name(c->early.metric));
}

int dpt_config_validate(const dpt_config *c, dpt_err *e)
{
    char text[RAW_MAX], why[256];
    dpt_config scratch;
    memset(&scratch, 0, sizeof scratch);
    for (int i = 0; i < NKEYS; i++) {
        format_value(text, sizeof text, c, &keys[i]);
        if (set_value(&scratch, &keys[i], text, why, sizeof why))
            return dpt_errf(e, "%s.%s = '%.*s%s': %s", keys[i].sec, keys[i].key, VALUE_SHOWN, text,
                            strlen(text) > VALUE_SHOWN ? "..." : "", why);
    }
    int synthetic = c->data.synthetic != DPT_SYNTH_NONE;
    const char *synth = dpt_data_synthetic_name(c->data.synthetic), *format = dpt_data_format_name(c->data.format);
    int regress = c->data.task == DPT_TASK_REGRESS;
    if (!synthetic && !c->data.train[0])
        return dpt_errf(e, "data.train: no training data (set data.train or data.synthetic)");
    if (synthetic && c->data.train[0])
        return dpt_errf(e, "data.synthetic: %s and data.train = '%.100s' both give training data; keep one",
                        synth, c->data.train);
    if (synthetic && !regress)
        return dpt_errf(e, "data.synthetic: %s is a regression set; set data.task = regress", synth);
    int inline_targets = dpt_data_format_carries_targets(c->data.format);
    if (inline_targets && c->data.train_targets[0])
        return dpt_errf(e, "data.train_targets: format %s keeps the targets in data.train; remove data.train_targets",
                        format);
    if (inline_targets && c->data.test_targets[0])
        return dpt_errf(e, "data.test_targets: format %s keeps the targets in data.test; remove data.test_targets",
                        format);
    if (c->data.test_targets[0] && !c->data.test[0])
        return dpt_errf(e, "data.test_targets: set without data.test");
    if (c->train.test_every_epochs > 0 && !c->data.test[0])
        return dpt_errf(e, "training.test_every_epochs = %" PRId64 ": there is no test set (set data.test)",
                        c->train.test_every_epochs);
    if (c->data.val_fraction > 0 && c->data.kfold)
        return dpt_errf(e, "data.kfold: cannot be combined with data.val_fraction; choose one");
    if (c->early.patience > 0 && c->early.metric != DPT_METRIC_TRAIN_LOSS && c->data.val_fraction == 0 &&
        !c->data.kfold)
        return dpt_errf(e, "early_stopping.patience: needs a validation set (set data.val_fraction or data.kfold)");
    if (regress && c->early.metric == DPT_METRIC_VAL_ACCURACY)
        return dpt_errf(e, "early_stopping.metric: val_accuracy needs data.task = classify");
    if (regress && c->loss.kind == DPT_LOSS_XENT)
        return dpt_errf(e, "loss.kind: cross_entropy needs data.task = classify");
    if (c->optim.kind == DPT_OPT_GD && (c->optim.momentum > 0 || c->optim.dampening > 0 || c->optim.nesterov))
        return dpt_errf(e, "optimizer.momentum: gd has no momentum (dampening, nesterov neither); use "
                           "optimizer.kind = sgd");
    if (c->optim.nesterov && (c->optim.momentum <= 0 || c->optim.dampening != 0))
        return dpt_errf(e, "optimizer.nesterov: needs optimizer.momentum > 0 and optimizer.dampening = 0");
    if (c->train.epochs == 0 && c->train.steps == 0)
        return dpt_errf(e, "training.epochs: nothing to train (training.epochs and training.steps are both 0)");
    if (c->train.deterministic && c->train.accumulation > 1)
        return dpt_errf(e, "training.accumulation: does not apply with training.deterministic (each block is "
                           "already its own pass; raise training.blocks to use less memory)");
    if (c->train.accumulation > (1 << 24))
        return dpt_errf(e, "training.accumulation: at most %d micro-batches", 1 << 24);
    if (c->data.kfold > 1000)
        return dpt_errf(e, "data.kfold: at most 1000 folds");
    if (c->train.batch > 0 && c->train.accumulation > c->train.batch)
        return dpt_errf(e, "training.accumulation: %" PRId64 " micro-batches need training.batch >= %" PRId64
                        " (it is %" PRId64 ")", c->train.accumulation, c->train.accumulation, c->train.batch);
    return check_plateau(c, e) != DPT_OK ? DPT_FAIL : check_cosine(c, e);
}

const char *dpt_config_where(char *out, size_t n, const dpt_config *c, const char *name)
{
    char text[RAW_MAX];
    int i = find_name(name);
    if (i < 0) {
        snprintf(out, n, "%s", name);
        return out;
    }
    format_value(text, sizeof text, c, &keys[i]);
    const char *more = strlen(text) > VALUE_SHOWN ? "..." : "";
    int line = c->origin.line[i];
    if (line > 0)
        snprintf(out, n, "%s:%d: %s = '%.*s%s'", c->origin.file, line, name, VALUE_SHOWN, text, more);
    else if (line == DPT_FROM_SET)
        snprintf(out, n, "--set %s=%.*s%s", name, VALUE_SHOWN, text, more);
    else if (line == DPT_FROM_EARLIER_FILE)
        snprintf(out, n, "%s = '%.*s%s'", name, VALUE_SHOWN, text, more);
    else
        snprintf(out, n, "%s = '%.*s%s' (the default)", name, VALUE_SHOWN, text, more);
    return out;
}

/* ---- keys that only some settings read ------------------------------------- */

/* key applies only when setting (another key) has one of values (space separated); a key set
 * for another setting is told, not refused: it is harmless, but often a sign of a mix-up. */
static const struct {
    const char *key, *setting, *values;
} applies[] = {
    {"optimizer.momentum", "optimizer.kind", "sgd rmsprop"},
    {"optimizer.dampening", "optimizer.kind", "sgd"},
    {"optimizer.nesterov", "optimizer.kind", "sgd"},
    {"optimizer.alpha", "optimizer.kind", "rmsprop"},
    {"optimizer.centered", "optimizer.kind", "rmsprop"},
    {"optimizer.lr_decay", "optimizer.kind", "adagrad"},
    {"optimizer.initial_accumulator_value", "optimizer.kind", "adagrad"},
    {"optimizer.beta1", "optimizer.kind", "adam adamw"},
    {"optimizer.beta2", "optimizer.kind", "adam adamw"},
    {"optimizer.amsgrad", "optimizer.kind", "adam adamw"},
    {"optimizer.eps", "optimizer.kind", "adagrad rmsprop adam adamw"},
    {"schedule.step_size", "schedule.kind", "step"},
    {"schedule.gamma", "schedule.kind", "step exponential"},
    {"schedule.min_lr", "schedule.kind", "cosine plateau"},
    {"schedule.factor", "schedule.kind", "plateau"},
    {"schedule.patience", "schedule.kind", "plateau"},
    {"schedule.threshold", "schedule.kind", "plateau"},
    {"schedule.cooldown", "schedule.kind", "plateau"},
    {"schedule.reference_batch", "schedule.scale_lr", "true"},
    {"data.label", "data.format", "csv"},
    {"data.header", "data.format", "csv"},
    {"data.features", "data.format", "libsvm"},
    {"data.classes", "data.task", "classify"},
    {"data.synthetic_samples", "data.synthetic", "linreg"},
    {"training.blocks", "training.deterministic", "true"},
    {"training.comm_dtype", "training.deterministic", "false"},
    {"early_stopping.patience", "early_stopping.metric", "val_loss val_accuracy"},
    {"early_stopping.min_delta", "early_stopping.metric", "val_loss val_accuracy"},
    {"early_stopping.tol", "early_stopping.metric", "train_loss"},
    {"early_stopping.n_iter_no_change", "early_stopping.metric", "train_loss"},
};

/* Whether word is one of the space-separated words of list. */
static int in_list(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return 1;
    return 0;
}

/* The space-separated words of list as "a, b or c". */
static void or_list(char *out, size_t n, const char *list)
{
    size_t len = 0, words = 1;
    for (const char *p = list; *p; p++)
        words += *p == ' ';
    out[0] = '\0';
    for (size_t w = 0; *list && len < n; w++) {
        size_t k = strcspn(list, " ");
        len += (size_t)snprintf(out + len, n - len, "%s%.*s", w == 0 ? "" : w + 1 == words ? " or " : ", ",
                                (int)k, list);
        list += k + (list[k] == ' ');
    }
}

/* Key i was written by the user with a value other than its default. */
static int set_off_default(const dpt_config *c, int i)
{
    dpt_config d;
    memset(&d, 0, sizeof d);
    char why[256], now[RAW_MAX], def[RAW_MAX];
    if (c->origin.line[i] == 0)
        return 0;
    set_value(&d, &keys[i], keys[i].def, why, sizeof why);
    format_value(now, sizeof now, c, &keys[i]);
    format_value(def, sizeof def, &d, &keys[i]);
    return strcmp(now, def) != 0;
}

int dpt_config_warn_unused(FILE *f, const dpt_config *c)
{
    char at[DPT_PATH_MAX + 256], value[RAW_MAX], shown[RAW_MAX + 32], want[128];
    int told = 0;
    for (size_t r = 0; r < sizeof applies / sizeof applies[0]; r++) {
        int k = find_name(applies[r].key), s = find_name(applies[r].setting);
        if (k < 0 || s < 0 || !set_off_default(c, k))
            continue;
        format_value(value, sizeof value, c, &keys[s]);
        snprintf(shown, sizeof shown, "%s", value);
        if (strcmp(applies[r].setting, "data.format") == 0 && c->data.format == DPT_FORMAT_AUTO) {
            dpt_data_format by = dpt_data_format_of(c->data.train);
            const char *by_name = dpt_data_format_name(by);
            if (by == DPT_FORMAT_AUTO)
                continue; /* loading will say the format is unknown */
            snprintf(value, sizeof value, "%s", by_name);
            snprintf(shown, sizeof shown, "auto (%s by the file name)", by_name);
        }
        if (in_list(applies[r].values, value))
            continue;
        or_list(want, sizeof want, applies[r].values);
        fprintf(f, "dptrain: warning: %s has no effect with %s = %s (only with %s)\n",
                dpt_config_where(at, sizeof at, c, applies[r].key), applies[r].setting, shown, want);
        told++;
    }
    return told;
}

uint64_t dpt_config_init_seed(const dpt_config *c)
{
    return c->run.init_seed == DPT_SEED_AUTO ? c->run.seed : c->run.init_seed;
}

uint64_t dpt_config_data_seed(const dpt_config *c)
{
    return c->run.data_seed == DPT_SEED_AUTO ? c->run.seed : c->run.data_seed;
}

void dpt_config_resolve(dpt_config *c)
{
    dpt_optim_config d;
    dpt_optim_defaults(&d, c->optim.kind);
    if (isnan(c->optim.lr))
        c->optim.lr = d.lr;
    if (isnan(c->optim.eps))
        c->optim.eps = d.eps;
    if (isnan(c->optim.weight_decay))
        c->optim.weight_decay = d.weight_decay;
}

/* Quotes a string the reader would otherwise trim or cut at a comment. */
static int needs_quotes(const char *s)
{
    size_t len = strlen(s);
    if (!len)
        return 0;
    if (isspace((unsigned char)s[0]) || isspace((unsigned char)s[len - 1]) || s[0] == '"' || s[0] == ';')
        return 1;
    for (size_t i = 1; i < len; i++)
        if (s[i] == ';' && isspace((unsigned char)s[i - 1]))
            return 1;
    return 0;
}

void dpt_config_write(FILE *f, const dpt_config *c)
{
    char text[RAW_MAX];
    fprintf(f, "# dptrain experiment, every key resolved\n");
    for (int i = 0; i < NKEYS; i++) {
        const keydef *k = &keys[i];
        if (i == 0 || strcmp(k->sec, keys[i - 1].sec) != 0)
            fprintf(f, "\n[%s]\n", k->sec);
        format_value(text, sizeof text, c, k);
        fprintf(f, "# %s\n", k->doc);
        if (!text[0])
            fprintf(f, "%s =\n", k->key);
        else if (k->type == K_STR && needs_quotes(text))
            fprintf(f, "%s = \"%s\"\n", k->key, text);
        else
            fprintf(f, "%s = %s\n", k->key, text);
    }
}

void dpt_config_doc(FILE *f)
{
    char want[256];
    fprintf(f, "| key | default | meaning |\n|---|---|---|\n");
    for (int i = 0; i < NKEYS; i++) {
        const keydef *k = &keys[i];
        expect_text(want, sizeof want, k);
        fprintf(f, "| `%s.%s` | %s%s%s | %s (%s) |\n", k->sec, k->key, k->def[0] ? "`" : "",
                k->def[0] ? k->def : "(empty)", k->def[0] ? "`" : "", k->doc, want + strlen("expected "));
    }
}

static const char default_experiment[] =
    "# The classic linear regression: y = 2x + 0.5 noise, fit by one dense unit with Adam.\n"
    "[data]\n"
    "synthetic = linreg\n"
    "synthetic_samples = 100\n"
    "task = regress\n"
    "\n"
    "[model]\n"
    "layers = dense 1\n"
    "\n"
    "[loss]\n"
    "kind = mse\n"
    "\n"
    "[optimizer]\n"
    "kind = adam\n"
    "lr = 0.01\n"
    "\n"
    "[training]\n"
    "epochs = 1000\n"
    "batch = 0\n"
    "log_every = 100\n"
    "\n"
    "[run]\n"
    "name = linreg\n"
    "seed = 42\n";

const char *dpt_config_default_experiment(void)
{
    return default_experiment;
}

int dpt_config_nkeys(void)
{
    return NKEYS;
}

int dpt_config_key_info(int i, const char **section, const char **key, const char **def, const char **meaning)
{
    if (i < 0 || i >= NKEYS)
        return DPT_FAIL;
    if (section)
        *section = keys[i].sec;
    if (key)
        *key = keys[i].key;
    if (def)
        *def = keys[i].def;
    if (meaning)
        *meaning = keys[i].doc;
    return DPT_OK;
}
