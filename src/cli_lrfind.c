/* dptrain lr-find: the learning-rate range test on the experiment's own model, data and
 * optimizer. Every rank takes the same steps at the same rates (the rate is set before each step,
 * the loss that decides is the reduced one), rank 0 writes lr_find.csv and the plot. Nothing is
 * saved as a checkpoint: the trained parameters are thrown away. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dptrain/cli.h"
#include "dptrain/fsio.h"
#include "dptrain/log.h"
#include "dptrain/lrfind.h"
#include "dptrain/train.h"

enum { MAX_STEPS = 1000000 };

static const char lrfind_help[] =
    "usage: dptrain lr-find [EXPERIMENT.ini] [--set section.key=value]... [--min 1e-7] [--max 10] [--steps 100]\n"
    "The learning-rate range test (Smith 2017; fastai's and Lightning's lr_find): STEPS optimizer\n"
    "steps of the experiment's model, data and optimizer, the rate growing exponentially from MIN\n"
    "to MAX (the schedule is ignored). The loss is smoothed (moving average, beta 0.98, bias\n"
    "corrected) and the test stops when it passes 4 times its best. Writes RUN_DIR/NAME/lr_find.csv\n"
    "(step, lr, loss, smoothed) and lr_find.png (with gnuplot), saves no checkpoint, and prints the\n"
    "rate where the smoothed loss falls fastest against log lr.\n";

typedef struct {
    const char *experiment;
    const char *sets[DPT_CONFIG_SETS_MAX];
    int nsets;
    double min_lr, max_lr;
    int steps;
} lrfind_args;

/* A number option's value: all of text, finite. */
static int number(const char *opt, const char *text, double *v, dpt_err *e)
{
    char *end;
    errno = 0;
    *v = strtod(text, &end);
    if (end == text || *end || errno == ERANGE || !isfinite(*v))
        return dpt_errf(e, "lr-find: %s '%s' is not a number", opt, text);
    return DPT_OK;
}

static int parse_value(lrfind_args *a, const char *opt, const char *v, dpt_err *e)
{
    if (strcmp(opt, "--set") == 0)
        return dpt_config_add_set(a->sets, &a->nsets, v, e);
    if (strcmp(opt, "--min") == 0)
        return number(opt, v, &a->min_lr, e);
    if (strcmp(opt, "--max") == 0)
        return number(opt, v, &a->max_lr, e);
    double n;
    if (number(opt, v, &n, e) != DPT_OK)
        return DPT_FAIL;
    if (n != floor(n) || n < -1 || n > MAX_STEPS)
        return dpt_errf(e, "lr-find: --steps '%s': a whole number of at most %d", v, MAX_STEPS);
    a->steps = (int)n;
    return DPT_OK;
}

static int parse_args(lrfind_args *a, int argc, char **argv, dpt_err *e)
{
    static const char *const opts[] = {"--set", "--min", "--max", "--steps"};
    *a = (lrfind_args){.min_lr = 1e-7, .max_lr = 10, .steps = 100};
    for (int i = 0; i < argc; i++) {
        int missing = 0, known = 0;
        for (int k = 0; k < 4 && !known && !missing; k++) {
            const char *v = dpt_cli_option(argc, argv, &i, opts[k], &missing);
            if (v && (known = 1) && parse_value(a, opts[k], v, e) != DPT_OK)
                return DPT_FAIL;
        }
        if (known)
            continue;
        if (missing)
            return dpt_errf(e, "lr-find: %s needs a value (see dptrain lr-find --help)", argv[i]);
        if (argv[i][0] == '-')
            return dpt_errf(e, "lr-find: unknown option '%s' (see dptrain lr-find --help)", argv[i]);
        if (a->experiment)
            return dpt_errf(e, "lr-find: more than one experiment file ('%s', '%s')", a->experiment, argv[i]);
        a->experiment = argv[i];
    }
    dpt_lrfind f;
    return dpt_lrfind_init(&f, a->min_lr, a->max_lr, a->steps, e);
}

/* What the sweep recorded. */
typedef struct {
    double *lr, *loss, *smoothed;
    int n;
    int diverged;
} sweep;

/* The test proper: the experiment's rate replaced before each step, the schedule off. Collective. */
static void run_sweep(dpt_trainer *t, dpt_config *c, dpt_lrfind *f, sweep *s)
{
    size_t per_epoch = dpt_sampler_nbatches(&t->sampler);
    for (int i = 0; i < f->steps && !s->diverged; i++) {
        if ((size_t)t->pos.batch_in_epoch == per_epoch)
            t->pos.epoch++, t->pos.batch_in_epoch = 0;
        if (t->pos.batch_in_epoch == 0)
            dpt_sampler_set_epoch(&t->sampler, t->pos.epoch);
        double loss_sum, count;
        dpt_err ignored;
        c->optim.lr = dpt_lrfind_rate(f, i);
        dpt_comm_watch("lr-find step", t->pos.step + 1);
        /* It fails only on a non-finite loss or gradient, alike on every rank: the end of the test. */
        int st = dpt_trainer_step(t, (size_t)t->pos.batch_in_epoch, &loss_sum, &count, &ignored);
        dpt_comm_unwatch();
        t->pos.batch_in_epoch++;
        s->lr[i] = c->optim.lr;
        s->loss[i] = t->last.train_loss;
        s->diverged = dpt_lrfind_add(f, s->loss[i], &s->smoothed[i]) || st != DPT_OK;
        s->n = i + 1;
    }
}

static int write_csv(const char *path, const sweep *s, dpt_err *e)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return dpt_errf(e, "%s: out of memory", path);
    fprintf(f, "step,lr,loss,smoothed\n");
    for (int i = 0; i < s->n; i++)
        fprintf(f, "%d,%.9g,%.9g,%.9g\n", i + 1, s->lr[i], s->loss[i], s->smoothed[i]);
    if (fclose(f) != 0) {
        free(text);
        return dpt_errf(e, "%s: out of memory", path);
    }
    int st = dpt_write_atomic(path, text, len, e);
    free(text);
    return st;
}

/* Writes text as a gnuplot single-quoted string ('' stands for one quote). */
static void gp_string(FILE *f, const char *text)
{
    fputc('\'', f);
    for (; *text; text++)
        fputs(*text == '\'' ? "''" : (char[]){*text, 0}, f);
    fputc('\'', f);
}

/* lr_find.png through gnuplot (pngcairo when it has it); returns a line telling what happened. */
static const char *plot(const char *dir, double suggested, double ymax, char *why, size_t size)
{
    char csv[DPT_PATH_MAX + DPT_NAME_MAX + 32], tmp[sizeof csv + 32], png[sizeof csv];
    snprintf(csv, sizeof csv, "%s/lr_find.csv", dir);
    snprintf(png, sizeof png, "%s/lr_find.png", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", png, (long)getpid());
    fflush(stdout);
    FILE *g = popen("gnuplot >/dev/null 2>&1", "w");
    if (!g)
        return "gnuplot could not be started: no lr_find.png (the numbers are in lr_find.csv)";
    fputs("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 800,500 noenhanced }"
          " else { set terminal png size 800,500 noenhanced }\nset output ", g);
    gp_string(g, tmp);
    fputs("\nset datafile separator ','\nset logscale x\nset xlabel 'learning rate'\nset ylabel 'loss'\n"
          "set title 'dptrain lr-find: loss against learning rate'\nset grid\n", g);
    /* the last, diverged losses would flatten the rest of the curve */
    fprintf(g, "set yrange [*:%.9g]\n", ymax);
    if (suggested > 0)
        fprintf(g, "set arrow from %.9g, graph 0 to %.9g, graph 1 nohead dashtype 2\n", suggested, suggested);
    fputs("plot ", g);
    gp_string(g, csv);
    fputs(" every ::1 using 2:3 with lines title 'loss', '' every ::1 using 2:4 with lines lw 2 title "
          "'smoothed'\n", g);
    int status = pclose(g);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        unlink(tmp);
        return "gnuplot is not installed: no lr_find.png (the numbers are in lr_find.csv)";
    }
    if (status != 0 || rename(tmp, png) != 0) {
        unlink(tmp);
        snprintf(why, size, "%s: gnuplot failed, no plot (the numbers are in lr_find.csv)", png);
        return why;
    }
    snprintf(why, size, "plot: %s", png);
    return why;
}

/* Rank 0: the files and what they say. */
static int report(dpt_log *log, const dpt_config *c, const dpt_lrfind *f, const sweep *s, dpt_err *e)
{
    char path[DPT_PATH_MAX + DPT_NAME_MAX + 32], why[DPT_PATH_MAX + DPT_NAME_MAX + 96];
    snprintf(path, sizeof path, "%s/lr_find.csv", log->dir);
    if (write_csv(path, s, e) != DPT_OK)
        return DPT_FAIL;
    int k = dpt_lrfind_suggest(s->lr, s->smoothed, s->n);
    if (s->diverged)
        dpt_log_printf(log, "lr-find: %d of %d steps (lr %.3g to %.3g): stopped at lr %.3g, where the smoothed loss "
                       "passed %gx its best (%.4g) or was not finite", s->n, f->steps, f->min_lr, f->max_lr,
                       s->lr[s->n - 1], DPT_LRFIND_DIVERGE, f->best);
    else
        dpt_log_printf(log, "lr-find: %d steps (lr %.3g to %.3g) without divergence: a larger --max would show "
                       "where the loss turns up", s->n, f->min_lr, f->max_lr);
    double ymax = fmax(DPT_LRFIND_DIVERGE * f->best, s->smoothed[0]) * 1.05;
    dpt_log_printf(log, "lr-find: %s (%s)", plot(log->dir, k >= 0 ? s->lr[k] : 0, ymax, why, sizeof why), path);
    if (k < 0) {
        dpt_log_printf(log, "lr-find: no suggestion: the smoothed loss never fell; try a smaller --min or more --steps");
        return DPT_OK;
    }
    printf("suggested learning rate: %.3g (steepest descent of the smoothed loss; %s = %g now)\n", s->lr[k],
           "optimizer.lr", c->optim.lr);
    if (s->diverged)
        printf("how to read it: the loss falls fastest at the suggested rate; train at it or up to 10x lower, "
               "well below %.3g where the loss diverged\n", s->lr[s->n - 1]);
    else
        printf("how to read it: the loss falls fastest at the suggested rate; train at it or up to 10x lower (the "
               "loss had not diverged by %.3g; a larger --max shows where it does)\n", s->lr[s->n - 1]);
    return DPT_OK;
}

/* The experiment as lr-find trains it: the schedule off, a non-finite value the end, no trace. */
static void for_sweep(dpt_config *c)
{
    c->sched.kind = DPT_SCHED_CONSTANT;
    c->sched.warmup = 0;
    c->scale_lr = 0;
    c->train.nonfinite = DPT_NONFINITE_STOP;
    c->train.trace[0] = '\0';
    c->early.patience = 0;
}

static int find(const dpt_comm *comm, dpt_config *c, const lrfind_args *a, dpt_err *e)
{
    static dpt_trainer t; /* large */
    dpt_log log;
    dpt_lrfind f;
    double base = c->optim.lr;
    sweep s = {0};
    dpt_lrfind_init(&f, a->min_lr, a->max_lr, a->steps, e);
    for_sweep(c);
    s.lr = malloc(sizeof(double) * (size_t)a->steps);
    s.loss = malloc(sizeof(double) * (size_t)a->steps);
    s.smoothed = malloc(sizeof(double) * (size_t)a->steps);
    int st = s.lr && s.loss && s.smoothed ? DPT_OK : dpt_errf(e, "lr-find: out of memory for %d steps", a->steps);
    if (dpt_comm_agree(comm, st, e) == DPT_OK &&
        dpt_comm_agree(comm, dpt_log_open(&log, c, comm->rank == 0, e), e) == DPT_OK) {
        if ((st = dpt_trainer_init(&t, c, comm, -1, e)) == DPT_OK) {
            run_sweep(&t, c, &f, &s);
            c->optim.lr = base;
            dpt_trainer_free(&t);
            st = comm->rank == 0 ? report(&log, c, &f, &s, e) : DPT_OK;
            st = dpt_comm_agree(comm, st, e);
        }
        dpt_log_close(&log);
    } else {
        st = DPT_FAIL;
    }
    free(s.lr);
    free(s.loss);
    free(s.smoothed);
    return st;
}

int dpt_cli_lr_find(const dpt_comm *comm, int argc, char **argv, dpt_err *e)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            if (comm->rank == 0)
                fputs(lrfind_help, stdout);
            return DPT_OK;
        }
    static lrfind_args a;
    static dpt_config c; /* large; one per process */
    if (dpt_comm_agree(comm, parse_args(&a, argc, argv, e), e) != DPT_OK ||
        dpt_cli_resolve(&c, comm, a.experiment, a.sets, a.nsets, e) != DPT_OK ||
        dpt_comm_agree(comm, dpt_comm_watchdog_start(comm, c.train.timeout, e), e) != DPT_OK)
        return DPT_FAIL;
    dpt_cli_set_threads(&c, comm);
    return find(comm, &c, &a, e);
}
