/* Files that are either wholly old or wholly new: every output of dptrain
 * (checkpoints, config.ini, summary.json) is written through here; and whole files read back. */
#ifndef DPTRAIN_FSIO_H
#define DPTRAIN_FSIO_H

#include <stddef.h>

#include "dptrain/error.h"

/* Writes parts[0..nparts) one after another to path atomically: a temporary file in the same
 * directory, fsync, rename, fsync of the directory. On failure the file at path is unchanged
 * and the temporary file removed. */
int dpt_write_atomic_parts(const char *path, const void *const *parts, const size_t *lens, int nparts,
                           dpt_err *e);

/* dpt_write_atomic_parts with one part. */
int dpt_write_atomic(const char *path, const void *data, size_t len, dpt_err *e);

/* Removes the temporary files (NAME.tmp.PID) that writers killed mid-write left in dir; call only
 * while no writer can be active there. Returns how many it removed. */
int dpt_remove_temporaries(const char *dir);

/* Reads the regular file at path whole into *buf (malloc'd, NUL-appended, *len bytes without
 * it); a file over max bytes, missing, unreadable or too large for memory is an error naming path. */
int dpt_read_file(const char *path, size_t max, char **buf, size_t *len, dpt_err *e);

#endif
