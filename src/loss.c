/* MSE and softmax cross-entropy. Per-sample work is done in double so the
 * sums stay exact enough for metrics; gradients are written as float. */
#include "dptrain/loss.h"

#include <math.h>
#include <string.h>

static const char *const kind_names[] = {[DPT_LOSS_MSE] = "mse", [DPT_LOSS_XENT] = "cross_entropy"};
enum { NKINDS = (int)(sizeof kind_names / sizeof kind_names[0]) };

int dpt_loss_parse(dpt_loss_kind *kind, const char *name, dpt_err *e)
{
    for (int i = 0; name && i < NKINDS; i++)
        if (strcmp(name, kind_names[i]) == 0) {
            *kind = (dpt_loss_kind)i;
            return DPT_OK;
        }
    char list[64];
    return dpt_errf(e, "loss.kind = '%s': expected one of %s", name ? name : "(null)",
                    dpt_names_list(list, sizeof list, dpt_loss_kind_name));
}

const char *dpt_loss_kind_name(int kind)
{
    return kind >= 0 && kind < NKINDS ? kind_names[kind] : NULL;
}

double dpt_loss_mse(float *grad, const float *pred, const float *y, int n, int k)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const float *p = pred + (size_t)i * k, *t = y + (size_t)i * k;
        double s = 0;
        for (int j = 0; j < k; j++) {
            double d = (double)p[j] - (double)t[j];
            s += d * d;
            if (grad)
                grad[(size_t)i * k + j] = (float)(2.0 * d / k);
        }
        sum += s / k;
    }
    return sum;
}

double dpt_loss_xent(float *grad, const float *logits, const float *labels, int n, int k)
{
    double sum = 0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * k;
        int label = (int)labels[i];
        /* log-sum-exp shifted by the max: exp never overflows, the log never sees 0. */
        float m = z[0];
        for (int j = 1; j < k; j++)
            m = z[j] > m ? z[j] : m;
        double se = 0;
        for (int j = 0; j < k; j++)
            se += exp((double)z[j] - m);
        double lse = m + log(se);
        sum += lse - z[label];
        if (grad) {
            float *g = grad + (size_t)i * k;
            for (int j = 0; j < k; j++)
                g[j] = (float)(exp((double)z[j] - lse) - (j == label));
        }
    }
    return sum;
}

double dpt_loss_eval(dpt_loss_kind kind, float *grad, const float *out, const float *y, int n, int k)
{
    return kind == DPT_LOSS_MSE ? dpt_loss_mse(grad, out, y, n, k) : dpt_loss_xent(grad, out, y, n, k);
}

int dpt_argmax(const float *x, int k)
{
    int best = 0;
    for (int j = 1; j < k; j++)
        if (x[j] > x[best])
            best = j;
    return best;
}
