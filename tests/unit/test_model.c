/* The layer stack: gradients of a whole MLP against finite differences, the
 * flat buffer layout, initialization from the seed alone, spec errors. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "dptrain/direct.h"
#include "dptrain/loss.h"
#include "dptrain/model.h"
#include "dptrain/replicas.h"
#include "dptrain/rng.h"
#include "dptrain/smallgemm.h"

#include "support.h"

static double batch_loss(dpt_model *m, const float *x, const float *labels, int n, float *dout)
{
    const float *out = dpt_model_forward(m, x, n);
    return dpt_loss_xent(dout, out, labels, n, m->out_dim);
}

static void check_mlp(const char *spec)
{
    enum { N = 6, D = 5 };
    dpt_model m;
    dpt_err e;
    ck_assert_msg(dpt_model_init(&m, spec, D, N, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(dpt_model_init_params(&m, 3, DPT_SCHEME_AUTO, &e), DPT_OK);
    for (size_t i = 0; i < m.nparams; i++)
        m.params[i] += (float)(0.1 * dpt_rng_normal(9, 0, i)); /* biases away from zero */
    float x[N * D], labels[N], dout[N * 8];
    for (int i = 0; i < N * D; i++)
        x[i] = (float)dpt_rng_normal(4, 0, (uint64_t)i);
    for (int i = 0; i < N; i++)
        labels[i] = (float)(i % m.out_dim);
    dpt_model_zero_grad(&m);
    batch_loss(&m, x, labels, N, dout);
    dpt_model_backward(&m, dout, N, 1, NULL, NULL);
    double largest = 0;
    for (size_t i = 0; i < m.nparams; i++) {
        const float h = 1e-2f;
        float keep = m.params[i];
        m.params[i] = keep + h;
        double up = batch_loss(&m, x, labels, N, dout);
        m.params[i] = keep - h;
        double down = batch_loss(&m, x, labels, N, dout);
        m.params[i] = keep;
        double num = (up - down) / (2.0 * h);
        ck_assert_msg(fabs(m.grads[i] - num) <= 3e-3 + 3e-2 * fabs(num), "%s param %zu: %g vs %g", spec, i,
                      m.grads[i], num);
        largest = fmax(largest, fabs(m.grads[i]));
    }
    ck_assert(largest > 1e-2);
    dpt_model_free(&m);
}

START_TEST(test_fd_tanh) { check_mlp("dense 4, tanh, dense 3"); }
END_TEST
START_TEST(test_fd_sigmoid) { check_mlp("dense 4, sigmoid, dense 4, identity, dense 3"); }
END_TEST
START_TEST(test_fd_relu_first) { check_mlp("tanh, dense 6, relu, dense 3"); }
END_TEST

/* Chains of activations: each backward must see its own output, not the chain's last one. */
START_TEST(test_fd_activation_pairs)
{
    static const char *const acts[] = {"identity", "relu", "tanh", "sigmoid"};
    enum { K = sizeof acts / sizeof *acts };
    char spec[96];
    for (int a = 0; a < K; a++)
        for (int b = 0; b < K; b++) {
            snprintf(spec, sizeof spec, "dense 4, %s, %s, dense 3", acts[a], acts[b]);
            check_mlp(spec);
        }
    check_mlp("dense 4, sigmoid, tanh, relu, dense 3");
    check_mlp("dense 4, tanh, identity, sigmoid, dense 3");
}
END_TEST

START_TEST(test_layout)
{
    dpt_model m;
    dpt_err e;
    ck_assert_int_eq(dpt_model_init(&m, " dense 3 ,relu, dense 2", 4, 8, &e), DPT_OK);
    ck_assert_int_eq(m.nlayers, 3);
    ck_assert_uint_eq(m.nparams, 4 * 3 + 3 + 3 * 2 + 2);
    ck_assert_ptr_eq(m.layers[0].w, m.params);
    ck_assert_ptr_eq(m.layers[0].b, m.params + 12);
    ck_assert_ptr_eq(m.layers[2].w, m.params + 15);
    ck_assert_ptr_eq(m.layers[2].db, m.grads + 21);
    ck_assert_int_eq(m.out_dim, 2);
    ck_assert_ptr_eq(m.acts[1], m.acts[0]); /* relu runs in place over the dense layer's output */
    dpt_range r[4];
    ck_assert_int_eq(dpt_model_penalty_ranges(&m, r, 4, 0), 2);
    ck_assert_uint_eq(r[1].off, 15);
    ck_assert_uint_eq(r[1].len, 6);
    ck_assert_int_eq(dpt_model_penalty_ranges(&m, r, 4, 1), 2);
    ck_assert_uint_eq(r[1].len, 8);
    char name[32];
    dpt_model_tensor_name(name, sizeof name, &m, 2, 1);
    ck_assert_str_eq(name, "layers.2.bias");
    dpt_model_free(&m);
}
END_TEST

START_TEST(test_init_depends_on_seed_only)
{
    dpt_model a, b;
    dpt_err e;
    ck_assert_int_eq(dpt_model_init(&a, "dense 64, relu, dense 10", 100, 1, &e), DPT_OK);
    ck_assert_int_eq(dpt_model_init(&b, "dense 64, relu, dense 10", 100, 32, &e), DPT_OK);
    ck_assert_int_eq(dpt_model_init_params(&a, 5, DPT_SCHEME_AUTO, &e), DPT_OK);
    ck_assert_int_eq(dpt_model_init_params(&b, 5, DPT_SCHEME_AUTO, &e), DPT_OK);
    ck_assert_int_eq(memcmp(a.params, b.params, sizeof(float) * a.nparams), 0);
    /* He before ReLU: variance 2/fan_in; Xavier uniform for the last: (in+out)/6 inverse. */
    double s1 = 0, s2 = 0;
    for (size_t i = 0; i < 6400; i++)
        s1 += (double)a.params[i] * a.params[i];
    for (size_t i = 0; i < 640; i++)
        s2 += (double)a.layers[2].w[i] * a.layers[2].w[i];
    ck_assert_double_eq_tol(s1 / 6400, 2.0 / 100, 0.002);
    ck_assert_double_eq_tol(s2 / 640, 2.0 / (64 + 10), 0.003);
    dpt_model_init_params(&b, 6, DPT_SCHEME_AUTO, &e);
    ck_assert_int_ne(memcmp(a.params, b.params, sizeof(float) * a.nparams), 0);
    dpt_init_scheme scheme = DPT_SCHEME_HE;
    ck_assert_int_eq(dpt_init_scheme_parse(&scheme, "lecun", &e), DPT_FAIL);
    ck_assert_int_eq(dpt_model_init_params(&b, 6, (dpt_init_scheme)7, &e), DPT_FAIL);
    dpt_model_free(&a);
    dpt_model_free(&b);
}
END_TEST

START_TEST(test_spec_errors)
{
    dpt_model m;
    dpt_err e;
    ck_assert_int_eq(dpt_model_init(&m, "dense 3, softplus", 4, 8, &e), DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "softplus"));
    ck_assert_int_eq(dpt_model_init(&m, "dense 3,, dense 2", 4, 8, &e), DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "item 2"));
    ck_assert_int_eq(dpt_model_init(&m, "dense zero", 4, 8, &e), DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "model.layers"));
    dpt_model_free(&m); /* a failed init leaves a model that frees cleanly */
}
END_TEST

/* A whole CNN in training mode (dropout on, the same masks in every pass) against finite
 * differences of its loss in every parameter. */
static double cnn_loss(dpt_model *m, const dpt_fwd_ctx *ctx, const float *x, const float *labels, int n,
                       float *dout)
{
    const float *out = dpt_model_forward_ctx(m, ctx, x, n);
    return dpt_loss_xent(dout, out, labels, n, m->out_dim);
}

static void check_cnn(const char *spec, dpt_shape in)
{
    enum { N = 3 };
    dpt_model m;
    dpt_err e;
    ck_assert_msg(dpt_model_init_shaped(&m, spec, in, N, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(dpt_model_init_params(&m, 3, DPT_SCHEME_AUTO, &e), DPT_OK);
    for (size_t i = 0; i < m.nparams; i++)
        m.params[i] += (float)(0.1 * dpt_rng_normal(9, 0, i));
    size_t ids[N] = {40, 2, 17};
    dpt_fwd_ctx ctx = {1, 42, 3, ids};
    float *x = malloc(sizeof(float) * N * (size_t)m.in_dim), labels[N], dout[N * 8];
    for (int i = 0; i < N * m.in_dim; i++)
        x[i] = (float)dpt_rng_normal(4, 0, (uint64_t)i);
    for (int i = 0; i < N; i++)
        labels[i] = (float)(i % m.out_dim);
    cnn_loss(&m, &ctx, x, labels, N, dout);
    dpt_model_backward(&m, dout, N, 0, NULL, NULL);
    double largest = 0;
    for (size_t i = 0; i < m.nparams; i++) {
        const float h = 1e-2f;
        float keep = m.params[i];
        m.params[i] = keep + h;
        double up = cnn_loss(&m, &ctx, x, labels, N, dout);
        m.params[i] = keep - h;
        double down = cnn_loss(&m, &ctx, x, labels, N, dout);
        m.params[i] = keep;
        double num = (up - down) / (2.0 * h);
        ck_assert_msg(fabs(m.grads[i] - num) <= 3e-3 + 3e-2 * fabs(num), "%s param %zu: %g vs %g", spec, i,
                      m.grads[i], num);
        largest = fmax(largest, fabs(m.grads[i]));
    }
    ck_assert(largest > 1e-2);
    free(x);
    dpt_model_free(&m);
}

START_TEST(test_fd_cnn)
{
    check_cnn("conv 3 3x3 pad 1, tanh, avgpool 2, dropout 0.3, dense 3", (dpt_shape){2, 4, 6});
    check_cnn("conv 2 3x3 stride 2, sigmoid, conv 3 2x2, flatten, dense 4, tanh, dense 3", (dpt_shape){1, 7, 7});
    check_cnn("dropout 0.5, conv 2 1x1, avgpool 3 stride 1, dense 2", (dpt_shape){3, 4, 4});
}
END_TEST

START_TEST(test_cnn_layout)
{
    /* The reference CNN of Fashion-MNIST: shapes, parameter runs, notes, penalties. */
    dpt_model m;
    dpt_err e;
    const char *spec = "conv 32 3x3 pad 1, relu, maxpool 2, conv 64 3x3 pad 1, relu, maxpool 2, dense 128, "
                       "relu, dropout 0.25, dense 10";
    ck_assert_msg(dpt_model_init_shaped(&m, spec, (dpt_shape){1, 28, 28}, 4, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(m.in_dim, 784);
    ck_assert_int_eq(m.layers[5].out_shape.c, 64);
    ck_assert_int_eq(m.layers[5].out_shape.h, 7);
    ck_assert_int_eq(m.layers[6].in, 64 * 7 * 7);
    ck_assert_uint_eq(m.nparams, 320 + 18496 + 3136 * 128 + 128 + 1290);
    ck_assert_ptr_eq(m.layers[3].w, m.params + 320);
    ck_assert_ptr_eq(m.layers[3].b, m.params + 320 + 18432);
    ck_assert_ptr_nonnull(strstr(m.notes, "layer 6 (dense) reads its 64x7x7 input flat (3136 values)"));
    dpt_range r[10];
    ck_assert_int_eq(dpt_model_penalty_ranges(&m, r, 10, 0), 4);
    ck_assert_uint_eq(r[1].off, 320);
    ck_assert_uint_eq(r[1].len, 18432);
    char name[32];
    dpt_model_tensor_name(name, sizeof name, &m, 3, 0);
    ck_assert_str_eq(name, "layers.3.weight");
    dpt_model_free(&m);
    /* A convolution on flat input fails, naming the layer and the shape. */
    ck_assert_int_eq(dpt_model_init(&m, "conv 32 3x3, relu, dense 10", 784, 4, &e), DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "layer 0 'conv 32 3x3' on input 784"));
    ck_assert_ptr_nonnull(strstr(e.msg, "larger than its input"));
    ck_assert_int_eq(dpt_model_init_shaped(&m, "conv 4 3x3, maxpool 2, dense 3", (dpt_shape){1, 7, 7}, 4, &e),
                     DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "layer 1 'maxpool 2' on input 4x5x5"));
    ck_assert_ptr_nonnull(strstr(e.msg, "not an integer"));
    /* model.conv_algorithm reaches every conv: auto gives the 1-channel first conv the direct
     * convolution and the second Winograd; winograd on a conv it cannot serve names the layer. */
    ck_assert_msg(dpt_model_init_algo(&m, spec, (dpt_shape){1, 28, 28}, 4, DPT_CONV_AUTO, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(m.layers[0].algorithm, dpt_direct_vectorized() ? DPT_CONV_DIRECT : DPT_CONV_IM2COL);
    ck_assert_int_eq(m.layers[3].algorithm, DPT_CONV_WINOGRAD);
    dpt_model_free(&m);
    ck_assert_msg(dpt_model_init_algo(&m, spec, (dpt_shape){1, 28, 28}, 4, DPT_CONV_IM2COL, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(m.layers[0].algorithm, DPT_CONV_IM2COL);
    ck_assert_int_eq(m.layers[3].algorithm, DPT_CONV_IM2COL);
    dpt_model_free(&m);
    ck_assert_msg(dpt_model_init_algo(&m, spec, (dpt_shape){1, 28, 28}, 4, DPT_CONV_DIRECT, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(m.layers[0].algorithm, DPT_CONV_DIRECT);
    ck_assert_int_eq(m.layers[3].algorithm, DPT_CONV_DIRECT);
    dpt_model_free(&m);
    ck_assert_int_eq(dpt_model_init_algo(&m, "conv 4 3x3, relu, conv 2 3x3 stride 2", (dpt_shape){1, 9, 9}, 4,
                                         DPT_CONV_WINOGRAD, &e), DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "layer 2 'conv 2 3x3 stride 2' on input 4x7x7") &&
                      strstr(e.msg, "model.conv_algorithm = winograd needs a 3x3 kernel of stride 1"), "%s", e.msg);
}
END_TEST

/* Runs spec on the batch x with the parameters params: the output and gradients into out, grads. */
static void run_once(const char *spec, dpt_shape in, const float *params, const float *x, int n, float *out,
                     float *grads, dpt_model *m)
{
    dpt_err e;
    ck_assert_msg(dpt_model_init_shaped(m, spec, in, n, &e) == DPT_OK, "%s", e.msg);
    memcpy(m->params, params, sizeof(float) * m->nparams);
    const float *y = dpt_model_forward(m, x, n);
    memcpy(out, y, sizeof(float) * (size_t)n * (size_t)m->out_dim);
    float *dout = malloc(sizeof(float) * (size_t)n * (size_t)m->out_dim);
    for (int i = 0; i < n * m->out_dim; i++)
        dout[i] = (float)dpt_rng_normal(8, 0, (uint64_t)i);
    dpt_model_backward(m, dout, n, 0, NULL, NULL);
    memcpy(grads, m->grads, sizeof(float) * m->nparams);
    free(dout);
}

START_TEST(test_relu_runs_after_maxpool)
{
    /* A ReLU before a max pool runs after it, with the same bits as in spec order: against the
     * same model with an identity between them, which keeps the order. Windows of negatives only,
     * zeros of both signs and ties reach both orders. */
    enum { N = 3, P = 2 * 9 + 2 + 2 * 3 + 3, OUT = N * 3 };
    const char *swapped = "conv 2 3x3, relu, maxpool 3 stride 2, relu, maxpool 3, dense 3";
    const char *kept = "conv 2 3x3, relu, identity, maxpool 3 stride 2, relu, identity, maxpool 3, dense 3";
    dpt_shape in = {1, 9, 9}; /* conv: 2x7x7, pool 3 stride 2: 2x3x3, pool 3: 2x1x1 */
    dpt_model a, b;
    dpt_err e;
    ck_assert_msg(dpt_model_init_shaped(&a, swapped, in, N, &e) == DPT_OK, "%s", e.msg);
    ck_assert_ptr_eq(a.layers[1].ops, dpt_layer_find("maxpool"));
    ck_assert_ptr_eq(a.layers[2].ops, &dpt_layer_relu);
    ck_assert_int_eq(a.layers[1].index, 2);
    ck_assert_int_eq(a.layers[2].in, 2 * 3 * 3);
    ck_assert_ptr_eq(dpt_model_spec_layer(&a, 1), &a.layers[2]);
    ck_assert_ptr_eq(dpt_model_spec_layer(&a, 2), &a.layers[1]);
    ck_assert_ptr_null(dpt_model_spec_layer(&a, 6));
    ck_assert_ptr_nonnull(strstr(a.notes, "layer 1 (relu) runs after layer 2 (maxpool)"));
    ck_assert_ptr_nonnull(strstr(a.notes, "layer 3 (relu) runs after layer 4 (maxpool)"));
    /* model.init = auto still draws the conv He-normal, as a ReLU follows it in the spec. */
    ck_assert_msg(dpt_model_init_shaped(&b, kept, in, N, &e) == DPT_OK, "%s", e.msg);
    ck_assert_uint_eq(a.nparams, P);
    ck_assert_uint_eq(b.nparams, P);
    ck_assert_int_eq(dpt_model_init_params(&a, 5, DPT_SCHEME_AUTO, &e), DPT_OK);
    ck_assert_int_eq(dpt_model_init_params(&b, 5, DPT_SCHEME_AUTO, &e), DPT_OK);
    ck_assert_int_eq(memcmp(a.params, b.params, sizeof(float) * 20), 0);
    dpt_model_free(&a);
    dpt_model_free(&b);
    float params[P], x[N * 81], ya[OUT], yb[OUT], ga[P], gb[P];
    for (int i = 0; i < P; i++)
        params[i] = (float)(0.5 * dpt_rng_normal(2, 0, (uint64_t)i));
    params[0] = params[1] = 0.0f; /* filter 0's two first taps: ties and zeros in its map */
    for (int i = 0; i < N * 81; i++)
        x[i] = i % 5 == 0 ? (i % 2 ? -0.0f : 0.0f) : (float)dpt_rng_normal(3, 0, (uint64_t)i);
    run_once(swapped, in, params, x, N, ya, ga, &a);
    run_once(kept, in, params, x, N, yb, gb, &b);
    ck_assert_int_eq(memcmp(ya, yb, sizeof ya), 0);
    ck_assert_int_eq(memcmp(ga, gb, sizeof ga), 0);
    int negative = 0; /* some window's maximum was not positive */
    for (int i = 0; i < N * 2 * 3 * 3; i++)
        negative += a.acts[1][i] <= 0.0f;
    ck_assert_int_gt(negative, 0);
    dpt_model_free(&a);
    dpt_model_free(&b);
}
END_TEST

static size_t ready_off[8], ready_len[8];
static int nready, dx_written[8];
static void on_ready(void *ctx, size_t off, size_t len)
{
    const dpt_model *m = ctx;
    ready_off[nready] = off;
    ready_len[nready] = len;
    dx_written[nready++] = !isnan(m->dbuf[0][0]); /* the last layer's input gradient goes to dbuf[0] */
}

/* The default of training.sample_threads: the threads for a model whose products dpt_gemm_small
 * runs on one thread (64 Ki parameters or more, AVX-512) or for a convolution, one thread for a
 * small dense model (or without AVX-512), and never 0. */
START_TEST(test_sample_threads_auto)
{
    dpt_model big, small, cnn;
    dpt_err e = {0};
    ck_assert_int_eq(dpt_model_init(&big, "dense 256, relu, dense 10", 784, 4, &e), DPT_OK);
    ck_assert_int_eq(dpt_model_init(&small, "dense 16, relu, dense 3", 100, 4, &e), DPT_OK);
    ck_assert_int_eq(dpt_model_init_shaped(&cnn, "conv 2 3x3, relu, dense 3", (dpt_shape){1, 6, 6}, 4, &e), DPT_OK);
    ck_assert_int_eq(dpt_replicas_auto(&big, 2), dpt_gemm_small_native() ? 2 : 1);
    ck_assert_int_eq(dpt_replicas_auto(&small, 2), 1);
    ck_assert_int_eq(dpt_replicas_auto(&cnn, 3), 3);
    ck_assert_int_eq(dpt_replicas_auto(&big, 0), 1);
    dpt_model_free(&big);
    dpt_model_free(&small);
    dpt_model_free(&cnn);
}
END_TEST

START_TEST(test_ready_order)
{
    /* Gradient runs are announced last layer first, each exactly once, a dense layer's before its
     * input gradient is computed (so they travel meanwhile), with the bits of a backward that
     * announces nothing. */
    dpt_model m;
    dpt_err e;
    ck_assert_int_eq(dpt_model_init(&m, "dense 3, relu, dense 2", 4, 2, &e), DPT_OK);
    ck_assert_int_eq(dpt_model_init_params(&m, 5, DPT_SCHEME_AUTO, &e), DPT_OK);
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, d[4] = {1, -2, 3, 1}, quiet[23];
    dpt_model_forward(&m, x, 2);
    dpt_model_backward(&m, d, 2, 0, NULL, NULL);
    memcpy(quiet, m.grads, sizeof quiet);
    for (int i = 0; i < 2 * 3; i++)
        m.dbuf[0][i] = NAN;
    nready = 0;
    dpt_model_backward(&m, d, 2, 0, on_ready, &m);
    ck_assert_int_eq(nready, 2);
    ck_assert_uint_eq(ready_off[0], 15);
    ck_assert_uint_eq(ready_len[0], 8);
    ck_assert_uint_eq(ready_off[1], 0);
    ck_assert_uint_eq(ready_len[1], 15);
    ck_assert_msg(!dx_written[0], "the last layer's gradients were announced after its input gradient");
    ck_assert_int_eq(memcmp(quiet, m.grads, sizeof quiet), 0);
    dpt_model_free(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_fd_tanh);
    tcase_add_test(tc, test_fd_sigmoid);
    tcase_add_test(tc, test_fd_relu_first);
    tcase_add_test(tc, test_fd_activation_pairs);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_init_depends_on_seed_only);
    tcase_add_test(tc, test_spec_errors);
    tcase_add_test(tc, test_ready_order);
    tcase_add_test(tc, test_sample_threads_auto);
    tcase_add_test(tc, test_fd_cnn);
    tcase_add_test(tc, test_cnn_layout);
    tcase_add_test(tc, test_relu_runs_after_maxpool);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
