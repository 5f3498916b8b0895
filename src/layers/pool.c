/* Max and average pooling over square windows, as torch's nn.MaxPool2d and nn.AvgPool2d
 * (stride defaults to the window, no padding). The gradient of a max goes to the first maximum
 * in the window's row-major order, as torch's does; the workspace keeps its position. */
#include "dptrain/layer.h"

#include <stdint.h>
#include <string.h>

/* Parses "K [stride S]". */
static int pool_configure(dpt_layer *l, const char *arg, dpt_err *e)
{
    const char *p = arg ? arg : "";
    long k, s;
    int ok = dpt_layer_parse_int(&p, 1, 1L << 12, &k);
    l->kernel = l->stride = (int)k;
    while (ok && (*p == ' ' || *p == '\t'))
        p++;
    if (ok && *p) {
        ok = strncmp(p, "stride", 6) == 0 && (p += 6, dpt_layer_parse_int(&p, 1, 1L << 12, &s));
        l->stride = (int)s;
        while (ok && (*p == ' ' || *p == '\t'))
            p++;
        ok = ok && !*p;
    }
    if (!ok)
        return dpt_errf(e, "%s needs 'K [stride S]', got '%s'", l->ops->name, arg ? arg : "");
    dpt_shape in = l->in_shape;
    int oh, ow;
    if (dpt_layer_window(in.h, l->kernel, l->stride, 0, &oh, "window", e) != DPT_OK ||
        dpt_layer_window(in.w, l->kernel, l->stride, 0, &ow, "window", e) != DPT_OK)
        return DPT_FAIL;
    l->out_shape = (dpt_shape){in.c, oh, ow};
    return DPT_OK;
}

/* 2x2 windows of stride 2 over rows of even width take the two-pass path below. */
static int pairs(const dpt_layer *l)
{
    return l->kernel == 2 && l->stride == 2 && l->in_shape.w == 2 * l->out_shape.w;
}

/* A max pool also keeps, per output value, where its maximum sat in the input plane (after a
 * fixed scratch of one plane's row maxima for the two-pass path). */
static int maxpool_configure(dpt_layer *l, const char *arg, dpt_err *e)
{
    if (pool_configure(l, arg, e) != DPT_OK)
        return DPT_FAIL;
    size_t half = 2 * (size_t)l->out_shape.h * l->out_shape.w;
    l->ws_fixed = pairs(l) ? ((sizeof(float) + sizeof(int32_t)) * half + 63) & ~(size_t)63 : 0;
    l->ws_per_sample = sizeof(int32_t) * (size_t)dpt_shape_size(l->out_shape);
    return DPT_OK;
}

static int32_t *argmax(const dpt_layer *l)
{
    return (int32_t *)((char *)l->ws + l->ws_fixed);
}

/* The window's first maximum in row-major order is the later row's pick only if strictly greater
 * than the earlier row's, so pairs within rows, then pairs of rows, give torch's answer (a NaN
 * wins, the last one, as in its sequential scan). Both passes are long unit-stride loops that
 * vectorize; one pass over each window of four took 5-6 ms of the reference CNN's first pooling
 * at batch 128, a third of its step's non-GEMM time. */
static void maxpool2_forward(const dpt_layer *l, float *y, const float *x, int n)
{
    int w = l->in_shape.w, h = l->in_shape.h, oh = l->out_shape.h, ow = l->out_shape.w;
    int half = 2 * oh * ow; /* one value per pair of columns, over the 2 * oh rows used */
    float *hm = l->ws;
    int32_t *hp = (int32_t *)(hm + half), *arg = argmax(l);
    for (int c = 0; c < n * l->in_shape.c; c++) {
        const float *xp = x + (size_t)c * h * w;
        for (int q = 0; q < half; q++) { /* w = 2 * ow: pair q covers values 2q and 2q + 1 */
            float a = xp[2 * q], b = xp[2 * q + 1];
            int more = (b > a) | (b != b);
            hm[q] = more ? b : a;
            hp[q] = 2 * q + more;
        }
        float *yp = y + (size_t)c * oh * ow;
        int32_t *ap = arg + (size_t)c * oh * ow;
        for (int i = 0; i < oh; i++) {
            const float *m0 = hm + 2 * i * ow, *m1 = m0 + ow;
            const int32_t *p0 = hp + 2 * i * ow, *p1 = p0 + ow;
            for (int j = 0; j < ow; j++) {
                float a = m0[j], b = m1[j];
                int more = (b > a) | (b != b);
                yp[i * ow + j] = more ? b : a;
                ap[i * ow + j] = more ? p1[j] : p0[j];
            }
        }
    }
}

static void pool_init(dpt_layer *l, uint64_t seed, uint64_t stream, dpt_init_kind kind)
{
    (void)l, (void)seed, (void)stream, (void)kind;
}

/* Window offsets (a, b) in row-major order, each compared across a whole output row with
 * selects, not branches (a loop over each window with a branch per value took 19% of the
 * reference CNN's step under perf, this one 12-14%); strictly greater keeps the first maximum,
 * and a NaN wins, as in torch. */
static void maxpool_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    (void)ctx;
    int h = l->in_shape.h, w = l->in_shape.w, k = l->kernel, s = l->stride;
    int oh = l->out_shape.h, ow = l->out_shape.w, planes = n * l->in_shape.c;
    int32_t *arg = argmax(l);
    if (pairs(l)) {
        maxpool2_forward(l, y, x, n);
        return;
    }
    for (int c = 0; c < planes; c++) {
        const float *xp = x + (size_t)c * h * w;
        for (int i = 0; i < oh; i++) {
            size_t o = ((size_t)c * oh + i) * ow;
            float *yo = y + o;
            int32_t *ao = arg + o;
            for (int j = 0; j < ow; j++) {
                yo[j] = xp[i * s * w + j * s];
                ao[j] = i * s * w + j * s;
            }
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++) {
                    if (a == 0 && b == 0)
                        continue;
                    int base = (i * s + a) * w + b;
                    const float *r = xp + base;
                    for (int j = 0; j < ow; j++) {
                        float v = r[j * s], cur = yo[j];
                        int32_t at = ao[j];
                        int more = (v > cur) | (v != v); /* as torch: greater, or a NaN */
                        yo[j] = more ? v : cur;
                        ao[j] = more ? base + j * s : at;
                    }
                }
        }
    }
}

static void maxpool_backward(const dpt_layer *l, float *dx, const float *dy, const float *x, const float *y,
                             int n, int accumulate)
{
    (void)x, (void)y, (void)accumulate;
    if (!dx)
        return;
    size_t plane_in = (size_t)l->in_shape.h * l->in_shape.w, plane_out = (size_t)l->out_shape.h * l->out_shape.w;
    const int32_t *arg = argmax(l);
    memset(dx, 0, sizeof(float) * (size_t)n * l->in);
    for (size_t c = 0; c < (size_t)n * l->in_shape.c; c++)
        for (size_t o = 0; o < plane_out; o++)
            dx[c * plane_in + arg[c * plane_out + o]] += dy[c * plane_out + o];
}

static void avgpool_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    (void)ctx;
    int h = l->in_shape.h, w = l->in_shape.w, k = l->kernel, s = l->stride;
    int oh = l->out_shape.h, ow = l->out_shape.w, planes = n * l->in_shape.c;
    float scale = 1.0f / (float)(k * k);
    for (int c = 0; c < planes; c++) {
        const float *xp = x + (size_t)c * h * w;
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                float sum = 0;
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++)
                        sum += xp[(i * s + a) * w + j * s + b];
                y[((size_t)c * oh + i) * ow + j] = sum * scale;
            }
    }
}

static void avgpool_backward(const dpt_layer *l, float *dx, const float *dy, const float *x, const float *y,
                             int n, int accumulate)
{
    (void)x, (void)y, (void)accumulate;
    if (!dx)
        return;
    int h = l->in_shape.h, w = l->in_shape.w, k = l->kernel, s = l->stride;
    int oh = l->out_shape.h, ow = l->out_shape.w, planes = n * l->in_shape.c;
    float scale = 1.0f / (float)(k * k);
    memset(dx, 0, sizeof(float) * (size_t)n * l->in);
    for (int c = 0; c < planes; c++) {
        float *dp = dx + (size_t)c * h * w;
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                float g = dy[((size_t)c * oh + i) * ow + j] * scale;
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++)
                        dp[(i * s + a) * w + j * s + b] += g;
            }
    }
}

const dpt_layer_ops dpt_layer_maxpool = {
    .name = "maxpool", .syntax = "maxpool K [stride S]", .configure = maxpool_configure, .init = pool_init,
    .forward = maxpool_forward, .backward = maxpool_backward,
};

const dpt_layer_ops dpt_layer_avgpool = {
    .name = "avgpool", .syntax = "avgpool K [stride S]", .configure = pool_configure, .init = pool_init,
    .forward = avgpool_forward, .backward = avgpool_backward,
};
