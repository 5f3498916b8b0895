/* Datasets: picks a reader by format or extension (one table of readers), checks what every
 * reader must guarantee (finite features, valid class labels, matching counts), and does the
 * per-dataset work that does not care about the file: gathering a batch as float and fitting
 * standardization. Features stay in their stored type (and in the file's memory map when
 * possible) until they are gathered, so a uint8 image set costs one byte per pixel. Files in
 * memory are data_io.c's; splits, folds and checksums data_split.c's. */
#include "dptrain/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>

#include "data/formats.h"

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
