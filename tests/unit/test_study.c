/* The study file, its trials, the split of ranks into groups and the statistics, in one process:
 * the study file's errors name file:line and key, a grid or a zip expands into the expected
 * settings times seeds, trials are complete experiments, groups stay within nodes where they can,
 * and the 95% interval uses Student's t with n - 1 degrees of freedom. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/study.h"

#include "support.h"

static dpt_study st; /* large */

/* The experiment every study below starts from: it validates on its own (synthetic data). */
#define BASE "[data]\nsynthetic = linreg\ntask = regress\n[training]\nepochs = 2\n[run]\ndir = /tmp/x\n"

static int parse(const char *text, dpt_err *e)
{
    dpt_study_free(&st);
    return dpt_study_parse(&st, text, "s.ini", e);
}

static void expect_error(const char *text, const char *part)
{
    dpt_err e = {0};
    ck_assert_int_eq(parse(text, &e), DPT_FAIL);
    ck_assert_msg(strstr(e.msg, part) != NULL, "expected '%s' in '%s'", part, e.msg);
}

START_TEST(test_defaults_and_keys)
{
    dpt_err e = {0};
    ck_assert_int_eq(parse("[study]\n" BASE, &e), DPT_OK);
    ck_assert_str_eq(st.name, "s");
    ck_assert_int_eq(st.ranks_per_run, 1);
    ck_assert_int_eq(st.nseeds, 1);
    ck_assert_int_eq(st.mode, DPT_STUDY_GRID);
    ck_assert_int_eq(dpt_study_nsettings(&st), 1);
    ck_assert_int_eq(parse("[study]\nseeds = 5, 9 ; two\nmode = zip\nranks_per_run = 2\nname = lr-x\n"
                           "seed_key = run.init_seed\n" BASE, &e), DPT_OK);
    ck_assert_int_eq(st.nseeds, 2);
    ck_assert(st.seeds[0] == 5 && st.seeds[1] == 9);
    ck_assert_int_eq(st.mode, DPT_STUDY_ZIP);
    ck_assert_int_eq(st.ranks_per_run, 2);
    ck_assert_str_eq(st.name, "lr-x");
    ck_assert_str_eq(st.seed_key, "run.init_seed");
    /* the experiment's own lines keep their numbers: line 4 is the [data] header */
    ck_assert_ptr_nonnull(strstr(st.inline_text, "\n\n\n[data]"));
}
END_TEST

START_TEST(test_errors_name_line_and_key)
{
    expect_error("[study]\nseeds = 3\nranks_per_rn = 2\n" BASE, "s.ini:3: unknown key study.ranks_per_rn; did you mean "
                                                                "study.ranks_per_run?");
    expect_error("[study]\n[sweep]\noptimizer.leraning_rate = 1, 2\n" BASE, "s.ini:3: sweep: unknown key "
                                                                            "optimizer.leraning_rate; did you mean "
                                                                            "optimizer.lr?");
    expect_error("[study]\n[sweep]\nlr = 1, 2\n" BASE, "s.ini:3: sweep key 'lr' is not an experiment key");
    expect_error("[study]\nmode = zip\n[sweep]\noptimizer.lr = 1, 2\noptimizer.kind = sgd\n" BASE,
                 "s.ini:5: study.mode = zip pairs the sweep lists, but optimizer.kind has 1 values and optimizer.lr "
                 "has 2");
    expect_error("[study]\nmode = mesh\n" BASE, "s.ini:2: study.mode = 'mesh': expected grid or zip");
    expect_error("[study]\nseeds = 0\n" BASE, "s.ini:2: study.seeds");
    expect_error("[study]\nseeds = 1, 1\n" BASE, "seed 1 is listed twice");
    expect_error("[study]\nranks_per_run = 0\n" BASE, "s.ini:2: study.ranks_per_run = '0'");
    expect_error("[study]\nseeds = 2\nseeds = 3\n" BASE, "s.ini:3: study.seeds is set twice (first on line 2)");
    expect_error("[study]\n[sweep]\noptimizer.lr = 1, , 2\n" BASE, "s.ini:3: sweep optimizer.lr = '1, , 2': an empty "
                                                                    "value");
    expect_error("[study]\n[sweep]\nrun.seed = 1, 2\n" BASE, "run.seed is set by study.seeds");
    expect_error("[study]\n[sweep]\nrun.name = a, b\n" BASE, "run.name cannot be swept");
    expect_error("[study]\nbase = x.ini\n" BASE, "study.base = 'x.ini' and experiment sections");
    expect_error(BASE, "no [study] section");
    expect_error("[study]\nname = a/b\n" BASE, "study.name = 'a/b'");
}
END_TEST

/* A grid varies the last key fastest; a zip pairs the lists; quoted values may hold commas. */
START_TEST(test_grid_and_zip)
{
    dpt_err e = {0};
    ck_assert_int_eq(parse("[study]\n[sweep]\noptimizer.lr = 0.1, 0.01, 0.001\n"
                           "model.layers = \"dense 4, relu, dense 1\", dense 1\n" BASE, &e), DPT_OK);
    ck_assert_int_eq(dpt_study_nsettings(&st), 6);
    ck_assert_str_eq(st.sweep[1].values[0], "dense 4, relu, dense 1");
    ck_assert_int_eq(dpt_study_value(&st, 0, 0), 0);
    ck_assert_int_eq(dpt_study_value(&st, 1, 0), 0);
    ck_assert_int_eq(dpt_study_value(&st, 1, 1), 1);
    ck_assert_int_eq(dpt_study_value(&st, 5, 0), 2);
    ck_assert_int_eq(dpt_study_value(&st, 4, 1), 0);
    ck_assert_int_eq(parse("[study]\nmode = zip\n[sweep]\noptimizer.lr = 0.1, 0.01\noptimizer.kind = sgd, adam\n" BASE,
                           &e), DPT_OK);
    ck_assert_int_eq(dpt_study_nsettings(&st), 2);
    ck_assert_int_eq(dpt_study_value(&st, 1, 0), 1);
    ck_assert_int_eq(dpt_study_value(&st, 1, 1), 1);
    /* The blanks around a quoted value (after the comma, after the closing quote) are not its own. */
    ck_assert_int_eq(parse("[study]\n[sweep]\nmodel.layers = \"dense 4, relu, dense 1\", \"dense 1\" , \" dense 2\"\n" BASE,
                           &e), DPT_OK);
    ck_assert_str_eq(st.sweep[0].values[1], "dense 1");
    ck_assert_str_eq(st.sweep[0].values[2], " dense 2");
}
END_TEST

/* Each trial is the base experiment with its values, its seed and its own run directory. */
START_TEST(test_trials)
{
    dpt_err e = {0};
    dpt_trial *t;
    int n;
    ck_assert_int_eq(parse("[study]\nseeds = 3\n[sweep]\noptimizer.kind = sgd, adam\n" BASE "seed = 10\n", &e), DPT_OK);
    ck_assert_msg(dpt_study_trials(&st, &t, &n, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(n, 6);
    ck_assert_int_eq(t[4].setting, 1);
    ck_assert(t[4].seed == 11 && t[4].cfg.run.seed == 11);
    ck_assert_int_eq(t[4].cfg.optim.kind, DPT_OPT_ADAM);
    ck_assert_int_eq(t[0].cfg.optim.kind, DPT_OPT_SGD);
    ck_assert_double_eq(t[0].cfg.optim.lr, 0.01); /* resolved: sgd's default */
    ck_assert_str_eq(t[4].cfg.run.dir, "/tmp/x/s");
    ck_assert_str_eq(t[4].cfg.run.name, "s2-seed11");
    ck_assert_int_eq(t[4].cfg.train.epochs, 2);
    free(t);
    /* seed_key = run.init_seed keeps run.seed (the data) fixed */
    ck_assert_int_eq(parse("[study]\nseeds = 4, 7\nseed_key = run.init_seed\n" BASE, &e), DPT_OK);
    ck_assert_int_eq(dpt_study_trials(&st, &t, &n, &e), DPT_OK);
    ck_assert_int_eq(n, 2);
    ck_assert(t[1].cfg.run.seed == 42 && dpt_config_init_seed(&t[1].cfg) == 7 && dpt_config_data_seed(&t[1].cfg) == 42);
    free(t);
    /* a swept value the key refuses is told at the sweep's line */
    ck_assert_int_eq(parse("[study]\n[sweep]\ntraining.epochs = 3, -1\n" BASE, &e), DPT_OK);
    ck_assert_int_eq(dpt_study_trials(&st, &t, &n, &e), DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "s.ini:3: ") && strstr(e.msg, "training.epochs"), "%s", e.msg);
    /* an inline experiment's own error keeps the file's line */
    ck_assert_int_eq(parse("[study]\nseeds = 2\n[data]\nsynthetic = linreg\nval_fractio = 0.1\ntask = regress\n", &e), DPT_OK);
    ck_assert_int_eq(dpt_study_trials(&st, &t, &n, &e), DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "s.ini:5: unknown key data.val_fractio"), "%s", e.msg);
}
END_TEST

/* The command line's --set: refused for run.name (each trial names its run; an override would
 * send every trial to one directory) and for a swept key, however it is spaced; at most
 * DPT_CONFIG_SETS_MAX of them; the others reach every trial. */
START_TEST(test_command_line_sets)
{
    dpt_err e = {0};
    dpt_trial *t;
    int n;
    ck_assert_int_eq(parse("[study]\n[sweep]\noptimizer.kind = sgd, adam\n" BASE, &e), DPT_OK);
    const char *refused[][2] = {
        {"run.name=x", "--set run.name=x: each trial names its own run"},
        {" run.name = x", "--set  run.name = x: each trial names its own run"},
        {"run.name\t=x", "each trial names its own run"},
        {"optimizer.kind=adam", "--set optimizer.kind=adam: optimizer.kind is swept (s.ini:3)"},
        {"optimizer.kind =adam", "optimizer.kind is swept (s.ini:3)"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        ck_assert_int_eq(dpt_study_add_set(&st, refused[i][0], &e), DPT_FAIL);
        ck_assert_msg(strstr(e.msg, refused[i][1]), "expected '%s' in '%s'", refused[i][1], e.msg);
    }
    ck_assert_int_eq(st.nsets, 0);
    ck_assert_int_eq(dpt_study_add_set(&st, "run.name_x=1", &e), DPT_OK); /* a prefix is another key */
    st.nsets = 0;
    for (int i = 0; i < DPT_CONFIG_SETS_MAX; i++)
        ck_assert_int_eq(dpt_study_add_set(&st, "training.epochs=3", &e), DPT_OK);
    ck_assert_int_eq(dpt_study_add_set(&st, "training.epochs=4", &e), DPT_FAIL);
    ck_assert_msg(strstr(e.msg, "--set training.epochs=4: more than 64 --set options"), "%s", e.msg);
    ck_assert_msg(dpt_study_trials(&st, &t, &n, &e) == DPT_OK, "%s", e.msg);
    ck_assert_int_eq(n, 2);
    ck_assert(t[0].cfg.train.epochs == 3 && t[1].cfg.train.epochs == 3);
    ck_assert_str_eq(t[1].cfg.run.name, "s2-seed42");
    free(t);
}
END_TEST

START_TEST(test_colors)
{
    dpt_err e = {0};
    int c[8];
    /* two nodes, ranks interleaved (round-robin placement): groups of 2 stay on one node */
    uint64_t rr[8] = {1, 2, 1, 2, 1, 2, 1, 2};
    ck_assert_int_eq(dpt_study_colors(c, rr, 8, 2, &e), DPT_OK);
    int want[8] = {0, 2, 0, 2, 1, 3, 1, 3};
    for (int r = 0; r < 8; r++)
        ck_assert_int_eq(c[r], want[r]);
    /* 3 ranks per node cannot hold groups of 2: consecutive ranks */
    uint64_t odd[6] = {1, 1, 1, 2, 2, 2};
    ck_assert_int_eq(dpt_study_colors(c, odd, 6, 2, &e), DPT_OK);
    for (int r = 0; r < 6; r++)
        ck_assert_int_eq(c[r], r / 2);
    ck_assert_int_eq(dpt_study_colors(c, odd, 6, 4, &e), DPT_FAIL);
    ck_assert_ptr_nonnull(strstr(e.msg, "does not divide the job's 6 ranks"));
}
END_TEST

START_TEST(test_stats)
{
    ck_assert_double_eq_tol(dpt_study_t975(1), 12.7062, 1e-4);
    ck_assert_double_eq_tol(dpt_study_t975(2), 4.3027, 1e-4);
    ck_assert_double_eq_tol(dpt_study_t975(40), 2.0211, 2e-4);
    ck_assert_double_eq_tol(dpt_study_t975(100), 1.9840, 2e-4);
    double x[3] = {0.87, 0.88, 0.89}, m, sd, half;
    dpt_study_stats(x, 3, &m, &sd, &half);
    ck_assert_double_eq_tol(m, 0.88, 1e-12);
    ck_assert_double_eq_tol(sd, 0.01, 1e-12); /* n - 1: the population sd would be 0.00816 */
    ck_assert_double_eq_tol(half, 4.3027 * 0.01 / sqrt(3), 1e-6);
    dpt_study_stats(x, 1, &m, &sd, &half);
    ck_assert(m == 0.87 && isnan(sd) && isnan(half));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("study");
    TCase *tc = tcase_create("study");
    tcase_add_test(tc, test_defaults_and_keys);
    tcase_add_test(tc, test_errors_name_line_and_key);
    tcase_add_test(tc, test_grid_and_zip);
    tcase_add_test(tc, test_trials);
    tcase_add_test(tc, test_command_line_sets);
    tcase_add_test(tc, test_colors);
    tcase_add_test(tc, test_stats);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
