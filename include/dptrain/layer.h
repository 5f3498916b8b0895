/* A layer is a small struct: a pointer to its kind's table of functions,
 * its widths, and views into the model's parameter and gradient buffers.
 * Layers own no memory. Adding a kind means one file in src/layers/ and one
 * line in layer.c's registry. */
#ifndef DPTRAIN_LAYER_H
#define DPTRAIN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "dptrain/error.h"

typedef enum { DPT_INIT_XAVIER, DPT_INIT_HE } dpt_init_kind;

typedef struct dpt_layer dpt_layer;

typedef struct {
    const char *name;  /* as written in model.layers, e.g. "dense" */
    int in_place;      /* forward may write y over x, and backward dx over dy */
    int needs_output;  /* backward reads y: nothing after this layer may write over it */
    /* Sets l->out (and l->nparams) from the input width and the spec's argument. */
    int (*configure)(dpt_layer *l, int in, const char *arg, dpt_err *e);
    /* Draws initial parameters from (seed, stream) with the given scheme. */
    void (*init)(dpt_layer *l, uint64_t seed, uint64_t stream, dpt_init_kind kind);
    /* y [n][out] from x [n][in]. */
    void (*forward)(const dpt_layer *l, float *y, const float *x, int n);
    /* Adds (accumulate) or writes parameter gradients into l's views; dx [n][in] from dy [n][out]
     * unless dx is NULL. */
    void (*backward)(const dpt_layer *l, float *dx, const float *dy, const float *x, const float *y, int n,
                     int accumulate);
} dpt_layer_ops;

struct dpt_layer {
    const dpt_layer_ops *ops;
    int in, out;
    size_t off, nparams;   /* this layer's run in the model's buffers */
    size_t nweights;       /* the first nweights of the run are weights, the rest biases */
    float *w, *b;          /* views into the parameter buffer: w [out][in], b [out] */
    float *dw, *db;        /* the same views into the gradient buffer */
};

/* The registered kind called name, or NULL. */
const dpt_layer_ops *dpt_layer_find(const char *name);

/* Names of all registered kinds, comma separated (for error messages). */
const char *dpt_layer_kinds(void);

extern const dpt_layer_ops dpt_layer_dense, dpt_layer_identity, dpt_layer_relu,
    dpt_layer_tanh, dpt_layer_sigmoid;

#endif
