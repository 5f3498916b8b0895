/* The optimizers of torch.optim (gd, sgd, adagrad, rmsprop, adam, adamw) as
 * one fused loop each over a slice of the model's parameter buffer, plus the
 * gradient norm and clipping. The formulas, names and defaults follow the
 * torch.optim documentation so that a run carried over from PyTorch takes
 * the same trajectory. The state is the step counter t and the moment
 * buffers, nothing else, so a checkpoint of those resumes exactly: that is
 * why "first step" is derived from t, never from a flag. Element-wise work
 * is in float; per-step scalars (bias corrections, decayed rates) are
 * computed once per call in double. */
#include "dptrain/optim.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"gd", "sgd", "adagrad", "rmsprop", "adam", "adamw"};
enum { NKINDS = (int)(sizeof kind_names / sizeof kind_names[0]) };

void dpt_optim_defaults(dpt_optim_config *c, dpt_optim_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->lr = 0.01;
    c->alpha = 0.99;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    switch (kind) {
    case DPT_OPT_ADAGRAD: c->eps = 1e-10; break;
    case DPT_OPT_ADAM: c->lr = 1e-3; break;
    case DPT_OPT_ADAMW: c->lr = 1e-3; c->weight_decay = 1e-2; break;
    default: break;
    }
}

int dpt_optim_kind_parse(dpt_optim_kind *kind, const char *name)
{
    for (int i = 0; name && i < NKINDS; i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *kind = (dpt_optim_kind)i;
            return DPT_OK;
        }
    return DPT_FAIL;
}

const char *dpt_optim_kind_name(int kind)
{
    return kind >= 0 && kind < NKINDS ? kind_names[kind] : NULL;
}

/* x must be finite and >= 0 (NaN fails every comparison, so it is caught too). */
static int nonneg(double x, const char *key, dpt_err *e)
{
    if (!(x >= 0) || !isfinite(x))
        return dpt_errf(e, "optimizer.%s = %g: must be a finite number >= 0", key, x);
    return DPT_OK;
}

/* lo <= x < hi, or lo <= x <= hi when closed. */
static int within(double x, double lo, double hi, int closed, const char *key, dpt_err *e)
{
    if (!(x >= lo) || !(closed ? x <= hi : x < hi))
        return dpt_errf(e, "optimizer.%s = %g: must be in [%g, %g%c", key, x, lo, hi,
                        closed ? ']' : ')');
    return DPT_OK;
}

int dpt_optim_check(const dpt_optim_config *c, dpt_err *e)
{
    if ((int)c->kind < 0 || (int)c->kind >= NKINDS)
        return dpt_errf(e, "optimizer.kind = %d: unknown (gd, sgd, adagrad, rmsprop, adam, adamw)",
                        (int)c->kind);
    if (nonneg(c->lr, "lr", e) || nonneg(c->weight_decay, "weight_decay", e) ||
        nonneg(c->momentum, "momentum", e) || within(c->dampening, 0, 1, 1, "dampening", e) ||
        within(c->alpha, 0, 1, 1, "alpha", e) || nonneg(c->lr_decay, "lr_decay", e) ||
        nonneg(c->initial_accumulator_value, "initial_accumulator_value", e) ||
        within(c->beta1, 0, 1, 0, "beta1", e) || within(c->beta2, 0, 1, 0, "beta2", e) ||
        nonneg(c->eps, "eps", e))
        return DPT_FAIL;
    if (c->kind == DPT_OPT_SGD && c->nesterov && (c->momentum <= 0 || c->dampening != 0))
        return dpt_errf(e, "optimizer.nesterov = true: needs momentum > 0 and dampening = 0 "
                        "(momentum = %g, dampening = %g)", c->momentum, c->dampening);
    return DPT_OK;
}

static int add_state(dpt_optim *o, const char *name, float init)
{
    size_t m = o->n ? o->n : 1;
    float *b = init == 0.0f ? calloc(m, sizeof *b) : malloc(m * sizeof *b);
    if (!b)
        return DPT_FAIL;
    if (init != 0.0f)
        for (size_t i = 0; i < m; i++)
            b[i] = init;
    o->state_name[o->nstate] = name;
    o->state[o->nstate++] = b;
    return DPT_OK;
}

int dpt_optim_init(dpt_optim *o, const dpt_optim_config *c, size_t n, dpt_err *e)
{
    memset(o, 0, sizeof *o);
    if (dpt_optim_check(c, e))
        return DPT_FAIL;
    if (n > SIZE_MAX / sizeof(float) / 2)
        return dpt_errf(e, "optimizer: %zu parameters is too many", n);
    o->cfg = *c;
    o->n = n;
    int rc = DPT_OK;
    switch (c->kind) {
    case DPT_OPT_GD: break;
    case DPT_OPT_SGD:
        if (c->momentum > 0)
            rc = add_state(o, "momentum_buffer", 0.0f);
        break;
    case DPT_OPT_ADAGRAD:
        rc = add_state(o, "sum", (float)c->initial_accumulator_value);
        break;
    case DPT_OPT_RMSPROP: /* torch's order: square_avg, momentum_buffer, grad_avg */
        rc = add_state(o, "square_avg", 0.0f);
        if (!rc && c->momentum > 0)
            rc = add_state(o, "momentum_buffer", 0.0f);
        if (!rc && c->centered)
            rc = add_state(o, "grad_avg", 0.0f);
        break;
    case DPT_OPT_ADAM:
    case DPT_OPT_ADAMW:
        rc = add_state(o, "exp_avg", 0.0f);
        if (!rc)
            rc = add_state(o, "exp_avg_sq", 0.0f);
        if (!rc && c->amsgrad)
            rc = add_state(o, "max_exp_avg_sq", 0.0f);
        break;
    }
    if (rc) {
        dpt_optim_free(o);
        return dpt_errf(e, "optimizer %s: out of memory for state of %zu parameters",
                        dpt_optim_kind_name(c->kind), n);
    }
    return DPT_OK;
}

void dpt_optim_free(dpt_optim *o)
{
    if (!o)
        return;
    for (int i = 0; i < DPT_OPTIM_MAX_STATE; i++)
        free(o->state[i]);
    memset(o, 0, sizeof *o);
}

void dpt_optim_begin_step(dpt_optim *o)
{
    o->t++;
}

static void upd_gd(float *restrict p, const float *restrict g, size_t n, float lr, float wd)
{
    for (size_t i = 0; i < n; i++)
        p[i] -= lr * (g[i] + wd * p[i]);
}

static void upd_sgd(const dpt_optim *o, float *restrict p, const float *restrict g, size_t lo,
                    size_t n, double lr, int64_t t)
{
    const dpt_optim_config *c = &o->cfg;
    const float lrf = (float)lr, wd = (float)c->weight_decay;
    if (c->momentum <= 0) {
        upd_gd(p, g, n, lrf, wd);
        return;
    }
    float *restrict b = o->state[0] + lo;
    const float mu = (float)c->momentum;
    const float take = (float)(1.0 - c->dampening);
    /* torch seeds the buffer with the gradient itself on the first step, undampened */
    const int first = t == 1, nest = c->nesterov;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float bi = first ? gi : mu * b[i] + take * gi;
        b[i] = bi;
        p[i] -= lrf * (nest ? gi + mu * bi : bi);
    }
}

static void upd_adagrad(const dpt_optim *o, float *restrict p, const float *restrict g, size_t lo,
                        size_t n, double lr, int64_t t)
{
    const dpt_optim_config *c = &o->cfg;
    const float clr = (float)(lr / (1.0 + (double)(t - 1) * c->lr_decay));
    const float wd = (float)c->weight_decay, eps = (float)c->eps;
    float *restrict s = o->state[0] + lo;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float si = s[i] + gi * gi;
        s[i] = si;
        p[i] -= clr * gi / (sqrtf(si) + eps);
    }
}

static void upd_rmsprop(const dpt_optim *o, float *restrict p, const float *restrict g, size_t lo,
                        size_t n, double lr)
{
    const dpt_optim_config *c = &o->cfg;
    const float lrf = (float)lr, wd = (float)c->weight_decay, eps = (float)c->eps;
    const float a = (float)c->alpha, a1 = (float)(1.0 - c->alpha), mu = (float)c->momentum;
    int k = 0;
    float *restrict v = o->state[k++] + lo;
    float *restrict b = c->momentum > 0 ? o->state[k++] + lo : NULL;
    float *restrict ga = c->centered ? o->state[k++] + lo : NULL;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] + wd * p[i];
        float vi = a * v[i] + a1 * gi * gi;
        v[i] = vi;
        if (ga) {
            float gai = a * ga[i] + a1 * gi;
            ga[i] = gai;
            /* exact arithmetic keeps this >= 0; rounding must not turn it into a NaN */
            vi = fmaxf(vi - gai * gai, 0.0f);
        }
        float step = gi / (sqrtf(vi) + eps);
        if (b) {
            step += mu * b[i];
            b[i] = step;
        }
        p[i] -= lrf * step;
    }
}

static void upd_adam(const dpt_optim *o, float *restrict p, const float *restrict g, size_t lo,
                     size_t n, double lr, int64_t t)
{
    const dpt_optim_config *c = &o->cfg;
    const int decoupled = c->kind == DPT_OPT_ADAMW;
    const double bc1 = 1.0 - pow(c->beta1, (double)t), bc2 = 1.0 - pow(c->beta2, (double)t);
    const float step = (float)(lr / bc1), bc2s = (float)sqrt(bc2);
    const float b1 = (float)c->beta1, b11 = (float)(1.0 - c->beta1);
    const float b2 = (float)c->beta2, b21 = (float)(1.0 - c->beta2);
    const float eps = (float)c->eps;
    const float wd = decoupled ? 0.0f : (float)c->weight_decay;
    const float shrink = decoupled ? (float)(1.0 - lr * c->weight_decay) : 1.0f;
    float *restrict m = o->state[0] + lo, *restrict v = o->state[1] + lo;
    float *restrict vmax = c->amsgrad ? o->state[2] + lo : NULL;
    for (size_t i = 0; i < n; i++) {
        float pi = p[i] * shrink;
        float gi = g[i] + wd * pi;
        float mi = b1 * m[i] + b11 * gi;
        float vi = b2 * v[i] + b21 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        if (vmax) {
            vi = fmaxf(vmax[i], vi);
            vmax[i] = vi;
        }
        p[i] = pi - step * mi / (sqrtf(vi) / bc2s + eps);
    }
}

void dpt_optim_update(dpt_optim *o, float *params, const float *grads, double lr, size_t lo,
                      size_t hi)
{
    dpt_optim_update_run(o, params, grads + lo, lr, lo, hi);
}

void dpt_optim_update_run(dpt_optim *o, float *params, const float *g, double lr, size_t lo, size_t hi)
{
    if (hi > o->n)
        hi = o->n;
    if (lo >= hi)
        return;
    /* a caller that forgot dpt_optim_begin_step still gets finite bias corrections */
    const int64_t t = o->t < 1 ? 1 : o->t;
    float *p = params + lo;
    const size_t n = hi - lo;
    switch (o->cfg.kind) {
    case DPT_OPT_GD: upd_gd(p, g, n, (float)lr, (float)o->cfg.weight_decay); break;
    case DPT_OPT_SGD: upd_sgd(o, p, g, lo, n, lr, t); break;
    case DPT_OPT_ADAGRAD: upd_adagrad(o, p, g, lo, n, lr, t); break;
    case DPT_OPT_RMSPROP: upd_rmsprop(o, p, g, lo, n, lr); break;
    case DPT_OPT_ADAM:
    case DPT_OPT_ADAMW: upd_adam(o, p, g, lo, n, lr, t); break;
    }
}

/* Eight running sums in double, always combined in the same order: a fixed
 * summation order that the compiler can vectorize, unlike one running sum. */
enum { LANES = DPT_NORM_LANES };

static double lanes_total(const double acc[LANES])
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double dpt_grad_norm(const float *g, size_t n)
{
    double acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++)
            acc[k] += (double)g[i + k] * (double)g[i + k];
    for (; i < n; i++)
        acc[i % LANES] += (double)g[i] * (double)g[i];
    return sqrt(lanes_total(acc));
}

double dpt_grad_scale_norm(float *g, size_t n, float scale)
{
    double acc[LANES] = {0};
    size_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int k = 0; k < LANES; k++) {
            g[i + k] *= scale;
            acc[k] += (double)g[i + k] * (double)g[i + k];
        }
    for (; i < n; i++) {
        g[i] *= scale;
        acc[i % LANES] += (double)g[i] * (double)g[i];
    }
    return sqrt(lanes_total(acc));
}

/* out = scale * x over m elements (a multiple of LANES; out may be x), adding the squares to acc. */
static void scale_into(float *out, const float *x, size_t m, float scale, double acc[LANES])
{
    for (size_t i = 0; i < m; i += LANES)
        for (int k = 0; k < LANES; k++) {
            float v = x[i + k] * scale;
            out[i + k] = v;
            acc[k] += (double)v * (double)v;
        }
}

void dpt_grad_sum_scale_acc(float *out, const float *const *in, int k, size_t n, float scale,
                            double acc[DPT_NORM_LANES])
{
    /* Blocks small enough for L1: each input is streamed once, the output written once. */
    enum { BLOCK = 1024 };
    float sum[BLOCK];
    size_t i0 = 0;
    for (; i0 < n; i0 += BLOCK) {
        size_t m = n - i0 < BLOCK ? n - i0 : BLOCK, whole = m / LANES * LANES;
        const float *a = in[0] + i0, *x = a; /* one input is scaled where it lies */
        if (k > 1) {
            for (size_t j = 0; j < m; j++)
                sum[j] = a[j] + in[1][i0 + j];
            for (int q = 2; q < k; q++)
                for (size_t j = 0; j < m; j++)
                    sum[j] += in[q][i0 + j];
            x = sum;
        }
        scale_into(out + i0, x, whole, scale, acc);
        for (size_t j = whole; j < m; j++) {
            float v = x[j] * scale;
            out[i0 + j] = v;
            acc[j % LANES] += (double)v * (double)v;
        }
    }
}

double dpt_norm_total(const double acc[DPT_NORM_LANES])
{
    return lanes_total(acc);
}

double dpt_grad_sum_scale_norm(float *out, const float *const *in, int k, size_t n, float scale)
{
    double acc[DPT_NORM_LANES] = {0};
    dpt_grad_sum_scale_acc(out, in, k, n, scale, acc);
    return sqrt(lanes_total(acc));
}

double dpt_grad_clip(float *g, size_t n, double norm, double max_norm)
{
    if (!(max_norm > 0) || !(norm > max_norm))
        return 1.0;
    /* torch.nn.utils.clip_grad_norm_: the 1e-6 keeps the result just under max_norm */
    const double scale = max_norm / (norm + 1e-6);
    const float s = (float)scale;
    for (size_t i = 0; i < n; i++)
        g[i] *= s;
    return scale;
}
