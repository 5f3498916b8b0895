/* The dptrain command line: the only place that turns an error into an exit
 * status. Every subcommand runs as an MPI job (a singleton without mpirun);
 * a failure ends every rank with a non-zero status. */
#include <stdio.h>
#include <string.h>

#include "dptrain/cli.h"
#include "dptrain/comm.h"
#include "dptrain/config.h"
#include "dptrain/smallgemm.h"
#include "dptrain/version.h"

static const char usage[] =
    "usage: dptrain COMMAND [ARGS]\n"
    "  train [EXPERIMENT.ini] [--set s.k=v]... [--resume auto|PATH] [--init PATH]\n"
    "  eval CHECKPOINT [--data PATH] [--targets PATH]\n"
    "  predict CHECKPOINT INPUT [-o OUT.csv]\n"
    "  info CHECKPOINT\n"
    "  study STUDY.ini [--set s.k=v]... [--resume auto] [--dry-run]   seeds and sweeps in one job\n"
    "  lr-find [EXPERIMENT.ini] [--set s.k=v]... [--min LR] [--max LR] [--steps N]   learning-rate range test\n"
    "  keys                  every experiment key with its default (Markdown)\n"
    "  --version, --help; COMMAND --help for details\n"
    "Run under `mpirun -np N` for N data-parallel ranks; alone it is a one-rank job.\n"
    "With no command at all, trains the built-in linear regression.\n";

typedef int (*command_fn)(const dpt_comm *, int, char **, dpt_err *);

static command_fn find_command(const char *name)
{
    static const struct {
        const char *name;
        command_fn fn;
    } commands[] = {
        {"train", dpt_cli_train}, {"eval", dpt_cli_eval}, {"predict", dpt_cli_predict}, {"info", dpt_cli_info},
        {"study", dpt_cli_study}, {"lr-find", dpt_cli_lr_find},
    };
    for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].fn;
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("dptrain %s\n", DPT_VERSION);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "keys") == 0) {
        dpt_config_doc(stdout);
        return 0;
    }
    for (int i = 2; argc > 2 && strcmp(argv[1], "study") == 0 && i < argc; i++)
        if (strcmp(argv[i], "--dry-run") == 0) { /* a check of the file: no MPI job needed */
            dpt_err e = {0};
            if (dpt_cli_study_dry_run(argc - 2, argv + 2, &e) == DPT_OK)
                return 0;
            fprintf(stderr, "dptrain: %s\n", e.msg);
            return 1;
        }
    command_fn cmd = argc > 1 ? find_command(argv[1]) : dpt_cli_train;
    if (!cmd) {
        fprintf(stderr, "dptrain: unknown command '%s' (see dptrain --help)\n", argv[1]);
        return 2;
    }
    dpt_comm comm = {0};
    dpt_err e = {0};
    if (dpt_comm_init(&comm, &argc, &argv, &e) != DPT_OK) {
        fprintf(stderr, "dptrain: %s\n", e.msg);
        return 1;
    }
    /* One kernel family for the whole job, agreed once by all its ranks before any command splits
     * them into groups: a rank whose CPU lacks AVX-512 sums its products in the BLAS's order, so
     * then every rank takes the BLAS, and a trial's bits (deterministic mode) do not depend on
     * the group that runs it, nor evaluation's on the rank that holds a row. */
    dpt_gemm_small_allow(!dpt_comm_any(&comm, !dpt_gemm_small_native()));
    int st = cmd(&comm, argc > 1 ? argc - 2 : 0, argv + (argc > 1 ? 2 : 1), &e);
    /* An error that every rank met alike is told once, by rank 0. */
    if (st != DPT_OK && !e.reported && comm.rank == 0)
        fprintf(stderr, "dptrain: rank %d: %s\n", comm.rank, e.msg);
    dpt_comm_finalize();
    return st == DPT_OK ? 0 : 1;
}
