/* Losses over a batch. Each returns the SUM of per-sample losses (in double)
 * and writes the gradient of that sum: ranks add their sums and the trainer
 * divides once by the global sample count. */
#ifndef DPTRAIN_LOSS_H
#define DPTRAIN_LOSS_H

#include "dptrain/error.h"

typedef enum { DPT_LOSS_MSE, DPT_LOSS_XENT } dpt_loss_kind;

/* Parses "mse" or "cross_entropy"; the message lists the names. */
int dpt_loss_parse(dpt_loss_kind *kind, const char *name, dpt_err *e);

/* Name of kind as dpt_loss_parse accepts it (the one table of loss names); NULL outside the enum. */
const char *dpt_loss_kind_name(int kind);

/* Sum over n samples of mean_j (pred - y)^2 over k outputs; grad [n][k] (may be NULL). */
double dpt_loss_mse(float *grad, const float *pred, const float *y, int n, int k);

/* Sum over n samples of -log softmax(logits)[label]; labels are class indices
 * stored as floats; stable for any finite logits; grad = softmax - onehot (may be NULL). */
double dpt_loss_xent(float *grad, const float *logits, const float *labels, int n, int k);

/* Dispatches on kind; y holds targets (mse) or labels (cross entropy). */
double dpt_loss_eval(dpt_loss_kind kind, float *grad, const float *out, const float *y, int n, int k);

/* Index of the largest of x[0..k), the first on ties. */
int dpt_argmax(const float *x, int k);

#endif
