/* Datasets: picks a reader by format or extension, checks what every reader
 * must guarantee (finite features, valid class labels, matching counts), and
 * does the per-dataset work that does not care about the file: gathering a
 * batch as float, fitting standardization, splits and k folds. Features stay
 * in their stored type (and in the file's memory map when possible) until
 * they are gathered, so a uint8 image set costs one byte per pixel. */
#include "dptrain/data.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/formats.h"
#include "dptrain/rng.h"

size_t dpt_dtype_size(dpt_dtype t)
{
    switch (t) {
    case DPT_DT_U8: return 1;
    case DPT_DT_I32: return 4;
    case DPT_DT_F32: return 4;
    case DPT_DT_I64: return 8;
    case DPT_DT_F64: return 8;
    }
    return 0;
}

int dpt_mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

/* ---- files in memory ---- */

/* Deflate expands at most about 1032:1 (258-byte matches coded in 2 bits), and every gzip member
 * has an 18-byte frame: more output than this from fsize bytes is impossible. */
static size_t gunzip_bound(off_t fsize)
{
    size_t bound;
    if (!dpt_mul_ok((size_t)fsize, 1032, &bound) || bound > SIZE_MAX - 65536)
        return SIZE_MAX - 65536;
    return bound + 65536;
}

/* Gunzips fd into a malloc'd buffer; fd is consumed. The gzip trailer's size
 * (mod 2^32, and written by whoever made the file) sizes the first buffer only
 * as far as the compressed size could hold it, so a short file cannot ask for
 * gigabytes; the buffer then grows as the data really inflates. */
static int gunzip_fd(dpt_blob *b, int fd, off_t fsize, const char *path, dpt_err *e)
{
    unsigned char tail[4];
    size_t cap = 0, bound = gunzip_bound(fsize);
    if (fsize >= 18 && pread(fd, tail, 4, fsize - 4) == 4)
        cap = (size_t)tail[0] | (size_t)tail[1] << 8 | (size_t)tail[2] << 16 | (size_t)tail[3] << 24;
    if (cap > bound)
        cap = bound;
    if (cap < 65536)
        cap = 65536;
    cap += 1; /* one spare byte lets the loop see EOF without growing */
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return dpt_errf(e, "%s: cannot open as gzip", path);
    }
    gzbuffer(gz, 1u << 18);
    unsigned char *buf = malloc(cap);
    if (!buf) {
        gzclose(gz);
        return dpt_errf(e, "%s: out of memory for %zu bytes", path, cap);
    }
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap;
            if (cap > bound) { /* zlib would have failed first: defence, not a path */
                free(buf);
                gzclose(gz);
                return dpt_errf(e, "%s: gzip data inflates past %zu bytes, more than deflate allows", path, bound);
            }
            if (!dpt_mul_ok(cap, 2, &ncap) || ncap > bound + 1)
                ncap = bound + 1;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                gzclose(gz);
                return dpt_errf(e, "%s: out of memory for %zu bytes", path, ncap);
            }
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - len;
        if (want > (1u << 30))
            want = 1u << 30;
        int r = gzread(gz, buf + len, (unsigned)want);
        if (r < 0)
            break;
        if (r == 0)
            break;
        len += (size_t)r;
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(gz, &zerr);
    if (zerr != Z_OK) {
        dpt_errf(e, "%s: truncated or corrupt gzip data (%s)", path, zmsg ? zmsg : "?");
        free(buf);
        gzclose(gz);
        return DPT_FAIL;
    }
    gzclose(gz);
    if (len == 0) {
        free(buf);
        return dpt_errf(e, "%s: file is empty (after decompression)", path);
    }
    /* Exact size: nothing may lean on slack past the data (and ASan can tell). */
    if (len < cap) {
        unsigned char *nb = realloc(buf, len);
        if (nb)
            buf = nb;
    }
    b->buf = buf;
    b->p = buf;
    b->len = len;
    return DPT_OK;
}

const char *dpt_line(const char *ls, const char *end, const char **le)
{
    const char *nl = memchr(ls, '\n', (size_t)(end - ls));
    *le = nl ? nl : end;
    if (*le > ls && (*le)[-1] == '\r')
        (*le)--;
    return nl ? nl + 1 : end;
}

int dpt_blob_open(dpt_blob *b, const char *path, dpt_err *e)
{
    memset(b, 0, sizeof *b);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dpt_errf(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return dpt_errf(e, "%s: cannot stat: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return dpt_errf(e, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return dpt_errf(e, "%s: file is empty", path);
    }
    if ((uintmax_t)st.st_size > SIZE_MAX) {
        close(fd);
        return dpt_errf(e, "%s: file too large to map", path);
    }
    unsigned char magic[2];
    if (st.st_size >= 2 && pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        return gunzip_fd(b, fd, st.st_size, path, e);
    size_t len = (size_t)st.st_size;
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (m == MAP_FAILED)
        return dpt_errf(e, "%s: cannot map: %s", path, strerror(err));
    b->map = m;
    b->maplen = len;
    b->p = m;
    b->len = len;
    return DPT_OK;
}

void dpt_blob_close(dpt_blob *b)
{
    if (!b)
        return;
    if (b->map)
        munmap(b->map, b->maplen);
    free(b->buf);
    memset(b, 0, sizeof *b);
}

void dpt_blob_give(dpt_dataset *ds, dpt_blob *b)
{
    if (b->map) {
        ds->map = b->map;
        ds->maplen = b->maplen;
    } else {
        ds->xbuf = b->buf;
    }
    memset(b, 0, sizeof *b);
}

/* ---- checks shared by the readers ---- */

int dpt_target_check(double v, const dpt_data_opts *o, dpt_err *e)
{
    if (isnan(v))
        return dpt_errf(e, "target is NaN");
    if (isinf(v))
        return dpt_errf(e, "target is infinite");
    if (o->task != DPT_TASK_CLASSIFY)
        return DPT_OK;
    if (v != floor(v))
        return dpt_errf(e, "class label %g is not an integer", v);
    if (v < 0)
        return dpt_errf(e, "class label %g is negative", v);
    if (o->nclasses > 0 && v >= o->nclasses)
        return dpt_errf(e, "class label %g is not below nclasses %d", v, o->nclasses);
    if (v >= 16777216.0) /* floats hold integers exactly only up to 2^24 */
        return dpt_errf(e, "class label %g is too large", v);
    return DPT_OK;
}

#define FIND_NONFINITE(T)                                   \
    do {                                                    \
        const T *s = x;                                     \
        for (size_t i = 0; i < n * d; i++)                  \
            if (!isfinite(s[i])) {                          \
                *row = i / d;                               \
                *col = i % d;                               \
                return 1;                                   \
            }                                               \
    } while (0)

int dpt_find_nonfinite(const void *x, dpt_dtype t, size_t n, size_t d, size_t *row, size_t *col)
{
    if (t == DPT_DT_F32)
        FIND_NONFINITE(float);
    else if (t == DPT_DT_F64)
        FIND_NONFINITE(double);
    return 0;
}

/* ---- loading ---- */

static int read_idx(dpt_dataset *ds, const dpt_data_opts *o, int no_label, dpt_err *e)
{
    (void)no_label;
    return dpt_idx_read_x(ds, o->path, e);
}

static int read_npy(dpt_dataset *ds, const dpt_data_opts *o, int no_label, dpt_err *e)
{
    (void)no_label;
    return dpt_npy_read_x(ds, o->path, e);
}

/* The readers, one per format, in the order auto tries their file-name endings (".gz" aside).
 * An ending with a trailing '*' matches anywhere in the name ("train-images.idx3-ubyte"). */
static const struct {
    const char *name;
    const char *ext[4];
    int carries_targets; /* the features file holds the targets too */
    int (*read)(dpt_dataset *ds, const dpt_data_opts *o, int no_label, dpt_err *e);
    int (*read_targets)(float **y, size_t *n, size_t *tdim, const char *path, dpt_err *e); /* or NULL */
} readers[] = {
    [DPT_FORMAT_AUTO] = {"auto", {NULL}, 0, NULL, NULL},
    [DPT_FORMAT_IDX] = {"idx", {"-ubyte", ".idx*"}, 0, read_idx, dpt_idx_read_y},
    [DPT_FORMAT_NPY] = {"npy", {".npy"}, 0, read_npy, dpt_npy_read_y},
    [DPT_FORMAT_CSV] = {"csv", {".csv"}, 1, dpt_csv_read, NULL},
    [DPT_FORMAT_LIBSVM] = {"libsvm", {".svm", ".libsvm", ".txt"}, 1, dpt_libsvm_read, NULL},
};
enum { NFORMATS = (int)(sizeof readers / sizeof readers[0]) };

const char *dpt_data_format_name(int format)
{
    return format >= 0 && format < NFORMATS ? readers[format].name : NULL;
}

int dpt_data_format_carries_targets(dpt_data_format format)
{
    return (int)format >= 0 && (int)format < NFORMATS && readers[format].carries_targets;
}

/* Whether base[0..len) ends with ext, or holds it anywhere when ext ends with '*' (case ignored). */
static int name_has(const char *base, size_t len, const char *ext)
{
    size_t k = strlen(ext);
    if (k && ext[k - 1] == '*') {
        for (size_t i = 0; i + k - 1 <= len; i++)
            if (strncasecmp(base + i, ext, k - 1) == 0)
                return 1;
        return 0;
    }
    return len >= k && strncasecmp(base + len - k, ext, k) == 0;
}

dpt_data_format dpt_data_format_of(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (name_has(base, len, ".gz"))
        len -= 3;
    for (int f = 0; f < NFORMATS; f++)
        for (int i = 0; i < 4 && readers[f].ext[i]; i++)
            if (name_has(base, len, readers[f].ext[i]))
                return (dpt_data_format)f;
    return DPT_FORMAT_AUTO;
}

static int load_targets(dpt_dataset *ds, const dpt_data_opts *o, dpt_data_format fmt, dpt_err *e)
{
    if (!o->targets || !*o->targets)
        return dpt_errf(e, "%s: no targets file given (%s features need one)", o->path, readers[fmt].name);
    /* The targets file may be in the other binary format (IDX images, NPY labels). */
    dpt_data_format tfmt = dpt_data_format_of(o->targets);
    if (!readers[tfmt].read_targets)
        tfmt = fmt;
    size_t n = 0, tdim = 0;
    int rc = readers[tfmt].read_targets(&ds->y, &n, &tdim, o->targets, e);
    if (rc != DPT_OK)
        return rc;
    if (n != ds->n)
        return dpt_errf(e, "%s has %zu samples but %s has %zu targets", o->path, ds->n, o->targets, n);
    ds->tdim = tdim;
    for (size_t i = 0; i < n * tdim; i++)
        if (dpt_target_check(ds->y[i], o, e) != DPT_OK) {
            char where[sizeof e->msg];
            snprintf(where, sizeof where, "%s: sample %zu", o->targets, i / tdim);
            return dpt_err_prefix(e, where);
        }
    return DPT_OK;
}

static int load(dpt_dataset *ds, const dpt_data_opts *o, int no_label, dpt_err *e)
{
    if (!o || !o->path || !*o->path)
        return dpt_errf(e, "data: no input file given");
    if ((int)o->format < 0 || (int)o->format >= NFORMATS)
        return dpt_errf(e, "%s: unknown data format %d", o->path, (int)o->format);
    dpt_data_format fmt = o->format != DPT_FORMAT_AUTO ? o->format : dpt_data_format_of(o->path);
    if (fmt == DPT_FORMAT_AUTO)
        return dpt_errf(e, "%s: cannot tell the format from the file name; name it (idx, npy, csv, libsvm)",
                        o->path);
    if (o->task != DPT_TASK_CLASSIFY && o->task != DPT_TASK_REGRESS)
        return dpt_errf(e, "%s: unknown task %d", o->path, (int)o->task);
    if (o->nclasses < 0)
        return dpt_errf(e, "%s: nclasses %d is negative", o->path, o->nclasses);
    int own_targets = readers[fmt].carries_targets;
    if (own_targets && !no_label && o->targets && *o->targets)
        return dpt_errf(e, "%s: %s files carry their own targets; drop the targets file %s", o->path,
                        readers[fmt].name, o->targets);

    int rc = readers[fmt].read(ds, o, no_label, e);
    if (rc != DPT_OK)
        return rc;

    /* The text readers check each value as they parse it, with its line. */
    size_t row, col;
    if (!own_targets && dpt_find_nonfinite(ds->x, ds->xtype, ds->n, ds->d, &row, &col))
        return dpt_errf(e, "%s: sample %zu, feature %zu is NaN or infinite", o->path, row, col);
    if (no_label) {
        free(ds->y);
        ds->y = NULL;
        ds->tdim = 0;
        ds->nclasses = 0;
        return DPT_OK;
    }
    if (!own_targets && load_targets(ds, o, fmt, e) != DPT_OK)
        return DPT_FAIL;

    if (o->task == DPT_TASK_REGRESS) {
        ds->nclasses = 0;
        return DPT_OK;
    }
    if (ds->tdim != 1)
        return dpt_errf(e, "%s: classification needs one label per sample, targets have %zu values each",
                        o->targets && *o->targets ? o->targets : o->path, ds->tdim);
    if (o->nclasses > 0) {
        ds->nclasses = o->nclasses;
    } else {
        float mx = 0;
        for (size_t i = 0; i < ds->n; i++)
            if (ds->y[i] > mx)
                mx = ds->y[i];
        ds->nclasses = (int)mx + 1;
    }
    return DPT_OK;
}

int dpt_data_load(dpt_dataset *ds, const dpt_data_opts *o, dpt_err *e)
{
    memset(ds, 0, sizeof *ds);
    if (load(ds, o, 0, e) != DPT_OK) {
        dpt_data_free(ds);
        return DPT_FAIL;
    }
    return DPT_OK;
}

int dpt_data_load_features(dpt_dataset *ds, const dpt_data_opts *o, dpt_err *e)
{
    memset(ds, 0, sizeof *ds);
    if (load(ds, o, 1, e) != DPT_OK) {
        dpt_data_free(ds);
        return DPT_FAIL;
    }
    return DPT_OK;
}

void dpt_data_free(dpt_dataset *ds)
{
    if (!ds)
        return;
    if (ds->map)
        munmap(ds->map, ds->maplen);
    free(ds->xbuf);
    free(ds->y);
    free(ds->mean);
    free(ds->std);
    memset(ds, 0, sizeof *ds);
}

/* ---- batches and standardization ---- */

/* One tight loop per stored type; the switch sits outside the loops. */
#define GATHER(T)                                                          \
    do {                                                                   \
        for (size_t r = 0; r < count; r++) {                               \
            const T *s = (const T *)ds->x + idx[r] * d;                    \
            float *o = x + r * d;                                          \
            if (m)                                                         \
                for (size_t j = 0; j < d; j++)                             \
                    o[j] = ((float)s[j] * sc - m[j]) / sd[j];              \
            else                                                           \
                for (size_t j = 0; j < d; j++)                             \
                    o[j] = (float)s[j] * sc;                               \
        }                                                                  \
    } while (0)

void dpt_data_gather(float *x, float *y, const dpt_dataset *ds, const size_t *idx, size_t count)
{
    size_t d = ds->d;
    float sc = ds->xscale;
    const float *m = ds->mean, *sd = ds->std;
    if (!(m && sd))
        m = NULL;
    if (x) {
        switch (ds->xtype) {
        case DPT_DT_U8: GATHER(uint8_t); break;
        case DPT_DT_I32: GATHER(int32_t); break;
        case DPT_DT_I64: GATHER(int64_t); break;
        case DPT_DT_F32: GATHER(float); break;
        case DPT_DT_F64: GATHER(double); break;
        }
    }
    if (y && ds->y) {
        size_t t = ds->tdim;
        for (size_t r = 0; r < count; r++)
            memcpy(y + r * t, ds->y + idx[r] * t, t * sizeof *y);
    }
}

/* acc[j] += f(stored value) over the chosen rows, f given as an expression in v and j. */
#define ACCUM(T, EXPR)                                              \
    do {                                                            \
        for (size_t r = 0; r < count; r++) {                        \
            const T *s = (const T *)ds->x + (idx ? idx[r] : r) * d; \
            for (size_t j = 0; j < d; j++) {                        \
                double v = (double)s[j];                            \
                acc[j] += (EXPR);                                   \
            }                                                       \
        }                                                           \
    } while (0)

#define ACCUM_ANY(EXPR)                                             \
    do {                                                            \
        switch (ds->xtype) {                                        \
        case DPT_DT_U8: ACCUM(uint8_t, EXPR); break;                \
        case DPT_DT_I32: ACCUM(int32_t, EXPR); break;               \
        case DPT_DT_I64: ACCUM(int64_t, EXPR); break;               \
        case DPT_DT_F32: ACCUM(float, EXPR); break;                 \
        case DPT_DT_F64: ACCUM(double, EXPR); break;                \
        }                                                           \
    } while (0)

int dpt_data_fit_standardize(dpt_dataset *ds, const size_t *idx, size_t count, dpt_err *e)
{
    size_t d = ds->d;
    if (count == 0)
        return dpt_errf(e, "standardize: no samples to fit on");
    if (d == 0 || !ds->x)
        return dpt_errf(e, "standardize: dataset has no features");
    for (size_t r = 0; r < count; r++)
        if ((idx ? idx[r] : r) >= ds->n)
            return dpt_errf(e, "standardize: index %zu is beyond the %zu samples", idx ? idx[r] : r, ds->n);
    double *acc = calloc(d, sizeof *acc), *mu = calloc(d, sizeof *mu);
    float *mean = malloc(d * sizeof *mean), *sdev = malloc(d * sizeof *sdev);
    if (!acc || !mu || !mean || !sdev) {
        free(acc);
        free(mu);
        free(mean);
        free(sdev);
        return dpt_errf(e, "standardize: out of memory for %zu features", d);
    }
    /* Two passes in stored units (mean, then squared deviations) avoid the
     * cancellation of sum-of-squares; the scale is applied at the end. */
    ACCUM_ANY(v);
    for (size_t j = 0; j < d; j++) {
        mu[j] = acc[j] / (double)count;
        acc[j] = 0;
    }
    ACCUM_ANY((v - mu[j]) * (v - mu[j]));
    double sc = ds->xscale;
    for (size_t j = 0; j < d; j++) {
        double s = sqrt(acc[j] / (double)count);
        mean[j] = (float)(mu[j] * sc);
        sdev[j] = (float)(s * fabs(sc));
        /* A constant feature leaves only rounding noise in s: treat it as 0, and 0 as 1. */
        if (!(s > 1e-10 * fabs(mu[j])) || !(sdev[j] > 0) || !isfinite(sdev[j]))
            sdev[j] = 1;
    }
    free(acc);
    free(mu);
    free(ds->mean);
    free(ds->std);
    ds->mean = mean;
    ds->std = sdev;
    return DPT_OK;
}

/* ---- splits ---- */

/* order[] = 0..n-1 permuted by (seed, SPLIT), then grouped by class (stable),
 * with class c at order[start[c] .. start[c+1]). start may be NULL for
 * regression, where order is just the permutation. */
static int grouped_order(size_t **order, size_t **start, const dpt_dataset *ds, uint64_t seed, dpt_err *e)
{
    size_t n = ds->n;
    *order = NULL;
    *start = NULL;
    size_t *perm = malloc((n ? n : 1) * sizeof *perm);
    if (!perm)
        return dpt_errf(e, "split: out of memory for %zu samples", n);
    dpt_rng_permutation(perm, n, seed, DPT_STREAM_SPLIT);
    if (ds->nclasses <= 0 || !ds->y || ds->tdim != 1) {
        *order = perm;
        return DPT_OK;
    }
    size_t C = (size_t)ds->nclasses;
    size_t *st = calloc(C + 1, sizeof *st), *out = malloc((n ? n : 1) * sizeof *out);
    if (!st || !out) {
        free(perm);
        free(st);
        free(out);
        return dpt_errf(e, "split: out of memory for %zu samples", n);
    }
    for (size_t i = 0; i < n; i++) {
        float v = ds->y[i];
        if (!(v >= 0 && v < (float)C) || v != floorf(v)) {
            free(perm);
            free(st);
            free(out);
            return dpt_errf(e, "split: sample %zu has label %g outside 0..%zu", i, (double)v, C - 1);
        }
        st[(size_t)v + 1]++;
    }
    for (size_t c = 0; c < C; c++)
        st[c + 1] += st[c];
    size_t *fill = malloc(C * sizeof *fill);
    if (!fill) {
        free(perm);
        free(st);
        free(out);
        return dpt_errf(e, "split: out of memory for %zu classes", C);
    }
    memcpy(fill, st, C * sizeof *fill);
    for (size_t k = 0; k < n; k++) {
        size_t i = perm[k];
        out[fill[(size_t)ds->y[i]]++] = i;
    }
    free(fill);
    free(perm);
    *order = out;
    *start = st;
    return DPT_OK;
}

/* Builds ascending train and validation lists from a 0/1 flag per sample. */
static int lists_from_flags(size_t **train, size_t *ntrain, size_t **val, size_t *nval, const unsigned char *isval,
                            size_t n, dpt_err *e)
{
    size_t nv = 0;
    for (size_t i = 0; i < n; i++)
        nv += isval[i];
    size_t *t = malloc((n - nv ? n - nv : 1) * sizeof *t), *v = malloc((nv ? nv : 1) * sizeof *v);
    if (!t || !v) {
        free(t);
        free(v);
        return dpt_errf(e, "split: out of memory for %zu samples", n);
    }
    size_t a = 0, b = 0;
    for (size_t i = 0; i < n; i++) {
        if (isval[i])
            v[b++] = i;
        else
            t[a++] = i;
    }
    *train = t;
    *ntrain = a;
    *val = v;
    *nval = b;
    return DPT_OK;
}

typedef struct {
    double rem;
    size_t c;
} class_rem;

static int by_remainder(const void *pa, const void *pb)
{
    const class_rem *a = pa, *b = pb;
    if (a->rem != b->rem)
        return a->rem > b->rem ? -1 : 1;
    return a->c < b->c ? -1 : a->c > b->c;
}

int dpt_data_split(size_t **train, size_t *ntrain, size_t **val, size_t *nval, const dpt_dataset *ds,
                   double val_fraction, uint64_t seed, dpt_err *e)
{
    *train = *val = NULL;
    *ntrain = *nval = 0;
    if (!(val_fraction >= 0 && val_fraction < 1))
        return dpt_errf(e, "split: validation fraction %g is not in [0, 1)", val_fraction);
    size_t n = ds->n;
    size_t want = (size_t)floor((double)n * val_fraction + 0.5);
    size_t *order, *start;
    if (grouped_order(&order, &start, ds, seed, e) != DPT_OK)
        return DPT_FAIL;
    unsigned char *isval = calloc(n ? n : 1, 1);
    if (!isval) {
        free(order);
        free(start);
        return dpt_errf(e, "split: out of memory for %zu samples", n);
    }
    if (!start) {
        for (size_t k = 0; k < want; k++)
            isval[order[k]] = 1;
    } else {
        /* Each class gives floor(n_c * f); the shortfall goes to the classes
         * with the largest remainders, so the total is round(n * f). */
        size_t C = (size_t)ds->nclasses, got = 0;
        size_t *take = malloc(C * sizeof *take);
        class_rem *rem = malloc(C * sizeof *rem);
        if (!take || !rem) {
            free(take);
            free(rem);
            free(isval);
            free(order);
            free(start);
            return dpt_errf(e, "split: out of memory for %zu classes", C);
        }
        for (size_t c = 0; c < C; c++) {
            size_t nc = start[c + 1] - start[c];
            double q = (double)nc * val_fraction;
            take[c] = (size_t)floor(q);
            if (take[c] > nc)
                take[c] = nc;
            rem[c].rem = q - (double)take[c];
            rem[c].c = c;
            got += take[c];
        }
        qsort(rem, C, sizeof *rem, by_remainder);
        for (size_t k = 0; k < C && got < want; k++) {
            size_t c = rem[k].c;
            if (take[c] < start[c + 1] - start[c]) {
                take[c]++;
                got++;
            }
        }
        for (size_t c = 0; c < C; c++)
            for (size_t k = 0; k < take[c]; k++)
                isval[order[start[c] + k]] = 1;
        free(take);
        free(rem);
    }
    int rc = lists_from_flags(train, ntrain, val, nval, isval, n, e);
    free(isval);
    free(order);
    free(start);
    return rc;
}

int dpt_data_kfold(size_t **train, size_t *ntrain, size_t **val, size_t *nval, const dpt_dataset *ds, int k,
                   int fold, uint64_t seed, dpt_err *e)
{
    *train = *val = NULL;
    *ntrain = *nval = 0;
    size_t n = ds->n;
    if (k < 2 || (size_t)k > n)
        return dpt_errf(e, "kfold: k = %d must be between 2 and the %zu samples", k, n);
    if (fold < 0 || fold >= k)
        return dpt_errf(e, "kfold: fold %d is not in 0..%d", fold, k - 1);
    size_t *order, *start;
    if (grouped_order(&order, &start, ds, seed, e) != DPT_OK)
        return DPT_FAIL;
    unsigned char *isval = calloc(n, 1);
    if (!isval) {
        free(order);
        free(start);
        return dpt_errf(e, "kfold: out of memory for %zu samples", n);
    }
    /* Dealing the class-grouped order round-robin keeps every class's share
     * of each fold within one sample, and the fold sizes within one. */
    for (size_t p = 0; p < n; p++)
        if (p % (size_t)k == (size_t)fold)
            isval[order[p]] = 1;
    int rc = lists_from_flags(train, ntrain, val, nval, isval, n, e);
    free(isval);
    free(order);
    free(start);
    return rc;
}

/* 64-bit FNV-1a over 8-byte words (then the tail bytes): one multiply per word, so the
 * Fashion-MNIST training images hash in a few milliseconds, and any changed byte changes it. */
static uint64_t fnv1a_words(uint64_t h, const void *p, size_t bytes)
{
    const unsigned char *b = p;
    size_t i = 0;
    for (; i + 8 <= bytes; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x100000001b3ULL;
    }
    for (; i < bytes; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

uint64_t dpt_data_checksum(const dpt_dataset *ds, int targets)
{
    size_t shape[3] = {ds->n, targets ? ds->tdim : ds->d, targets ? (size_t)DPT_DT_F32 : (size_t)ds->xtype};
    uint64_t h = fnv1a_words(0xcbf29ce484222325ULL, shape, sizeof shape);
    if (targets)
        return ds->y ? fnv1a_words(h, ds->y, sizeof(float) * ds->n * ds->tdim) : h;
    return ds->x ? fnv1a_words(h, ds->x, dpt_dtype_size(ds->xtype) * ds->n * ds->d) : h;
}
