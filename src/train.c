/* The training loop. Every rank runs the same sequence of collectives: the
 * values that steer control flow (loss, gradient norm, validation metrics)
 * are reduced before they are looked at, so all ranks decide alike. */
#include "dptrain/train.h"

#include "dptrain/replicas.h"
#include "dptrain/snapshot.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int load_set(dpt_dataset *ds, const dpt_config *c, const char *path, const char *targets,
                    int nclasses, dpt_err *e)
{
    dpt_data_opts o = {
        .format = c->data.format, .path = path, .targets = targets, .label = c->data.label,
        .header = c->data.header, .task = c->data.task, .nclasses = nclasses,
        .nfeatures = (size_t)c->data.features,
    };
    return dpt_data_load(ds, &o, e);
}

/* Training and test sets, validation split or fold, standardization fitted on training rows only. */
static int load_data(dpt_trainer *t, int fold, dpt_err *e)
{
    const dpt_config *c = t->cfg;
    if (c->data.synthetic == DPT_SYNTH_LINREG) {
        if (dpt_data_linreg(&t->train, (size_t)c->data.synthetic_samples, dpt_config_data_seed(c), e) != DPT_OK)
            return DPT_FAIL;
    } else if (load_set(&t->train, c, c->data.train, c->data.train_targets, c->data.classes, e) != DPT_OK) {
        return DPT_FAIL;
    }
    if (c->data.test[0] &&
        load_set(&t->test, c, c->data.test, c->data.test_targets, t->train.nclasses, e) != DPT_OK)
        return DPT_FAIL;
    if (t->test.n && t->test.d != t->train.d)
        return dpt_errf(e, "data.test: %zu features per sample, but data.train has %zu", t->test.d,
                        t->train.d);
    if (t->test.n && t->test.tdim != t->train.tdim)
        return dpt_errf(e, "data.test: %zu targets per sample, but data.train has %zu", t->test.tdim,
                        t->train.tdim);
    int split = fold >= 0 ? dpt_data_kfold(&t->train_idx, &t->ntrain, &t->val_idx, &t->nval, &t->train,
                                           c->data.kfold, fold, dpt_config_data_seed(c), e)
              : c->data.val_fraction > 0
                  ? dpt_data_split(&t->train_idx, &t->ntrain, &t->val_idx, &t->nval, &t->train,
                                   c->data.val_fraction, dpt_config_data_seed(c), e)
                  : DPT_OK;
    if (split != DPT_OK)
        return DPT_FAIL;
    if (!t->train_idx)
        t->ntrain = t->train.n;
    if (c->early.patience > 0 && c->early.metric != DPT_METRIC_TRAIN_LOSS && !t->nval)
        return dpt_errf(e, "early_stopping.patience: data.val_fraction = %g of %zu samples leaves no validation "
                        "sample", c->data.val_fraction, t->train.n);
    if (c->sched.kind == DPT_SCHED_PLATEAU && !t->nval)
        return dpt_errf(e, "schedule.kind = plateau: data.val_fraction = %g of %zu samples leaves no validation "
                        "sample to watch", c->data.val_fraction, t->train.n);
    if (t->ntrain < (size_t)t->comm->size)
        return dpt_errf(e, "data.train: %zu training samples for %d ranks: need at least one per rank",
                        t->ntrain, t->comm->size);
    if (c->data.standardize) {
        if (dpt_data_fit_standardize(&t->train, t->train_idx, t->ntrain, e) != DPT_OK)
            return DPT_FAIL;
        if (t->test.n) {
            t->test.mean = malloc(sizeof(float) * t->train.d);
            t->test.std = malloc(sizeof(float) * t->train.d);
            if (!t->test.mean || !t->test.std)
                return dpt_errf(e, "data: out of memory");
            memcpy(t->test.mean, t->train.mean, sizeof(float) * t->train.d);
            memcpy(t->test.std, t->train.std, sizeof(float) * t->train.d);
        }
    }
    return DPT_OK;
}

/* With data.classes = auto one mistyped label sets the class count: name the sample (its index in
 * the file, 0-based) and the label that the model's outputs cannot hold. */
static int label_beyond(const dpt_trainer *t, dpt_err *e)
{
    const dpt_config *c = t->cfg;
    const dpt_dataset *ds = &t->train;
    const char *file = c->data.train_targets[0] ? c->data.train_targets : c->data.train;
    size_t i = 0;
    while (i + 1 < ds->n && ds->y[i] < (float)t->model.out_dim)
        i++;
    return dpt_errf(e, "%s: sample %zu (counting from 0) has class label %g, beyond the %d outputs of model.layers (labels 0..%d); "
                       "fix the label, or widen the last layer", file, i, (double)ds->y[i], t->model.out_dim,
                    t->model.out_dim - 1);
}

/* The model must learn something, and its output must fit the targets: one logit per class, or
 * one output per target. */
static int check_shapes(const dpt_trainer *t, dpt_err *e)
{
    const dpt_dataset *ds = &t->train;
    char at[DPT_PATH_MAX + 256];
    dpt_config_where(at, sizeof at, t->cfg, "model.layers");
    if (t->model.nparams == 0)
        return dpt_errf(e, "%s: no layer has parameters, so there is nothing to train (add a dense layer)", at);
    if (t->src.loss == DPT_LOSS_XENT) {
        if (ds->nclasses <= 0)
            return dpt_errf(e, "loss.kind = cross_entropy needs class labels (data.task = classify)");
        if (t->model.out_dim < ds->nclasses && t->cfg->data.classes == 0)
            return label_beyond(t, e);
        /* outputs past the stated classes would take probability no label can earn */
        if (t->model.out_dim < ds->nclasses || (t->cfg->data.classes > 0 && t->model.out_dim != ds->nclasses))
            return dpt_errf(e, "%s: the last layer has %d outputs but data.classes is %d", at, t->model.out_dim,
                            ds->nclasses);
    } else if ((size_t)t->model.out_dim != ds->tdim) {
        return dpt_errf(e, "%s: the last layer has %d outputs but each sample has %zu targets", at,
                        t->model.out_dim, ds->tdim);
    }
    return DPT_OK;
}

/* A batch or a warmup longer than what it measures is a mistake, not something to clamp. */
static int check_lengths(const dpt_trainer *t, dpt_err *e)
{
    const dpt_config *c = t->cfg;
    char at[DPT_PATH_MAX + 256];
    if (c->train.batch > 0 && (uint64_t)c->train.batch > t->ntrain)
        return dpt_errf(e, "%s: larger than the %zu training samples%s", dpt_config_where(at, sizeof at, c,
                        "training.batch"), t->ntrain, t->nval ? " (after the validation split)" : "");
    if (c->sched.warmup > t->total_steps)
        return dpt_errf(e, "%s: longer than the run's %lld steps", dpt_config_where(at, sizeof at, c,
                        "schedule.warmup"), (long long)t->total_steps);
    return DPT_OK;
}

int dpt_trainer_plan_reduction(dpt_trainer *t, dpt_err *e)
{
    const dpt_config *c = t->cfg;
    if (dpt_reducer_new(&t->reducer, c, t->comm, &t->src, e) != DPT_OK)
        return DPT_FAIL;
    t->fused = dpt_trainer_fused(c, t->reducer);
    /* The rank's BLAS threads also share the averaging and the update, unless told otherwise. */
    int threads = c->train.update_threads > 0 ? c->train.update_threads : c->train.threads;
    return dpt_comm_agree(t->comm, dpt_update_init(&t->update, t->reducer, threads, &t->trace, e), e);
}

const char *dpt_trainer_reduction(const dpt_trainer *t)
{
    return t->reducer->name;
}

int dpt_trainer_split_samples(dpt_trainer *t, size_t max_batch, dpt_err *e)
{
    const dpt_config *c = t->cfg;
    dpt_grad_source *src = &t->src;
    /* Deterministic mode computes as many of its blocks at once as it has sample threads (its
     * BLAS runs on one thread: threaded GEMMs round differently). */
    int want = c->train.sample_threads;
    if (want > DPT_DET_WAVE)
        return dpt_errf(e, "training.sample_threads = %d: at most %d threads", want, DPT_DET_WAVE);
    int split = want > 0 ? want
                : c->train.deterministic ? dpt_comm_cores_per_rank(t->comm)
                                         : dpt_replicas_auto(&t->model, c->train.threads);
    /* More threads than blocks (deterministic) or rows would only hold memory. */
    long most = c->train.deterministic ? c->train.blocks / t->comm->size : (long)max_batch;
    split = split > most ? (int)(most > 1 ? most : 1) : split;
    split = split > DPT_DET_WAVE ? DPT_DET_WAVE : split;
    /* A thread takes a whole block in deterministic mode, else its share of the rank's rows. */
    size_t rows = c->train.deterministic ? max_batch : (max_batch + (size_t)split - 1) / (size_t)split;
    return dpt_replicas_new(&src->replicas, &t->model, c->model.layers, split, rows, t->train.d, t->train.tdim,
                            src->x, src->y, src->dout, e);
}

static int build(dpt_trainer *t, int fold, dpt_err *e)
{
    const dpt_config *c = t->cfg;
    dpt_grad_source *src = &t->src;
    src->loss = c->loss.kind;
    if (load_data(t, fold, e) != DPT_OK)
        return DPT_FAIL;
    size_t batch = c->train.batch > 0 && (size_t)c->train.batch < t->ntrain ? (size_t)c->train.batch
                                                                              : t->ntrain;
    size_t max_batch;
    if (dpt_reducer_max_rows(c, t->comm, batch, &max_batch, e) != DPT_OK)
        return DPT_FAIL;
    if (max_batch > (size_t)1 << 24)
        return dpt_errf(e, "training.batch: %zu samples per rank is too many", max_batch);
    size_t rows = max_batch; /* the model and x, y also serve evaluation, in chunks of its own size */
    if (rows < DPT_EVAL_ROWS)
        rows = DPT_EVAL_ROWS;
    if (t->train.d > INT_MAX) /* the model's widths are ints */
        return dpt_errf(e, "%s: %zu features per sample; a model takes at most %d", c->data.train, t->train.d,
                        INT_MAX);
    int in[3];
    if (dpt_data_sample_shape(in, &t->train, c->model.input_shape, c->data.train, e) != DPT_OK ||
        dpt_model_init_algo(&t->model, c->model.layers, (dpt_shape){in[0], in[1], in[2]}, (int)rows,
                            c->model.conv_algorithm, e) != DPT_OK ||
        check_shapes(t, e) != DPT_OK ||
        dpt_model_init_params(&t->model, dpt_config_init_seed(c), c->model.init, e) != DPT_OK ||
        dpt_optim_init(&t->opt, &c->optim, t->model.nparams, e) != DPT_OK ||
        dpt_sampler_init(&t->sampler, t->train_idx, t->ntrain, batch, c->data.shuffle, c->data.drop_last,
                         dpt_config_data_seed(c), e) != DPT_OK)
        return DPT_FAIL;
    *src = (dpt_grad_source){.model = &t->model, .data = &t->train, .sampler = &t->sampler, .loss = src->loss,
                             .accumulation = (int)c->train.accumulation, .seed = c->run.seed,
                             .step = &t->pos.step, .trace = &t->trace,
                             .correct = t->train.nclasses > 0 ? &t->correct_local : NULL};
    src->x = malloc(sizeof(float) * rows * t->train.d);
    src->y = malloc(sizeof(float) * rows * t->train.tdim);
    src->dout = malloc(sizeof(float) * max_batch * (size_t)t->model.out_dim);
    /* The best validation point is kept for early stopping and for best.safetensors. */
    int track_best = t->nval && c->early.metric != DPT_METRIC_TRAIN_LOSS && (c->early.patience > 0 || c->ckpt.keep_best);
    if (track_best)
        t->best_params = malloc(sizeof(float) * t->model.nparams);
    if (!src->x || !src->y || !src->dout || (track_best && !t->best_params))
        return dpt_errf(e, "train: out of memory for batch buffers");
    if (dpt_trainer_split_samples(t, max_batch, e) != DPT_OK)
        return DPT_FAIL;
    size_t per_epoch = dpt_sampler_nbatches(&t->sampler);
    if (per_epoch == 0)
        return dpt_errf(e, "training.batch: %zu samples with drop_last make no full batch of %zu",
                        t->ntrain, batch);
    if (c->train.steps == 0 && c->train.epochs > INT64_MAX / 4 / (int64_t)per_epoch)
        return dpt_errf(e, "training.epochs = %lld: too many steps to count", (long long)c->train.epochs);
    t->total_steps = c->train.steps > 0 ? c->train.steps : c->train.epochs * (int64_t)per_epoch;
    return check_lengths(t, e);
}

const char *dpt_trainer_data_source(const dpt_config *c, int k, const char **path)
{
    static const char *const keys[4] = {"data.train", "data.train_targets", "data.test", "data.test_targets"};
    const char *const paths[4] = {c->data.train, c->data.train_targets, c->data.test, c->data.test_targets};
    if (k < 2 && c->data.synthetic != DPT_SYNTH_NONE) {
        *path = dpt_data_synthetic_name(c->data.synthetic);
        return "data.synthetic";
    }
    if ((k == 1 || k == 3) && !paths[k][0]) /* csv, libsvm: the targets come from the features file */
        k--;
    *path = paths[k];
    return keys[k];
}

void dpt_trainer_record_data(const dpt_trainer *t, dpt_record *r)
{
    static const char *const names[4] = {"train", "train targets", "test", "test targets"};
    const char *prev = NULL;
    for (int k = 0; k < 4; k++) {
        const char *path;
        dpt_trainer_data_source(t->cfg, k, &path);
        if (!path[0] || (k >= 2 && !t->test.n))
            continue;
        /* csv and libsvm keep the targets in the features' file: one line, its checksum covering both */
        if (prev && strcmp(prev, path) == 0 && (k == 1 || k == 3))
            continue;
        dpt_record_data(r, names[k], path, t->data_sum[k]);
        prev = path;
    }
}

/* The contents each rank loaded, by checksum: a file of the same shape but other contents on one
 * node would train the ranks on different data without a word. Names the file and the ranks that
 * differ from rank 0 (the same message on every rank; rank 0 tells it). */
static int check_same_contents(dpt_trainer *t, dpt_err *e)
{
    int ranks = t->comm->size;
    t->data_sum[0] = dpt_data_checksum(&t->train, 0);
    t->data_sum[1] = dpt_data_checksum(&t->train, 1);
    t->data_sum[2] = t->test.n ? dpt_data_checksum(&t->test, 0) : 0;
    t->data_sum[3] = t->test.n ? dpt_data_checksum(&t->test, 1) : 0;
    uint64_t *all = malloc(sizeof(uint64_t) * 4 * (size_t)ranks);
    if (dpt_comm_any(t->comm, !all)) {
        free(all);
        return dpt_errf(e, "data: out of memory for %d ranks' checksums", ranks);
    }
    dpt_comm_allgather_u64(t->comm, t->data_sum, 4, all);
    for (int k = 0; k < 4; k++) {
        char list[96] = "";
        int differ = 0;
        for (int r = 1; r < ranks; r++)
            if (all[4 * r + k] != all[k] && differ++ < 8)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", differ > 1 ? ", " : "", r);
        if (!differ)
            continue;
        const char *path, *key = dpt_trainer_data_source(t->cfg, k, &path);
        free(all);
        return dpt_errf(e, "%s = '%s': rank%s %s%s loaded other contents than rank 0 (same shape, checksum "
                        "differs): is the same file at that path on every node?", key, path, differ > 1 ? "s" : "",
                        list, differ > 8 ? ", ..." : "");
    }
    free(all);
    return DPT_OK;
}

/* Every rank loads the data itself: a file that differs between nodes would give the ranks
 * different batch counts, and so different sequences of collectives. Compare the counts first,
 * then the contents. */
static int check_same_data(dpt_trainer *t, dpt_err *e)
{
    double v[7] = {(double)t->ntrain, (double)t->nval, (double)t->train.d, (double)t->train.tdim,
                   t->train.nclasses, (double)t->test.n, (double)t->train.n};
    e->reported = 0;
    if (!dpt_comm_same(t->comm, v, 7))
        return dpt_errf(e, "the ranks loaded different data (sample, feature or class counts differ): "
                           "is the same data.train at the same path on every node?");
    return check_same_contents(t, e);
}

int dpt_trainer_init(dpt_trainer *t, const dpt_config *cfg, const dpt_comm *comm, int fold, dpt_err *e)
{
    memset(t, 0, sizeof *t);
    t->cfg = cfg;
    t->comm = comm;
    if (cfg->early.metric == DPT_METRIC_TRAIN_LOSS)
        dpt_early_init_sklearn(&t->early, cfg->early.n_iter_no_change, cfg->early.tol);
    else
        dpt_early_init(&t->early, cfg->early.metric == DPT_METRIC_VAL_ACCURACY, cfg->early.patience,
                       cfg->early.min_delta);
    dpt_plateau_init(&t->plateau, &cfg->sched, t->early.maximize, cfg->optim.lr);
    if (dpt_comm_agree(comm, build(t, fold, e), e) != DPT_OK || check_same_data(t, e) != DPT_OK ||
        dpt_trainer_plan_reduction(t, e) != DPT_OK ||
        dpt_comm_agree(comm, dpt_trace_init(&t->trace, comm, cfg->train.trace, cfg->train.trace_steps, e), e) !=
            DPT_OK) {
        dpt_trainer_free(t);
        return DPT_FAIL;
    }
    if (t->trace.ev)
        t->model.trace = &t->trace;
    dpt_comm_bcast(comm, t->model.params, sizeof(float) * t->model.nparams);
    if (t->best_params)
        memcpy(t->best_params, t->model.params, sizeof(float) * t->model.nparams);
    return DPT_OK;
}

void dpt_trainer_free(dpt_trainer *t)
{
    dpt_reducer_free(t->reducer); /* collective, like every path that frees a trainer */
    dpt_update_free(&t->update);
    dpt_data_free(&t->train);
    dpt_data_free(&t->test);
    free(t->train_idx);
    free(t->val_idx);
    dpt_model_free(&t->model);
    dpt_optim_free(&t->opt);
    dpt_sampler_free(&t->sampler);
    free(t->src.x);
    free(t->src.y);
    free(t->src.dout);
    dpt_replicas_free(t->src.replicas);
    free(t->best_params);
    dpt_trace_free(&t->trace);
    memset(t, 0, sizeof *t);
}

dpt_eval_result dpt_trainer_eval(dpt_trainer *t, int test)
{
    int det = t->reducer->deterministic;
    const dpt_grad_source *s = &t->src;
    dpt_eval_result r;
    dpt_comm_watch("the evaluation after step", t->pos.step);
    if (test)
        r = dpt_eval(t->comm, &t->model, s->loss, &t->test, NULL, t->test.n, s->x, s->y, det);
    else
        r = dpt_eval(t->comm, &t->model, s->loss, &t->train, t->val_idx, t->nval, s->x, s->y, det);
    dpt_comm_unwatch();
    return r;
}

/* Rank 0 may have written files (metrics, a checkpoint): with the watchdog on, the others wait
 * for it here, so a slow disk does not count against their next step; watched all the same, with
 * ten times the timeout, since a rank that stops just before it would leave the others here. */
static void after_writes(dpt_trainer *t)
{
    if (t->cfg->train.timeout <= 0)
        return;
    dpt_comm_watch_long("rank 0's file writes after step", t->pos.step, 10);
    dpt_comm_barrier(t->comm);
    dpt_comm_unwatch();
}

/* Records a validation result; returns 1 when early stopping says stop. */
static int early_stop_update(dpt_trainer *t, const dpt_eval_result *r)
{
    int improved, maximize = t->early.maximize;
    int stop = dpt_early_update(&t->early, maximize ? r->accuracy : r->loss, t->pos.step, &improved);
    if (improved) {
        t->best_saved = 0;
        if (t->best_params)
            memcpy(t->best_params, t->model.params, sizeof(float) * t->model.nparams);
    }
    return stop;
}

/* Steps a plateau schedule on the watched metric (the same on every rank) and tells a cut. */
static void plateau_update(dpt_trainer *t, const dpt_eval_result *r)
{
    if (t->cfg->sched.kind != DPT_SCHED_PLATEAU ||
        !dpt_plateau_step(&t->plateau, t->plateau.maximize ? r->accuracy : r->loss))
        return;
    if (t->comm->rank == 0 && t->on_note) {
        char line[160];
        snprintf(line, sizeof line, "schedule: plateau: %s stalled for %lld evaluations; learning rate lowered to %.6g "
                 "after step %lld", t->plateau.maximize ? "val_accuracy" : "val_loss", (long long)t->plateau.patience + 1,
                 t->plateau.lr, (long long)t->pos.step);
        t->on_note(t->ctx, line);
    }
}

/* Evaluates on the validation rows, reports, and tells whether to stop early. */
static int validate(dpt_trainer *t)
{
    double t0 = dpt_trace_now(&t->trace);
    dpt_eval_result r = dpt_trainer_eval(t, 0);
    dpt_trace_span(&t->trace, "evaluate", "eval", t0, -1);
    t->last.val_loss = r.loss;
    t->last.val_accuracy = t->train.nclasses > 0 ? r.accuracy : NAN;
    plateau_update(t, &r);
    return t->cfg->early.metric != DPT_METRIC_TRAIN_LOSS && early_stop_update(t, &r);
}

/* sklearn's stopping on the training loss: once per whole epoch, on its mean loss (the same on
 * every rank: the losses are reduced), with no best model kept since sklearn keeps the last. */
static int train_loss_stop(dpt_trainer *t)
{
    int improved;
    return dpt_early_update(&t->early, t->pos.epoch_loss / t->pos.epoch_count, t->pos.step, &improved);
}

void dpt_trainer_fold_correct(dpt_trainer *t)
{
    if (!t->src.correct)
        return;
    /* Whole numbers below 2^53: exact in any order, so the same bits on any rank count. */
    dpt_comm_allreduce_d(t->comm, &t->correct_local, 1);
    t->pos.epoch_correct += t->correct_local;
    t->correct_local = 0;
}

/* training.test_every_epochs: the test set's metrics at this epoch's end (collective). */
static void test_metrics(dpt_trainer *t)
{
    int64_t every = t->cfg->train.test_every_epochs;
    if (every <= 0 || !t->test.n || (t->pos.epoch + 1) % every != 0)
        return;
    double t0 = dpt_trace_now(&t->trace);
    dpt_eval_result r = dpt_trainer_eval(t, 1);
    dpt_trace_span(&t->trace, "test", "eval", t0, -1);
    t->last.test_loss = r.loss;
    t->last.test_accuracy = t->train.nclasses > 0 ? r.accuracy : NAN;
}

static void report(dpt_trainer *t, int console, double samples, double t0, double tstart)
{
    double now = dpt_comm_time();
    dpt_trainer_fold_correct(t);
    t->last.train_accuracy = t->src.correct ? t->pos.epoch_correct / t->pos.epoch_count : NAN;
    t->last.console = console;
    t->last.step = t->pos.step;
    t->last.epoch = t->pos.epoch + 1;
    t->last.train_loss = t->pos.epoch_loss / t->pos.epoch_count;
    t->last.samples_per_s = samples / (now - t0 > 0 ? now - t0 : 1e-9);
    t->last.elapsed = now - tstart;
    if (t->on_metrics && t->comm->rank == 0)
        t->on_metrics(t->ctx, t, &t->last);
}

static void progress(dpt_trainer *t, double samples, double t0)
{
    if (!t->on_progress || t->comm->rank != 0)
        return;
    double dt = dpt_comm_time() - t0, rate = dt > 0 ? samples / dt : 0;
    double steps_per_s = dt > 0 ? (double)(t->pos.batch_in_epoch) / dt : 0;
    double eta = steps_per_s > 0 ? (double)(t->total_steps - t->pos.step) / steps_per_s : 0;
    t->on_progress(t->ctx, t, rate, eta);
}

/* After an evaluation or an epoch: report (on the console too when asked), then save a new best. */
static void after_eval(dpt_trainer *t, int console, double samples, double t0, double tstart)
{
    report(t, console, samples, t0, tstart);
    if (t->best_params && !t->best_saved && t->cfg->ckpt.keep_best && t->early.best_step == t->pos.step) {
        t->best_saved = 1;
        dpt_trainer_sync_state(t);
        if (t->comm->rank == 0 && t->ckpt_dir[0]) {
            char path[sizeof t->ckpt_dir + 32];
            dpt_err e;
            snprintf(path, sizeof path, "%s/best.safetensors", t->ckpt_dir);
            if (dpt_snapshot_save(t, path, &e) != DPT_OK && t->on_note)
                t->on_note(t->ctx, e.msg);
        }
    }
    after_writes(t);
}

/* A checkpoint on the way: a failed save is told (rank 0) and training goes on, since the next
 * one may succeed and the earlier ones stay. */
static void periodic_checkpoint(dpt_trainer *t)
{
    dpt_err e;
    double t0 = dpt_trace_now(&t->trace);
    if (dpt_trainer_checkpoint(t, &e) != DPT_OK && t->on_note)
        t->on_note(t->ctx, e.msg);
    dpt_trace_span(&t->trace, "checkpoint", "checkpoint", t0, -1);
    after_writes(t);
}

/* One epoch from t->pos.batch_in_epoch on; returns 1 when early stopping says stop. */
static int run_epoch(dpt_trainer *t, double tstart, dpt_err *e, int *failed)
{
    const dpt_config *c = t->cfg;
    size_t per_epoch = dpt_sampler_nbatches(&t->sampler);
    double t0 = dpt_comm_time(), samples = 0;
    int due = 0; /* a periodic checkpoint is due at the end of this call */
    dpt_sampler_set_epoch(&t->sampler, t->pos.epoch);
    for (size_t i = (size_t)t->pos.batch_in_epoch; i < per_epoch && t->pos.step < t->total_steps; i++) {
        double loss, count, correct = t->correct_local;
        dpt_trace_step(&t->trace, t->pos.step + 1);
        dpt_comm_watch("step", t->pos.step + 1);
        int st = dpt_trainer_step(t, i, &loss, &count, e);
        dpt_comm_unwatch();
        if (st != DPT_OK) {
            *failed = 1;
            return 1;
        }
        if (count == 0) /* a skipped step adds nothing to the epoch's sums */
            t->correct_local = correct;
        t->pos.batch_in_epoch = (int64_t)i + 1;
        t->pos.epoch_loss += loss;
        t->pos.epoch_count += count;
        samples += count;
        t->last.val_loss = t->last.val_accuracy = t->last.test_loss = t->last.test_accuracy = NAN;
        progress(t, samples, t0);
        int stop = 0;
        if (c->train.eval_every > 0 && t->nval && t->pos.step % c->train.eval_every == 0) {
            stop = validate(t);
            after_eval(t, 1, samples, t0, tstart);
        }
        /* One due at the epoch's last batch waits for the end-of-epoch report below: saved before
         * it, a resume would report that epoch (and log its metrics line) a second time. */
        if (c->ckpt.every_steps > 0 && t->pos.step % c->ckpt.every_steps == 0) {
            if (i + 1 < per_epoch && t->pos.step < t->total_steps)
                periodic_checkpoint(t);
            else
                due = 1;
        }
        if (stop)
            return 1;
    }
    int stop = 0, last = t->pos.step >= t->total_steps;
    int epoch_done = (size_t)t->pos.batch_in_epoch >= per_epoch;
    if (c->train.eval_every == 0 && t->nval)
        stop = validate(t);
    if (epoch_done)
        test_metrics(t);
    if (epoch_done && c->early.metric == DPT_METRIC_TRAIN_LOSS)
        stop = train_loss_stop(t);
    after_eval(t, last || stop || (t->pos.epoch + 1) % c->train.log_every == 0, samples, t0, tstart);
    if (epoch_done) {
        t->pos.epoch++;
        t->pos.batch_in_epoch = 0;
        t->pos.epoch_loss = t->pos.epoch_count = t->pos.epoch_correct = 0;
        due |= c->ckpt.every_epochs > 0 && t->pos.epoch % c->ckpt.every_epochs == 0;
    }
    if (due && !last && !stop) /* else dpt_trainer_run saves this very state as the final one */
        periodic_checkpoint(t);
    return stop;
}

int dpt_trainer_run(dpt_trainer *t, dpt_err *e)
{
    double tstart = dpt_comm_time();
    int failed = 0;
    while (!t->pos.stopped && t->pos.step < t->total_steps)
        t->pos.stopped = run_epoch(t, tstart, e, &failed);
    if (failed)
        return DPT_FAIL;
    /* The last checkpoint holds the true final state (resumable, marked stopped); the best
     * parameters live in best.safetensors (dpt_trainer_use_best). A run whose final state is
     * lost fails, on every rank, though its earlier checkpoints stay. */
    return dpt_comm_agree(t->comm, dpt_trainer_checkpoint(t, e), e);
}

int dpt_trainer_use_best(dpt_trainer *t)
{
    if (t->cfg->early.patience <= 0 || !t->best_params || isnan(t->early.best) || t->early.best_step == t->pos.step)
        return 0;
    memcpy(t->model.params, t->best_params, sizeof(float) * t->model.nparams);
    return 1;
}
