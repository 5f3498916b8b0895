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

