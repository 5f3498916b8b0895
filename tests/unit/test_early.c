/* Early stopping on constructed validation curves. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "dptrain/early.h"

#include "support.h"

/* Feeds curve[0..n) at steps 10, 20, ...; returns the index at which it says stop, or -1. */
static int run(dpt_early *s, const double *curve, int n)
{
    for (int i = 0; i < n; i++) {
        int improved;
        if (dpt_early_update(s, curve[i], 10 * (i + 1), &improved))
            return i;
    }
    return -1;
}

START_TEST(test_loss_curve_stops_after_patience)
{
    /* Best at index 2; with patience 3 the third non-improvement (index 5) stops. */
    double curve[] = {1.0, 0.8, 0.6, 0.65, 0.61, 0.7, 0.5, 0.4};
    dpt_early s;
    dpt_early_init(&s, 0, 3, 0.0);
    ck_assert_int_eq(run(&s, curve, 8), 5);
    ck_assert_double_eq(s.best, 0.6);
    ck_assert_int_eq(s.best_step, 30);
}
END_TEST

START_TEST(test_min_delta)
{
    /* 0.59 beats 0.6 by less than min_delta 0.05: not an improvement. */
    double curve[] = {1.0, 0.6, 0.59, 0.58, 0.3};
    dpt_early s;
    dpt_early_init(&s, 0, 2, 0.05);
    ck_assert_int_eq(run(&s, curve, 5), 3);
    ck_assert_int_eq(s.best_step, 20);
}
END_TEST

START_TEST(test_accuracy_maximized)
{
    double curve[] = {0.5, 0.7, 0.69, 0.71, 0.7, 0.7};
    dpt_early s;
    dpt_early_init(&s, 1, 2, 0.0);
    ck_assert_int_eq(run(&s, curve, 6), 5);
    ck_assert_double_eq(s.best, 0.71);
    ck_assert_int_eq(s.best_step, 40);
}
END_TEST

START_TEST(test_patience_zero_never_stops_and_nan_never_best)
{
    double curve[] = {1.0, NAN, 2.0, 3.0, NAN, 4.0};
    dpt_early s;
    dpt_early_init(&s, 0, 0, 0.0);
    ck_assert_int_eq(run(&s, curve, 6), -1);
    ck_assert_double_eq(s.best, 1.0);
    dpt_early_init(&s, 0, 5, 0.0);
    int improved;
    dpt_early_update(&s, NAN, 1, &improved);
    ck_assert_int_eq(improved, 0);
    ck_assert(isnan(s.best));
}
END_TEST

/* sklearn's _update_no_improvement_count on a hand-made loss curve (tol 0.25, n_iter_no_change 2;
 * binary fractions, so "equal to best - tol" is exact). */
START_TEST(test_sklearn_rule)
{
    /* 1.0: the first loss beats best = inf; 0.75 = best - tol exactly: not above it, so the count
     * stays 0; 0.625 and 0.5 beat the best but not by tol: counts 1 and 2, yet each is the new best;
     * 0.5 again: count 3 > 2 stops (the patience rule would have stopped one epoch earlier). */
    double curve[] = {1.0, 0.75, 0.625, 0.5, 0.5, 0.1};
    dpt_early s;
    dpt_early_init_sklearn(&s, 2, 0.25);
    ck_assert_int_eq(run(&s, curve, 6), 4);
    ck_assert_int_eq(s.bad, 3);
    ck_assert_double_eq(s.best, 0.5);
    ck_assert_int_eq(s.best_step, 40);
    /* A loss below best - tol restarts the count; NaN counts as no improvement and is never best. */
    double reset[] = {1.0, 0.9, 0.95, 0.5, NAN, 0.4, 0.3, 0.2};
    dpt_early_init_sklearn(&s, 2, 0.25);
    ck_assert_int_eq(run(&s, reset, 8), 6);
    ck_assert_double_eq(s.best, 0.3);
    ck_assert_int_eq(s.best_step, 70);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("early");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_loss_curve_stops_after_patience);
    tcase_add_test(tc, test_min_delta);
    tcase_add_test(tc, test_accuracy_maximized);
    tcase_add_test(tc, test_patience_zero_never_stops_and_nan_never_best);
    tcase_add_test(tc, test_sklearn_rule);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
