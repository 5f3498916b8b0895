/* A sequential stack of layers whose parameters live in ONE contiguous
 * float buffer and whose gradients in another, laid out layer after layer,
 * each layer's tensors in the order of its descriptors (weights then bias).
 * Activation and workspace buffers are sized once for max_batch, so forward
 * and backward never allocate. Knows nothing of MPI. */
#ifndef DPTRAIN_MODEL_H
#define DPTRAIN_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "dptrain/error.h"
#include "dptrain/layer.h"
#include "dptrain/trace.h"
#include "dptrain/optim.h"

typedef struct {
    int nlayers;
    dpt_layer *layers;
    int in_dim, out_dim;   /* values per sample in and out */
    dpt_shape in_shape;    /* the input's C x H x W (in_dim x 1 x 1 for flat data) */
    size_t nparams;
    float *params;     /* [nparams] */
    float *grads;      /* [nparams] */
    int max_batch;
    size_t width;      /* widest layer input or output */
    const float *input;/* the batch given to the last forward */
    float **acts;      /* acts[i]: output of layer i, [max_batch][layers[i].out]; in-place layers share */
    float *dbuf[2];    /* ping-pong gradient buffers for backward */
    void *ws;          /* every layer's workspace, one allocation */
    char notes[512];   /* what the build did on its own (an implicit flatten, a swap), for the log; or "" */
    dpt_trace *trace;  /* a span per layer and pass when set (training.trace), else NULL */
    int conv_algorithm;/* what conv layers were asked to compute with (dpt_conv_algorithm) */
} dpt_model;

/* Called by backward when grads[off..off+len) are final for this batch (last layer first). */
typedef void (*dpt_grad_ready_fn)(void *ctx, size_t off, size_t len);

/* Builds the stack from a spec like "dense 512, relu, dense 10" for flat inputs of in_dim. */
int dpt_model_init(dpt_model *m, const char *spec, int in_dim, int max_batch, dpt_err *e);

/* dpt_model_init for inputs of shape in (C x H x W). */
int dpt_model_init_shaped(dpt_model *m, const char *spec, dpt_shape in, int max_batch, dpt_err *e);

/* dpt_model_plan for inputs of shape in. */
int dpt_model_plan_shaped(dpt_model *m, const char *spec, dpt_shape in, int max_batch, dpt_err *e);

/* dpt_model_plan_shaped and dpt_model_init_shaped with conv layers computed by conv_algorithm
 * (a dpt_conv_algorithm, model.conv_algorithm) rather than auto. */
int dpt_model_plan_algo(dpt_model *m, const char *spec, dpt_shape in, int max_batch, int conv_algorithm,
                        dpt_err *e);
int dpt_model_init_algo(dpt_model *m, const char *spec, dpt_shape in, int max_batch, int conv_algorithm,
                        dpt_err *e);

/* The first half of dpt_model_init: layers, widths, offsets and nparams, but no buffers, so a
 * caller can weigh what a spec from an untrusted file would cost before paying for it. */
int dpt_model_plan(dpt_model *m, const char *spec, int in_dim, int max_batch, dpt_err *e);

/* The second half: allocates a planned model's buffers; on failure m is freed. */
int dpt_model_alloc(dpt_model *m, dpt_err *e);

/* Bytes dpt_model_alloc would take for a planned model (parameters, gradients, activations,
 * workspace), in double so that no size overflows. */
double dpt_model_bytes(const dpt_model *m);

/* The layer that model.layers lists at index (layers[i].index); the running order may differ (a
 * ReLU before a max pool runs after it). NULL past the last. */
const dpt_layer *dpt_model_spec_layer(const dpt_model *m, int index);

/* Frees everything; accepts a zeroed or half-built model. */
void dpt_model_free(dpt_model *m);

/* How weights are drawn (model.init): auto picks He before ReLU, Xavier otherwise. */
typedef enum { DPT_SCHEME_AUTO, DPT_SCHEME_XAVIER, DPT_SCHEME_HE } dpt_init_scheme;

/* Name of scheme as the experiment file spells it (the one table of them); NULL outside the enum. */
const char *dpt_init_scheme_name(int scheme);

/* Parses a scheme's name; the message lists the names. */
int dpt_init_scheme_parse(dpt_init_scheme *scheme, const char *name, dpt_err *e);

/* Draws every layer's parameters from seed by scheme; DPT_FAIL for a value outside the enum. */
int dpt_model_init_params(dpt_model *m, uint64_t seed, dpt_init_scheme scheme, dpt_err *e);

/* Runs x [n][in_dim] (n <= max_batch) forward in evaluation mode; returns the output
 * [n][out_dim], valid until the next call. */
const float *dpt_model_forward(dpt_model *m, const float *x, int n);

/* The same for the purpose ctx names: training passes (which backward may follow) give the step
 * and the global index of each sample, which dropout keys its masks on. */
const float *dpt_model_forward_ctx(dpt_model *m, const dpt_fwd_ctx *ctx, const float *x, int n);

/* Backpropagates dout [n][out_dim] through the last forward, adding into grads (accumulate)
 * or overwriting them; ready (may be NULL) hears of each layer's finished gradient run. */
void dpt_model_backward(dpt_model *m, const float *dout, int n, int accumulate, dpt_grad_ready_fn ready,
                        void *ctx);

/* Points grads and every layer's gradient views at g [nparams] (the caller keeps ownership of
 * the previous buffer and must bind the original back before dpt_model_free). */
void dpt_model_bind_grads(dpt_model *m, float *g);

/* Points params and every layer's parameter views at p [nparams] (same ownership rule as
 * dpt_model_bind_grads). */
void dpt_model_bind_params(dpt_model *m, float *p);

/* Sets every gradient to zero. */
void dpt_model_zero_grad(dpt_model *m);

/* Fills r with the parameter runs a penalty applies to (weights; biases too if include_bias); returns the count. */
int dpt_model_penalty_ranges(const dpt_model *m, dpt_range *r, int max, int include_bias);

/* The checkpoint name of parameter p of m->layers[layer] ("layers.I." + its descriptor's name, I
 * the layer's index in model.layers, whatever order it runs in). */
void dpt_model_tensor_name(char *buf, size_t size, const dpt_model *m, int layer, int p);

#endif
