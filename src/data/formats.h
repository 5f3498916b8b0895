/* Private seam between data.c and the format readers in src/data/: one
 * reader per format, plus the few helpers they share (a file held in memory,
 * label and finiteness checks). Not installed, not part of the public API. */
#ifndef DPTRAIN_DATA_FORMATS_H
#define DPTRAIN_DATA_FORMATS_H

#include <stddef.h>

#include "dptrain/data.h"
#include "dptrain/error.h"

/* A whole file in memory: mapped read-only when uncompressed, else a malloc'd
 * buffer holding the gunzipped bytes. Exactly one of map and buf is set
 * (neither for an empty file). */
typedef struct {
    const unsigned char *p; /* [len] file bytes */
    size_t len;
    void *map;
    size_t maplen;
    void *buf;
} dpt_blob;

/* Reads path (gunzipping it when it starts with the gzip magic) into b;
 * an empty file is an error naming path. */
int dpt_blob_open(dpt_blob *b, const char *path, dpt_err *e);

/* The line that starts at ls (before end): sets *le to its end, without "\n" or "\r\n", and
 * returns where the next line starts (end after the last). */
const char *dpt_line(const char *ls, const char *end, const char **le);

/* Releases what b holds; accepts a zeroed blob. */
void dpt_blob_close(dpt_blob *b);

/* Moves b's storage into ds (ds->map or ds->xbuf) so that pointers into
 * b->p stay valid for the dataset's life; b is left zeroed. */
void dpt_blob_give(dpt_dataset *ds, dpt_blob *b);

/* Checks one target value against o's task: finite, and for classification
 * an integer in [0, o->nclasses) (or >= 0 when nclasses is 0). The message
 * has no location: the caller prefixes it. */
int dpt_target_check(double v, const dpt_data_opts *o, dpt_err *e);

/* Finds the first NaN or Inf among n*d stored values of type t; returns 1 and
 * sets *row, *col if there is one. */
int dpt_find_nonfinite(const void *x, dpt_dtype t, size_t n, size_t d, size_t *row, size_t *col);

/* a*b into *out; returns 0 on size_t overflow. */
int dpt_mul_ok(size_t a, size_t b, size_t *out);

/* IDX features (ds->x, n, d, xtype, xscale) from path; the bytes stay as stored
 * when they are uint8. */
int dpt_idx_read_x(dpt_dataset *ds, const char *path, dpt_err *e);
/* IDX targets: *y malloc'd [n][tdim] floats (leading axis samples, rest flattened). */
int dpt_idx_read_y(float **y, size_t *n, size_t *tdim, const char *path, dpt_err *e);

/* NPY features, memory-mapped when the data is aligned for its dtype. */
int dpt_npy_read_x(dpt_dataset *ds, const char *path, dpt_err *e);
/* NPY targets, 1-D (tdim 1) or 2-D (tdim = shape[1]), converted to float. */
int dpt_npy_read_y(float **y, size_t *n, size_t *tdim, const char *path, dpt_err *e);

/* Parses a decimal number (sign, digits, fraction, exponent; also nan, inf,
 * infinity) starting exactly at p, reading no byte at or past end. Returns
 * the first byte after it, or NULL when p does not start a number. */
const char *dpt_parse_num(const char *p, const char *end, double *out);

/* CSV features and one label column into ds (float32 features, tdim 1);
 * with no_label every column is a feature and ds->y stays NULL. */
int dpt_csv_read(dpt_dataset *ds, const dpt_data_opts *o, int no_label, dpt_err *e);

/* libsvm/svmlight rows densified into float32 [n][d], labels into y (checked
 * against o's task unless no_label, which leaves ds->y NULL). */
int dpt_libsvm_read(dpt_dataset *ds, const dpt_data_opts *o, int no_label, dpt_err *e);

#endif
