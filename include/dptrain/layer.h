/* A layer is a small struct: a pointer to its kind's table of functions, its input and output
 * shapes, descriptors of its parameters, and views into the model's parameter, gradient and
 * workspace buffers. Layers own no memory. Adding a kind means one file in src/layers/ and one
 * line in layer.c's registry; nothing else names a kind. */
#ifndef DPTRAIN_LAYER_H
#define DPTRAIN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "dptrain/error.h"

typedef enum { DPT_INIT_XAVIER, DPT_INIT_HE } dpt_init_kind;

/* How conv layers compute (model.conv_algorithm): auto picks per layer by a rule in conv.c. */
typedef enum { DPT_CONV_AUTO, DPT_CONV_IM2COL, DPT_CONV_WINOGRAD, DPT_CONV_DIRECT } dpt_conv_algorithm;

/* Name of an algorithm as the experiment file spells it; NULL outside the enum. */
const char *dpt_conv_algorithm_name(int algorithm);

/* An activation's shape per sample, stored channel-major (C, then H, then W, as torch's NCHW):
 * a flat vector of d values is d x 1 x 1. */
typedef struct {
    int c, h, w;
} dpt_shape;

enum { DPT_PARAM_MAX_DIMS = 4, DPT_LAYER_MAX_PARAMS = 2 };

/* One parameter tensor of a layer, as checkpoints name and shape it (torch's layout). */
typedef struct {
    const char *name;                   /* last part of the checkpoint name: "weight", "bias" */
    int ndim;
    int64_t dims[DPT_PARAM_MAX_DIMS];   /* e.g. conv weight [out][in][kh][kw] */
    size_t off, len;                    /* its run inside the layer's run of the model buffers */
    int penalized;                      /* l1/l2 apply always (weights), else only with penalize_bias */
} dpt_param;

/* What a forward pass is for. Layers that draw randomness (dropout) key it on (seed, step,
 * layer index, ids[i], element), so a sample's mask is the same on any number of ranks. */
typedef struct {
    int train;            /* 1 while training; 0 for evaluation (dropout is the identity) */
    uint64_t seed, step;  /* the run's seed; the optimizer step the pass belongs to */
    const size_t *ids;    /* [n] each sample's global index (its dataset row), or NULL: 0..n-1 */
} dpt_fwd_ctx;

typedef struct dpt_layer dpt_layer;

typedef struct {
    const char *name;    /* as written in model.layers, e.g. "dense" */
    const char *syntax;  /* how model.layers spells it, for messages and README: "dense N" */
    int in_place;        /* forward may write y over x, and backward dx over dy */
    int needs_output;    /* backward reads y: nothing after this layer may write over it */
    int reads_flat;      /* reads a C x H x W input as one flat vector (an implicit flatten, logged) */
    int he_before;       /* model.init = auto draws the layer before this one He-normal (ReLU) */
    int commutes_with_max; /* f(max S) = max f(S), with the gradient at the same first maximum (ReLU):
                            * the model runs it after a takes_max layer that follows it */
    int takes_max;       /* each output is the maximum of a window of inputs (max pooling) */
    /* From l->in_shape and the spec's argument, sets l->out_shape, the parameter descriptors
     * (l->nparam, l->param) and the workspace the kind needs (l->ws_fixed, l->ws_per_sample);
     * a shape that does not fit is an error naming the shapes. */
    int (*configure)(dpt_layer *l, const char *arg, dpt_err *e);
    /* Draws initial parameters from (seed, stream) with the given scheme. */
    void (*init)(dpt_layer *l, uint64_t seed, uint64_t stream, dpt_init_kind kind);
    /* y [n][out] from x [n][in]; may fill the workspace for backward. */
    void (*forward)(const dpt_layer *l, const dpt_fwd_ctx *ctx, float *y, const float *x, int n);
    /* Adds (accumulate) or writes parameter gradients into l's views; dx [n][in] from dy [n][out]
     * unless dx is NULL. Runs after a training forward of the same batch. */
    void (*backward)(const dpt_layer *l, float *dx, const float *dy, const float *x, const float *y, int n,
                     int accumulate);
    /* Optional: dx [n][in] from dy [n][out] alone, for a kind whose backward with dx = NULL
     * leaves it out; the model then hands the parameter gradients to communication before
     * computing dx, so they travel while it does. */
    void (*backward_input)(const dpt_layer *l, float *dx, const float *dy, int n);
} dpt_layer_ops;

struct dpt_layer {
    const dpt_layer_ops *ops;
    int index;                       /* position in the model (keys dropout masks, names tensors) */
    dpt_shape in_shape, out_shape;
    int in, out;                     /* values per sample: c * h * w of each shape */
    int nparam;                      /* descriptors in param: weights first, then biases */
    dpt_param param[DPT_LAYER_MAX_PARAMS];
    size_t off, nparams;             /* this layer's run in the model's buffers */
    float *w, *b;                    /* views of param[0] and param[1] into the parameter buffer */
    float *dw, *db;                  /* the same views into the gradient buffer */
    size_t ws_fixed, ws_per_sample;  /* workspace bytes the kind asks for: fixed + per sample */
    void *ws;                        /* that workspace, sized for the model's max_batch */
    int filters, kernel, stride, pad;/* a kind's settings as its configure parsed them */
    float rate;
    int algorithm;                   /* conv: the dpt_conv_algorithm asked for; configure resolves auto */
};

/* The registered kind called name, or NULL. */
const dpt_layer_ops *dpt_layer_find(const char *name);

/* The syntax of every registered kind, comma separated (for messages), built from the registry. */
const char *dpt_layer_kinds(void);

/* The values per sample of s. */
int dpt_shape_size(dpt_shape s);

/* Writes "CxHxW" (or "D" for a flat vector) into buf. */
const char *dpt_shape_str(char *buf, size_t size, dpt_shape s);

/* Adds a descriptor of a parameter of the given dims after the layer's existing ones and grows
 * l->nparams by its size. */
void dpt_layer_add_param(dpt_layer *l, const char *name, int penalized, int ndim, const int64_t *dims);

/* Fills l->w [count] with Xavier-uniform or He-normal draws for the given fans (dense, conv). */
void dpt_layer_init_weights(dpt_layer *l, size_t count, double fan_in, double fan_out, uint64_t seed,
                            uint64_t stream, dpt_init_kind kind);

/* Parses an integer in [min, max] from the word at *s (spaces skipped), advancing past it;
 * returns 0 when there is none. */
int dpt_layer_parse_int(const char **s, long min, long max, long *out);

/* The output side *out of a k-wide window sliding by s over n values padded by p on each side;
 * an error naming `what` and the sizes when the window is larger or the output not an integer. */
int dpt_layer_window(int n, int k, int s, int p, int *out, const char *what, dpt_err *e);

/* Kinds that code outside src/layers/ names directly (tests, the bench); others are reached
 * through dpt_layer_find only. */
extern const dpt_layer_ops dpt_layer_dense, dpt_layer_identity, dpt_layer_relu, dpt_layer_tanh,
    dpt_layer_sigmoid;

#endif
