/* Fully connected layer y = x W^T + b, with W [out][in] as PyTorch's nn.Linear stores it, so
 * checkpoints map one to one. A C x H x W input is read flat in its C, H, W order, as nn.Flatten
 * would hand it over (the model says so in its notes). */
#include "dptrain/layer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/smallgemm.h"

static int dense_configure(dpt_layer *l, const char *arg, dpt_err *e)
{
    char *end;
    errno = 0;
    long out = arg ? strtol(arg, &end, 10) : 0;
    if (!arg || *arg == '\0' || *end != '\0' || errno || out < 1 || out > (1L << 24))
        return dpt_errf(e, "dense needs a width from 1 to 16777216, got '%s'", arg ? arg : "");
    l->out_shape = (dpt_shape){(int)out, 1, 1};
    dpt_layer_add_param(l, "weight", 1, 2, (int64_t[]){out, l->in});
    dpt_layer_add_param(l, "bias", 0, 1, (int64_t[]){out});
    return DPT_OK;
}

static void dense_init(dpt_layer *l, uint64_t seed, uint64_t stream, dpt_init_kind kind)
{
    dpt_layer_init_weights(l, l->param[0].len, l->in, l->out, seed, stream, kind);
    memset(l->b, 0, sizeof(float) * (size_t)l->out);
}

static void dense_forward(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n)
{
    (void)ctx;
    for (int i = 0; i < n; i++)
        memcpy(y + (size_t)i * l->out, l->b, sizeof(float) * (size_t)l->out);
    dpt_gemm_small(0, 1, n, l->out, l->in, x, l->in, l->w, l->in, 1.0f, y, l->out);
}

/* dX = dY W, apart from the parameter gradients (dpt_layer_ops.backward_input). */
static void dense_backward_input(const dpt_layer *l, float *dx, const float *dy, int n)
{
    dpt_gemm_small(0, 0, n, l->in, l->out, dy, l->out, l->w, l->in, 0.0f, dx, l->in);
}

static void dense_backward(const dpt_layer *l, float *dx, const float *dy, const float *x,
                           const float *y, int n, int accumulate)
{
    (void)y;
    /* dW (+)= dY^T X: accumulating lets micro-batches add up before the allreduce;
     * writing saves zeroing the buffer first. */
    dpt_gemm_small(1, 0, l->out, l->in, n, dy, l->out, x, l->in, accumulate ? 1.0f : 0.0f, l->dw, l->in);
    if (!accumulate)
        memset(l->db, 0, sizeof(float) * (size_t)l->out);
    for (int i = 0; i < n; i++) {
        const float *row = dy + (size_t)i * l->out;
        for (int j = 0; j < l->out; j++)
            l->db[j] += row[j];
    }
    if (dx)
        dense_backward_input(l, dx, dy, n);
}

const dpt_layer_ops dpt_layer_dense = {
    .name = "dense",
    .syntax = "dense N",
    .reads_flat = 1,
    .configure = dense_configure,
    .init = dense_init,
    .forward = dense_forward,
    .backward = dense_backward,
    .backward_input = dense_backward_input,
};
