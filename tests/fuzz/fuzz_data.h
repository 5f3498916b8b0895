/* One harness per data format, all alike: the input is a file of that format (gzipped or not,
 * the readers tell by the magic bytes), loaded the ways dptrain loads it. */
#ifndef DPTRAIN_FUZZ_DATA_H
#define DPTRAIN_FUZZ_DATA_H

#include <string.h>

#include "dptrain/data.h"
#include "fuzz.h"

/* Touches every loaded value, so a reader that promised more than it holds shows under ASan. */
static inline void fuzz_gather_all(const dpt_dataset *ds)
{
    float x[1024], y[1024];
    size_t idx[1];
    if (ds->d > 1024 || ds->tdim > 1024)
        return;
    for (size_t i = 0; i < ds->n; i++) {
        idx[0] = i;
        dpt_data_gather(x, ds->y ? y : NULL, ds, idx, 1);
    }
}

/* Loads path as format fmt: with targets from the same file (idx, npy) or from its own label
 * column (csv, libsvm), then as features only; the first byte picks task and CSV header mode. */
static inline void fuzz_load(const char *path, dpt_data_format fmt, int own_targets, unsigned sel)
{
    dpt_data_opts o = {.format = fmt, .path = path, .targets = own_targets ? "" : path, .label = "",
                       .header = (int)(sel % 3) - 1, .task = (sel & 4) ? DPT_TASK_REGRESS : DPT_TASK_CLASSIFY,
                       .nclasses = (sel & 8) ? 10 : 0, .nfeatures = (sel & 16) ? 8 : 0};
    if (sel & 32)
        o.label = "0";
    dpt_dataset ds;
    dpt_err e = {0};
    if (dpt_data_load(&ds, &o, &e) == DPT_OK) {
        fuzz_gather_all(&ds);
        dpt_data_free(&ds);
    }
    if (dpt_data_load_features(&ds, &o, &e) == DPT_OK) {
        fuzz_gather_all(&ds);
        dpt_data_free(&ds);
    }
}

#endif
