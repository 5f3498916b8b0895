/* The BLAS seam against its naive reference, for every transpose case and
 * for the strides and beta the layers use. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/rng.h"
#include "dptrain/smallgemm.h"
#include "dptrain/tensor.h"

#include "support.h"

START_TEST(test_gemm_matches_reference)
{
    int dims[][3] = {{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {64, 10, 128}};
    for (size_t d = 0; d < 4; d++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                for (int bi = 0; bi < 2; bi++) {
                    int m = dims[d][0], n = dims[d][1], k = dims[d][2];
                    float beta = bi ? 0.5f : 0.0f;
                    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
                    float *c1 = malloc(sizeof(float) * m * n), *c2 = malloc(sizeof(float) * m * n);
                    for (int i = 0; i < m * k; i++)
                        a[i] = (float)dpt_rng_normal(1, 0, (uint64_t)i);
                    for (int i = 0; i < k * n; i++)
                        b[i] = (float)dpt_rng_normal(2, 0, (uint64_t)i);
                    for (int i = 0; i < m * n; i++)
                        c1[i] = c2[i] = (float)dpt_rng_normal(3, 0, (uint64_t)i);
                    dpt_gemm(ta, tb, m, n, k, 1.5f, a, ta ? m : k, b, tb ? k : n, beta, c1, n);
                    dpt_gemm_ref(ta, tb, m, n, k, 1.5f, a, ta ? m : k, b, tb ? k : n, beta, c2, n);
                    for (int i = 0; i < m * n; i++)
                        ck_assert_msg(fabsf(c1[i] - c2[i]) <= 1e-4f * (1 + fabsf(c2[i])),
                                      "m%d n%d k%d ta%d tb%d [%d]: %g vs %g", m, n, k, ta, tb, i, c1[i], c2[i]);
                    free(a);
                    free(b);
                    free(c1);
                    free(c2);
                }
}
END_TEST

/* op(A) op(B) (+ C) of every transpose case with rows of C wider than n: the columns past n must
 * keep their value (the kernels store masked vectors). */
static void check_small(int ta, int tb, int m, int n, int k, float beta)
{
    int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 5, ldc = n + 17;
    float *a = malloc(sizeof(float) * (size_t)lda * (ta ? k : m) + 4);
    float *b = malloc(sizeof(float) * (size_t)ldb * (tb ? n : k) + 4);
    float *c1 = malloc(sizeof(float) * (size_t)m * ldc), *c2 = malloc(sizeof(float) * (size_t)m * ldc);
    for (int i = 0; i < lda * (ta ? k : m); i++)
        a[i] = (float)dpt_rng_normal(4, 0, (uint64_t)i);
    for (int i = 0; i < ldb * (tb ? n : k); i++)
        b[i] = (float)dpt_rng_normal(5, 0, (uint64_t)i);
    for (int i = 0; i < m * ldc; i++)
        c1[i] = c2[i] = (float)dpt_rng_normal(6, 0, (uint64_t)i);
    dpt_gemm_small(ta, tb, m, n, k, a, lda, b, ldb, beta, c1, ldc);
    dpt_gemm_ref(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c2, ldc);
    for (int i = 0; i < m * ldc; i++)
        ck_assert_msg(fabsf(c1[i] - c2[i]) <= 1e-5f * (1 + fabsf(c2[i])) * (1 + sqrtf((float)k)),
                      "m%d n%d k%d ta%d tb%d beta %g [%d][%d]: %g vs %g", m, n, k, ta, tb, beta, i / ldc, i % ldc,
                      c1[i], c2[i]);
    free(a);
    free(b);
    free(c1);
    free(c2);
}

START_TEST(test_gemm_small_matches_reference)
{
    int ms[] = {1, 4, 5, 6, 7, 19}, ns[] = {1, 3, 15, 16, 17, 64, 65, 130}, ks[] = {0, 1, 9, 17, 32, 70, 513};
    for (int t = 0; t < 4; t++)
        for (size_t i = 0; i < sizeof ms / sizeof *ms; i++)
            for (size_t j = 0; j < sizeof ns / sizeof *ns; j++)
                for (size_t p = 0; p < sizeof ks / sizeof *ks; p++)
                    check_small(t & 1, t >> 1, ms[i], ns[j], ks[p], (i + j + p) % 2 ? 1.0f : 0.0f);
    check_small(0, 1, 5, 1000, 70, 1.0f); /* B^T past 65536 floats: packed */
}
END_TEST

/* Each output is one sum in an order fixed by the shape of B: computed by a call of one row, it
 * has the bits it has in the whole product (what makes a sample's result independent of the
 * samples beside it), and so, while B^T is read in place, does a call of one output. K = 600:
 * two panels of the inner dimension, the second 88 long; K = 1000 packs B^T (70 x 1000 floats). */
static void check_bits(int tb, int m, int n, int k)
{
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n);
    float *whole = malloc(sizeof(float) * m * n), *row = malloc(sizeof(float) * n), one;
    for (int i = 0; i < m * k; i++)
        a[i] = (float)dpt_rng_normal(7, 0, (uint64_t)i);
    for (int i = 0; i < k * n; i++)
        b[i] = (float)dpt_rng_normal(8, 0, (uint64_t)i);
    int ldb = tb ? k : n; /* b is [n][k] when transposed, else [k][n] */
    dpt_gemm_small(0, tb, m, n, k, a, k, b, ldb, 0.0f, whole, n);
    for (int i = 0; i < m; i++) {
        dpt_gemm_small(0, tb, 1, n, k, a + i * k, k, b, ldb, 0.0f, row, n);
        ck_assert_msg(memcmp(row, whole + i * n, sizeof(float) * n) == 0, "tb%d k%d: row %d differs", tb, k, i);
        /* one output of a packed B^T (n k > 64 Ki) is a dot product, not the packed kernel's sum */
        for (int j = 0; j < n && !(tb && (size_t)n * k > 65536); j++) {
            dpt_gemm_small(0, tb, 1, 1, k, a + i * k, k, tb ? b + j * k : b + j, ldb, 0.0f, &one, 1);
            ck_assert_msg(memcmp(&one, &whole[i * n + j], sizeof one) == 0, "tb%d k%d [%d][%d]: %a vs %a", tb, k, i,
                          j, one, whole[i * n + j]);
        }
    }
    free(a);
    free(b);
    free(whole);
    free(row);
}

START_TEST(test_gemm_small_bits_per_output)
{
    if (!dpt_gemm_small_native()) {
        /* every call goes to OpenBLAS, whose bits may change with the shape */
        printf("test_gemm_small_bits_per_output: no AVX-512 here, dpt_gemm_small's own order NOT tested\n");
        return;
    }
    for (int tb = 0; tb < 2; tb++) {
        check_bits(tb, 13, 70, 600);
        check_bits(tb, 13, 70, 1000);
    }
}
END_TEST

/* Not allowed, dpt_gemm_small is dpt_gemm, bit for bit (what a job does when one of its ranks
 * lacks AVX-512); allowed again, its own kernels where the CPU has them. */
START_TEST(test_gemm_small_allow)
{
    enum { M = 9, N = 70, K = 40 };
    static float a[M * K], b[K * N], c1[M * N], c2[M * N];
    for (int i = 0; i < M * K; i++)
        a[i] = (float)dpt_rng_normal(9, 0, (uint64_t)i);
    for (int i = 0; i < K * N; i++)
        b[i] = (float)dpt_rng_normal(10, 0, (uint64_t)i);
    int cpu = dpt_gemm_small_native();
    dpt_gemm_small_allow(0);
    ck_assert_int_eq(dpt_gemm_small_native(), 0);
    dpt_gemm_small(0, 0, M, N, K, a, K, b, N, 0.0f, c1, N);
    dpt_gemm(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c2, N);
    ck_assert(memcmp(c1, c2, sizeof c1) == 0);
    dpt_gemm_small_allow(1);
    ck_assert_int_eq(dpt_gemm_small_native(), cpu);
}
END_TEST

START_TEST(test_reference_small_case)
{
    /* [1 2; 3 4] * [5 6; 7 8] = [19 22; 43 50], checked by hand. */
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4] = {0};
    dpt_gemm_ref(0, 0, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    ck_assert_float_eq(c[0], 19);
    ck_assert_float_eq(c[1], 22);
    ck_assert_float_eq(c[2], 43);
    ck_assert_float_eq(c[3], 50);
}
END_TEST

START_TEST(test_flush_denormals)
{
    /* A product below FLT_MIN, and a subnormal operand, with the mode off, on, and off again. */
    volatile float tiny = 1e-30f, scale = 1e-10f, sub = 1e-40f, one = 1.0f;
    if (!dpt_fp_flush_denormals(0))
        return; /* not an x86 CPU: nothing to flush */
    ck_assert(tiny * scale > 0.0f);
    ck_assert(sub * one > 0.0f);
    ck_assert(dpt_fp_flush_denormals(1) == 1);
    ck_assert(tiny * scale == 0.0f);
    ck_assert(sub * one == 0.0f);
    ck_assert(1e-20f * one * 1e-10f == 1e-30f * one); /* normal numbers are untouched */
    dpt_fp_flush_denormals(0);
    ck_assert(tiny * scale > 0.0f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_gemm_matches_reference);
    tcase_add_test(tc, test_reference_small_case);
    tcase_add_test(tc, test_gemm_small_matches_reference);
    tcase_add_test(tc, test_gemm_small_bits_per_output);
    tcase_add_test(tc, test_gemm_small_allow);
    tcase_add_test(tc, test_flush_denormals);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
