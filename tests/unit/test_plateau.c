/* schedule.kind = plateau against torch's ReduceLROnPlateau rules (torch/optim/lr_scheduler.py:
 * step(), is_better() with threshold_mode 'rel', _reduce_lr() with eps 1e-8), on hand-made
 * metric sequences; the expected rates are worked out by hand in the comments. Also the
 * schedule.* keys' checks. */
#include <check.h>
#include <math.h>
#include <string.h>

#include "dptrain/config.h"
#include "dptrain/plateau.h"

#include "support.h"

/* Feeds values[0..n) and checks the rate after each against lrs[], and which steps cut it. */
static void feed(dpt_plateau *p, const double *values, const double *lrs, const int *cuts, int n)
{
    for (int i = 0; i < n; i++) {
        int cut = dpt_plateau_step(p, values[i]);
        ck_assert_msg(cut == cuts[i], "value %d (%g): cut %d, expected %d", i + 1, values[i], cut, cuts[i]);
        ck_assert_msg(fabs(p->lr - lrs[i]) <= 1e-15, "value %d (%g): lr %.17g, expected %g", i + 1, values[i],
                      p->lr, lrs[i]);
    }
}

START_TEST(test_min_mode_patience_cooldown_floor)
{
    /* mode min, lr 1, factor 0.5, patience 2, threshold 0.1 (rel: better means < 0.9 * best),
     * cooldown 1, min_lr 0.2.
     *  1: 10 beats inf: best 10.            2: 9.5 !< 9: bad 1.       3: 9.2: bad 2 (not > 2).
     *  4: 9.1: bad 3 > 2: lr 0.5, cooldown 1, bad 0.
     *  5: 9.0 !< 9 (the threshold's edge): bad 1, but in cooldown: counter 0, bad 0.
     *  6: 8.0 < 9: best 8.                  7, 8: bad 1, 2.           9: bad 3: lr 0.25, cooldown 1.
     * 10: cooldown eats it.                 11, 12: bad 1, 2.         13: lr max(0.125, 0.2) = 0.2.
     * 14: cooldown.                         15, 16: bad 1, 2 (NaN is never better).
     * 17: bad 3, but max(0.1, 0.2) = 0.2 cuts by 0 <= eps: no cut, lr stays 0.2. */
    double v[] = {10, 9.5, 9.2, 9.1, 9.0, 8, 8, 8, 8, 8, 8, 8, 8, 8, NAN, 8, 8};
    double lr[] = {1, 1, 1, .5, .5, .5, .5, .5, .25, .25, .25, .25, .2, .2, .2, .2, .2};
    int cut[] = {0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0};
    dpt_sched_config s = {.kind = DPT_SCHED_PLATEAU, .factor = 0.5, .patience = 2, .threshold = 0.1,
                          .cooldown = 1, .min_lr = 0.2};
    dpt_plateau p;
    dpt_plateau_init(&p, &s, 0, 1.0);
    feed(&p, v, lr, cut, 17);
    ck_assert_double_eq(p.best, 8);
}
END_TEST

START_TEST(test_max_mode_defaults)
{
    /* mode max (accuracy), torch's defaults but patience 0: factor 0.1, threshold 1e-4 (better
     * means > 1.0001 * best), cooldown 0, min_lr 0; lr 0.01.
     * 1: 0.5 beats -inf.  2: 0.50004 !> 0.50005: bad 1 > 0: lr 0.001.  3: 0.6: best.
     * 4: 0.55: lr 0.0001.  5: 0.7: best, no cut. */
    double v[] = {0.5, 0.50004, 0.6, 0.55, 0.7};
    double lr[] = {0.01, 0.001, 0.001, 0.0001, 0.0001};
    int cut[] = {0, 1, 0, 1, 0};
    dpt_sched_config s = {.kind = DPT_SCHED_PLATEAU, .factor = 0.1, .patience = 0, .threshold = 1e-4};
    dpt_plateau p;
    dpt_plateau_init(&p, &s, 1, 0.01);
    feed(&p, v, lr, cut, 5);
    ck_assert_double_eq(p.best, 0.7);
    ck_assert_int_eq(p.bad, 0);
}
END_TEST

START_TEST(test_first_value_and_state)
{
    /* Before any value best is torch's mode_worse; patience 10 needs 11 bad values in a row. */
    dpt_sched_config s = {.kind = DPT_SCHED_PLATEAU, .factor = 0.1, .patience = 10, .threshold = 1e-4};
    dpt_plateau p;
    dpt_plateau_init(&p, &s, 0, 0.1);
    ck_assert(isinf(p.best) && p.best > 0);
    ck_assert_int_eq(dpt_plateau_step(&p, 1.0), 0);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(dpt_plateau_step(&p, 1.0), 0);
    ck_assert_int_eq(p.bad, 10);
    ck_assert_int_eq(dpt_plateau_step(&p, 1.0), 1);
    ck_assert_double_eq_tol(p.lr, 0.01, 1e-15);
    dpt_plateau_init(&p, &s, 1, 0.1);
    ck_assert(isinf(p.best) && p.best < 0);
}
END_TEST

/* Loads text as exp.ini and validates it; checks the one-line error holds frag. */
static void refused(const char *text, const char *frag)
{
    dpt_config c;
    dpt_err e = {0};
    dpt_config_defaults(&c);
    int st = dpt_config_load_string(&c, text, "exp.ini", &e);
    if (st == DPT_OK)
        st = dpt_config_validate(&c, &e);
    ck_assert_msg(st == DPT_FAIL, "accepted: %s", text);
    ck_assert_msg(strstr(e.msg, frag) != NULL, "'%s' lacks '%s'", e.msg, frag);
    ck_assert_msg(strchr(e.msg, '\n') == NULL, "two lines: %s", e.msg);
}

START_TEST(test_keys_checked)
{
    const char *base = "[data]\nsynthetic = linreg\ntask = regress\nval_fraction = 0.2\n[schedule]\nkind = plateau\n";
    char text[512];
    const char *bad[][2] = {
        {"factor = 1\n", "schedule.factor"}, {"factor = 0\n", "schedule.factor"},
        {"factor = 1.5\n", "schedule.factor"}, {"patience = -1\n", "schedule.patience"},
        {"threshold = -0.1\n", "schedule.threshold"}, {"cooldown = -2\n", "schedule.cooldown"},
        {"min_lr = -1\n", "schedule.min_lr"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(text, sizeof text, "%s%s", base, bad[i][0]);
        refused(text, bad[i][1]);
    }
    /* Nothing to watch: no validation set. */
    refused("[data]\nsynthetic = linreg\ntask = regress\n[schedule]\nkind = plateau\n",
            "exp.ini:5: schedule.kind = 'plateau': watches the validation metric");
    dpt_config c;
    dpt_err e = {0};
    dpt_config_defaults(&c);
    ck_assert_double_eq(c.sched.factor, 0.1);
    ck_assert_int_eq(c.sched.patience, 10);
    ck_assert_double_eq(c.sched.threshold, 1e-4);
    ck_assert_int_eq(c.sched.cooldown, 0);
    snprintf(text, sizeof text, "%sfactor = 0.5\npatience = 0\ncooldown = 3\nthreshold = 0\n", base);
    ck_assert_msg(dpt_config_load_string(&c, text, "exp.ini", &e) == DPT_OK && dpt_config_validate(&c, &e) == DPT_OK,
                  "%s", e.msg);
    ck_assert_int_eq(c.sched.kind, DPT_SCHED_PLATEAU);
    ck_assert_int_eq(dpt_sched_check(&c.sched, &e), DPT_OK);
    c.sched.factor = 1;
    ck_assert_int_eq(dpt_sched_check(&c.sched, &e), DPT_FAIL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plateau");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_min_mode_patience_cooldown_floor);
    tcase_add_test(tc, test_max_mode_defaults);
    tcase_add_test(tc, test_first_value_and_state);
    tcase_add_test(tc, test_keys_checked);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
