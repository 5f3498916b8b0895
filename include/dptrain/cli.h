/* The subcommands of the dptrain command line. Each runs on every rank of
 * the job and returns a status that is the same on all ranks; errors come
 * back in e, marked reported when the failing rank has already printed. */
#ifndef DPTRAIN_CLI_H
#define DPTRAIN_CLI_H

#include "dptrain/comm.h"
#include "dptrain/config.h"
#include "dptrain/error.h"
#include "dptrain/model.h"

/* dptrain train [EXPERIMENT] [--set s.k=v]... [--resume auto|PATH] [--init PATH] */
int dpt_cli_train(const dpt_comm *comm, int argc, char **argv, dpt_err *e);

/* Trains c, already resolved and validated (a study's trial), on comm's ranks as dptrain train
 * does after reading its file: resume is "auto" or NULL; label names the experiment in the log.
 * The watchdog is the caller's to start. */
int dpt_cli_train_config(const dpt_comm *comm, dpt_config *c, const char *resume, const char *label, dpt_err *e);

/* dptrain lr-find [EXPERIMENT.ini] [--set s.k=v]... [--min LR] [--max LR] [--steps N] */
int dpt_cli_lr_find(const dpt_comm *comm, int argc, char **argv, dpt_err *e);

/* The value of option name at argv[*i], written "--name VALUE" (advancing *i) or "--name=VALUE";
 * NULL when argv[*i] is another argument, with *missing set when the value is absent. */
const char *dpt_cli_option(int argc, char **argv, int *i, const char *name, int *missing);

/* Rank 0 reads experiment (NULL: the built-in one), applies the --set assignments, validates and
 * resolves it; every rank receives it (collective; fails on every rank, told once). */
int dpt_cli_resolve(dpt_config *c, const dpt_comm *comm, const char *experiment, const char *const *sets, int nsets,
                    dpt_err *e);

/* Settles c for this job as dptrain train does: BLAS threads, floating-point mode, bucket size. */
void dpt_cli_set_threads(dpt_config *c, const dpt_comm *comm);

/* dptrain study STUDY.ini [--resume auto] */
int dpt_cli_study(const dpt_comm *comm, int argc, char **argv, dpt_err *e);

/* dptrain study STUDY.ini --dry-run: builds and checks every trial's experiment and lists the
 * trials, in this process alone (no MPI, nothing trained). */
int dpt_cli_study_dry_run(int argc, char **argv, dpt_err *e);

/* dptrain eval CHECKPOINT [--data PATH] [--targets PATH] */
int dpt_cli_eval(const dpt_comm *comm, int argc, char **argv, dpt_err *e);

/* dptrain predict CHECKPOINT INPUT [-o OUT] */
int dpt_cli_predict(const dpt_comm *comm, int argc, char **argv, dpt_err *e);

/* dptrain info CHECKPOINT */
int dpt_cli_info(const dpt_comm *comm, int argc, char **argv, dpt_err *e);

/* A checkpoint's model with the configuration it was trained with. */
typedef struct {
    dpt_config cfg;
    dpt_model model;
    float *mean, *std; /* standardization, or NULL */
    int in_dim;
} dpt_cli_model;

/* Reads path on this rank (no communication): the configuration from its metadata, then the
 * model, checked against the stored tensors before it is allocated, and its parameters. */
int dpt_cli_model_load(dpt_cli_model *l, const char *path, dpt_err *e);

/* Frees what dpt_cli_model_load filled; accepts a zeroed one. */
void dpt_cli_model_free(dpt_cli_model *l);

#endif
