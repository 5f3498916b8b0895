/* CSV: numbers separated by commas, one sample per line, one column the label.
 * The file is mapped (or gunzipped) whole and parsed in place by a bounded
 * hand-written number parser: no per-line allocation, no strtod on the common
 * path, so parsing runs at hundreds of MB/s. The header is detected (a first
 * line with a non-numeric field) unless the options say otherwise; CRLF,
 * a UTF-8 BOM and blank lines are accepted. Errors name file:line: column. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"

static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                             1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int lower_is(const char *p, const char *end, const char *w)
{
    size_t k = strlen(w);
    if ((size_t)(end - p) < k)
        return 0;
    for (size_t i = 0; i < k; i++)
        if ((p[i] | 0x20) != w[i])
            return 0;
    return 1;
}

const char *dpt_parse_num(const char *p, const char *end, double *out)
{
    int neg = 0;
    if (p < end && (*p == '-' || *p == '+')) {
        neg = *p == '-';
        p++;
    }
    /* Up to 19 significant digits fit a uint64; later ones are below float precision. */
    uint64_t m = 0;
    int nd = 0, digits = 0;
    long ex = 0;
    while (p < end && (unsigned)(*p - '0') < 10) {
        if (nd < 19) {
            m = m * 10 + (unsigned)(*p - '0');
            nd += m != 0;
        } else {
            ex++;
        }
        digits++;
        p++;
    }
    if (p < end && *p == '.') {
        p++;
        while (p < end && (unsigned)(*p - '0') < 10) {
            if (nd < 19) {
                m = m * 10 + (unsigned)(*p - '0');
                nd += m != 0;
                ex--;
            }
            digits++;
            p++;
        }
    }
    if (!digits) {
        double v;
        if (lower_is(p, end, "nan")) {
            v = NAN;
            p += 3;
        } else if (lower_is(p, end, "infinity")) {
            v = INFINITY;
            p += 8;
        } else if (lower_is(p, end, "inf")) {
            v = INFINITY;
            p += 3;
        } else {
            return NULL;
        }
        *out = neg ? -v : v;
        return p;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        int eneg = 0;
        if (q < end && (*q == '-' || *q == '+')) {
            eneg = *q == '-';
            q++;
        }
        if (q >= end || (unsigned)(*q - '0') >= 10)
            return NULL;
        long e10 = 0;
        while (q < end && (unsigned)(*q - '0') < 10) {
            if (e10 < 100000)
                e10 = e10 * 10 + (*q - '0');
            q++;
        }
        ex += eneg ? -e10 : e10;
        p = q;
    }
    double v;
    if (m == 0)
        v = 0;
    else if (ex >= 0 && ex <= 22)
        v = (double)m * p10[ex];
    else if (ex < 0 && ex >= -22)
        v = (double)m / p10[-ex];
    else /* far outside: pow's last-bit error is far below float precision */
        v = (double)m * pow(10.0, (double)ex);
    *out = neg ? -v : v;
    return p;
}

static int is_sp(char c)
{
    return c == ' ' || c == '\t';
}

static int blank(const char *ls, const char *le)
{
    while (ls < le && is_sp(*ls))
        ls++;
    return ls == le;
}

/* One header field at q: its text (quotes and outer spaces stripped) in
 * [*fs, *fs + *fl). Returns the start of the next field, or NULL at the last. */
static const char *text_field(const char *q, const char *le, const char **fs, size_t *fl)
{
    while (q < le && is_sp(*q))
        q++;
    const char *a = q, *z;
    if (q < le && *q == '"') {
        a = ++q;
        while (q < le && *q != '"')
            q += (q + 1 < le && *q == '"' && q[1] == '"') ? 2 : 1;
        z = q;
        while (q < le && *q != ',')
            q++;
    } else {
        while (q < le && *q != ',')
            q++;
        z = q;
        while (z > a && is_sp(z[-1]))
            z--;
    }
    *fs = a;
    *fl = (size_t)(z - a);
    return q < le ? q + 1 : NULL;
}

/* One numeric field at q (outer spaces and quotes allowed). Returns the
 * delimiter after it (',' or le), or NULL when the field is not a number. */
static inline const char *num_field(const char *q, const char *le, double *v)
{
    /* Fast path: a short unsigned integer right up to the delimiter, the bulk
     * of image-like files. Anything else takes the general parser. */
    const char *r = q;
    uint32_t u = 0;
    while (r < le && (unsigned)(*r - '0') < 10 && r - q < 9)
        u = u * 10 + (uint32_t)(*r++ - '0');
    if (r > q && (r == le || *r == ',')) {
        *v = u;
        return r;
    }
    while (q < le && is_sp(*q))
        q++;
    int quoted = q < le && *q == '"';
    q += quoted;
    r = dpt_parse_num(q, le, v);
    if (!r)
        return NULL;
    if (quoted) {
        if (r >= le || *r != '"')
            return NULL;
        r++;
    }
    while (r < le && is_sp(*r))
        r++;
    if (r < le && *r != ',')
        return NULL;
    return r;
}

static size_t count_commas(const char *q, const char *le)
{
    size_t k = 0;
    while (q < le && (q = memchr(q, ',', (size_t)(le - q)))) {
        k++;
        q++;
    }
    return k;
}

static int not_number(const char *path, size_t line, size_t col, const char *fs, const char *le, dpt_err *e)
{
    const char *fe = memchr(fs, ',', (size_t)(le - fs));
    if (!fe)
        fe = le;
    int len = (int)(fe - fs), show = len > 40 ? 40 : len;
    return dpt_errf(e, "%s:%zu: column %zu: '%.*s%s' is not a number", path, line, col, show, fs,
                    len > show ? "..." : "");
}

/* The label's column from o->label: a header name, else a 0-based index. */
static int label_column(size_t *lab, const char *ls, const char *le, size_t ncols, int header,
                        const dpt_data_opts *o, dpt_err *e)
{
    const char *want = o->label;
    if (!want || !*want) {
        *lab = ncols - 1;
        return DPT_OK;
    }
    size_t wl = strlen(want);
    if (header) {
        const char *q = ls, *fs;
        size_t fl;
        for (size_t c = 0; q; c++) {
            q = text_field(q, le, &fs, &fl);
            if (fl == wl && memcmp(fs, want, wl) == 0) {
                *lab = c;
                return DPT_OK;
            }
        }
    }
    if (strspn(want, "0123456789") == wl && wl < 19) {
        size_t v = (size_t)strtoull(want, NULL, 10);
        if (v >= ncols)
            return dpt_errf(e, "%s: label column %zu is out of range (the file has %zu columns)", o->path, v,
                            ncols);
        *lab = v;
        return DPT_OK;
    }
    return dpt_errf(e, "%s: label column '%s' not found (%s)", o->path, want,
                    header ? "not a header name nor a column index" : "the file has no header");
}

static int parse(dpt_dataset *ds, const char *p, const char *end, const dpt_data_opts *o, int no_label,
                 dpt_err *e)
{
    const char *path = o->path;
    if (end - p >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;

    /* The first non-blank line fixes the column count and may be a header. */
    const char *ls = p, *le = p, *next = p;
    size_t line = 0;
    int found = 0;
    while (ls < end) {
        next = dpt_line(ls, end, &le);
        line++;
        if (!blank(ls, le)) {
            found = 1;
            break;
        }
        ls = next;
    }
    if (!found)
        return dpt_errf(e, "%s: no data (only blank lines)", path);
    size_t ncols = 0;
    int numeric = 1;
    for (const char *q = ls; q;) {
        const char *fs;
        size_t fl;
        q = text_field(q, le, &fs, &fl);
        double v;
        if (dpt_parse_num(fs, fs + fl, &v) != fs + fl || fl == 0)
            numeric = 0;
        ncols++;
    }
    int header = o->header < 0 ? !numeric : o->header > 0;
    /* Without a label, no column index equals lab and none is skipped. */
    size_t lab = SIZE_MAX, d = ncols;
    if (!no_label) {
        if (label_column(&lab, ls, le, ncols, header, o, e) != DPT_OK)
            return DPT_FAIL;
        if (ncols < 2)
            return dpt_errf(e, "%s:%zu: one column only; need features and a label", path, line);
        d = ncols - 1;
    }
    if (header) {
        ls = next;
    } else {
        line--; /* the loop below counts this line again */
    }

    /* Newlines bound the number of rows, and so do the bytes: a row is ncols numbers of at least
     * one byte and ncols - 1 commas, rows are a newline apart, so k rows take 2k * ncols - 1 bytes
     * or more. Both bounds together let x be allocated once, never beyond what the file holds. */
    size_t maxrows = 1, fit = ((size_t)(end - ls) + 1) / (2 * ncols);
    for (const char *q = ls; q < end && (q = memchr(q, '\n', (size_t)(end - q))); q++)
        maxrows++;
    if (maxrows > fit)
        maxrows = fit ? fit : 1;
    size_t xbytes;
    if (!dpt_mul_ok(maxrows, d, &xbytes) || !dpt_mul_ok(xbytes, sizeof(float), &xbytes))
        return dpt_errf(e, "%s: too large", path);
    float *x = malloc(xbytes ? xbytes : 1), *y = no_label ? NULL : malloc(maxrows * sizeof *y);
    ds->x = ds->xbuf = x;
    ds->y = y;
    if (!x || (!y && !no_label))
        return dpt_errf(e, "%s: out of memory for %zu rows of %zu features", path, maxrows, d);
    ds->xtype = DPT_DT_F32;
    ds->xscale = 1.0f;
    ds->d = d;
    ds->tdim = !no_label;

    size_t n = 0;
    while (ls < end) {
        next = dpt_line(ls, end, &le);
        line++;
        if (ls == le || (is_sp(*ls) && blank(ls, le))) {
            ls = next;
            continue;
        }
        if (n == maxrows) /* cannot happen, by the bound above; a guard for memory's sake */
            return dpt_errf(e, "%s:%zu: more rows than the file's size allows", path, line);
        float *xr = x + n * d;
        const char *q = ls;
        size_t c = 0;
        for (;;) {
            if (c == ncols)
                return dpt_errf(e, "%s:%zu: expected %zu columns, found %zu", path, line, ncols,
                                ncols + 1 + count_commas(q, le));
            double v;
            const char *r = num_field(q, le, &v);
            if (!r)
                return not_number(path, line, c + 1, q, le, e);
            float f = (float)v;
            if (c == lab) {
                int bad = dpt_target_check(v, o, e) != DPT_OK;
                if (!bad && !isfinite(f))
                    bad = dpt_errf(e, "target %g is out of float range", v) != DPT_OK;
                if (bad) {
                    char where[sizeof e->msg];
                    snprintf(where, sizeof where, "%s:%zu: column %zu", path, line, c + 1);
                    return dpt_err_prefix(e, where);
                }
                y[n] = f;
            } else {
                if (!isfinite(f)) {
                    const char *fe = memchr(q, ',', (size_t)(le - q));
                    int len = (int)((fe ? fe : le) - q);
                    return dpt_errf(e, "%s:%zu: column %zu: '%.*s' is NaN or infinite as a float (sample %zu)",
                                    path, line, c + 1, len > 40 ? 40 : len, q, n);
                }
                xr[c - (c > lab)] = f;
            }
            c++;
            if (r == le)
                break;
            q = r + 1;
        }
        if (c != ncols)
            return dpt_errf(e, "%s:%zu: expected %zu columns, found %zu", path, line, ncols, c);
        n++;
        ls = next;
    }
    if (n == 0)
        return dpt_errf(e, "%s: no samples after the header", path);
    ds->n = n;
    /* Shrinking in place: realloc of the large block is cheap and keeps memory honest. */
    float *nx = realloc(x, n * d * sizeof *x);
    if (nx)
        ds->x = ds->xbuf = nx;
    float *ny = y ? realloc(y, n * sizeof *y) : NULL;
    if (ny)
        ds->y = ny;
    return DPT_OK;
}

int dpt_csv_read(dpt_dataset *ds, const dpt_data_opts *o, int no_label, dpt_err *e)
{
    dpt_blob b;
    if (dpt_blob_open(&b, o->path, e) != DPT_OK)
        return DPT_FAIL;
    int rc = parse(ds, (const char *)b.p, (const char *)b.p + b.len, o, no_label, e);
    dpt_blob_close(&b);
    return rc;
}
