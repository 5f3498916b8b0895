/* The range test's rules on made-up losses: the rate sweep, fastai's bias-corrected smoothing and
 * divergence rule, the steepest-descent suggestion (as numpy.gradient against log lr, skipping
 * the first tenth and the last step, as Lightning), and the option checks. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "dptrain/lrfind.h"

#include "support.h"

START_TEST(test_rates)
{
    dpt_lrfind f;
    dpt_err e = {0};
    ck_assert_int_eq(dpt_lrfind_init(&f, 1e-4, 1, 5, &e), DPT_OK);
    /* four decades in four steps: one decade a step, both ends included */
    double want[] = {1e-4, 1e-3, 1e-2, 1e-1, 1};
    for (int i = 0; i < 5; i++)
        ck_assert_msg(fabs(dpt_lrfind_rate(&f, i) / want[i] - 1) < 1e-12, "rate %d: %g", i, dpt_lrfind_rate(&f, i));
}
END_TEST

START_TEST(test_smoothing_and_divergence)
{
    dpt_lrfind f;
    dpt_err e = {0};
    double s;
    dpt_lrfind_init(&f, 1e-3, 1, 10, &e);
    /* loss 1: avg 0.02, bias-corrected 0.02 / (1 - 0.98) = 1 exactly the first loss */
    ck_assert_int_eq(dpt_lrfind_add(&f, 1.0, &s), 0);
    ck_assert_double_eq_tol(s, 1.0, 1e-12);
    /* loss 2: avg 0.98 * 0.02 + 0.02 * 2 = 0.0596, over 1 - 0.98^2 = 0.0396: 1.50505... */
    ck_assert_int_eq(dpt_lrfind_add(&f, 2.0, &s), 0);
    ck_assert_double_eq_tol(s, 0.0596 / 0.0396, 1e-12);
    ck_assert_double_eq_tol(f.best, 1.0, 1e-12);
    /* a loss of 500 lifts the smoothed loss to (0.98 * 0.0596 + 10) / (1 - 0.98^3) = 171.1...: past 4x
     * the best (1), so stop */
    ck_assert_int_eq(dpt_lrfind_add(&f, 500.0, &s), 1);
    ck_assert_double_eq_tol(s, (0.98 * 0.0596 + 10) / (1 - 0.98 * 0.98 * 0.98), 1e-9);
    /* just under 4x does not stop; a NaN does */
    dpt_lrfind_init(&f, 1e-3, 1, 10, &e);
    dpt_lrfind_add(&f, 1.0, &s);
    ck_assert_int_eq(dpt_lrfind_add(&f, 3.9 * 0.0396 / 0.02 - 0.98, &s), 0); /* smoothed 3.9 */
    ck_assert_double_eq_tol(s, 3.9, 1e-9);
    ck_assert_int_eq(dpt_lrfind_add(&f, NAN, &s), 1);
}
END_TEST

START_TEST(test_suggestion)
{
    enum { N = 40 };
    double lr[N], s[N];
    for (int i = 0; i < N; i++) {
        lr[i] = 1e-4 * pow(10, i / 8.0);
        s[i] = 3.0 - 2.0 * tanh((i - 20) / 3.0); /* steepest at step 20 */
    }
    ck_assert_int_eq(dpt_lrfind_suggest(lr, s, N), 20);
    /* a steeper drop among the first tenth (steps 0-3) is skipped, as the last step is */
    s[1] -= 10;
    s[N - 1] -= 100;
    ck_assert_int_eq(dpt_lrfind_suggest(lr, s, N), 20);
    /* the steepest one-sided slope at the range's first step (4) */
    s[5] -= 5;
    for (int i = 6; i < N; i++)
        s[i] -= 5;
    ck_assert_int_eq(dpt_lrfind_suggest(lr, s, N), 4);
    /* a loss that never falls, or too few steps: no suggestion */
    for (int i = 0; i < N; i++)
        s[i] = 1.0 + i;
    ck_assert_int_eq(dpt_lrfind_suggest(lr, s, N), -1);
    ck_assert_int_eq(dpt_lrfind_suggest(lr, s, 2), -1);
    double down[] = {3, 2, 1};
    ck_assert_int_eq(dpt_lrfind_suggest(lr, down, 3), 0);
}
END_TEST

START_TEST(test_checks)
{
    dpt_lrfind f;
    dpt_err e = {0};
    ck_assert_int_eq(dpt_lrfind_init(&f, 10, 1, 100, &e), DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "--max 1: must be a finite number above --min 10"), "%s", e.msg);
    ck_assert_int_eq(dpt_lrfind_init(&f, 1, 1, 100, &e), DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "--max"), "%s", e.msg);
    ck_assert_int_eq(dpt_lrfind_init(&f, 0, 1, 100, &e), DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "--min 0: must be a finite number > 0"), "%s", e.msg);
    ck_assert_int_eq(dpt_lrfind_init(&f, 1e-7, 10, 1, &e), DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "--steps 1: needs at least 2 steps"), "%s", e.msg);
    ck_assert_int_eq(dpt_lrfind_init(&f, 1e-7, 10, 2, &e), DPT_OK);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("lrfind");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_rates);
    tcase_add_test(tc, test_smoothing_and_divergence);
    tcase_add_test(tc, test_suggestion);
    tcase_add_test(tc, test_checks);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
