/* Flatten: C x H x W becomes C*H*W x 1 x 1, the values untouched (torch's nn.Flatten order).
 * It runs in place, so it costs nothing but a name in the model. */
#include "dptrain/layer.h"

#include <string.h>

static int flatten_configure(dpt_layer *l, const char *arg, dpt_err *e)
{
    if (arg && *arg)
        return dpt_errf(e, "flatten takes no argument, got '%s'", arg);
    l->out_shape = (dpt_shape){dpt_shape_size(l->in_shape), 1, 1};
    return DPT_OK;
}

static void flatten_init(dpt_layer *l, uint64_t seed, uint64_t stream, dpt_init_kind kind)
{
    (void)l, (void)seed, (void)stream, (void)kind;
}

static void flatten_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    (void)ctx;
    if (y != x)
        memcpy(y, x, sizeof(float) * (size_t)n * l->out);
}

static void flatten_backward(const dpt_layer *l, float *dx, const float *dy, const float *x, const float *y,
                             int n, int accumulate)
{
    (void)x, (void)y, (void)accumulate;
    if (dx && dx != dy)
        memcpy(dx, dy, sizeof(float) * (size_t)n * l->in);
}

const dpt_layer_ops dpt_layer_flatten = {
    .name = "flatten", .syntax = "flatten", .in_place = 1, .configure = flatten_configure,
    .init = flatten_init, .forward = flatten_forward, .backward = flatten_backward,
};
