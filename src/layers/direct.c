/* Direct convolution for inputs of few channels. With c*k*k = 9 (the reference CNN's first conv,
 * one channel, 3x3) im2col's GEMM has an inner dimension of 9 and spends its time on the columns,
 * not on multiplies; here each output row is the sum over taps (channel, ky, kx) of a weight
 * times the input row shifted by the tap, 16 outputs a vector, 8 filters at once so that each
 * input vector loaded serves 8 multiply-adds. Each sample is first copied into a zero-bordered
 * plane (workspace), so no load needs a bounds test but the row's last, masked one.
 * The weight gradient of a (filter, tap) is the dot product of the filter's dy plane with the tap's
 * shifted input plane, summed in 16 lanes (one per position in a 16-wide chunk of a row) across
 * the rows and samples in order, then reduced pairwise: the order depends on the shape and the
 * samples alone, so results are deterministic; the bias gradient comes from the same pass over dy.
 * The input gradient (a first layer needs none) is the adjoint, scattered in plain C: correct, not
 * tuned. Without AVX-512, plain loops of the same arithmetic run. */
#include "dptrain/direct.h"

#include <string.h>

#include "dptrain/lanes.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#define DIRECT_SIMD 1
#define INLINE static inline __attribute__((always_inline))
#else
#define DIRECT_SIMD 0
#endif

int dpt_direct_vectorized(void) { return DIRECT_SIMD; }

/* The weight gradient asks for dy this many values (16 KB, five planes of 28x28) ahead of its
 * loads: in a step dy comes from memory (12.8 MB for the reference CNN's first conv at batch 128,
 * evicted by the forward pass), and two interleaved planes of short rows left the hardware's
 * prefetcher behind. That layer's backward alone after a forward, batch 128: 2.1-2.9 ms without,
 * 1.6-2.2 with 256 values ahead, 1.3-1.5 with 1024, 0.85-1.5 with 4096 (8192 alike); batch 512:
 * 9.6-13.1 ms without, 7.2 with 256, 3.4-5.9 with 4096. */
enum { LANES = 16, PREFETCH_VALUES = 4096 };

static int taps(dpt_conv_geom g)
{
    return g.c * g.k * g.k;
}

static size_t padded_len(dpt_conv_geom g)
{
    return (size_t)g.c * (size_t)(g.h + 2 * g.p) * (size_t)(g.w + 2 * g.p);
}

size_t dpt_direct_ws_bytes(dpt_conv_geom g, int f)
{
    /* a padded input, a padded input gradient, and 16 partial sums per weight and per bias */
    return sizeof(float) * (2 * padded_len(g) + (size_t)f * (size_t)(taps(g) + 1) * LANES);
}

/* xp [c][h+2p][w+2p] = x [c][h][w] inside a zero border of p. */
static void pad_copy(float *xp, const float *x, dpt_conv_geom g)
{
    int hp = g.h + 2 * g.p, wp = g.w + 2 * g.p;
    memset(xp, 0, sizeof(float) * padded_len(g));
    for (int c = 0; c < g.c; c++)
        for (int r = 0; r < g.h; r++)
            memcpy(xp + ((size_t)c * hp + r + g.p) * wp + g.p, x + ((size_t)c * g.h + r) * g.w,
                   sizeof(float) * (size_t)g.w);
}

/* The offset in the padded input of tap t = (c, ky, kx), the order of a filter's weights. */
static size_t tap_offset(dpt_conv_geom g, int t)
{
    int kx = t % g.k, ky = t / g.k % g.k, c = t / (g.k * g.k);
    return ((size_t)c * (g.h + 2 * g.p) + ky) * (size_t)(g.w + 2 * g.p) + kx;
}

/* The 16 partial sums of a gradient, added pairwise, into *d (added to it when accumulate). */
static void reduce_lanes(float *d, const float *lanes, int accumulate)
{
    float v[LANES];
    memcpy(v, lanes, sizeof v);
    for (int w = LANES / 2; w >= 1; w /= 2)
        for (int t = 0; t < w; t++)
            v[t] += v[t + w];
    *d = accumulate ? *d + v[0] : v[0];
}

#if DIRECT_SIMD
/* Which lanes of a 16-wide chunk are outputs (m), and for stride 2 which input values its two
 * loads need (lo, hi); idx gathers every s-th value for larger strides. */
typedef struct {
    __mmask16 m, lo, hi;
    __m512i idx;
} lanes;

static lanes lanes_of(int v, int s)
{
    int need = v > 0 ? (v - 1) * s + 1 : 0;
    return (lanes){dpt_lanes16(v), dpt_lanes16(need), dpt_lanes16(need - 16),
                   _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                      _mm512_set1_epi32(s))};
}

/* The values p[0], p[s], ... p[15 s] in the lanes L.m, zeros elsewhere; reads nothing outside. */
INLINE __m512 load_s(const float *p, const int s, const lanes *L)
{
    if (s == 1)
        return _mm512_maskz_loadu_ps(L->m, p);
    if (s == 2)
        return _mm512_maskz_permutex2var_ps(L->m, _mm512_maskz_loadu_ps(L->lo, p), dpt_split16(0),
                                            _mm512_maskz_loadu_ps(L->hi, p + 16));
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), L->m, L->idx, p, 4);
}

/* Output rows of filters co..co+CB, columns b0..b0+16*NV, of one sample. */
INLINE void fwd_chunk(float *y, const float *xp, const float *w, const float *b, dpt_conv_geom g, int co, int b0,
                      const int CB, const int s, const int NV)
{
    int T = taps(g), hp = g.h + 2 * g.p, wp = g.w + 2 * g.p;
    size_t ohw = (size_t)g.oh * g.ow;
    lanes L[2] = {lanes_of(g.ow - b0, s), lanes_of(g.ow - b0 - 16, s)};
    for (int a = 0; a < g.oh; a++) {
        __m512 acc[8][2];
        for (int j = 0; j < CB; j++)
            for (int v = 0; v < NV; v++)
                acc[j][v] = _mm512_set1_ps(b[co + j]);
        const float *row = xp + (size_t)a * s * wp + (size_t)b0 * s;
        for (int c = 0; c < g.c; c++)
            for (int ky = 0; ky < g.k; ky++) {
                const float *r = row + ((size_t)c * hp + ky) * wp;
                const float *wt = w + (size_t)co * T + (c * g.k + ky) * g.k;
                for (int kx = 0; kx < g.k; kx++) {
                    __m512 xv[2];
                    for (int v = 0; v < NV; v++)
                        xv[v] = load_s(r + kx + 16 * v * s, s, &L[v]);
                    for (int j = 0; j < CB; j++) {
                        __m512 wv = _mm512_set1_ps(wt[(size_t)j * T + kx]);
                        for (int v = 0; v < NV; v++)
                            acc[j][v] = _mm512_fmadd_ps(wv, xv[v], acc[j][v]);
                    }
                }
            }
        for (int j = 0; j < CB; j++)
            for (int v = 0; v < NV; v++)
                _mm512_mask_storeu_ps(y + (co + j) * ohw + (size_t)a * g.ow + b0 + 16 * v, L[v].m, acc[j][v]);
    }
}

INLINE void fwd_filters(float *y, const float *xp, const float *w, const float *b, dpt_conv_geom g, int co,
                        const int CB, const int s)
{
    for (int b0 = 0; b0 < g.ow; b0 += 32) {
        if (g.ow - b0 > 16)
            fwd_chunk(y, xp, w, b, g, co, b0, CB, s, 2);
        else
            fwd_chunk(y, xp, w, b, g, co, b0, CB, s, 1);
    }
}

static void forward_sample(float *y, const float *xp, const float *w, const float *b, dpt_conv_geom g, int f)
{
    int co = 0;
    for (; co + 8 <= f; co += 8) {
        if (g.s == 1)
            fwd_filters(y, xp, w, b, g, co, 8, 1);
        else
            fwd_filters(y, xp, w, b, g, co, 8, g.s);
    }
    for (; co < f; co++) {
        if (g.s == 1)
            fwd_filters(y, xp, w, b, g, co, 1, 1);
        else
            fwd_filters(y, xp, w, b, g, co, 1, g.s);
    }
}

/* Adds one sample's products to the partial sums acc [f][T+1][16] of filters co..co+CB and taps
 * t..t+TG, kept in registers across the sample's rows, and with BIAS its dy to the bias's (slot T):
 * dy is read once, while in cache. K3 says the taps are one channel's 3x3: their addresses are
 * then three row pointers and constants, which leaves the registers the nine separate offsets of
 * the general case would take. */
INLINE void dw_block(float *acc, const float *dy, const float *xp, dpt_conv_geom g, int co, int t, const int CB,
                     const int TG, const int s, const int K3, const int BIAS)
{
    int T = taps(g), wp = g.w + 2 * g.p;
    size_t ohw = (size_t)g.oh * g.ow, off[9];
    __m512 A[2][9], B[2];
    for (int u = 0; u < TG; u++) {
        off[u] = K3 ? (size_t)(u / 3) * wp + u % 3 : tap_offset(g, t + u);
        for (int j = 0; j < CB; j++)
            A[j][u] = _mm512_loadu_ps(acc + ((size_t)(co + j) * (T + 1) + t + u) * LANES);
    }
    for (int j = 0; j < CB && BIAS; j++)
        B[j] = _mm512_loadu_ps(acc + ((size_t)(co + j) * (T + 1) + T) * LANES);
    const float *base = xp + (K3 ? tap_offset(g, t) : 0);
    lanes full = lanes_of(16, s), tail = lanes_of(g.ow % 16, s);
    for (int a = 0; a < g.oh; a++)
        for (int b0 = 0; b0 < g.ow; b0 += 16) {
            const lanes *L = g.ow - b0 >= 16 ? &full : &tail;
            __m512 d[2];
            for (int j = 0; j < CB; j++) {
                const float *dr = dy + (co + j) * ohw + (size_t)a * g.ow + b0;
                _mm_prefetch((const char *)(dr + PREFETCH_VALUES), _MM_HINT_T0);
                d[j] = _mm512_maskz_loadu_ps(L->m, dr);
                if (BIAS)
                    B[j] = _mm512_add_ps(B[j], d[j]);
            }
            const float *r = base + (size_t)a * s * wp + (size_t)b0 * s;
            for (int u = 0; u < TG; u++) {
                __m512 xv = load_s(r + off[u], s, L);
                for (int j = 0; j < CB; j++)
                    A[j][u] = _mm512_fmadd_ps(d[j], xv, A[j][u]);
            }
        }
    for (int u = 0; u < TG; u++)
        for (int j = 0; j < CB; j++)
            _mm512_storeu_ps(acc + ((size_t)(co + j) * (T + 1) + t + u) * LANES, A[j][u]);
    for (int j = 0; j < CB && BIAS; j++)
        _mm512_storeu_ps(acc + ((size_t)(co + j) * (T + 1) + T) * LANES, B[j]);
}

INLINE void dw_taps(float *acc, const float *dy, const float *xp, dpt_conv_geom g, int co, const int CB, const int s)
{
    int T = taps(g), t = 0;
    if (g.k == 3) {
        for (; t < T; t += 9)
            t == 0 ? dw_block(acc, dy, xp, g, co, t, CB, 9, s, 1, 1) : dw_block(acc, dy, xp, g, co, t, CB, 9, s, 1, 0);
        return;
    }
    for (; t + 9 <= T; t += 9)
        t == 0 ? dw_block(acc, dy, xp, g, co, t, CB, 9, s, 0, 1) : dw_block(acc, dy, xp, g, co, t, CB, 9, s, 0, 0);
    for (; t + 4 <= T; t += 4)
        t == 0 ? dw_block(acc, dy, xp, g, co, t, CB, 4, s, 0, 1) : dw_block(acc, dy, xp, g, co, t, CB, 4, s, 0, 0);
    for (; t < T; t++)
        t == 0 ? dw_block(acc, dy, xp, g, co, t, CB, 1, s, 0, 1) : dw_block(acc, dy, xp, g, co, t, CB, 1, s, 0, 0);
}

static void weight_grad_sample(float *acc, const float *dy, const float *xp, dpt_conv_geom g, int f)
{
    int co = 0;
    for (; co + 2 <= f; co += 2) {
        if (g.s == 1)
            dw_taps(acc, dy, xp, g, co, 2, 1);
        else
            dw_taps(acc, dy, xp, g, co, 2, g.s);
    }
    if (co < f) {
        if (g.s == 1)
            dw_taps(acc, dy, xp, g, co, 1, 1);
        else
            dw_taps(acc, dy, xp, g, co, 1, g.s);
    }
}
#else
/* Portable loops of the same arithmetic, in shapes compilers vectorize. */
static void forward_sample(float *y, const float *xp, const float *w, const float *b, dpt_conv_geom g, int f)
{
    int T = taps(g), wp = g.w + 2 * g.p, s = g.s;
    size_t ohw = (size_t)g.oh * g.ow;
    for (int co = 0; co < f; co++) {
        float *yc = y + co * ohw;
        for (size_t j = 0; j < ohw; j++)
            yc[j] = b[co];
        for (int t = 0; t < T; t++) {
            float wv = w[(size_t)co * T + t];
            const float *xt = xp + tap_offset(g, t);
            for (int a = 0; a < g.oh; a++) {
                float *yr = yc + (size_t)a * g.ow;
                const float *xr = xt + (size_t)a * s * wp;
                if (s == 1)
                    for (int j = 0; j < g.ow; j++)
                        yr[j] += wv * xr[j];
                else
                    for (int j = 0; j < g.ow; j++)
                        yr[j] += wv * xr[(size_t)j * s];
            }
        }
    }
}

static void weight_grad_sample(float *acc, const float *dy, const float *xp, dpt_conv_geom g, int f)
{
    int T = taps(g), wp = g.w + 2 * g.p, s = g.s;
    size_t ohw = (size_t)g.oh * g.ow;
    for (int co = 0; co < f; co++)
        for (int t = 0; t <= T; t++) { /* t = T: the bias, whose "input" is 1 */
            float *A = acc + ((size_t)co * (T + 1) + t) * LANES;
            if (t == T) {
                for (int a = 0; a < g.oh; a++)
                    for (int b0 = 0; b0 < g.ow; b0 += LANES) {
                        const float *d = dy + co * ohw + (size_t)a * g.ow + b0;
                        for (int u = 0; u < LANES && b0 + u < g.ow; u++)
                            A[u] += d[u];
                    }
                continue;
            }
            const float *xt = xp + tap_offset(g, t);
            for (int a = 0; a < g.oh; a++)
                for (int b0 = 0; b0 < g.ow; b0 += LANES) {
                    int v = g.ow - b0 < LANES ? g.ow - b0 : LANES;
                    const float *d = dy + co * ohw + (size_t)a * g.ow + b0;
                    const float *xr = xt + (size_t)a * s * wp + (size_t)b0 * s;
                    for (int u = 0; u < v; u++)
                        A[u] += d[u] * xr[(size_t)u * s];
                }
        }
}
#endif

/* dxi [c][h][w] = the adjoint of the forward map applied to dyi [f][oh][ow], via the padded dxp. */
static void input_grad(float *dxi, float *dxp, const float *dyi, const float *w, dpt_conv_geom g, int f)
{
    int T = taps(g), hp = g.h + 2 * g.p, wp = g.w + 2 * g.p, s = g.s;
    size_t ohw = (size_t)g.oh * g.ow;
    memset(dxp, 0, sizeof(float) * padded_len(g));
    for (int co = 0; co < f; co++)
        for (int t = 0; t < T; t++) {
            float wv = w[(size_t)co * T + t];
            float *dt = dxp + tap_offset(g, t);
            for (int a = 0; a < g.oh; a++) {
                float *dr = dt + (size_t)a * s * wp;
                const float *src = dyi + co * ohw + (size_t)a * g.ow;
                if (s == 1) /* apart, so that compilers vectorize it */
                    for (int j = 0; j < g.ow; j++)
                        dr[j] += wv * src[j];
                else
                    for (int j = 0; j < g.ow; j++)
                        dr[(size_t)j * s] += wv * src[j];
            }
        }
    for (int c = 0; c < g.c; c++)
        for (int r = 0; r < g.h; r++)
            memcpy(dxi + ((size_t)c * g.h + r) * g.w, dxp + ((size_t)c * hp + r + g.p) * wp + g.p,
                   sizeof(float) * (size_t)g.w);
}

void dpt_direct_forward(dpt_conv_geom g, int f, void *ws, float *y, const float *x, const float *w, const float *b,
                        int n)
{
    float *xp = ws;
    size_t in = (size_t)g.c * g.h * g.w, out = (size_t)f * g.oh * g.ow;
    for (int i = 0; i < n; i++) {
        pad_copy(xp, x + i * in, g);
        forward_sample(y + i * out, xp, w, b, g, f);
    }
}

void dpt_direct_backward(dpt_conv_geom g, int f, void *ws, float *dx, float *dw, float *db, const float *dy,
                         const float *x, const float *w, int n, int accumulate)
{
    float *xp = ws, *dxp = xp + padded_len(g), *acc = dxp + padded_len(g);
    int T = taps(g);
    size_t in = (size_t)g.c * g.h * g.w, out = (size_t)f * g.oh * g.ow;
    memset(acc, 0, sizeof(float) * (size_t)f * (T + 1) * LANES);
    for (int i = 0; i < n; i++) {
        pad_copy(xp, x + i * in, g);
        weight_grad_sample(acc, dy + i * out, xp, g, f);
        if (dx)
            input_grad(dx + i * in, dxp, dy + i * out, w, g, f);
    }
    for (int co = 0; co < f; co++) {
        for (int t = 0; t < T; t++)
            reduce_lanes(dw + (size_t)co * T + t, acc + ((size_t)co * (T + 1) + t) * LANES, accumulate);
        reduce_lanes(db + co, acc + ((size_t)co * (T + 1) + T) * LANES, accumulate);
    }
}
