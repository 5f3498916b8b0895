/* Fully connected layer y = x W^T + b, with W [out][in] as PyTorch's
 * nn.Linear stores it, so checkpoints map one to one. */
#include "dptrain/layer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/rng.h"
#include "dptrain/tensor.h"

static int dense_configure(dpt_layer *l, int in, const char *arg, dpt_err *e)
{
    char *end;
    errno = 0;
    long out = arg ? strtol(arg, &end, 10) : 0;
    if (!arg || *arg == '\0' || *end != '\0' || errno || out < 1 || out > (1L << 24))
        return dpt_errf(e, "dense needs a width from 1 to 16777216, got '%s'", arg ? arg : "");
    l->in = in;
    l->out = (int)out;
    l->nweights = (size_t)in * (size_t)out;
    l->nparams = l->nweights + (size_t)out;
    return DPT_OK;
}

/* Xavier/Glorot uniform for saturating activations, He normal for ReLU. */
static void dense_init(dpt_layer *l, uint64_t seed, uint64_t stream, dpt_init_kind kind)
{
    double fan_in = l->in, fan_out = l->out;
    if (kind == DPT_INIT_HE) {
        double sd = sqrt(2.0 / fan_in);
        for (size_t i = 0; i < l->nweights; i++)
            l->w[i] = (float)(sd * dpt_rng_normal(seed, stream, i));
    } else {
        double a = sqrt(6.0 / (fan_in + fan_out));
        for (size_t i = 0; i < l->nweights; i++)
            l->w[i] = (float)(a * (2.0 * dpt_rng_uniform(seed, stream, i) - 1.0));
    }
    memset(l->b, 0, sizeof(float) * (size_t)l->out);
}

static void dense_forward(const dpt_layer *l, float *y, const float *x, int n)
{
    for (int i = 0; i < n; i++)
        memcpy(y + (size_t)i * l->out, l->b, sizeof(float) * (size_t)l->out);
    dpt_gemm(0, 1, n, l->out, l->in, 1.0f, x, l->in, l->w, l->in, 1.0f, y, l->out);
}

static void dense_backward(const dpt_layer *l, float *dx, const float *dy, const float *x,
                           const float *y, int n, int accumulate)
{
    (void)y;
    /* dW (+)= dY^T X: accumulating lets micro-batches add up before the allreduce;
     * writing saves zeroing the buffer first. */
    dpt_gemm(1, 0, l->out, l->in, n, 1.0f, dy, l->out, x, l->in, accumulate ? 1.0f : 0.0f, l->dw, l->in);
    if (!accumulate)
        memset(l->db, 0, sizeof(float) * (size_t)l->out);
    for (int i = 0; i < n; i++) {
        const float *row = dy + (size_t)i * l->out;
        for (int j = 0; j < l->out; j++)
            l->db[j] += row[j];
    }
    if (dx)
        dpt_gemm(0, 0, n, l->in, l->out, 1.0f, dy, l->out, l->w, l->in, 0.0f, dx, l->in);
}

const dpt_layer_ops dpt_layer_dense = {
    .name = "dense",
    .in_place = 0,
    .needs_output = 0,
    .configure = dense_configure,
    .init = dense_init,
    .forward = dense_forward,
    .backward = dense_backward,
};
