/* Errors are values until main: a library call returns DPT_OK or DPT_FAIL
 * and leaves one line in a dpt_err naming the file, line or key at fault. */
#ifndef DPTRAIN_ERROR_H
#define DPTRAIN_ERROR_H

#include <stddef.h>

enum { DPT_OK = 0, DPT_FAIL = -1 };

typedef struct {
    char msg[512];
    int reported; /* already printed by the rank that failed (see dpt_comm_agree) */
} dpt_err;

/* Formats a one-line message into e (may be NULL) and returns DPT_FAIL. */
int dpt_errf(dpt_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prefixes e's message with "prefix: ", keeps DPT_FAIL flowing. */
int dpt_err_prefix(dpt_err *e, const char *prefix);

/* The names of an enum, name(0), name(1), ... up to the first NULL (each module's table of a
 * setting's names), as "a, b, c" in out[n] for an "expected one of" message; returns out. */
const char *dpt_names_list(char *out, size_t n, const char *(*name)(int));

#endif
