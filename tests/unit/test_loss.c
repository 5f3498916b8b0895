/* Losses against finite differences and closed forms, and cross-entropy's
 * stability at extreme logits. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "dptrain/loss.h"
#include "dptrain/rng.h"

#include "support.h"

enum { N = 4, K = 5 };

static void fill(float *v, int n, uint64_t seed, double scale)
{
    for (int i = 0; i < n; i++)
        v[i] = (float)(scale * dpt_rng_normal(seed, 0, (uint64_t)i));
}

/* Central differences of the summed loss against its analytic gradient. */
static void check_fd(dpt_loss_kind kind, float *out, const float *y)
{
    float grad[N * K];
    dpt_loss_eval(kind, grad, out, y, N, K);
    double largest = 0;
    for (int i = 0; i < N * K; i++) {
        const float h = 1e-2f;
        float keep = out[i];
        out[i] = keep + h;
        double up = dpt_loss_eval(kind, NULL, out, y, N, K);
        out[i] = keep - h;
        double down = dpt_loss_eval(kind, NULL, out, y, N, K);
        out[i] = keep;
        double num = (up - down) / (2.0 * h);
        ck_assert_msg(fabs(grad[i] - num) <= 1e-3 + 1e-2 * fabs(num), "[%d] analytic %g numeric %g", i,
                      grad[i], num);
        largest = fmax(largest, fabs(grad[i]));
    }
    ck_assert_msg(largest > 1e-2, "gradient trivially small");
}

START_TEST(test_mse_fd)
{
    float out[N * K], y[N * K];
    fill(out, N * K, 1, 1.0);
    fill(y, N * K, 2, 1.0);
    check_fd(DPT_LOSS_MSE, out, y);
}
END_TEST

START_TEST(test_xent_fd)
{
    float out[N * K], labels[N] = {0, 4, 2, 2};
    fill(out, N * K, 3, 2.0);
    check_fd(DPT_LOSS_XENT, out, labels);
}
END_TEST

START_TEST(test_mse_value)
{
    /* Sum over samples of the mean squared error over outputs. */
    float out[2 * 2] = {1, 2, 3, 4}, y[2 * 2] = {0, 0, 3, 2};
    double v = dpt_loss_mse(NULL, out, y, 2, 2);
    ck_assert_double_eq_tol(v, (1.0 + 4.0) / 2 + (0.0 + 4.0) / 2, 1e-12);
}
END_TEST

START_TEST(test_xent_value)
{
    float z[3] = {1, 2, 3}, label = 1;
    double expect = -log(exp(2.0) / (exp(1.0) + exp(2.0) + exp(3.0)));
    ck_assert_double_eq_tol(dpt_loss_xent(NULL, z, &label, 1, 3), expect, 1e-6);
}
END_TEST

START_TEST(test_xent_extreme_logits)
{
    float z[2 * 3] = {1000, -1000, 0, -1000, 1000, 1000}, labels[2] = {1, 0}, g[6];
    double v = dpt_loss_xent(g, z, labels, 2, 3);
    ck_assert(isfinite(v));
    ck_assert_double_eq_tol(v, 2000.0 + (2000.0 + log(2.0)), 1e-3);
    for (int i = 0; i < 6; i++)
        ck_assert(isfinite(g[i]) && fabs(g[i]) <= 1.0f);
    ck_assert_float_eq_tol(g[0], 1.0f, 1e-6);
    ck_assert_float_eq_tol(g[1], -1.0f, 1e-6);
    ck_assert_float_eq_tol(g[4], 0.5f, 1e-6);
}
END_TEST

START_TEST(test_parse_and_argmax)
{
    dpt_loss_kind k;
    dpt_err e;
    ck_assert_int_eq(dpt_loss_parse(&k, "cross_entropy", &e), DPT_OK);
    ck_assert_int_eq(k, DPT_LOSS_XENT);
    ck_assert_int_eq(dpt_loss_parse(&k, "hinge", &e), DPT_FAIL);
    float v[4] = {1, 5, 5, 2};
    ck_assert_int_eq(dpt_argmax(v, 4), 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("loss");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_mse_fd);
    tcase_add_test(tc, test_xent_fd);
    tcase_add_test(tc, test_mse_value);
    tcase_add_test(tc, test_xent_value);
    tcase_add_test(tc, test_xent_extreme_logits);
    tcase_add_test(tc, test_parse_and_argmax);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
