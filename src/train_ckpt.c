/* When the trainer meets the disk: saving, pruning, finding the latest good
 * checkpoint, and restoring (rank 0 reads, every rank receives). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dptrain/snapshot.h"
#include "dptrain/train.h"

enum { MAX_CKPTS = 4096 };

/* Step numbers of the step-*.safetensors files in dir, newest first; returns the count. */
static int list_steps(const char *dir, long long *steps, int max)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max) {
        long long s;
        char tail[32];
        if (sscanf(de->d_name, "step-%lld.safetensor%31s", &s, tail) == 2 && strcmp(tail, "s") == 0)
            steps[n++] = s;
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && steps[j] > steps[j - 1]; j--) {
            long long tmp = steps[j];
            steps[j] = steps[j - 1];
            steps[j - 1] = tmp;
        }
    return n;
}

static void step_path(char *buf, size_t size, const char *dir, long long step)
{
    snprintf(buf, size, "%s/step-%010lld.safetensors", dir, step);
}

void dpt_trainer_checkpoint(dpt_trainer *t)
{
    if (t->comm->rank != 0 || !t->ckpt_dir[0])
        return;
    char path[sizeof t->ckpt_dir + 48];
    dpt_err e;
    step_path(path, sizeof path, t->ckpt_dir, (long long)t->step);
    if (dpt_snapshot_save(t, path, &e) != DPT_OK) {
        if (t->on_note)
            t->on_note(t->ctx, e.msg);
        return;
    }
    /* Prune only after a successful save, so the last good ones always stay. */
    static long long steps[MAX_CKPTS];
    int n = list_steps(t->ckpt_dir, steps, MAX_CKPTS);
    for (int i = (int)t->cfg->ckpt.keep_last; i < n; i++) {
        step_path(path, sizeof path, t->ckpt_dir, steps[i]);
        unlink(path);
    }
}

int dpt_trainer_find_latest(const char *dir, char *path, size_t size, dpt_note_fn note, void *ctx, dpt_err *e)
{
    static long long steps[MAX_CKPTS];
    int n = list_steps(dir, steps, MAX_CKPTS);
    for (int i = 0; i < n; i++) {
        dpt_ckpt c;
        dpt_err why;
        step_path(path, size, dir, steps[i]);
        if (dpt_ckpt_read(&c, path, &why) == DPT_OK) {
            dpt_ckpt_free(&c);
            return DPT_OK;
        }
        if (note) {
            char line[700];
            snprintf(line, sizeof line, "skipping damaged checkpoint: %s", why.msg);
            note(ctx, line);
        }
    }
    return dpt_errf(e, "%s: no valid checkpoint to resume from", dir);
}

/* The scalar position every rank needs after a restore. */
typedef struct {
    int64_t step, epoch, batch_in_epoch, opt_t, skipped, best_step, bad_evals;
    double epoch_loss, epoch_count, best_metric;
} position;

static int read_on_root(dpt_trainer *t, const char *path, int params_only, position *p, dpt_err *e)
{
    dpt_ckpt c;
    if (dpt_ckpt_read(&c, path, e) != DPT_OK)
        return DPT_FAIL;
    int st = params_only ? dpt_snapshot_load_params(&t->model, &c, path, e)
                         : dpt_snapshot_restore(t, &c, path, e);
    dpt_ckpt_free(&c);
    *p = (position){t->step, t->epoch, (int64_t)t->batch_in_epoch, t->opt.t, t->skipped, t->early.best_step,
                    t->early.bad, t->epoch_loss, t->epoch_count, t->early.best};
    return st;
}

int dpt_trainer_restore(dpt_trainer *t, const char *path, int params_only, dpt_err *e)
{
    position p = {0};
    int st = t->comm->rank == 0 ? read_on_root(t, path, params_only, &p, e) : DPT_OK;
    if (dpt_comm_agree(t->comm, st, e) != DPT_OK)
        return DPT_FAIL;
    dpt_comm_bcast(t->comm, t->model.params, sizeof(float) * t->model.nparams);
    if (params_only)
        return DPT_OK;
    dpt_comm_bcast(t->comm, &p, sizeof p);
    for (int i = 0; i < t->opt.nstate; i++)
        dpt_comm_bcast(t->comm, t->opt.state[i], sizeof(float) * t->model.nparams);
    if (t->best_params)
        dpt_comm_bcast(t->comm, t->best_params, sizeof(float) * t->model.nparams);
    t->step = p.step;
    t->epoch = p.epoch;
    t->batch_in_epoch = (size_t)p.batch_in_epoch;
    t->opt.t = p.opt_t;
    t->skipped = p.skipped;
    t->early.best_step = p.best_step;
    t->early.bad = p.bad_evals;
    t->epoch_loss = p.epoch_loss;
    t->epoch_count = p.epoch_count;
    t->early.best = p.best_metric;
    return DPT_OK;
}
