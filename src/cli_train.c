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
#include "dptrain/replicas.h"
#include "dptrain/snapshot.h"
#include "dptrain/tensor.h"
#include "dptrain/train.h"
#include "dptrain/version.h"


typedef struct {
    const char *experiment;
    const char *sets[DPT_CONFIG_SETS_MAX];
    int nsets;
    const char *resume; /* "auto", a path, or NULL */
    const char *init;   /* warm start, or NULL */
} train_args;

static const char train_help[] =
    "usage: dptrain train [EXPERIMENT.ini] [--set section.key=value]... [--resume auto|PATH] [--init PATH]\n"
    "Trains the experiment (the built-in linear regression when none is given).\n"
    "  --set s.k=v     override one key of the experiment (wins over the file)\n"
    "  --resume auto   continue from the newest valid checkpoint of the run (a fresh run if none\n"
    "                  reads; refused if it is another model's or optimizer's)\n"
    "  --resume PATH   continue from that checkpoint\n"
    "  --init PATH     start from a checkpoint's parameters with a fresh optimizer\n"
    "Outputs go to RUN_DIR/NAME/ (run.dir, run.name): config.ini, metrics.jsonl, summary.json,\n"
    "checkpoints/step-N.safetensors and checkpoints/best.safetensors; a fresh run first moves an\n"
    "earlier run there into previous-N/. One run at a time holds the directory (run.lock).\n";

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
            if (dpt_config_add_set(a->sets, &a->nsets, v, e) != DPT_OK)
                return DPT_FAIL;
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
    long n = c->train.threads > 0 ? c->train.threads : dpt_comm_cores_per_rank(comm);
    /* Threaded GEMMs round differently from single-threaded ones: deterministic mode computes
     * several of its blocks at once instead, one per thread (training.sample_threads). */
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
    dpt_record record;    /* what produced the run (rank 0's; empty elsewhere) */
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

/* Locks the run directory and clears what an interrupted write left there (rank 0, agreed);
 * names the checkpoint folder on rank 0, the only rank that writes. */
static int open_run(dpt_trainer *t, session *s, const dpt_config *c, dpt_err *e)
{
    int st = dpt_log_open(&s->log, c, s->comm->rank == 0, e);
    if (s->comm->rank == 0)
        snprintf(t->ckpt_dir, sizeof t->ckpt_dir, "%s/checkpoints", s->log.dir);
    return dpt_comm_agree(s->comm, st, e);
}

/* Starts the run's files on rank 0 (agreed). A run that does not continue this directory's own
 * timeline first moves the earlier run's files, all of them, into previous-N/: nothing of it is
 * lost, and --resume auto (which looks only in checkpoints/) never mixes two runs. */
static int start_run(dpt_trainer *t, session *s, const dpt_config *c, int append, dpt_err *e)
{
    dpt_log_env env = {s->comm->size, &s->record};
    char moved[sizeof s->log.dir + 32] = "";
    struct stat sb;
    int st = DPT_OK;
    if (s->comm->rank == 0 && !append && (st = dpt_log_set_aside(&s->log, moved, sizeof moved, e)) == DPT_OK &&
        moved[0])
        dpt_log_printf(&s->log, "starting fresh: the earlier run in %s is now in %s (--resume auto continues a run)",
                       s->log.dir, moved);
    if (st == DPT_OK && s->comm->rank == 0 && mkdir(t->ckpt_dir, 0777) != 0 &&
        (stat(t->ckpt_dir, &sb) != 0 || !S_ISDIR(sb.st_mode) || access(t->ckpt_dir, W_OK) != 0))
        st = dpt_errf(e, "%s: cannot create the checkpoint directory", t->ckpt_dir);
    if (st == DPT_OK)
        st = dpt_log_start(&s->log, c, &env, append, t->pos.step, e);
    return dpt_comm_agree(s->comm, st, e);
}

/* Whether path lies in directory dir (the same directory, by device and inode, not by name). */
static int in_dir(const char *path, const char *dir)
{
    char parent[DPT_PATH_MAX + DPT_NAME_MAX + 64];
    const char *slash = strrchr(path, '/');
    int n = slash ? (slash == path ? 1 : (int)(slash - path)) : 1;
    snprintf(parent, sizeof parent, "%.*s", n, slash ? path : ".");
    struct stat a, b;
    return stat(parent, &a) == 0 && stat(dir, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
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
    if (!text && s->comm->rank == 0)
        on_note(s, "summary.json not written: out of memory for its text");
    else if (text && dpt_log_summary(&s->log, text, &e) != DPT_OK)
        on_note(s, e.msg);
    free(text);
    cJSON_Delete(o);
}

/* Validation and test metrics of the model's current parameters into o; the test result in
 * *test when there is a test set (collective). */
static void model_metrics(dpt_trainer *t, cJSON *o, dpt_eval_result *test)
{
    if (t->nval) {
        dpt_eval_result r = dpt_trainer_eval(t, 0);
        add_metric(o, "val_loss", r.loss);
        if (t->train.nclasses > 0)
            add_metric(o, "val_accuracy", r.accuracy);
    }
    if (t->test.n) {
        *test = dpt_trainer_eval(t, 1);
        add_metric(o, "test_loss", test->loss);
        if (t->test.nclasses > 0)
            add_metric(o, "test_accuracy", test->accuracy);
    }
}

static void swap_floats(float *a, float *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float v = a[i];
        a[i] = b[i];
        b[i] = v;
    }
}

/* summary.json's "best": the best validation point, and the metrics of its parameters (evaluated
 * in place of the last step's, which come back after). */
static cJSON *best_summary(dpt_trainer *t, const cJSON *fin, dpt_eval_result *test)
{
    cJSON *best = cJSON_CreateObject();
    cJSON_AddStringToObject(best, "metric", dpt_early_metric_name(t->cfg->early.metric));
    cJSON_AddNumberToObject(best, "value", t->early.best);
    cJSON_AddNumberToObject(best, "step", (double)t->early.best_step);
    if (!t->best_params)
        return best;
    if (t->early.best_step == t->pos.step) { /* the last step was the best */
        const char *keys[] = {"val_loss", "val_accuracy", "test_loss", "test_accuracy"};
        for (int i = 0; i < 4; i++)
            if (cJSON_GetObjectItemCaseSensitive(fin, keys[i]))
                cJSON_AddItemToObject(best, keys[i], cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(fin, keys[i]), 1));
        return best;
    }
    /* Exchanged in place, not copied aside: a copy of the model could fail for want of memory
     * at the end of a whole run. */
    swap_floats(t->model.params, t->best_params, t->model.nparams);
    model_metrics(t, best, test);
    swap_floats(t->model.params, t->best_params, t->model.nparams);
    return best;
}

/* summary.json: "final" holds the last step's model (its checkpoint is the newest step-N),
 * "best" the best validation point's (best.safetensors), each with its own validation and test
 * metrics; "model" says which one the run ends with. Also the wall time and the largest peak
 * memory of any rank. Returns the test result of the model the run ends with (collective). */
static int write_summary(dpt_trainer *t, session *s, double wall, dpt_eval_result *test)
{
    double rss = dpt_comm_max_d(s->comm, peak_rss_mib());
    dpt_eval_result final_test = {0}, best_test = {0};
    cJSON *o = cJSON_CreateObject(), *fin = cJSON_CreateObject(), *best = NULL;
    cJSON_AddNumberToObject(fin, "step", (double)t->pos.step);
    cJSON_AddNumberToObject(fin, "epoch", (double)t->pos.epoch);
    add_metric(fin, "train_loss", t->last.train_loss);
    model_metrics(t, fin, &final_test);
    if (!isnan(t->early.best))
        best = best_summary(t, fin, &best_test);
    int restored = dpt_trainer_use_best(t);
    *test = restored ? best_test : final_test;
    cJSON_AddNumberToObject(o, "steps", (double)t->pos.step);
    cJSON_AddNumberToObject(o, "epochs", (double)t->pos.epoch);
    cJSON_AddNumberToObject(o, "skipped_steps", (double)t->pos.skipped);
    cJSON_AddBoolToObject(o, "stopped_early", t->pos.stopped);
    cJSON_AddStringToObject(o, "model", restored ? "best" : "final");
    cJSON_AddNumberToObject(o, "ranks", s->comm->size);
    cJSON_AddNumberToObject(o, "wall_s", wall);
    cJSON_AddNumberToObject(o, "peak_rss_mib_per_rank", rss);
    cJSON_AddItemToObject(o, "final", fin);
    if (best)
        cJSON_AddItemToObject(o, "best", best);
    save_summary(s, o);
    return restored;
}

/* The classic closing lines of the linear regression: the fitted line and a few predictions. */
static void print_line_fit(dpt_trainer *t, session *s)
{
    if (t->cfg->data.synthetic != DPT_SYNTH_LINREG || t->model.nparams != 2 || s->comm->rank != 0)
        return;
    dpt_log_printf(&s->log, "learned weight %.4f  bias %.4f", t->model.params[0], t->model.params[1]);
    for (int i = 2; i <= 5; i++) {
        float x = (float)i; /* one row at a time: the model's buffers may hold fewer than four */
        dpt_log_printf(&s->log, "predict x = %d -> %.4f", i, dpt_model_forward(&t->model, &x, 1)[0]);
    }
}

/* Says how early stopping ended the run and which model the run ends with. */
static void tell_stop(dpt_trainer *t, session *s, int restored)
{
    const dpt_config *c = t->cfg;
    long long epoch = (long long)t->pos.epoch + (t->pos.batch_in_epoch > 0); /* 1-based, mid-epoch or not */
    if (t->pos.stopped && c->early.metric == DPT_METRIC_TRAIN_LOSS)
        dpt_log_printf(&s->log, "stopped early at step %lld of %lld (epoch %lld): train_loss did not improve by more "
                       "than tol %g in %lld epochs in a row (more than n_iter_no_change %lld)", (long long)t->pos.step,
                       (long long)t->total_steps, epoch, c->early.tol, (long long)t->early.bad,
                       (long long)c->early.n_iter_no_change);
    else if (t->pos.stopped)
        dpt_log_printf(&s->log, "stopped early at step %lld of %lld (epoch %lld): %s did not improve by more than %g "
                       "in %lld validations", (long long)t->pos.step, (long long)t->total_steps, epoch,
                       dpt_early_metric_name(c->early.metric), c->early.min_delta, (long long)c->early.patience);
    if (restored)
        dpt_log_printf(&s->log, "restored the model of step %lld (best %s %.6g, best.safetensors); the last step's "
                       "model stays in the newest checkpoint", (long long)t->early.best_step,
                       dpt_early_metric_name(c->early.metric),
                       t->early.best);
}

static void finish(dpt_trainer *t, session *s, double t0)
{
    dpt_eval_result test;
    int restored = write_summary(t, s, dpt_comm_time() - t0, &test);
    tell_stop(t, s, restored);
    long long of = (long long)(restored ? t->early.best_step : t->pos.step);
    if (t->test.n && t->test.nclasses > 0)
        dpt_log_printf(&s->log, "test: loss %.6g  accuracy %.4f (%.0f samples, model of step %lld)", test.loss,
                       test.accuracy, test.count, of);
    else if (t->test.n)
        dpt_log_printf(&s->log, "test: loss %.6g (%.0f samples, model of step %lld)", test.loss, test.count, of);
    print_line_fit(t, s);
    if (s->comm->rank == 0)
        dpt_log_printf(&s->log, "run directory: %s", s->log.dir);
}

/* training.trace, written by rank 0 into the run directory unless the path is absolute (collective).
 * A trace that cannot be written is told, and the finished run is reported all the same. */
static void write_trace(const dpt_trainer *t, session *s)
{
    const char *path = t->cfg->train.trace;
    char full[sizeof s->log.dir + DPT_PATH_MAX + 2];
    dpt_err e = {0};
    snprintf(full, sizeof full, "%s%s%s", path[0] == '/' ? "" : s->log.dir, path[0] == '/' ? "" : "/", path);
    if (dpt_trace_write(&t->trace, s->comm, full, &e) != DPT_OK)
        dpt_log_printf(&s->log, "trace not written: %s", e.msg);
    else if (t->trace.ev)
        dpt_log_printf(&s->log, "trace of steps %s: %s", t->cfg->train.trace_steps, full);
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
    dpt_trainer_record_data(&t, &s->record);
    t.record = &s->record;
    char path[sizeof t.ckpt_dir + 64] = "";
    int st = open_run(&t, s, c, e), resumed = 0, append = 0;
    if (st == DPT_OK && a->resume && strcmp(a->resume, "auto") == 0) {
        int r = dpt_trainer_resume_auto(&t, path, sizeof path, e);
        st = r < 0 ? DPT_FAIL : DPT_OK;
        resumed = append = r == 1;
        if (r == 0)
            dpt_log_printf(&s->log, "no usable checkpoint in %s: starting fresh", t.ckpt_dir);
    } else if (st == DPT_OK && a->resume) {
        snprintf(path, sizeof path, "%s", a->resume);
        st = dpt_trainer_restore(&t, path, 0, e);
        resumed = st == DPT_OK;
        /* Only a checkpoint of this run directory continues its timeline; any other starts a new run
         * here (read already, so setting the earlier run aside cannot move it from under us). */
        append = resumed && s->comm->rank == 0 && in_dir(path, t.ckpt_dir);
    }
    /* A warm start's file too is read before an earlier run (it may be in it) moves aside. */
    if (st == DPT_OK && a->init)
        st = dpt_trainer_restore(&t, a->init, 1, e);
    if (st == DPT_OK)
        st = start_run(&t, s, c, append, e);
    if (st == DPT_OK && resumed)
        dpt_log_printf(&s->log, "resumed from %s at step %lld", path, (long long)t.pos.step);
    if (st == DPT_OK) {
        char where[48] = "";
        if (s->comm->nodes > 1)
            snprintf(where, sizeof where, " over %d nodes", s->comm->nodes);
        dpt_log_printf(&s->log, "dptrain %s: %s on %d rank%s%s (%s), %zu parameters, %zu training samples, %lld steps",
                       DPT_VERSION, a->experiment ? a->experiment : "built-in linear regression", s->comm->size,
                       s->comm->size == 1 ? "" : "s", where, dpt_trainer_reduction(&t), t.model.nparams, t.ntrain,
                       (long long)t.total_steps);
        if (t.model.notes[0]) /* what the model did on its own, e.g. an implicit flatten */
            dpt_log_printf(&s->log, "model: %s", t.model.notes);
        if (dpt_replicas_threads(t.src.replicas) > 1)
            dpt_log_printf(&s->log, c->train.deterministic
                                        ? "each rank computes %d of its blocks at once (training.sample_threads)"
                                        : "each rank's samples split over %d threads (training.sample_threads)",
                           dpt_replicas_threads(t.src.replicas));
        st = dpt_trainer_run(&t, e);
    }
    if (st == DPT_OK) {
        write_trace(&t, s);
        finish(&t, s, t0);
    }
    dpt_log_close(&s->log);
    dpt_trainer_free(&t);
    return st;
}

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
    dpt_log_env env = {s->comm->size, &s->record};
    char moved[sizeof s->log.dir + 32] = "";
    if (!loss || !acc)
        st = dpt_errf(e, "data.kfold = %d: out of memory for the folds' metrics", k);
    if (st == DPT_OK)
        st = dpt_log_open(&s->log, c, s->comm->rank == 0, e);
    if (st == DPT_OK && (st = dpt_log_set_aside(&s->log, moved, sizeof moved, e)) == DPT_OK && moved[0])
        dpt_log_printf(&s->log, "starting fresh: the earlier run in %s is now in %s", s->log.dir, moved);
    if (st == DPT_OK)
        st = dpt_log_start(&s->log, c, &env, 0, 0, e);
    st = dpt_comm_agree(s->comm, st, e);
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
        dpt_trainer_use_best(&t);
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

/* What a run settles once its ranks are known: threads, the bucket size, the record. */
static void prepare(dpt_config *c, session *s)
{
    dpt_cli_set_threads(c, s->comm);
    dpt_record_collect(&s->record, s->comm);
}

int dpt_cli_train_config(const dpt_comm *comm, dpt_config *c, const char *resume, const char *label, dpt_err *e)
{
    static session s; /* large; one run at a time per process */
    train_args a = {.experiment = label, .resume = resume};
    memset(&s, 0, sizeof s);
    s.comm = comm;
    prepare(c, &s);
    return train_once(c, &a, &s, e);
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
    static session s;    /* likewise */
    s.comm = comm;
    if (dpt_comm_agree(comm, parse_args(&a, argc, argv, e), e) != DPT_OK ||
        resolve_config(&c, comm, &a, e) != DPT_OK)
        return DPT_FAIL;
    if (dpt_comm_agree(comm, dpt_comm_watchdog_start(comm, c.train.timeout, e), e) != DPT_OK)
        return DPT_FAIL;
    prepare(&c, &s);
    if (c.data.kfold > 0) {
        if (a.resume || a.init)
            return dpt_errf(e, "train: --resume and --init do not apply to k-fold cross-validation (data.kfold)");
        if (c.train.trace[0])
            return dpt_errf(e, "training.trace = '%s': not written in k-fold cross-validation (data.kfold); trace "
                            "one run without it", c.train.trace);
        return cross_validate(&c, &s, e);
    }
    return train_once(&c, &a, &s, e);
}

/* For the other commands that run an experiment (lr-find): the same reading, options and threads. */

const char *dpt_cli_option(int argc, char **argv, int *i, const char *name, int *missing)
{
    return option(argc, argv, i, name, missing);
}

int dpt_cli_resolve(dpt_config *c, const dpt_comm *comm, const char *experiment, const char *const *sets, int nsets,
                    dpt_err *e)
{
    train_args a = {.experiment = experiment};
    for (int i = 0; i < nsets; i++)
        if (dpt_config_add_set(a.sets, &a.nsets, sets[i], e) != DPT_OK)
            return DPT_FAIL;
    return resolve_config(c, comm, &a, e);
}

void dpt_cli_set_threads(dpt_config *c, const dpt_comm *comm)
{
    set_threads(c, comm);
    c->train.bucket_mb = dpt_reducer_bucket_mb(c, comm); /* config.ini records what auto meant */
}
