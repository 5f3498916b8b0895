/* The registry of layer kinds, the one place that lists them, and the few helpers kinds share
 * (shapes, parameter descriptors, initialization, argument words). */
#include "dptrain/layer.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/rng.h"

extern const dpt_layer_ops dpt_layer_conv, dpt_layer_maxpool, dpt_layer_avgpool, dpt_layer_flatten,
    dpt_layer_dropout;

static const dpt_layer_ops *const registry[] = {
    &dpt_layer_dense,   &dpt_layer_conv,    &dpt_layer_maxpool, &dpt_layer_avgpool,
    &dpt_layer_flatten, &dpt_layer_dropout, &dpt_layer_identity, &dpt_layer_relu,
    &dpt_layer_tanh,    &dpt_layer_sigmoid,
};

enum { NKINDS = sizeof registry / sizeof *registry };

const dpt_layer_ops *dpt_layer_find(const char *name)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const char *dpt_layer_kinds(void)
{
    static char list[512];
    if (!list[0])
        for (size_t i = 0; i < NKINDS; i++)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", registry[i]->syntax);
    return list;
}

int dpt_shape_size(dpt_shape s)
{
    return s.c * s.h * s.w;
}

const char *dpt_shape_str(char *buf, size_t size, dpt_shape s)
{
    if (s.h == 1 && s.w == 1)
        snprintf(buf, size, "%d", s.c);
    else
        snprintf(buf, size, "%dx%dx%d", s.c, s.h, s.w);
    return buf;
}

void dpt_layer_add_param(dpt_layer *l, const char *name, int penalized, int ndim, const int64_t *dims)
{
    dpt_param *p = &l->param[l->nparam++];
    p->name = name;
    p->penalized = penalized;
    p->ndim = ndim;
    p->len = 1;
    for (int d = 0; d < ndim; d++) {
        p->dims[d] = dims[d];
        p->len *= (size_t)dims[d];
    }
    p->off = l->nparams;
    l->nparams += p->len;
}

/* Xavier/Glorot uniform for saturating activations, He normal for ReLU. */
void dpt_layer_init_weights(dpt_layer *l, size_t count, double fan_in, double fan_out, uint64_t seed,
                            uint64_t stream, dpt_init_kind kind)
{
    if (kind == DPT_INIT_HE) {
        double sd = sqrt(2.0 / fan_in);
        for (size_t i = 0; i < count; i++)
            l->w[i] = (float)(sd * dpt_rng_normal(seed, stream, i));
    } else {
        double a = sqrt(6.0 / (fan_in + fan_out));
        for (size_t i = 0; i < count; i++)
            l->w[i] = (float)(a * (2.0 * dpt_rng_uniform(seed, stream, i) - 1.0));
    }
}

int dpt_layer_parse_int(const char **s, long min, long max, long *out)
{
    const char *p = *s;
    while (isspace((unsigned char)*p))
        p++;
    if (!isdigit((unsigned char)*p))
        return 0;
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || v < min || v > max)
        return 0;
    *out = v;
    *s = end;
    return 1;
}

int dpt_layer_window(int n, int k, int s, int p, int *out, const char *what, dpt_err *e)
{
    if (k > n + 2 * p)
        return dpt_errf(e, "%s %dx%d is larger than its input (a side of %d%s)", what, k, k, n + 2 * p,
                        p ? " padded" : "");
    if ((n + 2 * p - k) % s != 0)
        return dpt_errf(e, "%s %d with stride %d does not tile %d%s values: output size (%d - %d) / %d + 1 "
                        "is not an integer", what, k, s, n + 2 * p, p ? " padded" : "", n + 2 * p, k, s);
    *out = (n + 2 * p - k) / s + 1;
    return DPT_OK;
}
