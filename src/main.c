/* The dptrain command line: the only place that turns an error into an
 * exit status. Every subcommand runs as an MPI job (a singleton without
 * mpirun); rank 0 reads inputs and writes outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dptrain/comm.h"
#include "dptrain/config.h"
#include "dptrain/tensor.h"
#include "dptrain/train.h"
#include "dptrain/version.h"

static const char usage[] =
    "usage: dptrain train [EXPERIMENT.ini] [--set section.key=value]...\n"
    "       dptrain --version | --help\n"
    "With no experiment, trains the built-in linear regression.\n"
    "Run under mpirun -np N for N data-parallel ranks.\n";

typedef struct {
    const char *experiment;
    const char *sets[64];
    int nsets;
} train_args;

static int parse_train_args(train_args *a, int argc, char **argv, dpt_err *e)
{
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--set") == 0) {
            if (i + 1 >= argc)
                return dpt_errf(e, "--set needs section.key=value");
            if (a->nsets == 64)
                return dpt_errf(e, "--set: at most 64 overrides");
            a->sets[a->nsets++] = argv[++i];
        } else if (strncmp(argv[i], "--set=", 6) == 0 && a->nsets < 64) {
            a->sets[a->nsets++] = argv[i] + 6;
        } else if (argv[i][0] == '-') {
            return dpt_errf(e, "train: unknown option '%s' (see dptrain --help)", argv[i]);
        } else if (a->experiment) {
            return dpt_errf(e, "train: more than one experiment file ('%s', '%s')", a->experiment, argv[i]);
        } else {
            a->experiment = argv[i];
        }
    }
    return DPT_OK;
}

/* Rank 0 resolves the configuration; the others receive its bytes. */
static int resolve_config(dpt_config *c, const dpt_comm *comm, const train_args *a, dpt_err *e)
{
    int st = DPT_OK;
    if (comm->rank == 0) {
        dpt_config_defaults(c);
        st = a->experiment ? dpt_config_load_file(c, a->experiment, e)
                           : dpt_config_load_string(c, dpt_config_default_experiment(), "built-in", e);
        for (int i = 0; st == DPT_OK && i < a->nsets; i++)
            st = dpt_config_set(c, a->sets[i], e);
        if (st == DPT_OK)
            st = dpt_config_validate(c, e);
    }
    if (dpt_comm_agree(comm, st, e) != DPT_OK)
        return DPT_FAIL;
    dpt_comm_bcast(comm, c, sizeof *c);
    return DPT_OK;
}

/* BLAS threads: the setting, or this node's cores shared among its ranks. */
static void set_threads(const dpt_config *c, const dpt_comm *comm)
{
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int per_rank = (int)(cores / comm->local_size);
    int n = c->train.threads > 0 ? c->train.threads : per_rank;
    if (n > cores)
        n = (int)cores;
    dpt_blas_set_threads(n < 1 ? 1 : n);
}

static void print_metrics(void *ctx, const dpt_trainer *t, const dpt_metrics *m)
{
    (void)ctx;
    printf("epoch %lld  step %lld/%lld  loss %.6f", (long long)m->epoch, (long long)m->step,
           (long long)t->total_steps, m->train_loss);
    if (m->val_loss == m->val_loss)
        printf("  val_loss %.6f", m->val_loss);
    if (m->val_accuracy == m->val_accuracy)
        printf("  val_acc %.4f", m->val_accuracy);
    printf("\n");
    fflush(stdout);
}

/* The default experiment's classic closing lines: the fitted line and a few predictions. */
static void print_linreg(dpt_trainer *t)
{
    if (t->comm->rank != 0 || t->model.in_dim != 1 || t->model.out_dim != 1 || t->model.nparams != 2)
        return;
    printf("learned weight %.4f  bias %.4f\n", t->model.params[0], t->model.params[1]);
    float x[4] = {2, 3, 4, 5};
    const float *y = dpt_model_forward(&t->model, x, 4);
    for (int i = 0; i < 4; i++)
        printf("predict x = %.0f -> %.4f\n", x[i], y[i]);
}

static int cmd_train(const dpt_comm *comm, int argc, char **argv, dpt_err *e)
{
    train_args a;
    dpt_config c;
    dpt_trainer t;
    int st = parse_train_args(&a, argc, argv, e);
    if (dpt_comm_agree(comm, st, e) != DPT_OK || resolve_config(&c, comm, &a, e) != DPT_OK)
        return DPT_FAIL;
    set_threads(&c, comm);
    if (dpt_trainer_init(&t, &c, comm, -1, e) != DPT_OK)
        return DPT_FAIL;
    t.on_metrics = print_metrics;
    if (comm->rank == 0)
        printf("dptrain %s: %s on %d rank%s, %zu parameters, %zu training samples\n", DPT_VERSION,
               a.experiment ? a.experiment : "built-in linear regression", comm->size,
               comm->size == 1 ? "" : "s", t.model.nparams, t.ntrain);
    st = dpt_trainer_run(&t, e);
    if (st == DPT_OK)
        print_linreg(&t);
    dpt_trainer_free(&t);
    return st;
}

int main(int argc, char **argv)
{
    dpt_comm comm = {0};
    dpt_err e = {0};
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("dptrain %s\n", DPT_VERSION);
        return 0;
    }
    if (dpt_comm_init(&comm, &argc, &argv, &e) != DPT_OK) {
        fprintf(stderr, "dptrain: %s\n", e.msg);
        return 1;
    }
    int st;
    if (argc == 1 || strcmp(argv[1], "train") == 0)
        st = cmd_train(&comm, argc > 1 ? argc - 2 : 0, argv + 2, &e);
    else
        st = dpt_errf(&e, "unknown command '%s' (see dptrain --help)", argv[1]);
    if (st != DPT_OK && !e.reported && comm.rank == 0)
        fprintf(stderr, "dptrain: rank %d: %s\n", comm.rank, e.msg);
    dpt_comm_finalize();
    return st == DPT_OK ? 0 : 1;
}
