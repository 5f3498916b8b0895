/* Winograd F(2x2,3x3) (Lavin & Gray 2015). With B^T, G and A^T of the paper, per input channel ci,
 * filter co and 2x2 output tile t reading the 4x4 input patch d at (2ti - p, 2tj - p):
 *   U[xi][co][ci] = (G g G^T)[xi],  V[xi][ci][t] = (B^T d B)[xi],  M[xi] = U[xi] V[xi] (a GEMM per
 *   position xi of the 4x4 tile),  y tile = A^T M A + bias;
 * backward is the adjoint of each step: dM = A dy A^T (dy zero past the output's edge),
 * dU[xi] = sum over tiles of dM[xi] V[xi]^T, dw = G^T dU G, and dx = B (U[xi]^T dM[xi]) B^T added
 * over overlapping patches. Samples go through in chunks whose size depends on the shape alone,
 * so that V and M stay near the cache and a sample's bits do not depend on the rank count.
 * Each input plane is copied into a zero-bordered plane first, so the transforms need no bounds. */
#include "dptrain/winograd.h"

#include <string.h>

#include "dptrain/smallgemm.h"

#if defined(__AVX512F__)
#include <immintrin.h>

#include "dptrain/lanes.h"
#define WINO_SIMD 1
#else
#define WINO_SIMD 0
#endif

/* Tiles per chunk the GEMMs aim for: enough columns to run near peak, few enough that a chunk's
 * V and M (16 x (c + f) x tiles floats) stay in L2 on the reference CNN. */
enum { WINO_TILES = 256 };

/* The copies of the input and of its gradient and the output transform and gradient ask for the
 * planes they read (x, dy) and write (y, dx) this many values (4 KB) ahead: they stream through
 * planes from and to memory (1.6 MB of x and dx, 3.2 MB of y and dy on the reference CNN's second
 * conv at batch 64), and waiting on dy's loads was half of the backward's own time, on x's two
 * thirds of chunk_inputs'. That layer alone at batch 64, A/B in one process: dy and y ahead, the
 * forward 3-5% faster and the backward 7-8% (256 to 2048 values ahead alike); x ahead too, another
 * 4-9% and 3-4%; dx too, the backward another 3-6%. */
enum { WINO_AHEAD = 1024 };

void dpt_wino_plan(dpt_wino *g, int c, int h, int w, int f, int p)
{
    g->c = c, g->h = h, g->w = w, g->f = f, g->p = p;
    g->oh = h + 2 * p - 2, g->ow = w + 2 * p - 2;
    g->th = (g->oh + 1) / 2, g->tw = (g->ow + 1) / 2;
    int tiles = g->th * g->tw;
    g->chunk = (WINO_TILES + tiles - 1) / tiles;
}

/* Eight lanes of floats, as GCC and Clang spell vectors; an unaligned view for loads and stores. The
 * transforms run across 8 tiles of a tile row at once: a tile row of the reference CNN's second
 * conv holds 7 tiles, too few for the compiler's own loops over it. */
typedef float v8 __attribute__((vector_size(32)));
typedef int v8i __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
#define LD(p) (*(const v8u *)(p))
#define ST(p, v) (*(v8u *)(p) = (v))
/* ZIP_LO, ZIP_HI: lanes a0 b0 a1 b1 ... a3 b3 and a4 b4 ... a7 b7 of a and b (a tile row's even
 * and odd output columns, interleaved); UNZIP_EVEN, UNZIP_ODD: the even and the odd lanes of a
 * followed by b; NEXT1: lanes a1 ... a7 b0. */
#if defined(__clang__)
#define ZIP_LO(a, b) __builtin_shufflevector(a, b, 0, 8, 1, 9, 2, 10, 3, 11)
#define ZIP_HI(a, b) __builtin_shufflevector(a, b, 4, 12, 5, 13, 6, 14, 7, 15)
#define UNZIP_EVEN(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define UNZIP_ODD(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#define NEXT1(a, b) __builtin_shufflevector(a, b, 1, 2, 3, 4, 5, 6, 7, 8)
#else
#define ZIP_LO(a, b) __builtin_shuffle(a, b, (v8i){0, 8, 1, 9, 2, 10, 3, 11})
#define ZIP_HI(a, b) __builtin_shuffle(a, b, (v8i){4, 12, 5, 13, 6, 14, 7, 15})
#define UNZIP_EVEN(a, b) __builtin_shuffle(a, b, (v8i){0, 2, 4, 6, 8, 10, 12, 14})
#define UNZIP_ODD(a, b) __builtin_shuffle(a, b, (v8i){1, 3, 5, 7, 9, 11, 13, 15})
#define NEXT1(a, b) __builtin_shuffle(a, b, (v8i){1, 2, 3, 4, 5, 6, 7, 8})
#endif

/* A tile row in whole vectors; rows of the bordered planes hold a vector more. */
static int lanes(const dpt_wino *g) { return (g->tw + 7) / 8 * 8; }
static int plane_h(const dpt_wino *g) { return 2 * g->th + 2; }
static int plane_stride(const dpt_wino *g) { return lanes(g) + 8; }
static size_t plane_size(const dpt_wino *g) { return (size_t)plane_h(g) * plane_stride(g); }

/* Columns of V and M a chunk of t tiles takes: a vector's slack past the last tile, for the lanes
 * a tile row's last vector writes past its end (the next tile row, or sample, overwrites them). */
static size_t cols(size_t t) { return t + 8; }

/* The workspace, in floats: U and dU [16][f][c], V [16][c][cols(T)] and M [16][f][cols(T)] for T
 * tiles of a chunk, the input's bordered plane and the input gradient's, each split into its even
 * and odd columns (a tile's 4 columns are then even[j], odd[j], even[j + 1], odd[j + 1]). */
typedef struct {
    float *u, *du, *v, *m, *pe, *po, *de, *dodd;
} wino_ws;

static wino_ws carve(const dpt_wino *g, void *ws)
{
    size_t fc = (size_t)16 * g->f * g->c, t = cols((size_t)g->chunk * g->th * g->tw), plane = plane_size(g);
    wino_ws s;
    s.u = ws;
    s.du = s.u + fc;
    s.v = s.du + fc;
    s.m = s.v + (size_t)16 * g->c * t;
    s.pe = s.m + (size_t)16 * g->f * t;
    s.po = s.pe + plane;
    s.de = s.po + plane;
    s.dodd = s.de + plane;
    return s;
}

size_t dpt_wino_ws_bytes(const dpt_wino *g)
{
    size_t fc = (size_t)16 * g->f * g->c, t = cols((size_t)g->chunk * g->th * g->tw);
    return sizeof(float) * (2 * fc + (size_t)16 * (g->c + g->f) * t + 4 * plane_size(g));
}

/* Sixteen lanes of floats, a kernel in each, for the transforms of the weights (kernel by kernel
 * they were scalar stores to 16 places each); passed by address only, as the build may lack
 * AVX-512. */
typedef float v16 __attribute__((vector_size(64)));

/* g[t] = value t (< 9) of the n (<= 16) kernels at w [n][9], one per lane, zero past n. */
static void load_kernels(v16 g[9], const float *w, int n)
{
#if WINO_SIMD
    const __m512i at = _mm512_set_epi32(135, 126, 117, 108, 99, 90, 81, 72, 63, 54, 45, 36, 27, 18, 9, 0);
    for (int t = 0; t < 9; t++)
        g[t] = (v16)_mm512_mask_i32gather_ps(_mm512_setzero_ps(), dpt_lanes16(n), at, w + t, 4);
#else
    for (int t = 0; t < 9; t++)
        for (int k = 0; k < 16; k++)
            g[t][k] = k < n ? w[9 * k + t] : 0.0f;
#endif
}

/* d [n] = lanes [0, n) of *v. */
static void store_lanes(float *d, const v16 *v, int n)
{
#if WINO_SIMD
    _mm512_mask_storeu_ps(d, dpt_lanes16(n), (__m512)*v);
#else
    memcpy(d, v, sizeof(float) * (size_t)n);
#endif
}

/* U [16][f][c] = G g G^T of every 3x3 kernel g of w [f][c][3][3], 16 kernels at a time. */
static void weight_transform(float *u, const float *w, int f, int c)
{
    size_t fc = (size_t)f * c;
    for (size_t k = 0; k < fc; k += 16) {
        int n = fc - k < 16 ? (int)(fc - k) : 16;
        v16 g[9], t[4][3], r[4][4];
        load_kernels(g, w + 9 * k, n);
        for (int j = 0; j < 3; j++) {
            t[0][j] = g[j];
            t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
            t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
            t[3][j] = g[6 + j];
        }
        for (int i = 0; i < 4; i++) {
            r[i][0] = t[i][0];
            r[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
            r[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
            r[i][3] = t[i][2];
        }
        for (int xi = 0; xi < 16; xi++)
            store_lanes(u + xi * fc + k, &r[xi / 4][xi % 4], n);
    }
}

/* dw [f][c][3][3] (+)= G^T dU G, the adjoint of weight_transform. */
static void weight_gradient(float *dw, const float *du, int f, int c, int accumulate)
{
    size_t fc = (size_t)f * c;
    for (size_t k = 0; k < fc; k++) {
        float q[3][4];
        for (int j = 0; j < 4; j++) {
            float u0 = du[j * fc + k], u1 = du[(4 + j) * fc + k], u2 = du[(8 + j) * fc + k];
            float u3 = du[(12 + j) * fc + k];
            q[0][j] = u0 + 0.5f * (u1 + u2);
            q[1][j] = 0.5f * (u1 - u2);
            q[2][j] = 0.5f * (u1 + u2) + u3;
        }
        float *d = dw + 9 * k;
        for (int i = 0; i < 3; i++) {
            float v[3] = {q[i][0] + 0.5f * (q[i][1] + q[i][2]), 0.5f * (q[i][1] - q[i][2]),
                          0.5f * (q[i][1] + q[i][2]) + q[i][3]};
            for (int j = 0; j < 3; j++)
                d[3 * i + j] = accumulate ? d[3 * i + j] + v[j] : v[j];
        }
    }
}

/* The row x [w] split: ev [(w + 1) / 2] its even values, od [w / 2] its odd ones. The copies of
 * the input into the bordered planes and back (a scalar loop of stride 2 was 5% of the reference
 * CNN's step): with AVX-512 32 values at a time, one permute for each half, and masked loads and
 * stores that touch nothing past the row. */
static void split_row(float *ev, float *od, const float *x, int w)
{
#if WINO_SIMD
    const __m512i even = dpt_split16(0), odd = dpt_split16(1);
    for (int c = 0; c < w; c += 32) {
        __m512 a = _mm512_maskz_loadu_ps(dpt_lanes16(w - c), x + c);
        __m512 b = w - c > 16 ? _mm512_maskz_loadu_ps(dpt_lanes16(w - c - 16), x + c + 16) : _mm512_setzero_ps();
        _mm512_mask_storeu_ps(ev + c / 2, dpt_lanes16((w - c + 1) / 2), _mm512_permutex2var_ps(a, even, b));
        _mm512_mask_storeu_ps(od + c / 2, dpt_lanes16((w - c) / 2), _mm512_permutex2var_ps(a, odd, b));
    }
#else
    for (int c = 0; 2 * c < w; c++)
        ev[c] = x[2 * c];
    for (int c = 0; 2 * c + 1 < w; c++)
        od[c] = x[2 * c + 1];
#endif
}

/* x [w] = ev [(w + 1) / 2] and od [w / 2] interleaved, split_row's inverse. */
static void merge_row(float *x, const float *ev, const float *od, int w)
{
#if WINO_SIMD
    const __m512i lo = dpt_zip16(0), hi = dpt_zip16(1);
    for (int c = 0; c < w; c += 32) {
        __m512 e = _mm512_maskz_loadu_ps(dpt_lanes16((w - c + 1) / 2), ev + c / 2);
        __m512 o = _mm512_maskz_loadu_ps(dpt_lanes16((w - c) / 2), od + c / 2);
        _mm512_mask_storeu_ps(x + c, dpt_lanes16(w - c), _mm512_permutex2var_ps(e, lo, o));
        if (w - c > 16)
            _mm512_mask_storeu_ps(x + c + 16, dpt_lanes16(w - c - 16), _mm512_permutex2var_ps(e, hi, o));
    }
#else
    for (int c = 0; c < w; c++)
        x[c] = c & 1 ? od[c / 2] : ev[c / 2];
#endif
}

/* Row r of a plane's bordered copy, split: column x lands at p + x, the even ones in er and the odd
 * ones in or; even x come first in er when p is even, in or when it is odd. */
static void split_at(float **ev, float **od, float *er, float *or, int p)
{
    if (p & 1)
        *ev = or + (p - 1) / 2, *od = er + (p + 1) / 2;
    else
        *ev = er + p / 2, *od = or + p / 2;
}

/* Copies plane x [h][w] into the split bordered planes pe, po at (p, p); their borders stay as
 * they were (zero). */
static void fill_plane(float *pe, float *po, const float *x, const dpt_wino *g)
{
    int ps = plane_stride(g), p = g->p, w = g->w;
    for (int r = 0; r < g->h; r++) {
        float *ev, *od;
        split_at(&ev, &od, pe + (size_t)(r + p) * ps, po + (size_t)(r + p) * ps, p);
        for (int c = 0; c < w; c += 16)
            __builtin_prefetch(x + (size_t)r * w + c + WINO_AHEAD);
        split_row(ev, od, x + (size_t)r * w, w);
    }
}

/* v[xi * stride + tile] = B^T d B of every tile of one plane (tiles row by row), 8 tiles at a
 * time: B^T down the 4 rows of the tile row, then across each tile's columns e0 o0 e1 o1. */
static void input_transform(float *v, size_t stride, const float *pe, const float *po, const dpt_wino *g)
{
    int ps = plane_stride(g), tw = g->tw;
    for (int ti = 0; ti < g->th; ti++)
        for (int j = 0; j < tw; j += 8) {
            const float *e = pe + (size_t)2 * ti * ps + j, *o = po + (size_t)2 * ti * ps + j;
            v8 t[4][4]; /* [row of B^T d][e0, o0, e1, o1] */
            const float *src[4] = {e, o, e + 1, o + 1};
            for (int q = 0; q < 4; q++) {
                v8 r0 = LD(src[q]), r1 = LD(src[q] + ps), r2 = LD(src[q] + 2 * ps), r3 = LD(src[q] + 3 * ps);
                t[0][q] = r0 - r2;
                t[1][q] = r1 + r2;
                t[2][q] = r2 - r1;
                t[3][q] = r1 - r3;
            }
            float *vt = v + (size_t)ti * tw + j;
            for (int k = 0; k < 4; k++) {
                ST(vt + (size_t)(4 * k) * stride, t[k][0] - t[k][2]);
                ST(vt + (size_t)(4 * k + 1) * stride, t[k][1] + t[k][2]);
                ST(vt + (size_t)(4 * k + 2) * stride, t[k][2] - t[k][1]);
                ST(vt + (size_t)(4 * k + 3) * stride, t[k][1] - t[k][3]);
            }
        }
}

/* The n (<= 16 taken) values e0 o0 e1 o1 ... at y: a tile row's even and odd output columns for 8
 * tiles. With AVX-512 one permute and a masked store; else, when `whole`, 16 values from two
 * shuffles (the caller lets the ones past n spill onto outputs written after), one at a time when
 * not. By address: a vector argument's ABI differs between builds with and without AVX. */
static inline void put_pair(float *y, const v8 *pe, const v8 *po, int n, int whole)
{
    v8 e = *pe, o = *po;
#if WINO_SIMD
    (void)whole;
    _mm512_mask_storeu_ps(y, dpt_lanes16(n),
                          _mm512_permutex2var_ps(_mm512_castps256_ps512((__m256)e), dpt_zip16(0),
                                                 _mm512_castps256_ps512((__m256)o)));
#else
    if (whole) {
        ST(y, ZIP_LO(e, o));
        ST(y + 8, ZIP_HI(e, o));
        return;
    }
    for (int k = 0; k < 8 && 2 * k < n; k++) {
        y[2 * k] = e[k];
        if (2 * k + 1 < n)
            y[2 * k + 1] = o[k];
    }
#endif
}

/* put_pair's inverse: *e, *o = the even and odd values of d [n] (n <= 16 taken), zero past n; when
 * `whole` (without AVX-512) 16 values are read whatever n, their lanes past n left as read. */
static inline void get_pair(v8 *e, v8 *o, const float *d, int n, int whole)
{
#if WINO_SIMD
    (void)whole;
    const __m512i split = _mm512_set_epi32(15, 13, 11, 9, 7, 5, 3, 1, 14, 12, 10, 8, 6, 4, 2, 0);
    __m512 a = _mm512_permutexvar_ps(split, _mm512_maskz_loadu_ps(dpt_lanes16(n), d));
    *e = (v8)_mm512_castps512_ps256(a);
    *o = (v8)_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(a), 1));
#else
    if (whole) {
        v8 a = LD(d), b = LD(d + 8);
        *e = UNZIP_EVEN(a, b), *o = UNZIP_ODD(a, b);
        return;
    }
    *e = (v8){0}, *o = (v8){0};
    for (int k = 0; k < 8 && 2 * k < n; k++) {
        (*e)[k] = d[2 * k];
        if (2 * k + 1 < n)
            (*o)[k] = d[2 * k + 1];
    }
#endif
}

/* One output plane y [oh][ow] = A^T M A + bias from m[xi * stride + tile]; a partial tile writes
 * only its valid outputs. */
static void output_transform(float *y, const float *m, size_t stride, float bias, const dpt_wino *g)
{
    int tw = g->tw, ow = g->ow;
    for (int ti = 0; ti < g->th; ti++) {
        float *y0 = y + (size_t)2 * ti * ow, *y1 = y0 + ow;
        /* A tile row of one vector may write its two output rows whole, 16 values each: what spills
         * past them lands on rows that the next tile row writes after (so not the last tile row). */
        int whole = tw <= 8 && ow >= 8 && ti < g->th - 1, second = 2 * ti + 1 < g->oh;
        for (int k = 0; k < 2 * ow; k += 16)
            __builtin_prefetch(y0 + k + WINO_AHEAD, 1);
        for (int j = 0; j < tw; j += 8) {
            const float *mt = m + (size_t)ti * tw + j;
            v8 s0[4], s1[4];
            for (int c = 0; c < 4; c++) {
                v8 a = LD(mt + (size_t)c * stride), b = LD(mt + (size_t)(4 + c) * stride);
                v8 d = LD(mt + (size_t)(8 + c) * stride), f = LD(mt + (size_t)(12 + c) * stride);
                s0[c] = a + b + d;
                s1[c] = b - d - f;
            }
            v8 ye0 = s0[0] + s0[1] + s0[2], yo0 = s0[1] - s0[2] - s0[3];
            v8 ye1 = s1[0] + s1[1] + s1[2], yo1 = s1[1] - s1[2] - s1[3];
            ye0 += bias, yo0 += bias, ye1 += bias, yo1 += bias;
            put_pair(y0 + 2 * j, &ye0, &yo0, ow - 2 * j, whole);
            if (second)
                put_pair(y1 + 2 * j, &ye1, &yo1, ow - 2 * j, whole);
        }
    }
}

/* m[xi * stride + tile] = A dy A^T of every tile of one output gradient plane dy [oh][ow], zero
 * past its edge. */
static void output_gradient(float *m, size_t stride, const float *dy, const dpt_wino *g)
{
    int tw = g->tw, ow = g->ow;
    for (int ti = 0; ti < g->th; ti++) {
        const float *d0 = dy + (size_t)2 * ti * ow, *d1 = d0 + ow;
        /* A tile row of one vector may read its two rows in two vector loads each: what they read
         * past a row is the next row (not past the plane: not the last tile row), in lanes past tw,
         * whose tiles the next tile row overwrites; an odd row would put a value in a partial tile. */
        int whole = tw <= 8 && ow >= 8 && !(ow & 1) && ti < g->th - 1, second = 2 * ti + 1 < g->oh;
        for (int k = 0; k < 2 * ow; k += 16)
            __builtin_prefetch(d0 + k + WINO_AHEAD);
        for (int j = 0; j < tw; j += 8) {
            v8 y00, y01, y10 = {0}, y11 = {0};
            get_pair(&y00, &y01, d0 + 2 * j, ow - 2 * j, whole);
            if (second)
                get_pair(&y10, &y11, d1 + 2 * j, ow - 2 * j, whole);
            v8 r[4][2] = {{y00, y01}, {y00 + y10, y01 + y11}, {y00 - y10, y01 - y11}, {-y10, -y11}};
            float *mt = m + (size_t)ti * tw + j;
            for (int i = 0; i < 4; i++) {
                ST(mt + (size_t)(4 * i) * stride, r[i][0]);
                ST(mt + (size_t)(4 * i + 1) * stride, r[i][0] + r[i][1]);
                ST(mt + (size_t)(4 * i + 2) * stride, r[i][0] - r[i][1]);
                ST(mt + (size_t)(4 * i + 3) * stride, -r[i][1]);
            }
        }
    }
}

/* p[k] += a[k], then p[k + 1] += b[k] (k < 8), as two stores: reading p + 1 back after storing p
 * would wait for the store (a load overlapping a store in flight), which stalled input_gradient.
 * Vectors by address, as put_pair's. */
static inline void add_pair(float *p, const v8 *a, const v8 *b)
{
    v8 x = LD(p) + *a, next = LD(p + 8);
    ST(p + 1, NEXT1(x, next) + *b);
    p[0] = x[0];
}

/* The split bordered planes de, dodd = the sum over tiles of B dV B^T placed on each tile's patch,
 * from v[xi * stride + tile]; lanes past a tile row's end are masked off. */
static void input_gradient(float *de, float *dodd, const float *v, size_t stride, const dpt_wino *g)
{
    int ps = plane_stride(g), tw = g->tw;
    memset(de, 0, sizeof(float) * plane_size(g));
    memset(dodd, 0, sizeof(float) * plane_size(g));
    const v8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
    for (int ti = 0; ti < g->th; ti++)
        for (int j = 0; j < tw; j += 8) {
            const float *vt = v + (size_t)ti * tw + j;
            v8i keep = lane < tw - j;
            v8 q[16], e[4][4];
            for (int xi = 0; xi < 16; xi++)
                q[xi] = (v8)((v8i)LD(vt + (size_t)xi * stride) & keep);
            for (int c = 0; c < 4; c++) {
                e[0][c] = q[c];
                e[1][c] = q[4 + c] - q[8 + c] + q[12 + c];
                e[2][c] = q[4 + c] + q[8 + c] - q[c];
                e[3][c] = -q[12 + c];
            }
            for (int r = 0; r < 4; r++) {
                size_t at = (size_t)(2 * ti + r) * ps + j;
                v8 even1 = e[r][1] + e[r][2] - e[r][0], odd0 = e[r][1] - e[r][2] + e[r][3], odd1 = -e[r][3];
                add_pair(de + at, &e[r][0], &even1);
                add_pair(dodd + at, &odd0, &odd1);
            }
        }
}

/* V of samples x [ns][c][h][w] of a chunk of t tiles: v [16][c][cols(t)]. */
static void chunk_inputs(const wino_ws *s, const float *x, int ns, size_t t, const dpt_wino *g)
{
    int tiles = g->th * g->tw;
    size_t hw = (size_t)g->h * g->w;
    for (int i = 0; i < ns; i++)
        for (int ci = 0; ci < g->c; ci++) {
            fill_plane(s->pe, s->po, x + ((size_t)i * g->c + ci) * hw, g);
            input_transform(s->v + (size_t)ci * cols(t) + (size_t)i * tiles, (size_t)g->c * cols(t), s->pe, s->po, g);
        }
}

/* Zeroes the bordered planes, once per call. */
static void clear(const wino_ws *s, const dpt_wino *g)
{
    memset(s->pe, 0, sizeof(float) * 4 * plane_size(g));
}

void dpt_wino_forward(const dpt_wino *g, void *ws, float *y, const float *x, const float *w, const float *b, int n)
{
    wino_ws s = carve(g, ws);
    int tiles = g->th * g->tw, f = g->f, c = g->c;
    size_t fc = (size_t)f * c, ohw = (size_t)g->oh * g->ow, in = (size_t)c * g->h * g->w;
    weight_transform(s.u, w, f, c);
    clear(&s, g);
    for (int i0 = 0; i0 < n; i0 += g->chunk) {
        int ns = n - i0 < g->chunk ? n - i0 : g->chunk, t = ns * tiles, ld = (int)cols((size_t)t);
        chunk_inputs(&s, x + (size_t)i0 * in, ns, (size_t)t, g);
        for (int xi = 0; xi < 16; xi++)
            dpt_gemm_small(0, 0, f, t, c, s.u + xi * fc, c, s.v + (size_t)xi * c * ld, ld, 0.0f,
                           s.m + (size_t)xi * f * ld, ld);
        for (int i = 0; i < ns; i++)
            for (int co = 0; co < f; co++)
                output_transform(y + ((size_t)(i0 + i) * f + co) * ohw, s.m + (size_t)co * ld + (size_t)i * tiles,
                                 (size_t)f * ld, b[co], g);
    }
}

/* The input gradient of a chunk from its dV (in s->v, ld columns): dx [ns][c][h][w]. */
static void chunk_dx(const wino_ws *s, float *dx, int ns, int ld, const dpt_wino *g)
{
    int tiles = g->th * g->tw, ps = plane_stride(g), p = g->p, w = g->w;
    size_t hw = (size_t)g->h * w;
    for (int i = 0; i < ns; i++)
        for (int ci = 0; ci < g->c; ci++) {
            input_gradient(s->de, s->dodd, s->v + (size_t)ci * ld + (size_t)i * tiles, (size_t)g->c * ld, g);
            float *d = dx + ((size_t)i * g->c + ci) * hw;
            for (int r = 0; r < g->h; r++) {
                float *ev, *od;
                split_at(&ev, &od, s->de + (size_t)(r + p) * ps, s->dodd + (size_t)(r + p) * ps, p);
                for (int c = 0; c < w; c += 16)
                    __builtin_prefetch(d + (size_t)r * w + c + WINO_AHEAD, 1);
                merge_row(d + (size_t)r * w, ev, od, w);
            }
        }
}

void dpt_wino_backward(const dpt_wino *g, void *ws, float *dx, float *dw, const float *dy, const float *x,
                       const float *w, int n, int accumulate)
{
    wino_ws s = carve(g, ws);
    int tiles = g->th * g->tw, f = g->f, c = g->c;
    size_t fc = (size_t)f * c, ohw = (size_t)g->oh * g->ow, in = (size_t)c * g->h * g->w;
    if (dx)
        weight_transform(s.u, w, f, c);
    clear(&s, g);
    memset(s.du, 0, sizeof(float) * 16 * fc);
    for (int i0 = 0; i0 < n; i0 += g->chunk) {
        int ns = n - i0 < g->chunk ? n - i0 : g->chunk, t = ns * tiles, ld = (int)cols((size_t)t);
        chunk_inputs(&s, x + (size_t)i0 * in, ns, (size_t)t, g);
        for (int i = 0; i < ns; i++)
            for (int co = 0; co < f; co++)
                output_gradient(s.m + (size_t)co * ld + (size_t)i * tiles, (size_t)f * ld,
                                dy + ((size_t)(i0 + i) * f + co) * ohw, g);
        for (int xi = 0; xi < 16; xi++)
            dpt_gemm_small(0, 1, f, c, t, s.m + (size_t)xi * f * ld, ld, s.v + (size_t)xi * c * ld, ld,
                           i0 > 0 ? 1.0f : 0.0f, s.du + xi * fc, c);
        if (!dx)
            continue;
        /* dV = U^T dM over V, which the weight gradient no longer needs. */
        for (int xi = 0; xi < 16; xi++)
            dpt_gemm_small(1, 0, c, t, f, s.u + xi * fc, c, s.m + (size_t)xi * f * ld, ld, 0.0f,
                           s.v + (size_t)xi * c * ld, ld);
        chunk_dx(&s, dx + (size_t)i0 * in, ns, ld, g);
    }
    weight_gradient(dw, s.du, f, c, accumulate);
}
