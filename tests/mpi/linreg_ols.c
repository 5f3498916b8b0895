/* Test tool: the ordinary-least-squares line through the built-in linear
 * regression's points, solved in double, against a checkpoint's weight and bias.
 *   linreg_ols CHECKPOINT SEED N TOL     exit 0 when both agree within TOL */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "dptrain/checkpoint.h"
#include "dptrain/data.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: linreg_ols CHECKPOINT SEED N TOL\n");
        return 2;
    }
    dpt_dataset ds;
    dpt_ckpt c;
    dpt_err e;
    if (dpt_data_linreg(&ds, (size_t)atol(argv[3]), strtoull(argv[2], NULL, 10), &e) != DPT_OK ||
        dpt_ckpt_read(&c, argv[1], &e) != DPT_OK) {
        fprintf(stderr, "linreg_ols: %s\n", e.msg);
        return 2;
    }
    const float *x = ds.x;
    double sx = 0, sy = 0, sxx = 0, sxy = 0, n = (double)ds.n;
    for (size_t i = 0; i < ds.n; i++) {
        sx += x[i];
        sy += ds.y[i];
        sxx += (double)x[i] * x[i];
        sxy += (double)x[i] * ds.y[i];
    }
    double w = (n * sxy - sx * sy) / (n * sxx - sx * sx), b = (sy - w * sx) / n;
    const dpt_ckpt_tensor *tw = dpt_ckpt_find(&c, "layers.0.weight"), *tb = dpt_ckpt_find(&c, "layers.0.bias");
    if (!tw || !tb) {
        fprintf(stderr, "linreg_ols: no layers.0 tensors\n");
        return 2;
    }
    double tol = atof(argv[4]), dw = fabs(tw->data[0] - w), db = fabs(tb->data[0] - b);
    printf("ols weight %.6f bias %.6f; trained weight %.6f bias %.6f; differences %.2g %.2g\n", w, b,
           tw->data[0], tb->data[0], dw, db);
    dpt_ckpt_free(&c);
    dpt_data_free(&ds);
    return dw <= tol && db <= tol ? 0 : 1;
}
