/* Every layer kind alone: backward's parameter and input gradients against central differences
 * of L = sum(c * forward(x)) over several shapes, strides, paddings and odd sizes; convolution
 * forward and backward against a naive direct convolution, im2col and col2im against their
 * definitions; max pooling against torch's sequential scan, ties and NaNs included; dropout's
 * masks keyed by the global sample index; shape errors naming layer and shapes. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/direct.h"
#include "dptrain/im2col.h"
#include "dptrain/layer.h"
#include "dptrain/rng.h"

#include "support.h"

typedef struct {
    dpt_layer l;
    int n;
    float *params, *grads, *x, *c, *y, *dx;
    dpt_fwd_ctx ctx;
    size_t ids[16];
} fixture;

/* Inputs spread at least `gap` apart (a shuffled grid) keep max-pool ties and ReLU's kink out
 * of reach of the finite difference; gap 0 draws them normal, nudged off zero. */
static void fill_input(float *x, size_t count, double gap)
{
    size_t *perm = malloc(sizeof(size_t) * count);
    dpt_rng_permutation(perm, count, 5, 0);
    for (size_t i = 0; i < count; i++) {
        double v = gap > 0 ? ((double)perm[i] - count / 2.0 + 0.5) * gap : dpt_rng_normal(5, 0, i);
        x[i] = (float)(gap > 0 ? v : v + (v >= 0 ? 0.1 : -0.1));
    }
    free(perm);
}

/* The model.conv_algorithm setup() builds layers with (auto unless a test sets it). */
static dpt_conv_algorithm conv_algorithm = DPT_CONV_AUTO;

static void setup(fixture *f, const char *kind, const char *arg, dpt_shape in, int n, double gap)
{
    memset(f, 0, sizeof *f);
    dpt_err e = {{0}, 0};
    f->l.ops = dpt_layer_find(kind);
    ck_assert_ptr_nonnull(f->l.ops);
    f->l.index = 3;
    f->l.algorithm = conv_algorithm;
    f->l.in_shape = in;
    f->l.in = dpt_shape_size(in);
    ck_assert_msg(f->l.ops->configure(&f->l, arg, &e) == DPT_OK, "%s %s: %s", kind, arg, e.msg);
    f->l.out = dpt_shape_size(f->l.out_shape);
    f->n = n;
    f->params = calloc(f->l.nparams + 1, sizeof(float));
    f->grads = calloc(f->l.nparams + 1, sizeof(float));
    f->l.ws = calloc(f->l.ws_fixed + (size_t)n * f->l.ws_per_sample + 1, 1);
    if (f->l.nparam > 0)
        f->l.w = f->params + f->l.param[0].off, f->l.dw = f->grads + f->l.param[0].off;
    if (f->l.nparam > 1)
        f->l.b = f->params + f->l.param[1].off, f->l.db = f->grads + f->l.param[1].off;
    f->l.ops->init(&f->l, 7, 1, DPT_INIT_XAVIER);
    for (size_t i = 0; i < f->l.nparams; i++) /* non-zero biases too */
        f->params[i] += (float)(0.3 * dpt_rng_normal(11, 0, i));
    size_t nin = (size_t)n * f->l.in, nout = (size_t)n * f->l.out;
    f->x = malloc(sizeof(float) * nin);
    f->dx = malloc(sizeof(float) * nin);
    f->y = malloc(sizeof(float) * nout);
    f->c = malloc(sizeof(float) * nout);
    fill_input(f->x, nin, gap);
    for (size_t i = 0; i < nout; i++)
        f->c[i] = (float)dpt_rng_normal(6, 0, i);
    for (int i = 0; i < n && i < 16; i++)
        f->ids[i] = (size_t)(100 + 7 * i);
    f->ctx = (dpt_fwd_ctx){1, 42, 9, f->ids};
}

static void teardown(fixture *f)
{
    free(f->params), free(f->grads), free(f->l.ws);
    free(f->x), free(f->dx), free(f->y), free(f->c);
}

static double objective(fixture *f)
{
    float *y = malloc(sizeof(float) * (size_t)f->n * f->l.out);
    f->l.ops->forward(&f->l, &f->ctx, y, f->x, f->n);
    double s = 0;
    for (size_t i = 0; i < (size_t)f->n * f->l.out; i++)
        s += (double)f->c[i] * y[i];
    free(y);
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

/* Finite differences of one layer of kind/arg on n samples of shape in. */
static void check_fd(const char *kind, const char *arg, dpt_shape in, int n, double gap)
{
    fixture f;
    setup(&f, kind, arg, in, n, gap);
    f.l.ops->forward(&f.l, &f.ctx, f.y, f.x, n);
    f.l.ops->backward(&f.l, f.dx, f.c, f.x, f.y, n, 0);
    double largest = 0;
    for (size_t i = 0; i < f.l.nparams; i++) {
        check_close(f.grads[i], numeric(&f, &f.params[i]), "param", i);
        largest = fmax(largest, fabs(f.grads[i]));
    }
    for (size_t i = 0; i < (size_t)n * f.l.in; i++) {
        check_close(f.dx[i], numeric(&f, &f.x[i]), "input", i);
        largest = fmax(largest, fabs(f.dx[i]));
    }
    /* Guard: a layer whose gradients are all zero would pass the comparison trivially. */
    ck_assert_msg(largest > 1e-2, "%s %s: gradients trivially small (%g)", kind, arg, largest);
    teardown(&f);
}

static dpt_shape flat(int d)
{
    return (dpt_shape){d, 1, 1};
}

START_TEST(test_dense) { check_fd("dense", "3", flat(4), 5, 0); }
END_TEST
START_TEST(test_dense_on_image) { check_fd("dense", "3", (dpt_shape){2, 3, 2}, 4, 0); }
END_TEST
START_TEST(test_activations)
{
    check_fd("identity", "", flat(4), 5, 0);
    check_fd("relu", "", (dpt_shape){2, 3, 3}, 3, 0);
    check_fd("tanh", "", flat(4), 5, 0);
    check_fd("sigmoid", "", flat(4), 5, 0);
    check_fd("flatten", "", (dpt_shape){2, 3, 3}, 2, 0);
}
END_TEST

/* ReLU bit for bit as its definition, y = x > 0 ? x : 0 and dx = y > 0 ? dy : 0, on values with
 * NaNs, zeros of both signs and infinities, over batches whose size is no multiple of a vector
 * (the tails), run in place as the model runs it; every dx value written (it starts as NaN). */
START_TEST(test_relu_exact)
{
    static const float special[] = {NAN, -NAN, 0.0f, -0.0f, INFINITY, -INFINITY, 1e-45f, -1e-45f};
    static const int widths[] = {1, 7, 16, 33, 784};
    for (size_t t = 0; t < sizeof widths / sizeof widths[0]; t++) {
        fixture f;
        setup(&f, "relu", "", flat(widths[t]), 3, 0);
        size_t m = (size_t)f.n * f.l.in;
        float *x = malloc(sizeof(float) * m), *y = malloc(sizeof(float) * m), *dx = malloc(sizeof(float) * m);
        for (size_t i = 0; i < m; i++) {
            uint64_t r = dpt_rng_below(4, t, i, 16);
            x[i] = f.x[i] = r < 8 ? special[r] : f.x[i];
            f.c[i] = i % 5 == 0 ? -0.0f : f.c[i];
            f.dx[i] = NAN;
        }
        f.l.ops->forward(&f.l, &f.ctx, f.x, f.x, f.n); /* in place: y over x */
        for (size_t i = 0; i < m; i++) {
            y[i] = x[i] > 0.0f ? x[i] : 0.0f;
            dx[i] = y[i] > 0.0f ? f.c[i] : 0.0f;
        }
        f.l.ops->backward(&f.l, f.dx, f.c, NULL, f.x, f.n, 0);
        ck_assert_msg(memcmp(f.x, y, sizeof(float) * m) == 0, "relu forward, width %d", widths[t]);
        ck_assert_msg(memcmp(f.dx, dx, sizeof(float) * m) == 0, "relu backward, width %d", widths[t]);
#if defined(__AVX512F__)
        /* With AVX-512 backward reads the bits forward kept, not y: y may be gone. */
        for (size_t i = 0; i < m; i++)
            f.x[i] = NAN, f.dx[i] = NAN;
        f.l.ops->backward(&f.l, f.dx, f.c, NULL, f.x, f.n, 0);
        ck_assert_msg(memcmp(f.dx, dx, sizeof(float) * m) == 0, "relu backward from its bits, width %d", widths[t]);
#endif
        free(x), free(y), free(dx);
        teardown(&f);
    }
}
END_TEST

/* im2col and the direct convolution, which serve any convolution, on the same shapes. */
START_TEST(test_conv_fd)
{
    static const dpt_conv_algorithm algorithms[] = {DPT_CONV_IM2COL, DPT_CONV_DIRECT};
    for (int a = 0; a < 2; a++) {
        conv_algorithm = algorithms[a];
        check_fd("conv", "3 3x3", (dpt_shape){1, 5, 5}, 2, 0);
        check_fd("conv", "3 3x3 stride 2 pad 1", (dpt_shape){2, 7, 5}, 2, 0);
        check_fd("conv", "2 5x5 pad 2", (dpt_shape){2, 5, 7}, 2, 0);
        check_fd("conv", "2 1x1", (dpt_shape){3, 3, 4}, 3, 0);
        check_fd("conv", "9 1x1", (dpt_shape){3, 3, 4}, 3, 0);
        check_fd("conv", "2 2x2 stride 2", (dpt_shape){2, 4, 6}, 2, 0);
        check_fd("conv", "4 3 stride 3 pad 1", (dpt_shape){1, 7, 4}, 2, 0);
    }
    conv_algorithm = DPT_CONV_AUTO;
}
END_TEST

START_TEST(test_pool_fd)
{
    const char *kinds[] = {"maxpool", "avgpool"};
    for (int k = 0; k < 2; k++) {
        check_fd(kinds[k], "2", (dpt_shape){2, 4, 6}, 2, 0.05);
        check_fd(kinds[k], "3 stride 2", (dpt_shape){1, 5, 7}, 2, 0.05);
        check_fd(kinds[k], "3 stride 1", (dpt_shape){2, 4, 3}, 2, 0.05); /* overlapping windows */
        check_fd(kinds[k], "1", (dpt_shape){1, 3, 3}, 1, 0.05);
    }
}
END_TEST

START_TEST(test_dropout_fd) { check_fd("dropout", "0.3", (dpt_shape){3, 2, 2}, 4, 0); }
END_TEST

START_TEST(test_accumulates)
{
    /* Backward adds into the gradient views, so micro-batches sum before the allreduce. */
    const char *kinds[] = {"dense", "conv", "conv", "conv"};
    const char *args[] = {"3", "2 3x3 pad 1", "2 3x3 pad 1", "2 3x3 pad 1"};
    const dpt_conv_algorithm algorithm[] = {DPT_CONV_AUTO, DPT_CONV_IM2COL, DPT_CONV_WINOGRAD, DPT_CONV_DIRECT};
    for (int k = 0; k < 4; k++) {
        fixture f;
        conv_algorithm = algorithm[k];
        setup(&f, kinds[k], args[k], (dpt_shape){1, 3, 4}, 3, 0);
        f.l.ops->forward(&f.l, &f.ctx, f.y, f.x, f.n);
        memset(f.grads, 0, sizeof(float) * f.l.nparams);
        f.l.ops->backward(&f.l, NULL, f.c, f.x, f.y, f.n, 1);
        float *once = malloc(sizeof(float) * f.l.nparams);
        memcpy(once, f.grads, sizeof(float) * f.l.nparams);
        f.l.ops->backward(&f.l, NULL, f.c, f.x, f.y, f.n, 1);
        for (size_t i = 0; i < f.l.nparams; i++)
            ck_assert_float_eq_tol(f.grads[i], 2 * once[i], 1e-5);
        /* Without accumulate the gradients are overwritten, whatever the buffer held. */
        f.l.ops->backward(&f.l, NULL, f.c, f.x, f.y, f.n, 0);
        ck_assert_int_eq(memcmp(f.grads, once, sizeof(float) * f.l.nparams), 0);
        free(once);
        teardown(&f);
    }
    conv_algorithm = DPT_CONV_AUTO;
}
END_TEST

START_TEST(test_sigmoid_extremes)
{
    fixture f;
    setup(&f, "sigmoid", "", flat(4), 1, 0);
    float x[4] = {-1000, -90, 90, 1000}, y[4];
    f.l.ops->forward(&f.l, &f.ctx, y, x, 1);
    for (int i = 0; i < 4; i++)
        ck_assert(isfinite(y[i]) && y[i] >= 0 && y[i] <= 1);
    ck_assert_float_eq(y[3], 1.0f);
    teardown(&f);
}
END_TEST

/* y[n][f][oh][ow] = b[f] + sum over c, i, j of W[f][c][i][j] x[n][c][oh*s-p+i][ow*s-p+j], in double. */
static void naive_conv(double *y, const fixture *f)
{
    const dpt_layer *l = &f->l;
    int C = l->in_shape.c, H = l->in_shape.h, W = l->in_shape.w, F = l->filters, K = l->kernel;
    int OH = l->out_shape.h, OW = l->out_shape.w;
    for (int n = 0; n < f->n; n++)
        for (int o = 0; o < F; o++)
            for (int a = 0; a < OH; a++)
                for (int b = 0; b < OW; b++) {
                    double s = l->b[o];
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < K; i++)
                            for (int j = 0; j < K; j++) {
                                int h = a * l->stride - l->pad + i, w = b * l->stride - l->pad + j;
                                if (h >= 0 && h < H && w >= 0 && w < W)
                                    s += (double)l->w[((o * C + c) * K + i) * K + j] *
                                         f->x[((size_t)(n * C + c) * H + h) * W + w];
                            }
                    y[((size_t)(n * F + o) * OH + a) * OW + b] = s;
                }
}

/* The naive convolution's gradients of L = sum(c * y), in double: dW, db and dx. */
static void naive_conv_grads(double *dw, double *db, double *dx, const fixture *f)
{
    const dpt_layer *l = &f->l;
    int C = l->in_shape.c, H = l->in_shape.h, W = l->in_shape.w, F = l->filters, K = l->kernel;
    int OH = l->out_shape.h, OW = l->out_shape.w;
    memset(dw, 0, sizeof(double) * l->param[0].len);
    memset(db, 0, sizeof(double) * (size_t)F);
    memset(dx, 0, sizeof(double) * (size_t)f->n * l->in);
    for (int n = 0; n < f->n; n++)
        for (int o = 0; o < F; o++)
            for (int a = 0; a < OH; a++)
                for (int b = 0; b < OW; b++) {
                    double g = f->c[((size_t)(n * F + o) * OH + a) * OW + b];
                    db[o] += g;
                    for (int c = 0; c < C; c++)
                        for (int i = 0; i < K; i++)
                            for (int j = 0; j < K; j++) {
                                int h = a * l->stride - l->pad + i, w = b * l->stride - l->pad + j;
                                if (h < 0 || h >= H || w < 0 || w >= W)
                                    continue;
                                size_t wi = (size_t)((o * C + c) * K + i) * K + j;
                                size_t xi = ((size_t)(n * C + c) * H + h) * W + w;
                                dw[wi] += g * f->x[xi];
                                dx[xi] += g * l->w[wi];
                            }
                }
}

static void expect_near(const float *got, const double *want, size_t count, const char *what)
{
    for (size_t i = 0; i < count; i++)
        ck_assert_msg(fabs(got[i] - want[i]) <= 1e-4 * (1 + fabs(want[i])), "%s[%zu]: %g, naive %g", what, i,
                      got[i], want[i]);
}

static void check_conv_naive(const char *arg, dpt_shape in, int n)
{
    fixture f;
    setup(&f, "conv", arg, in, n, 0);
    size_t nout = (size_t)n * f.l.out, nin = (size_t)n * f.l.in;
    double *y = malloc(sizeof(double) * nout), *dw = malloc(sizeof(double) * f.l.param[0].len);
    double *db = malloc(sizeof(double) * (size_t)f.l.filters), *dx = malloc(sizeof(double) * nin);
    f.l.ops->forward(&f.l, &f.ctx, f.y, f.x, n);
    naive_conv(y, &f);
    expect_near(f.y, y, nout, "y");
    /* Accumulating adds to what the gradient buffer held: start it at zero. */
    memset(f.grads, 0, sizeof(float) * f.l.nparams);
    f.l.ops->backward(&f.l, f.dx, f.c, f.x, f.y, n, 1);
    naive_conv_grads(dw, db, dx, &f);
    expect_near(f.l.dw, dw, f.l.param[0].len, "dW");
    expect_near(f.l.db, db, (size_t)f.l.filters, "db");
    expect_near(f.dx, dx, nin, "dx");
    /* An evaluation pass gives the same outputs from its one reused column buffer. */
    f.ctx.train = 0;
    f.l.ops->forward(&f.l, &f.ctx, f.y, f.x, n);
    expect_near(f.y, y, nout, "eval y");
    free(y), free(dw), free(db), free(dx);
    teardown(&f);
}

START_TEST(test_conv_naive)
{
    conv_algorithm = DPT_CONV_IM2COL; /* auto would take the direct convolution for most of these */
    check_conv_naive("4 3x3 pad 1", (dpt_shape){3, 8, 8}, 3);
    check_conv_naive("5 3x3 stride 2", (dpt_shape){2, 9, 7}, 2);
    check_conv_naive("3 5x5 stride 3 pad 2", (dpt_shape){1, 13, 10}, 2);
    check_conv_naive("6 2x2", (dpt_shape){4, 5, 3}, 1);
    check_conv_naive("32 3x3 pad 1", (dpt_shape){1, 28, 28}, 2); /* the reference CNN's first layer */
    /* im2col's border/interior split: rows wholly in the padding, empty interiors, even sizes */
    check_conv_naive("3 3x3 pad 2", (dpt_shape){2, 4, 5}, 2);
    check_conv_naive("2 3x3 pad 3", (dpt_shape){1, 2, 3}, 2);
    check_conv_naive("4 3x3 stride 2 pad 1", (dpt_shape){3, 9, 7}, 2);
    check_conv_naive("2 4x4 stride 2 pad 3", (dpt_shape){2, 6, 6}, 1);
    check_conv_naive("3 5x5 pad 2", (dpt_shape){2, 3, 4}, 2); /* "same" width: whole runs copied at once */
    conv_algorithm = DPT_CONV_AUTO;
}
END_TEST

/* The direct convolution against the naive one: kernels 1, 2, 3, 5; strides 1, 2 (two loads and a
 * permute) and 3 (a gather); pads 0 to 3; 1 to 4 channels (and 6: 3x3's one-channel groups, 5x5's
 * groups of 9, 4 and 1 taps); filters 1, 3, 8, 11, 17 (blocks of 8 and of 2, and the one left);
 * output rows of 1 to 40 values (one vector, two, a third chunk, partial masks of every kind);
 * 1 to 3 samples. Same tolerance as im2col's. */
START_TEST(test_direct_naive)
{
    static const char *args[] = {"32 3x3 pad 1", "3 3x3",          "8 5x5 pad 2",         "11 1x1",
                                 "17 3x3 stride 2", "5 3x3 stride 2 pad 1", "4 5x5 stride 2 pad 2", "3 3 stride 3 pad 1",
                                 "9 2x2 stride 2", "2 3x3 pad 3",   "8 3x3 pad 1",         "6 5x5 pad 1",
                                 "1 3x3 pad 2",    "16 3x3 stride 1 pad 1"};
    static const dpt_shape in[] = {{1, 28, 28}, {2, 9, 7},   {3, 13, 10}, {4, 5, 3},   {1, 37, 35}, {2, 9, 7},
                                   {3, 11, 13}, {1, 7, 4},   {4, 6, 6},   {1, 2, 3},   {4, 17, 40}, {6, 8, 19},
                                   {2, 1, 1},   {2, 33, 33}};
    static const int n[] = {2, 3, 2, 1, 2, 2, 1, 2, 3, 2, 1, 2, 3, 1};
    conv_algorithm = DPT_CONV_DIRECT;
    for (size_t t = 0; t < sizeof args / sizeof args[0]; t++)
        check_conv_naive(args[t], in[t], n[t]);
    conv_algorithm = DPT_CONV_AUTO;
}
END_TEST

/* Winograd F(2x2,3x3) against the naive convolution: pads 0 to 3 (tiles wholly in the padding),
 * odd sizes (partial tiles) and even ones, output rows of 8 to 16 values (written and read whole
 * but in the last tile row) and of up to 49 (several vectors), input rows of 1 to 49 values (the
 * split into even and odd columns goes 32 at a time: rows of 16, 17, 32, 33, 34 and 49 values,
 * pads of each parity), 1 to 8 channels, 1 to 4 samples; several chunks of
 * samples (the 20x20 output has 100 tiles, 3 samples a chunk) and one sample a chunk (the 34x34).
 * The tolerance is the one im2col meets, 1e-4 of (1 + |y|): Winograd's transforms only add and
 * halve values of the kernel's size and the data's, so fp32 stays within a few ulps of the double
 * sums on these O(1) values. */
START_TEST(test_winograd_naive)
{
    static const char *args[] = {"4 3x3 pad 1", "3 3x3", "2 3x3 pad 2", "5 3x3 pad 1", "1 3x3",
                                 "3 3x3 pad 1", "2 3x3 pad 1", "4 3x3 pad 2", "3 3x3 pad 1", "2 3x3 pad 3",
                                 "3 3x3 pad 1", "2 3x3", "2 3x3 pad 2", "3 3x3", "2 3x3 pad 3", "17 3x3 pad 1",
                                 "3 3x3 pad 2"};
    static const dpt_shape in[] = {{3, 8, 8}, {2, 9, 7}, {1, 5, 4}, {5, 7, 10}, {4, 3, 3},
                                   {2, 20, 20}, {1, 34, 34}, {5, 1, 2}, {8, 14, 14}, {1, 2, 3},
                                   {2, 11, 11}, {3, 18, 10}, {2, 4, 33}, {1, 5, 32}, {1, 3, 17}, {2, 3, 49},
                                   {2, 6, 16}};
    static const int n[] = {3, 2, 1, 2, 3, 4, 2, 3, 2, 2, 2, 3, 2, 2, 2, 2, 2};
    conv_algorithm = DPT_CONV_WINOGRAD;
    for (size_t t = 0; t < sizeof args / sizeof args[0]; t++)
        check_conv_naive(args[t], in[t], n[t]);
    conv_algorithm = DPT_CONV_AUTO;
}
END_TEST

START_TEST(test_winograd_fd)
{
    conv_algorithm = DPT_CONV_WINOGRAD;
    check_fd("conv", "3 3x3", (dpt_shape){1, 5, 5}, 2, 0);
    check_fd("conv", "2 3x3 pad 1", (dpt_shape){2, 5, 4}, 3, 0);
    check_fd("conv", "2 3x3 pad 2", (dpt_shape){3, 3, 4}, 1, 0);
    conv_algorithm = DPT_CONV_AUTO;
}
END_TEST

/* The algorithm auto resolves to for conv arg on input in as layer `index` of a model. */
static int auto_choice(const char *arg, dpt_shape in, int index)
{
    dpt_layer l = {.ops = dpt_layer_find("conv"), .index = index, .in_shape = in, .in = dpt_shape_size(in),
                   .algorithm = DPT_CONV_AUTO};
    dpt_err e = {{0}, 0};
    ck_assert_msg(l.ops->configure(&l, arg, &e) == DPT_OK, "%s: %s", arg, e.msg);
    return l.algorithm;
}

START_TEST(test_conv_algorithm)
{
    /* auto: direct for a first layer of up to 3 input channels and stride 1 or 2, any kernel;
     * Winograd for 3x3 stride 1 from 8 input channels on; im2col otherwise. */
    static const char *args[] = {"4 3x3 pad 1",  "4 3x3 pad 1", "4 3x3 stride 2", "4 5x5 pad 2", "4 3x3",
                                 "32 3x3 pad 1", "32 3x3 pad 1", "4 5x5 pad 2", "4 1x1", "4 3x3 stride 2",
                                 "4 3x3 pad 1",  "4 3x3 stride 3", "4 3x3 pad 1"};
    static const int channels[] = {8, 7, 8, 8, 32, 1, 1, 3, 2, 1, 4, 1, 8};
    static const int index[] = {1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0};
    static const dpt_conv_algorithm want[] = {DPT_CONV_WINOGRAD, DPT_CONV_IM2COL, DPT_CONV_IM2COL, DPT_CONV_IM2COL,
                                              DPT_CONV_WINOGRAD, DPT_CONV_DIRECT, DPT_CONV_IM2COL, DPT_CONV_DIRECT,
                                              DPT_CONV_DIRECT,   DPT_CONV_DIRECT, DPT_CONV_IM2COL, DPT_CONV_IM2COL,
                                              DPT_CONV_WINOGRAD};
    for (int t = 0; t < 13; t++) {
        int got = auto_choice(args[t], (dpt_shape){channels[t], 9, 9}, index[t]);
        /* a build without the direct convolution's vector code leaves its layers to im2col */
        dpt_conv_algorithm w = want[t] == DPT_CONV_DIRECT && !dpt_direct_vectorized() ? DPT_CONV_IM2COL : want[t];
        ck_assert_msg(got == (int)w, "%s on %d channels, layer %d: %s", args[t], channels[t], index[t],
                      dpt_conv_algorithm_name(got));
    }
    /* im2col when asked, Winograd too; Winograd where it cannot serve is an error. */
    fixture f;
    conv_algorithm = DPT_CONV_IM2COL;
    setup(&f, "conv", "4 3x3 pad 1", (dpt_shape){16, 9, 9}, 1, 0);
    ck_assert_int_eq(f.l.algorithm, DPT_CONV_IM2COL);
    teardown(&f);
    conv_algorithm = DPT_CONV_WINOGRAD;
    setup(&f, "conv", "4 3x3", (dpt_shape){1, 9, 9}, 1, 0);
    ck_assert_int_eq(f.l.algorithm, DPT_CONV_WINOGRAD);
    teardown(&f);
    /* direct serves any convolution when asked, however many channels or whatever the stride */
    conv_algorithm = DPT_CONV_DIRECT;
    setup(&f, "conv", "4 3x3 stride 2", (dpt_shape){16, 9, 9}, 1, 0);
    ck_assert_int_eq(f.l.algorithm, DPT_CONV_DIRECT);
    teardown(&f);
    conv_algorithm = DPT_CONV_AUTO;
    const char *bad[] = {"4 3x3 stride 2", "4 5x5", "4 1x1"};
    for (int t = 0; t < 3; t++) {
        dpt_layer l = {.ops = dpt_layer_find("conv"), .in_shape = {16, 9, 9}, .in = 16 * 81,
                       .algorithm = DPT_CONV_WINOGRAD};
        dpt_err e = {{0}, 0};
        ck_assert_int_eq(l.ops->configure(&l, bad[t], &e), DPT_FAIL);
        ck_assert_msg(strstr(e.msg, "model.conv_algorithm = winograd needs a 3x3 kernel of stride 1"), "%s", e.msg);
    }
    ck_assert_str_eq(dpt_conv_algorithm_name(DPT_CONV_WINOGRAD), "winograd");
    ck_assert_str_eq(dpt_conv_algorithm_name(DPT_CONV_DIRECT), "direct");
    ck_assert_ptr_null(dpt_conv_algorithm_name(4));
}
END_TEST

/* im2col as its definition reads, and col2im as its adjoint, in double. */
static void naive_im2col(float *cols, double *dx, const float *x, const float *c, dpt_conv_geom g)
{
    size_t ohw = (size_t)g.oh * g.ow;
    memset(dx, 0, sizeof(double) * (size_t)g.c * g.h * g.w);
    for (int ch = 0; ch < g.c; ch++)
        for (int ki = 0; ki < g.k; ki++)
            for (int kj = 0; kj < g.k; kj++)
                for (int a = 0; a < g.oh; a++)
                    for (int b = 0; b < g.ow; b++) {
                        size_t r = ((size_t)(ch * g.k + ki) * g.k + kj) * ohw + (size_t)a * g.ow + b;
                        int h = a * g.s - g.p + ki, w = b * g.s - g.p + kj;
                        int in = h >= 0 && h < g.h && w >= 0 && w < g.w;
                        size_t xi = ((size_t)ch * g.h + (in ? h : 0)) * g.w + (in ? w : 0);
                        cols[r] = in ? x[xi] : 0.0f;
                        if (in)
                            dx[xi] += c[r];
                    }
}

/* col2im in float, the additions onto each input value in kernel order (ki, then kj) from +0. */
static void ordered_col2im(float *dx, const float *c, dpt_conv_geom g)
{
    size_t ohw = (size_t)g.oh * g.ow;
    for (int ch = 0; ch < g.c; ch++)
        for (int h = 0; h < g.h; h++)
            for (int w = 0; w < g.w; w++) {
                float v = 0.0f;
                for (int ki = 0; ki < g.k; ki++)
                    for (int kj = 0; kj < g.k; kj++)
                        if ((h + g.p - ki) % g.s == 0 && (w + g.p - kj) % g.s == 0) {
                            int a = (h + g.p - ki) / g.s, b = (w + g.p - kj) / g.s;
                            if (h + g.p - ki >= 0 && a < g.oh && w + g.p - kj >= 0 && b < g.ow)
                                v += c[((size_t)(ch * g.k + ki) * g.k + kj) * ohw + (size_t)a * g.ow + b];
                        }
                dx[((size_t)ch * g.h + h) * g.w + w] = v;
            }
}

START_TEST(test_im2col_naive)
{
    /* (c, h, w, k, s, p): strides 1-3, padding 0 to beyond the kernel, odd and even sizes */
    static const int geo[][6] = {{1, 28, 28, 3, 1, 1}, {2, 5, 7, 3, 1, 0}, {2, 4, 5, 3, 1, 2}, {1, 2, 3, 3, 1, 3},
                                 {3, 9, 7, 3, 2, 1},   {2, 9, 7, 3, 2, 0}, {1, 13, 10, 5, 3, 2}, {2, 6, 6, 4, 2, 3},
                                 {1, 1, 1, 1, 1, 0},   {1, 3, 4, 1, 2, 1},  /* and "same" ones, ow = w at stride 1: */
                                 {2, 5, 7, 3, 1, 1},   {2, 6, 5, 5, 1, 2}, {1, 1, 3, 3, 1, 1}, {3, 2, 4, 5, 1, 2},
                                 {32, 14, 14, 3, 1, 1}, {1, 9, 300, 3, 1, 1}, {1, 2, 1100, 3, 1, 1}, {1, 9, 2, 7, 1, 3}};
    for (size_t t = 0; t < sizeof geo / sizeof geo[0]; t++) {
        const int *q = geo[t];
        dpt_conv_geom g = {q[0], q[1], q[2], q[3], q[4], q[5], 0, 0};
        g.oh = (g.h + 2 * g.p - g.k) / g.s + 1, g.ow = (g.w + 2 * g.p - g.k) / g.s + 1;
        size_t nin = (size_t)g.c * g.h * g.w, ncol = (size_t)g.c * g.k * g.k * g.oh * g.ow;
        float *x = malloc(sizeof(float) * nin), *cols = malloc(sizeof(float) * ncol);
        float *want = malloc(sizeof(float) * ncol), *c = malloc(sizeof(float) * ncol);
        float *dx = malloc(sizeof(float) * nin);
        double *wdx = malloc(sizeof(double) * nin);
        fill_input(x, nin, 0);
        for (size_t i = 0; i < ncol; i++)
            c[i] = i % 11 ? (float)dpt_rng_normal(8, 0, i) : -0.0f, cols[i] = NAN; /* every value must be written */
        dpt_im2col(cols, x, g);
        naive_im2col(want, wdx, x, c, g);
        ck_assert_msg(memcmp(cols, want, sizeof(float) * ncol) == 0, "im2col differs on geometry %zu", t);
        for (size_t i = 0; i < nin; i++)
            dx[i] = NAN;
        dpt_col2im(dx, c, g);
        expect_near(dx, wdx, nin, "col2im");
        /* and bit for bit in float, each value summed from +0 in kernel order (ki, then kj) */
        float *fdx = malloc(sizeof(float) * nin);
        ordered_col2im(fdx, c, g);
        ck_assert_msg(memcmp(dx, fdx, sizeof(float) * nin) == 0, "col2im's order of additions on geometry %zu", t);
        free(fdx);
        free(x), free(cols), free(want), free(c), free(dx), free(wdx);
    }
}
END_TEST

/* torch's max pool as a sequential scan of each window in row-major order: a later value wins if
 * greater, or if it is a NaN; the gradient goes to the winner. */
static void naive_maxpool(float *y, float *dx, const float *x, const float *dy, const dpt_layer *l, int n)
{
    int h = l->in_shape.h, w = l->in_shape.w, k = l->kernel, s = l->stride;
    int oh = l->out_shape.h, ow = l->out_shape.w;
    memset(dx, 0, sizeof(float) * (size_t)n * l->in);
    for (int c = 0; c < n * l->in_shape.c; c++)
        for (int i = 0; i < oh; i++)
            for (int j = 0; j < ow; j++) {
                size_t at = ((size_t)c * h + (size_t)i * s) * w + (size_t)j * s;
                for (int a = 0; a < k; a++)
                    for (int b = 0; b < k; b++) {
                        size_t p = ((size_t)c * h + (size_t)(i * s + a)) * w + (size_t)(j * s + b);
                        if (x[p] > x[at] || isnan(x[p]))
                            at = p;
                    }
                size_t o = ((size_t)c * oh + i) * ow + j;
                y[o] = x[at];
                dx[at] += dy[o];
            }
}

START_TEST(test_maxpool_naive)
{
    /* Values from {0, 1, 2} and a few NaNs of either sign: ties everywhere, as after a ReLU; 2x2
     * windows of stride 2 (their own path: rows of 1 to 40 windows, one or more vectors and a
     * tail, two rows a vector up to 8 windows with an odd last row alone, the reference CNN's
     * shapes) and other windows (the general one),
     * overlapping or apart. The same bits as the naive scan, every value of dx written (it starts
     * as NaN), and a -0 gradient arriving as +0, as the scatter into zeros gave. */
    static const char *args[] = {"2", "2", "2", "2", "2", "2", "2", "2 stride 1", "3", "3 stride 2", "2 stride 3",
                                 "3 stride 1"};
    static const dpt_shape in[] = {{3, 6, 8},   {1, 2, 2},  {2, 6, 34}, {1, 4, 80}, {2, 2, 16}, {32, 28, 28},
                                   {64, 14, 14}, {2, 5, 6}, {1, 6, 9},  {2, 7, 7},  {1, 8, 8},  {2, 4, 5}};
    for (size_t t = 0; t < sizeof args / sizeof args[0]; t++) {
        fixture f;
        setup(&f, "maxpool", args[t], in[t], 3, 0);
        size_t nin = (size_t)f.n * f.l.in, nout = (size_t)f.n * f.l.out;
        for (size_t i = 0; i < nin; i++) {
            uint64_t r = dpt_rng_below(9, t, i, 60);
            f.x[i] = r == 0 ? NAN : r == 1 ? -NAN : (float)(r % 3);
            f.dx[i] = NAN;
        }
        for (size_t i = 0; i < nout; i += 7)
            f.c[i] = -0.0f;
        float *y = malloc(sizeof(float) * nout), *dx = malloc(sizeof(float) * nin);
        f.l.ops->forward(&f.l, &f.ctx, f.y, f.x, f.n);
        f.l.ops->backward(&f.l, f.dx, f.c, f.x, f.y, f.n, 0);
        naive_maxpool(y, dx, f.x, f.c, &f.l, f.n);
        for (size_t i = 0; i < nout; i++)
            ck_assert_msg(memcmp(&f.y[i], &y[i], sizeof(float)) == 0, "maxpool %s on %dx%dx%d: y[%zu] %g, naive %g",
                          args[t], in[t].c, in[t].h, in[t].w, i, f.y[i], y[i]);
        for (size_t i = 0; i < nin; i++)
            ck_assert_msg(memcmp(&f.dx[i], &dx[i], sizeof(float)) == 0, "maxpool %s on %dx%dx%d: dx[%zu] %g, naive %g",
                          args[t], in[t].c, in[t].h, in[t].w, i, f.dx[i], dx[i]);
        free(y), free(dx);
        teardown(&f);
    }
}
END_TEST

START_TEST(test_conv_layout)
{
    /* torch's nn.Conv2d layout: weight [out][in][kh][kw], bias [out]; an output of oh x ow. */
    fixture f;
    setup(&f, "conv", "32 3x3 pad 1", (dpt_shape){1, 28, 28}, 1, 0);
    ck_assert_int_eq(f.l.nparam, 2);
    ck_assert_str_eq(f.l.param[0].name, "weight");
    ck_assert_int_eq(f.l.param[0].ndim, 4);
    ck_assert_int_eq(f.l.param[0].dims[0], 32);
    ck_assert_int_eq(f.l.param[0].dims[1], 1);
    ck_assert_int_eq(f.l.param[0].dims[3], 3);
    ck_assert(f.l.param[0].penalized && !f.l.param[1].penalized);
    ck_assert_uint_eq(f.l.nparams, 32 * 9 + 32);
    ck_assert_int_eq(f.l.out_shape.c, 32);
    ck_assert_int_eq(f.l.out_shape.h, 28);
    teardown(&f);
    setup(&f, "maxpool", "2", (dpt_shape){32, 28, 28}, 1, 0);
    ck_assert_int_eq(f.l.out_shape.h, 14);
    ck_assert_uint_eq(f.l.nparams, 0);
    /* 2x2 windows keep a byte per output for backward (where the maximum sat), not an int32. */
    ck_assert_uint_eq(f.l.ws_per_sample, (size_t)f.l.out);
    teardown(&f);
}
END_TEST

START_TEST(test_maxpool_first_maximum)
{
    /* Ties send the gradient to the first maximum in row-major order, as torch does. */
    fixture f;
    setup(&f, "maxpool", "2", (dpt_shape){1, 2, 4}, 1, 0);
    float x[8] = {1, 3, 5, 5, 3, 2, 5, 4}, y[2], dy[2] = {1, 10}, dx[8];
    f.l.ops->forward(&f.l, &f.ctx, y, x, 1);
    ck_assert_float_eq(y[0], 3);
    ck_assert_float_eq(y[1], 5);
    f.l.ops->backward(&f.l, dx, dy, x, y, 1, 0);
    float want[8] = {0, 1, 10, 0, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++)
        ck_assert_float_eq(dx[i], want[i]);
    /* A NaN in a window wins, wherever it sits (torch propagates it too). */
    x[1] = NAN, x[7] = NAN;
    f.l.ops->forward(&f.l, &f.ctx, y, x, 1);
    ck_assert(isnan(y[0]) && isnan(y[1]));
    teardown(&f);
}
END_TEST

START_TEST(test_dropout_masks)
{
    enum { D = 400 };
    fixture a, b;
    setup(&a, "dropout", "0.25", flat(D), 2, 0);
    setup(&b, "dropout", "0.25", flat(D), 3, 0);
    /* Sample 107 sits first in a and last in b (another rank's slice, another micro-batch). */
    a.ids[0] = 107, a.ids[1] = 3;
    b.ids[0] = 5, b.ids[1] = 6, b.ids[2] = 107;
    memcpy(b.x + 2 * D, a.x, sizeof(float) * D);
    a.l.ops->forward(&a.l, &a.ctx, a.y, a.x, 2);
    b.l.ops->forward(&b.l, &b.ctx, b.y, b.x, 3);
    ck_assert_int_eq(memcmp(a.y, b.y + 2 * D, sizeof(float) * D), 0);
    int zeros = 0;
    for (int i = 0; i < D; i++) {
        zeros += a.y[i] == 0.0f;
        ck_assert(a.y[i] == 0.0f || a.y[i] == a.x[i] * (1.0f / 0.75f));
    }
    ck_assert_msg(zeros > 70 && zeros < 130, "%d of %d dropped at p = 0.25", zeros, D);
    /* Another step, seed or sample draws another mask; evaluation is the identity. */
    float keep[D];
    memcpy(keep, a.y, sizeof keep);
    a.ctx.step = 10;
    a.l.ops->forward(&a.l, &a.ctx, a.y, a.x, 2);
    ck_assert_int_ne(memcmp(keep, a.y, sizeof keep), 0);
    ck_assert_int_ne(memcmp(a.y, a.y + D, sizeof keep), 0);
    a.ctx.train = 0;
    a.l.ops->forward(&a.l, &a.ctx, a.y, a.x, 2);
    ck_assert_int_eq(memcmp(a.y, a.x, sizeof(float) * 2 * D), 0);
    teardown(&a);
    teardown(&b);
}
END_TEST

static void expect_error(const char *kind, const char *arg, dpt_shape in, const char *part)
{
    dpt_layer l = {0};
    dpt_err e = {{0}, 0};
    l.ops = dpt_layer_find(kind);
    l.in_shape = in;
    l.in = dpt_shape_size(in);
    ck_assert_int_eq(l.ops->configure(&l, arg, &e), DPT_FAIL);
    ck_assert_msg(strstr(e.msg, part) != NULL, "%s '%s': '%s' lacks '%s'", kind, arg, e.msg, part);
}

START_TEST(test_configure_errors)
{
    expect_error("dense", "", flat(4), "dense needs");
    expect_error("dense", "-2", flat(4), "-2");
    expect_error("dense", "12x", flat(4), "12x");
    expect_error("relu", "5", flat(4), "no argument");
    expect_error("conv", "", (dpt_shape){1, 5, 5}, "conv needs");
    expect_error("conv", "8 3x5", (dpt_shape){1, 5, 5}, "square");
    expect_error("conv", "8 3x3 stride", (dpt_shape){1, 5, 5}, "conv needs");
    expect_error("conv", "8 3x3 pad -1", (dpt_shape){1, 5, 5}, "conv needs");
    expect_error("conv", "8 3x3 dilation 2", (dpt_shape){1, 5, 5}, "dilation");
    expect_error("conv", "8 7x7", (dpt_shape){1, 5, 5}, "larger than its input");
    expect_error("conv", "8 3x3 stride 2", (dpt_shape){1, 6, 6}, "not an integer");
    expect_error("maxpool", "3", (dpt_shape){1, 2, 2}, "larger than its input");
    expect_error("maxpool", "2", (dpt_shape){1, 7, 7}, "not an integer");
    expect_error("avgpool", "2 stride x", (dpt_shape){1, 4, 4}, "avgpool needs");
    expect_error("dropout", "1", flat(4), "0 <= P < 1");
    expect_error("dropout", "", flat(4), "dropout needs");
    expect_error("flatten", "2", flat(4), "no argument");
    ck_assert_ptr_null(dpt_layer_find("batchnorm"));
    ck_assert_ptr_eq(dpt_layer_find("tanh"), &dpt_layer_tanh);
    /* The kinds list comes from the registry, each kind with its syntax. */
    ck_assert_ptr_nonnull(strstr(dpt_layer_kinds(), "conv N KxK [stride S] [pad P]"));
    ck_assert_ptr_nonnull(strstr(dpt_layer_kinds(), "dropout P"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("layer");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_dense);
    tcase_add_test(tc, test_dense_on_image);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_relu_exact);
    tcase_add_test(tc, test_conv_fd);
    tcase_add_test(tc, test_pool_fd);
    tcase_add_test(tc, test_dropout_fd);
    tcase_add_test(tc, test_conv_naive);
    tcase_add_test(tc, test_winograd_naive);
    tcase_add_test(tc, test_winograd_fd);
    tcase_add_test(tc, test_direct_naive);
    tcase_add_test(tc, test_conv_algorithm);
    tcase_add_test(tc, test_conv_layout);
    tcase_add_test(tc, test_maxpool_first_maximum);
    tcase_add_test(tc, test_maxpool_naive);
    tcase_add_test(tc, test_im2col_naive);
    tcase_add_test(tc, test_dropout_masks);
    tcase_add_test(tc, test_accumulates);
    tcase_add_test(tc, test_sigmoid_extremes);
    tcase_add_test(tc, test_configure_errors);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
