/* The layer stack and its flat buffers. */
#include "dptrain/model.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/rng.h"

/* Splits "dense 512, relu" at commas; trims each item into name and argument. */
static int parse_item(const char *item, size_t len, char *name, size_t nsize, char *arg, size_t asize)
{
    while (len && isspace((unsigned char)*item))
        item++, len--;
    while (len && isspace((unsigned char)item[len - 1]))
        len--;
    size_t nl = 0;
    while (nl < len && !isspace((unsigned char)item[nl]))
        nl++;
    if (nl == 0 || nl >= nsize)
        return DPT_FAIL;
    memcpy(name, item, nl);
    name[nl] = '\0';
    size_t ap = nl;
    while (ap < len && isspace((unsigned char)item[ap]))
        ap++;
    if (len - ap >= asize)
        return DPT_FAIL;
    memcpy(arg, item + ap, len - ap);
    arg[len - ap] = '\0';
    return DPT_OK;
}

static int count_items(const char *spec)
{
    int n = 1;
    for (const char *p = spec; *p; p++)
        n += *p == ',';
    return n;
}

static int build_layers(dpt_model *m, const char *spec, dpt_err *e)
{
    int in = m->in_dim, i = 0;
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char name[32], arg[64];
        if (parse_item(p, len, name, sizeof name, arg, sizeof arg) != DPT_OK)
            return dpt_errf(e, "model.layers: item %d '%.*s' is not 'KIND [ARG]' (kinds: %s)", i + 1,
                            (int)len, p, dpt_layer_kinds());
        dpt_layer *l = &m->layers[i];
        l->ops = dpt_layer_find(name);
        if (!l->ops)
            return dpt_errf(e, "model.layers: item %d: unknown layer '%s' (kinds: %s)", i + 1, name,
                            dpt_layer_kinds());
        if (l->ops->configure(l, in, arg, e) != DPT_OK)
            return dpt_err_prefix(e, "model.layers");
        in = l->out;
        i++;
        if (!comma)
            break;
        p = comma + 1;
    }
    m->out_dim = in;
    return DPT_OK;
}

/* Places each layer's run in the flat buffers: the sizes the buffers will have. */
static void measure(dpt_model *m)
{
    size_t off = 0;
    m->width = (size_t)m->in_dim;
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        l->off = off;
        off += l->nparams;
        if ((size_t)l->out > m->width)
            m->width = (size_t)l->out;
    }
    m->nparams = off;
}

/* Allocates the flat buffers, points each layer's views into them and sizes the activations. */
static int lay_out(dpt_model *m, dpt_err *e)
{
    size_t off = m->nparams;
    m->params = calloc(off ? off : 1, sizeof(float));
    m->grads = calloc(off ? off : 1, sizeof(float));
    m->acts = calloc((size_t)m->nlayers, sizeof(float *));
    size_t actsz = (size_t)m->max_batch * m->width;
    m->dbuf[0] = malloc(sizeof(float) * actsz);
    m->dbuf[1] = malloc(sizeof(float) * actsz);
    if (!m->params || !m->grads || !m->acts || !m->dbuf[0] || !m->dbuf[1])
        return dpt_errf(e, "model: out of memory for %zu parameters", off);
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        l->w = m->params + l->off;
        l->b = l->w + l->nweights;
        l->dw = m->grads + l->off;
        l->db = l->dw + l->nweights;
        /* Writing over the previous layer's output is safe only if its backward never reads it
         * (a dense layer's does not; an activation's does). */
        if (l->ops->in_place && i > 0 && !m->layers[i - 1].ops->needs_output) {
            m->acts[i] = m->acts[i - 1];
            continue;
        }
        m->acts[i] = malloc(sizeof(float) * (size_t)m->max_batch * (size_t)l->out);
        if (!m->acts[i])
            return dpt_errf(e, "model: out of memory for activations");
    }
    return DPT_OK;
}

int dpt_model_plan(dpt_model *m, const char *spec, int in_dim, int max_batch, dpt_err *e)
{
    memset(m, 0, sizeof *m);
    if (in_dim < 1 || max_batch < 1)
        return dpt_errf(e, "model: input width %d and batch %d must be positive", in_dim, max_batch);
    m->in_dim = in_dim;
    m->max_batch = max_batch;
    m->nlayers = count_items(spec);
    m->layers = calloc((size_t)m->nlayers, sizeof *m->layers);
    if (!m->layers) {
        dpt_model_free(m);
        return dpt_errf(e, "model: out of memory for %d layers", m->nlayers);
    }
    if (build_layers(m, spec, e) != DPT_OK) {
        dpt_model_free(m);
        return DPT_FAIL;
    }
    measure(m);
    return DPT_OK;
}

int dpt_model_alloc(dpt_model *m, dpt_err *e)
{
    if (lay_out(m, e) != DPT_OK) {
        dpt_model_free(m);
        return DPT_FAIL;
    }
    return DPT_OK;
}

int dpt_model_init(dpt_model *m, const char *spec, int in_dim, int max_batch, dpt_err *e)
{
    if (dpt_model_plan(m, spec, in_dim, max_batch, e) != DPT_OK)
        return DPT_FAIL;
    return dpt_model_alloc(m, e);
}

void dpt_model_free(dpt_model *m)
{
    if (m->acts)
        for (int i = 0; i < m->nlayers; i++)
            if (!(i > 0 && m->acts[i] == m->acts[i - 1]))
                free(m->acts[i]);
    free(m->acts);
    free(m->dbuf[0]);
    free(m->dbuf[1]);
    free(m->params);
    free(m->grads);
    free(m->layers);
    memset(m, 0, sizeof *m);
}

static const char *const scheme_names[] = {[DPT_SCHEME_AUTO] = "auto", [DPT_SCHEME_XAVIER] = "xavier",
                                           [DPT_SCHEME_HE] = "he"};
enum { NSCHEMES = (int)(sizeof scheme_names / sizeof scheme_names[0]) };

const char *dpt_init_scheme_name(int scheme)
{
    return scheme >= 0 && scheme < NSCHEMES ? scheme_names[scheme] : NULL;
}

int dpt_init_scheme_parse(dpt_init_scheme *scheme, const char *name, dpt_err *e)
{
    for (int i = 0; name && i < NSCHEMES; i++)
        if (strcmp(name, scheme_names[i]) == 0) {
            *scheme = (dpt_init_scheme)i;
            return DPT_OK;
        }
    char list[64];
    return dpt_errf(e, "model.init = '%s': expected one of %s", name ? name : "(null)",
                    dpt_names_list(list, sizeof list, dpt_init_scheme_name));
}

int dpt_model_init_params(dpt_model *m, uint64_t seed, dpt_init_scheme scheme, dpt_err *e)
{
    int autopick = scheme == DPT_SCHEME_AUTO;
    if (!dpt_init_scheme_name((int)scheme))
        return dpt_errf(e, "model.init = %d: not an initialization scheme", (int)scheme);
    for (int i = 0; i < m->nlayers; i++) {
        dpt_init_kind kind = scheme == DPT_SCHEME_HE ? DPT_INIT_HE : DPT_INIT_XAVIER;
        if (autopick)
            kind = (i + 1 < m->nlayers && m->layers[i + 1].ops == &dpt_layer_relu) ? DPT_INIT_HE
                                                                                   : DPT_INIT_XAVIER;
        m->layers[i].ops->init(&m->layers[i], seed, DPT_STREAM_INIT + (uint64_t)i, kind);
    }
    return DPT_OK;
}

const float *dpt_model_forward(dpt_model *m, const float *x, int n)
{
    m->input = x;
    const float *in = x;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        double t0 = m->trace ? dpt_trace_now(m->trace) : 0;
        /* The first layer never writes over the caller's batch. */
        if (i == 0 && l->ops->in_place)
            l->ops->forward(l, m->acts[0], x, n);
        else
            l->ops->forward(l, m->acts[i], in, n);
        in = m->acts[i];
        if (m->trace)
            dpt_trace_span(m->trace, l->ops->name, "forward", t0, i);
    }
    return in;
}

void dpt_model_backward(dpt_model *m, const float *dout, int n, int accumulate, dpt_grad_ready_fn ready,
                        void *ctx)
{
    const float *dy = dout;
    int which = 0;
    for (int i = m->nlayers - 1; i >= 0; i--) {
        const dpt_layer *l = &m->layers[i];
        const float *x = i > 0 ? m->acts[i - 1] : m->input;
        /* In-place layers let x alias y; backward only reads y then, and dx may overwrite dy. */
        float *dx = i > 0 ? m->dbuf[which] : NULL;
        double t0 = m->trace ? dpt_trace_now(m->trace) : 0;
        l->ops->backward(l, dx, dy, x, m->acts[i], n, accumulate);
        if (m->trace)
            dpt_trace_span(m->trace, l->ops->name, "backward", t0, i);
        if (ready && l->nparams)
            ready(ctx, l->off, l->nparams);
        dy = dx;
        which ^= 1;
    }
}

void dpt_model_zero_grad(dpt_model *m)
{
    memset(m->grads, 0, sizeof(float) * m->nparams);
}

void dpt_model_bind_grads(dpt_model *m, float *grads)
{
    m->grads = grads;
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        l->dw = grads + l->off;
        l->db = l->dw + l->nweights;
    }
}

void dpt_model_bind_params(dpt_model *m, float *params)
{
    m->params = params;
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        l->w = params + l->off;
        l->b = l->w + l->nweights;
    }
}

int dpt_model_penalty_ranges(const dpt_model *m, dpt_range *r, int max, int include_bias)
{
    int k = 0;
    for (int i = 0; i < m->nlayers && k < max; i++) {
        const dpt_layer *l = &m->layers[i];
        if (!l->nparams)
            continue;
        r[k].off = l->off;
        r[k].len = include_bias ? l->nparams : l->nweights;
        k++;
    }
    return k;
}

void dpt_model_param_name(char *buf, size_t size, int layer, int bias)
{
    snprintf(buf, size, "layers.%d.%s", layer, bias ? "bias" : "weight");
}
