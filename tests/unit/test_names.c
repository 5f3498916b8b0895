/* The names of the settings the code decides on: each lives in one table of the module that owns
 * the enum (optimizer, schedule, loss, init, data format and synthetic set, early-stopping metric;
 * training.nonfinite in the config). Every name must read into its value and be written back as
 * the same text (config.ini in run directories and checkpoints), an unknown name must give the
 * message it always gave, and the data formats' file-name endings must pick what they picked.
 * The lists here are written from the documentation, not read from the tables. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/config.h"

#include "support.h"

typedef struct {
    const char *key;                  /* section.key */
    const char *names[8];             /* in the enum's order, NULL-terminated */
    const char *(*name)(int);         /* the owning module's table; NULL: config's own */
    const char *bad;                  /* the message an unknown name gave on 65f24c3 */
} setting;

static const setting settings[] = {
    {"data.format", {"auto", "idx", "npy", "csv", "libsvm"}, dpt_data_format_name,
     "expected one of auto, idx, npy, csv, libsvm"},
    {"data.synthetic", {"none", "linreg"}, dpt_data_synthetic_name, "expected one of none, linreg"},
    {"model.init", {"auto", "xavier", "he"}, dpt_init_scheme_name, "expected one of auto, xavier, he"},
    {"model.conv_algorithm", {"auto", "im2col", "winograd", "direct"}, dpt_conv_algorithm_name,
     "expected one of auto, im2col, winograd, direct"},
    {"loss.kind", {"mse", "cross_entropy"}, dpt_loss_kind_name, "expected one of mse, cross_entropy"},
    {"optimizer.kind", {"gd", "sgd", "adagrad", "rmsprop", "adam", "adamw"}, dpt_optim_kind_name,
     "expected one of gd, sgd, adagrad, rmsprop, adam, adamw"},
    {"schedule.kind", {"constant", "step", "exponential", "cosine", "plateau"}, dpt_sched_kind_name,
     "expected one of constant, step, exponential, cosine, plateau"},
    {"training.nonfinite", {"stop", "skip"}, NULL, "expected one of stop, skip"},
    {"early_stopping.metric", {"val_loss", "val_accuracy", "train_loss"}, dpt_early_metric_name,
     "expected one of val_loss, val_accuracy, train_loss"},
};
enum { NSETTINGS = (int)(sizeof settings / sizeof settings[0]) };

/* The int a setting's field holds in c. */
static int field(const dpt_config *c, const char *key)
{
    if (strcmp(key, "data.format") == 0)
        return (int)c->data.format;
    if (strcmp(key, "data.synthetic") == 0)
        return (int)c->data.synthetic;
    if (strcmp(key, "model.init") == 0)
        return (int)c->model.init;
    if (strcmp(key, "model.conv_algorithm") == 0)
        return (int)c->model.conv_algorithm;
    if (strcmp(key, "loss.kind") == 0)
        return (int)c->loss.kind;
    if (strcmp(key, "optimizer.kind") == 0)
        return (int)c->optim.kind;
    if (strcmp(key, "schedule.kind") == 0)
        return (int)c->sched.kind;
    if (strcmp(key, "training.nonfinite") == 0)
        return (int)c->train.nonfinite;
    if (strcmp(key, "early_stopping.metric") == 0)
        return (int)c->early.metric;
    ck_abort_msg("no field for %s", key);
    return -1;
}

/* 1 if config.ini as dpt_config_write prints c has "key = value" under [section]. */
static int written(const dpt_config *c, const char *key, const char *value)
{
    char *buf = NULL, want[128], sec[64];
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    dpt_config_write(f, c);
    fclose(f);
    const char *dot = strchr(key, '.');
    snprintf(sec, sizeof sec, "\n[%.*s]\n", (int)(dot - key), key);
    snprintf(want, sizeof want, "\n%s = %s\n", dot + 1, value);
    const char *s = strstr(buf, sec), *next = s ? strstr(s + 1, "\n[") : NULL, *hit = s ? strstr(s, want) : NULL;
    int ok = hit && (!next || hit < next);
    free(buf);
    return ok;
}

START_TEST(t_every_name_round_trips)
{
    for (int s = 0; s < NSETTINGS; s++) {
        const setting *st = &settings[s];
        int n = 0;
        for (; st->names[n]; n++) {
            char set[128], upper[32];
            dpt_config c;
            dpt_err e = {0};
            if (st->name)
                ck_assert_str_eq(st->name(n), st->names[n]);
            /* any case reads; the table's spelling is written */
            for (size_t i = 0; i <= strlen(st->names[n]); i++)
                upper[i] = (char)toupper((unsigned char)st->names[n][i]);
            dpt_config_defaults(&c);
            snprintf(set, sizeof set, "%s=%s", st->key, n % 2 ? upper : st->names[n]);
            ck_assert_msg(dpt_config_set(&c, set, &e) == DPT_OK, "%s: %s", set, e.msg);
            ck_assert_int_eq(field(&c, st->key), n);
            ck_assert_msg(written(&c, st->key, st->names[n]), "%s not written as %s", set, st->names[n]);
            /* and config.ini reads back to the same value */
            char *buf = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&buf, &len);
            dpt_config_write(f, &c);
            fclose(f);
            dpt_config back;
            dpt_config_defaults(&back);
            ck_assert_msg(dpt_config_load_string(&back, buf, "config.ini", &e) == DPT_OK, "%s", e.msg);
            ck_assert_int_eq(field(&back, st->key), field(&c, st->key));
            free(buf);
        }
        if (st->name) {
            ck_assert_ptr_null(st->name(n));
            ck_assert_ptr_null(st->name(-1));
        }
    }
    dpt_config c;
    dpt_err e = {0};
    dpt_config_defaults(&c);
    ck_assert_int_eq(dpt_config_set(&c, "training.nonfinite=skip", &e), DPT_OK);
    ck_assert_int_eq(c.train.nonfinite, DPT_NONFINITE_SKIP);
    ck_assert_int_eq(dpt_config_set(&c, "training.nonfinite=stop", &e), DPT_OK);
    ck_assert_int_eq(c.train.nonfinite, DPT_NONFINITE_STOP);
}
END_TEST

START_TEST(t_unknown_name_same_message)
{
    for (int s = 0; s < NSETTINGS; s++) {
        const setting *st = &settings[s];
        char text[128], want[256];
        const char *dot = strchr(st->key, '.');
        dpt_config c;
        dpt_err e = {0};
        dpt_config_defaults(&c);
        snprintf(text, sizeof text, "[%.*s]\n%s = bogus\n", (int)(dot - st->key), st->key, dot + 1);
        ck_assert_int_eq(dpt_config_load_string(&c, text, "b.ini", &e), DPT_FAIL);
        snprintf(want, sizeof want, "b.ini:2: %s = 'bogus': %s", st->key, st->bad);
        ck_assert_str_eq(e.msg, want);
        snprintf(text, sizeof text, "%s=bogus", st->key);
        ck_assert_int_eq(dpt_config_set(&c, text, &e), DPT_FAIL);
        snprintf(want, sizeof want, "--set %s=bogus: %s", st->key, st->bad);
        ck_assert_str_eq(e.msg, want);
    }
    /* the modules' own parsers, as the library API offers them */
    dpt_err e = {0};
    dpt_loss_kind k;
    ck_assert_int_eq(dpt_loss_parse(&k, "hinge", &e), DPT_FAIL);
    ck_assert_str_eq(e.msg, "loss.kind = 'hinge': expected one of mse, cross_entropy");
    ck_assert_int_eq(dpt_loss_parse(&k, "cross_entropy", &e), DPT_OK);
    ck_assert_int_eq(k, DPT_LOSS_XENT);
    dpt_init_scheme sc;
    ck_assert_int_eq(dpt_init_scheme_parse(&sc, "lecun", &e), DPT_FAIL);
    ck_assert_str_eq(e.msg, "model.init = 'lecun': expected one of auto, xavier, he");
    ck_assert_int_eq(dpt_init_scheme_parse(&sc, "xavier", &e), DPT_OK);
    ck_assert_int_eq(sc, DPT_SCHEME_XAVIER);
}
END_TEST

/* The file names auto reads, as 65f24c3's format_of told them. */
START_TEST(t_formats_by_file_name)
{
    static const struct {
        const char *path;
        dpt_data_format f;
    } cases[] = {
        {"train-images-idx3-ubyte", DPT_FORMAT_IDX}, {"x.idx3-ubyte.gz", DPT_FORMAT_IDX},
        {"a.IDX1.gz", DPT_FORMAT_IDX}, {"labels.idx", DPT_FORMAT_IDX}, {"idx3-ubyte", DPT_FORMAT_IDX},
        {"a-UBYTE", DPT_FORMAT_IDX}, {"data/a.idx.csv", DPT_FORMAT_IDX}, {"x.npy", DPT_FORMAT_NPY},
        {"X.NPY.gz", DPT_FORMAT_NPY}, {"d.csv", DPT_FORMAT_CSV}, {"d.CSV.gz", DPT_FORMAT_CSV},
        {"csv.npy.csv", DPT_FORMAT_CSV}, {"d.svm", DPT_FORMAT_LIBSVM}, {"d.libsvm", DPT_FORMAT_LIBSVM},
        {"d.txt", DPT_FORMAT_LIBSVM}, {"dir.csv/what.dat", DPT_FORMAT_AUTO}, {"idx", DPT_FORMAT_AUTO},
        {".gz", DPT_FORMAT_AUTO}, {"a.gz", DPT_FORMAT_AUTO}, {"", DPT_FORMAT_AUTO},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(dpt_data_format_of(cases[i].path) == cases[i].f, "%s: %d, not %d", cases[i].path,
                      (int)dpt_data_format_of(cases[i].path), (int)cases[i].f);
    ck_assert(dpt_data_format_carries_targets(DPT_FORMAT_CSV));
    ck_assert(dpt_data_format_carries_targets(DPT_FORMAT_LIBSVM));
    ck_assert(!dpt_data_format_carries_targets(DPT_FORMAT_IDX));
    ck_assert(!dpt_data_format_carries_targets(DPT_FORMAT_NPY));
    ck_assert(!dpt_data_format_carries_targets(DPT_FORMAT_AUTO));
    ck_assert(!dpt_data_format_carries_targets((dpt_data_format)99));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("names");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, t_every_name_round_trips);
    tcase_add_test(tc, t_unknown_name_same_message);
    tcase_add_test(tc, t_formats_by_file_name);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
