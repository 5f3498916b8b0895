/* The experiment file. One table of keys (section, key, type, field, default
 * text, meaning) drives everything here: the defaults are the table's texts
 * fed through the same setter a file uses, the INI reader and --set look keys
 * up in it, the writer and the Markdown doc walk it, and error messages
 * suggest its nearest names. libinih splits the text into sections and pairs;
 * our own line reader feeds it, so we know each line's number and full text
 * (inih's stack buffer holds only 200 bytes, and paths or layer lists can be
 * longer: the handler therefore reads the value from the full line). Each key remembers the
 * line or --set that gave its value, so a check made later, even after the data is loaded, can
 * point at it (dpt_config_where). */
#include "dptrain/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

typedef enum { K_STR, K_PICK, K_ENUM, K_BOOL, K_INT, K_I64, K_U64, K_F64 } ktype;

enum {
    LO_OPEN = 1,   /* F64: lower bound excluded */
    HI_OPEN = 2,   /* F64: upper bound excluded */
    NOT_ONE = 4,   /* INT: 0 or >= 2 (k-fold) */
    NONEMPTY = 8,  /* STR: "" refused */
    NAMECHARS = 16, /* STR: [A-Za-z0-9._-] only, a directory name */
    AUTO = 32       /* F64: "auto" (stored as NaN) = torch's default for the optimizer kind;
                     * U64: "auto" (stored as DPT_SEED_AUTO) = run.seed */
};

/* A name a K_PICK (stored as text) or K_ENUM (stored as int) key accepts. */
typedef struct {
    const char *name;
    int value;
} pick;

typedef struct {
    const char *sec, *key;
    ktype type;
    size_t off, size;   /* the field in dpt_config */
    const pick *picks;  /* K_PICK, K_ENUM: NULL-terminated */
    double lo, hi;      /* numeric bounds */
    int flags;
    const char *def;    /* default, as the file would spell it */
    const char *doc;
} keydef;

static const pick p_format[] = {{"auto", 0}, {"idx", 0}, {"npy", 0}, {"csv", 0}, {"libsvm", 0}, {NULL, 0}};
static const pick p_header[] = {{"auto", -1}, {"true", 1}, {"false", 0}, {NULL, 0}};
static const pick p_task[] = {{"classify", DPT_TASK_CLASSIFY}, {"regress", DPT_TASK_REGRESS}, {NULL, 0}};
static const pick p_synth[] = {{"none", 0}, {"linreg", 0}, {NULL, 0}};
static const pick p_init[] = {{"auto", 0}, {"xavier", 0}, {"he", 0}, {NULL, 0}};
static const pick p_loss[] = {{"mse", 0}, {"cross_entropy", 0}, {NULL, 0}};
static const pick p_optim[] = {{"gd", DPT_OPT_GD}, {"sgd", DPT_OPT_SGD}, {"adagrad", DPT_OPT_ADAGRAD},
                               {"rmsprop", DPT_OPT_RMSPROP}, {"adam", DPT_OPT_ADAM},
                               {"adamw", DPT_OPT_ADAMW}, {NULL, 0}};
static const pick p_sched[] = {{"constant", DPT_SCHED_CONSTANT}, {"step", DPT_SCHED_STEP},
                               {"exponential", DPT_SCHED_EXP}, {"cosine", DPT_SCHED_COSINE}, {NULL, 0}};
static const pick p_nonfinite[] = {{"stop", 0}, {"skip", 0}, {NULL, 0}};
static const pick p_metric[] = {{"val_loss", 0}, {"val_accuracy", 0}, {NULL, 0}};

#define FLD(m) offsetof(dpt_config, m), sizeof(((dpt_config *)0)->m)
#define STR(s, k, m, fl, def, doc) {s, k, K_STR, FLD(m), NULL, 0, 0, fl, def, doc}
#define PICK(s, k, m, p, def, doc) {s, k, K_PICK, FLD(m), p, 0, 0, 0, def, doc}
#define ENUM(s, k, m, p, def, doc) {s, k, K_ENUM, FLD(m), p, 0, 0, 0, def, doc}
#define BOOL(s, k, m, def, doc) {s, k, K_BOOL, FLD(m), NULL, 0, 0, 0, def, doc}
#define INT(s, k, m, lo, fl, def, doc) {s, k, K_INT, FLD(m), NULL, lo, HUGE_VAL, fl, def, doc}
#define I64(s, k, m, lo, def, doc) {s, k, K_I64, FLD(m), NULL, lo, HUGE_VAL, 0, def, doc}
#define U64(s, k, m, def, doc) {s, k, K_U64, FLD(m), NULL, 0, HUGE_VAL, 0, def, doc}
#define F64(s, k, m, lo, hi, fl, def, doc) {s, k, K_F64, FLD(m), NULL, lo, hi, fl, def, doc}

static const char *const sections[] = {"data", "model", "loss", "optimizer", "schedule",
                                       "regularization", "training", "early_stopping",
                                       "checkpoint", "run"};
#define NSECTIONS ((int)(sizeof sections / sizeof sections[0]))

/* Every key, grouped by section in the order of `sections`. */
static const keydef keys[] = {
    PICK("data", "format", data.format, p_format, "auto", "input format; auto picks it by file extension"),
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
    PICK("data", "synthetic", data.synthetic, p_synth, "none", "generated data instead of files; linreg: y = 2x + 0.5 noise"),
    I64("data", "synthetic_samples", data.synthetic_samples, 1, "100", "samples in the synthetic dataset"),

    STR("model", "layers", model.layers, NONEMPTY, "dense 1", "layer stack, comma separated, e.g. dense 512, relu, dense 10"),
    PICK("model", "init", model.init, p_init, "auto", "weight initialization; auto picks by the following activation"),

    PICK("loss", "kind", loss.kind, p_loss, "mse", "loss function; cross_entropy takes class labels"),

    ENUM("optimizer", "kind", optim.kind, p_optim, "adam", "optimizer, with torch.optim's update rules"),
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

    ENUM("schedule", "kind", sched.kind, p_sched, "constant", "learning-rate schedule"),
    I64("schedule", "step_size", sched.step_size, 1, "1000", "step: decay every this many steps"),
    F64("schedule", "gamma", sched.gamma, 0, HUGE_VAL, LO_OPEN, "0.1", "step, exponential: decay factor"),
    F64("schedule", "min_lr", sched.min_lr, 0, HUGE_VAL, 0, "0", "cosine: learning rate at the last step"),
    I64("schedule", "warmup", sched.warmup, 0, "0", "linear warmup steps before the schedule; 0 = none"),
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
    I64("training", "log_every", train.log_every, 1, "1", "epochs between progress lines"),
    PICK("training", "nonfinite", train.nonfinite, p_nonfinite, "stop", "on a NaN or infinite loss or gradient: stop the run or skip the step"),
    I64("training", "max_skipped", train.max_skipped, 0, "10", "nonfinite = skip: stop the run after this many consecutive skipped steps; 0 = no limit"),
    F64("training", "timeout", train.timeout, 0, HUGE_VAL, 0, "600", "seconds a step, evaluation or collective may take before the job is ended (a rank stopped or cut off); 0 = no watchdog"),
    BOOL("training", "deterministic", train.deterministic, "false", "bitwise-identical results for any number of ranks"),
    INT("training", "blocks", train.blocks, 1, 0, "8", "deterministic mode: blocks per global batch, a power of two; up to this many ranks (more blocks cost speed)"),
    F64("training", "bucket_mb", train.bucket_mb, 0, HUGE_VAL, AUTO, "auto", "gradient allreduce bucket in MiB; 0 = one blocking call after backward; auto = 0 on one node, 4 across nodes"),
    INT("training", "threads", train.threads, 0, 0, "0", "BLAS threads per rank, which also share the update of models of 1M parameters or more; 0 = cores / ranks on the node"),
    STR("training", "trace", train.trace, 0, "", "write a timeline of every rank (Chrome trace JSON: Perfetto, chrome://tracing) to this file; relative to the run directory; empty = none"),
    STR("training", "trace_steps", train.trace_steps, 0, "10-12", "the steps the trace records, A-B (1-based, inclusive) or A"),
    INT("training", "update_threads", train.update_threads, 0, 0, "0", "threads per rank sharing the averaging and the update of models of 1M parameters or more (no bit depends on it); 0 = training.threads"),
    BOOL("training", "shard_optimizer", train.shard_optimizer, "true", "each rank updates one shard of the parameters (when bucket_mb is 0); shards meet in node-shared memory or through reduce-scatter and all-gather"),
    BOOL("training", "flush_denormals", train.flush_denormals, "true", "treat subnormal floats as zero (x86 FTZ/DAZ, as TensorFlow does): Adam's moments of weights whose gradient stays zero decay into subnormals that slow the optimizer step up to 30x"),
    BOOL("training", "shared_memory", train.shared_memory, "true", "sharded optimizer, every rank on one node: shards meet in node-shared memory instead of MPI's reduce-scatter and all-gather"),

    PICK("early_stopping", "metric", early.metric, p_metric, "val_loss", "validation metric watched"),
    I64("early_stopping", "patience", early.patience, 0, "0", "validations without improvement before stopping; 0 = off"),
    F64("early_stopping", "min_delta", early.min_delta, 0, HUGE_VAL, 0, "0", "smallest change that counts as an improvement"),

    I64("checkpoint", "every_steps", ckpt.every_steps, 0, "0", "save every this many steps; 0 = off"),
    I64("checkpoint", "every_epochs", ckpt.every_epochs, 0, "0", "save every this many epochs; 0 = off"),
    I64("checkpoint", "keep_last", ckpt.keep_last, 1, "3", "periodic checkpoints kept"),
    BOOL("checkpoint", "keep_best", ckpt.keep_best, "true", "also keep the checkpoint with the best validation metric"),

    U64("run", "seed", run.seed, "42", "seed of every random stream (init, shuffle, split, synthetic data)"),
    {"run", "init_seed", K_U64, FLD(run.init_seed), NULL, 0, HUGE_VAL, AUTO, "auto", "seed of the initial parameters; auto = run.seed"},
    {"run", "data_seed", K_U64, FLD(run.data_seed), NULL, 0, HUGE_VAL, AUTO, "auto", "seed of the data: validation split or folds, sample order, synthetic data; auto = run.seed"},
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

enum { RAW_MAX = 4096, VALUE_SHOWN = 80 };

/* ---- names ------------------------------------------------------------ */

static int is_section(const char *s)
{
    for (int i = 0; i < NSECTIONS; i++)
        if (strcmp(s, sections[i]) == 0)
            return 1;
    return 0;
}

static int find_key(const char *sec, const char *key)
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
    return find_key(sec, dot + 1);
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
static int nearest_key(const char *sec, const char *key)
{
    int best = -1, bestd = INT_MAX, bestsame = 0;
    for (int i = 0; i < NKEYS + NALIASES; i++) {
        int k = i < NKEYS ? i : find_key(aliases[i - NKEYS].sec, aliases[i - NKEYS].key);
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

static void unknown_section_msg(char *out, size_t n, const char *sec)
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

static void unknown_key_msg(char *out, size_t n, const char *sec, const char *key)
{
    int k = nearest_key(sec, key);
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
static void sectionless_msg(char *out, size_t n, const char *key)
{
    int k = nearest_key("", key);
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
    case K_PICK:
    case K_ENUM: {
        int len = snprintf(out, n, "expected one of");
        for (int i = 0; k->picks[i].name && len > 0 && (size_t)len < n; i++)
            len += snprintf(out + len, n - (size_t)len, "%s %s", i ? "," : "", k->picks[i].name);
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

static const pick *find_pick(const pick *p, const char *name)
{
    for (; p->name; p++)
        if (same_ci(p->name, name))
            return p;
    return NULL;
}

/* Sets key k of c from text v; on a bad value leaves c untouched and says why in out[n]. */
static int set_value(dpt_config *c, const keydef *k, const char *v, char *why, size_t n)
{
    char *dst = (char *)c + k->off;
    size_t want = k->type == K_I64 ? sizeof(int64_t) : k->type == K_U64 ? sizeof(uint64_t)
                : k->type == K_F64 ? sizeof(double) : sizeof(int);
    if (k->type != K_STR && k->type != K_PICK && k->size != want) {
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
    case K_PICK:
    case K_ENUM: {
        const pick *p = find_pick(k->picks, v);
        if (!p || (k->type == K_PICK && strlen(p->name) >= k->size)) {
            expect_text(why, n, k);
            return -1;
        }
        if (k->type == K_ENUM) {
            memcpy(dst, &p->value, sizeof p->value);
        } else {
            memset(dst, 0, k->size);
            memcpy(dst, p->name, strlen(p->name));
        }
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
    case K_STR:
    case K_PICK: {
        size_t len = strnlen(src, k->size);
        if (len >= n)
            len = n - 1;
        memcpy(out, src, len);
        out[len] = '\0';
        return;
    }
    case K_ENUM:
        memcpy(&iv, src, sizeof iv);
        for (const pick *p = k->picks; p->name; p++)
            if (p->value == iv) {
                snprintf(out, n, "%s", p->name);
                return;
            }
        snprintf(out, n, "%d", iv);
        return;
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

/* ---- the INI reader ------------------------------------------------------ */

typedef struct {
    dpt_config *c;      /* a copy, committed only when the whole text is good */
    FILE *f;            /* the source: a file ... */
    const char *s;      /* ... or text (next unread character) */
    int read_errno;     /* errno of a failed read, 0 if none */
    int line;           /* number of the line in raw */
    char raw[RAW_MAX];  /* that line, without its end of line */
    int seen[NKEYS];    /* line that set each key, 0 = not yet */
    int err_line;       /* first error, 0 = none */
    char msg[400];
} reader_ctx;

static int fail(reader_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the first error only (the earliest line); returns 0 for inih. */
static int fail(reader_ctx *x, const char *fmt, ...)
{
    if (!x->err_line) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(x->msg, sizeof x->msg, fmt, ap);
        va_end(ap);
        x->err_line = x->line;
    }
    return 0;
}

/* The line as inih sees it: without a leading UTF-8 byte order mark and whitespace. */
static const char *line_start(const reader_ctx *x)
{
    const char *p = x->raw;
    if (x->line == 1 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

/* Like inih: the first of chars, or an inline comment (';' after whitespace), or the end. */
static const char *find_chars_or_comment(const char *s, const char *chars)
{
    int was_space = 0;
    while (*s && !(chars && strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = isspace((unsigned char)*s);
        s++;
    }
    return s;
}

/* A [section] line is checked here, so an empty unknown section is reported too, at its line. */
static void check_section_line(reader_ctx *x)
{
    const char *p = line_start(x);
    if (*p != '[')
        return;
    const char *q = find_chars_or_comment(p + 1, "]");
    if (*q != ']') {
        fail(x, "section header without a closing ']'");
        return;
    }
    char name[128];
    size_t len = (size_t)(q - p - 1) < sizeof name - 1 ? (size_t)(q - p - 1) : sizeof name - 1;
    memcpy(name, p + 1, len);
    name[len] = '\0';
    if (!is_section(name)) {
        char m[sizeof x->msg];
        unknown_section_msg(m, sizeof m, name);
        fail(x, "%s", m);
    }
}

/* inih's reader: one whole line per call, so inih's line count is ours. inih gets at
 * most num - 2 characters of it; the handler takes the value from raw. */
static char *read_line(char *buf, int num, void *stream)
{
    reader_ctx *x = stream;
    size_t len = 0;
    int got = 0, nul = 0, too_long = 0, ch;
    for (;;) {
        if (x->f) {
            ch = getc(x->f);
            if (ch == EOF) {
                if (ferror(x->f))
                    x->read_errno = errno ? errno : EIO;
                break;
            }
        } else {
            if (!*x->s)
                break;
            ch = (unsigned char)*x->s++;
        }
        got = 1;
        if (ch == '\n')
            break;
        if (ch == '\0')
            nul = 1;
        if (len < RAW_MAX - 1)
            x->raw[len++] = (char)ch;
        else
            too_long = 1;
    }
    if (!got || x->read_errno || num < 3)
        return NULL;
    if (len && x->raw[len - 1] == '\r')
        len--;
    x->raw[len] = '\0';
    x->line++;
    if (too_long) {
        fail(x, "line longer than %d characters", RAW_MAX - 2);
        return NULL;
    }
    if (nul) {
        fail(x, "NUL byte in line");
        return NULL;
    }
    check_section_line(x);
    size_t m = len < (size_t)num - 2 ? len : (size_t)num - 2;
    memcpy(buf, x->raw, m);
    buf[m] = '\n';
    buf[m + 1] = '\0';
    return buf;
}

/* The value of the pair on a line, from after its '=' or ':': inih's rules (an inline
 * comment is ';' after whitespace), plus "double quotes" to keep spaces or " ;". */
static int extract_value(char *out, size_t n, const char *after)
{
    const char *v = after;
    while (isspace((unsigned char)*v))
        v++;
    if (*v == '"') {
        for (const char *q = v + 1; *q; q++) {
            if (*q != '"')
                continue;
            const char *r = q + 1;
            while (isspace((unsigned char)*r))
                r++;
            if (*r == '\0' || (*r == ';' && r > q + 1)) {
                size_t len = (size_t)(q - v - 1);
                if (len >= n)
                    len = n - 1;
                memcpy(out, v + 1, len);
                out[len] = '\0';
                return 0;
            }
        }
        return -1;
    }
    const char *end = find_chars_or_comment(after, NULL);
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    size_t len = end > v ? (size_t)(end - v) : 0;
    if (len >= n)
        len = n - 1;
    memcpy(out, v, len);
    out[len] = '\0';
    return 0;
}

static int on_pair(void *user, const char *sec, const char *name, const char *inih_value)
{
    reader_ctx *x = user;
    char val[RAW_MAX], why[256], m[sizeof x->msg];
    (void)inih_value; /* truncated for long lines; raw has it all */

    /* inih reads an indented line after a pair as more of that pair's value */
    const char *p = line_start(x), *q = p + strlen(name);
    int named = strncmp(p, name, strlen(name)) == 0;
    while (named && (*q == ' ' || *q == '\t'))
        q++;
    if (!named || (*q != '=' && *q != ':'))
        return fail(x, "indented line reads as more of %s%s%s; a value must fit on one line (remove the indentation)",
                    sec, *sec ? "." : "", name);
    if (!*name)
        return fail(x, "no key name before '%c'", *q);
    if (extract_value(val, sizeof val, q + 1))
        return fail(x, "%s.%s: value starts with '\"' but has no closing '\"'", sec, name);
    if (!*sec) {
        sectionless_msg(m, sizeof m, name);
        return fail(x, "%s", m);
    }
    if (!is_section(sec)) {
        unknown_section_msg(m, sizeof m, sec);
        return fail(x, "%s", m);
    }
    int i = find_key(sec, name);
    if (i < 0) {
        unknown_key_msg(m, sizeof m, sec, name);
        return fail(x, "%s", m);
    }
    if (x->seen[i])
        return fail(x, "duplicate key %s.%s (first set on line %d)", sec, name, x->seen[i]);
    x->seen[i] = x->line;
    if (set_value(x->c, &keys[i], val, why, sizeof why))
        return fail(x, "%s.%s = '%.*s%s': %s", sec, name, VALUE_SHOWN, val,
                    strlen(val) > VALUE_SHOWN ? "..." : "", why);
    x->c->origin.line[i] = x->line;
    return 1;
}

static int load(dpt_config *c, reader_ctx *x, const char *origin, dpt_err *e)
{
    dpt_config tmp = *c;
    x->c = &tmp;
    int r = ini_parse_stream(read_line, x, on_pair, x);
    if (x->read_errno)
        return dpt_errf(e, "%s: cannot read: %s", origin, strerror(x->read_errno));
    if (r > 0 && (!x->err_line || r < x->err_line))
        return dpt_errf(e, "%s:%d: expected [section], key = value or a comment", origin, r);
    if (x->err_line)
        return dpt_errf(e, "%s:%d: %s", origin, x->err_line, x->msg);
    if (r < 0)
        return dpt_errf(e, "%s: the INI parser failed (%d)", origin, r);
    /* origin names one file: keys set by an earlier one keep only that they were set */
    for (int i = 0; i < NKEYS && strcmp(tmp.origin.file, origin) != 0; i++)
        if (tmp.origin.line[i] > 0 && !x->seen[i])
            tmp.origin.line[i] = DPT_FROM_EARLIER_FILE;
    snprintf(tmp.origin.file, sizeof tmp.origin.file, "%s", origin);
    *c = tmp;
    return DPT_OK;
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

/* What a path that is not a regular file is, for the refusal. */
static const char *not_regular(mode_t m)
{
    return S_ISREG(m) ? NULL : S_ISDIR(m) ? "a directory" : S_ISFIFO(m) ? "a FIFO"
         : S_ISCHR(m) || S_ISBLK(m) ? "a device" : "a socket";
}

int dpt_config_load_file(dpt_config *c, const char *path, dpt_err *e)
{
    static reader_ctx zero;
    /* Non-blocking: opening a FIFO for reading would wait for a writer. Then fstat before any
     * read: /dev/zero never ends, and a directory reads as an error only on some systems. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return dpt_errf(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    FILE *f = NULL;
    if (fstat(fd, &st) == 0 && not_regular(st.st_mode)) {
        close(fd);
        return dpt_errf(e, "%s: is %s, not an experiment file", path, not_regular(st.st_mode));
    }
    if (fcntl(fd, F_SETFL, 0) != 0 || !(f = fdopen(fd, "r"))) {
        int err = errno;
        close(fd);
        return dpt_errf(e, "%s: cannot open: %s", path, strerror(err));
    }
    reader_ctx x = zero;
    x.f = f;
    int rc = load(c, &x, path, e);
    fclose(f);
    return rc;
}

int dpt_config_load_string(dpt_config *c, const char *text, const char *origin, dpt_err *e)
{
    static reader_ctx zero;
    reader_ctx x = zero;
    x.s = text ? text : "";
    return load(c, &x, origin ? origin : "<string>", e);
}

int dpt_config_set(dpt_config *c, const char *a, dpt_err *e)
{
    char name[128], sec[128], why[256], m[400];
    const char *eq = a ? strchr(a, '=') : NULL;
    if (!eq)
        return dpt_errf(e, "--set %.200s: expected section.key=value", a ? a : "(null)");

    const char *b = a, *t = eq;
    while (b < t && isspace((unsigned char)*b))
        b++;
    while (t > b && isspace((unsigned char)t[-1]))
        t--;
    size_t len = (size_t)(t - b) < sizeof name - 1 ? (size_t)(t - b) : sizeof name - 1;
    memcpy(name, b, len);
    name[len] = '\0';
    const char *v = eq + 1;
    while (isspace((unsigned char)*v))
        v++;
    char val[RAW_MAX];
    size_t vl = strlen(v);
    while (vl && isspace((unsigned char)v[vl - 1]))
        vl--;
    if (vl >= sizeof val)
        vl = sizeof val - 1;
    memcpy(val, v, vl);
    val[vl] = '\0';

    char *dot = strchr(name, '.');
    if (!dot) {
        int k = nearest_key("", name);
        if (k >= 0)
            return dpt_errf(e, "--set %.200s: expected section.key=value; did you mean %s.%s=%.100s?", a,
                            keys[k].sec, keys[k].key, val);
        return dpt_errf(e, "--set %.200s: expected section.key=value", a);
    }
    memcpy(sec, name, (size_t)(dot - name));
    sec[dot - name] = '\0';
    const char *key = dot + 1;
    if (!is_section(sec)) {
        unknown_section_msg(m, sizeof m, sec);
        return dpt_errf(e, "--set %.200s: %s", a, m);
    }
    int i = find_key(sec, key);
    if (i < 0) {
        unknown_key_msg(m, sizeof m, sec, key);
        return dpt_errf(e, "--set %.200s: %s", a, m);
    }
    if (set_value(c, &keys[i], val, why, sizeof why))
        return dpt_errf(e, "--set %.200s: %s", a, why);
    c->origin.line[i] = DPT_FROM_SET;
    return DPT_OK;
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

int dpt_config_validate(const dpt_config *c, dpt_err *e)
{
    char text[RAW_MAX], why[256];
    static dpt_config scratch_zero;
    dpt_config scratch = scratch_zero;
    for (int i = 0; i < NKEYS; i++) {
        format_value(text, sizeof text, c, &keys[i]);
        if (set_value(&scratch, &keys[i], text, why, sizeof why))
            return dpt_errf(e, "%s.%s = '%.*s%s': %s", keys[i].sec, keys[i].key, VALUE_SHOWN, text,
                            strlen(text) > VALUE_SHOWN ? "..." : "", why);
    }
    int synthetic = strcmp(c->data.synthetic, "none") != 0;
    int regress = c->data.task == DPT_TASK_REGRESS;
    if (!synthetic && !c->data.train[0])
        return dpt_errf(e, "data.train: no training data (set data.train or data.synthetic)");
    if (synthetic && c->data.train[0])
        return dpt_errf(e, "data.synthetic: %s and data.train = '%.100s' both give training data; keep one",
                        c->data.synthetic, c->data.train);
    if (synthetic && !regress)
        return dpt_errf(e, "data.synthetic: %s is a regression set; set data.task = regress", c->data.synthetic);
    int inline_targets = strcmp(c->data.format, "csv") == 0 || strcmp(c->data.format, "libsvm") == 0;
    if (inline_targets && c->data.train_targets[0])
        return dpt_errf(e, "data.train_targets: format %s keeps the targets in data.train; remove data.train_targets",
                        c->data.format);
    if (inline_targets && c->data.test_targets[0])
        return dpt_errf(e, "data.test_targets: format %s keeps the targets in data.test; remove data.test_targets",
                        c->data.format);
    if (c->data.test_targets[0] && !c->data.test[0])
        return dpt_errf(e, "data.test_targets: set without data.test");
    if (c->data.val_fraction > 0 && c->data.kfold)
        return dpt_errf(e, "data.kfold: cannot be combined with data.val_fraction; choose one");
    if (c->early.patience > 0 && c->data.val_fraction == 0 && !c->data.kfold)
        return dpt_errf(e, "early_stopping.patience: needs a validation set (set data.val_fraction or data.kfold)");
    if (regress && strcmp(c->early.metric, "val_accuracy") == 0)
        return dpt_errf(e, "early_stopping.metric: val_accuracy needs data.task = classify");
    if (regress && strcmp(c->loss.kind, "cross_entropy") == 0)
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
    return check_cosine(c, e);
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
    {"schedule.min_lr", "schedule.kind", "cosine"},
    {"schedule.reference_batch", "schedule.scale_lr", "true"},
    {"data.label", "data.format", "csv"},
    {"data.header", "data.format", "csv"},
    {"data.features", "data.format", "libsvm"},
    {"data.classes", "data.task", "classify"},
    {"data.synthetic_samples", "data.synthetic", "linreg"},
    {"training.blocks", "training.deterministic", "true"},
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
    static dpt_config zero;
    dpt_config d = zero;
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
        if (strcmp(applies[r].setting, "data.format") == 0 && strcmp(value, "auto") == 0) {
            const char *by_name = dpt_data_format_of(c->data.train);
            if (!by_name)
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
