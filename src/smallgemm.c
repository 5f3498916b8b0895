/* Small GEMMs in AVX-512 registers. Two kernels:
 * - op(B) not transposed (C = A B, C = A^T B): an output block of up to 6 rows by 64 columns sits
 *   in 24 registers; each step of the inner dimension loads one row of B (4 vectors) and
 *   broadcasts one value of A per row. B's panel (at most 512 x 64 floats; 32 x 64 in Winograd's
 *   products) stays in cache across the row blocks, so nothing is packed.
 * - B transposed (C = A B^T): both operands run along the inner dimension, so a 4 x 4 block of
 *   dot products is 16 vector sums over it, added across their lanes together at the end; a B
 *   too large to read again that way is packed, 64 rows at a time, for the first kernel.
 * Every output is summed in an order fixed by the shape of op(B), whatever the rows of A. */
#include "dptrain/smallgemm.h"

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>

#include "dptrain/lanes.h"
#include "dptrain/tensor.h"

/* Whether the job lets dpt_gemm_small run its own kernels (dpt_gemm_small_allow). */
static atomic_int allowed = 1;

void dpt_gemm_small_allow(int on)
{
    atomic_store_explicit(&allowed, on != 0, memory_order_relaxed);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* The kernels are compiled for AVX-512 whatever -march says and run only where the CPU has it,
 * so the x86-64-v3 build `make install` makes for a cluster takes them on nodes that can. */
#define KERNEL __attribute__((target("avx512f")))

/* PANEL: the inner dimension is taken in panels of at most this length, each added to C, so
 * that what a panel reads again stays in L2: B's k x 64 floats for C = op(A) B, all of B's rows
 * for C = A B^T (each 4 x 4 block of dot products reads its 4 rows). MAX_BT: the most floats of
 * B in C = A B^T that the dot products take; past it (a dense layer's forward) B is packed for the
 * 6 x 64 kernel instead, PACK values of the inner dimension at a time (32 KiB on the stack). */
enum { ROWS = 6, VECS = 4, DOT = 4, PANEL = 512, MAX_BT = 65536, PACK = 128 };

/* C[r][0..64) of R rows (+)= sum over p of A(r, p) B[p][0..64); A(r, p) = a[r * ars + p * acs].
 * R and NV are constants where it is inlined, so the accumulators stay in registers. */
static inline __attribute__((always_inline)) KERNEL void block_nn(int R, int NV, int k, const float *a, size_t ars,
                                                                  size_t acs, const float *b, int ldb, float beta,
                                                                  float *c, int ldc, const __mmask16 *mask)
{
    __m512 acc[ROWS][VECS];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++)
            acc[r][v] = _mm512_setzero_ps();
    for (int p = 0; p < k; p++) {
        const float *bp = b + (size_t)p * ldb;
        __m512 bv[VECS];
        for (int v = 0; v < NV; v++)
            bv[v] = _mm512_maskz_loadu_ps(mask[v], bp + 16 * v);
        for (int r = 0; r < R; r++) {
            __m512 av = _mm512_set1_ps(a[r * ars + p * acs]);
            for (int v = 0; v < NV; v++)
                acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int v = 0; v < NV; v++) {
            float *cr = c + (size_t)r * ldc + 16 * v;
            __m512 s = acc[r][v];
            if (beta != 0.0f)
                s = _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], cr), s);
            _mm512_mask_storeu_ps(cr, mask[v], s);
        }
}

/* One column block (vectors NV) over all rows, in row blocks of ROWS and one shorter one. */
static inline __attribute__((always_inline)) KERNEL void column_nn(int NV, int m, int k, const float *a, size_t ars,
                                                                   size_t acs, const float *b, int ldb, float beta,
                                                                   float *c, int ldc, const __mmask16 *mask)
{
    int i = 0;
    for (; i + ROWS <= m; i += ROWS)
        block_nn(ROWS, NV, k, a + i * ars, ars, acs, b, ldb, beta, c + (size_t)i * ldc, ldc, mask);
    switch (m - i) {
    case 5: block_nn(5, NV, k, a + i * ars, ars, acs, b, ldb, beta, c + (size_t)i * ldc, ldc, mask); break;
    case 4: block_nn(4, NV, k, a + i * ars, ars, acs, b, ldb, beta, c + (size_t)i * ldc, ldc, mask); break;
    case 3: block_nn(3, NV, k, a + i * ars, ars, acs, b, ldb, beta, c + (size_t)i * ldc, ldc, mask); break;
    case 2: block_nn(2, NV, k, a + i * ars, ars, acs, b, ldb, beta, c + (size_t)i * ldc, ldc, mask); break;
    case 1: block_nn(1, NV, k, a + i * ars, ars, acs, b, ldb, beta, c + (size_t)i * ldc, ldc, mask); break;
    default: break;
    }
}

static KERNEL void gemm_nn(int trans_a, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                           float beta, float *c, int ldc)
{
    size_t ars = trans_a ? 1 : (size_t)lda, acs = trans_a ? (size_t)lda : 1;
    for (int j = 0; j < n; j += 16 * VECS) {
        __mmask16 mask[VECS];
        for (int v = 0; v < VECS; v++)
            mask[v] = dpt_lanes16(n - j - 16 * v);
        int nv = n - j >= 16 * VECS ? VECS : (n - j + 15) / 16;
        const float *bj = b + j;
        float *cj = c + j;
        if (nv == 4)
            column_nn(4, m, k, a, ars, acs, bj, ldb, beta, cj, ldc, mask);
        else if (nv == 3)
            column_nn(3, m, k, a, ars, acs, bj, ldb, beta, cj, ldc, mask);
        else if (nv == 2)
            column_nn(2, m, k, a, ars, acs, bj, ldb, beta, cj, ldc, mask);
        else
            column_nn(1, m, k, a, ars, acs, bj, ldb, beta, cj, ldc, mask);
    }
}

/* Pairwise sums of x and y at two distances: the lanes of each 128-bit quarter, then the quarters. */
static inline KERNEL __m512 fold_quarters(__m512 x, __m512 y, int far)
{
    return far ? _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 2, 3, 2)))
               : _mm512_add_ps(_mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
}

static inline KERNEL __m512 fold_lanes(__m512 x, __m512 y, int far)
{
    return far ? _mm512_add_ps(_mm512_shuffle_ps(x, y, _MM_SHUFFLE(1, 0, 1, 0)),
                               _mm512_shuffle_ps(x, y, _MM_SHUFFLE(3, 2, 3, 2)))
               : _mm512_add_ps(_mm512_shuffle_ps(x, y, _MM_SHUFFLE(2, 0, 2, 0)),
                               _mm512_shuffle_ps(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
}

/* The lane sums of 16 vectors in one: lane 4r + s holds the sum of v[4s + r]. Each sum pairs the
 * lanes 8 apart, then 4, 2 and 1, as dot_nt does for an edge output, which so has the same bits;
 * one reduction per vector cost as much as the products at Winograd's shapes. */
static inline __attribute__((always_inline)) KERNEL __m512 reduce16(const __m512 *v)
{
    __m512 a[8], b[4], c[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        a[i] = fold_quarters(v[2 * i], v[2 * i + 1], 1);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        b[i] = fold_quarters(a[2 * i], a[2 * i + 1], 0);
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
        c[i] = fold_lanes(b[2 * i], b[2 * i + 1], 1);
    return fold_lanes(c[0], c[1], 0);
}

/* C[r][s] (+)= sum over p of A[r][p] B[s][p] for a DOT x DOT block: 16 vector sums along p. */
static KERNEL void block_nt(int k, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc)
{
    /* acc[4s + r]. Every loop over it is unrolled outright: left to GCC, it kept acc in memory and
     * stored all 16 vectors on every step. */
    __m512 acc[DOT * DOT];
#pragma GCC unroll 16
    for (int q = 0; q < DOT * DOT; q++)
        acc[q] = _mm512_setzero_ps();
    for (int p = 0; p < k; p += 16) {
        __mmask16 mk = dpt_lanes16(k - p);
        __m512 av[DOT], bv[DOT];
        for (int r = 0; r < DOT; r++)
            av[r] = _mm512_maskz_loadu_ps(mk, a + (size_t)r * lda + p);
        for (int s = 0; s < DOT; s++)
            bv[s] = _mm512_maskz_loadu_ps(mk, b + (size_t)s * ldb + p);
#pragma GCC unroll 4
        for (int s = 0; s < DOT; s++)
#pragma GCC unroll 4
            for (int r = 0; r < DOT; r++)
                acc[4 * s + r] = _mm512_fmadd_ps(av[r], bv[s], acc[4 * s + r]);
    }
    float sum[DOT * DOT]; /* sum[4r + s] */
    _mm512_storeu_ps(sum, reduce16(acc));
    for (int r = 0; r < DOT; r++)
        for (int s = 0; s < DOT; s++) {
            float *cij = c + (size_t)r * ldc + s;
            *cij = beta != 0.0f ? *cij + sum[4 * r + s] : sum[4 * r + s];
        }
}

/* One output of C = A B^T alone. */
static KERNEL void dot_nt(int k, const float *a, const float *b, float beta, float *c)
{
    __m512 acc = _mm512_setzero_ps();
    for (int p = 0; p < k; p += 16) {
        __mmask16 mk = dpt_lanes16(k - p);
        acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mk, a + p), _mm512_maskz_loadu_ps(mk, b + p), acc);
    }
    /* the lanes paired as reduce16 pairs them (8 apart, 4, 2, 1): an edge output gets the bits it
     * would have in a block */
    __m512 h = fold_quarters(acc, acc, 1);
    h = fold_quarters(h, h, 0);
    h = fold_lanes(h, h, 1);
    float sum = _mm512_cvtss_f32(fold_lanes(h, h, 0));
    *c = beta != 0.0f ? *c + sum : sum;
}

static KERNEL void gemm_nt(int m, int n, int k, const float *a, int lda, const float *b, int ldb, float beta,
                           float *c, int ldc)
{
    int mb = m - m % DOT, nb = n - n % DOT;
    for (int i = 0; i < mb; i += DOT)
        for (int j = 0; j < nb; j += DOT)
            block_nt(k, a + (size_t)i * lda, lda, b + (size_t)j * ldb, ldb, beta, c + (size_t)i * ldc + j, ldc);
    /* the right and bottom edges, one dot product at a time */
    for (int i = 0; i < m; i++)
        for (int j = i < mb ? nb : 0; j < n; j++)
            dot_nt(k, a + (size_t)i * lda, b + (size_t)j * ldb, beta, c + (size_t)i * ldc + j);
}

/* C = A B^T with B too large for the dot products to read again (a dense layer's forward): B's
 * rows packed, 64 at a time, into the layout C = A B takes, a sub-panel of PACK values of the
 * inner dimension at a time, which the 6 x 64 kernel then runs over. */
static KERNEL void gemm_nt_packed(int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                                  float beta, float *c, int ldc)
{
    float packed[PACK * 16 * VECS]; /* [PACK][64] */
    for (int p = 0; p < k; p += PACK) {
        int kp = k - p < PACK ? k - p : PACK;
        for (int j = 0; j < n; j += 16 * VECS) {
            int w = n - j < 16 * VECS ? n - j : 16 * VECS;
            for (int s = 0; s < w; s++) {
                const float *row = b + (size_t)(j + s) * ldb + p;
                for (int q = 0; q < kp; q++)
                    packed[q * 16 * VECS + s] = row[q];
            }
            __mmask16 mask[VECS];
            for (int v = 0; v < VECS; v++)
                mask[v] = dpt_lanes16(w - 16 * v);
            column_nn(VECS, m, kp, a + p, (size_t)lda, 1, packed, 16 * VECS, p > 0 ? 1.0f : beta, c + j, ldc, mask);
        }
    }
}

/* The inner dimension in panels (PANEL). */
static KERNEL void panels(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda, const float *b,
                          int ldb, float beta, float *c, int ldc)
{
    int p = 0;
    do {
        int kp = k - p < PANEL ? k - p : PANEL;
        float bp = p > 0 ? 1.0f : beta;
        if (trans_b)
            gemm_nt(m, n, kp, a + p, lda, b + p, ldb, bp, c, ldc);
        else
            gemm_nn(trans_a, m, n, kp, a + (trans_a ? (size_t)p * lda : (size_t)p), lda, b + (size_t)p * ldb, ldb,
                    bp, c, ldc);
        p += kp;
    } while (p < k);
}

int dpt_gemm_small_native(void)
{
    return atomic_load_explicit(&allowed, memory_order_relaxed) && __builtin_cpu_supports("avx512f");
}

void dpt_gemm_small(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                    float beta, float *c, int ldc)
{
    assert(beta == 0.0f || beta == 1.0f);
    if (m <= 0 || n <= 0)
        return;
    if (!dpt_gemm_small_native() || (trans_a && trans_b))
        dpt_gemm(trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
    else if (trans_b && (size_t)n * k > MAX_BT)
        gemm_nt_packed(m, n, k, a, lda, b, ldb, beta, c, ldc);
    else
        panels(trans_a, trans_b, m, n, k, a, lda, b, ldb, beta, c, ldc);
}

#else

int dpt_gemm_small_native(void) { return 0; }

void dpt_gemm_small(int trans_a, int trans_b, int m, int n, int k, const float *a, int lda, const float *b, int ldb,
                    float beta, float *c, int ldc)
{
    dpt_gemm(trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

#endif
