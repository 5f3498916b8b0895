/* Finite-difference checks of every layer kind: backward's parameter and
 * input gradients against central differences of L = sum(c * forward(x)). */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/layer.h"
#include "dptrain/rng.h"

#include "support.h"

enum { N = 5, IN = 4, OUT = 3 };

typedef struct {
    dpt_layer l;
    float *params, *grads;
    float x[N * IN], c[N * IN], y[N * IN], dx[N * IN];
} fixture;

static void setup_layer(fixture *f, const dpt_layer_ops *ops, const char *arg)
{
    memset(f, 0, sizeof *f);
    f->l.ops = ops;
    ck_assert_int_eq(ops->configure(&f->l, IN, arg, NULL), DPT_OK);
    f->params = calloc(f->l.nparams + 1, sizeof(float));
    f->grads = calloc(f->l.nparams + 1, sizeof(float));
    f->l.w = f->params;
    f->l.b = f->params + f->l.nweights;
    f->l.dw = f->grads;
    f->l.db = f->grads + f->l.nweights;
    ops->init(&f->l, 7, 1, DPT_INIT_XAVIER);
    for (size_t i = 0; i < f->l.nparams; i++) /* non-zero biases too */
        f->params[i] += (float)(0.3 * dpt_rng_normal(11, 0, i));
    for (int i = 0; i < N * IN; i++) {
        double v = dpt_rng_normal(5, 0, (uint64_t)i);
        /* Keep inputs away from ReLU's kink, where the derivative jumps. */
        f->x[i] = (float)(v + (v >= 0 ? 0.1 : -0.1));
        f->c[i] = (float)dpt_rng_normal(6, 0, (uint64_t)i);
    }
}

static double objective(fixture *f)
{
    float y[N * IN];
    f->l.ops->forward(&f->l, y, f->x, N);
    double s = 0;
    for (int i = 0; i < N * f->l.out; i++)
        s += (double)f->c[i] * y[i];
    return s;
}

static double numeric(fixture *f, float *v)
{
    const float h = 1e-2f;
    float keep = *v;
    *v = keep + h;
    double up = objective(f);
    *v = keep - h;
    double down = objective(f);
    *v = keep;
    return (up - down) / (2.0 * h);
}

static void check_close(double analytic, double num, const char *what, size_t i)
{
    ck_assert_msg(fabs(analytic - num) <= 2e-3 + 2e-2 * fabs(num), "%s[%zu]: analytic %g, numeric %g",
                  what, i, analytic, num);
}

static void check_layer(const dpt_layer_ops *ops, const char *arg)
{
    fixture f;
    setup_layer(&f, ops, arg);
    ops->forward(&f.l, f.y, f.x, N);
    ops->backward(&f.l, f.dx, f.c, f.x, f.y, N, 1);
    double largest = 0;
    for (size_t i = 0; i < f.l.nparams; i++) {
        check_close(f.grads[i], numeric(&f, &f.params[i]), "param", i);
        largest = fmax(largest, fabs(f.grads[i]));
    }
    for (int i = 0; i < N * IN; i++) {
        check_close(f.dx[i], numeric(&f, &f.x[i]), "input", (size_t)i);
        largest = fmax(largest, fabs(f.dx[i]));
    }
    /* Guard: a layer whose gradients are all zero would pass the comparison trivially. */
    ck_assert_msg(largest > 1e-2, "%s: gradients trivially small (%g)", ops->name, largest);
    free(f.params);
    free(f.grads);
}

START_TEST(test_dense) { check_layer(&dpt_layer_dense, "3"); }
END_TEST
START_TEST(test_identity) { check_layer(&dpt_layer_identity, ""); }
END_TEST
START_TEST(test_relu) { check_layer(&dpt_layer_relu, ""); }
END_TEST
START_TEST(test_tanh) { check_layer(&dpt_layer_tanh, ""); }
END_TEST
START_TEST(test_sigmoid) { check_layer(&dpt_layer_sigmoid, ""); }
END_TEST

START_TEST(test_dense_accumulates)
{
    /* Backward adds into the gradient views, so micro-batches sum before the allreduce. */
    fixture f;
    setup_layer(&f, &dpt_layer_dense, "3");
    f.l.ops->forward(&f.l, f.y, f.x, N);
    f.l.ops->backward(&f.l, NULL, f.c, f.x, f.y, N, 1);
    float once[IN * OUT + OUT];
    memcpy(once, f.grads, sizeof once);
    f.l.ops->backward(&f.l, NULL, f.c, f.x, f.y, N, 1);
    for (size_t i = 0; i < f.l.nparams; i++)
        ck_assert_float_eq_tol(f.grads[i], 2 * once[i], 1e-5);
    /* Without accumulate the gradients are overwritten, whatever the buffer held. */
    f.l.ops->backward(&f.l, NULL, f.c, f.x, f.y, N, 0);
    ck_assert_int_eq(memcmp(f.grads, once, sizeof once), 0);
    free(f.params);
    free(f.grads);
}
END_TEST

START_TEST(test_sigmoid_extremes)
{
    fixture f;
    setup_layer(&f, &dpt_layer_sigmoid, "");
    float x[4] = {-1000, -90, 90, 1000}, y[4];
    f.l.out = 4;
    f.l.ops->forward(&f.l, y, x, 1);
    for (int i = 0; i < 4; i++)
        ck_assert(isfinite(y[i]) && y[i] >= 0 && y[i] <= 1);
    ck_assert_float_eq(y[3], 1.0f);
    free(f.params);
    free(f.grads);
}
END_TEST

START_TEST(test_configure_errors)
{
    dpt_layer l = {0};
    dpt_err e;
    l.ops = &dpt_layer_dense;
    ck_assert_int_eq(dpt_layer_dense.configure(&l, 4, "", &e), DPT_FAIL);
    ck_assert_int_eq(dpt_layer_dense.configure(&l, 4, "-2", &e), DPT_FAIL);
    ck_assert_int_eq(dpt_layer_dense.configure(&l, 4, "12x", &e), DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "12x"));
    l.ops = &dpt_layer_relu;
    ck_assert_int_eq(dpt_layer_relu.configure(&l, 4, "5", &e), DPT_FAIL);
    ck_assert_ptr_null(dpt_layer_find("conv"));
    ck_assert_ptr_eq(dpt_layer_find("tanh"), &dpt_layer_tanh);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_dense);
    tcase_add_test(tc, test_identity);
    tcase_add_test(tc, test_relu);
    tcase_add_test(tc, test_tanh);
    tcase_add_test(tc, test_sigmoid);
    tcase_add_test(tc, test_dense_accumulates);
    tcase_add_test(tc, test_sigmoid_extremes);
    tcase_add_test(tc, test_configure_errors);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
