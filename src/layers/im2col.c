/* The unfolding of an image into the columns of a convolution (im2col) and the folding of columns
 * back onto the image (col2im), for conv.c; a module of its own so that tests compare it with a
 * naive unfolding and the benchmark times it alone. */
#include "dptrain/im2col.h"

#include <string.h>

/* The outputs [*lo, *hi) of a row whose input column ow * s - p + kj falls inside [0, w): the
 * interior, where no bounds test is needed; outside it the padding reads as zero. */
static void interior(dpt_conv_geom g, int kj, int *lo, int *hi)
{
    int off = kj - g.p; /* input column of output 0 */
    int a = off >= 0 ? 0 : (-off + g.s - 1) / g.s;
    int b = g.w - 1 - off < 0 ? 0 : (g.w - 1 - off) / g.s + 1;
    *lo = a < g.ow ? a : g.ow;
    *hi = b < *lo ? *lo : (b < g.ow ? b : g.ow);
}

/* The "same" convolutions (stride 1, ow = w, oh = h, k = 2p + 1) treat a plane as one flat run
 * of values: row (c, ki, kj) of the columns is the plane shifted by (ki - p) * w + (kj - p), with
 * the values whose column wrapped to a neighbouring row replaced by the zero of the padding. One
 * vectorized loop per row selects them from a table of each value's column, for runs of whole
 * rows of up to RUN values: a copy per output row with the border zeroed value by value was
 * mostly loop overhead at 14 values a row (about 2.5 ms of the reference CNN's step for im2col,
 * 3 ms for col2im, at batch 128). */
enum { RUN = 1024 };

static int flat_ok(dpt_conv_geom g)
{
    return g.s == 1 && g.ow == g.w && g.oh == g.h && g.k == 2 * g.p + 1 && g.w <= RUN;
}

/* col [t] = t % w for a run of whole rows, no longer than the plane; returns the run's length.
 * (With a division per value this took a fifth of im2col's time.) */
static int column_table(int *col, dpt_conv_geom g)
{
    int rows = RUN / g.w < g.h ? RUN / g.w : g.h;
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < g.w; j++)
            col[r * g.w + j] = j;
    return rows * g.w;
}

/* Whether column col + shift lies inside a row of w values. */
static int inside(int col, int shift, int w)
{
    return (unsigned)(col + shift) < (unsigned)w;
}

static void flat_im2col(float *cols, const float *x, dpt_conv_geom g)
{
    int col[RUN], run = column_table(col, g);
    long hw = (long)g.h * g.w;
    for (int c = 0; c < g.c; c++)
        for (int ki = 0; ki < g.k; ki++)
            for (int kj = 0; kj < g.k; kj++) {
                float *row = cols + ((size_t)(c * g.k + ki) * g.k + kj) * (size_t)hw;
                const float *plane = x + (size_t)c * hw;
                long shift = (long)(ki - g.p) * g.w + (kj - g.p); /* row[t] = plane[t + shift] */
                /* output rows [a, b) read input rows; of those, [from, to) stay inside the plane */
                int a = g.p - ki > 0 ? g.p - ki : 0, b = g.h + g.p - ki < g.h ? g.h + g.p - ki : g.h;
                long lo = (long)a * g.w, hi = (long)b * g.w;
                long from = lo > -shift ? lo : -shift, to = hi < hw - shift ? hi : hw - shift;
                /* A kernel row wholly above the input (p - ki > h) puts from past the row's end. */
                from = from < hw ? from : hw;
                to = to < from ? from : to < hw ? to : hw;
                for (long t = 0; t < from; t++)
                    row[t] = 0.0f;
                for (long r = lo; r < to; r += run) {
                    long s = r > from ? r : from, e = r + run < to ? r + run : to;
                    for (long t = s; t < e; t++) {
                        float v = plane[t + shift];
                        row[t] = inside(col[t - r], kj - g.p, g.w) ? v : 0.0f;
                    }
                }
                for (long t = to; t < hw; t++)
                    row[t] = 0.0f;
            }
}

/* Adds row (c, ki, kj) onto each input value it came from, one (ki, kj) after the other, so each
 * value gets the same additions in the same order as in the loop over kernel rows below (the
 * wrapped ones add +0 instead of nothing: the same bits, since a sum that starts at +0 is never
 * -0). Reads stay inside cols: a shifted run overhangs its row by at most p values, into the
 * neighbouring row of the same buffer. */
static void flat_col2im(float *dx, const float *cols, dpt_conv_geom g)
{
    int col[RUN], run = column_table(col, g);
    long hw = (long)g.h * g.w;
    for (int c = 0; c < g.c; c++)
        for (int ki = 0; ki < g.k; ki++) {
            /* input rows [a, b) that output rows reach through kernel row ki */
            int a = ki - g.p > 0 ? ki - g.p : 0, b = g.h + ki - g.p < g.h ? g.h + ki - g.p : g.h;
            long lo = (long)a * g.w, hi = (long)b * g.w;
            float *plane = dx + (size_t)c * hw;
            for (int kj = 0; kj < g.k; kj++) {
                const float *row = cols + ((size_t)(c * g.k + ki) * g.k + kj) * (size_t)hw;
                long shift = (long)(g.p - ki) * g.w + (g.p - kj); /* plane[t] += row[t + shift] */
                for (long r = lo; r < hi; r += run) {
                    long e = r + run < hi ? r + run : hi;
                    for (long t = r; t < e; t++) {
                        float v = row[t + shift];
                        plane[t] += inside(col[t - r], g.p - kj, g.w) ? v : 0.0f;
                    }
                }
            }
        }
}

/* One row (c, ki, kj) of the columns when the output is as wide as the input at stride 1 (a
 * "same" convolution, k = 2p + 1): then its values for the valid output rows [a, b) are one
 * contiguous run of the input plane, shifted by kj - p, copied at once (the run is clipped to the
 * plane, and what it brings in from a neighbouring input row sits in the border, zeroed after).
 * A copy per output row was 14 calls of 14 values per row in the reference CNN's second layer. */
static void same_row(float *row, const float *plane, dpt_conv_geom g, int ki, int kj, int lo, int hi)
{
    int a = g.p - ki > 0 ? g.p - ki : 0, b = g.h + g.p - ki < g.oh ? g.h + g.p - ki : g.oh;
    if (b < a)
        b = a;
    memset(row, 0, sizeof(float) * (size_t)a * g.ow);
    memset(row + (size_t)b * g.ow, 0, sizeof(float) * (size_t)(g.oh - b) * g.ow);
    long off = (long)(a - g.p + ki) * g.w + (kj - g.p), len = (long)(b - a) * g.w, plane_len = (long)g.h * g.w;
    long from = off < 0 ? -off : 0, to = off + len > plane_len ? plane_len - off : len;
    float *r = row + (size_t)a * g.ow;
    if (to > from)
        memcpy(r + from, plane + off + from, sizeof(float) * (size_t)(to - from));
    for (int oh = a; oh < b; oh++) {
        float *ro = row + (size_t)oh * g.ow;
        for (int ow = 0; ow < lo; ow++)
            ro[ow] = 0.0f;
        for (int ow = hi; ow < g.ow; ow++)
            ro[ow] = 0.0f;
    }
}

/* cols [c*k*k][oh*ow] from one sample x [c][h][w]; padding reads as zero. Each row of outputs is
 * split into its border (zeros) and its interior (a plain copy, contiguous for stride 1): the
 * bounds test per value made im2col and col2im about a sixth of the reference CNN's step. */
void dpt_im2col(float *cols, const float *x, dpt_conv_geom g)
{
    if (flat_ok(g)) {
        flat_im2col(cols, x, g);
        return;
    }
    int same = g.s == 1 && g.ow == g.w;
    for (int c = 0; c < g.c; c++)
        for (int ki = 0; ki < g.k; ki++)
            for (int kj = 0; kj < g.k; kj++) {
                float *row = cols + ((size_t)(c * g.k + ki) * g.k + kj) * (size_t)(g.oh * g.ow);
                const float *plane = x + (size_t)c * g.h * g.w;
                int lo, hi;
                interior(g, kj, &lo, &hi);
                if (same) {
                    same_row(row, plane, g, ki, kj, lo, hi);
                    continue;
                }
                for (int oh = 0; oh < g.oh; oh++) {
                    int ih = oh * g.s - g.p + ki;
                    float *r = row + (size_t)oh * g.ow;
                    if (ih < 0 || ih >= g.h) {
                        memset(r, 0, sizeof(float) * (size_t)g.ow);
                        continue;
                    }
                    const float *src = plane + (size_t)ih * g.w + (kj - g.p);
                    for (int ow = 0; ow < lo; ow++)
                        r[ow] = 0.0f;
                    if (g.s == 1)
                        memcpy(r + lo, src + lo, sizeof(float) * (size_t)(hi - lo));
                    else
                        for (int ow = lo; ow < hi; ow++)
                            r[ow] = src[ow * g.s];
                    for (int ow = hi; ow < g.ow; ow++)
                        r[ow] = 0.0f;
                }
            }
}

/* dx [c][h][w] = the sum of cols [c*k*k][oh*ow] folded back onto the input positions they came
 * from; only each row's interior lands inside the input. */
/* col2im of a "same" convolution (stride 1, ow = w, so k = 2p + 1), one channel: each input row
 * ih takes, per kernel row ki, the k shifted column rows in the order kj = 0..k-1, summed in a
 * register before one store: the same additions in the same order per value as the general loop
 * below, so the same bits, but without a pass per kj re-reading what the previous one just
 * stored a value off (that took 7 ms a step at batch 128 in the reference CNN's second layer). */
static void same_fold(float *plane, const float *rows, dpt_conv_geom g)
{
    size_t ohw = (size_t)g.oh * g.ow;
    for (int ki = 0; ki < g.k; ki++) {
        int a = g.p - ki > 0 ? g.p - ki : 0, b = g.h + g.p - ki < g.oh ? g.h + g.p - ki : g.oh;
        for (int oh = a; oh < b; oh++) {
            float *d = plane + (size_t)(oh - g.p + ki) * g.w;
            const float *r = rows + (size_t)ki * g.k * ohw + (size_t)oh * g.ow + g.p; /* r[kj*ohw + iw - kj] */
            int iw = 0;
            for (; iw < g.p && iw < g.w; iw++) { /* left border: only the kj with iw + p - kj in range */
                float v = d[iw];
                for (int kj = 0; kj < g.k; kj++)
                    if (iw + g.p - kj >= 0 && iw + g.p - kj < g.ow)
                        v += r[(size_t)kj * ohw + iw - kj];
                d[iw] = v;
            }
            if (g.k == 3)
                for (; iw < g.w - g.p; iw++)
                    d[iw] = ((d[iw] + r[iw]) + r[ohw + iw - 1]) + r[2 * ohw + iw - 2];
            else
                for (; iw < g.w - g.p; iw++) {
                    float v = d[iw];
                    for (int kj = 0; kj < g.k; kj++)
                        v += r[(size_t)kj * ohw + iw - kj];
                    d[iw] = v;
                }
            for (; iw < g.w; iw++) { /* right border */
                float v = d[iw];
                for (int kj = 0; kj < g.k; kj++)
                    if (iw + g.p - kj >= 0 && iw + g.p - kj < g.ow)
                        v += r[(size_t)kj * ohw + iw - kj];
                d[iw] = v;
            }
        }
    }
}

void dpt_col2im(float *dx, const float *cols, dpt_conv_geom g)
{
    memset(dx, 0, sizeof(float) * (size_t)g.c * g.h * g.w);
    if (flat_ok(g)) {
        flat_col2im(dx, cols, g);
        return;
    }
    if (g.s == 1 && g.ow == g.w) {
        for (int c = 0; c < g.c; c++)
            same_fold(dx + (size_t)c * g.h * g.w, cols + (size_t)c * g.k * g.k * g.oh * g.ow, g);
        return;
    }
    for (int c = 0; c < g.c; c++)
        for (int ki = 0; ki < g.k; ki++)
            for (int kj = 0; kj < g.k; kj++) {
                const float *row = cols + ((size_t)(c * g.k + ki) * g.k + kj) * (size_t)(g.oh * g.ow);
                float *plane = dx + (size_t)c * g.h * g.w;
                int lo, hi;
                interior(g, kj, &lo, &hi);
                for (int oh = 0; oh < g.oh; oh++) {
                    int ih = oh * g.s - g.p + ki;
                    if (ih < 0 || ih >= g.h)
                        continue;
                    const float *r = row + (size_t)oh * g.ow;
                    float *dst = plane + (size_t)ih * g.w + (kj - g.p);
                    if (g.s == 1)
                        for (int ow = lo; ow < hi; ow++)
                            dst[ow] += r[ow];
                    else
                        for (int ow = lo; ow < hi; ow++)
                            dst[ow * g.s] += r[ow];
                }
            }
}

