/* 2-D convolution with bias, as torch's nn.Conv2d (square kernel, stride, zero padding):
 * weight [out][in][k][k], bias [out]. Each sample is unfolded into columns (im2col,
 * [in*k*k][oh*ow], src/layers/im2col.c) so that its output is one GEMM, W [out][in*k*k] times
 * the columns (through dpt_gemm_small: thin products). Backward unfolds each sample again rather
 * than keeping every sample's columns from forward: a sample's columns then sit in cache for both
 * of its GEMMs, and the workspace is two column buffers, not one per sample (29 MB per rank for
 * the reference CNN at batch 128), for a step that measured as fast or faster. One GEMM per
 * sample, not one over the whole batch: on these shapes it ran as fast as the batched GEMM and
 * needs no transpose into NCHW.
 * 3x3 kernels of stride 1 with enough input channels go through Winograd F(2x2,3x3) instead
 * (src/layers/winograd.c, model.conv_algorithm): 16 multiplies per 2x2 output tile, not 36.
 * A first layer of few input channels goes through a direct convolution (src/layers/direct.c),
 * whose rows of outputs use the vector units fully where im2col's GEMM has an inner dimension of 9. */
#include "dptrain/layer.h"

#include <string.h>

#include "dptrain/direct.h"
#include "dptrain/im2col.h"
#include "dptrain/smallgemm.h"
#include "dptrain/winograd.h"

/* auto takes Winograd for 3x3 stride-1 convolutions of at least this many input channels.
 * Measured forward + backward at batch 128, one OpenBLAS thread (AMD EPYC, OpenBLAS's Cooperlake
 * kernels), im2col vs Winograd, ms: 32 filters on 28x28 with 1 channel 2.5 vs 6.6, 4: 7.6 vs 7.9,
 * 8: 14.9 vs 11.2, 16: 29 vs 19.5; 64 filters on 14x14 with 4 channels 3.5 vs 4.8, 8: 6.4 vs 6.1,
 * 16: 12.7 vs 9.0, 32 (the reference CNN's second conv): 24.2-24.9 vs 14.6-15.4. Few channels
 * leave Winograd's GEMMs too thin to pay for its transforms. */
enum { WINO_MIN_CHANNELS = 8 };

/* auto takes the direct convolution (src/layers/direct.c) for the model's first layer (which needs
 * no input gradient: the direct one is a plain scatter, 3-5x slower than im2col's) with at most
 * this many input channels and a stride of 1 or 2 (larger strides gather). Measured forward/backward
 * without input gradient at batch 128, one thread (AMD EPYC, AVX-512, OpenBLAS Haswell kernels;
 * a shared VM, two runs), im2col vs direct, ms: 32 filters 3x3 pad 1 on 28x28 with 1 channel
 * 1.16/2.24 vs 0.46/1.59-1.72, 3: 2.32/4.31 vs 1.14/3.91, 4: 2.7-3.5/4.4-5.5 vs 2.4/5.5-5.7,
 * 8: 5.3/7.4 vs 4.0-4.4/8.6-8.9; 5x5 pad 2 with 1 channel 2.61/5.0 vs 1.0-1.3/3.7-4.7; 3x3 stride 2
 * pad 1 on 27x27 with 1 channel 0.36-0.57/0.58-0.94 vs 0.21-0.33/0.46-0.64, 4: 1.3-1.8/1.7-2.3 vs
 * 0.7-1.2/1.7-3.3; 64 filters on 14x14 with 4 channels 1.6-2.1/2.1-2.4 vs 1.6-2.3/2.2-3.7. With dx
 * (a later layer, 3x3 on 1 channel) backward took 3.4 vs 7.1. */
enum { DIRECT_MAX_CHANNELS = 3, DIRECT_MAX_STRIDE = 2 };

static const char *const algorithm_names[] = {[DPT_CONV_AUTO] = "auto", [DPT_CONV_IM2COL] = "im2col",
                                              [DPT_CONV_WINOGRAD] = "winograd", [DPT_CONV_DIRECT] = "direct"};

const char *dpt_conv_algorithm_name(int algorithm)
{
    int n = (int)(sizeof algorithm_names / sizeof algorithm_names[0]);
    return algorithm >= 0 && algorithm < n ? algorithm_names[algorithm] : NULL;
}

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

/* Resolves l->algorithm (auto, or what model.conv_algorithm asked) to im2col, winograd or direct. */
static int choose(dpt_layer *l, dpt_err *e)
{
    int fits = l->kernel == 3 && l->stride == 1;
    if (l->algorithm == DPT_CONV_WINOGRAD && !fits)
        return dpt_errf(e, "model.conv_algorithm = winograd needs a 3x3 kernel of stride 1, not %dx%d stride %d",
                        l->kernel, l->kernel, l->stride);
    if (l->algorithm == DPT_CONV_WINOGRAD || l->algorithm == DPT_CONV_DIRECT)
        return DPT_OK; /* direct serves every convolution */
    if (l->algorithm == DPT_CONV_AUTO && l->index == 0 && l->in_shape.c <= DIRECT_MAX_CHANNELS &&
        l->stride <= DIRECT_MAX_STRIDE && dpt_direct_vectorized())
        l->algorithm = DPT_CONV_DIRECT;
    else if (l->algorithm == DPT_CONV_AUTO && fits && l->in_shape.c >= WINO_MIN_CHANNELS)
        l->algorithm = DPT_CONV_WINOGRAD;
    else
        l->algorithm = DPT_CONV_IM2COL;
    return DPT_OK;
}

static void wino_geometry(dpt_wino *g, const dpt_layer *l)
{
    dpt_wino_plan(g, l->in_shape.c, l->in_shape.h, l->in_shape.w, l->filters, l->pad);
}

static dpt_conv_geom geometry(const dpt_layer *l)
{
    return (dpt_conv_geom){l->in_shape.c, l->in_shape.h, l->in_shape.w, l->kernel, l->stride, l->pad,
                           l->out_shape.h, l->out_shape.w};
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
    if (choose(l, e) != DPT_OK)
        return DPT_FAIL;
    if (l->algorithm == DPT_CONV_WINOGRAD) {
        dpt_wino g;
        wino_geometry(&g, l);
        l->ws_fixed = dpt_wino_ws_bytes(&g);
        return DPT_OK;
    }
    if (l->algorithm == DPT_CONV_DIRECT) {
        l->ws_fixed = dpt_direct_ws_bytes(geometry(l), l->filters);
        return DPT_OK;
    }
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
    dpt_conv_geom g = geometry(l);
    int f = l->filters, ckk = g.c * g.k * g.k, ohw = g.oh * g.ow;
    float *cols = (float *)l->ws + (size_t)ckk * ohw;
    (void)ctx;
    if (l->algorithm == DPT_CONV_WINOGRAD) {
        dpt_wino wg;
        wino_geometry(&wg, l);
        dpt_wino_forward(&wg, l->ws, y, x, l->w, l->b, n);
        return;
    }
    if (l->algorithm == DPT_CONV_DIRECT) {
        dpt_direct_forward(g, f, l->ws, y, x, l->w, l->b, n);
        return;
    }
    for (int i = 0; i < n; i++) {
        float *yi = y + (size_t)i * l->out;
        dpt_im2col(cols, x + (size_t)i * l->in, g);
        for (int o = 0; o < f; o++)
            for (int j = 0; j < ohw; j++)
                yi[(size_t)o * ohw + j] = l->b[o];
        dpt_gemm_small(0, 0, f, ohw, ckk, l->w, ckk, cols, ohw, 1.0f, yi, ohw);
    }
}

static void conv_backward(const dpt_layer *l, float *dx, const float *dy, const float *x, const float *y,
                          int n, int accumulate)
{
    (void)y;
    dpt_conv_geom g = geometry(l);
    int f = l->filters, ckk = g.c * g.k * g.k, ohw = g.oh * g.ow;
    float *dcols = l->ws, *cols = dcols + (size_t)ckk * ohw;
    if (l->algorithm == DPT_CONV_DIRECT) { /* the bias gradient too, in the same pass over dy */
        dpt_direct_backward(g, f, l->ws, dx, l->dw, l->db, dy, x, l->w, n, accumulate);
        return;
    }
    if (!accumulate)
        memset(l->db, 0, sizeof(float) * (size_t)f);
    if (l->algorithm == DPT_CONV_WINOGRAD) {
        dpt_wino wg;
        wino_geometry(&wg, l);
        dpt_wino_backward(&wg, l->ws, dx, l->dw, dy, x, l->w, n, accumulate);
        for (int i = 0; i < n; i++)
            for (int o = 0; o < f; o++)
                l->db[o] += sum16(dy + (size_t)i * l->out + (size_t)o * ohw, ohw);
        return;
    }
    for (int i = 0; i < n; i++) {
        const float *dyi = dy + (size_t)i * l->out;
        dpt_im2col(cols, x + (size_t)i * l->in, g);
        /* dW (+)= dY_i cols_i^T, written by the first sample unless accumulating. */
        dpt_gemm_small(0, 1, f, ckk, ohw, dyi, ohw, cols, ohw, accumulate || i > 0 ? 1.0f : 0.0f, l->dw, ckk);
        for (int o = 0; o < f; o++)
            l->db[o] += sum16(dyi + (size_t)o * ohw, ohw);
        if (dx) {
            dpt_gemm_small(1, 0, ckk, ohw, f, l->w, ckk, dyi, ohw, 0.0f, dcols, ohw);
            dpt_col2im(dx + (size_t)i * l->in, dcols, g);
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
