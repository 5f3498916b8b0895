/* Generated datasets, drawn from counter-based randomness so every rank
 * builds the same bytes without reading or sending anything. */
#include <stdlib.h>
#include <string.h>

#include "dptrain/data.h"
#include "dptrain/rng.h"

static const char *const synthetic_names[] = {[DPT_SYNTH_NONE] = "none", [DPT_SYNTH_LINREG] = "linreg"};

const char *dpt_data_synthetic_name(int synthetic)
{
    return synthetic >= 0 && synthetic < (int)(sizeof synthetic_names / sizeof synthetic_names[0])
               ? synthetic_names[synthetic]
               : NULL;
}

/* The classic linear regression: y = 2x + 0.5 eps with x, eps ~ N(0, 1). */
int dpt_data_linreg(dpt_dataset *ds, size_t n, uint64_t seed, dpt_err *e)
{
    memset(ds, 0, sizeof *ds);
    float *x = malloc(sizeof(float) * n);
    float *y = malloc(sizeof(float) * n);
    if (!x || !y) {
        free(x);
        free(y);
        return dpt_errf(e, "data.synthetic: out of memory for %zu samples", n);
    }
    for (size_t i = 0; i < n; i++) {
        double xi = dpt_rng_normal(seed, DPT_STREAM_DATA, i);
        double eps = dpt_rng_normal(seed, DPT_STREAM_DATA, ((uint64_t)1 << 40) + i);
        x[i] = (float)xi;
        y[i] = (float)(2.0 * xi + 0.5 * eps);
    }
    ds->n = n;
    ds->d = 1;
    ds->xtype = DPT_DT_F32;
    ds->x = x;
    ds->xbuf = x;
    ds->xscale = 1.0f;
    ds->tdim = 1;
    ds->y = y;
    ds->nclasses = 0;
    return DPT_OK;
}
