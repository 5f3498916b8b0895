/* Element-wise activations. Each backward needs only the output y (identity not even that), so
 * the forward pass may overwrite its input and both passes run in place, unless the layer before
 * needs its own output for its backward (the model checks needs_output). */
#include "dptrain/layer.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dptrain/lanes.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define RELU_BITS 1
#else
#define RELU_BITS 0
#endif

/* The shape passes through: an activation acts on each value alone. */
static int act_configure(dpt_layer *l, const char *arg, dpt_err *e)
{
    if (arg && *arg)
        return dpt_errf(e, "%s takes no argument, got '%s'", l->ops->name, arg);
    l->out_shape = l->in_shape;
    return DPT_OK;
}

static void act_init(dpt_layer *l, uint64_t seed, uint64_t stream, dpt_init_kind kind)
{
    (void)l, (void)seed, (void)stream, (void)kind;
}

#define SIZE(l, n) ((size_t)(n) * (size_t)(l)->out)

static void identity_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    (void)ctx;
    if (y != x)
        memcpy(y, x, sizeof(float) * SIZE(l, n));
}

static void identity_backward(const dpt_layer *l, float *dx, const float *dy, const float *x,
                              const float *y, int n, int accumulate)
{
    (void)accumulate;
    (void)x, (void)y;
    if (dx && dx != dy)
        memcpy(dx, dy, sizeof(float) * SIZE(l, n));
}

#if RELU_BITS
/* ReLU keeps one bit per value, whether it was positive, so that backward reads 1/32 of what y
 * would cost: dx = dy where the bit is set, else 0 (the same bits as from y > 0). Its backward
 * was the slowest element-wise loop of the reference CNN's step (three streams: y, dy, dx; 1.2 ms
 * at batch 128 after the first convolution, twice its forward). The workspace holds the bits of
 * the whole batch, 16 values a word, with a tail word's slack in ws_fixed. */
static int relu_configure(dpt_layer *l, const char *arg, dpt_err *e)
{
    if (act_configure(l, arg, e) != DPT_OK)
        return DPT_FAIL;
    l->ws_fixed = 64;
    l->ws_per_sample = ((size_t)dpt_shape_size(l->out_shape) + 7) / 8;
    return DPT_OK;
}

static void relu_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    (void)ctx;
    size_t m = SIZE(l, n);
    uint16_t *bits = l->ws;
    for (size_t i = 0; i < m; i += 16) { /* masked loads and stores only in the tail: 2x faster */
        __mmask16 t = dpt_lanes16((long)(m - i));
        __m512 v = t == 0xffff ? _mm512_loadu_ps(x + i) : _mm512_maskz_loadu_ps(t, x + i);
        __mmask16 pos = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_GT_OQ);
        if (t == 0xffff)
            _mm512_storeu_ps(y + i, _mm512_maskz_mov_ps(pos, v));
        else
            _mm512_mask_storeu_ps(y + i, t, _mm512_maskz_mov_ps(pos, v));
        bits[i / 16] = pos;
    }
}

static void relu_backward(const dpt_layer *l, float *dx, const float *dy, const float *x,
                          const float *y, int n, int accumulate)
{
    (void)accumulate;
    (void)x, (void)y;
    size_t m = SIZE(l, n);
    const uint16_t *bits = l->ws;
    if (dx)
        for (size_t i = 0; i < m; i += 16) {
            __mmask16 t = dpt_lanes16((long)(m - i));
            if (t == 0xffff)
                _mm512_storeu_ps(dx + i, _mm512_maskz_mov_ps(bits[i / 16], _mm512_loadu_ps(dy + i)));
            else
                _mm512_mask_storeu_ps(dx + i, t, _mm512_maskz_loadu_ps((__mmask16)(bits[i / 16] & t), dy + i));
        }
}
#else
#define relu_configure act_configure

/* Both loops compare and select without branches (vectorized: signs are random, and a branch
 * mispredicted half the time made ReLU 12% of a small model's step); the loads are unconditional
 * so the compiler may do so. */
static void relu_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    (void)ctx;
    size_t m = SIZE(l, n);
    for (size_t i = 0; i < m; i++) {
        float v = x[i];
        y[i] = v > 0.0f ? v : 0.0f;
    }
}

static void relu_backward(const dpt_layer *l, float *dx, const float *dy, const float *x,
                          const float *y, int n, int accumulate)
{
    (void)accumulate;
    (void)x;
    size_t m = SIZE(l, n);
    if (dx)
        for (size_t i = 0; i < m; i++) {
            float g = dy[i], v = y[i];
            dx[i] = v > 0.0f ? g : 0.0f;
        }
}
#endif

static void tanh_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    (void)ctx;
    size_t m = SIZE(l, n);
    for (size_t i = 0; i < m; i++)
        y[i] = tanhf(x[i]);
}

static void tanh_backward(const dpt_layer *l, float *dx, const float *dy, const float *x,
                          const float *y, int n, int accumulate)
{
    (void)accumulate;
    (void)x;
    size_t m = SIZE(l, n);
    if (dx)
        for (size_t i = 0; i < m; i++)
            dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

static void sigmoid_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    (void)ctx;
    size_t m = SIZE(l, n);
    for (size_t i = 0; i < m; i++) {
        /* Split by sign so exp never overflows. */
        float v = x[i];
        if (v >= 0.0f) {
            y[i] = 1.0f / (1.0f + expf(-v));
        } else {
            float z = expf(v);
            y[i] = z / (1.0f + z);
        }
    }
}

static void sigmoid_backward(const dpt_layer *l, float *dx, const float *dy, const float *x,
                             const float *y, int n, int accumulate)
{
    (void)accumulate;
    (void)x;
    size_t m = SIZE(l, n);
    if (dx)
        for (size_t i = 0; i < m; i++)
            dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

#define identity_configure act_configure
#define tanh_configure act_configure
#define sigmoid_configure act_configure

/* MAX: commutes with a max pool (model.c's runs_swapped). ReLU does: it keeps positive values and
 * sends the rest to +0 with a zero gradient, so it makes no new ties among positive values.
 * tanh and sigmoid do not: both can round two different inputs to one value, and the first
 * maximum, which takes the gradient, moves. */
#define ACTIVATION(NAME, NEEDS_Y, HE, MAX)                                                    \
    const dpt_layer_ops dpt_layer_##NAME = {                                                  \
        .name = #NAME, .syntax = #NAME, .in_place = 1, .needs_output = NEEDS_Y,               \
        .he_before = HE, .commutes_with_max = MAX, .configure = NAME##_configure,             \
        .init = act_init, .forward = NAME##_forward, .backward = NAME##_backward,             \
    }

ACTIVATION(identity, 0, 0, 0);
ACTIVATION(relu, 1, 1, 1); /* reads its bits, not y, with AVX-512; y without */
ACTIVATION(tanh, 1, 0, 0);
ACTIVATION(sigmoid, 1, 0, 0);
