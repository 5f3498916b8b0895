/* dptrain eval, predict and info: the model inside a checkpoint put to use. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dptrain/cli.h"
#include "dptrain/config.h"
#include "dptrain/eval.h"
#include "dptrain/snapshot.h"
#include "dptrain/tensor.h"

enum { CHUNK = DPT_EVAL_ROWS };

void dpt_cli_model_free(dpt_cli_model *l)
{
    dpt_model_free(&l->model);
    free(l->mean);
    free(l->std);
    l->mean = l->std = NULL; /* a failed load frees, and eval's error path frees again */
}

static int copy_vector(float **dst, const dpt_ckpt *c, const char *name, int n, const char *path, dpt_err *e)
{
    const dpt_ckpt_tensor *t = dpt_ckpt_find(c, name);
    if (!t)
        return DPT_OK;
    if (t->ndim != 1 || t->shape[0] != n)
        return dpt_errf(e, "%s: %s has the wrong shape for %d features", path, name, n);
    *dst = malloc(sizeof(float) * (size_t)n);
    if (!*dst)
        return dpt_errf(e, "%s: out of memory for %s (%d floats)", path, name, n);
    memcpy(*dst, t->data, sizeof(float) * (size_t)n);
    return DPT_OK;
}

int dpt_cli_model_load(dpt_cli_model *l, const char *path, dpt_err *e)
{
    dpt_ckpt c;
    double in_dim;
    memset(l, 0, sizeof *l);
    if (dpt_ckpt_read(&c, path, e) != DPT_OK)
        return DPT_FAIL;
    const char *text = dpt_ckpt_meta_get(&c, "config");
    int st = text ? DPT_OK : dpt_errf(e, "%s: metadata has no 'config'", path);
    dpt_config_defaults(&l->cfg);
    if (st == DPT_OK)
        st = dpt_config_load_string(&l->cfg, text, path, e);
    if (st == DPT_OK) /* compute in the run's floating-point mode, as its own evaluations did */
        dpt_fp_flush_denormals(l->cfg.train.flush_denormals);
    if (st == DPT_OK)
        st = dpt_snapshot_meta_number(&c, path, "in_dim", &in_dim, e);
    if (st == DPT_OK && (in_dim < 1 || in_dim > 1e8))
        st = dpt_errf(e, "%s: metadata in_dim = %g is out of range", path, in_dim);
    /* in_dim and model.layers are metadata, outside the checksum: the model they describe is
     * weighed against the tensors the file really holds before any of its buffers exist. A model
     * with a parameter layer then has every width bounded by a stored tensor. */
    dpt_shape shape;
    if (st == DPT_OK) {
        l->in_dim = (int)in_dim;
        st = dpt_snapshot_in_shape(&c, path, l->in_dim, &shape, e);
    }
    if (st == DPT_OK)
        st = dpt_model_plan_algo(&l->model, l->cfg.model.layers, shape, DPT_EVAL_ROWS, l->cfg.model.conv_algorithm,
                                 e);
    if (st == DPT_OK)
        st = dpt_snapshot_check_params(&l->model, &c, path, e);
    /* Conv and pooling weights do not bound the image's size: the buffers it would need are
     * weighed against the file's size too (as libsvm's dense matrix is). */
    double bytes = st == DPT_OK ? dpt_model_bytes(&l->model) : 0;
    if (st == DPT_OK && bytes > (double)(1 << 30) && bytes > 1024.0 * (double)c.len)
        st = dpt_errf(e, "%s: the model its metadata describes would need %.3g GB of buffers for a file of %zu bytes",
                      path, bytes / 1e9, c.len);
    if (st == DPT_OK && l->model.nparams == 0)
        st = dpt_errf(e, "%s: model.layers = '%s' has no parameters to load", path, l->cfg.model.layers);
    if (st == DPT_OK)
        st = dpt_model_alloc(&l->model, e);
    if (st == DPT_OK)
        st = dpt_snapshot_load_params(&l->model, &c, path, e);
    if (st == DPT_OK)
        st = copy_vector(&l->mean, &c, "data.mean", l->in_dim, path, e);
    if (st == DPT_OK)
        st = copy_vector(&l->std, &c, "data.std", l->in_dim, path, e);
    dpt_ckpt_free(&c);
    if (st != DPT_OK)
        dpt_cli_model_free(l);
    return st;
}

static int want_help(int argc, char **argv, const dpt_comm *comm, const char *help)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            if (comm->rank == 0)
                fputs(help, stdout);
            return 1;
        }
    return 0;
}

/* Loads a dataset the way the checkpoint's experiment describes, or from --data/--targets. */
static int load_eval_set(dpt_dataset *ds, const dpt_cli_model *l, const char *data, const char *targets, dpt_err *e)
{
    const dpt_config *c = &l->cfg;
    if (!data && c->data.synthetic == DPT_SYNTH_LINREG)
        return dpt_data_linreg(ds, (size_t)c->data.synthetic_samples, dpt_config_data_seed(c), e);
    if (!data) {
        data = c->data.test[0] ? c->data.test : c->data.train;
        targets = c->data.test[0] ? c->data.test_targets : c->data.train_targets;
    }
    dpt_data_opts o = {
        .format = data == c->data.train || data == c->data.test ? c->data.format : DPT_FORMAT_AUTO,
        .path = data, .targets = targets ? targets : "", .label = c->data.label, .header = c->data.header,
        .task = c->data.task, .nfeatures = (size_t)l->in_dim,
        /* Labels the model has no output for would be read past its logits. */
        .nclasses = c->data.task == DPT_TASK_CLASSIFY ? l->model.out_dim : 0,
    };
    if (dpt_data_load(ds, &o, e) != DPT_OK)
        return DPT_FAIL;
    if (ds->d != (size_t)l->in_dim)
        return dpt_errf(e, "%s: %zu features per sample, but the model takes %d", data, ds->d, l->in_dim);
    if (c->loss.kind == DPT_LOSS_MSE && ds->tdim != (size_t)l->model.out_dim)
        return dpt_errf(e, "%s: %zu targets per sample, but the model has %d outputs", data, ds->tdim,
                        l->model.out_dim);
    return DPT_OK;
}

static const char eval_help[] =
    "usage: dptrain eval CHECKPOINT [--data PATH] [--targets PATH]\n"
    "Loss (and accuracy for classification) of the checkpoint's model on a dataset:\n"
    "by default the experiment's test set, else its training set.\n";

int dpt_cli_eval(const dpt_comm *comm, int argc, char **argv, dpt_err *e)
{
    if (want_help(argc, argv, comm, eval_help))
        return DPT_OK;
    const char *ckpt = NULL, *data = NULL, *targets = NULL;
    int st = DPT_OK;
    for (int i = 0; i < argc && st == DPT_OK; i++) {
        if ((strcmp(argv[i], "--data") == 0 || strcmp(argv[i], "--targets") == 0) && i + 1 < argc)
            *(argv[i][2] == 'd' ? &data : &targets) = argv[i + 1], i++;
        else if (argv[i][0] != '-' && !ckpt)
            ckpt = argv[i];
        else
            st = dpt_errf(e, "eval: unexpected argument '%s' (see dptrain eval --help)", argv[i]);
    }
    if (st == DPT_OK && !ckpt)
        st = dpt_errf(e, "eval: which checkpoint? (see dptrain eval --help)");
    /* Every rank reads the checkpoint and its slice of the data, then one reduction. */
    dpt_cli_model l = {0};
    dpt_dataset ds = {0};
    if (st == DPT_OK)
        st = dpt_cli_model_load(&l, ckpt, e);
    if (st == DPT_OK)
        st = load_eval_set(&ds, &l, data, targets, e);
    if (dpt_comm_agree(comm, st, e) != DPT_OK) {
        dpt_cli_model_free(&l);
        dpt_data_free(&ds);
        return DPT_FAIL;
    }
    ds.mean = l.mean, ds.std = l.std;
    dpt_loss_kind loss = l.cfg.loss.kind;
    float *x = malloc(sizeof(float) * CHUNK * ds.d), *y = malloc(sizeof(float) * CHUNK * ds.tdim);
    st = x && y ? DPT_OK
                : dpt_errf(e, "eval: out of memory for %d rows of %zu features and %zu targets", CHUNK, ds.d, ds.tdim);
    /* A rank that could not allocate must not leave the others in the evaluation's reduction. */
    if (dpt_comm_agree(comm, st, e) == DPT_OK) {
        dpt_eval_result r = dpt_eval(comm, &l.model, loss, &ds, NULL, ds.n, x, y, l.cfg.train.deterministic);
        if (comm->rank == 0) {
            printf("samples %.0f\nloss %.9g\n", r.count, r.loss);
            if (ds.nclasses > 0)
                printf("accuracy %.6f\n", r.accuracy);
        }
        st = DPT_OK;
    } else {
        st = DPT_FAIL;
    }
    ds.mean = ds.std = NULL;
    free(x);
    free(y);
    dpt_data_free(&ds);
    dpt_cli_model_free(&l);
    return st;
}

static const char predict_help[] =
    "usage: dptrain predict CHECKPOINT INPUT [-o OUT.csv]\n"
    "Runs the checkpoint's model on every row of INPUT (CSV of features, no label column,\n"
    "or NPY) and writes one CSV line of outputs per row (standard output by default).\n";

static int write_predictions(const dpt_cli_model *l, dpt_model *m, const dpt_dataset *ds, FILE *out, dpt_err *e)
{
    float *x = malloc(sizeof(float) * CHUNK * ds->d);
    size_t idx[CHUNK];
    if (!x)
        return dpt_errf(e, "predict: out of memory for %d rows of %zu features", CHUNK, ds->d);
    dpt_dataset view = *ds;
    view.mean = l->mean, view.std = l->std, view.tdim = 0;
    for (size_t s = 0; s < ds->n; s += CHUNK) {
        size_t n = ds->n - s < CHUNK ? ds->n - s : CHUNK;
        for (size_t i = 0; i < n; i++)
            idx[i] = s + i;
        dpt_data_gather(x, NULL, &view, idx, n);
        const float *y = dpt_model_forward(m, x, (int)n);
        for (size_t i = 0; i < n; i++)
            for (int j = 0; j < m->out_dim; j++)
                fprintf(out, "%.9g%c", y[i * (size_t)m->out_dim + j], j + 1 == m->out_dim ? '\n' : ',');
    }
    free(x);
    return DPT_OK;
}

/* Refuses an output that is one of the inputs: the same file by device and inode, whatever its
 * name (a link, a relative path), would be truncated before it was read. */
static int check_not_input(const char *out, const char *const *inputs, int n, dpt_err *e)
{
    struct stat o, in;
    if (!out || stat(out, &o) != 0)
        return DPT_OK; /* a new file is no input */
    for (int i = 0; i < n; i++)
        if (stat(inputs[i], &in) == 0 && in.st_dev == o.st_dev && in.st_ino == o.st_ino)
            return dpt_errf(e, "predict: -o %s is the input %s: refusing to write over it", out, inputs[i]);
    return DPT_OK;
}

static int predict_local(const char *ckpt, const char *input, const char *outpath, dpt_err *e)
{
    dpt_cli_model l;
    dpt_dataset ds = {0};
    const char *inputs[] = {ckpt, input};
    if (check_not_input(outpath, inputs, 2, e) != DPT_OK || dpt_cli_model_load(&l, ckpt, e) != DPT_OK)
        return DPT_FAIL;
    dpt_data_opts o = {.format = DPT_FORMAT_AUTO, .path = input, .targets = "", .label = "", .header = -1,
                       .task = DPT_TASK_REGRESS, .nfeatures = (size_t)l.in_dim};
    int st = dpt_data_load_features(&ds, &o, e);
    if (st == DPT_OK && ds.d != (size_t)l.in_dim)
        st = dpt_errf(e, "%s: %zu features per row, but the model takes %d", input, ds.d, l.in_dim);
    FILE *out = st == DPT_OK ? (outpath ? fopen(outpath, "w") : stdout) : NULL;
    if (st == DPT_OK && !out)
        st = dpt_errf(e, "%s: cannot write", outpath);
    if (st == DPT_OK)
        st = write_predictions(&l, &l.model, &ds, out, e);
    if (out && out != stdout && fclose(out) != 0 && st == DPT_OK)
        st = dpt_errf(e, "%s: cannot write", outpath);
    dpt_data_free(&ds);
    dpt_cli_model_free(&l);
    return st;
}

int dpt_cli_predict(const dpt_comm *comm, int argc, char **argv, dpt_err *e)
{
    if (want_help(argc, argv, comm, predict_help))
        return DPT_OK;
    const char *pos[2] = {NULL, NULL}, *out = NULL;
    int npos = 0, st = DPT_OK;
    for (int i = 0; i < argc && st == DPT_OK; i++) {
        if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (argv[i][0] != '-' && npos < 2)
            pos[npos++] = argv[i];
        else
            st = dpt_errf(e, "predict: unexpected argument '%s' (see dptrain predict --help)", argv[i]);
    }
    if (st == DPT_OK && npos < 2)
        st = dpt_errf(e, "predict: needs CHECKPOINT and INPUT (see dptrain predict --help)");
    /* Predicting is rank 0's alone; the other ranks only learn how it went. */
    if (st == DPT_OK && comm->rank == 0)
        st = predict_local(pos[0], pos[1], out, e);
    return dpt_comm_agree(comm, st, e);
}

static const char info_help[] = "usage: dptrain info CHECKPOINT\n"
                                "Architecture, position, metrics and configuration stored in a checkpoint.\n";

static int info_local(const char *path, dpt_err *e)
{
    dpt_ckpt c;
    if (dpt_ckpt_read(&c, path, e) != DPT_OK)
        return DPT_FAIL;
    dpt_cli_model l;
    if (dpt_cli_model_load(&l, path, e) != DPT_OK) {
        dpt_ckpt_free(&c);
        return DPT_FAIL;
    }
    printf("checkpoint %s\n", path);
    const char *ranks = dpt_ckpt_meta_get(&c, "ranks"), *version = dpt_ckpt_meta_get(&c, "dptrain_version");
    const char *step = dpt_ckpt_meta_get(&c, "step"), *epoch = dpt_ckpt_meta_get(&c, "epoch");
    printf("dptrain %s, saved at step %s, epoch %s, %s%s\n", version ? version : "?", step ? step : "?",
           epoch ? epoch : "?", ranks ? ranks : "deterministic mode", ranks ? " rank(s)" : "");
    char shape[48] = "";
    if (l.model.in_shape.c != l.in_dim) /* an image: its C x H x W as well */
        dpt_shape_str(shape + 2, sizeof shape - 3, l.model.in_shape), shape[0] = ' ', shape[1] = '(',
            strcat(shape, ")");
    printf("model: %d inputs%s -> %s (%zu parameters)\n", l.in_dim, shape, l.cfg.model.layers, l.model.nparams);
    for (int i = 0; i < c.nt; i++) {
        printf("  %-28s [", c.t[i].name);
        for (int d = 0; d < c.t[i].ndim; d++)
            printf("%s%lld", d ? ", " : "", (long long)c.t[i].shape[d]);
        printf("]\n");
    }
    printf("metrics: %s\n", dpt_ckpt_meta_get(&c, "metrics") ? dpt_ckpt_meta_get(&c, "metrics") : "{}");
    const char *record = dpt_ckpt_meta_get(&c, "record");
    if (record)
        printf("what produced it:\n%s", record);
    printf("configuration:\n%s", dpt_ckpt_meta_get(&c, "config")); /* dpt_cli_model_load required it */
    dpt_cli_model_free(&l);
    dpt_ckpt_free(&c);
    return DPT_OK;
}

int dpt_cli_info(const dpt_comm *comm, int argc, char **argv, dpt_err *e)
{
    if (want_help(argc, argv, comm, info_help))
        return DPT_OK;
    int st = argc == 1 && argv[0][0] != '-' ? DPT_OK : dpt_errf(e, "info: needs one CHECKPOINT (see dptrain info --help)");
    if (st == DPT_OK && comm->rank == 0)
        st = info_local(argv[0], e);
    return dpt_comm_agree(comm, st, e);
}
