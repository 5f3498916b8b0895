/* Unit tests of the optim module: every optimizer and option against an
 * independent double-precision transcription of torch.optim's documented
 * pseudo-code on a small quadratic whose gradient feeds back from the
 * parameters; sub-range updates; resume from (state, t); L1/L2 on a sparse
 * regression; closed-form schedules; clipping; hyper-parameter errors. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/optim.h"
#include "dptrain/rng.h"

#include "support.h"

enum { N = 5, STEPS = 5 };

/* g = A theta - b with A symmetric positive definite: a fixed quadratic. */
static const double A[N][N] = {
    {2.0, 0.3, -0.2, 0.1, 0.0},
    {0.3, 1.5, 0.4, 0.0, -0.1},
    {-0.2, 0.4, 1.2, 0.2, 0.3},
    {0.1, 0.0, 0.2, 0.8, -0.25},
    {0.0, -0.1, 0.3, -0.25, 3.0},
};
static const double B[N] = {1.0, -0.5, 0.25, 2.0, -1.5};
static const double THETA0[N] = {0.5, -1.0, 2.0, 0.0, 1.5};

static void quad_grad(double *g, const double *th)
{
    for (int i = 0; i < N; i++) {
        g[i] = -B[i];
        for (int j = 0; j < N; j++)
            g[i] += A[i][j] * th[j];
    }
}

/* The step's learning rate varies so the test sees that update uses its lr argument. */
static double step_lr(double base, int t)
{
    return base * (1.0 - 0.1 * (t - 1));
}

/* ---- reference: torch.optim's pseudo-code, in double ---- */
typedef struct {
    dpt_optim_config c;
    int t;
    double buf[N], sum[N], v[N], gave[N], m[N], vmax[N];
} ref_opt;

static void ref_init(ref_opt *r, const dpt_optim_config *c)
{
    memset(r, 0, sizeof *r);
    r->c = *c;
    for (int i = 0; i < N; i++)
        r->sum[i] = c->initial_accumulator_value;
}

static void ref_step(ref_opt *r, double *th, const double *grad, double lr)
{
    const dpt_optim_config *c = &r->c;
    const double wd = c->weight_decay, mu = c->momentum;
    const int t = ++r->t;
    for (int i = 0; i < N; i++) {
        double g = grad[i];
        switch (c->kind) {
        case DPT_OPT_GD:
            th[i] = th[i] - lr * (g + wd * th[i]);
            break;
        case DPT_OPT_SGD:
            if (wd != 0)
                g = g + wd * th[i];
            if (mu != 0) {
                if (t > 1)
                    r->buf[i] = mu * r->buf[i] + (1 - c->dampening) * g;
                else
                    r->buf[i] = g;
                if (c->nesterov)
                    g = g + mu * r->buf[i];
                else
                    g = r->buf[i];
            }
            th[i] = th[i] - lr * g;
            break;
        case DPT_OPT_ADAGRAD: {
            double clr = lr / (1 + (t - 1) * c->lr_decay);
            if (wd != 0)
                g = g + wd * th[i];
            r->sum[i] = r->sum[i] + g * g;
            th[i] = th[i] - clr * g / (sqrt(r->sum[i]) + c->eps);
            break;
        }
        case DPT_OPT_RMSPROP: {
            if (wd != 0)
                g = g + wd * th[i];
            r->v[i] = c->alpha * r->v[i] + (1 - c->alpha) * g * g;
            double vt = r->v[i];
            if (c->centered) {
                r->gave[i] = r->gave[i] * c->alpha + (1 - c->alpha) * g;
                vt = vt - r->gave[i] * r->gave[i];
            }
            if (mu > 0) {
                r->buf[i] = mu * r->buf[i] + g / (sqrt(vt) + c->eps);
                th[i] = th[i] - lr * r->buf[i];
            } else {
                th[i] = th[i] - lr * g / (sqrt(vt) + c->eps);
            }
            break;
        }
        case DPT_OPT_ADAM:
        case DPT_OPT_ADAMW: {
            if (c->kind == DPT_OPT_ADAMW)
                th[i] = th[i] - lr * wd * th[i];
            else if (wd != 0)
                g = g + wd * th[i];
            r->m[i] = c->beta1 * r->m[i] + (1 - c->beta1) * g;
            r->v[i] = c->beta2 * r->v[i] + (1 - c->beta2) * g * g;
            double mhat = r->m[i] / (1 - pow(c->beta1, t)), vhat;
            if (c->amsgrad) {
                r->vmax[i] = fmax(r->vmax[i], r->v[i]);
                vhat = r->vmax[i] / (1 - pow(c->beta2, t));
            } else {
                vhat = r->v[i] / (1 - pow(c->beta2, t));
            }
            th[i] = th[i] - lr * mhat / (sqrt(vhat) + c->eps);
            break;
        }
        }
    }
}

typedef struct {
    const char *name;
    dpt_optim_kind kind;
    int base;   /* index of the case this option is compared with (-1: none) */
    double lr, wd, momentum, dampening, alpha, lr_decay, acc, beta2;
    int nesterov, centered, amsgrad;
} opt_case;

/* fields left 0 keep the kind's default (a negative lr, wd etc. means "set to 0") */
static const opt_case CASES[] = {
    /* 0 */ {"gd", DPT_OPT_GD, -1, 0.1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 1 */ {"gd wd", DPT_OPT_GD, 0, 0.1, 0.2, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 2 */ {"sgd", DPT_OPT_SGD, 0, 0.2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 3 */ {"sgd momentum", DPT_OPT_SGD, 2, 0.1, 0, 0.9, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 4 */ {"sgd dampening", DPT_OPT_SGD, 3, 0.1, 0, 0.9, 0.3, 0, 0, 0, 0, 0, 0, 0},
    /* 5 */ {"sgd nesterov", DPT_OPT_SGD, 3, 0.1, 0, 0.9, 0, 0, 0, 0, 0, 1, 0, 0},
    /* 6 */ {"sgd wd", DPT_OPT_SGD, 3, 0.1, 0.3, 0.9, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 7 */ {"adagrad", DPT_OPT_ADAGRAD, -1, 0.3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 8 */ {"adagrad lr_decay", DPT_OPT_ADAGRAD, 7, 0.3, 0, 0, 0, 0, 0.2, 0, 0, 0, 0, 0},
    /* 9 */ {"adagrad acc", DPT_OPT_ADAGRAD, 7, 0.3, 0, 0, 0, 0, 0, 0.7, 0, 0, 0, 0},
    /* 10 */ {"adagrad wd", DPT_OPT_ADAGRAD, 7, 0.3, 0.4, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 11 */ {"rmsprop", DPT_OPT_RMSPROP, -1, 0.01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 12 */ {"rmsprop alpha", DPT_OPT_RMSPROP, 11, 0.01, 0, 0, 0, 0.8, 0, 0, 0, 0, 0, 0},
    /* 13 */ {"rmsprop momentum", DPT_OPT_RMSPROP, 11, 0.01, 0, 0.7, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 14 */ {"rmsprop centered", DPT_OPT_RMSPROP, 11, 0.01, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0},
    /* 15 */ {"rmsprop centered momentum", DPT_OPT_RMSPROP, 14, 0.01, 0, 0.7, 0, 0, 0, 0, 0, 0, 1, 0},
    /* 16 */ {"rmsprop wd", DPT_OPT_RMSPROP, 11, 0.01, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 17 */ {"adam", DPT_OPT_ADAM, -1, 0.05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 18 */ {"adam wd", DPT_OPT_ADAM, 17, 0.05, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 19 */ {"adam beta2", DPT_OPT_ADAM, 17, 0.05, 0, 0, 0, 0, 0, 0, 0.6, 0, 0, 0},
    /* 20 */ {"adam amsgrad", DPT_OPT_ADAM, 19, 0.05, 0, 0, 0, 0, 0, 0, 0.6, 0, 0, 1},
    /* 21 */ {"adamw", DPT_OPT_ADAMW, 17, 0.05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 22 */ {"adamw wd", DPT_OPT_ADAMW, 21, 0.05, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    /* 23 */ {"adamw amsgrad", DPT_OPT_ADAMW, 22, 0.05, 0.5, 0, 0, 0, 0, 0, 0.6, 0, 0, 1},
};
enum { NCASES = (int)(sizeof CASES / sizeof CASES[0]) };

static dpt_optim_config case_config(const opt_case *k)
{
    dpt_optim_config c;
    dpt_optim_defaults(&c, k->kind);
    c.lr = k->lr;
    if (k->wd)
        c.weight_decay = k->wd;
    c.momentum = k->momentum;
    c.dampening = k->dampening;
    if (k->alpha)
        c.alpha = k->alpha;
    c.lr_decay = k->lr_decay;
    c.initial_accumulator_value = k->acc;
    if (k->beta2)
        c.beta2 = k->beta2;
    c.nesterov = k->nesterov;
    c.centered = k->centered;
    c.amsgrad = k->amsgrad;
    return c;
}

static double final_theta[NCASES][N];

/* 1e-6 relative; the absolute 1e-7 (about one float ulp at the parameters' scale of 1)
 * covers entries that pass near zero, where float rounding of O(1) terms dominates. */
static int close_enough(double got, double want)
{
    return fabs(got - want) <= 1e-6 * fabs(want) + 1e-7;
}

START_TEST(test_matches_reference)
{
    const opt_case *k = &CASES[_i];
    dpt_optim_config c = case_config(k);
    dpt_optim o;
    dpt_err e;
    memset(&e, 0, sizeof e);
    ck_assert_msg(dpt_optim_init(&o, &c, N, &e) == DPT_OK, "%s: %s", k->name, e.msg);
    ref_opt r;
    ref_init(&r, &c);
    float p[N], gf[N];
    double th[N], g[N], pd[N];
    for (int i = 0; i < N; i++) {
        p[i] = (float)THETA0[i];
        th[i] = THETA0[i];
    }
    for (int t = 1; t <= STEPS; t++) {
        for (int i = 0; i < N; i++)
            pd[i] = p[i];
        quad_grad(g, pd);
        for (int i = 0; i < N; i++)
            gf[i] = (float)g[i];
        const float g_before = gf[0];
        dpt_optim_begin_step(&o);
        ck_assert_int_eq(o.t, t);
        dpt_optim_update(&o, p, gf, step_lr(c.lr, t), 0, N);
        ck_assert(gf[0] == g_before); /* grads untouched */
        quad_grad(g, th);
        ref_step(&r, th, g, step_lr(c.lr, t));
        for (int i = 0; i < N; i++)
            ck_assert_msg(close_enough(p[i], th[i]), "%s step %d theta[%d] = %.9g, reference %.9g",
                          k->name, t, i, (double)p[i], th[i]);
    }
    /* the trajectory really moved */
    double moved = 0;
    for (int i = 0; i < N; i++)
        moved += fabs(th[i] - THETA0[i]);
    ck_assert_msg(moved > 1e-2, "%s: parameters barely moved (%g)", k->name, moved);
    dpt_optim_free(&o);
    dpt_optim_free(&o); /* idempotent on a zeroed optimizer */
}
END_TEST

/* Each option must change the trajectory against its base case, else its test proves nothing. */
START_TEST(test_options_matter)
{
    for (int c = 0; c < NCASES; c++) {
        dpt_optim_config cfg = case_config(&CASES[c]);
        ref_opt r;
        ref_init(&r, &cfg);
        double th[N], g[N];
        memcpy(th, THETA0, sizeof th);
        for (int t = 1; t <= STEPS; t++) {
            quad_grad(g, th);
            ref_step(&r, th, g, step_lr(cfg.lr, t));
        }
        memcpy(final_theta[c], th, sizeof th);
    }
    for (int c = 0; c < NCASES; c++) {
        int b = CASES[c].base;
        if (b < 0)
            continue;
        double d = 0;
        for (int i = 0; i < N; i++)
            d = fmax(d, fabs(final_theta[c][i] - final_theta[b][i]));
        ck_assert_msg(d > 1e-4, "option of '%s' does not change the trajectory against '%s' (%g)",
                      CASES[c].name, CASES[b].name, d);
    }
}
END_TEST

START_TEST(test_state_names)
{
    static const struct {
        int c;
        const char *names[3];
    } want[] = {
        {0, {NULL}},
        {2, {NULL}},
        {3, {"momentum_buffer"}},
        {7, {"sum"}},
        {11, {"square_avg"}},
        {13, {"square_avg", "momentum_buffer"}},
        {14, {"square_avg", "grad_avg"}},
        {15, {"square_avg", "momentum_buffer", "grad_avg"}},
        {17, {"exp_avg", "exp_avg_sq"}},
        {20, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}},
        {21, {"exp_avg", "exp_avg_sq"}},
    };
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        dpt_optim_config c = case_config(&CASES[want[w].c]);
        dpt_optim o;
        dpt_err e;
        ck_assert(dpt_optim_init(&o, &c, 7, &e) == DPT_OK);
        int n = 0;
        while (n < 3 && want[w].names[n])
            n++;
        ck_assert_msg(o.nstate == n, "%s: nstate %d, want %d", CASES[want[w].c].name, o.nstate, n);
        for (int i = 0; i < n; i++) {
            ck_assert_str_eq(o.state_name[i], want[w].names[i]);
            float init = strcmp(want[w].names[i], "sum") == 0 ? (float)c.initial_accumulator_value : 0;
            for (int j = 0; j < 7; j++)
                ck_assert(o.state[i][j] == init);
        }
        dpt_optim_free(&o);
    }
    /* adagrad's accumulator starts at initial_accumulator_value */
    dpt_optim_config c = case_config(&CASES[9]);
    dpt_optim o;
    ck_assert(dpt_optim_init(&o, &c, 3, NULL) == DPT_OK);
    ck_assert(o.state[0][2] == 0.7f);
    dpt_optim_free(&o);
}
END_TEST

/* Updating [lo, hi) changes exactly those entries, as the full update would. */
START_TEST(test_subrange)
{
    enum { M = 12, LO = 3, HI = 8 };
    const opt_case *k = &CASES[_i];
    dpt_optim_config c = case_config(k);
    dpt_optim part, full;
    ck_assert(dpt_optim_init(&part, &c, M, NULL) == DPT_OK);
    ck_assert(dpt_optim_init(&full, &c, M, NULL) == DPT_OK);
    float *pp = malloc(M * sizeof *pp), *pf = malloc(M * sizeof *pf), *g = malloc(M * sizeof *g);
    float p0[M], s0[DPT_OPTIM_MAX_STATE][M];
    for (int i = 0; i < M; i++)
        pp[i] = pf[i] = p0[i] = (float)dpt_rng_normal(7, 1, (uint64_t)i);
    for (int s = 0; s < part.nstate; s++)
        memcpy(s0[s], part.state[s], sizeof s0[s]);
    for (int t = 1; t <= 3; t++) {
        for (int i = 0; i < M; i++)
            g[i] = (float)dpt_rng_normal(7, 2, (uint64_t)(t * M + i));
        dpt_optim_begin_step(&part);
        dpt_optim_begin_step(&full);
        dpt_optim_update(&part, pp, g, c.lr, LO, HI);
        dpt_optim_update(&full, pf, g, c.lr, 0, M);
    }
    for (int i = 0; i < M; i++) {
        if (i >= LO && i < HI) {
            ck_assert_msg(pp[i] == pf[i] && pp[i] != p0[i], "%s: entry %d", k->name, i);
            for (int s = 0; s < part.nstate; s++)
                ck_assert(part.state[s][i] == full.state[s][i]);
        } else {
            ck_assert_msg(pp[i] == p0[i], "%s: entry %d outside the range changed", k->name, i);
            for (int s = 0; s < part.nstate; s++)
                ck_assert_msg(part.state[s][i] == s0[s][i], "%s: state %s[%d] changed", k->name,
                              part.state_name[s], i);
        }
    }
    /* hi past n is clamped (the sanitizer build would catch a read past the buffer) */
    dpt_optim_begin_step(&part);
    dpt_optim_update(&part, pp, g, c.lr, HI, M + 5);
    dpt_optim_update(&part, pp, g, c.lr, 5, 5); /* empty */
    free(pp);
    free(pf);
    free(g);
    dpt_optim_free(&part);
    dpt_optim_free(&full);
}
END_TEST

/* (state buffers, t) is the whole state: restoring them into a fresh optimizer resumes bitwise. */
START_TEST(test_resume)
{
    const opt_case *k = &CASES[_i];
    dpt_optim_config c = case_config(k);
    dpt_optim a, b;
    ck_assert(dpt_optim_init(&a, &c, N, NULL) == DPT_OK);
    float pa[N], pb[N], g[N];
    for (int i = 0; i < N; i++)
        pa[i] = (float)THETA0[i];
    float saved_p[N];
    for (int t = 1; t <= 6; t++) {
        if (t == 3) { /* "checkpoint" after two steps into a brand-new optimizer */
            ck_assert(dpt_optim_init(&b, &c, N, NULL) == DPT_OK);
            b.t = a.t;
            for (int s = 0; s < a.nstate; s++)
                memcpy(b.state[s], a.state[s], N * sizeof(float));
            memcpy(saved_p, pa, sizeof pa);
        }
        for (int i = 0; i < N; i++)
            g[i] = (float)dpt_rng_normal(11, 5, (uint64_t)(t * N + i));
        dpt_optim_begin_step(&a);
        dpt_optim_update(&a, pa, g, c.lr, 0, N);
    }
    memcpy(pb, saved_p, sizeof pb);
    for (int t = 3; t <= 6; t++) {
        for (int i = 0; i < N; i++)
            g[i] = (float)dpt_rng_normal(11, 5, (uint64_t)(t * N + i));
        dpt_optim_begin_step(&b);
        dpt_optim_update(&b, pb, g, c.lr, 0, N);
    }
    for (int i = 0; i < N; i++)
        ck_assert_msg(pa[i] == pb[i], "%s: resumed run differs at %d", k->name, i);
    dpt_optim_free(&a);
    dpt_optim_free(&b);
}
END_TEST

START_TEST(test_defaults)
{
    dpt_optim_config c;
    dpt_optim_defaults(&c, DPT_OPT_ADAM);
    ck_assert(c.lr == 1e-3 && c.beta1 == 0.9 && c.beta2 == 0.999 && c.eps == 1e-8 &&
              c.weight_decay == 0 && !c.amsgrad);
    dpt_optim_defaults(&c, DPT_OPT_ADAMW);
    ck_assert(c.lr == 1e-3 && c.weight_decay == 1e-2 && c.kind == DPT_OPT_ADAMW);
    dpt_optim_defaults(&c, DPT_OPT_RMSPROP);
    ck_assert(c.lr == 1e-2 && c.alpha == 0.99 && c.eps == 1e-8 && c.momentum == 0 && !c.centered);
    dpt_optim_defaults(&c, DPT_OPT_ADAGRAD);
    ck_assert(c.lr == 1e-2 && c.eps == 1e-10 && c.lr_decay == 0 && c.initial_accumulator_value == 0);
    dpt_optim_defaults(&c, DPT_OPT_SGD);
    ck_assert(c.lr == 1e-2 && c.momentum == 0 && c.dampening == 0 && !c.nesterov);
    dpt_optim_defaults(&c, DPT_OPT_GD);
    ck_assert(c.lr == 1e-2 && c.weight_decay == 0);
    for (int k = DPT_OPT_GD; k <= DPT_OPT_ADAMW; k++) {
        dpt_optim_defaults(&c, (dpt_optim_kind)k);
        dpt_err e;
        ck_assert_msg(dpt_optim_check(&c, &e) == DPT_OK, "defaults of kind %d rejected", k);
    }
}
END_TEST

START_TEST(test_kind_names)
{
    static const char *names[] = {"gd", "sgd", "adagrad", "rmsprop", "adam", "adamw"};
    for (int i = 0; i < 6; i++) {
        dpt_optim_kind k = DPT_OPT_GD;
        ck_assert(dpt_optim_kind_parse(&k, names[i]) == DPT_OK);
        ck_assert_int_eq(k, i);
        ck_assert_str_eq(dpt_optim_kind_name(k), names[i]);
    }
    dpt_optim_kind k = DPT_OPT_SGD;
    ck_assert(dpt_optim_kind_parse(&k, "Adam") == DPT_FAIL);
    ck_assert(dpt_optim_kind_parse(&k, "") == DPT_FAIL);
    ck_assert(dpt_optim_kind_parse(&k, "adamww") == DPT_FAIL);
    ck_assert(dpt_optim_kind_parse(&k, NULL) == DPT_FAIL);
    ck_assert_int_eq(k, DPT_OPT_SGD);
    static const char *snames[] = {"constant", "step", "exponential", "cosine"};
    for (int i = 0; i < 4; i++) {
        dpt_sched_kind s = DPT_SCHED_CONSTANT;
        ck_assert(dpt_sched_kind_parse(&s, snames[i]) == DPT_OK);
        ck_assert_int_eq(s, i);
        ck_assert_str_eq(dpt_sched_kind_name(s), snames[i]);
    }
    dpt_sched_kind s;
    ck_assert(dpt_sched_kind_parse(&s, "exp") == DPT_FAIL);
    ck_assert(dpt_sched_kind_parse(&s, "linear") == DPT_FAIL);
}
END_TEST

/* ---- bad hyper-parameters ---- */
typedef struct {
    const char *key; /* expected in the message */
    void (*set)(dpt_optim_config *);
} bad_case;

static void b_beta1(dpt_optim_config *c) { c->beta1 = 1.5; }
static void b_beta1n(dpt_optim_config *c) { c->beta1 = -0.1; }
static void b_beta2(dpt_optim_config *c) { c->beta2 = 1.0; }
static void b_lr(dpt_optim_config *c) { c->lr = -0.1; }
static void b_lrnan(dpt_optim_config *c) { c->lr = NAN; }
static void b_lrinf(dpt_optim_config *c) { c->lr = INFINITY; }
static void b_eps(dpt_optim_config *c) { c->eps = -1e-8; }
static void b_mom(dpt_optim_config *c) { c->momentum = -0.5; }
static void b_wd(dpt_optim_config *c) { c->weight_decay = -1; }
static void b_alpha(dpt_optim_config *c) { c->alpha = 1.5; }
static void b_damp(dpt_optim_config *c) { c->dampening = 2; }
static void b_lrdecay(dpt_optim_config *c) { c->lr_decay = -0.1; }
static void b_acc(dpt_optim_config *c) { c->initial_accumulator_value = -1; }
static void b_nest0(dpt_optim_config *c) { c->kind = DPT_OPT_SGD; c->nesterov = 1; c->momentum = 0; }
static void b_nestd(dpt_optim_config *c)
{
    c->kind = DPT_OPT_SGD;
    c->nesterov = 1;
    c->momentum = 0.9;
    c->dampening = 0.1;
}
static void b_kind(dpt_optim_config *c) { c->kind = (dpt_optim_kind)42; }

START_TEST(test_bad_hyper)
{
    static const bad_case bad[] = {
        {"optimizer.beta1", b_beta1},   {"optimizer.beta1", b_beta1n},
        {"optimizer.beta2", b_beta2},   {"optimizer.lr", b_lr},
        {"optimizer.lr", b_lrnan},      {"optimizer.lr", b_lrinf},
        {"optimizer.eps", b_eps},       {"optimizer.momentum", b_mom},
        {"optimizer.weight_decay", b_wd}, {"optimizer.alpha", b_alpha},
        {"optimizer.dampening", b_damp}, {"optimizer.lr_decay", b_lrdecay},
        {"optimizer.initial_accumulator_value", b_acc}, {"optimizer.nesterov", b_nest0},
        {"optimizer.nesterov", b_nestd}, {"optimizer.kind", b_kind},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dpt_optim_config c;
        dpt_optim_defaults(&c, DPT_OPT_ADAM);
        bad[i].set(&c);
        dpt_optim o;
        dpt_err e;
    memset(&e, 0, sizeof e);
        ck_assert_msg(dpt_optim_init(&o, &c, 4, &e) == DPT_FAIL, "case %zu accepted", i);
        ck_assert_msg(strstr(e.msg, bad[i].key) != NULL, "message '%s' does not name %s", e.msg,
                      bad[i].key);
        ck_assert(strchr(e.msg, '\n') == NULL);
        ck_assert(o.nstate == 0 && o.state[0] == NULL);
        dpt_optim_free(&o);
    }
    dpt_optim_config c;
    dpt_optim_defaults(&c, DPT_OPT_ADAM);
    c.beta1 = 1.5;
    dpt_err e;
    ck_assert(dpt_optim_check(&c, &e) == DPT_FAIL);
    ck_assert_str_eq(e.msg, "optimizer.beta1 = 1.5: must be in [0, 1)");
    ck_assert(dpt_optim_check(&c, NULL) == DPT_FAIL); /* a NULL err is allowed */
    /* nesterov is only checked where it is used; a valid nesterov passes */
    dpt_optim_defaults(&c, DPT_OPT_SGD);
    c.nesterov = 1;
    c.momentum = 0.9;
    ck_assert(dpt_optim_check(&c, &e) == DPT_OK);

    dpt_reg_config r = {0.1, -1};
    ck_assert(dpt_reg_check(&r, &e) == DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "regularization.l2"), "%s", e.msg);
    r = (dpt_reg_config){NAN, 0};
    ck_assert(dpt_reg_check(&r, &e) == DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "regularization.l1"), "%s", e.msg);
    r = (dpt_reg_config){0.1, 0.2};
    ck_assert(dpt_reg_check(&r, &e) == DPT_OK);

    dpt_sched_config s = {DPT_SCHED_STEP, 0, 0.5, 0, 0, 0, 0, 0, 0};
    ck_assert(dpt_sched_check(&s, &e) == DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "schedule.step_size"), "%s", e.msg);
    s = (dpt_sched_config){DPT_SCHED_EXP, 1, 0, 0, 0, 0, 0, 0, 0};
    ck_assert(dpt_sched_check(&s, &e) == DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "schedule.gamma"), "%s", e.msg);
    s = (dpt_sched_config){DPT_SCHED_COSINE, 1, 1, -1, 0, 0, 0, 0, 0};
    ck_assert(dpt_sched_check(&s, &e) == DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "schedule.min_lr"), "%s", e.msg);
    s = (dpt_sched_config){DPT_SCHED_CONSTANT, 1, 1, 0, -3, 0, 0, 0, 0};
    ck_assert(dpt_sched_check(&s, &e) == DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "schedule.warmup"), "%s", e.msg);
    s = (dpt_sched_config){DPT_SCHED_COSINE, 0, 0, 0, 10, 0, 0, 0, 0};
    ck_assert(dpt_sched_check(&s, &e) == DPT_OK); /* step_size, gamma unused by cosine */
}
END_TEST

/* ---- regularization ---- */
START_TEST(test_reg_apply)
{
    float w[8] = {0.5f, -2.0f, 0.0f, 3.0f, -0.25f, 1.0f, 7.0f, -7.0f};
    float g[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    dpt_range ranges[2] = {{0, 3}, {4, 2}}; /* 3, 6, 7 are "biases": not penalized */
    dpt_reg_config r = {0.1, 0.4};
    double pen = dpt_reg_apply(&r, g, w, ranges, 2);
    /* by hand: sum|w| = 0.5+2+0+0.25+1 = 3.75; sum w^2 = 0.25+4+0+0.0625+1 = 5.3125 */
    ck_assert_msg(fabs(pen - (0.1 * 3.75 + 0.5 * 0.4 * 5.3125)) < 1e-12, "penalty %g", pen);
    const float want[8] = {1 + 0.1f + 0.2f, 1 - 0.1f - 0.8f, 1, 1, 1 - 0.1f - 0.1f, 1 + 0.1f + 0.4f, 1, 1};
    for (int i = 0; i < 8; i++)
        ck_assert_msg(fabsf(g[i] - want[i]) < 1e-6f, "g[%d] = %g want %g", i, (double)g[i],
                      (double)want[i]);
    /* sign(0) = 0 with L1 alone: a zero weight gets no push */
    float z = 0, gz = 0.25f;
    dpt_range one = {0, 1};
    r = (dpt_reg_config){1.0, 0};
    ck_assert(dpt_reg_apply(&r, &gz, &z, &one, 1) == 0.0);
    ck_assert(gz == 0.25f);
    /* nothing to do */
    r = (dpt_reg_config){0, 0};
    ck_assert(dpt_reg_apply(&r, g, w, ranges, 2) == 0.0);
    ck_assert(dpt_reg_apply(&(dpt_reg_config){1, 1}, g, w, ranges, 0) == 0.0);
}
END_TEST

enum { RS = 120, RD = 10, RSTEPS = 3000 };
static const double WTRUE[RD] = {0, 3.0, 0, 0, -2.0, 0, 0, 1.5, 0, 0};

/* Trains w (no bias) on y = X w_true + noise by full-batch gd with a cosine-decayed
 * rate, so the L1 subgradient's zig-zag around zero dies out by the end. */
static void train_sparse(float *w, dpt_reg_config r, dpt_optim_kind kind, double lr)
{
    static double X[RS][RD], y[RS];
    for (int s = 0; s < RS; s++) {
        y[s] = 1.0 * dpt_rng_normal(2024, DPT_STREAM_DATA + 1, (uint64_t)s);
        for (int j = 0; j < RD; j++) {
            X[s][j] = dpt_rng_normal(2024, DPT_STREAM_DATA, (uint64_t)(s * RD + j));
            y[s] += X[s][j] * WTRUE[j];
        }
    }
    dpt_optim_config c;
    dpt_optim_defaults(&c, kind);
    c.lr = lr;
    dpt_optim o;
    ck_assert(dpt_optim_init(&o, &c, RD, NULL) == DPT_OK);
    dpt_sched_config sc = {DPT_SCHED_COSINE, 1, 1, 0, 0, 0, 0, 0, 0};
    dpt_range all = {0, RD};
    for (int j = 0; j < RD; j++)
        w[j] = 0;
    float g[RD];
    for (int t = 0; t < RSTEPS; t++) {
        double gd[RD] = {0};
        for (int s = 0; s < RS; s++) {
            double res = -y[s];
            for (int j = 0; j < RD; j++)
                res += X[s][j] * w[j];
            for (int j = 0; j < RD; j++)
                gd[j] += res * X[s][j] / RS;
        }
        for (int j = 0; j < RD; j++)
            g[j] = (float)gd[j];
        dpt_reg_apply(&r, g, w, &all, 1);
        dpt_optim_begin_step(&o);
        dpt_optim_update(&o, w, g, dpt_sched_lr(&sc, lr, t, RSTEPS), 0, RD);
    }
    dpt_optim_free(&o);
}

START_TEST(test_l1_sparsity)
{
    float w1[RD], w2[RD];
    train_sparse(w1, (dpt_reg_config){0.3, 0}, DPT_OPT_GD, 0.1);
    train_sparse(w2, (dpt_reg_config){0, 0.3}, DPT_OPT_GD, 0.1);
    double max1 = 0, max2 = 0;
    int big2 = 0;
    for (int j = 0; j < RD; j++) {
        if (WTRUE[j] != 0) {
            /* the relevant features survive both penalties */
            ck_assert_msg(fabs(w1[j] - WTRUE[j]) < 0.6 && fabs(w2[j] - WTRUE[j]) < 1.0,
                          "feature %d: l1 %g l2 %g true %g", j, (double)w1[j], (double)w2[j], WTRUE[j]);
            continue;
        }
        max1 = fmax(max1, fabsf(w1[j]));
        max2 = fmax(max2, fabsf(w2[j]));
        big2 += fabsf(w2[j]) > 1e-2;
    }
    ck_assert_msg(max1 < 1e-3, "L1 left an irrelevant weight at %g", max1);
    ck_assert_msg(max2 > 2e-2 && big2 >= 4, "L2 zeroed the irrelevant weights too (max %g, %d big)",
                  max2, big2);
}
END_TEST

START_TEST(test_l2_shrinks)
{
    const double l2[3] = {0.01, 0.3, 3.0};
    double prev = INFINITY;
    for (int k = 0; k < 3; k++) {
        float w[RD];
        train_sparse(w, (dpt_reg_config){0, l2[k]}, DPT_OPT_SGD, 0.05);
        double nrm = dpt_grad_norm(w, RD);
        ck_assert_msg(nrm < prev * 0.95, "l2 = %g: |w| = %g not below %g", l2[k], nrm, prev);
        prev = nrm;
    }
}
END_TEST

/* ---- schedules: values worked out by hand ---- */
static void lr_is(const dpt_sched_config *s, double base, int64_t step, int64_t total, double want)
{
    double got = dpt_sched_lr(s, base, step, total);
    ck_assert_msg(fabs(got - want) <= 1e-12 * fabs(want) + 1e-15, "kind %d step %lld: %.15g want %.15g",
                  (int)s->kind, (long long)step, got, want);
}

START_TEST(test_schedules)
{
    const double pi = 3.14159265358979323846;
    dpt_sched_config c = {DPT_SCHED_CONSTANT, 1, 1, 0, 0, 0, 0, 0, 0};
    lr_is(&c, 0.1, 0, 100, 0.1);
    lr_is(&c, 0.1, 99, 100, 0.1);
    lr_is(&c, 0.1, 1000, 100, 0.1);

    dpt_sched_config st = {DPT_SCHED_STEP, 3, 0.5, 0, 0, 0, 0, 0, 0};
    lr_is(&st, 0.1, 0, 100, 0.1);
    lr_is(&st, 0.1, 2, 100, 0.1);
    lr_is(&st, 0.1, 3, 100, 0.05);
    lr_is(&st, 0.1, 5, 100, 0.05);
    lr_is(&st, 0.1, 7, 100, 0.025);
    lr_is(&st, 0.1, 30, 100, 0.1 / 1024);

    dpt_sched_config ex = {DPT_SCHED_EXP, 1, 0.9, 0, 0, 0, 0, 0, 0};
    lr_is(&ex, 0.1, 0, 100, 0.1);
    lr_is(&ex, 0.1, 1, 100, 0.09);
    lr_is(&ex, 0.1, 3, 100, 0.0729);

    /* cosine without warmup: T = total */
    dpt_sched_config co = {DPT_SCHED_COSINE, 1, 1, 0.001, 0, 0, 0, 0, 0};
    lr_is(&co, 0.1, 0, 100, 0.1);
    lr_is(&co, 0.1, 50, 100, 0.001 + 0.099 * 0.5);
    lr_is(&co, 0.1, 25, 100, 0.001 + 0.099 * (1 + sqrt(0.5)) / 2);
    lr_is(&co, 0.1, 100, 100, 0.001);
    lr_is(&co, 0.1, 150, 100, 0.001); /* clamped past the end */

    /* warmup 10 in front of cosine over 110 steps: T = 100 after warmup */
    co.warmup = 10;
    lr_is(&co, 0.1, 0, 110, 0.01);
    lr_is(&co, 0.1, 4, 110, 0.05);
    lr_is(&co, 0.1, 9, 110, 0.1);
    lr_is(&co, 0.1, 10, 110, 0.1);
    lr_is(&co, 0.1, 35, 110, 0.001 + 0.099 * (1 + cos(pi / 4)) / 2);
    lr_is(&co, 0.1, 60, 110, 0.0505);
    lr_is(&co, 0.1, 110, 110, 0.001);
    lr_is(&co, 0.1, 500, 110, 0.001);
    co.warmup = 200; /* warmup longer than the run: cosine part is empty */
    lr_is(&co, 0.1, 199, 110, 0.1);
    lr_is(&co, 0.1, 200, 110, 0.001);

    /* warmup 4 in front of step (size 3, gamma 0.5) */
    st.warmup = 4;
    lr_is(&st, 0.2, 0, 100, 0.05);
    lr_is(&st, 0.2, 1, 100, 0.1);
    lr_is(&st, 0.2, 3, 100, 0.2);
    lr_is(&st, 0.2, 4, 100, 0.2);
    lr_is(&st, 0.2, 6, 100, 0.2);
    lr_is(&st, 0.2, 7, 100, 0.1);
    lr_is(&st, 0.2, 13, 100, 0.025);

    /* warmup in front of exponential and constant */
    ex.warmup = 2;
    lr_is(&ex, 1.0, 0, 10, 0.5);
    lr_is(&ex, 1.0, 1, 10, 1.0);
    lr_is(&ex, 1.0, 4, 10, 0.81);
    c.warmup = 5;
    lr_is(&c, 0.5, 2, 10, 0.3);
    lr_is(&c, 0.5, 5, 10, 0.5);

    /* a negative step is treated as step 0 */
    lr_is(&c, 0.5, -3, 10, 0.1);

    /* linear scaling rule */
    ck_assert(fabs(dpt_sched_scale(0.1, 512, 256) - 0.2) < 1e-15);
    ck_assert(fabs(dpt_sched_scale(0.1, 64, 256) - 0.025) < 1e-15);
    ck_assert(dpt_sched_scale(0.1, 512, 0) == 0.1);
}
END_TEST

/* Cosine over many steps: monotone non-increasing after warmup, between min_lr and base. */
START_TEST(test_cosine_shape)
{
    dpt_sched_config co = {DPT_SCHED_COSINE, 1, 1, 0.01, 7, 0, 0, 0, 0};
    double prev = 0;
    for (int64_t s = 0; s < 7; s++) {
        double lr = dpt_sched_lr(&co, 1.0, s, 1000);
        ck_assert(lr > prev);
        prev = lr;
    }
    for (int64_t s = 7; s <= 1000; s++) {
        double lr = dpt_sched_lr(&co, 1.0, s, 1000);
        ck_assert(lr <= prev + 1e-15 && lr >= 0.01 - 1e-15 && lr <= 1.0);
        prev = lr;
    }
    ck_assert(fabs(prev - 0.01) < 1e-15);
}
END_TEST

/* ---- norm and clipping ---- */
START_TEST(test_grad_scale_norm)
{
    /* Scaling in place and the norm of the result, against double arithmetic, for lengths
     * around the 8-lane blocking. */
    for (size_t n = 0; n < 40; n += 3) {
        float g[40], keep[40];
        double want = 0;
        for (size_t i = 0; i < n; i++) {
            keep[i] = g[i] = (float)(0.37 * (double)i - 4.1);
            double v = (double)(keep[i] * 0.25f);
            want += v * v;
        }
        double got = dpt_grad_scale_norm(g, n, 0.25f);
        ck_assert_msg(fabs(got - sqrt(want)) <= 1e-12 * (1 + sqrt(want)), "n=%zu: %g vs %g", n, got, sqrt(want));
        for (size_t i = 0; i < n; i++)
            ck_assert(g[i] == keep[i] * 0.25f);
        ck_assert_double_eq_tol(dpt_grad_norm(g, n), got, 1e-12 * (1 + got));
    }
}
END_TEST

START_TEST(test_grad_sum_scale_norm)
{
    /* The sum of k inputs, scaled, and its norm, against double arithmetic: lengths around the
     * 8 lanes and the 1024-element blocks, 1 to 4 inputs, written apart or over the first input. */
    enum { N = 2100, K = 4 };
    static float in[K][N], out[N];
    const size_t lengths[] = {0, 1, 7, 8, 9, 1023, 1024, 1025, 2100};
    for (int q = 0; q < K; q++)
        for (size_t i = 0; i < N; i++)
            in[q][i] = (float)(dpt_rng_uniform(3, (uint64_t)q, i) - 0.5);
    for (int k = 1; k <= K; k++)
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++)
            for (int alias = 0; alias < 2; alias++) {
                size_t n = lengths[li];
                static float keep[K][N];
                memcpy(keep, in, sizeof in);
                const float *src[K] = {in[0], in[1], in[2], in[3]};
                float *dst = alias ? in[0] : out;
                double want = 0;
                double got = dpt_grad_sum_scale_norm(dst, src, k, n, 0.125f);
                for (size_t i = 0; i < n; i++) {
                    float sum = keep[0][i];
                    for (int q = 1; q < k; q++)
                        sum += keep[q][i];
                    ck_assert_msg(dst[i] == sum * 0.125f, "k=%d n=%zu i=%zu", k, n, i);
                    want += (double)dst[i] * (double)dst[i];
                }
                ck_assert_msg(fabs(got - sqrt(want)) <= 1e-12 * (1 + sqrt(want)), "k=%d n=%zu: %g vs %g", k, n,
                              got, sqrt(want));
                memcpy(in, keep, sizeof in);
            }
}
END_TEST

START_TEST(test_grad_norm)
{
    float g[4] = {3, 4, 12, 0};
    ck_assert(dpt_grad_norm(g, 4) == 13.0);
    ck_assert(dpt_grad_norm(g, 0) == 0.0);
    /* large entries whose squares would overflow float still give the right norm */
    float big[2] = {3e30f, 4e30f};
    ck_assert(fabs(dpt_grad_norm(big, 2) / 5e30 - 1) < 1e-6);
}
END_TEST

START_TEST(test_clip)
{
    enum { M = 1000 };
    static float g[M], g0[M];
    const double scales[] = {1e-4, 1e-2, 0.5, 1, 3, 10, 1e2, 1e4, 1e6};
    const double limits[] = {0.1, 1.0, 5.0};
    int clipped = 0, kept = 0;
    for (size_t a = 0; a < sizeof scales / sizeof scales[0]; a++)
        for (size_t b = 0; b < sizeof limits / sizeof limits[0]; b++)
            for (int rep = 0; rep < 3; rep++) {
                const size_t m = rep == 0 ? M : rep == 1 ? 7 : 1;
                uint64_t stream = 100 + a * 10 + b;
                for (size_t i = 0; i < m; i++)
                    g[i] = g0[i] = (float)(scales[a] / sqrt((double)m) *
                                           dpt_rng_normal(5, stream, i + 1000 * (uint64_t)rep));
                double norm = dpt_grad_norm(g, m);
                double s = dpt_grad_clip(g, m, norm, limits[b]);
                double after = dpt_grad_norm(g, m);
                if (norm > limits[b]) {
                    clipped++;
                    ck_assert(fabs(s - limits[b] / (norm + 1e-6)) < 1e-15 * s);
                    /* never above the threshold (float rounding of each entry is the only slack) */
                    ck_assert_msg(after <= limits[b] * (1 + 1e-7), "norm %g clipped to %.10g > %g",
                                  norm, after, limits[b]);
                    ck_assert(after >= limits[b] * (1 - 1e-5));
                    for (size_t i = 0; i < m; i++)
                        ck_assert(g[i] == (float)(g0[i] * (float)s));
                } else {
                    kept++;
                    ck_assert(s == 1.0);
                    ck_assert(memcmp(g, g0, m * sizeof *g) == 0);
                }
            }
    ck_assert(clipped > 10 && kept > 10);
    /* max_norm 0 means off */
    float h[2] = {30, 40};
    ck_assert(dpt_grad_clip(h, 2, 50, 0) == 1.0 && h[0] == 30);
}
END_TEST

static Suite *optim_suite(void)
{
    Suite *s = suite_create("optim");
    TCase *tc = tcase_create("optimizers");
    tcase_add_loop_test(tc, test_matches_reference, 0, NCASES);
    tcase_add_test(tc, test_options_matter);
    tcase_add_test(tc, test_state_names);
    tcase_add_loop_test(tc, test_subrange, 0, NCASES);
    tcase_add_loop_test(tc, test_resume, 0, NCASES);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_kind_names);
    tcase_add_test(tc, test_bad_hyper);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("regularization");
    tcase_set_timeout(tr, 30);
    tcase_add_test(tr, test_reg_apply);
    tcase_add_test(tr, test_l1_sparsity);
    tcase_add_test(tr, test_l2_shrinks);
    suite_add_tcase(s, tr);
    TCase *ts = tcase_create("schedules");
    tcase_add_test(ts, test_schedules);
    tcase_add_test(ts, test_cosine_shape);
    suite_add_tcase(s, ts);
    TCase *tg = tcase_create("clipping");
    tcase_add_test(tg, test_grad_norm);
    tcase_add_test(tg, test_grad_scale_norm);
    tcase_add_test(tg, test_grad_sum_scale_norm);
    tcase_add_test(tg, test_clip);
    suite_add_tcase(s, tg);
    return s;
}

int main(void)
{
    return dpt_test_run(optim_suite());
}
