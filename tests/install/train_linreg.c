/* Built against an installed dptrain through `pkg-config --cflags --libs dptrain` (t_install.sh):
 * trains the built-in linear regression through the public API, writes no file, and checks the
 * line against the least-squares one computed here in double. Exit 0 when they agree. */
#include <math.h>
#include <stdio.h>

#include <dptrain/comm.h>
#include <dptrain/config.h>
#include <dptrain/data.h>
#include <dptrain/train.h>

static dpt_config cfg; /* large */

int main(int argc, char **argv)
{
    dpt_comm comm;
    dpt_err e = {0};
    dpt_trainer t;
    dpt_dataset ds;
    if (dpt_comm_init(&comm, &argc, &argv, &e) != DPT_OK)
        return fprintf(stderr, "train_linreg: %s\n", e.msg), 2;
    dpt_config_defaults(&cfg);
    int st = dpt_config_load_string(&cfg, dpt_config_default_experiment(), "built-in", &e);
    if (st == DPT_OK && (st = dpt_config_validate(&cfg, &e)) == DPT_OK)
        dpt_config_resolve(&cfg);
    if (st != DPT_OK || dpt_trainer_init(&t, &cfg, &comm, -1, &e) != DPT_OK || dpt_trainer_run(&t, &e) != DPT_OK ||
        dpt_data_linreg(&ds, (size_t)cfg.data.synthetic_samples, cfg.run.seed, &e) != DPT_OK) {
        fprintf(stderr, "train_linreg: %s\n", e.msg);
        dpt_comm_finalize();
        return 2;
    }
    const float *x = ds.x; /* the synthetic set is float */
    double sx = 0, sy = 0, sxx = 0, sxy = 0, n = (double)ds.n;
    for (size_t i = 0; i < ds.n; i++) {
        sx += x[i];
        sy += ds.y[i];
        sxx += (double)x[i] * x[i];
        sxy += (double)x[i] * ds.y[i];
    }
    double w = (n * sxy - sx * sy) / (n * sxx - sx * sx), b = (sy - w * sx) / n;
    double tw = t.model.params[0], tb = t.model.params[1];
    printf("least squares w %.5f b %.5f; trained w %.5f b %.5f\n", w, b, tw, tb);
    int ok = fabs(tw - w) < 1e-3 && fabs(tb - b) < 1e-3;
    dpt_trainer_free(&t);
    dpt_data_free(&ds);
    dpt_comm_finalize();
    return ok ? 0 : 1;
}
