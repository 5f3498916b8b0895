/* The BLAS seam against its naive reference, for every transpose case and
 * for the strides and beta the layers use. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "dptrain/rng.h"
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
    tcase_add_test(tc, test_flush_denormals);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
