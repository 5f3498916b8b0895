/* The trainer's state as checkpoint tensors and metadata, and back: model
 * parameters by layer name in torch's layout (layers.i.weight [out, in] or
 * [out, in, kh, kw], layers.i.bias [out]), the model's input shape,
 * optimizer state buffers, early stopping's best parameters, standardization,
 * and the exact position (step, epoch, batch) with the resolved configuration.
 * The checkpoint module stores; this one maps; train decides when. */
#ifndef DPTRAIN_SNAPSHOT_H
#define DPTRAIN_SNAPSHOT_H

#include "dptrain/checkpoint.h"
#include "dptrain/error.h"
#include "dptrain/model.h"
#include "dptrain/train.h"

/* Writes t's full state to path (call on the writing rank only). */
int dpt_snapshot_save(const dpt_trainer *t, const char *path, dpt_err *e);

/* Checks the checkpoint's layer tensors against m's layer shapes without touching m's buffers
 * (a model planned with dpt_model_plan has none yet); a mismatch lists every differing name. */
int dpt_snapshot_check_params(dpt_model *m, const dpt_ckpt *c, const char *path, dpt_err *e);

/* Copies the checkpoint's layer tensors into m; a mismatch lists every differing name and shape
 * and leaves m untouched. */
int dpt_snapshot_load_params(dpt_model *m, const dpt_ckpt *c, const char *path, dpt_err *e);

/* Whether c's tensors fit t's model and optimizer (no change to t); a misfit names the differing
 * tensors with their shapes and the settings that differ from the checkpoint's configuration. */
int dpt_snapshot_fits(dpt_trainer *t, const dpt_ckpt *c, const char *path, dpt_err *e);

/* Restores parameters, optimizer state and position from c into t (local, no communication); on
 * failure t is untouched. */
int dpt_snapshot_restore(dpt_trainer *t, const dpt_ckpt *c, const char *path, dpt_err *e);

/* Reads the metadata value key as a number; fails naming path and key when absent or malformed. */
int dpt_snapshot_meta_number(const dpt_ckpt *c, const char *path, const char *key, double *v, dpt_err *e);

/* The model's input shape C x H x W from c's metadata (in_dim x 1 x 1 in a checkpoint written
 * before shapes); fails naming path when it is malformed or its product is not in_dim. */
int dpt_snapshot_in_shape(const dpt_ckpt *c, const char *path, int in_dim, dpt_shape *s, dpt_err *e);

#endif
