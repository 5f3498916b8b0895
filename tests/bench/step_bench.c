/* Training-step benchmark: samples/s of dpt_trainer_step on synthetic
 * classification data for a few MLPs and global batches, and where a step's
 * time goes (data gather, forward, backward, exposed allreduce, optimizer).
 *
 * Both figures come from the real dpt_trainer_step, on a trainer assembled
 * here by hand (there is no synthetic classification set behind
 * dpt_trainer_init): the headline samples/s with nothing added, and the split
 * with the reducer's ops wrapped in clocks (src/reduce/) and the step's own
 * trace spans (data, forward, backward) summed. The two check each other.
 *
 * Also: the single-thread sgemm peak of this machine and the GEMM shapes the
 * layers use (--peak), and for several ranks the gradient allreduce's
 * bandwidth beside a bare dpt_comm_allreduce_f of the same bytes.
 *
 * Rank 0 prints one line per configuration; --results FILE appends the same
 * figures as key=value lines for scripts/bench.sh's summary table. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/comm.h"
#include "dptrain/config.h"
#include "dptrain/im2col.h"
#include "dptrain/rng.h"
#include "dptrain/smallgemm.h"
#include "dptrain/tensor.h"
#include "dptrain/train.h"

#define MAX_LIST 8

typedef struct {
    const char *models[MAX_LIST];   /* "784-512-512-10" */
    int nmodels;
    long batches[MAX_LIST];
    int nbatches;
    int threads;                    /* BLAS threads per rank */
    double seconds;                 /* timed run per measurement */
    double bucket_mb;               /* training.bucket_mb for the main runs; -1: as auto resolves */
    double alt_bucket_mb;           /* < 0: none; else an extra timed run with this bucket */
    int det_blocks[2];              /* > 0: also time training.deterministic with these blocks */
    double peak;                    /* single-thread sgemm GFLOP/s for MFU (0: unknown) */
    const char *label;              /* e.g. "2x1"; default ranks x threads */
    const char *results;            /* key=value lines appended here (rank 0) */
    int peak_mode;
} opts;

/* Seconds each phase took, summed over the timed steps: data, forward and backward from the
 * step's trace; grads = the reducer's gradients op (compute and combining), publish and norm its
 * other collective ops, copy its share_run (one update thread only), total the whole step. */
enum { MAX_LAYERS = 16 };

typedef struct {
    double data, fwd, bwd, ready, grads, publish, norm, copy, total;
    double lf[MAX_LAYERS], lb[MAX_LAYERS]; /* forward and backward of each layer (its trace span) */
} split;

static const dpt_comm *g_comm;
static int g_own_only; /* timed steps average only their own region (a timing reference) */
static int g_threads = 1; /* BLAS threads per rank, which share the update too (training.threads) */
static const char *g_set;  /* --set KEY=VALUE: one more setting for every trainer (e.g. training.comm_dtype=bf16) */


static _Noreturn void die(const char *fmt, const char *arg)
{
    char msg[600];
    snprintf(msg, sizeof msg, fmt, arg);
    dpt_comm_abort(g_comm, "step_bench: %s", msg);
}

/* ---------------------------------------------------------------- data */

/* n samples of d uniform features in [0,1) and labels 0..nclasses-1 as floats. */
static void synth_classes(dpt_dataset *ds, size_t n, size_t d, int nclasses, uint64_t seed)
{
    memset(ds, 0, sizeof *ds);
    float *x = malloc(sizeof(float) * n * d);
    float *y = malloc(sizeof(float) * n);
    if (!x || !y)
        die("out of memory for %s", "synthetic data");
    for (size_t i = 0; i < n * d; i++)
        x[i] = (float)dpt_rng_uniform(seed, DPT_STREAM_DATA, i);
    for (size_t i = 0; i < n; i++)
        y[i] = (float)dpt_rng_below(seed, DPT_STREAM_DATA + 1, i, (uint64_t)nclasses);
    ds->n = n;
    ds->d = d;
    ds->xtype = DPT_DT_F32;
    ds->x = x;
    ds->xbuf = x;
    ds->xscale = 1.0f;
    ds->tdim = 1;
    ds->y = y;
    ds->nclasses = nclasses;
}

/* ---------------------------------------------------------------- model */

/* The reference CNN of issue #13 (launch/configs/fashion-cnn.ini) on 1 x 28 x 28 images. */
#define CNN_NAME "cnn"
#define CNN_LAYERS "conv 32 3x3 pad 1, relu, maxpool 2, conv 64 3x3 pad 1, relu, maxpool 2, dense 128, relu, " \
                   "dropout 0.25, dense 10"

/* "784-512-512-10" -> in_dim 784 and "dense 512, relu, dense 512, relu, dense 10"; "cnn" -> the CNN. */
static int model_spec(const char *dims, int *in_dim, char *spec, size_t size)
{
    if (strcmp(dims, CNN_NAME) == 0) {
        *in_dim = 28 * 28;
        snprintf(spec, size, "%s", CNN_LAYERS);
        return 0;
    }
    char *end;
    long v = strtol(dims, &end, 10);
    if (end == dims || *end != '-' || v < 1)
        return -1;
    *in_dim = (int)v;
    spec[0] = '\0';
    size_t len = 0;
    const char *p = end + 1;
    for (;;) {
        v = strtol(p, &end, 10);
        if (end == p || v < 1 || (*end != '-' && *end != '\0'))
            return -1;
        int w = snprintf(spec + len, size - len, "%sdense %ld", len ? ", relu, " : "", v);
        if (w < 0 || (size_t)w >= size - len)
            return -1;
        len += (size_t)w;
        if (*end == '\0')
            return 0;
        p = end + 1;
    }
}

/* GEMM FLOPs per training sample: 2 x multiply-adds of the forward product, the same again for
 * dW and for dX of every dense and conv layer, except dX of the first layer, which
 * dpt_model_backward never computes. A conv's multiply-adds are filters x C*K*K x OH*OW; bias,
 * pooling, activations and the optimizer are not counted. */
static double train_flops(const dpt_model *m, double *three_fwd)
{
    double f = 0, fwd = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        double mm;
        if (l->ops == &dpt_layer_dense)
            mm = 2.0 * l->in * l->out;
        else if (strcmp(l->ops->name, "conv") == 0)
            mm = 2.0 * l->out_shape.c * l->in_shape.c * l->kernel * l->kernel * l->out_shape.h * l->out_shape.w;
        else
            continue;
        fwd += mm;
        f += i == 0 ? 2 * mm : 3 * mm;
    }
    *three_fwd = 3 * fwd;
    return f;
}

/* ---------------------------------------------------------------- trainer */

static void cfg_set(dpt_config *c, const char *assignment)
{
    dpt_err e;
    if (dpt_config_set(c, assignment, &e) != DPT_OK)
        die("config: %s", e.msg);
}

/* Assembles what dpt_trainer_init would from a config, with a synthetic dataset in memory;
 * mirrors build() in src/train.c for the batch buffers. */
static void make_trainer(dpt_trainer *t, dpt_config *cfg, const dpt_comm *comm, const char *dims,
                         long batch, double bucket_mb, int det_blocks, const char *extra)
{
    char spec[DPT_LAYERS_MAX], a[DPT_LAYERS_MAX + 32];
    int in_dim;
    if (model_spec(dims, &in_dim, spec, sizeof spec) != 0)
        die("bad model '%s' (expected e.g. 784-512-512-10)", dims);
    dpt_config_defaults(cfg);
    snprintf(a, sizeof a, "model.layers=%s", spec);
    cfg_set(cfg, a);
    snprintf(a, sizeof a, "training.threads=%d", g_threads);
    cfg_set(cfg, a);
    if (extra)
        cfg_set(cfg, extra);
    if (g_set)
        cfg_set(cfg, g_set);
    cfg_set(cfg, "loss.kind=cross_entropy");
    cfg_set(cfg, "optimizer.kind=adam");
    /* Every key dpt_trainer_step reads, spelled out: plain Adam at torch's defaults. */
    static const char *const keys[] = {
        "optimizer.lr=0.001", "optimizer.eps=1e-8", "optimizer.weight_decay=0",
        "optimizer.beta1=0.9", "optimizer.beta2=0.999", "optimizer.amsgrad=false",
        "optimizer.clip_norm=0", "regularization.l1=0", "regularization.l2=0",
        "schedule.kind=constant", "schedule.warmup=0", "schedule.scale_lr=false",
        "training.accumulation=1", "training.nonfinite=stop", "training.deterministic=false",
        "data.shuffle=true",
    };
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
        cfg_set(cfg, keys[k]);
    snprintf(a, sizeof a, "training.batch=%ld", batch);
    cfg_set(cfg, a);
    snprintf(a, sizeof a, "training.bucket_mb=%g", bucket_mb);
    cfg_set(cfg, a);
    if (det_blocks > 0) {
        cfg_set(cfg, "training.deterministic=true");
        snprintf(a, sizeof a, "training.blocks=%d", det_blocks);
        cfg_set(cfg, a);
    }

    dpt_err e;
    memset(t, 0, sizeof *t);
    t->cfg = cfg;
    t->comm = comm;
    dpt_grad_source *src = &t->src;
    src->loss = cfg->loss.kind;
    size_t n = (size_t)batch * 8, max_batch;
    synth_classes(&t->train, n, (size_t)in_dim, 10, cfg->run.seed);
    t->ntrain = n;
    if (dpt_reducer_max_rows(cfg, comm, (size_t)batch, &max_batch, &e) != DPT_OK)
        die("%s", e.msg);
    dpt_shape shape = strcmp(dims, CNN_NAME) == 0 ? (dpt_shape){1, 28, 28} : (dpt_shape){in_dim, 1, 1};
    if (dpt_model_init_algo(&t->model, cfg->model.layers, shape, (int)max_batch, cfg->model.conv_algorithm, &e) != DPT_OK ||
        dpt_model_init_params(&t->model, cfg->run.seed, cfg->model.init, &e) != DPT_OK ||
        dpt_optim_init(&t->opt, &cfg->optim, t->model.nparams, &e) != DPT_OK ||
        dpt_sampler_init(&t->sampler, NULL, n, (size_t)batch, 1, 0, cfg->run.seed, &e) != DPT_OK)
        die("%s", e.msg);
    *src = (dpt_grad_source){.model = &t->model, .data = &t->train, .sampler = &t->sampler, .loss = src->loss,
                             .accumulation = 1, .seed = cfg->run.seed, .step = &t->pos.step,
                             .trace = &t->trace};
    src->x = malloc(sizeof(float) * max_batch * t->train.d);
    src->y = malloc(sizeof(float) * max_batch * t->train.tdim);
    src->dout = malloc(sizeof(float) * max_batch * (size_t)t->model.out_dim);
    if (!src->x || !src->y || !src->dout)
        die("out of memory for %s", "batch buffers");
    if (dpt_trainer_split_samples(t, max_batch, &e) != DPT_OK)
        die("%s", e.msg);
    /* The trace's spans time data, forward and backward in the split runs (off in the others). */
    if (dpt_trainer_plan_reduction(t, &e) != DPT_OK ||
        dpt_trace_init(&t->trace, comm, "bench", "1-1000000000", &e) != DPT_OK)
        die("%s", e.msg);
    t->model.trace = &t->trace;
    t->total_steps = INT64_MAX / 2;
    dpt_sampler_set_epoch(&t->sampler, 0);
    dpt_comm_bcast(comm, t->model.params, sizeof(float) * t->model.nparams);
}

/* The next global batch, moving to a new epoch (as run_epoch does, outside the step). */
static size_t next_batch(dpt_trainer *t)
{
    if ((size_t)t->pos.batch_in_epoch >= dpt_sampler_nbatches(&t->sampler)) {
        t->pos.epoch++;
        t->pos.batch_in_epoch = 0;
        dpt_sampler_set_epoch(&t->sampler, t->pos.epoch);
    }
    return (size_t)t->pos.batch_in_epoch++;
}

/* ---------------------------------------------------------------- the timed step */

/* The reducer's ops with clocks around them: the path's own table, called through. */
static const dpt_reducer_ops *g_inner;
static split *g_split;

static double timed_gradients(dpt_reducer *r, size_t i, double *count)
{
    double t0 = dpt_comm_time(), loss = g_inner->gradients(r, i, count);
    g_split->grads += dpt_comm_time() - t0;
    return loss;
}

static int own_inputs(const dpt_reducer *r, const float **in, size_t a)
{
    int k = g_inner->inputs(r, in, a);
    if (g_own_only && k > 1) { /* timing only: this rank's region alone, as one rank averages its own */
        in[0] = in[r->comm->rank];
        return 1;
    }
    return k;
}

static void timed_share_run(dpt_reducer *r, size_t a, size_t b)
{
    double t0 = dpt_comm_time();
    g_inner->share_run(r, a, b);
    g_split->copy += dpt_comm_time() - t0; /* one update thread only (see timed_step) */
}

static void timed_publish(dpt_reducer *r)
{
    double t0 = dpt_comm_time();
    g_inner->publish(r);
    g_split->publish += dpt_comm_time() - t0;
}

static double timed_norm(dpt_reducer *r, double *loss, double *penalty, double sq)
{
    double t0 = dpt_comm_time(), v = g_inner->norm(r, loss, penalty, sq);
    g_split->norm += dpt_comm_time() - t0;
    return v;
}

/* Sums this step's trace spans of the main thread into s, then empties the trace. */
static void add_spans(dpt_trace *tr, split *s)
{
    for (long k = 0; k < tr->n && k < tr->cap; k++) {
        const dpt_trace_event *ev = &tr->ev[k];
        double sec = ev->dur * 1e-6;
        if (ev->tid != 0)
            continue;
        int layer = ev->arg >= 0 && ev->arg < MAX_LAYERS ? (int)ev->arg : -1;
        if (strcmp(ev->cat, "data") == 0) {
            s->data += sec;
        } else if (strcmp(ev->cat, "forward") == 0) {
            s->fwd += sec;
            if (layer >= 0)
                s->lf[layer] += sec;
        } else if (strcmp(ev->cat, "backward") == 0) {
            s->bwd += sec;
            if (layer >= 0)
                s->lb[layer] += sec;
        }
        else if (strcmp(ev->name, "gradients ready: start buckets") == 0)
            s->ready += sec;
    }
    tr->n = 0;
}

/* dpt_trainer_step, with its reducer's ops timed and its trace on. */
static void timed_step(dpt_trainer *t, size_t i, split *s)
{
    dpt_reducer *r = t->reducer;
    const dpt_reducer_ops *inner = r->ops;
    dpt_reducer_ops timed = *inner;
    timed.gradients = timed_gradients;
    timed.inputs = own_inputs;
    timed.publish = timed_publish;
    timed.norm = timed_norm;
    if (!t->update.pool) /* several threads would race on the sum */
        timed.share_run = timed_share_run;
    g_inner = inner;
    g_split = s;
    r->ops = &timed;
    dpt_trace_step(&t->trace, t->pos.step + 1);
    double loss, count, t0 = dpt_comm_time();
    dpt_err e;
    if (dpt_trainer_step(t, i, &loss, &count, &e) != DPT_OK)
        die("dpt_trainer_step: %s", e.msg);
    s->total += dpt_comm_time() - t0;
    dpt_trace_step(&t->trace, 0); /* off again: the untimed runs pay nothing */
    add_spans(&t->trace, s);
    r->ops = inner;
}

/* Steps to time so a run lasts about `seconds`, from one warm step's time; agreed on rank 0's. */
static int steps_for(const dpt_comm *c, double step_time, double seconds)
{
    double k = step_time > 0 ? ceil(seconds / step_time) : 3;
    if (k < 3)
        k = 3;
    if (k > 2000)
        k = 2000;
    int steps = (int)k;
    dpt_comm_bcast(c, &steps, sizeof steps);
    return steps;
}

static double max_over_ranks(const dpt_comm *c, double v)
{
    /* max(a, b) from sums is awkward; ranks are few, so gather each by a masked sum */
    double best = v;
    for (int r = 0; r < c->size; r++) {
        double x = c->rank == r ? v : 0;
        dpt_comm_allreduce_d(c, &x, 1);
        if (x > best)
            best = x;
    }
    return best;
}

/* Timed runs come in CHUNKS; the fastest chunk is reported, so a burst of other work on
 * the machine spoils one chunk rather than the figure. */
enum { CHUNKS = 3 };

/* Waiting for other ranks: the gradients op beyond its computing, and the publishing. */
static double waiting(const split *s)
{
    return fmax(0, s->grads - s->data - s->fwd - s->bwd - s->ready) + s->publish;
}

/* Averaging, update and copies to other ranks: the step beyond the reducer's collective ops. */
static double averaging(const split *s)
{
    return fmax(0, s->total - s->grads - s->publish - s->norm);
}

/* Timed steps after two warm ones; s holds per-step means over ranks of the fastest chunk. */
static void run_split(dpt_trainer *t, double seconds, split *s)
{
    split warm = {0};
    double t0 = dpt_comm_time();
    timed_step(t, next_batch(t), &warm);
    timed_step(t, next_batch(t), &warm);
    int steps = steps_for(t->comm, (dpt_comm_time() - t0) / 2, seconds / CHUNKS);
    for (int chunk = 0; chunk < CHUNKS; chunk++) {
        split c = {0};
        for (int k = 0; k < steps; k++)
            timed_step(t, next_batch(t), &c);
        /* split is all doubles: averaged over steps and ranks as one array */
        enum { NV = sizeof(split) / sizeof(double) };
        double v[NV];
        memcpy(v, &c, sizeof c);
        dpt_comm_allreduce_d(t->comm, v, NV);
        for (int k = 0; k < NV; k++)
            v[k] /= (double)steps * t->comm->size;
        memcpy(&c, v, sizeof c);
        if (chunk == 0 || c.total < s->total)
            *s = c;
    }
}

/* Samples/s of the real dpt_trainer_step (fastest chunk, slowest rank's clock); two warm steps first. */
static double run_trainer(dpt_trainer *t, double seconds, double *step_s)
{
    dpt_err e;
    double loss, count, best = 0;
    double t0 = dpt_comm_time();
    for (int k = 0; k < 2; k++)
        if (dpt_trainer_step(t, next_batch(t), &loss, &count, &e) != DPT_OK)
            die("dpt_trainer_step: %s", e.msg);
    int steps = steps_for(t->comm, (dpt_comm_time() - t0) / 2, seconds / CHUNKS);
    for (int chunk = 0; chunk < CHUNKS; chunk++) {
        double samples = 0;
        t0 = dpt_comm_time();
        for (int k = 0; k < steps; k++) {
            if (dpt_trainer_step(t, next_batch(t), &loss, &count, &e) != DPT_OK)
                die("dpt_trainer_step: %s", e.msg);
            samples += count;
        }
        double dt = max_over_ranks(t->comm, dpt_comm_time() - t0);
        if (samples / dt > best) {
            best = samples / dt;
            *step_s = dt / steps;
        }
    }
    return best;
}

/* Bytes this node has sent on its network interfaces (all but loopback), from /sys/class/net:
 * on an emulated cluster (launch/fake-cluster.sh) each node's link to the others. */
static double link_tx_bytes(void)
{
    double total = 0;
    DIR *d = opendir("/sys/class/net");
    for (struct dirent *de; d && (de = readdir(d));) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "lo") == 0)
            continue;
        char path[300];
        double v;
        snprintf(path, sizeof path, "/sys/class/net/%s/statistics/tx_bytes", de->d_name);
        FILE *f = fopen(path, "r");
        if (f && fscanf(f, "%lf", &v) == 1)
            total += v;
        if (f)
            fclose(f);
    }
    if (d)
        closedir(d);
    return total;
}

/* Link bytes this node sends per step, over a few steps (rank 0's node; collective). */
static double link_bytes_per_step(dpt_trainer *t)
{
    enum { STEPS = 10 };
    dpt_err e;
    double loss, count, before = link_tx_bytes();
    for (int k = 0; k < STEPS; k++)
        if (dpt_trainer_step(t, next_batch(t), &loss, &count, &e) != DPT_OK)
            die("dpt_trainer_step: %s", e.msg);
    max_over_ranks(t->comm, 0); /* every rank done sending */
    return (link_tx_bytes() - before) / STEPS;
}

/* ---------------------------------------------------------------- allreduce */

typedef struct {
    double bucketed, bare; /* best seconds of the gradient allreduce path and of one plain call */
} allreduce_times;

/* Both ranks enter each timed call together: a small allreduce first acts as the barrier. */
static allreduce_times time_allreduce(const dpt_comm *c, size_t n, double bucket_mb)
{
    allreduce_times r = {1e30, 1e30};
    float *buf = calloc(n ? n : 1, sizeof *buf);
    dpt_bucketed *b = dpt_bucketed_new(c, buf, n, (size_t)(bucket_mb * 1048576.0), 0);
    if (!buf || !b)
        die("out of memory for %s", "the allreduce buffer");
    for (int k = 0; k < 12; k++) {
        (void)dpt_comm_any(c, 0);
        double t0 = dpt_comm_time();
        dpt_bucketed_ready(b, 0, n);
        dpt_bucketed_finish(b);
        double t1 = dpt_comm_time() - t0;
        (void)dpt_comm_any(c, 0);
        t0 = dpt_comm_time();
        dpt_comm_allreduce_f(c, buf, n);
        double t2 = dpt_comm_time() - t0;
        if (k >= 2) { /* the first calls set up connections and buffers */
            r.bucketed = fmin(r.bucketed, max_over_ranks(c, t1));
            r.bare = fmin(r.bare, max_over_ranks(c, t2));
        }
    }
    dpt_bucketed_free(b);
    free(buf);
    return r;
}

/* ---------------------------------------------------------------- subnormals */

/* Milliseconds of one Adam update of n parameters whose gradients are zero and whose moments have
 * decayed into subnormals (as for weights of always-zero input pixels), with and without
 * training.flush_denormals. */
static void denormal_figure(const opts *o)
{
    const size_t n = (size_t)1 << 20;
    dpt_optim_config oc;
    dpt_optim_defaults(&oc, DPT_OPT_ADAM);
    dpt_optim opt;
    dpt_err e;
    float *p = calloc(n, sizeof *p), *g = calloc(n, sizeof *g);
    if (!p || !g || dpt_optim_init(&opt, &oc, n, &e) != DPT_OK)
        die("out of memory for %s", "the subnormal figure");
    double ms[2];
    for (int flush = 0; flush < 2; flush++) {
        dpt_fp_flush_denormals(flush);
        ms[flush] = 1e30;
        for (int r = 0; r < 5; r++) {
            for (size_t i = 0; i < n; i++)
                opt.state[0][i] = opt.state[1][i] = 1e-39f;
            dpt_optim_begin_step(&opt);
            double t0 = dpt_comm_time();
            dpt_optim_update(&opt, p, g, 1e-3, 0, n);
            ms[flush] = fmin(ms[flush], (dpt_comm_time() - t0) * 1e3);
        }
    }
    dpt_fp_flush_denormals(1);
    printf("Adam update of %zu parameters with subnormal moments: %.2f ms, %.2f ms with training.flush_denormals "
           "(%.0fx)\n", n, ms[0], ms[1], ms[0] / ms[1]);
    if (o->results) {
        FILE *f = fopen(o->results, "a");
        if (!f)
            die("cannot open %s", o->results);
        fprintf(f, "denormal plain_ms=%.4f flush_ms=%.4f\n", ms[0], ms[1]);
        fclose(f);
    }
    dpt_optim_free(&opt);
    free(p);
    free(g);
}

/* ---------------------------------------------------------------- sgemm peak */

static float *rand_matrix(size_t n, uint64_t stream)
{
    float *a = malloc(sizeof(float) * n);
    if (!a)
        die("out of memory for %s", "GEMM operands");
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(dpt_rng_uniform(7, stream, i) - 0.5);
    return a;
}

/* Best GFLOP/s of C[m][n] (+)= op(A) op(B) over reps calls, through the BLAS or (own) through
 * dpt_gemm_small, which the layers call; A/B/C big enough for any shape here. */
static double gemm_rate(int own, int ta, int tb, int m, int n, int k, float beta, const float *a, const float *b,
                        float *c, int reps)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = dpt_comm_time();
        if (own)
            dpt_gemm_small(ta, tb, m, n, k, a, ta ? m : k, b, tb ? k : n, beta, c, n);
        else
            dpt_gemm(ta, tb, m, n, k, 1.0f, a, ta ? m : k, b, tb ? k : n, beta, c, n);
        best = fmin(best, dpt_comm_time() - t0);
    }
    return 2.0 * m * n * k / best / 1e9;
}

static void peak_mode(const opts *o)
{
    const int s = 2048;
    float *a = rand_matrix((size_t)s * s, 1), *b = rand_matrix((size_t)s * s, 2);
    float *c = rand_matrix((size_t)s * s, 3);
    /* The shapes a dense layer runs: forward Y = X W^T (NT), dW += dY^T X (TN, beta 1), dX = dY W (NN). */
    static const int shapes[][3] = {{2048, 2048, 512}, {2048, 2048, 256}, {2048, 784, 512},
                                    {2048, 784, 256}, {512, 512, 128}, {512, 512, 64},
                                    {512, 784, 128}, {512, 784, 64}};
    enum { NSHAPES = sizeof shapes / sizeof shapes[0] };
    double rate[NSHAPES][3];
    dpt_blas_set_threads(1);
    gemm_rate(0, 0, 0, s, s, s, 0.0f, a, b, c, 1);
    for (int i = 0; i < NSHAPES; i++) {
        int out = shapes[i][0], in = shapes[i][1], m = shapes[i][2];
        rate[i][0] = gemm_rate(1, 0, 1, m, out, in, 1.0f, a, b, c, 8);
        rate[i][1] = gemm_rate(1, 1, 0, out, in, m, 1.0f, a, b, c, 8);
        rate[i][2] = gemm_rate(1, 0, 0, m, in, out, 0.0f, a, b, c, 8);
    }
    /* Peak: the best of the three layouts on 2048^3, through the BLAS and dpt_gemm_small, and of
     * every layer shape, so that no layer can beat "100%" (this VM's clock varies: the best seen is
     * the honest denominator). The 2-thread figure is the BLAS's: dpt_gemm_small runs one thread. */
    double blas = 0, own = 0, p2 = 0;
    for (int th = 1; th <= 2; th++) {
        dpt_blas_set_threads(th);
        for (int l = 0; l < 3; l++) {
            double r = gemm_rate(0, l == 2, l == 1, s, s, s, 0.0f, a, b, c, 6);
            if (th == 1)
                blas = fmax(blas, r);
            else
                p2 = fmax(p2, r);
        }
    }
    dpt_blas_set_threads(1);
    for (int l = 0; l < 3; l++)
        own = fmax(own, gemm_rate(1, l == 2, l == 1, s, s, s, 0.0f, a, b, c, 6));
    double p1 = fmax(blas, own);
    for (int i = 0; i < NSHAPES; i++)
        for (int k = 0; k < 3; k++)
            p1 = fmax(p1, rate[i][k]);
    printf("sgemm peak on 1 thread: %.1f GFLOP/s (best of %dx%dx%d NN/NT/TN through OpenBLAS: %.1f, through "
           "dpt_gemm_small: %.1f%s, and of the layer shapes below); %dx%dx%d through OpenBLAS on 2 threads %.1f "
           "GFLOP/s (%.2fx)\n", p1, s, s, s, blas, own, dpt_gemm_small_native() ? "" : " (no AVX-512: OpenBLAS)", s,
           s, s, p2, p2 / blas);
    printf("  OpenBLAS: %s\n", dpt_blas_info());
    for (int i = 0; i < NSHAPES; i++)
        printf("  1 thread, dense %d->%d, %d rows (dpt_gemm_small): fwd %.0f  dW %.0f  dX %.0f GFLOP/s "
               "(%.0f%% %.0f%% %.0f%% of peak)\n",
               shapes[i][1], shapes[i][0], shapes[i][2], rate[i][0], rate[i][1], rate[i][2], 100 * rate[i][0] / p1,
               100 * rate[i][1] / p1, 100 * rate[i][2] / p1);
    if (o->results) {
        FILE *f = fopen(o->results, "a");
        if (!f)
            die("cannot open %s", o->results);
        fprintf(f, "peak gflops1=%.3f gflops2=%.3f\n", p1, p2);
        fclose(f);
    }
    fflush(stdout);
    free(a);
    free(b);
    free(c);
}

/* ---------------------------------------------------------------- layers of a CNN */

static int has_conv(const dpt_model *m)
{
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].ops->name, "conv") == 0)
            return 1;
    return 0;
}

/* Seconds a step of `rows` samples spends unfolding and folding columns in conv layer l, timed
 * alone on its shapes (best of 3): im2col twice per sample (forward, and backward again), col2im
 * once per sample unless l is the first layer (no input gradient). */
static double im2col_seconds(const dpt_layer *l, int first, int rows)
{
    dpt_conv_geom g = {l->in_shape.c, l->in_shape.h, l->in_shape.w, l->kernel, l->stride, l->pad,
                       l->out_shape.h, l->out_shape.w};
    size_t ncol = (size_t)g.c * g.k * g.k * g.oh * g.ow;
    float *x = rand_matrix((size_t)rows * l->in, 4), *cols = rand_matrix(ncol, 5), *dx = rand_matrix(l->in, 6);
    double best = 1e30;
    for (int r = 0; r < 3; r++) {
        double t0 = dpt_comm_time();
        for (int i = 0; i < rows; i++) {
            dpt_im2col(cols, x + (size_t)i * l->in, g);
            dpt_im2col(cols, x + (size_t)i * l->in, g);
            if (!first)
                dpt_col2im(dx, cols, g);
        }
        best = fmin(best, dpt_comm_time() - t0);
    }
    free(x), free(cols), free(dx);
    return best;
}

/* Per layer forward/backward ms of the split's step, and the shares of the step that conv (and its
 * im2col and col2im alone), pooling and the rest take; rank 0 prints, and appends a "layers" line
 * to the results. */
static void layer_report(const opts *o, const dpt_model *m, const char *dims, long batch, int rows, const split *s)
{
    double conv = 0, pool = 0, act = 0, dense = 0, unfold = 0;
    printf("    per layer, forward/backward ms:");
    for (int i = 0; i < m->nlayers && i < MAX_LAYERS; i++) { /* in the spec's order: spans carry its index */
        const dpt_layer *l = dpt_model_spec_layer(m, i);
        const char *name = l->ops->name;
        double t = s->lf[i] + s->lb[i];
        printf(" %s %.2f/%.2f%s", name, s->lf[i] * 1e3, s->lb[i] * 1e3, i + 1 < m->nlayers ? "," : "\n");
        if (strcmp(name, "conv") == 0) {
            conv += t;
            unfold += im2col_seconds(l, i == 0, rows);
        }
        else if (strstr(name, "pool"))
            pool += t;
        else if (strcmp(name, "dense") == 0)
            dense += t;
        else
            act += t;
    }
    printf("    shares of the step: conv layers %.1f%% (im2col and col2im timed alone on their shapes: %.1f%%), "
           "pooling %.1f%%, dense %.1f%%, activations and dropout %.1f%%\n", 100 * conv / s->total,
           100 * unfold / s->total, 100 * pool / s->total, 100 * dense / s->total, 100 * act / s->total);
    if (o->results) {
        FILE *f = fopen(o->results, "a");
        if (!f)
            die("cannot open %s", o->results);
        fprintf(f, "layers model=%s batch=%ld cfg=%s conv_ms=%.4f im2col_ms=%.4f pool_ms=%.4f dense_ms=%.4f "
                "act_ms=%.4f total_ms=%.4f\n", dims, batch, o->label, conv * 1e3, unfold * 1e3, pool * 1e3,
                dense * 1e3, act * 1e3, s->total * 1e3);
        fclose(f);
    }
}

/* ---------------------------------------------------------------- one configuration */

static void bench_one(const opts *o, const dpt_comm *comm, const char *dims, long batch)
{
    dpt_config cfg;
    dpt_trainer t;
    make_trainer(&t, &cfg, comm, dims, batch, o->bucket_mb, 0, NULL);
    double three_fwd, flops = train_flops(&t.model, &three_fwd);
    double step_s = 0, sps = run_trainer(&t, o->seconds, &step_s);
    double link = comm->size > 1 ? link_bytes_per_step(&t) : 0;
    split s;
    run_split(&t, o->seconds, &s);
    int cores = comm->size * o->threads;
    double mfu = o->peak > 0 ? flops * sps / (o->peak * 1e9 * cores) : NAN;
    double bytes = sizeof(float) * (double)t.model.nparams;
    allreduce_times ar = {NAN, NAN};
    split alt = {0};
    int have_alt = 0;
    if (comm->size > 1) {
        ar = time_allreduce(comm, t.model.nparams, o->bucket_mb);
        if (o->alt_bucket_mb >= 0) {
            dpt_config cfg2;
            dpt_trainer t2;
            make_trainer(&t2, &cfg2, comm, dims, batch, o->alt_bucket_mb, 0, NULL);
            run_split(&t2, o->seconds * 0.5, &alt);
            dpt_trainer_free(&t2);
            have_alt = 1;
        }
    }
    /* What the summing pass costs without the other ranks' regions, on a throwaway trainer (its
     * sums are wrong): the rest of that pass is communication. */
    split own = {0};
    int shared = t.reducer->max_inputs > 1; /* node-shared shards: every rank's region is a summand */
    if (shared) {
        dpt_config cfg5;
        dpt_trainer t5;
        make_trainer(&t5, &cfg5, comm, dims, batch, o->bucket_mb, 0, NULL);
        g_own_only = 1;
        run_split(&t5, o->seconds * 0.5, &own);
        g_own_only = 0;
        dpt_trainer_free(&t5);
    }
    double mpi_sps = 0; /* the same shards through MPI's reduce-scatter and all-gather */
    if (shared) {
        dpt_config cfg4;
        dpt_trainer t4;
        double mpi_step;
        make_trainer(&t4, &cfg4, comm, dims, batch, o->bucket_mb, 0, "training.shared_memory=false");
        mpi_sps = run_trainer(&t4, o->seconds, &mpi_step);
        dpt_trainer_free(&t4);
    }
    double det_sps[2] = {0, 0};
    for (int k = 0; k < 2 && o->det_blocks[k] > 0; k++) {
        dpt_config cfg3;
        dpt_trainer t3;
        double det_step;
        make_trainer(&t3, &cfg3, comm, dims, batch, o->bucket_mb, o->det_blocks[k], NULL);
        det_sps[k] = run_trainer(&t3, o->seconds, &det_step);
        dpt_trainer_free(&t3);
    }
    if (comm->rank == 0) {
        double ms = 1e3;
        /* Node-shared, the summing pass over every region counts as communication beyond what the
         * same pass over this rank's region alone takes (that much one rank spends averaging). */
        double sum = averaging(&s) - s.copy, own_sum = averaging(&own) - own.copy;
        double reading = shared ? fmax(0, sum - own_sum) : 0;
        /* MFU if communication, optimizer and data cost nothing: forward and backward alone. */
        double per_core = flops * (double)batch / comm->size / (s.fwd + s.bwd) / o->threads;
        double ceiling = o->peak > 0 ? per_core / (o->peak * 1e9) : NAN;
        double cm = waiting(&s) + s.copy + reading, opt = sum - reading;
        printf("%s b%ld %s: %.0f samples/s (dpt_trainer_step)  step %.1f ms | timed %.0f samples/s: "
               "data %.2f  fwd %.1f  bwd %.1f (bucket calls %.2f)  communication(exposed) %.2f  optimizer %.2f  "
               "loss and norm %.2f ms  MFU %.0f%%\n",
               dims, batch, o->label, sps, step_s * ms, batch / s.total, s.data * ms, s.fwd * ms,
               s.bwd * ms, s.ready * ms, cm * ms, opt * ms, s.norm * ms, 100 * mfu);
        if (comm->size > 1) {
            printf("    path: %s\n", t.reducer->name);
            printf("    forward and backward alone run at %.0f%% MFU (the ceiling if all else were free)\n",
                   100 * ceiling);
            if (shared)
                printf("    node-shared shards: barriers %.2f ms, summing every rank's region and averaging %.2f ms "
                       "(this rank's region alone %.2f ms: reading the others' %.2f ms), copying the updated shard "
                       "to the other regions %.2f ms; counting the whole summing pass, communication would be "
                       "%.1f%% of the step\n", waiting(&s) * ms, sum * ms, own_sum * ms, reading * ms, s.copy * ms,
                       100 * (waiting(&s) + s.copy + sum) / s.total);
            printf("    gradient of %.2f MB (%zu floats, bucket %g MiB): exposed communication %.2f ms = %.1f%% of "
                   "step, %.2f GB/s; with the bucket calls inside backward %.2f ms = %.1f%%; "
                   "allreduce path alone (after barrier) %.2f ms = %.2f GB/s; bare dpt_comm_allreduce_f %.2f ms = "
                   "%.2f GB/s",
                   bytes / 1e6, t.model.nparams, o->bucket_mb, cm * ms, 100 * cm / s.total,
                   bytes / cm / 1e9, (cm + s.ready) * ms, 100 * (cm + s.ready) / s.total,
                   ar.bucketed * ms, bytes / ar.bucketed / 1e9, ar.bare * ms, bytes / ar.bare / 1e9);
            if (have_alt)
                printf("\n    the same with training.bucket_mb = %g (timed step): %.0f samples/s, exposed "
                       "allreduce %.2f ms, bucket calls %.2f ms, bwd %.1f ms, step %.1f ms",
                       o->alt_bucket_mb, batch / alt.total, (waiting(&alt) + alt.copy) * ms, alt.ready * ms, alt.bwd * ms,
                       alt.total * ms);
            printf("\n");
        }
        if (mpi_sps > 0)
            printf("    shards through MPI (training.shared_memory = false): %.0f samples/s; node-shared memory is "
                   "%.2fx that\n", mpi_sps, sps / mpi_sps);
        if (has_conv(&t.model))
            layer_report(o, &t.model, dims, batch, (int)((batch + comm->size - 1) / comm->size), &s);
        for (int k = 0; k < 2 && o->det_blocks[k] > 0; k++)
            printf("    training.deterministic with %d blocks: %.0f samples/s = %.1f%% slower than the default\n",
                   o->det_blocks[k], det_sps[k], 100 * (1 - det_sps[k] / sps));
        fflush(stdout);
        if (o->results) {
            FILE *f = fopen(o->results, "a");
            if (!f)
                die("cannot open %s", o->results);
            for (int k = 0; k < 2 && o->det_blocks[k] > 0; k++)
                fprintf(f, "det model=%s batch=%ld cfg=%s blocks=%d sps=%.3f default_sps=%.3f\n", dims, batch,
                        o->label, o->det_blocks[k], det_sps[k], sps);
            fprintf(f,
                    "step model=%s batch=%ld cfg=%s sps=%.3f mirrored_sps=%.3f step_ms=%.4f fwd_ms=%.4f "
                    "bwd_ms=%.4f wait_ms=%.4f ready_ms=%.4f optim_ms=%.4f total_ms=%.4f mfu=%.5f flops=%.0f "
                    "flops3=%.0f ceiling=%.5f grad_bytes=%.0f bare_ms=%.4f link_bytes=%.0f nodes=%d\n",
                    dims, batch, o->label, sps, batch / s.total, step_s * ms, s.fwd * ms, s.bwd * ms,
                    cm * ms, s.ready * ms, opt * ms, s.total * ms, mfu, flops, three_fwd, ceiling, bytes,
                    ar.bare * ms, link, comm->nodes);
            fclose(f);
        }
    }
    dpt_trainer_free(&t);
}

/* ---------------------------------------------------------------- main */

static int split_list(char *arg, const char **out, int max)
{
    int n = 0;
    for (char *tok = strtok(arg, ","); tok && n < max; tok = strtok(NULL, ","))
        out[n++] = tok;
    return n;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: step_bench [--peak] [--models 784-512-512-10,...] [--batches 128,512] [--threads N]\n"
            "                  [--seconds S] [--bucket-mb MB] [--alt-bucket-mb MB] [--det-blocks B1[,B2]] [--peak-gflops G]\n"
            "                  [--label NAME] [--results FILE] [--set SECTION.KEY=VALUE]\n"
            "--bucket-mb defaults to what training.bucket_mb = auto means (0 today)\n");
}

static int parse_args(opts *o, int argc, char **argv)
{
    static char models_default[] = "784-512-512-10,784-2048-2048-10";
    *o = (opts){.threads = 1, .seconds = 1.5, .bucket_mb = -1, .alt_bucket_mb = -1}; /* bucket: auto */
    o->nmodels = split_list(models_default, o->models, MAX_LIST);
    o->batches[0] = 128, o->batches[1] = 512, o->nbatches = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--peak") == 0) {
            o->peak_mode = 1;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--models") == 0) {
            o->nmodels = split_list(v, o->models, MAX_LIST);
        } else if (strcmp(a, "--batches") == 0) {
            const char *b[MAX_LIST];
            o->nbatches = split_list(v, b, MAX_LIST);
            for (int k = 0; k < o->nbatches; k++)
                if ((o->batches[k] = atol(b[k])) < 1)
                    return -1;
        } else if (strcmp(a, "--threads") == 0) {
            o->threads = atoi(v);
        } else if (strcmp(a, "--seconds") == 0) {
            o->seconds = atof(v);
        } else if (strcmp(a, "--bucket-mb") == 0) {
            o->bucket_mb = atof(v);
        } else if (strcmp(a, "--alt-bucket-mb") == 0) {
            o->alt_bucket_mb = atof(v);
        } else if (strcmp(a, "--det-blocks") == 0) {
            sscanf(v, "%d,%d", &o->det_blocks[0], &o->det_blocks[1]);
        } else if (strcmp(a, "--peak-gflops") == 0) {
            o->peak = atof(v);
        } else if (strcmp(a, "--label") == 0) {
            o->label = v;
        } else if (strcmp(a, "--set") == 0) {
            g_set = v;
        } else if (strcmp(a, "--results") == 0) {
            o->results = v;
        } else {
            return -1;
        }
    }
    return o->threads >= 1 && o->seconds > 0 && (o->bucket_mb >= 0 || o->bucket_mb == -1) && o->nmodels > 0 ? 0
                                                                                                     : -1;
}

int main(int argc, char **argv)
{
    dpt_comm comm;
    dpt_err e;
    if (dpt_comm_init(&comm, &argc, &argv, &e) != DPT_OK) {
        fprintf(stderr, "step_bench: %s\n", e.msg);
        return 1;
    }
    g_comm = &comm;
    opts o;
    if (parse_args(&o, argc, argv) != 0) {
        if (comm.rank == 0)
            usage();
        dpt_comm_finalize();
        return 2;
    }
    char label[32];
    if (!o.label) {
        snprintf(label, sizeof label, "%dx%d", comm.size, o.threads);
        o.label = label;
    }
    dpt_fp_flush_denormals(1); /* as training.flush_denormals's default */
    if (o.peak_mode) {
        if (comm.rank == 0) {
            peak_mode(&o);
            denormal_figure(&o);
        }
        dpt_comm_finalize();
        return 0;
    }
    if (o.bucket_mb < 0) { /* as training.bucket_mb = auto resolves */
        dpt_config d;
        dpt_config_defaults(&d);
        o.bucket_mb = dpt_reducer_bucket_mb(&d, &comm);
    }
    dpt_blas_set_threads(o.threads);
    g_threads = o.threads;
    for (int m = 0; m < o.nmodels; m++)
        for (int b = 0; b < o.nbatches; b++)
            bench_one(&o, &comm, o.models[m], o.batches[b]);
    dpt_comm_finalize();
    return 0;
}
