/* NumPy .npy files, versions 1.0, 2.0 and 3.0: the magic "\x93NUMPY", two
 * version bytes, a little-endian header length (u16 for 1.0, u32 after), and
 * a Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)}
 * padded so the data that follows is aligned. The dict is parsed by a small
 * bounded scanner; features are used in place when their offset suits the
 * dtype's alignment, and copied otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the NPY reader assumes a little-endian host"
#endif

#define NPY_MAXDIM 32

typedef struct {
    dpt_dtype t;
    size_t ndim;
    size_t shape[NPY_MAXDIM];
    size_t n, d;                 /* shape[0], product of the rest */
    int swap;                    /* big-endian data ('>f4' ...): bytes reversed per element */
    const unsigned char *data;
    size_t off;
} npy_info;

typedef struct {
    const char *p, *end, *start;
    const char *path;
    dpt_err *e;
} scan;

static void ws(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int bad(scan *s, const char *what)
{
    return dpt_errf(s->e, "%s: malformed NPY header at byte %zu: %s", s->path, (size_t)(s->p - s->start), what);
}

static int expect(scan *s, char c, const char *what)
{
    ws(s);
    if (s->p >= s->end || *s->p != c)
        return bad(s, what);
    s->p++;
    return DPT_OK;
}

/* A quoted Python string without escapes into out (NUL-terminated). */
static int str(scan *s, char *out, size_t cap)
{
    ws(s);
    if (s->p >= s->end || (*s->p != '\'' && *s->p != '"'))
        return bad(s, "expected a quoted string");
    char q = *s->p++;
    size_t k = 0;
    while (s->p < s->end && *s->p != q) {
        if (*s->p == '\\' || k + 1 >= cap)
            return bad(s, "string too long or escaped");
        out[k++] = *s->p++;
    }
    if (s->p >= s->end)
        return bad(s, "unterminated string");
    s->p++;
    out[k] = 0;
    return DPT_OK;
}

static int word(scan *s, const char *w)
{
    size_t k = strlen(w);
    if ((size_t)(s->end - s->p) >= k && memcmp(s->p, w, k) == 0) {
        s->p += k;
        return 1;
    }
    return 0;
}

static int shape(scan *s, npy_info *h)
{
    if (expect(s, '(', "expected '(' after 'shape'") != DPT_OK)
        return DPT_FAIL;
    h->ndim = 0;
    for (;;) {
        ws(s);
        if (s->p < s->end && *s->p == ')') {
            s->p++;
            return DPT_OK;
        }
        if (s->p >= s->end || *s->p < '0' || *s->p > '9')
            return bad(s, "expected a dimension in 'shape'");
        size_t v = 0;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
            size_t dg = (size_t)(*s->p - '0');
            if (v > (SIZE_MAX - dg) / 10)
                return dpt_errf(s->e, "%s: NPY shape dimension overflows size_t", s->path);
            v = v * 10 + dg;
            s->p++;
        }
        if (s->p < s->end && *s->p == 'L') /* Python 2 long literal */
            s->p++;
        if (h->ndim == NPY_MAXDIM)
            return bad(s, "too many dimensions");
        h->shape[h->ndim++] = v;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ')')
            continue;
        return bad(s, "expected ',' or ')' in 'shape'");
    }
}

/* The dtype of descr, and whether its bytes need reversing ('>' on this little-endian host). */
static int dtype_of(const char *descr, dpt_dtype *t, int *swap)
{
    static const struct {
        const char *name;
        dpt_dtype t;
    } ok[] = {{"f4", DPT_DT_F32}, {"f8", DPT_DT_F64}, {"u1", DPT_DT_U8}, {"i4", DPT_DT_I32}, {"i8", DPT_DT_I64}};
    if (!strchr("<>|=", descr[0]))
        return 0;
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(descr + 1, ok[i].name) == 0) {
            *t = ok[i].t;
            *swap = descr[0] == '>' && dpt_dtype_size(ok[i].t) > 1;
            return 1;
        }
    return 0;
}

/* Element i of the data in host order into dst (which holds one element of es <= 8 bytes). */
static void element(void *dst, const npy_info *h, size_t i, size_t es)
{
    const unsigned char *q = h->data + i * es;
    unsigned char v[8];
    if (es > sizeof v)
        return;
    for (size_t k = 0; k < es; k++)
        v[k] = h->swap ? q[es - 1 - k] : q[k];
    memcpy(dst, v, es);
}

static int parse(npy_info *h, const dpt_blob *b, const char *path, dpt_err *e)
{
    const unsigned char *p = b->p;
    memset(h, 0, sizeof *h);
    if (b->len < 6 || memcmp(p, "\x93NUMPY", 6) != 0)
        return dpt_errf(e, "%s: not an NPY file (bad magic string)", path);
    if (b->len < 10)
        return dpt_errf(e, "%s: truncated NPY header (%zu bytes)", path, b->len);
    int major = p[6], minor = p[7];
    size_t start, hlen;
    if (major == 1) {
        start = 10;
        hlen = (size_t)p[8] | (size_t)p[9] << 8;
    } else if (major == 2 || major == 3) {
        if (b->len < 12)
            return dpt_errf(e, "%s: truncated NPY header (%zu bytes)", path, b->len);
        start = 12;
        hlen = (size_t)p[8] | (size_t)p[9] << 8 | (size_t)p[10] << 16 | (size_t)p[11] << 24;
    } else {
        return dpt_errf(e, "%s: unsupported NPY version %d.%d", path, major, minor);
    }
    if (hlen > b->len - start)
        return dpt_errf(e, "%s: truncated: NPY header promises %zu header bytes, file has %zu", path, hlen,
                        b->len - start);

    scan s = {(const char *)p + start, (const char *)p + start + hlen, (const char *)p, path, e};
    char descr[64] = "", key[64];
    int have_descr = 0, have_fortran = 0, have_shape = 0, fortran = 0;
    if (expect(&s, '{', "expected '{'") != DPT_OK)
        return DPT_FAIL;
    for (;;) {
        ws(&s);
        if (s.p < s.end && *s.p == '}') {
            s.p++;
            break;
        }
        if (str(&s, key, sizeof key) != DPT_OK || expect(&s, ':', "expected ':' after a key") != DPT_OK)
            return DPT_FAIL;
        ws(&s);
        if (strcmp(key, "descr") == 0) {
            if (s.p < s.end && *s.p == '[')
                return dpt_errf(e, "%s: unsupported NPY dtype (structured arrays are not supported)", path);
            if (str(&s, descr, sizeof descr) != DPT_OK)
                return DPT_FAIL;
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (word(&s, "True"))
                fortran = 1;
            else if (word(&s, "False"))
                fortran = 0;
            else
                return bad(&s, "'fortran_order' is neither True nor False");
            have_fortran = 1;
        } else if (strcmp(key, "shape") == 0) {
            if (shape(&s, h) != DPT_OK)
                return DPT_FAIL;
            have_shape = 1;
        } else {
            return dpt_errf(e, "%s: NPY header has unknown key '%s'", path, key);
        }
        ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            continue;
        }
        if (s.p < s.end && *s.p == '}')
            continue;
        return bad(&s, "expected ',' or '}' after a value");
    }
    ws(&s);
    while (s.p < s.end && *s.p == 0)
        s.p++;
    if (s.p != s.end)
        return bad(&s, "text after the closing '}'");
    if (!have_descr || !have_fortran || !have_shape)
        return dpt_errf(e, "%s: NPY header lacks '%s'", path,
                        !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");
    if (!dtype_of(descr, &h->t, &h->swap))
        return dpt_errf(e, "%s: unsupported NPY dtype '%s' (supported: f4 f8 u1 i4 i8, little- or big-endian)",
                        path, descr);
    if (fortran)
        return dpt_errf(e, "%s: NPY array is in Fortran order; save it C-contiguous (np.ascontiguousarray)", path);
    if (h->ndim == 0)
        return dpt_errf(e, "%s: NPY array is a scalar; need a leading sample axis", path);

    h->n = h->shape[0];
    size_t d = 1, bytes;
    for (size_t k = 1; k < h->ndim; k++)
        if (!dpt_mul_ok(d, h->shape[k], &d))
            return dpt_errf(e, "%s: NPY shape overflows the address space", path);
    if (!dpt_mul_ok(h->n, d, &bytes) || !dpt_mul_ok(bytes, dpt_dtype_size(h->t), &bytes))
        return dpt_errf(e, "%s: NPY shape overflows the address space", path);
    h->off = start + hlen;
    size_t have = b->len - h->off;
    if (have < bytes)
        return dpt_errf(e, "%s: truncated: NPY header promises %zu data bytes, file has %zu", path, bytes, have);
    if (have > bytes)
        return dpt_errf(e, "%s: %zu bytes after the %zu data bytes that the NPY header describes", path,
                        have - bytes, bytes);
    if (h->n == 0)
        return dpt_errf(e, "%s: NPY array holds no samples", path);
    if (d == 0)
        return dpt_errf(e, "%s: NPY samples have no values (a zero in the shape)", path);
    h->d = d;
    h->data = p + h->off;
    return DPT_OK;
}

int dpt_npy_read_x(dpt_dataset *ds, const char *path, dpt_err *e)
{
    dpt_blob b;
    if (dpt_blob_open(&b, path, e) != DPT_OK)
        return DPT_FAIL;
    npy_info h;
    if (parse(&h, &b, path, e) != DPT_OK) {
        dpt_blob_close(&b);
        return DPT_FAIL;
    }
    ds->n = h.n;
    ds->d = h.d;
    if (h.ndim == 3 || h.ndim == 4) /* images: N x H x W (one channel) or N x C x H x W */
        for (int k = 0; k < 3; k++)
            ds->shape[k] = h.ndim == 3 ? (k == 0 ? 1 : h.shape[k]) : h.shape[k + 1];
    ds->xtype = h.t;
    ds->xscale = 1.0f;
    size_t es = dpt_dtype_size(h.t);
    /* The map and malloc'd buffers start aligned, so the offset decides. */
    if (h.off % es == 0 && !h.swap) {
        ds->x = h.data;
        dpt_blob_give(ds, &b);
        return DPT_OK;
    }
    size_t count = h.n * h.d, bytes = count * es;
    unsigned char *buf = malloc(bytes);
    if (!buf) {
        dpt_blob_close(&b);
        return dpt_errf(e, "%s: out of memory for %zu bytes", path, bytes);
    }
    if (h.swap)
        for (size_t i = 0; i < count; i++)
            element(buf + i * es, &h, i, es);
    else
        memcpy(buf, h.data, bytes);
    dpt_blob_close(&b);
    ds->x = buf;
    ds->xbuf = buf;
    return DPT_OK;
}

int dpt_npy_read_y(float **y, size_t *n, size_t *tdim, const char *path, dpt_err *e)
{
    *y = NULL;
    dpt_blob b;
    if (dpt_blob_open(&b, path, e) != DPT_OK)
        return DPT_FAIL;
    npy_info h;
    if (parse(&h, &b, path, e) != DPT_OK) {
        dpt_blob_close(&b);
        return DPT_FAIL;
    }
    if (h.ndim > 2) {
        dpt_blob_close(&b);
        return dpt_errf(e, "%s: NPY targets must be 1-D or 2-D, not %zu-D", path, h.ndim);
    }
    size_t count = h.n * h.d;
    float *out = malloc(count * sizeof *out);
    if (!out) {
        dpt_blob_close(&b);
        return dpt_errf(e, "%s: out of memory for %zu targets", path, count);
    }
    /* Copied per element: the data may be unaligned or big-endian. */
    size_t es = dpt_dtype_size(h.t);
    for (size_t i = 0; i < count; i++) {
        switch (h.t) {
        case DPT_DT_U8: out[i] = h.data[i]; break;
        case DPT_DT_I32: { int32_t v; element(&v, &h, i, es); out[i] = (float)v; break; }
        case DPT_DT_I64: { int64_t v; element(&v, &h, i, es); out[i] = (float)v; break; }
        case DPT_DT_F32: element(&out[i], &h, i, es); break;
        case DPT_DT_F64: { double v; element(&v, &h, i, es); out[i] = (float)v; break; }
        }
    }
    dpt_blob_close(&b);
    *y = out;
    *n = h.n;
    *tdim = h.d;
    return DPT_OK;
}
