/* Dropout, as torch's nn.Dropout: in training each value is zeroed with probability P and the
 * rest scaled by 1/(1-P); in evaluation the identity. Whether a value drops is a pure function
 * of (seed, step, layer, the sample's global index, element) drawn from the counter-based
 * generator, so a sample gets the same mask on any number of ranks, in any micro-batch, after
 * any resume, and checkpoints need no dropout state. The workspace keeps the scaled mask for
 * backward. */
#include "dptrain/layer.h"

#include <stdlib.h>
#include <string.h>

#include "dptrain/rng.h"

static int dropout_configure(dpt_layer *l, const char *arg, dpt_err *e)
{
    char *end = NULL;
    double p = arg && *arg ? strtod(arg, &end) : -1;
    if (!end || *end != '\0' || !(p >= 0 && p < 1))
        return dpt_errf(e, "dropout needs a probability P with 0 <= P < 1, got '%s'", arg ? arg : "");
    l->rate = (float)p;
    l->out_shape = l->in_shape;
    l->ws_per_sample = sizeof(float) * (size_t)dpt_shape_size(l->in_shape);
    return DPT_OK;
}

static void dropout_init(dpt_layer *l, uint64_t seed, uint64_t stream, dpt_init_kind kind)
{
    (void)l, (void)seed, (void)stream, (void)kind;
}

static void dropout_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    float *mask = l->ws;
    size_t m = (size_t)l->out;
    if (!ctx->train) {
        /* A backward after an evaluation pass (tests do that) sees the identity. */
        for (size_t i = 0; i < (size_t)n * m; i++)
            mask[i] = 1.0f;
        if (y != x)
            memcpy(y, x, sizeof(float) * (size_t)n * m);
        return;
    }
    float scale = 1.0f / (1.0f - l->rate); /* torch divides the kept mask by (1 - p) in float */
    uint64_t key = dpt_rng_u64(ctx->seed, DPT_STREAM_DROPOUT + (uint64_t)l->index, ctx->step);
    for (int i = 0; i < n; i++) {
        uint64_t id = ctx->ids ? (uint64_t)ctx->ids[i] : (uint64_t)i;
        float *mi = mask + (size_t)i * m;
        for (size_t j = 0; j < m; j++)
            mi[j] = dpt_rng_uniform(key, id, j) < l->rate ? 0.0f : scale;
    }
    for (size_t i = 0; i < (size_t)n * m; i++)
        y[i] = x[i] * mask[i];
}

static void dropout_backward(const dpt_layer *l, float *dx, const float *dy, const float *x, const float *y,
                             int n, int accumulate)
{
    (void)x, (void)y, (void)accumulate;
    const float *mask = l->ws;
    if (dx)
        for (size_t i = 0; i < (size_t)n * l->out; i++)
            dx[i] = dy[i] * mask[i];
}

const dpt_layer_ops dpt_layer_dropout = {
    .name = "dropout", .syntax = "dropout P", .in_place = 1, .configure = dropout_configure,
    .init = dropout_init, .forward = dropout_forward, .backward = dropout_backward,
};
