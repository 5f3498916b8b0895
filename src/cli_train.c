/* dptrain train: resolve the experiment on rank 0, broadcast it, train,
 * checkpoint, evaluate on the test set and write the run's files. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dptrain/cli.h"
#include "dptrain/config.h"
#include "dptrain/log.h"
#include "dptrain/snapshot.h"
#include "dptrain/tensor.h"
#include "dptrain/train.h"
#include "dptrain/version.h"

enum { MAX_SETS = 64 };

typedef struct {
    const char *experiment;
    const char *sets[MAX_SETS];
    int nsets;
    const char *resume; /* "auto", a path, or NULL */
    const char *init;   /* warm start, or NULL */
} train_args;

static const char train_help[] =
    "usage: dptrain train [EXPERIMENT.ini] [--set section.key=value]... [--resume auto|PATH] [--init PATH]\n"
    "Trains the experiment (the built-in linear regression when none is given).\n"
    "  --set s.k=v     override one key of the experiment (wins over the file)\n"
    "  --resume auto   continue from the newest valid checkpoint of the run (fresh start if none)\n"
    "  --resume PATH   continue from that checkpoint\n"
    "  --init PATH     start from a checkpoint's parameters with a fresh optimizer\n"
    "Outputs go to RUN_DIR/NAME/ (run.dir, run.name): config.ini, metrics.jsonl, summary.json,\n"
    "checkpoints/step-N.safetensors and checkpoints/best.safetensors.\n";

/* The value of an option written "--opt VALUE" or "--opt=VALUE", or NULL if argv[*i] is not it. */
static const char *option(int argc, char **argv, int *i, const char *name, int *missing)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = 1;
        return NULL;
    }
    return argv[++*i];
}

static int parse_args(train_args *a, int argc, char **argv, dpt_err *e)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        int missing = 0;
        const char *v;
        if ((v = option(argc, argv, &i, "--set", &missing))) {
            if (a->nsets == MAX_SETS)
                return dpt_errf(e, "--set: at most %d overrides", MAX_SETS);
            a->sets[a->nsets++] = v;
        } else if ((v = option(argc, argv, &i, "--resume", &missing))) {
            a->resume = v;
        } else if ((v = option(argc, argv, &i, "--init", &missing))) {
            a->init = v;
        } else if (missing) {
            return dpt_errf(e, "train: %s needs a value (see dptrain train --help)", argv[i]);
        } else if (argv[i][0] == '-') {
            return dpt_errf(e, "train: unknown option '%s' (see dptrain train --help)", argv[i]);
        } else if (a->experiment) {
            return dpt_errf(e, "train: more than one experiment file ('%s', '%s')", a->experiment, argv[i]);
        } else {
            a->experiment = argv[i];
        }
    }
    if (a->resume && a->init)
        return dpt_errf(e, "train: --resume and --init exclude each other");
    return DPT_OK;
}

/* Rank 0 resolves the configuration; the others receive its bytes. */
static int resolve_config(dpt_config *c, const dpt_comm *comm, const train_args *a, dpt_err *e)
{
    int st = DPT_OK;
    memset(c, 0, sizeof *c);
    if (comm->rank == 0) {
        dpt_config_defaults(c);
        st = a->experiment ? dpt_config_load_file(c, a->experiment, e)
                           : dpt_config_load_string(c, dpt_config_default_experiment(), "built-in", e);
        for (int i = 0; st == DPT_OK && i < a->nsets; i++)
            st = dpt_config_set(c, a->sets[i], e);
        if (st == DPT_OK)
            st = dpt_config_validate(c, e);
        if (st == DPT_OK)
            dpt_config_warn_unused(stderr, c);
        dpt_config_resolve(c);
    }
    if (dpt_comm_agree(comm, st, e) != DPT_OK)
        return DPT_FAIL;
    dpt_comm_bcast(comm, c, sizeof *c);
    return DPT_OK;
}

/* BLAS threads: the setting, or this node's cores shared among its ranks; never more than cores;
 * one in deterministic mode. And the floating-point mode. */
static void set_threads(dpt_config *c, const dpt_comm *comm)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    long n = c->train.threads > 0 ? c->train.threads : cores / comm->local_size;
    /* Threaded GEMMs round differently from single-threaded ones. */
    if (c->train.deterministic)
        n = 1;
    if (n > cores)
        n = cores;
    n = n < 1 ? 1 : n;
    /* This thread's loops (optimizer, activations, reductions); OpenBLAS's workers, started when
     * the library loaded, keep their own mode. */
    dpt_fp_flush_denormals(c->train.flush_denormals);
    dpt_blas_set_threads((int)n);
    c->train.threads = (int)n; /* config.ini records what was used */
}

typedef struct {
    dpt_log log;
    const dpt_comm *comm;
} session;

static void on_metrics(void *ctx, const dpt_trainer *t, const dpt_metrics *m)
{
    dpt_log_metrics(&((session *)ctx)->log, t, m);
}

static void on_progress(void *ctx, const dpt_trainer *t, double rate, double eta)
{
    dpt_log_progress(&((session *)ctx)->log, t, rate, eta);
}

static void on_note(void *ctx, const char *line)
{
    session *s = ctx;
    fprintf(stderr, "dptrain: rank %d: %s\n", s->comm->rank, line);
}

/* Renames an earlier run's checkpoint folder to DIR.before-YYYYmmdd-HHMMSS and makes a new one. */
static int set_aside(const char *dir, dpt_log *log, dpt_err *e)
{
    char aside[DPT_PATH_MAX + DPT_NAME_MAX + 128], stamp[32];
    time_t now = time(NULL);
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime(&now));
    snprintf(aside, sizeof aside, "%s.before-%s", dir, stamp);
    for (int k = 2; access(aside, F_OK) == 0 && k < 100; k++)
        snprintf(aside, sizeof aside, "%s.before-%s-%d", dir, stamp, k);
    if (rename(dir, aside) != 0 || mkdir(dir, 0777) != 0)
        return dpt_errf(e, "%s: cannot move an earlier run's checkpoints aside: %s", dir, strerror(errno));
    dpt_log_printf(log, "starting fresh: the earlier run's checkpoints are now in %s (use --resume auto to "
                        "continue a run)", aside);
    return DPT_OK;
}

/* Prepares the run directory and the checkpoint folder on rank 0 (agreed). */
static int open_run(dpt_trainer *t, session *s, const dpt_config *c, int append, dpt_err *e)
{
    dpt_log_env env = {s->comm->size, dpt_blas_info(), dpt_comm_library()};
    int st = dpt_log_open(&s->log, c, &env, s->comm->rank == 0, append, e);
    snprintf(t->ckpt_dir, sizeof t->ckpt_dir, "%s/checkpoints", s->log.dir);
    struct stat sb;
    if (st == DPT_OK && s->comm->rank == 0 && mkdir(t->ckpt_dir, 0777) != 0 &&
        (stat(t->ckpt_dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(t->ckpt_dir, W_OK) != 0))
        st = dpt_errf(e, "%s: cannot create the checkpoint directory", t->ckpt_dir);
    /* A fresh run must not mix its checkpoints with an earlier run's (resume would pick theirs):
     * the earlier ones move aside, kept, under a name that says when. */
    if (st == DPT_OK && s->comm->rank == 0 && !append && dpt_trainer_has_checkpoints(t))
        st = set_aside(t->ckpt_dir, &s->log, e);
    if (s->comm->rank != 0)
        t->ckpt_dir[0] = '\0';
    return dpt_comm_agree(s->comm, st, e);
}

static void add_metric(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
}

/* This process's peak resident memory in MiB (VmHWM), 0 if unknown. */
static double peak_rss_mib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %lf", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib / 1024.0;
}

/* Writes o as summary.json (rank 0's log; a failure is told) and frees it. */
static void save_summary(session *s, cJSON *o)
{
    char *text = cJSON_Print(o);
    dpt_err e;
    if (text && dpt_log_summary(&s->log, text, &e) != DPT_OK)
        on_note(s, e.msg);
    free(text);
    cJSON_Delete(o);
}

/* summary.json: where the run ended, its best validation point, test metrics, wall time and
 * the largest peak memory of any rank. */
static void write_summary(dpt_trainer *t, session *s, const dpt_eval_result *test, double wall)
{
    double rss = dpt_comm_max_d(s->comm, peak_rss_mib());
    cJSON *o = cJSON_CreateObject(), *fin = cJSON_AddObjectToObject(o, "final");
    cJSON_AddNumberToObject(o, "steps", (double)t->step);
    cJSON_AddNumberToObject(o, "epochs", (double)t->epoch);
    cJSON_AddNumberToObject(o, "skipped_steps", (double)t->skipped);
    cJSON_AddNumberToObject(o, "ranks", s->comm->size);
    cJSON_AddNumberToObject(o, "wall_s", wall);
    cJSON_AddNumberToObject(o, "peak_rss_mib_per_rank", rss);
    add_metric(fin, "train_loss", t->last.train_loss);
    add_metric(fin, "val_loss", t->last.val_loss);
    add_metric(fin, "val_accuracy", t->last.val_accuracy);
    if (test) {
        add_metric(fin, "test_loss", test->loss);
        if (t->test.nclasses > 0)
            add_metric(fin, "test_accuracy", test->accuracy);
    }
    if (!isnan(t->early.best)) {
        cJSON *best = cJSON_AddObjectToObject(o, "best");
        cJSON_AddStringToObject(best, "metric", t->cfg->early.metric);
        cJSON_AddNumberToObject(best, "value", t->early.best);
        cJSON_AddNumberToObject(best, "step", (double)t->early.best_step);
    }
    save_summary(s, o);
}

/* The classic closing lines of the linear regression: the fitted line and a few predictions. */
static void print_line_fit(dpt_trainer *t, session *s)
{
    if (strcmp(t->cfg->data.synthetic, "linreg") != 0 || t->model.nparams != 2 || s->comm->rank != 0)
        return;
    dpt_log_printf(&s->log, "learned weight %.4f  bias %.4f", t->model.params[0], t->model.params[1]);
    for (int i = 2; i <= 5; i++) {
        float x = (float)i; /* one row at a time: the model's buffers may hold fewer than four */
        dpt_log_printf(&s->log, "predict x = %d -> %.4f", i, dpt_model_forward(&t->model, &x, 1)[0]);
    }
}

static void finish(dpt_trainer *t, session *s, double t0)
{
    dpt_eval_result test, *tp = NULL;
    if (t->test.n) {
        test = dpt_trainer_eval(t, 1);
        tp = &test;
        if (t->test.nclasses > 0)
            dpt_log_printf(&s->log, "test: loss %.6g  accuracy %.4f (%.0f samples)", test.loss, test.accuracy,
                           test.count);
        else
            dpt_log_printf(&s->log, "test: loss %.6g (%.0f samples)", test.loss, test.count);
    }
    print_line_fit(t, s);
    write_summary(t, s, tp, dpt_comm_time() - t0);
    if (s->comm->rank == 0)
        dpt_log_printf(&s->log, "run directory: %s", s->log.dir);
}

static int train_once(const dpt_config *c, const train_args *a, session *s, dpt_err *e)
{
    dpt_trainer t;
    double t0 = dpt_comm_time();
    if (dpt_trainer_init(&t, c, s->comm, -1, e) != DPT_OK)
        return DPT_FAIL;
    t.on_metrics = on_metrics;
    t.on_progress = on_progress;
    t.on_note = on_note;
    t.ctx = s;
    char path[sizeof t.ckpt_dir + 64] = "";
    int st = open_run(&t, s, c, a->resume != NULL, e), resumed = 0;
    if (st == DPT_OK && a->resume && strcmp(a->resume, "auto") == 0) {
        resumed = dpt_trainer_resume_auto(&t, path, sizeof path, e);
        if (!resumed)
            dpt_log_printf(&s->log, "no checkpoint in %s: starting fresh", s->log.dir);
    } else if (st == DPT_OK && a->resume) {
        snprintf(path, sizeof path, "%s", a->resume);
        st = dpt_trainer_restore(&t, path, 0, e);
        resumed = st == DPT_OK;
    }
    if (resumed) {
        dpt_log_printf(&s->log, "resumed from %s at step %lld", path, (long long)t.step);
        dpt_log_trim(&s->log, t.step);
    }
    if (st == DPT_OK && a->init)
        st = dpt_trainer_restore(&t, a->init, 1, e);
    if (st == DPT_OK) {
        dpt_log_printf(&s->log, "dptrain %s: %s on %d rank%s (%s), %zu parameters, %zu training samples, %lld steps",
                       DPT_VERSION, a->experiment ? a->experiment : "built-in linear regression", s->comm->size,
                       s->comm->size == 1 ? "" : "s", dpt_trainer_reduction(&t), t.model.nparams, t.ntrain,
                       (long long)t.total_steps);
        st = dpt_trainer_run(&t, e);
    }
    if (st == DPT_OK)
        finish(&t, s, t0);
    dpt_log_close(&s->log);
    dpt_trainer_free(&t);
    return st;
}

/* k-fold cross-validation: one model per fold, each fold's validation metrics, then mean and std. */
/* summary.json of a cross-validation: each fold's validation metrics, their mean and deviation. */
static void write_cv_summary(session *s, int k, const double *loss, const double *acc, int classify)
{
    cJSON *o = cJSON_CreateObject(), *folds = cJSON_AddArrayToObject(o, "folds");
    double m[2] = {0, 0}, v[2] = {0, 0};
    for (int f = 0; f < k; f++) {
        cJSON *one = cJSON_CreateObject();
        cJSON_AddNumberToObject(one, "val_loss", loss[f]);
        if (classify)
            cJSON_AddNumberToObject(one, "val_accuracy", acc[f]);
        cJSON_AddItemToArray(folds, one);
        m[0] += loss[f] / k, m[1] += acc[f] / k;
    }
    for (int f = 0; f < k; f++)
        v[0] += (loss[f] - m[0]) * (loss[f] - m[0]) / k, v[1] += (acc[f] - m[1]) * (acc[f] - m[1]) / k;
    cJSON_AddNumberToObject(o, "val_loss_mean", m[0]);
    cJSON_AddNumberToObject(o, "val_loss_std", sqrt(v[0]));
    if (classify) {
        cJSON_AddNumberToObject(o, "val_accuracy_mean", m[1]);
        cJSON_AddNumberToObject(o, "val_accuracy_std", sqrt(v[1]));
    }
    cJSON_AddNumberToObject(o, "ranks", s->comm->size);
    dpt_log_printf(&s->log, "cross-validation over %d folds: val_loss %.6g +- %.3g", k, m[0], sqrt(v[0]));
    if (classify)
        dpt_log_printf(&s->log, "cross-validation over %d folds: val_accuracy %.4f +- %.4f", k, m[1], sqrt(v[1]));
    save_summary(s, o);
}

/* k-fold cross-validation: one model per fold, its metrics in metrics.jsonl (with "fold"), each
 * fold's validation metrics, then mean and std in summary.json. No checkpoints. */
static int cross_validate(const dpt_config *c, session *s, dpt_err *e)
{
    int k = c->data.kfold, classify = 0, st = DPT_OK;
    double *loss = calloc((size_t)k, sizeof(double)), *acc = calloc((size_t)k, sizeof(double));
    dpt_log_env env = {s->comm->size, dpt_blas_info(), dpt_comm_library()};
    if (!loss || !acc)
        dpt_comm_abort(s->comm, "out of memory for %d folds", k);
    if (dpt_comm_agree(s->comm, dpt_log_open(&s->log, c, &env, s->comm->rank == 0, 0, e), e) != DPT_OK)
        st = DPT_FAIL;
    for (int f = 0; st == DPT_OK && f < k; f++) {
        dpt_trainer t;
        s->log.fold = f + 1;
        if (dpt_trainer_init(&t, c, s->comm, f, e) != DPT_OK) {
            st = DPT_FAIL;
            break;
        }
        t.on_metrics = on_metrics;
        t.ctx = s;
        if (dpt_trainer_run(&t, e) != DPT_OK) {
            dpt_trainer_free(&t);
            st = DPT_FAIL;
            break;
        }
        dpt_eval_result r = dpt_trainer_eval(&t, 0);
        classify = t.train.nclasses > 0;
        loss[f] = r.loss;
        acc[f] = r.accuracy;
        if (classify)
            dpt_log_printf(&s->log, "fold %d/%d: val_loss %.6g  val_accuracy %.4f", f + 1, k, r.loss, r.accuracy);
        else
            dpt_log_printf(&s->log, "fold %d/%d: val_loss %.6g", f + 1, k, r.loss);
        dpt_trainer_free(&t);
    }
    if (st == DPT_OK)
        write_cv_summary(s, k, loss, acc, classify);
    dpt_log_close(&s->log);
    free(loss);
    free(acc);
    return st;
}

int dpt_cli_train(const dpt_comm *comm, int argc, char **argv, dpt_err *e)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            if (comm->rank == 0)
                fputs(train_help, stdout);
            return DPT_OK;
        }
    train_args a;
    static dpt_config c; /* large; one per process */
    session s = {.comm = comm};
    if (dpt_comm_agree(comm, parse_args(&a, argc, argv, e), e) != DPT_OK ||
        resolve_config(&c, comm, &a, e) != DPT_OK)
        return DPT_FAIL;
    set_threads(&c, comm);
    c.train.bucket_mb = dpt_trainer_bucket_mb(&c, comm); /* config.ini records what auto meant */
    if (c.data.kfold > 0) {
        if (a.resume || a.init)
            return dpt_errf(e, "train: --resume and --init do not apply to k-fold cross-validation (data.kfold)");
        return cross_validate(&c, &s, e);
    }
    return train_once(&c, &a, &s, e);
}
