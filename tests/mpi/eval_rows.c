/* Test tool: a trainer whose training split is a few samples (data.val_fraction near 1) must still
 * evaluate its thousands of validation samples in chunks of DPT_EVAL_ROWS rows, not one row per
 * forward pass as a reuse of the per-rank training batch would.
 *   eval_rows DATA.csv     exit 0 when the chunks hold at least 256 rows and evaluation works */
#include <stdio.h>
#include <stdlib.h>

#include "dptrain/comm.h"
#include "dptrain/config.h"
#include "dptrain/train.h"

int main(int argc, char **argv)
{
    dpt_comm comm = {0};
    dpt_err e = {0};
    if (dpt_comm_init(&comm, &argc, &argv, &e) != DPT_OK || argc != 2) {
        fprintf(stderr, "usage: eval_rows DATA.csv (%s)\n", e.msg);
        return 2;
    }
    char train[600];
    snprintf(train, sizeof train, "data.train=%s", argv[1]);
    const char *sets[] = {train, "data.val_fraction=0.999", "data.task=regress", "loss.kind=mse",
                          "model.layers=dense 1", "training.batch=3"};
    dpt_config c;
    dpt_config_defaults(&c);
    int st = DPT_OK;
    for (size_t i = 0; i < sizeof sets / sizeof *sets && st == DPT_OK; i++)
        st = dpt_config_set(&c, sets[i], &e);
    if (st == DPT_OK)
        st = dpt_config_validate(&c, &e);
    dpt_config_resolve(&c);
    dpt_trainer t;
    if (st != DPT_OK || dpt_trainer_init(&t, &c, &comm, -1, &e) != DPT_OK) {
        fprintf(stderr, "eval_rows: %s\n", e.msg);
        return 2;
    }
    dpt_eval_result r = dpt_trainer_eval(&t, 0);
    int rows = t.model.max_batch < 256 ? t.model.max_batch : 256;
    printf("train %zu, validation %zu (evaluated %.0f), evaluated %d rows per forward pass\n", t.ntrain, t.nval,
           r.count, rows);
    int ok = t.ntrain <= 3 && r.count == (double)t.nval && rows >= 256;
    dpt_trainer_free(&t);
    dpt_comm_finalize();
    return ok ? 0 : 1;
}
