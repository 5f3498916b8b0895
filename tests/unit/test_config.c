/* Unit tests of the experiment file: every key lands in its own field, the
 * defaults are the documented ones, write -> load is byte-exact, and each
 * error names the file, line, key and a useful suggestion. Expected values
 * here are written from the documented key list, not read from config.c. */
#include "dptrain/config.h"

#include "support.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[64]; /* mkdtemp fixture directory */

/* Writes text to g_dir/name and returns the path (static buffer). */
static const char *fixture(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void assert_has(const char *msg, const char *frag)
{
    ck_assert_msg(strstr(msg, frag) != NULL, "message \"%s\" lacks \"%s\"", msg, frag);
}

/* ---- one non-default value per key, and where it must land --------------- */

#define AT(m) offsetof(dpt_config, m), sizeof(((dpt_config *)0)->m)
/* The bytes of the values: all but the record of where each came from, which trails them. */
#define VALUES offsetof(dpt_config, origin)
typedef struct {
    const char *sec, *key, *value;
    size_t off, size;
} row;

static const row rows[] = {
    {"data", "format", "csv", AT(data.format)},
    {"data", "train", "/d/train.csv", AT(data.train)},
    {"data", "train_targets", "/d/ty.idx", AT(data.train_targets)},
    {"data", "test", "/d/test.csv", AT(data.test)},
    {"data", "test_targets", "/d/tt.idx", AT(data.test_targets)},
    {"data", "label", "price", AT(data.label)},
    {"data", "header", "true", AT(data.header)},
    {"data", "task", "regress", AT(data.task)},
    {"data", "classes", "7", AT(data.classes)},
    {"data", "features", "123", AT(data.features)},
    {"data", "standardize", "yes", AT(data.standardize)},
    {"data", "val_fraction", "0.25", AT(data.val_fraction)},
    {"data", "kfold", "5", AT(data.kfold)},
    {"data", "allow_changed", "true", AT(data.allow_changed)},
    {"data", "shuffle", "off", AT(data.shuffle)},
    {"data", "drop_last", "1", AT(data.drop_last)},
    {"data", "synthetic", "linreg", AT(data.synthetic)},
    {"data", "synthetic_samples", "500", AT(data.synthetic_samples)},
    {"model", "layers", "dense 64, relu, dense 3", AT(model.layers)},
    {"model", "init", "he", AT(model.init)},
    {"model", "conv_algorithm", "winograd", AT(model.conv_algorithm)},
    {"model", "input_shape", "1,28,28", AT(model.input_shape)},
    {"loss", "kind", "cross_entropy", AT(loss.kind)},
    {"optimizer", "kind", "sgd", AT(optim.kind)},
    {"optimizer", "lr", "0.125", AT(optim.lr)},
    {"optimizer", "weight_decay", "0.0625", AT(optim.weight_decay)},
    {"optimizer", "momentum", "0.5", AT(optim.momentum)},
    {"optimizer", "dampening", "0.25", AT(optim.dampening)},
    {"optimizer", "nesterov", "true", AT(optim.nesterov)},
    {"optimizer", "alpha", "0.75", AT(optim.alpha)},
    {"optimizer", "centered", "on", AT(optim.centered)},
    {"optimizer", "lr_decay", "0.03125", AT(optim.lr_decay)},
    {"optimizer", "initial_accumulator_value", "0.375", AT(optim.initial_accumulator_value)},
    {"optimizer", "beta1", "0.8125", AT(optim.beta1)},
    {"optimizer", "beta2", "0.96875", AT(optim.beta2)},
    {"optimizer", "eps", "1e-6", AT(optim.eps)},
    {"optimizer", "amsgrad", "TRUE", AT(optim.amsgrad)},
    {"optimizer", "clip_norm", "2.5", AT(clip_norm)},
    {"schedule", "kind", "cosine", AT(sched.kind)},
    {"schedule", "step_size", "77", AT(sched.step_size)},
    {"schedule", "gamma", "0.5", AT(sched.gamma)},
    {"schedule", "min_lr", "1e-5", AT(sched.min_lr)},
    {"schedule", "warmup", "33", AT(sched.warmup)},
    {"schedule", "factor", "0.25", AT(sched.factor)},
    {"schedule", "patience", "7", AT(sched.patience)},
    {"schedule", "threshold", "0.125", AT(sched.threshold)},
    {"schedule", "cooldown", "2", AT(sched.cooldown)},
    {"schedule", "scale_lr", "true", AT(scale_lr)},
    {"schedule", "reference_batch", "512", AT(reference_batch)},
    {"regularization", "l1", "0.001953125", AT(reg.l1)},
    {"regularization", "l2", "0.0078125", AT(reg.l2)},
    {"regularization", "penalize_bias", "true", AT(penalize_bias)},
    {"training", "epochs", "1234", AT(train.epochs)},
    {"training", "steps", "5678", AT(train.steps)},
    {"training", "batch", "96", AT(train.batch)},
    {"training", "accumulation", "4", AT(train.accumulation)},
    {"training", "eval_every", "50", AT(train.eval_every)},
    {"training", "test_every_epochs", "3", AT(train.test_every_epochs)},
    {"training", "log_every", "7", AT(train.log_every)},
    {"training", "nonfinite", "skip", AT(train.nonfinite)},
    {"training", "max_skipped", "3", AT(train.max_skipped)},
    {"training", "timeout", "45.5", AT(train.timeout)},
    {"training", "deterministic", "true", AT(train.deterministic)},
    {"training", "blocks", "32", AT(train.blocks)},
    {"training", "bucket_mb", "0.5", AT(train.bucket_mb)},
    {"training", "threads", "3", AT(train.threads)},
    {"training", "update_threads", "2", AT(train.update_threads)},
    {"training", "sample_threads", "4", AT(train.sample_threads)},
    {"training", "trace", "t.json", AT(train.trace)},
    {"training", "trace_steps", "3-4", AT(train.trace_steps)},
    {"training", "shard_optimizer", "false", AT(train.shard_optimizer)},
    {"training", "flush_denormals", "false", AT(train.flush_denormals)},
    {"training", "shared_memory", "false", AT(train.shared_memory)},
    {"training", "comm_dtype", "bf16", AT(train.comm_dtype)},
    {"early_stopping", "metric", "val_accuracy", AT(early.metric)},
    {"early_stopping", "patience", "9", AT(early.patience)},
    {"early_stopping", "min_delta", "0.015625", AT(early.min_delta)},
    {"early_stopping", "tol", "0.125", AT(early.tol)},
    {"early_stopping", "n_iter_no_change", "3", AT(early.n_iter_no_change)},
    {"checkpoint", "every_steps", "100", AT(ckpt.every_steps)},
    {"checkpoint", "every_epochs", "2", AT(ckpt.every_epochs)},
    {"checkpoint", "keep_last", "5", AT(ckpt.keep_last)},
    {"checkpoint", "keep_best", "no", AT(ckpt.keep_best)},
    {"run", "seed", "18446744073709551615", AT(run.seed)},
    {"run", "init_seed", "7", AT(run.init_seed)},
    {"run", "data_seed", "0", AT(run.data_seed)},
    {"run", "name", "exp-1.b_c", AT(run.name)},
    {"run", "dir", "/tmp/out runs", AT(run.dir)},
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

/* The whole of rows as one INI text, sections in table order. */
static void rows_ini(char *buf, size_t n)
{
    size_t len = 0;
    for (int i = 0; i < NROWS; i++) {
        if (i == 0 || strcmp(rows[i].sec, rows[i - 1].sec) != 0)
            len += (size_t)snprintf(buf + len, n - len, "\n[%s]\n; a comment\n", rows[i].sec);
        len += (size_t)snprintf(buf + len, n - len, "%s = %s\n", rows[i].key, rows[i].value);
        ck_assert_uint_lt(len, n);
    }
}

static void check_all_rows(const dpt_config *c)
{
    ck_assert_int_eq(c->data.format, DPT_FORMAT_CSV);
    ck_assert_str_eq(c->data.train, "/d/train.csv");
    ck_assert_str_eq(c->data.train_targets, "/d/ty.idx");
    ck_assert_str_eq(c->data.test, "/d/test.csv");
    ck_assert_str_eq(c->data.test_targets, "/d/tt.idx");
    ck_assert_str_eq(c->data.label, "price");
    ck_assert_int_eq(c->data.header, 1);
    ck_assert_int_eq(c->data.task, DPT_TASK_REGRESS);
    ck_assert_int_eq(c->data.classes, 7);
    ck_assert_int_eq(c->data.features, 123);
    ck_assert_int_eq(c->data.standardize, 1);
    ck_assert_double_eq(c->data.val_fraction, 0.25);
    ck_assert_int_eq(c->data.kfold, 5);
    ck_assert_int_eq(c->data.allow_changed, 1);
    ck_assert_int_eq(c->data.shuffle, 0);
    ck_assert_int_eq(c->data.drop_last, 1);
    ck_assert_int_eq(c->data.synthetic, DPT_SYNTH_LINREG);
    ck_assert_int_eq(c->data.synthetic_samples, 500);
    ck_assert_str_eq(c->model.layers, "dense 64, relu, dense 3");
    ck_assert_int_eq(c->model.init, DPT_SCHEME_HE);
    ck_assert_int_eq(c->model.conv_algorithm, DPT_CONV_WINOGRAD);
    ck_assert_int_eq(c->loss.kind, DPT_LOSS_XENT);
    ck_assert_str_eq(c->model.input_shape, "1,28,28");
    ck_assert_int_eq(c->optim.kind, DPT_OPT_SGD);
    ck_assert_double_eq(c->optim.lr, 0.125);
    ck_assert_double_eq(c->optim.weight_decay, 0.0625);
    ck_assert_double_eq(c->optim.momentum, 0.5);
    ck_assert_double_eq(c->optim.dampening, 0.25);
    ck_assert_int_eq(c->optim.nesterov, 1);
    ck_assert_double_eq(c->optim.alpha, 0.75);
    ck_assert_int_eq(c->optim.centered, 1);
    ck_assert_double_eq(c->optim.lr_decay, 0.03125);
    ck_assert_double_eq(c->optim.initial_accumulator_value, 0.375);
    ck_assert_double_eq(c->optim.beta1, 0.8125);
    ck_assert_double_eq(c->optim.beta2, 0.96875);
    ck_assert_double_eq(c->optim.eps, 1e-6);
    ck_assert_int_eq(c->optim.amsgrad, 1);
    ck_assert_double_eq(c->clip_norm, 2.5);
    ck_assert_int_eq(c->sched.kind, DPT_SCHED_COSINE);
    ck_assert_int_eq(c->sched.step_size, 77);
    ck_assert_double_eq(c->sched.gamma, 0.5);
    ck_assert_double_eq(c->sched.min_lr, 1e-5);
    ck_assert_int_eq(c->sched.warmup, 33);
    ck_assert_double_eq(c->sched.factor, 0.25);
    ck_assert_int_eq(c->sched.patience, 7);
    ck_assert_double_eq(c->sched.threshold, 0.125);
    ck_assert_int_eq(c->sched.cooldown, 2);
    ck_assert_int_eq(c->scale_lr, 1);
    ck_assert_int_eq(c->reference_batch, 512);
    ck_assert_double_eq(c->reg.l1, 0.001953125);
    ck_assert_double_eq(c->reg.l2, 0.0078125);
    ck_assert_int_eq(c->penalize_bias, 1);
    ck_assert_int_eq(c->train.epochs, 1234);
    ck_assert_int_eq(c->train.steps, 5678);
    ck_assert_int_eq(c->train.batch, 96);
    ck_assert_int_eq(c->train.accumulation, 4);
    ck_assert_int_eq(c->train.eval_every, 50);
    ck_assert_int_eq(c->train.test_every_epochs, 3);
    ck_assert_int_eq(c->train.log_every, 7);
    ck_assert_int_eq(c->train.nonfinite, DPT_NONFINITE_SKIP);
    ck_assert_int_eq(c->train.max_skipped, 3);
    ck_assert_double_eq(c->train.timeout, 45.5);
    ck_assert_int_eq(c->train.deterministic, 1);
    ck_assert_int_eq(c->train.blocks, 32);
    ck_assert_double_eq(c->train.bucket_mb, 0.5);
    ck_assert_int_eq(c->train.threads, 3);
    ck_assert_int_eq(c->train.update_threads, 2);
    ck_assert_int_eq(c->train.sample_threads, 4);
    ck_assert_str_eq(c->train.trace, "t.json");
    ck_assert_str_eq(c->train.trace_steps, "3-4");
    ck_assert_int_eq(c->train.shard_optimizer, 0);
    ck_assert_int_eq(c->train.flush_denormals, 0);
    ck_assert_int_eq(c->train.shared_memory, 0);
    ck_assert_int_eq(c->train.comm_dtype, DPT_COMM_BF16);
    ck_assert_int_eq(c->early.metric, DPT_METRIC_VAL_ACCURACY);
    ck_assert_int_eq(c->early.patience, 9);
    ck_assert_double_eq(c->early.min_delta, 0.015625);
    ck_assert_int_eq(c->ckpt.every_steps, 100);
    ck_assert_int_eq(c->ckpt.every_epochs, 2);
    ck_assert_int_eq(c->ckpt.keep_last, 5);
    ck_assert_int_eq(c->ckpt.keep_best, 0);
    ck_assert(c->run.seed == UINT64_MAX);
    ck_assert(c->run.init_seed == 7 && c->run.data_seed == 0);
    ck_assert_str_eq(c->run.name, "exp-1.b_c");
    ck_assert_str_eq(c->run.dir, "/tmp/out runs");
}

START_TEST(t_defaults)
{
    dpt_config c;
    dpt_config_defaults(&c);
    ck_assert_int_eq(c.data.format, DPT_FORMAT_AUTO);
    ck_assert_str_eq(c.data.train, "");
    ck_assert_str_eq(c.data.train_targets, "");
    ck_assert_str_eq(c.data.test, "");
    ck_assert_str_eq(c.data.test_targets, "");
    ck_assert_str_eq(c.data.test, "");
    ck_assert_int_eq(c.data.header, -1);
    ck_assert_int_eq(c.data.task, DPT_TASK_CLASSIFY);
    ck_assert_int_eq(c.data.classes, 0);
    ck_assert_int_eq(c.data.features, 0);
    ck_assert_int_eq(c.data.standardize, 0);
    ck_assert_double_eq(c.data.val_fraction, 0);
    ck_assert_int_eq(c.data.kfold, 0);
    ck_assert_int_eq(c.data.allow_changed, 0);
    ck_assert_int_eq(c.data.shuffle, 1);
    ck_assert_int_eq(c.data.drop_last, 0);
    ck_assert_int_eq(c.data.synthetic, DPT_SYNTH_NONE);
    ck_assert_int_eq(c.data.synthetic_samples, 100);
    ck_assert_str_eq(c.model.layers, "dense 1");
    ck_assert_int_eq(c.model.init, DPT_SCHEME_AUTO);
    ck_assert_int_eq(c.model.conv_algorithm, DPT_CONV_AUTO);
    ck_assert_int_eq(c.loss.kind, DPT_LOSS_MSE);
    ck_assert_str_eq(c.model.input_shape, "");
    ck_assert_int_eq(c.optim.kind, DPT_OPT_ADAM);
    ck_assert(isnan(c.optim.lr) && isnan(c.optim.weight_decay) && isnan(c.optim.eps)); /* auto */
    ck_assert_double_eq(c.optim.momentum, 0);
    ck_assert_double_eq(c.optim.dampening, 0);
    ck_assert_int_eq(c.optim.nesterov, 0);
    ck_assert_double_eq(c.optim.alpha, 0.99);
    ck_assert_int_eq(c.optim.centered, 0);
    ck_assert_double_eq(c.optim.lr_decay, 0);
    ck_assert_double_eq(c.optim.initial_accumulator_value, 0);
    ck_assert_double_eq(c.optim.beta1, 0.9);
    ck_assert_double_eq(c.optim.beta2, 0.999);
    ck_assert_int_eq(c.optim.amsgrad, 0);
    ck_assert_double_eq(c.clip_norm, 0);
    ck_assert_int_eq(c.sched.kind, DPT_SCHED_CONSTANT);
    ck_assert_int_eq(c.sched.step_size, 1000);
    ck_assert_double_eq(c.sched.gamma, 0.1);
    ck_assert_double_eq(c.sched.min_lr, 0);
    ck_assert_int_eq(c.sched.warmup, 0);
    ck_assert_int_eq(c.scale_lr, 0);
    ck_assert_int_eq(c.reference_batch, 256);
    ck_assert_double_eq(c.reg.l1, 0);
    ck_assert_double_eq(c.reg.l2, 0);
    ck_assert_int_eq(c.penalize_bias, 0);
    ck_assert_int_eq(c.train.epochs, 10);
    ck_assert_int_eq(c.train.steps, 0);
    ck_assert_int_eq(c.train.batch, 0);
    ck_assert_int_eq(c.train.accumulation, 1);
    ck_assert_int_eq(c.train.eval_every, 0);
    ck_assert_int_eq(c.train.test_every_epochs, 0);
    ck_assert_int_eq(c.train.log_every, 1);
    ck_assert_int_eq(c.train.nonfinite, DPT_NONFINITE_STOP);
    ck_assert_int_eq(c.train.max_skipped, 10);
    ck_assert_double_eq(c.train.timeout, 600);
    ck_assert_int_eq(c.train.deterministic, 0);
    ck_assert_int_eq(c.train.blocks, 8);
    ck_assert(isnan(c.train.bucket_mb)); /* auto */
    ck_assert_int_eq(c.train.threads, 0);
    ck_assert_int_eq(c.train.update_threads, 0);
    ck_assert_int_eq(c.train.sample_threads, 0);
    ck_assert_str_eq(c.train.trace, "");
    ck_assert_str_eq(c.train.trace_steps, "10-12");
    ck_assert_int_eq(c.train.shard_optimizer, 1);
    ck_assert_int_eq(c.train.flush_denormals, 1);
    ck_assert_int_eq(c.train.shared_memory, 1);
    ck_assert_int_eq(c.early.metric, DPT_METRIC_VAL_LOSS);
    ck_assert_int_eq(c.early.patience, 0);
    ck_assert_double_eq(c.early.min_delta, 0);
    ck_assert_int_eq(c.ckpt.every_steps, 0);
    ck_assert_int_eq(c.ckpt.every_epochs, 0);
    ck_assert_int_eq(c.ckpt.keep_last, 3);
    ck_assert_int_eq(c.ckpt.keep_best, 1);
    ck_assert(c.run.seed == 42);
    ck_assert_str_eq(c.run.name, "default");
    ck_assert_str_eq(c.run.dir, "runs");

    /* padding and string tails are zero, so two calls give identical bytes */
    dpt_config d;
    memset(&d, 0xAB, sizeof d);
    dpt_config_defaults(&d);
    ck_assert(memcmp(&c, &d, sizeof c) == 0);
}
END_TEST

/* Each key's default text, applied through --set, is accepted and changes nothing. */
START_TEST(t_table_defaults_apply)
{
    dpt_config d, c;
    dpt_config_defaults(&d);
    ck_assert_int_gt(dpt_config_nkeys(), 0);
    for (int i = 0; i < dpt_config_nkeys(); i++) {
        const char *sec, *key, *def, *doc;
        char a[256];
        dpt_err e = {0};
        ck_assert_int_eq(dpt_config_key_info(i, &sec, &key, &def, &doc), DPT_OK);
        ck_assert(doc && doc[0]);
        c = d;
        snprintf(a, sizeof a, "%s.%s=%s", sec, key, def);
        ck_assert_msg(dpt_config_set(&c, a, &e) == DPT_OK, "%s: %s", a, e.msg);
        ck_assert_msg(memcmp(&c, &d, VALUES) == 0, "default of %s.%s differs from dpt_config_defaults", sec, key);
        ck_assert_int_eq(c.origin.line[i], DPT_FROM_SET);
    }
    ck_assert_int_eq(dpt_config_key_info(-1, NULL, NULL, NULL, NULL), DPT_FAIL);
    ck_assert_int_eq(dpt_config_key_info(dpt_config_nkeys(), NULL, NULL, NULL, NULL), DPT_FAIL);
}
END_TEST

START_TEST(t_every_key_from_file)
{
    /* the test's rows cover the table exactly */
    ck_assert_int_eq(NROWS, dpt_config_nkeys());
    for (int i = 0; i < dpt_config_nkeys(); i++) {
        const char *sec, *key;
        int found = 0;
        dpt_config_key_info(i, &sec, &key, NULL, NULL);
        for (int j = 0; j < NROWS; j++)
            found += strcmp(rows[j].sec, sec) == 0 && strcmp(rows[j].key, key) == 0;
        ck_assert_msg(found == 1, "table key %s.%s has %d test rows", sec, key, found);
    }
    char text[8192];
    rows_ini(text, sizeof text);
    dpt_config c;
    dpt_err e = {0};
    dpt_config_defaults(&c);
    ck_assert_msg(dpt_config_load_file(&c, fixture("all.ini", text), &e) == DPT_OK, "%s", e.msg);
    check_all_rows(&c);
}
END_TEST

/* A key changes its own field's bytes and no other byte of the struct. */
START_TEST(t_each_key_own_field)
{
    dpt_config d, c;
    dpt_config_defaults(&d);
    for (int i = 0; i < NROWS; i++) {
        char a[256];
        dpt_err e = {0};
        c = d;
        snprintf(a, sizeof a, "%s.%s=%s", rows[i].sec, rows[i].key, rows[i].value);
        ck_assert_msg(dpt_config_set(&c, a, &e) == DPT_OK, "%s: %s", a, e.msg);
        const unsigned char *p = (const unsigned char *)&c, *q = (const unsigned char *)&d;
        ck_assert_msg(memcmp(p + rows[i].off, q + rows[i].off, rows[i].size) != 0, "%s left its field alone", a);
        ck_assert_msg(memcmp(p, q, rows[i].off) == 0, "%s wrote before its field", a);
        size_t end = rows[i].off + rows[i].size;
        ck_assert_msg(memcmp(p + end, q + end, VALUES - end) == 0, "%s wrote after its field", a);
    }
}
END_TEST

static void roundtrip(const dpt_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    dpt_config_write(f, c);
    fclose(f);
    dpt_config back;
    dpt_err e = {0};
    dpt_config_defaults(&back);
    ck_assert_msg(dpt_config_load_string(&back, buf, "written", &e) == DPT_OK, "%s", e.msg);
    size_t at = 0;
    while (at < VALUES && ((unsigned char *)&back)[at] == ((const unsigned char *)c)[at])
        at++;
    ck_assert_msg(at == VALUES, "round trip differs at byte %zu of %zu", at, VALUES);
    /* every section and key appears */
    for (int i = 0; i < dpt_config_nkeys(); i++) {
        const char *sec, *key;
        char s[64], k[96];
        dpt_config_key_info(i, &sec, &key, NULL, NULL);
        snprintf(s, sizeof s, "[%s]\n", sec);
        snprintf(k, sizeof k, "\n%s =", key);
        assert_has(buf, s);
        assert_has(buf, k);
    }
    free(buf);
}

static void set_str(char *field, size_t size, const char *s)
{
    memset(field, 0, size);
    memcpy(field, s, strlen(s));
}

START_TEST(t_roundtrip)
{
    dpt_config c;
    dpt_config_defaults(&c);
    roundtrip(&c);

    char text[8192];
    dpt_err e = {0};
    rows_ini(text, sizeof text);
    ck_assert_int_eq(dpt_config_load_string(&c, text, "rows", &e), DPT_OK);
    roundtrip(&c);

    /* doubles that need all 17 digits, extremes, and strings the reader would trim or cut */
    c.optim.lr = 0.1;
    c.reg.l1 = 1.0 / 3.0;
    c.early.min_delta = 4.9406564584124654e-324;
    c.sched.gamma = 1.7976931348623157e308;
    c.optim.eps = -0.0 + 1e-300;
    c.train.steps = INT64_MAX;
    set_str(c.run.dir, sizeof c.run.dir, "  lead ;semi and trail  ");
    set_str(c.data.label, sizeof c.data.label, ";starts with a semicolon");
    set_str(c.data.test, sizeof c.data.test, "\"quoted\"");
    set_str(c.data.train_targets, sizeof c.data.train_targets, "a # not a comment");
    char longpath[DPT_PATH_MAX];
    memset(longpath, 'p', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    set_str(c.data.train, sizeof c.data.train, longpath);
    char layers[DPT_LAYERS_MAX];
    size_t n = 0;
    while (n + 12 < sizeof layers)
        n += (size_t)snprintf(layers + n, sizeof layers - n, "dense 9, ");
    set_str(c.model.layers, sizeof c.model.layers, layers);
    roundtrip(&c);
}
END_TEST

/* ---- errors --------------------------------------------------------------- */

/* Loads text from g_dir/exp.ini, expects failure with every fragment, and c unchanged. */
static void load_fails(const char *text, ...)
{
    dpt_config c, before;
    dpt_err e = {0};
    dpt_config_defaults(&c);
    before = c;
    ck_assert_msg(dpt_config_load_file(&c, fixture("exp.ini", text), &e) == DPT_FAIL, "accepted:\n%s", text);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "two lines: %s", e.msg);
    va_list ap;
    va_start(ap, text);
    for (const char *frag; (frag = va_arg(ap, const char *)) != NULL;)
        assert_has(e.msg, frag);
    va_end(ap);
    ck_assert_msg(memcmp(&c, &before, sizeof c) == 0, "failed load changed the config");
}

START_TEST(t_err_unknown_section)
{
    load_fails("# my experiment\n[training]\n[optimiser]\nlr = 0.1\n",
               "exp.ini:3: unknown section [optimiser]; did you mean [optimizer]?", NULL);
    load_fails("[data]\ntask = regress\n\n[regularisation]\n", /* empty, at the end */
               "exp.ini:4: unknown section [regularisation]; did you mean [regularization]?", NULL);
    load_fails("[zzqqxxyy]\nlr = 1\n", "exp.ini:1: unknown section [zzqqxxyy]; sections are data, model, loss",
               "early_stopping, checkpoint, run", NULL);
    load_fails("[training]\nepochs = 3\n[early_stop]\n", "exp.ini:3:", "did you mean [early_stopping]?", NULL);
}
END_TEST

START_TEST(t_err_unknown_key)
{
    load_fails("[optimizer]\nkind = adam\n\n; tuned\n\n\nleraning_rate = 0.1\n",
               "exp.ini:7: unknown key optimizer.leraning_rate; did you mean optimizer.lr?", NULL);
    load_fails("[optimizer]\nepochs = 5\n", "exp.ini:2: unknown key optimizer.epochs; did you mean training.epochs?",
               NULL);
    load_fails("[optimizer]\nmomentun = 0.9\n", "did you mean optimizer.momentum?", NULL);
    /* loss.kind comes first in the table; the typo's own section wins the tie */
    load_fails("[schedule]\nkinds = step\n", "did you mean schedule.kind?", NULL);
    load_fails("[training]\nbatch_size = 64\n", "did you mean training.batch?", NULL);
    load_fails("[regularization]\nLR = 1\n", "unknown key regularization.LR; did you mean optimizer.lr?", NULL);
    load_fails("[early_stopping]\nzzzzzzzzzz = 1\n",
               "exp.ini:2: unknown key early_stopping.zzzzzzzzzz; keys in [early_stopping] are metric, patience, "
               "min_delta",
               NULL);
    load_fails("[data]\n= 5\n", "exp.ini:2: no key name", NULL);
}
END_TEST

START_TEST(t_err_values)
{
    load_fails("[data]\ntask = regress\n\n[optimizer]\nkind = adamm\n",
               "exp.ini:5: optimizer.kind = 'adamm': expected one of gd, sgd, adagrad, rmsprop, adam, adamw", NULL);
    load_fails("[training]\nbatch = -3\n", "exp.ini:2: training.batch = '-3': expected an integer >= 0", NULL);
    load_fails("[data]\nval_fraction = abc\n", "data.val_fraction = 'abc': expected a number in [0, 1)", NULL);
    load_fails("[data]\nval_fraction = 1\n", "data.val_fraction = '1': expected a number in [0, 1)", NULL);
    load_fails("[training]\nepochs = 10x\n", "training.epochs = '10x': expected an integer >= 0", NULL);
    load_fails("[training]\nepochs = 1.5\n", "training.epochs = '1.5'", NULL);
    load_fails("[training]\nepochs = 99999999999999999999\n", "training.epochs", "expected an integer", NULL);
    load_fails("[training]\nthreads = 3000000000\n", "training.threads", "at most 2147483647", NULL);
    load_fails("[training]\naccumulation = 0\n", "training.accumulation = '0': expected an integer >= 1", NULL);
    load_fails("[optimizer]\nlr = inf\n", "optimizer.lr = 'inf': expected auto or a number >= 0", NULL);
    load_fails("[optimizer]\nlr = nan\n", "optimizer.lr = 'nan'", NULL);
    load_fails("[optimizer]\nlr = -0.1\n", "optimizer.lr = '-0.1': expected auto or a number >= 0", NULL);
    /* strtod reads hexadecimal: 0x10 would be 16 */
    load_fails("[optimizer]\nlr = 0x10\n", "exp.ini:2: optimizer.lr = '0x10': expected auto or a number >= 0",
               "hexadecimal", NULL);
    load_fails("[schedule]\ngamma = 0X1p-3\n", "exp.ini:2: schedule.gamma = '0X1p-3'", "hexadecimal", NULL);
    load_fails("[optimizer]\nlr = 1e999\n", "optimizer.lr = '1e999'", "too large", NULL);
    load_fails("[optimizer]\nlr = infinity\n", "optimizer.lr = 'infinity'", NULL);
    load_fails("[training]\nepochs = 0x10\n", "training.epochs = '0x10': expected an integer >= 0", NULL);
    load_fails("[optimizer]\nlr = 0.1 # fast\n", "optimizer.lr = '0.1 # fast'", "start with ' ;'", NULL);
    load_fails("[optimizer]\nlr =\n", "optimizer.lr = '': expected auto or a number", NULL);
    load_fails("[optimizer]\nbeta2 = 1\n", "optimizer.beta2 = '1': expected a number in [0, 1)", NULL);
    load_fails("[schedule]\ngamma = 0\n", "schedule.gamma = '0': expected a number > 0", NULL);
    load_fails("[optimizer]\nnesterov = maybe\n", "optimizer.nesterov = 'maybe': expected true or false", NULL);
    load_fails("[data]\nkfold = 1\n", "data.kfold = '1': expected 0 or an integer >= 2", NULL);
    load_fails("[data]\nheader = yes\n", "data.header = 'yes': expected one of auto, true, false", NULL);
    load_fails("[run]\nseed = -1\n", "run.seed = '-1': expected an integer in [0, 18446744073709551615]", NULL);
    load_fails("[run]\nseed = 18446744073709551616\n", "run.seed", NULL);
    load_fails("[run]\nname = a/b\n", "run.name = 'a/b': expected letters, digits, '.', '_' or '-'", NULL);
    load_fails("[run]\nname = ..\n", "run.name = '..'", NULL);
    load_fails("[run]\nname =\n", "run.name = ''", NULL);
    load_fails("[model]\nlayers = \"dense 1\n", "exp.ini:2: model.layers: value starts with '\"' but has no closing",
               NULL);
    char text[1200];
    int n = snprintf(text, sizeof text, "[data]\nlabel = ");
    memset(text + n, 'x', 200);
    snprintf(text + n + 200, sizeof text - (size_t)n - 200, "\n");
    load_fails(text, "exp.ini:2: data.label = 'xxxx", "...': expected text of at most 127 characters", NULL);
}
END_TEST

START_TEST(t_err_structure)
{
    load_fails("lr = 0.1\n[optimizer]\n", "exp.ini:1: key lr comes before any [section]; it belongs under [optimizer]",
               NULL);
    load_fails("[training]\nepochs = 5\nbatch = 8\nepochs = 6\n",
               "exp.ini:4: duplicate key training.epochs (first set on line 2)", NULL);
    load_fails("[optimizer]\nkind = adam\n  lr = 0.1\n", "exp.ini:3: indented line reads as more of optimizer.kind",
               NULL);
    load_fails("[optimizer\nlr = 1\n", "exp.ini:1: section header without a closing ']'", NULL);
    load_fails("[optimizer]\nlr = 1\njust some words\n", "exp.ini:3: expected [section], key = value or a comment",
               NULL);
    /* the first error by line wins, whichever part of the parser found it */
    load_fails("[optimizer]\nlr = 1\nno equals sign\nlr = 2\n[bogus]\n", "exp.ini:3:", NULL);
    load_fails("[optimizer]\nlr = x\nno equals sign\n", "exp.ini:2: optimizer.lr", NULL);
    char big[6000];
    memset(big, 'y', sizeof big - 2);
    memcpy(big, "[run]\ndir = ", 12);
    big[sizeof big - 2] = '\n';
    big[sizeof big - 1] = '\0';
    load_fails(big, "exp.ini:2: line longer than", NULL);

    dpt_config c;
    dpt_err e = {0};
    dpt_config_defaults(&c);
    char path[128];
    snprintf(path, sizeof path, "%s/nonexistent.ini", g_dir);
    ck_assert_int_eq(dpt_config_load_file(&c, path, &e), DPT_FAIL);
    assert_has(e.msg, "nonexistent.ini: cannot open: No such file or directory");
    ck_assert_int_eq(dpt_config_load_file(&c, g_dir, &e), DPT_FAIL); /* a directory */
    assert_has(e.msg, g_dir);
    assert_has(e.msg, "is a directory, not an experiment file");
    /* refused at once: reading would never end (/dev/zero) or wait for a writer (a FIFO) */
    ck_assert_int_eq(dpt_config_load_file(&c, "/dev/zero", &e), DPT_FAIL);
    assert_has(e.msg, "/dev/zero: is a device, not an experiment file");
    snprintf(path, sizeof path, "%s/fifo.ini", g_dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(dpt_config_load_file(&c, path, &e), DPT_FAIL);
    assert_has(e.msg, "fifo.ini: is a FIFO, not an experiment file");
    unlink(path);
    ck_assert_int_eq(dpt_config_load_string(&c, "[loss]\nkind = l1\n", NULL, &e), DPT_FAIL);
    assert_has(e.msg, "<string>:2: loss.kind = 'l1': expected one of mse, cross_entropy");
}
END_TEST

/* Lines of any length up to the limit read whole: a key after 250 blanks is set (libinih's
 * 200-byte buffer read those blanks as an empty line and dropped the key), a separator past
 * column 200 still splits the pair, and a value of 900 characters arrives entire. */
START_TEST(t_long_lines)
{
    static char text[5000];
    dpt_config c;
    dpt_err e = {0};
    dpt_config_defaults(&c);
    int n = snprintf(text, sizeof text, "[optimizer]\n");
    memset(text + n, ' ', 250);
    snprintf(text + n + 250, sizeof text - (size_t)n - 250, "lr = 0.5\n");
    ck_assert_int_eq(dpt_config_load_string(&c, text, "exp.ini", &e), DPT_OK);
    ck_assert(c.optim.lr == 0.5);

    n = snprintf(text, sizeof text, "[optimizer]\n");
    memset(text + n, 'k', 230);
    snprintf(text + n + 230, sizeof text - (size_t)n - 230, " = 1\n");
    load_fails(text, "exp.ini:2: unknown key optimizer.kkkk", "keys in [optimizer] are kind, lr", NULL);

    dpt_config_defaults(&c);
    n = snprintf(text, sizeof text, "[model]\nlayers = ");
    for (int i = 0; i < 100; i++)
        n += snprintf(text + n, sizeof text - (size_t)n, "%s", i + 1 < 100 ? "dense 1, " : "dense 1");
    size_t want = strlen(text) - strlen("[model]\nlayers = ");
    snprintf(text + n, sizeof text - (size_t)n, "\n[run]\nname = after\n");
    ck_assert_int_eq(dpt_config_load_string(&c, text, "exp.ini", &e), DPT_OK);
    ck_assert_uint_eq(strlen(c.model.layers), want);
    ck_assert_str_eq(c.run.name, "after");
    ck_assert_int_eq(c.origin.line[dpt_config_nkeys() - 2], 4); /* run.name: the line numbers hold */
}
END_TEST

/* Comments, quotes, ':' pairs, CRLF, a byte-order mark, case, long lines. */
START_TEST(t_syntax_accepted)
{
    char text[2048];
    char path[600];
    memset(path, 'q', 400);
    path[0] = '/';
    path[400] = '\0';
    snprintf(text, sizeof text,
             "\xEF\xBB\xBF# comment\r\n"
             "; another\r\n"
             "[optimizer]\r\n"
             "  kind = SGD ; inline comment\r\n"
             "lr: 0.5\r\n"
             "momentum=0.25\r\n"
             "nesterov = Yes\r\n"
             "[run]\r\n"
             "dir = \"  spaced ;dir \" ; comment\r\n"
             "[data]\r\n"
             "label = x;y\r\n"
             "train = %s\r\n"
             "test =\r\n",
             path);
    dpt_config c;
    dpt_err e = {0};
    dpt_config_defaults(&c);
    ck_assert_msg(dpt_config_load_string(&c, text, "t", &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(c.optim.kind, DPT_OPT_SGD);
    ck_assert_double_eq(c.optim.lr, 0.5);
    ck_assert_double_eq(c.optim.momentum, 0.25);
    ck_assert_int_eq(c.optim.nesterov, 1);
    ck_assert_str_eq(c.run.dir, "  spaced ;dir ");
    ck_assert_str_eq(c.data.label, "x;y");
    ck_assert_str_eq(c.data.train, path);
    ck_assert_str_eq(c.data.test, "");
    /* a second file layers on the first */
    ck_assert_int_eq(dpt_config_load_string(&c, "[optimizer]\nlr = 0.75\n", "t2", &e), DPT_OK);
    ck_assert_double_eq(c.optim.lr, 0.75);
    ck_assert_int_eq(c.optim.kind, DPT_OPT_SGD);
}
END_TEST

START_TEST(t_set)
{
    dpt_config c, before;
    dpt_err e = {0};
    dpt_config_defaults(&c);
    ck_assert_int_eq(
        dpt_config_load_file(&c, fixture("exp.ini", "[optimizer]\nlr = 0.5\n[training]\nepochs = 3\n"), &e),
        DPT_OK);
    ck_assert_int_eq(dpt_config_set(&c, "optimizer.lr=0.25", &e), DPT_OK);
    ck_assert_int_eq(dpt_config_set(&c, " training.epochs = 7 ", &e), DPT_OK);
    ck_assert_int_eq(dpt_config_set(&c, "model.layers=dense 8, relu, dense 1", &e), DPT_OK);
    ck_assert_double_eq(c.optim.lr, 0.25);
    ck_assert_int_eq(c.train.epochs, 7);
    ck_assert_str_eq(c.model.layers, "dense 8, relu, dense 1");

    before = c;
    ck_assert_int_eq(dpt_config_set(&c, "optimizer.lr=x", &e), DPT_FAIL);
    assert_has(e.msg, "--set optimizer.lr=x: expected auto or a number >= 0");
    ck_assert_int_eq(dpt_config_set(&c, "optimizer.lr", &e), DPT_FAIL);
    assert_has(e.msg, "--set optimizer.lr: expected section.key=value");
    ck_assert_int_eq(dpt_config_set(&c, "lr=0.1", &e), DPT_FAIL);
    assert_has(e.msg, "--set lr=0.1: expected section.key=value; did you mean optimizer.lr=0.1?");
    ck_assert_int_eq(dpt_config_set(&c, "qqqqqq=1", &e), DPT_FAIL);
    assert_has(e.msg, "--set qqqqqq=1: expected section.key=value");
    ck_assert_int_eq(dpt_config_set(&c, "optimizer.leraning_rate=1", &e), DPT_FAIL);
    assert_has(e.msg, "--set optimizer.leraning_rate=1: unknown key optimizer.leraning_rate; did you mean optimizer.lr?");
    ck_assert_int_eq(dpt_config_set(&c, "optimiser.lr=1", &e), DPT_FAIL);
    assert_has(e.msg, "--set optimiser.lr=1: unknown section [optimiser]; did you mean [optimizer]?");
    ck_assert_int_eq(dpt_config_set(&c, "training.batch=-3", &e), DPT_FAIL);
    assert_has(e.msg, "--set training.batch=-3: expected an integer >= 0");
    ck_assert_int_eq(dpt_config_set(&c, "run.name=a\nb", &e), DPT_FAIL);
    ck_assert_int_eq(dpt_config_set(&c, "data.train=a\tb\x01", &e), DPT_FAIL);
    assert_has(e.msg, "control character");
    ck_assert(memcmp(&c, &before, sizeof c) == 0);
}
END_TEST

/* ---- validation ------------------------------------------------------------ */

static void base(dpt_config *c)
{
    dpt_err e = {0};
    dpt_config_defaults(c);
    ck_assert_int_eq(dpt_config_load_string(c, dpt_config_default_experiment(), "built-in", &e), DPT_OK);
}

/* The default experiment plus the --set assignments (NULL-ended) must fail validation with frag. */
static void invalid(const char *frag, ...)
{
    dpt_config c;
    dpt_err e = {0};
    base(&c);
    va_list ap;
    va_start(ap, frag);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
        ck_assert_msg(dpt_config_set(&c, a, &e) == DPT_OK, "%s: %s", a, e.msg);
    va_end(ap);
    ck_assert_msg(dpt_config_validate(&c, &e) == DPT_FAIL, "validated, expected: %s", frag);
    assert_has(e.msg, frag);
}

START_TEST(t_validate)
{
    dpt_config c;
    dpt_err e = {0};
    base(&c);
    ck_assert_msg(dpt_config_validate(&c, &e) == DPT_OK, "%s", e.msg);
    /* a real data set, validation split, early stopping, classification */
    ck_assert_int_eq(dpt_config_set(&c, "data.synthetic=none", &e), DPT_OK);
    ck_assert_int_eq(dpt_config_set(&c, "data.train=x.csv", &e), DPT_OK);
    ck_assert_int_eq(dpt_config_set(&c, "data.task=classify", &e), DPT_OK);
    ck_assert_int_eq(dpt_config_set(&c, "loss.kind=cross_entropy", &e), DPT_OK);
    ck_assert_int_eq(dpt_config_set(&c, "data.val_fraction=0.2", &e), DPT_OK);
    ck_assert_int_eq(dpt_config_set(&c, "early_stopping.patience=3", &e), DPT_OK);
    ck_assert_msg(dpt_config_validate(&c, &e) == DPT_OK, "%s", e.msg);

    invalid("data.train: no training data (set data.train or data.synthetic)", "data.synthetic=none", NULL);
    invalid("data.synthetic: linreg and data.train = 'x.csv' both give training data", "data.train=x.csv", NULL);
    invalid("data.synthetic: linreg is a regression set", "data.task=classify", NULL);
    invalid("data.train_targets: format csv keeps the targets in data.train", "data.synthetic=none",
            "data.train=x.csv", "data.format=csv", "data.train_targets=y.csv", NULL);
    invalid("data.test_targets: set without data.test", "data.test_targets=t.idx", NULL);
    invalid("data.kfold: cannot be combined with data.val_fraction", "data.kfold=5", "data.val_fraction=0.1", NULL);
    invalid("early_stopping.patience: needs a validation set (set data.val_fraction or data.kfold)",
            "early_stopping.patience=5", NULL);
    invalid("early_stopping.metric: val_accuracy needs data.task = classify", "early_stopping.metric=val_accuracy",
            NULL);
    invalid("optimizer.nesterov: needs optimizer.momentum > 0", "optimizer.kind=sgd", "optimizer.nesterov=true", NULL);
    invalid("optimizer.nesterov", "optimizer.nesterov=true", "optimizer.momentum=0.9", "optimizer.dampening=0.1",
            NULL);
    invalid("loss.kind: cross_entropy needs data.task = classify", "loss.kind=cross_entropy", NULL);
    invalid("training.epochs: nothing to train", "training.epochs=0", NULL);
    invalid("training.accumulation: 8 micro-batches need training.batch >= 8", "training.batch=4",
            "training.accumulation=8", NULL);
    /* a cosine schedule that would climb: against the lr set and against auto's */
    invalid("--set schedule.min_lr=0.5: above optimizer.lr = 0.01; the cosine schedule would raise the rate",
            "schedule.kind=cosine", "schedule.min_lr=0.5", NULL);
    invalid("schedule.min_lr=0.005: above optimizer.lr = 0.001 (auto)", "schedule.kind=cosine",
            "optimizer.lr=auto", "schedule.min_lr=0.005", NULL);
    base(&c);
    ck_assert_int_eq(dpt_config_set(&c, "schedule.kind=cosine", &e), DPT_OK);
    ck_assert_int_eq(dpt_config_set(&c, "schedule.min_lr=0.01", &e), DPT_OK); /* = lr: constant, allowed */
    ck_assert_msg(dpt_config_validate(&c, &e) == DPT_OK, "%s", e.msg);

    /* ranges again, for values filled in code or received as bytes */
    base(&c);
    c.train.batch = -3;
    ck_assert_int_eq(dpt_config_validate(&c, &e), DPT_FAIL);
    assert_has(e.msg, "training.batch = '-3': expected an integer >= 0");
    base(&c);
    c.data.val_fraction = NAN;
    ck_assert_int_eq(dpt_config_validate(&c, &e), DPT_FAIL);
    assert_has(e.msg, "data.val_fraction");
    base(&c);
    c.optim.kind = (dpt_optim_kind)17;
    ck_assert_int_eq(dpt_config_validate(&c, &e), DPT_FAIL);
    assert_has(e.msg, "optimizer.kind = '17': expected one of");
    base(&c);
    c.optim.amsgrad = 2;
    ck_assert_int_eq(dpt_config_validate(&c, &e), DPT_FAIL);
    assert_has(e.msg, "optimizer.amsgrad");
    base(&c);
    memset(c.run.name, 'n', sizeof c.run.name); /* no terminating NUL */
    ck_assert_int_eq(dpt_config_validate(&c, &e), DPT_FAIL);
    assert_has(e.msg, "run.name");
}
END_TEST

/* ---- where a value came from, keys that do not apply ------------------------ */

START_TEST(t_where)
{
    dpt_config c;
    dpt_err e = {0};
    char at[1024];
    dpt_config_defaults(&c);
    const char *path = fixture("exp.ini", "[optimizer]\nkind = sgd\n\nlr = 0.5\n[training]\nbatch = 32\n");
    ck_assert_msg(dpt_config_load_file(&c, path, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(dpt_config_set(&c, "training.epochs=7", &e), DPT_OK);
    dpt_config_where(at, sizeof at, &c, "optimizer.lr");
    ck_assert_msg(strncmp(at, path, strlen(path)) == 0, "%s does not start with the file", at);
    ck_assert_str_eq(at + strlen(path), ":4: optimizer.lr = '0.5'");
    ck_assert_str_eq(dpt_config_where(at, sizeof at, &c, "training.epochs"), "--set training.epochs=7");
    ck_assert_str_eq(dpt_config_where(at, sizeof at, &c, "training.steps"), "training.steps = '0' (the default)");
    /* a later file takes the name; what the earlier one set keeps no line */
    ck_assert_int_eq(dpt_config_load_string(&c, "[training]\n\nbatch = 64\n", "second.ini", &e), DPT_OK);
    ck_assert_str_eq(dpt_config_where(at, sizeof at, &c, "training.batch"), "second.ini:3: training.batch = '64'");
    ck_assert_str_eq(dpt_config_where(at, sizeof at, &c, "optimizer.lr"), "optimizer.lr = '0.5'");
    ck_assert_str_eq(dpt_config_where(at, sizeof at, &c, "training.epochs"), "--set training.epochs=7");
    ck_assert_str_eq(dpt_config_where(at, sizeof at, &c, "no.such"), "no.such");
}
END_TEST

/* The warnings of experiment text (NULL-ended --set assignments after it), as one string. */
static char *warnings(const char *text, ...)
{
    dpt_config c;
    dpt_err e = {0};
    char *buf = NULL;
    size_t len = 0;
    dpt_config_defaults(&c);
    ck_assert_msg(dpt_config_load_string(&c, text, "w.ini", &e) == DPT_OK, "%s", e.msg);
    va_list ap;
    va_start(ap, text);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL;)
        ck_assert_msg(dpt_config_set(&c, a, &e) == DPT_OK, "%s: %s", a, e.msg);
    va_end(ap);
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    int n = dpt_config_warn_unused(f, &c);
    fclose(f);
    int lines = 0;
    for (const char *p = buf; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(n, lines);
    return buf;
}

START_TEST(t_warn_unused)
{
    char *w = warnings("[optimizer]\nkind = adam\nmomentum = 0.9\n", NULL);
    ck_assert_str_eq(w, "dptrain: warning: w.ini:3: optimizer.momentum = '0.9' has no effect with "
                        "optimizer.kind = adam (only with sgd or rmsprop)\n");
    free(w);
    w = warnings("[optimizer]\nkind = sgd\nmomentum = 0.9\nbeta1 = 0.8\n", "optimizer.eps=0.1", NULL);
    assert_has(w, "w.ini:4: optimizer.beta1 = '0.8' has no effect with optimizer.kind = sgd (only with adam or adamw)");
    assert_has(w, "--set optimizer.eps=0.1 has no effect with optimizer.kind = sgd (only with adagrad, rmsprop, "
                  "adam or adamw)");
    ck_assert_ptr_null(strstr(w, "momentum"));
    free(w);
    /* data.label with IDX data, the format told by the file name */
    w = warnings("[data]\ntrain = /d/train-images-idx3-ubyte.gz\nlabel = price\nheader = true\n", NULL);
    assert_has(w, "w.ini:3: data.label = 'price' has no effect with data.format = auto (idx by the file name) "
                  "(only with csv)");
    assert_has(w, "w.ini:4: data.header = 'true'");
    free(w);
    w = warnings("[data]\nformat = csv\ntrain = x.dat\nlabel = price\n", NULL);
    ck_assert_str_eq(w, "");
    free(w);
    w = warnings("[schedule]\nkind = step\nmin_lr = 0.001\ngamma = 0.5\nreference_batch = 64\n", NULL);
    assert_has(w, "schedule.min_lr = '0.001' has no effect with schedule.kind = step (only with cosine or plateau)");
    assert_has(w, "schedule.reference_batch = '64' has no effect with schedule.scale_lr = false (only with true)");
    ck_assert_ptr_null(strstr(w, "gamma"));
    free(w);
    /* keys left alone, or written with their default value (a config.ini reused), are not told */
    w = warnings("[optimizer]\nkind = adam\nmomentum = 0\nalpha = 0.99\n[training]\nblocks = 8\n", NULL);
    ck_assert_str_eq(w, "");
    free(w);
    w = warnings("[training]\ndeterministic = false\nblocks = 4\n", NULL);
    assert_has(w, "training.blocks = '4' has no effect with training.deterministic = false (only with true)");
    free(w);
}
END_TEST

/* ---- doc, default experiment, names shared with optim ---------------------------- */

/* "auto" optimizer values become torch's defaults for the chosen kind. */
START_TEST(t_resolve_auto)
{
    struct {
        const char *kind;
        double lr, eps, wd;
    } cases[] = {{"adam", 1e-3, 1e-8, 0}, {"adamw", 1e-3, 1e-8, 1e-2}, {"adagrad", 1e-2, 1e-10, 0},
                 {"sgd", 1e-2, 1e-8, 0}, {"rmsprop", 1e-2, 1e-8, 0}};
    for (int i = 0; i < 5; i++) {
        dpt_config c;
        dpt_err e = {0};
        char set[64];
        dpt_config_defaults(&c);
        snprintf(set, sizeof set, "optimizer.kind=%s", cases[i].kind);
        ck_assert_int_eq(dpt_config_set(&c, set, &e), DPT_OK);
        dpt_config_resolve(&c);
        ck_assert_double_eq(c.optim.lr, cases[i].lr);
        ck_assert_double_eq(c.optim.eps, cases[i].eps);
        ck_assert_double_eq(c.optim.weight_decay, cases[i].wd);
    }
    dpt_config c;
    dpt_err e = {0};
    dpt_config_defaults(&c);
    ck_assert_int_eq(dpt_config_set(&c, "optimizer.lr=0.5", &e), DPT_OK);
    dpt_config_resolve(&c);
    ck_assert_double_eq(c.optim.lr, 0.5); /* an explicit value stays */
}
END_TEST

START_TEST(t_doc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    dpt_config_doc(f);
    fclose(f);
    ck_assert(strncmp(buf, "| key | default | meaning |\n|---|---|---|\n", 42) == 0);
    int lines = 0;
    for (const char *p = buf; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 2 + dpt_config_nkeys());
    for (int i = 0; i < dpt_config_nkeys(); i++) {
        const char *sec, *key, *def;
        char want[160];
        dpt_config_key_info(i, &sec, &key, &def, NULL);
        snprintf(want, sizeof want, "| `%s.%s` | ", sec, key);
        assert_has(buf, want);
    }
    assert_has(buf, "| `optimizer.lr` | `auto` | base learning rate");
    assert_has(buf, "| `training.batch` | `0` |");
    assert_has(buf, "| `data.train` | (empty) |");
    assert_has(buf, "one of gd, sgd, adagrad, rmsprop, adam, adamw");
    /* each row has exactly four '|' */
    for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
        int bars = 0;
        for (const char *p = line; *p; p++)
            bars += *p == '|';
        ck_assert_msg(bars == 4, "row has %d bars: %s", bars, line);
    }
    free(buf);
}
END_TEST

START_TEST(t_default_experiment)
{
    dpt_config a, b, d;
    dpt_err e = {0};
    base(&a);
    ck_assert_int_eq(a.data.synthetic, DPT_SYNTH_LINREG);
    ck_assert_int_eq(a.data.synthetic_samples, 100);
    ck_assert_int_eq(a.data.task, DPT_TASK_REGRESS);
    ck_assert_str_eq(a.model.layers, "dense 1");
    ck_assert_int_eq(a.loss.kind, DPT_LOSS_MSE);
    ck_assert_int_eq(a.optim.kind, DPT_OPT_ADAM);
    ck_assert_double_eq(a.optim.lr, 0.01);
    ck_assert_int_eq(a.train.epochs, 1000);
    ck_assert_int_eq(a.train.batch, 0);
    ck_assert_int_eq(a.train.log_every, 100);
    ck_assert_str_eq(a.run.name, "linreg");
    ck_assert(a.run.seed == 42);
    dpt_config_defaults(&d);
    ck_assert(memcmp(&a, &d, sizeof a) != 0);

    /* launch/configs/linreg.ini, found from the repository root or from this file's path */
    char path[512] = "launch/configs/linreg.ini";
    if (access(path, R_OK) != 0) {
        const char *src = __FILE__, *cut = strstr(src, "tests/unit/");
        snprintf(path, sizeof path, "%.*slaunch/configs/linreg.ini", cut ? (int)(cut - src) : 0, src);
    }
    dpt_config_defaults(&b);
    ck_assert_msg(dpt_config_load_file(&b, path, &e) == DPT_OK, "%s", e.msg);
    ck_assert_msg(memcmp(&a, &b, VALUES) == 0, "%s differs from the built-in experiment", path);
}
END_TEST

START_TEST(t_names_match_optim)
{
    static const char *const opt[] = {"gd", "sgd", "adagrad", "rmsprop", "adam", "adamw"};
    static const char *const sch[] = {"constant", "step", "exponential", "cosine"};
    dpt_config c;
    dpt_err e = {0};
    char a[64];
    dpt_config_defaults(&c);
    for (int i = 0; i < 6; i++) {
        dpt_optim_kind k;
        snprintf(a, sizeof a, "optimizer.kind=%s", opt[i]);
        ck_assert_int_eq(dpt_config_set(&c, a, &e), DPT_OK);
        ck_assert_str_eq(dpt_optim_kind_name(c.optim.kind), opt[i]);
        ck_assert_int_eq(dpt_optim_kind_parse(&k, opt[i]), DPT_OK);
        ck_assert_int_eq(k, c.optim.kind);
    }
    for (int i = 0; i < 4; i++) {
        dpt_sched_kind k;
        snprintf(a, sizeof a, "schedule.kind=%s", sch[i]);
        ck_assert_int_eq(dpt_config_set(&c, a, &e), DPT_OK);
        ck_assert_str_eq(dpt_sched_kind_name(c.sched.kind), sch[i]);
        ck_assert_int_eq(dpt_sched_kind_parse(&k, sch[i]), DPT_OK);
        ck_assert_int_eq(k, c.sched.kind);
    }
}
END_TEST

int main(void)
{
    dpt_test_tmpdir(g_dir, sizeof g_dir, "dpt_config");
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, t_defaults);
    tcase_add_test(tc, t_table_defaults_apply);
    tcase_add_test(tc, t_every_key_from_file);
    tcase_add_test(tc, t_each_key_own_field);
    tcase_add_test(tc, t_roundtrip);
    tcase_add_test(tc, t_err_unknown_section);
    tcase_add_test(tc, t_err_unknown_key);
    tcase_add_test(tc, t_err_values);
    tcase_add_test(tc, t_err_structure);
    tcase_add_test(tc, t_syntax_accepted);
    tcase_add_test(tc, t_long_lines);
    tcase_add_test(tc, t_set);
    tcase_add_test(tc, t_validate);
    tcase_add_test(tc, t_doc);
    tcase_add_test(tc, t_resolve_auto);
    tcase_add_test(tc, t_default_experiment);
    tcase_add_test(tc, t_names_match_optim);
    tcase_add_test(tc, t_where);
    tcase_add_test(tc, t_warn_unused);
    suite_add_tcase(s, tc);
    int status = dpt_test_run(s);
    dpt_test_rmdir(g_dir);
    return status;
}
