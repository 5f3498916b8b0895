/* Splits of a dataset into training and validation rows (a held-out fraction or k folds), seeded
 * and stratified by class, and the checksum of its stored contents. Works on a loaded dataset
 * only: no file, no rank. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/data.h"
#include "dptrain/rng.h"

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
