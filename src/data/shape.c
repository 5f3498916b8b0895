/* The shape a model sees in a sample: model.input_shape when set, else the file's own. */
#include <errno.h>
#include <stdlib.h>

#include "dptrain/data.h"

/* Parses "C,H,W" (spaces allowed) into s; 0 when it is not three positive integers. */
static int parse_shape(int s[3], const char *spec)
{
    const char *p = spec;
    for (int k = 0; k < 3; k++) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > (1L << 24))
            return 0;
        s[k] = (int)v;
        while (*end == ' ')
            end++;
        if (k < 2 && *end++ != ',')
            return 0;
        p = end;
    }
    return *p == '\0';
}

int dpt_data_sample_shape(int shape[3], const dpt_dataset *ds, const char *spec, const char *file, dpt_err *e)
{
    if (spec && *spec) {
        if (!parse_shape(shape, spec))
            return dpt_errf(e, "model.input_shape = '%s': expected C,H,W (three positive integers)", spec);
        double n = (double)shape[0] * shape[1] * shape[2];
        if (n != (double)ds->d)
            return dpt_errf(e, "model.input_shape = '%s' holds %.0f values, but %s has %zu features per sample",
                            spec, n, file, ds->d);
        return DPT_OK;
    }
    if (ds->shape[0] && (double)ds->shape[0] * ds->shape[1] * ds->shape[2] == (double)ds->d) {
        for (int k = 0; k < 3; k++)
            shape[k] = (int)ds->shape[k];
        return DPT_OK;
    }
    shape[0] = (int)ds->d, shape[1] = shape[2] = 1;
    return DPT_OK;
}
