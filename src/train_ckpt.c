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

static int newest_first(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x < y) - (x > y);
}

/* Step numbers of the step-*.safetensors files in dir, newest first, into *steps (malloc'd; the
 * caller frees it); returns the count, 0 also when the list cannot be had. */
static int list_steps(const char *dir, long long **steps)
{
    DIR *d = opendir(dir);
    int n = 0, cap = 0;
    *steps = NULL;
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        long long s;
        char tail[32];
        if (sscanf(de->d_name, "step-%lld.safetensor%31s", &s, tail) != 2 || strcmp(tail, "s") != 0)
            continue;
        if (n == cap) {
            long long *more = realloc(*steps, sizeof(long long) * (size_t)(cap = cap ? 2 * cap : 64));
            if (!more)
                break; /* the newest are not known yet: better none than the wrong ones */
            *steps = more;
        }
        (*steps)[n++] = s;
    }
    closedir(d);
    if (de) {
        free(*steps);
        *steps = NULL;
        return 0;
    }
    qsort(*steps, (size_t)n, sizeof(long long), newest_first);
    return n;
}

static void step_path(char *buf, size_t size, const char *dir, long long step)
{
    snprintf(buf, size, "%s/step-%010lld.safetensors", dir, step);
}

void dpt_trainer_sync_state(dpt_trainer *t)
{
    /* Watched like a step; rank 0's file write that follows is not (a slow disk is no hang). */
    dpt_comm_watch("the checkpoint after step", t->pos.step);
    dpt_trainer_fold_correct(t); /* the position saved holds every rank's count */
    t->reducer->ops->gather_state(t->reducer, &t->opt);
    dpt_comm_unwatch();
}

int dpt_trainer_checkpoint(dpt_trainer *t, dpt_err *e)
{
    dpt_trainer_sync_state(t);
    if (t->comm->rank != 0 || !t->ckpt_dir[0])
        return DPT_OK;
    char path[sizeof t->ckpt_dir + 48];
    step_path(path, sizeof path, t->ckpt_dir, (long long)t->pos.step);
    if (dpt_snapshot_save(t, path, e) != DPT_OK)
        return DPT_FAIL;
    /* Prune only after a successful save, so the last good ones always stay. Steps beyond this
     * one belong to a timeline a resume from an older checkpoint replaced. */
    long long *steps;
    int n = list_steps(t->ckpt_dir, &steps), kept = 0;
    for (int i = 0; i < n; i++) {
        if (steps[i] <= (long long)t->pos.step && kept++ < (int)t->cfg->ckpt.keep_last)
            continue;
        step_path(path, sizeof path, t->ckpt_dir, steps[i]);
        unlink(path);
    }
    free(steps);
    return DPT_OK;
}

/* Reads and applies path on this rank. */
static int read_on_root(dpt_trainer *t, const char *path, int params_only, dpt_err *e)
{
    dpt_ckpt c;
    if (dpt_ckpt_read(&c, path, e) != DPT_OK)
        return DPT_FAIL;
    int st = params_only ? dpt_snapshot_load_params(&t->model, &c, path, e)
                         : dpt_snapshot_restore(t, &c, path, e);
    dpt_ckpt_free(&c);
    return st;
}

/* What a checkpoint is to a resume. */
enum { USABLE, DAMAGED, MISFIT };

/* Reads path and, when it is usable, restores it on this rank; why says what is wrong otherwise:
 * damaged (unreadable, checksum, corrupt metadata) or valid but not this experiment's. */
static int classify(dpt_trainer *t, const char *path, dpt_err *why)
{
    dpt_ckpt c;
    if (dpt_ckpt_read(&c, path, why) != DPT_OK)
        return DAMAGED;
    int r = dpt_snapshot_fits(t, &c, path, why) != DPT_OK      ? MISFIT
          : dpt_snapshot_restore(t, &c, path, why) != DPT_OK ? DAMAGED
                                                             : USABLE;
    dpt_ckpt_free(&c);
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
static int newest_usable(dpt_trainer *t, char *path, size_t size, dpt_err *e)
{
    long long *steps;
    int n = list_steps(t->ckpt_dir, &steps), k = 0, r = DAMAGED;
    /* why each newer one is damaged, told when it is set aside: a file restored over the usable
     * one's state is never read again */
    dpt_err *why = malloc(sizeof(dpt_err) * (size_t)(n ? n : 1));
    if (!why) {
        free(steps);
        return dpt_errf(e, "%s: out of memory for %d checkpoints' names", t->ckpt_dir, n);
    }
    for (; k < n && r == DAMAGED; k++) {
        step_path(path, size, t->ckpt_dir, steps[k]);
        r = classify(t, path, &why[k]);
    }
    if (r == MISFIT)
        *e = why[k - 1];
    for (int i = 0; r != MISFIT && i < (r == USABLE ? k - 1 : n); i++) {
        char damaged[sizeof t->ckpt_dir + 48];
        step_path(damaged, sizeof damaged, t->ckpt_dir, steps[i]);
        set_damaged_aside(t, damaged, why[i].msg);
    }
    free(why);
    free(steps);
    if (r != USABLE)
        path[0] = '\0';
    return r == MISFIT ? DPT_FAIL : r == USABLE;
}

/* Gives every rank rank 0's parameters, and for a resume its optimizer state and position. */
static void share_state(dpt_trainer *t, int params_only)
{
    dpt_comm_bcast(t->comm, t->model.params, sizeof(float) * t->model.nparams);
    if (params_only) {
        if (t->best_params)
            memcpy(t->best_params, t->model.params, sizeof(float) * t->model.nparams);
        return;
    }
    dpt_comm_bcast(t->comm, &t->pos, sizeof t->pos);
    dpt_comm_bcast(t->comm, &t->opt.t, sizeof t->opt.t);
    dpt_comm_bcast(t->comm, &t->early, sizeof t->early);
    dpt_comm_bcast(t->comm, &t->plateau, sizeof t->plateau);
    dpt_comm_bcast(t->comm, &t->last, sizeof t->last);
    for (int i = 0; i < t->opt.nstate; i++)
        dpt_comm_bcast(t->comm, t->opt.state[i], sizeof(float) * t->model.nparams);
    if (t->best_params)
        dpt_comm_bcast(t->comm, t->best_params, sizeof(float) * t->model.nparams);
}

int dpt_trainer_restore(dpt_trainer *t, const char *path, int params_only, dpt_err *e)
{
    int st = t->comm->rank == 0 ? read_on_root(t, path, params_only, e) : DPT_OK;
    if (dpt_comm_agree(t->comm, st, e) != DPT_OK)
        return DPT_FAIL;
    share_state(t, params_only);
    return DPT_OK;
}

int dpt_trainer_resume_auto(dpt_trainer *t, char *path, size_t size, dpt_err *e)
{
    int r = t->comm->rank == 0 ? newest_usable(t, path, size, e) : 0;
    if (dpt_comm_agree(t->comm, r < 0 ? DPT_FAIL : DPT_OK, e) != DPT_OK)
        return DPT_FAIL;
    int found = dpt_comm_any(t->comm, r == 1);
    if (found)
        share_state(t, 0);
    return found;
}
