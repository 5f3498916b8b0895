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

void dpt_trainer_sync_state(dpt_trainer *t)
{
    if (!t->sharded)
        return;
    /* Watched like a step; rank 0's file write that follows is not (a slow disk is no hang). */
    dpt_comm_watch("the checkpoint after step", t->step);
    for (int i = 0; i < t->opt.nstate; i++) {
        if (t->cfg->train.deterministic)
            dpt_comm_tree_allgather_f(t->comm, t->opt.state[i], t->model.nparams, DPT_DET_ALIGN);
        else
            dpt_comm_allgather_f(t->comm, t->opt.state[i], t->model.nparams);
    }
    dpt_comm_unwatch();
}

int dpt_trainer_checkpoint(dpt_trainer *t, dpt_err *e)
{
    dpt_trainer_sync_state(t);
    if (t->comm->rank != 0 || !t->ckpt_dir[0])
        return DPT_OK;
    char path[sizeof t->ckpt_dir + 48];
    step_path(path, sizeof path, t->ckpt_dir, (long long)t->step);
    if (dpt_snapshot_save(t, path, e) != DPT_OK)
        return DPT_FAIL;
    /* Prune only after a successful save, so the last good ones always stay. Steps beyond this
     * one belong to a timeline a resume from an older checkpoint replaced. */
    static long long steps[MAX_CKPTS];
    int n = list_steps(t->ckpt_dir, steps, MAX_CKPTS), kept = 0;
    for (int i = 0; i < n; i++) {
        if (steps[i] <= (long long)t->step && kept++ < (int)t->cfg->ckpt.keep_last)
            continue;
        step_path(path, sizeof path, t->ckpt_dir, steps[i]);
        unlink(path);
    }
    return DPT_OK;
}

/* The scalar position every rank needs after a restore. */
typedef struct {
    int64_t step, epoch, batch_in_epoch, opt_t, skipped, skipped_run, best_step, bad_evals, stopped;
    double epoch_loss, epoch_count, best_metric;
    dpt_metrics last;
} position;

/* Reads and applies path on this rank; fills p for the others. */
static int read_on_root(dpt_trainer *t, const char *path, int params_only, position *p, dpt_err *e)
{
    dpt_ckpt c;
    if (dpt_ckpt_read(&c, path, e) != DPT_OK)
        return DPT_FAIL;
    int st = params_only ? dpt_snapshot_load_params(&t->model, &c, path, e)
                         : dpt_snapshot_restore(t, &c, path, e);
    dpt_ckpt_free(&c);
    *p = (position){t->step, t->epoch, (int64_t)t->batch_in_epoch, t->opt.t, t->skipped, t->skipped_run, t->early.best_step,
                    t->early.bad, t->stopped, t->epoch_loss, t->epoch_count, t->early.best, t->last};
    return st;
}

/* What a checkpoint is to a resume. */
enum { USABLE, DAMAGED, MISFIT };

/* Reads path and, when it is usable, restores it on this rank and fills p; why says what is wrong
 * otherwise: damaged (unreadable, checksum, corrupt metadata) or valid but not this experiment's. */
static int classify(dpt_trainer *t, const char *path, position *p, dpt_err *why)
{
    dpt_ckpt c;
    if (dpt_ckpt_read(&c, path, why) != DPT_OK)
        return DAMAGED;
    int r = dpt_snapshot_fits(t, &c, path, why) != DPT_OK      ? MISFIT
          : dpt_snapshot_restore(t, &c, path, why) != DPT_OK ? DAMAGED
                                                             : USABLE;
    dpt_ckpt_free(&c);
    *p = (position){t->step, t->epoch, (int64_t)t->batch_in_epoch, t->opt.t, t->skipped, t->skipped_run, t->early.best_step,
                    t->early.bad, t->stopped, t->epoch_loss, t->epoch_count, t->early.best, t->last};
    return r;
}

/* Renames a damaged checkpoint to PATH.damaged, or PATH.damaged.N when that is taken (link(2)
 * never replaces a file, as rename(2) would), and tells why. */
static void set_damaged_aside(const dpt_trainer *t, const char *path, const char *why)
{
    char aside[DPT_PATH_MAX + DPT_NAME_MAX + 96], line[900];
    int moved = 0;
    for (int k = 1; !moved && k < 10000; k++) {
        snprintf(aside, sizeof aside, k == 1 ? "%s.damaged" : "%s.damaged.%d", path, k);
        if (link(path, aside) == 0)
            moved = unlink(path) == 0 || 1; /* a failed unlink leaves two names of one damaged file */
        else if (errno != EEXIST)
            break;
    }
    if (moved)
        snprintf(line, sizeof line, "skipping damaged checkpoint (kept as %.250s): %.500s", aside, why);
    else
        snprintf(line, sizeof line, "skipping damaged checkpoint %.250s (cannot rename it: %s): %.400s", path,
                 strerror(errno), why);
    if (t->on_note)
        t->on_note(t->ctx, line);
}

/* Newest first, the first checkpoint of dir that reads and passes its checksum: restored when it
 * fits this experiment (returns 1, the damaged newer ones then set aside), refused with nothing
 * renamed when it does not (DPT_FAIL); 0 when none reads (all set aside). */
static int newest_usable(dpt_trainer *t, char *path, size_t size, position *p, dpt_err *e)
{
    static long long steps[MAX_CKPTS];
    int n = list_steps(t->ckpt_dir, steps, MAX_CKPTS), k = 0, r = DAMAGED;
    for (; k < n && r == DAMAGED; k++) {
        step_path(path, size, t->ckpt_dir, steps[k]);
        r = classify(t, path, p, e);
    }
    if (r == MISFIT)
        return DPT_FAIL;
    for (int i = 0; i < (r == USABLE ? k - 1 : n); i++) {
        char damaged[sizeof t->ckpt_dir + 48];
        position ignored;
        dpt_err why;
        step_path(damaged, sizeof damaged, t->ckpt_dir, steps[i]);
        classify(t, damaged, &ignored, &why);
        set_damaged_aside(t, damaged, why.msg);
    }
    if (r != USABLE)
        path[0] = '\0';
    return r == USABLE;
}

/* Gives every rank rank 0's parameters, and for a resume its optimizer state and position. */
static void share_state(dpt_trainer *t, int params_only, position *p)
{
    dpt_comm_bcast(t->comm, t->model.params, sizeof(float) * t->model.nparams);
    if (params_only) {
        if (t->best_params)
            memcpy(t->best_params, t->model.params, sizeof(float) * t->model.nparams);
        return;
    }
    dpt_comm_bcast(t->comm, p, sizeof *p);
    for (int i = 0; i < t->opt.nstate; i++)
        dpt_comm_bcast(t->comm, t->opt.state[i], sizeof(float) * t->model.nparams);
    if (t->best_params)
        dpt_comm_bcast(t->comm, t->best_params, sizeof(float) * t->model.nparams);
    t->step = p->step;
    t->epoch = p->epoch;
    t->batch_in_epoch = (size_t)p->batch_in_epoch;
    t->opt.t = p->opt_t;
    t->skipped = p->skipped;
    t->skipped_run = p->skipped_run;
    t->early.best_step = p->best_step;
    t->early.bad = p->bad_evals;
    t->epoch_loss = p->epoch_loss;
    t->epoch_count = p->epoch_count;
    t->early.best = p->best_metric;
    t->stopped = (int)p->stopped;
    t->last = p->last;
}

int dpt_trainer_restore(dpt_trainer *t, const char *path, int params_only, dpt_err *e)
{
    position p = {0};
    int st = t->comm->rank == 0 ? read_on_root(t, path, params_only, &p, e) : DPT_OK;
    if (dpt_comm_agree(t->comm, st, e) != DPT_OK)
        return DPT_FAIL;
    share_state(t, params_only, &p);
    return DPT_OK;
}

int dpt_trainer_resume_auto(dpt_trainer *t, char *path, size_t size, dpt_err *e)
{
    position p = {0};
    int r = t->comm->rank == 0 ? newest_usable(t, path, size, &p, e) : 0;
    if (dpt_comm_agree(t->comm, r < 0 ? DPT_FAIL : DPT_OK, e) != DPT_OK)
        return DPT_FAIL;
    int found = dpt_comm_any(t->comm, r == 1);
    if (found)
        share_state(t, 0, &p);
    return found;
}
