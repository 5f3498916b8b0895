/* The subcommands of the dptrain command line. Each runs on every rank of
 * the job and returns a status that is the same on all ranks; errors come
 * back in e, marked reported when the failing rank has already printed. */
#ifndef DPTRAIN_CLI_H
#define DPTRAIN_CLI_H

#include "dptrain/comm.h"
#include "dptrain/error.h"

/* dptrain train [EXPERIMENT] [--set s.k=v]... [--resume auto|PATH] [--init PATH] */
int dpt_cli_train(const dpt_comm *comm, int argc, char **argv, dpt_err *e);

/* dptrain eval CHECKPOINT [--data PATH] [--targets PATH] */
int dpt_cli_eval(const dpt_comm *comm, int argc, char **argv, dpt_err *e);

/* dptrain predict CHECKPOINT INPUT [-o OUT] */
int dpt_cli_predict(const dpt_comm *comm, int argc, char **argv, dpt_err *e);

/* dptrain info CHECKPOINT */
int dpt_cli_info(const dpt_comm *comm, int argc, char **argv, dpt_err *e);

#endif
