/* Sample threads (see the header). Replicas are whole models, built once, whose parameter views
 * are pointed at the rank's parameters before each run: a reducer may have moved them (node-shared
 * memory). Thread k always takes rows run k and sums into replica k, so the bits depend on the
 * thread count only, never on which thread ran first. */
#include "dptrain/replicas.h"

#include <stdlib.h>
#include <string.h>

#include "dptrain/pool.h"
#include "dptrain/smallgemm.h"
#include "dptrain/tensor.h"

/* The smallest model that takes sample threads for dpt_gemm_small's sake (64 Ki parameters). */
enum { AUTO_MIN_PARAMS = 1 << 16 };

struct dpt_replicas {
    int n;                  /* threads, counting the caller */
    dpt_pool *pool;
    dpt_model *model;       /* the rank's model: part 0 */
    float **own_params;     /* [n] each replica's own parameter buffer, bound back before freeing */
    float **own_grads;      /* [n] and gradient buffer (a caller may bind others: dpt_replicas_run_each) */
    dpt_replica_part *part; /* [n] */
    void (*fn)(void *ctx, dpt_replica_part *p);
    void *ctx;
};

int dpt_replicas_auto(const dpt_model *m, int threads)
{
    if (threads < 1)
        return 1; /* the library's callers may leave training.threads unresolved (0) */
    /* Every layer's products then run on one thread; a model this small would spend more on
     * waking threads than they save (a linear regression, say). */
    if (dpt_gemm_small_native() && m->nparams >= AUTO_MIN_PARAMS)
        return threads;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        if (l->nparams && !l->ops->reads_flat && (long)l->in_shape.h * l->in_shape.w > 1)
            return threads;
    }
    return 1;
}

static int add_replica(dpt_replicas *r, int k, const char *spec, size_t rows, size_t d, size_t tdim, dpt_err *e)
{
    dpt_replica_part *p = &r->part[k];
    p->model = calloc(1, sizeof *p->model);
    /* As the model was built, down to its convolutions' algorithm: the same code on every thread. */
    if (!p->model ||
        dpt_model_init_algo(p->model, spec, r->model->in_shape, (int)rows, r->model->conv_algorithm, e) != DPT_OK)
        return p->model ? DPT_FAIL : dpt_errf(e, "train: out of memory for sample threads");
    r->own_params[k] = p->model->params;
    r->own_grads[k] = p->model->grads;
    p->x = malloc(sizeof(float) * rows * d);
    p->y = malloc(sizeof(float) * rows * tdim);
    p->dout = malloc(sizeof(float) * rows * (size_t)p->model->out_dim);
    if (!p->x || !p->y || !p->dout)
        return dpt_errf(e, "train: out of memory for sample threads");
    return DPT_OK;
}

int dpt_replicas_new(dpt_replicas **out, dpt_model *m, const char *spec, int threads, size_t max_rows, size_t d,
                     size_t tdim, float *x, float *y, float *dout, dpt_err *e)
{
    *out = NULL;
    if (threads < 2)
        return DPT_OK;
    dpt_replicas *r = calloc(1, sizeof *r);
    if (!r || !(r->part = calloc((size_t)threads, sizeof *r->part)) ||
        !(r->own_params = calloc((size_t)threads, sizeof *r->own_params)) ||
        !(r->own_grads = calloc((size_t)threads, sizeof *r->own_grads))) {
        dpt_replicas_free(r);
        return dpt_errf(e, "train: out of memory for sample threads");
    }
    r->n = threads, r->model = m;
    r->part[0] = (dpt_replica_part){.model = m, .x = x, .y = y, .dout = dout};
    for (int k = 1; k < threads; k++)
        if (add_replica(r, k, spec, max_rows, d, tdim, e) != DPT_OK) {
            dpt_replicas_free(r);
            return DPT_FAIL;
        }
    if (!(r->pool = dpt_pool_new(threads))) {
        dpt_replicas_free(r);
        return dpt_errf(e, "train: cannot start %d sample threads", threads);
    }
    *out = r;
    return DPT_OK;
}

int dpt_replicas_threads(const dpt_replicas *r)
{
    return r ? r->n : 1;
}

void dpt_replicas_free(dpt_replicas *r)
{
    if (!r)
        return;
    dpt_pool_free(r->pool);
    for (int k = 1; r->part && k < r->n; k++) {
        dpt_replica_part *p = &r->part[k];
        if (p->model && r->own_params[k]) {
            dpt_model_bind_params(p->model, r->own_params[k]);
            dpt_model_bind_grads(p->model, r->own_grads[k]);
        }
        if (p->model)
            dpt_model_free(p->model);
        free(p->model);
        free(p->x);
        free(p->y);
        free(p->dout);
    }
    free(r->part);
    free(r->own_params);
    free(r->own_grads);
    free(r);
}

static void run_one(void *ctx, long k, int thread)
{
    (void)thread;
    dpt_replicas *r = ctx;
    r->fn(r->ctx, &r->part[k]);
}

/* Runs fn on every part with rows on the threads, each thread's GEMMs on one BLAS thread (the
 * threads are the parallelism), the replicas' parameters bound to the model's current ones. */
static void run_parts(dpt_replicas *r, int count, void (*fn)(void *ctx, dpt_replica_part *p), void *ctx)
{
    for (int k = 1; k < count; k++)
        dpt_model_bind_params(r->part[k].model, r->model->params);
    r->fn = fn, r->ctx = ctx;
    int blas = dpt_blas_threads();
    dpt_blas_set_threads(1);
    dpt_pool_run(r->pool, run_one, r, count);
    dpt_blas_set_threads(blas);
}

void dpt_replicas_run(dpt_replicas *r, size_t begin, size_t n, void (*fn)(void *ctx, dpt_replica_part *p),
                      void *ctx)
{
    for (int k = 0; k < r->n; k++) {
        size_t lo = n * (size_t)k / (size_t)r->n, hi = n * (size_t)(k + 1) / (size_t)r->n;
        r->part[k].begin = begin + lo, r->part[k].n = hi - lo;
    }
    run_parts(r, r->n, fn, ctx);
}

dpt_replica_part *dpt_replicas_run_each(dpt_replicas *r, int count, const size_t *begin, const size_t *n,
                                        float *const *grads, void (*fn)(void *ctx, dpt_replica_part *p), void *ctx)
{
    for (int k = 0; k < count; k++) {
        dpt_replica_part *p = &r->part[k];
        p->begin = begin[k], p->n = n[k], p->loss = p->correct = 0;
        dpt_model_bind_grads(p->model, grads[k]);
    }
    run_parts(r, count, fn, ctx);
    return r->part;
}

void dpt_replicas_sum(dpt_replicas *r, double *loss, double *correct)
{
    dpt_model *m = r->model;
    if (!r->part[0].written)
        dpt_model_zero_grad(m);
    for (int k = 0; k < r->n; k++) {
        dpt_replica_part *p = &r->part[k];
        *loss += p->loss, *correct += p->correct;
        if (k > 0 && p->written)
            for (size_t j = 0; j < m->nparams; j++)
                m->grads[j] += p->model->grads[j];
        p->loss = p->correct = 0, p->written = 0;
    }
}
