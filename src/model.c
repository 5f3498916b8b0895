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

/* Notes an implicit flatten: a layer such as dense reading a C x H x W input reads it flat. */
static void note_flatten(dpt_model *m, const dpt_layer *l)
{
    if (!l->ops->reads_flat || (l->in_shape.h == 1 && l->in_shape.w == 1))
        return;
    char s[48];
    size_t len = strlen(m->notes);
    snprintf(m->notes + len, sizeof m->notes - len, "%slayer %d (%s) reads its %s input flat (%d values)",
             len ? "; " : "", l->index, l->ops->name, dpt_shape_str(s, sizeof s, l->in_shape), l->in);
}

/* A ReLU straight before a max pool runs after it instead: max commutes with ReLU, and the
 * gradient reaches the same place (a window whose maximum is not positive passes none either
 * way), so values and gradients keep their bits (not so with a NaN in the window: ReLU makes it
 * 0 first), while the ReLU touches a quarter of the values (a 2x2 pool). In the reference CNN's
 * step the two ReLUs took 5% on full-size maps. The layers keep their spec index. */
static int runs_swapped(const dpt_layer_ops *a, const dpt_layer_ops *b)
{
    return a && b && a->commutes_with_max && b->takes_max;
}

/* One item of model.layers, parsed: its kind and argument. */
typedef struct {
    char name[32], arg[64];
    const dpt_layer_ops *ops;
} spec_item;

/* Parses item i of the spec (at p, len bytes) and finds its kind. */
static int parse_layer(const char *p, size_t len, int i, spec_item *it, dpt_err *e)
{
    if (parse_item(p, len, it->name, sizeof it->name, it->arg, sizeof it->arg) != DPT_OK)
        return dpt_errf(e, "model.layers: item %d '%.*s' is not 'KIND [ARG]' (kinds: %s)", i + 1, (int)len, p,
                        dpt_layer_kinds());
    it->ops = dpt_layer_find(it->name);
    if (!it->ops)
        return dpt_errf(e, "model.layers: item %d: unknown layer '%s' (kinds: %s)", i + 1, it->name,
                        dpt_layer_kinds());
    return DPT_OK;
}

/* Configures spec item `index` as the layer at position pos, on input *in. */
static int configure_layer(dpt_model *m, int pos, int index, const spec_item *it, dpt_shape *in, dpt_err *e)
{
    dpt_layer *l = &m->layers[pos];
    l->ops = it->ops;
    l->index = index;
    l->algorithm = m->conv_algorithm;
    l->in_shape = *in;
    l->in = dpt_shape_size(*in);
    char where[160], s[48];
    snprintf(where, sizeof where, "model.layers: layer %d '%s%s%s' on input %s", index, it->name,
             *it->arg ? " " : "", it->arg, dpt_shape_str(s, sizeof s, *in));
    if (it->ops->configure(l, it->arg, e) != DPT_OK)
        return dpt_err_prefix(e, where);
    *in = l->out_shape;
    if ((double)in->c * in->h * in->w > (1 << 30))
        return dpt_errf(e, "%s: puts out %.0f values per sample, more than 2^30", where,
                        (double)in->c * in->h * in->w);
    l->out = dpt_shape_size(*in);
    note_flatten(m, l);
    return DPT_OK;
}

/* Notes that layer a runs after layer b (runs_swapped). */
static void note_swap(dpt_model *m, const dpt_layer *a, const dpt_layer *b)
{
    size_t len = strlen(m->notes);
    snprintf(m->notes + len, sizeof m->notes - len,
             "%slayer %d (%s) runs after layer %d (%s), on fewer values: the same results", len ? "; " : "",
             a->index, a->ops->name, b->index, b->ops->name);
}

/* Configures the parsed items in order, but for a pair that runs_swapped. */
static int configure_layers(dpt_model *m, const spec_item *items, dpt_err *e)
{
    dpt_shape in = m->in_shape;
    for (int i = 0; i < m->nlayers; i++) {
        if (i + 1 < m->nlayers && runs_swapped(items[i].ops, items[i + 1].ops)) {
            if (configure_layer(m, i, i + 1, &items[i + 1], &in, e) != DPT_OK ||
                configure_layer(m, i + 1, i, &items[i], &in, e) != DPT_OK)
                return DPT_FAIL;
            note_swap(m, &m->layers[i + 1], &m->layers[i]);
            i++;
        } else if (configure_layer(m, i, i, &items[i], &in, e) != DPT_OK) {
            return DPT_FAIL;
        }
    }
    m->out_dim = dpt_shape_size(in);
    return DPT_OK;
}

static int build_layers(dpt_model *m, const char *spec, dpt_err *e)
{
    spec_item *items = calloc((size_t)m->nlayers, sizeof *items);
    if (!items)
        return dpt_errf(e, "model: out of memory for %d layers", m->nlayers);
    const char *p = spec;
    int rc = DPT_OK;
    for (int i = 0; i < m->nlayers && rc == DPT_OK; i++) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        rc = parse_layer(p, len, i, &items[i], e);
        p = comma ? comma + 1 : p + len;
    }
    if (rc == DPT_OK)
        rc = configure_layers(m, items, e);
    free(items);
    return rc;
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

/* Bytes of layer l's workspace, rounded up so each layer's starts on a cache line. */
static size_t ws_bytes(const dpt_model *m, const dpt_layer *l)
{
    size_t b = l->ws_fixed + (size_t)m->max_batch * l->ws_per_sample;
    return (b + 63) & ~(size_t)63;
}

/* One allocation for every layer's workspace, handed out in layer order. */
static int lay_out_workspace(dpt_model *m, dpt_err *e)
{
    size_t total = 0;
    for (int i = 0; i < m->nlayers; i++)
        total += ws_bytes(m, &m->layers[i]);
    if (!total)
        return DPT_OK;
    if (posix_memalign(&m->ws, 64, total) != 0) {
        m->ws = NULL;
        return dpt_errf(e, "model: out of memory for %zu bytes of layer workspace", total);
    }
    char *p = m->ws;
    for (int i = 0; i < m->nlayers; i++) {
        m->layers[i].ws = ws_bytes(m, &m->layers[i]) ? p : NULL;
        p += ws_bytes(m, &m->layers[i]);
    }
    return DPT_OK;
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
    dpt_model_bind_params(m, m->params);
    dpt_model_bind_grads(m, m->grads);
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
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
    return lay_out_workspace(m, e);
}

int dpt_model_plan(dpt_model *m, const char *spec, int in_dim, int max_batch, dpt_err *e)
{
    return dpt_model_plan_shaped(m, spec, (dpt_shape){in_dim, 1, 1}, max_batch, e);
}

int dpt_model_plan_shaped(dpt_model *m, const char *spec, dpt_shape in, int max_batch, dpt_err *e)
{
    return dpt_model_plan_algo(m, spec, in, max_batch, DPT_CONV_AUTO, e);
}

int dpt_model_plan_algo(dpt_model *m, const char *spec, dpt_shape in, int max_batch, int conv_algorithm,
                        dpt_err *e)
{
    memset(m, 0, sizeof *m);
    m->conv_algorithm = conv_algorithm;
    if (in.c < 1 || in.h < 1 || in.w < 1 || max_batch < 1 || (double)in.c * in.h * in.w > (1 << 30))
        return dpt_errf(e, "model: input shape %dx%dx%d and batch %d must be positive (and at most 2^30 values)",
                        in.c, in.h, in.w, max_batch);
    m->in_shape = in;
    m->in_dim = dpt_shape_size(in);
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

double dpt_model_bytes(const dpt_model *m)
{
    double rows = m->max_batch, b = 2.0 * 4 * (double)m->nparams + 2.0 * 4 * rows * (double)m->width;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        b += 4 * rows * l->out + (double)l->ws_fixed + rows * (double)l->ws_per_sample;
    }
    return b;
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
    return dpt_model_init_shaped(m, spec, (dpt_shape){in_dim, 1, 1}, max_batch, e);
}

int dpt_model_init_shaped(dpt_model *m, const char *spec, dpt_shape in, int max_batch, dpt_err *e)
{
    return dpt_model_init_algo(m, spec, in, max_batch, DPT_CONV_AUTO, e);
}

int dpt_model_init_algo(dpt_model *m, const char *spec, dpt_shape in, int max_batch, int conv_algorithm,
                        dpt_err *e)
{
    if (dpt_model_plan_algo(m, spec, in, max_batch, conv_algorithm, e) != DPT_OK)
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
    free(m->ws);
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

const dpt_layer *dpt_model_spec_layer(const dpt_model *m, int index)
{
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].index == index)
            return &m->layers[i];
    return NULL;
}

/* Whether the layer after spec item `index` in the spec (not in running order) asks for He. */
static int he_follows(const dpt_model *m, int index)
{
    const dpt_layer *next = dpt_model_spec_layer(m, index + 1);
    return next && next->ops->he_before;
}

int dpt_model_init_params(dpt_model *m, uint64_t seed, dpt_init_scheme scheme, dpt_err *e)
{
    int autopick = scheme == DPT_SCHEME_AUTO;
    if (!dpt_init_scheme_name((int)scheme))
        return dpt_errf(e, "model.init = %d: not an initialization scheme", (int)scheme);
    for (int i = 0; i < m->nlayers; i++) {
        dpt_init_kind kind = scheme == DPT_SCHEME_HE ? DPT_INIT_HE : DPT_INIT_XAVIER;
        if (autopick)
            kind = he_follows(m, m->layers[i].index) ? DPT_INIT_HE : DPT_INIT_XAVIER;
        m->layers[i].ops->init(&m->layers[i], seed, DPT_STREAM_INIT + (uint64_t)m->layers[i].index, kind);
    }
    return DPT_OK;
}

const float *dpt_model_forward(dpt_model *m, const float *x, int n)
{
    dpt_fwd_ctx eval = {0};
    return dpt_model_forward_ctx(m, &eval, x, n);
}

const float *dpt_model_forward_ctx(dpt_model *m, const dpt_fwd_ctx *ctx, const float *x, int n)
{
    m->input = x;
    const float *in = x;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        double t0 = m->trace ? dpt_trace_now(m->trace) : 0;
        /* The first layer never writes over the caller's batch. */
        if (i == 0 && l->ops->in_place)
            l->ops->forward(l, ctx, m->acts[0], x, n);
        else
            l->ops->forward(l, ctx, m->acts[i], in, n);
        in = m->acts[i];
        if (m->trace)
            dpt_trace_span(m->trace, l->ops->name, "forward", t0, l->index);
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
        /* In-place layers let x alias y; backward only reads y then, and writes dx over dy when
         * dy is the model's own: that buffer is in cache, the other one's lines would be read
         * first (the reference CNN's first ReLU at 64 samples: 0.05 ms, not 0.14-0.16). */
        float *dx = i == 0 ? NULL : l->ops->in_place && dy != dout ? (float *)dy : m->dbuf[which];
        double t0 = m->trace ? dpt_trace_now(m->trace) : 0;
        /* A kind that computes dx apart hands its gradients over first: they travel meanwhile. */
        int apart = l->ops->backward_input && ready && l->nparams;
        l->ops->backward(l, apart ? NULL : dx, dy, x, m->acts[i], n, accumulate);
        if (ready && l->nparams)
            ready(ctx, l->off, l->nparams);
        if (apart && dx)
            l->ops->backward_input(l, dx, dy, n);
        if (m->trace)
            dpt_trace_span(m->trace, l->ops->name, "backward", t0, l->index);
        which ^= dx == m->dbuf[which]; /* the next dx goes to the buffer this one did not use */
        dy = dx;
    }
}

void dpt_model_zero_grad(dpt_model *m)
{
    memset(m->grads, 0, sizeof(float) * m->nparams);
}

/* Points every layer's views of its first two tensors into buf (the parameter or gradient buffer). */
static void bind_views(dpt_model *m, float *buf, int grads)
{
    for (int i = 0; i < m->nlayers; i++) {
        dpt_layer *l = &m->layers[i];
        float *v[2] = {NULL, NULL};
        for (int p = 0; p < l->nparam && p < 2; p++)
            v[p] = buf + l->off + l->param[p].off;
        if (grads)
            l->dw = v[0], l->db = v[1];
        else
            l->w = v[0], l->b = v[1];
    }
}

void dpt_model_bind_grads(dpt_model *m, float *grads)
{
    m->grads = grads;
    bind_views(m, grads, 1);
}

void dpt_model_bind_params(dpt_model *m, float *params)
{
    m->params = params;
    bind_views(m, params, 0);
}

int dpt_model_penalty_ranges(const dpt_model *m, dpt_range *r, int max, int include_bias)
{
    int k = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        for (int p = 0; p < l->nparam; p++) {
            if (!l->param[p].penalized && !include_bias)
                continue;
            size_t off = l->off + l->param[p].off;
            /* A run that continues the previous one extends it: one range per layer, as before. */
            if (k > 0 && r[k - 1].off + r[k - 1].len == off && p > 0) {
                r[k - 1].len += l->param[p].len;
                continue;
            }
            if (k == max)
                return k;
            r[k].off = off;
            r[k].len = l->param[p].len;
            k++;
        }
    }
    return k;
}

void dpt_model_tensor_name(char *buf, size_t size, const dpt_model *m, int layer, int p)
{
    snprintf(buf, size, "layers.%d.%s", m->layers[layer].index, m->layers[layer].param[p].name);
}
