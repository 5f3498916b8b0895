/* Metrics over a dataset: every rank evaluates a contiguous slice and the
 * sums are reduced once (in deterministic mode once per 256 chunks), so each
 * sample counts exactly once and no rank waits on another for long. Allocates
 * nothing and writes no files. */
#ifndef DPTRAIN_EVAL_H
#define DPTRAIN_EVAL_H

#include <stddef.h>

#include "dptrain/comm.h"
#include "dptrain/data.h"
#include "dptrain/loss.h"
#include "dptrain/model.h"

typedef struct {
    double loss;      /* mean loss per sample */
    double accuracy;  /* fraction correct (classification), else 0 */
    double count;     /* samples evaluated */
} dpt_eval_result;

/* Rows per evaluation chunk, whatever the training batch: evaluating a model trained on
 * batches of one sample must not run its forward pass one row at a time. */
enum { DPT_EVAL_ROWS = 256 };

/* Evaluates m on ds samples idx[0..n) (idx NULL = all) across all ranks (collective) in chunks
 * of min(DPT_EVAL_ROWS, m->max_batch) rows; x, y are scratch of as many rows. deterministic:
 * sums in chunk order, so the result does not depend on the rank count. */
dpt_eval_result dpt_eval(const dpt_comm *c, dpt_model *m, dpt_loss_kind loss, const dpt_dataset *ds,
                         const size_t *idx, size_t n, float *x, float *y, int deterministic);

#endif
