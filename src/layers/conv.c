/* 2-D convolution with bias, as torch's nn.Conv2d (square kernel, stride, zero padding):
 * weight [out][in][k][k], bias [out]. Each sample is unfolded into columns (im2col,
 * [in*k*k][oh*ow]) so that its output is one GEMM, W [out][in*k*k] times the columns. Training
 * passes keep every sample's columns in the workspace for the weight gradient; evaluation reuses
 * one sample's. */
#include "dptrain/layer.h"

#include <string.h>

#include "dptrain/tensor.h"

/* Parses "N KxK [stride S] [pad P]" (also "N K"). */
static int parse(dpt_layer *l, const char *arg, dpt_err *e)
{
    const char *p = arg ? arg : "";
    long f, k, k2 = 0, v;
    int ok = dpt_layer_parse_int(&p, 1, 1L << 20, &f) && dpt_layer_parse_int(&p, 1, 1L << 12, &k);
    if (ok && *p == 'x') {
        p++;
        ok = dpt_layer_parse_int(&p, 1, 1L << 12, &k2) && k2 == k;
    }
    l->filters = (int)f, l->kernel = (int)k, l->stride = 1, l->pad = 0;
    while (ok && *p) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        if (strncmp(p, "stride", 6) == 0 && (p += 6, dpt_layer_parse_int(&p, 1, 1L << 12, &v)))
            l->stride = (int)v;
        else if (strncmp(p, "pad", 3) == 0 && (p += 3, dpt_layer_parse_int(&p, 0, 1L << 12, &v)))
            l->pad = (int)v;
        else
            ok = 0;
    }
    if (!ok)
        return dpt_errf(e, "conv needs 'N KxK [stride S] [pad P]' (square kernel), got '%s'", arg ? arg : "");
    return DPT_OK;
}

static int conv_configure(dpt_layer *l, const char *arg, dpt_err *e)
{
    if (parse(l, arg, e) != DPT_OK)
        return DPT_FAIL;
    dpt_shape in = l->in_shape;
    int oh, ow;
    if (dpt_layer_window(in.h, l->kernel, l->stride, l->pad, &oh, "kernel", e) != DPT_OK ||
        dpt_layer_window(in.w, l->kernel, l->stride, l->pad, &ow, "kernel", e) != DPT_OK)
        return DPT_FAIL;
    if ((double)in.c * l->kernel * l->kernel * oh * ow > (1 << 30))
        return dpt_errf(e, "conv: %d x %dx%d columns of %dx%d outputs exceed 2^30 values per sample", in.c, l->kernel,
                        l->kernel, oh, ow);
    l->out_shape = (dpt_shape){l->filters, oh, ow};
    int64_t k = l->kernel;
    dpt_layer_add_param(l, "weight", 1, 4, (int64_t[]){l->filters, in.c, k, k});
    dpt_layer_add_param(l, "bias", 0, 1, (int64_t[]){l->filters});
    size_t cols = sizeof(float) * (size_t)in.c * (size_t)(k * k) * (size_t)oh * (size_t)ow;
    l->ws_fixed = 2 * cols; /* one sample's columns and the columns of its input gradient */
    return DPT_OK;
}

static void conv_init(dpt_layer *l, uint64_t seed, uint64_t stream, dpt_init_kind kind)
{
    double kk = (double)l->kernel * l->kernel;
    dpt_layer_init_weights(l, l->param[0].len, l->in_shape.c * kk, l->filters * kk, seed, stream, kind);
    memset(l->b, 0, sizeof(float) * (size_t)l->filters);
}

typedef struct {
    int c, h, w, k, s, p, oh, ow;
} geom;

static geom geometry(const dpt_layer *l)
{
    return (geom){l->in_shape.c, l->in_shape.h, l->in_shape.w, l->kernel, l->stride, l->pad,
                  l->out_shape.h, l->out_shape.w};
}

/* The outputs [*lo, *hi) of a row whose input column ow * s - p + kj falls inside [0, w): the
 * interior, where no bounds test is needed; outside it the padding reads as zero. */
static void interior(geom g, int kj, int *lo, int *hi)
{
    int off = kj - g.p; /* input column of output 0 */
    int a = off >= 0 ? 0 : (-off + g.s - 1) / g.s;
    int b = g.w - 1 - off < 0 ? 0 : (g.w - 1 - off) / g.s + 1;
    *lo = a < g.ow ? a : g.ow;
    *hi = b < *lo ? *lo : (b < g.ow ? b : g.ow);
}

/* cols [c*k*k][oh*ow] from one sample x [c][h][w]; padding reads as zero. Each row of outputs is
 * split into its border (zeros) and its interior (a plain copy, contiguous for stride 1): the
 * bounds test per value made im2col and col2im about a sixth of the reference CNN's step. */
static void im2col(float *cols, const float *x, geom g)
{
    for (int c = 0; c < g.c; c++)
        for (int ki = 0; ki < g.k; ki++)
            for (int kj = 0; kj < g.k; kj++) {
                float *row = cols + ((size_t)(c * g.k + ki) * g.k + kj) * (size_t)(g.oh * g.ow);
                const float *plane = x + (size_t)c * g.h * g.w;
                int lo, hi;
                interior(g, kj, &lo, &hi);
                for (int oh = 0; oh < g.oh; oh++) {
                    int ih = oh * g.s - g.p + ki;
                    float *r = row + (size_t)oh * g.ow;
                    if (ih < 0 || ih >= g.h) {
                        memset(r, 0, sizeof(float) * (size_t)g.ow);
                        continue;
                    }
                    const float *src = plane + (size_t)ih * g.w + (kj - g.p);
                    for (int ow = 0; ow < lo; ow++)
                        r[ow] = 0.0f;
                    if (g.s == 1)
                        memcpy(r + lo, src + lo, sizeof(float) * (size_t)(hi - lo));
                    else
                        for (int ow = lo; ow < hi; ow++)
                            r[ow] = src[ow * g.s];
                    for (int ow = hi; ow < g.ow; ow++)
                        r[ow] = 0.0f;
                }
            }
}

/* dx [c][h][w] = the sum of cols [c*k*k][oh*ow] folded back onto the input positions they came
 * from; only each row's interior lands inside the input. */
static void col2im(float *dx, const float *cols, geom g)
{
    memset(dx, 0, sizeof(float) * (size_t)g.c * g.h * g.w);
    for (int c = 0; c < g.c; c++)
        for (int ki = 0; ki < g.k; ki++)
            for (int kj = 0; kj < g.k; kj++) {
                const float *row = cols + ((size_t)(c * g.k + ki) * g.k + kj) * (size_t)(g.oh * g.ow);
                float *plane = dx + (size_t)c * g.h * g.w;
                int lo, hi;
                interior(g, kj, &lo, &hi);
                for (int oh = 0; oh < g.oh; oh++) {
                    int ih = oh * g.s - g.p + ki;
                    if (ih < 0 || ih >= g.h)
                        continue;
                    const float *r = row + (size_t)oh * g.ow;
                    float *dst = plane + (size_t)ih * g.w + (kj - g.p);
                    if (g.s == 1)
                        for (int ow = lo; ow < hi; ow++)
                            dst[ow] += r[ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            dst[ow * g.s] += r[ow];
                }
            }
}

/* The sum of v[0..n) in 16 interleaved partial sums, added pairwise at the end: one running sum
 * is a chain of dependent additions that no compiler may reorder, and it took a tenth of the
 * reference CNN's step as the bias gradient. The order is fixed, so results stay deterministic. */
static float sum16(const float *v, int n)
{
    float acc[16] = {0};
    int j = 0;
    for (; j + 16 <= n; j += 16)
        for (int t = 0; t < 16; t++)
            acc[t] += v[j + t];
    for (int t = 0; j < n; j++, t++)
        acc[t] += v[j];
    for (int w = 8; w >= 1; w /= 2)
        for (int t = 0; t < w; t++)
            acc[t] += acc[t + w];
    return acc[0];
}

static void conv_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    geom g = geometry(l);
    int f = l->filters, ckk = g.c * g.k * g.k, ohw = g.oh * g.ow;
    float *cols0 = (float *)l->ws + (size_t)ckk * ohw;
    (void)ctx;
    for (int i = 0; i < n; i++) {
        float *cols = cols0;
        float *yi = y + (size_t)i * l->out;
        im2col(cols, x + (size_t)i * l->in, g);
        for (int o = 0; o < f; o++)
            for (int j = 0; j < ohw; j++)
                yi[(size_t)o * ohw + j] = l->b[o];
        dpt_gemm(0, 0, f, ohw, ckk, 1.0f, l->w, ckk, cols, ohw, 1.0f, yi, ohw);
    }
}

static void conv_backward(const dpt_layer *l, float *dx, const float *dy, const float *x, const float *y,
                          int n, int accumulate)
{
    (void)y;
    geom g = geometry(l);
    int f = l->filters, ckk = g.c * g.k * g.k, ohw = g.oh * g.ow;
    float *dcols = l->ws, *cols = dcols + (size_t)ckk * ohw;
    if (!accumulate)
        memset(l->db, 0, sizeof(float) * (size_t)f);
    for (int i = 0; i < n; i++) {
        const float *dyi = dy + (size_t)i * l->out;
        im2col(cols, x + (size_t)i * l->in, g);
        /* dW (+)= dY_i cols_i^T, written by the first sample unless accumulating. */
        dpt_gemm(0, 1, f, ckk, ohw, 1.0f, dyi, ohw, cols, ohw, accumulate || i > 0 ? 1.0f : 0.0f, l->dw, ckk);
        for (int o = 0; o < f; o++)
            l->db[o] += sum16(dyi + (size_t)o * ohw, ohw);
        if (dx) {
            dpt_gemm(1, 0, ckk, ohw, f, 1.0f, l->w, ckk, dyi, ohw, 0.0f, dcols, ohw);
            col2im(dx + (size_t)i * l->in, dcols, g);
        }
    }
}

const dpt_layer_ops dpt_layer_conv = {
    .name = "conv",
    .syntax = "conv N KxK [stride S] [pad P]",
    .configure = conv_configure,
    .init = conv_init,
    .forward = conv_forward,
    .backward = conv_backward,
};
