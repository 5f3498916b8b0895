/* L1, L2 and elastic-net penalties added to the gradient over chosen ranges
 * of the parameter buffer (the caller decides which: biases are usually left
 * out). Convention: J_reg = J + l1 * sum|w| + (l2 / 2) * sum w^2, so the
 * gradient gains l1 * sign(w) + l2 * w. */
#include "dptrain/optim.h"

#include <math.h>

int dpt_reg_check(const dpt_reg_config *r, dpt_err *e)
{
    if (!(r->l1 >= 0) || !isfinite(r->l1))
        return dpt_errf(e, "regularization.l1 = %g: must be a finite number >= 0", r->l1);
    if (!(r->l2 >= 0) || !isfinite(r->l2))
        return dpt_errf(e, "regularization.l2 = %g: must be a finite number >= 0", r->l2);
    return DPT_OK;
}

double dpt_reg_apply(const dpt_reg_config *r, float *grads, const float *params,
                     const dpt_range *ranges, int nranges)
{
    if (r->l1 == 0 && r->l2 == 0)
        return 0.0;
    const float l1 = (float)r->l1, l2 = (float)r->l2;
    double a1 = 0.0, a2 = 0.0;
    for (int k = 0; k < nranges; k++) {
        float *restrict g = grads + ranges[k].off;
        const float *restrict w = params + ranges[k].off;
        for (size_t i = 0; i < ranges[k].len; i++) {
            const float wi = w[i];
            /* sign(0) = 0: a weight already at zero gets no push either way */
            const float sg = (float)(wi > 0) - (float)(wi < 0);
            g[i] += l1 * sg + l2 * wi;
            a1 += fabs((double)wi);
            a2 += (double)wi * (double)wi;
        }
    }
    return r->l1 * a1 + 0.5 * r->l2 * a2;
}
