/* Counter-based randomness: pure functions of (seed, stream, index) with the
 * right distributions. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "dptrain/rng.h"

#include "support.h"

START_TEST(test_pure_function)
{
    ck_assert_uint_eq(dpt_rng_u64(1, 2, 3), dpt_rng_u64(1, 2, 3));
    ck_assert_uint_ne(dpt_rng_u64(1, 2, 3), dpt_rng_u64(1, 2, 4));
    ck_assert_uint_ne(dpt_rng_u64(1, 2, 3), dpt_rng_u64(1, 3, 3));
    ck_assert_uint_ne(dpt_rng_u64(1, 2, 3), dpt_rng_u64(2, 2, 3));
    ck_assert_uint_ne(dpt_rng_u64(0, 1, 0), dpt_rng_u64(0, 0, 1));
}
END_TEST

START_TEST(test_uniform_moments)
{
    double s = 0, s2 = 0;
    enum { N = 200000 };
    for (uint64_t i = 0; i < N; i++) {
        double u = dpt_rng_uniform(5, 1, i);
        ck_assert(u > 0 && u < 1);
        s += u;
        s2 += u * u;
    }
    ck_assert_double_eq_tol(s / N, 0.5, 0.003);
    ck_assert_double_eq_tol(s2 / N - (s / N) * (s / N), 1.0 / 12, 0.002);
}
END_TEST

START_TEST(test_normal_moments)
{
    double s = 0, s2 = 0, s4 = 0;
    enum { N = 200000 };
    for (uint64_t i = 0; i < N; i++) {
        double z = dpt_rng_normal(5, 2, i);
        s += z;
        s2 += z * z;
        s4 += z * z * z * z;
    }
    ck_assert_double_eq_tol(s / N, 0.0, 0.01);
    ck_assert_double_eq_tol(s2 / N, 1.0, 0.015);
    ck_assert_double_eq_tol(s4 / N, 3.0, 0.1);
}
END_TEST

START_TEST(test_below_range_and_balance)
{
    int counts[7] = {0};
    for (uint64_t i = 0; i < 70000; i++) {
        uint64_t v = dpt_rng_below(3, 4, i, 7);
        ck_assert(v < 7);
        counts[v]++;
    }
    for (int k = 0; k < 7; k++)
        ck_assert_msg(abs(counts[k] - 10000) < 400, "value %d drawn %d times", k, counts[k]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_pure_function);
    tcase_add_test(tc, test_uniform_moments);
    tcase_add_test(tc, test_normal_moments);
    tcase_add_test(tc, test_below_range_and_balance);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
