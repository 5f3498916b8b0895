/* libsvm / svmlight text: `label idx:val idx:val ... # comment`, 1-based
 * ascending indices, densified into float32 [n][d]. Two passes over the
 * mapped file: the first validates every line and finds n and d, the second
 * fills a zeroed matrix, so nothing but the result is allocated. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"

/* Largest feature index accepted: the model's widths are ints. */
#define MAX_INDEX ((size_t)INT_MAX)
/* A dense matrix is refused when it is over 1 GiB and over this many times the file's bytes:
 * real sparse sets densify by tens or hundreds, a 15-byte line naming index 2^30 by 10^8. */
#define MAX_DENSIFY 1024

static int is_sp(char c)
{
    return c == ' ' || c == '\t';
}

static const char *tok_end(const char *q, const char *le)
{
    while (q < le && !is_sp(*q))
        q++;
    return q;
}

static int at(dpt_err *e, const char *path, size_t line)
{
    char where[sizeof e->msg];
    snprintf(where, sizeof where, "%s:%zu", path, line);
    return dpt_err_prefix(e, where);
}

/* fill = 0: validate, count rows into *nrows, largest index into *maxidx.
 * fill = 1: write y and the zeroed x [nrows][d]. */
static int pass(const char *p, const char *end, const dpt_data_opts *o, int fill, int no_label, float *x, float *y,
                size_t d, size_t *nrows, size_t *maxidx, dpt_err *e)
{
    const char *path = o->path;
    size_t n = 0, line = 0, mx = 0;
    const char *ls = p;
    while (ls < end) {
        const char *le, *next = dpt_line(ls, end, &le);
        const char *hash = memchr(ls, '#', (size_t)(le - ls));
        if (hash)
            le = hash;
        line++;
        const char *q = ls;
        while (q < le && is_sp(*q))
            q++;
        ls = next;
        if (q == le)
            continue;

        double lv;
        const char *r = dpt_parse_num(q, le, &lv);
        if (!r || (r < le && !is_sp(*r)))
            return dpt_errf(e, "%s:%zu: label '%.*s' is not a number", path, line, (int)(tok_end(q, le) - q), q);
        if (no_label) {
            /* the label is parsed for syntax only */
        } else if (!fill) {
            if (dpt_target_check(lv, o, e) != DPT_OK)
                return at(e, path, line);
            if (!isfinite((float)lv))
                return dpt_errf(e, "%s:%zu: label %g is out of float range", path, line, lv);
        } else {
            y[n] = (float)lv;
        }
        q = r;
        size_t prev = 0;
        for (;;) {
            while (q < le && is_sp(*q))
                q++;
            if (q == le)
                break;
            const char *t = q, *te = tok_end(q, le);
            int tl = (int)(te - t);
            size_t idx = 0;
            int nd = 0;
            while (q < te && (unsigned)(*q - '0') < 10) {
                if (idx <= MAX_INDEX)
                    idx = idx * 10 + (size_t)(*q - '0');
                nd++;
                q++;
            }
            if (!nd && te - t >= 4 && memcmp(t, "qid:", 4) == 0) {
                q = te; /* svmlight query ids carry no feature */
                continue;
            }
            if (!nd || q >= te || *q != ':')
                return dpt_errf(e, "%s:%zu: '%.*s' is not index:value", path, line, tl, t);
            q++;
            double v;
            r = dpt_parse_num(q, te, &v);
            if (!r || r != te)
                return dpt_errf(e, "%s:%zu: '%.*s': value is not a number", path, line, tl, t);
            if (!fill) {
                if (idx == 0)
                    return dpt_errf(e, "%s:%zu: index 0 in '%.*s' (indices start at 1)", path, line, tl, t);
                if (idx > MAX_INDEX)
                    return dpt_errf(e, "%s:%zu: index in '%.*s' is too large", path, line, tl, t);
                if (idx <= prev)
                    return dpt_errf(e, "%s:%zu: index %zu follows %zu (indices must be ascending)", path, line,
                                    idx, prev);
                if (o->nfeatures && idx > o->nfeatures)
                    return dpt_errf(e, "%s:%zu: index %zu exceeds nfeatures %zu", path, line, idx, o->nfeatures);
                if (!isfinite((float)v))
                    return dpt_errf(e, "%s:%zu: feature %zu is NaN or infinite as a float (sample %zu)", path,
                                    line, idx, n);
                if (idx > mx)
                    mx = idx;
            } else {
                x[n * d + idx - 1] = (float)v;
            }
            prev = idx;
            q = r;
        }
        n++;
    }
    *nrows = n;
    *maxidx = mx;
    return DPT_OK;
}

int dpt_libsvm_read(dpt_dataset *ds, const dpt_data_opts *o, int no_label, dpt_err *e)
{
    dpt_blob b;
    if (dpt_blob_open(&b, o->path, e) != DPT_OK)
        return DPT_FAIL;
    const char *p = (const char *)b.p, *end = p + b.len;
    size_t n, mx;
    if (pass(p, end, o, 0, no_label, NULL, NULL, 0, &n, &mx, e) != DPT_OK) {
        dpt_blob_close(&b);
        return DPT_FAIL;
    }
    size_t d = o->nfeatures ? o->nfeatures : mx, cells;
    if (n == 0) {
        dpt_blob_close(&b);
        return dpt_errf(e, "%s: no samples (only blank or comment lines)", o->path);
    }
    if (d == 0) {
        dpt_blob_close(&b);
        return dpt_errf(e, "%s: no feature appears in any line and nfeatures is 0", o->path);
    }
    if (d > MAX_INDEX) {
        dpt_blob_close(&b);
        return dpt_errf(e, "%s: nfeatures %zu is more than the %d features a model can take", o->path, d, INT_MAX);
    }
    size_t bytes, most;
    if (!dpt_mul_ok(b.len, MAX_DENSIFY, &most))
        most = SIZE_MAX;
    if (most < (size_t)1 << 30)
        most = (size_t)1 << 30;
    if (!dpt_mul_ok(n, d, &cells) || !dpt_mul_ok(cells, sizeof(float), &bytes) || bytes > most) {
        size_t len = b.len;
        dpt_blob_close(&b);
        return dpt_errf(e, "%s: %zu x %zu dense matrix is too large for a %zu-byte file (over %zu MiB)", o->path, n, d,
                        len, most >> 20);
    }
    float *x = calloc(cells, sizeof *x), *y = no_label ? NULL : malloc(n * sizeof *y);
    ds->x = ds->xbuf = x;
    ds->y = y;
    if (!x || (!y && !no_label)) {
        dpt_blob_close(&b);
        return dpt_errf(e, "%s: out of memory for a %zu x %zu dense matrix", o->path, n, d);
    }
    int rc = pass(p, end, o, 1, no_label, x, y, d, &n, &mx, e);
    dpt_blob_close(&b);
    ds->n = n;
    ds->d = d;
    ds->tdim = !no_label;
    ds->xtype = DPT_DT_F32;
    ds->xscale = 1.0f;
    return rc;
}
