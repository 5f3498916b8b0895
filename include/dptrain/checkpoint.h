/* Checkpoints as safetensors files: an 8-byte little-endian header length,
 * a JSON header (written and parsed with cJSON), then raw little-endian
 * tensor data. Writes are atomic; reads trust nothing in the file. This
 * module stores and validates; it never decides when to save. */
#ifndef DPTRAIN_CHECKPOINT_H
#define DPTRAIN_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "dptrain/error.h"

enum { DPT_CKPT_MAX_DIMS = 4 };

/* One float32 tensor to write or that was read. */
typedef struct {
    const char *name;                 /* e.g. "layers.0.weight" */
    int ndim;
    int64_t shape[DPT_CKPT_MAX_DIMS];
    const float *data;                /* product(shape) floats */
} dpt_ckpt_tensor;

/* One __metadata__ entry; safetensors metadata values are strings. */
typedef struct {
    const char *key, *value;
} dpt_ckpt_meta;

/* Writes tensors and metadata to path atomically (temporary file in the same
 * directory, fsync, rename, fsync of the directory); adds a "checksum" metadata
 * entry over the data section. On failure the file at path is unchanged. */
int dpt_ckpt_write(const char *path, const dpt_ckpt_tensor *t, int nt,
                   const dpt_ckpt_meta *meta, int nmeta, dpt_err *e);

/* A checkpoint read into memory; every tensor validated (dtype F32, offsets
 * in range and not overlapping, size = product of shape) and the checksum checked. */
typedef struct {
    int nt;
    dpt_ckpt_tensor *t;   /* names and data point into buf */
    int nmeta;
    dpt_ckpt_meta *meta;  /* strings owned here */
    void *buf;            /* the file's bytes */
    size_t len;
} dpt_ckpt;

/* Reads and validates path; on failure c is empty and e says what is wrong and where. */
int dpt_ckpt_read(dpt_ckpt *c, const char *path, dpt_err *e);

/* Frees c; accepts a zeroed checkpoint. */
void dpt_ckpt_free(dpt_ckpt *c);

/* The tensor called name, or NULL. */
const dpt_ckpt_tensor *dpt_ckpt_find(const dpt_ckpt *c, const char *name);

/* The metadata value for key, or NULL. */
const char *dpt_ckpt_meta_get(const dpt_ckpt *c, const char *key);

#endif
