/* What produced a run, beyond its settings: the command line and its launcher, the hosts and the
 * ranks on each, the CPU and the OpenBLAS kernels actually used, the compiler and its flags, the
 * environment variables that change numerics, and each data file's size and checksum. Kept in
 * config.ini (as comments, so the file still loads) and in every checkpoint's metadata. */
#ifndef DPTRAIN_RECORD_H
#define DPTRAIN_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "dptrain/comm.h"
#include "dptrain/error.h"

#define DPT_RECORD_MAX 8192

typedef struct {
    char text[DPT_RECORD_MAX]; /* "key: value" lines, each ending in '\n' */
    size_t len;
} dpt_record;

/* Fills r on rank 0 with the facts above but the data (collective: the host names are gathered);
 * elsewhere leaves it empty. */
void dpt_record_collect(dpt_record *r, const dpt_comm *comm);

/* Appends "data NAME: PATH, BYTES bytes, checksum SUM" (name e.g. "train"). */
void dpt_record_data(dpt_record *r, const char *name, const char *path, uint64_t checksum);

/* Appends one "key: value" line (printf-style value); lines past DPT_RECORD_MAX are dropped. */
void dpt_record_add(dpt_record *r, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
