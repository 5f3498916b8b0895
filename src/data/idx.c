/* IDX files (the MNIST family): a big-endian header `00 00 <type> <ndims>`,
 * ndims big-endian uint32 sizes, then the data. uint8 features are used in
 * place (mapped, or in the gunzipped buffer); the other types are big-endian
 * on disk and so are converted into a buffer of a type we have. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"

typedef struct {
    int type;           /* IDX type code */
    size_t esize;       /* bytes per element on disk */
    size_t n, d;        /* leading axis, product of the rest */
    size_t dim[4];      /* the first four axes (the leading one first) */
    size_t ndims;
    size_t off;         /* where the data starts */
    const unsigned char *data;
} idx_info;

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static const char *type_name(int t)
{
    switch (t) {
    case 0x08: return "uint8";
    case 0x09: return "int8";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    }
    return "?";
}

static int parse(idx_info *h, const dpt_blob *b, const char *path, dpt_err *e)
{
    const unsigned char *p = b->p;
    if (b->len < 4)
        return dpt_errf(e, "%s: truncated IDX header (%zu bytes)", path, b->len);
    if (p[0] != 0 || p[1] != 0)
        return dpt_errf(e, "%s: not an IDX file (magic %02x %02x %02x %02x, expected 00 00 <type> <ndims>)", path,
                        p[0], p[1], p[2], p[3]);
    h->type = p[2];
    switch (h->type) {
    case 0x08: case 0x09: h->esize = 1; break;
    case 0x0B: h->esize = 2; break;
    case 0x0C: case 0x0D: h->esize = 4; break;
    case 0x0E: h->esize = 8; break;
    default:
        return dpt_errf(e, "%s: unsupported IDX data type 0x%02x (expected 0x08, 0x09, 0x0B-0x0E)", path, h->type);
    }
    size_t ndims = p[3];
    if (ndims == 0)
        return dpt_errf(e, "%s: IDX header has 0 dimensions", path);
    size_t hdr = 4 + 4 * ndims;
    h->ndims = ndims;
    if (b->len < hdr)
        return dpt_errf(e, "%s: truncated IDX header: %zu dimensions need %zu bytes, file has %zu", path, ndims,
                        hdr, b->len);
    char dims[160] = "";
    size_t dl = 0;
    int overflow = 0;
    size_t d = 1;
    for (size_t k = 0; k < ndims; k++) {
        uint32_t v = be32(p + 4 + 4 * k);
        if (dl < sizeof dims - 16)
            dl += (size_t)snprintf(dims + dl, sizeof dims - dl, "%s%u", k ? " x " : "", v);
        else if (dl < sizeof dims - 1)
            dl += (size_t)snprintf(dims + dl, sizeof dims - dl, "...");
        if (k < 4)
            h->dim[k] = v;
        if (k == 0)
            h->n = v;
        else if (!dpt_mul_ok(d, v, &d))
            overflow = 1;
    }
    size_t bytes = 0;
    if (overflow || !dpt_mul_ok(h->n, d, &bytes) || !dpt_mul_ok(bytes, h->esize, &bytes))
        return dpt_errf(e, "%s: IDX dimensions %s overflow the address space", path, dims);
    size_t have = b->len - hdr;
    if (have < bytes)
        return dpt_errf(e, "%s: truncated: IDX header (%s %s) promises %zu data bytes, file has %zu", path, dims,
                        type_name(h->type), bytes, have);
    if (have > bytes)
        return dpt_errf(e, "%s: %zu bytes after the %zu data bytes that the IDX header (%s) describes", path,
                        have - bytes, bytes, dims);
    if (h->n == 0)
        return dpt_errf(e, "%s: IDX file holds no samples (dimensions %s)", path, dims);
    if (d == 0)
        return dpt_errf(e, "%s: IDX samples have no values (dimensions %s)", path, dims);
    h->d = d;
    h->off = hdr;
    h->data = p + hdr;
    return DPT_OK;
}

/* Element i of the data as a double (big-endian on disk). */
static double get(const idx_info *h, size_t i)
{
    const unsigned char *q = h->data + i * h->esize;
    switch (h->type) {
    case 0x08: return q[0];
    case 0x09: return (int8_t)q[0];
    case 0x0B: return (int16_t)(uint16_t)(q[0] << 8 | q[1]);
    case 0x0C: return (int32_t)be32(q);
    case 0x0D: {
        uint32_t u = be32(q);
        float f;
        memcpy(&f, &u, 4);
        return f;
    }
    case 0x0E: {
        uint64_t u = (uint64_t)be32(q) << 32 | be32(q + 4);
        double f;
        memcpy(&f, &u, 8);
        return f;
    }
    }
    return NAN;
}

int dpt_idx_read_x(dpt_dataset *ds, const char *path, dpt_err *e)
{
    dpt_blob b;
    if (dpt_blob_open(&b, path, e) != DPT_OK)
        return DPT_FAIL;
    idx_info h;
    if (parse(&h, &b, path, e) != DPT_OK) {
        dpt_blob_close(&b);
        return DPT_FAIL;
    }
    ds->n = h.n;
    ds->d = h.d;
    if (h.ndims == 3 || h.ndims == 4) /* images: N x H x W (one channel) or N x C x H x W */
        for (int k = 0; k < 3; k++)
            ds->shape[k] = h.ndims == 3 ? (k == 0 ? 1 : h.dim[k]) : h.dim[k + 1];
    if (h.type == 0x08) {
        ds->xtype = DPT_DT_U8;
        ds->xscale = 1.0f / 255.0f;
        ds->x = h.data;
        dpt_blob_give(ds, &b);
        return DPT_OK;
    }
    /* Signed integers widen to int32; floats keep their width. */
    dpt_dtype t = h.type == 0x0D ? DPT_DT_F32 : h.type == 0x0E ? DPT_DT_F64 : DPT_DT_I32;
    size_t count = h.n * h.d, bytes;
    if (!dpt_mul_ok(count, dpt_dtype_size(t), &bytes)) {
        dpt_blob_close(&b);
        return dpt_errf(e, "%s: IDX data too large", path);
    }
    void *buf = malloc(bytes);
    if (!buf) {
        dpt_blob_close(&b);
        return dpt_errf(e, "%s: out of memory for %zu bytes", path, bytes);
    }
    for (size_t i = 0; i < count; i++) {
        double v = get(&h, i);
        if (t == DPT_DT_F32)
            ((float *)buf)[i] = (float)v;
        else if (t == DPT_DT_F64)
            ((double *)buf)[i] = v;
        else
            ((int32_t *)buf)[i] = (int32_t)v;
    }
    dpt_blob_close(&b);
    ds->xtype = t;
    ds->xscale = 1.0f;
    ds->x = buf;
    ds->xbuf = buf;
    return DPT_OK;
}

int dpt_idx_read_y(float **y, size_t *n, size_t *tdim, const char *path, dpt_err *e)
{
    *y = NULL;
    dpt_blob b;
    if (dpt_blob_open(&b, path, e) != DPT_OK)
        return DPT_FAIL;
    idx_info h;
    if (parse(&h, &b, path, e) != DPT_OK) {
        dpt_blob_close(&b);
        return DPT_FAIL;
    }
    size_t count = h.n * h.d, bytes;
    if (!dpt_mul_ok(count, sizeof(float), &bytes) || !(*y = malloc(bytes))) {
        dpt_blob_close(&b);
        return dpt_errf(e, "%s: out of memory for %zu targets", path, count);
    }
    for (size_t i = 0; i < count; i++)
        (*y)[i] = (float)get(&h, i);
    dpt_blob_close(&b);
    *n = h.n;
    *tdim = h.d;
    return DPT_OK;
}
