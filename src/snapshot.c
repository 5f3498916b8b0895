/* Mapping between a trainer and checkpoint tensors and metadata. Numbers in
 * metadata are written with %.17g, which reads back to the same double. */
#include "dptrain/snapshot.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/version.h"

enum { MAX_META = 40, NAME_LEN = 64 };

/* What one save writes: tensors sized for the model, names beside them. */
typedef struct {
    dpt_ckpt_tensor *t;
    char (*names)[NAME_LEN];
    int nt, cap;
    dpt_ckpt_meta m[MAX_META];
    char values[MAX_META][40];
    int nm;
} bundle;

static void add_tensor(bundle *b, const char *name, const float *data, int ndim, int64_t d0, int64_t d1)
{
    if (b->nt == b->cap)
        return; /* cannot happen: cap counts every tensor a trainer can have */
    snprintf(b->names[b->nt], NAME_LEN, "%s", name);
    b->t[b->nt] = (dpt_ckpt_tensor){.name = b->names[b->nt], .ndim = ndim, .shape = {d0, d1}, .data = data};
    b->nt++;
}

static void add_number(bundle *b, const char *key, double v)
{
    int i = b->nm++;
    snprintf(b->values[i], sizeof b->values[0], "%.17g", v);
    b->m[i] = (dpt_ckpt_meta){key, b->values[i]};
}

/* Every parameter tensor by its descriptor, in torch's layout ("layers.I.weight" [out, in, kh, kw]). */
static void add_layers(bundle *b, const dpt_model *m)
{
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        for (int p = 0; p < l->nparam; p++) {
            add_tensor(b, "", m->params + l->off + l->param[p].off, l->param[p].ndim, 0, 0);
            dpt_model_tensor_name(b->names[b->nt - 1], NAME_LEN, m, i, p);
            memcpy(b->t[b->nt - 1].shape, l->param[p].dims, sizeof l->param[p].dims);
        }
    }
}

static char *metrics_json(const dpt_metrics *m)
{
    cJSON *o = cJSON_CreateObject();
    const char *keys[] = {"train_loss", "penalty", "grad_norm", "val_loss", "val_accuracy", "lr"};
    double vals[] = {m->train_loss, m->penalty, m->grad_norm, m->val_loss, m->val_accuracy, m->lr};
    for (int i = 0; i < 6; i++)
        if (isfinite(vals[i]))
            cJSON_AddNumberToObject(o, keys[i], vals[i]);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* The position's counts as checkpoints name them, each with its bound on restore. */
enum { UP_TO_BIG, UP_TO_BATCHES, UP_TO_STEP, UP_TO_SKIPPED, UP_TO_ONE };
static const struct {
    const char *key;
    size_t off;
    int bound;
    int optional; /* older checkpoints lack it: 0 then */
} position_counts[] = {
    {"step", offsetof(dpt_position, step), UP_TO_BIG, 0},
    {"epoch", offsetof(dpt_position, epoch), UP_TO_BIG, 0},
    {"batch_in_epoch", offsetof(dpt_position, batch_in_epoch), UP_TO_BATCHES, 0},
    {"skipped", offsetof(dpt_position, skipped), UP_TO_STEP, 0},
    {"skipped_run", offsetof(dpt_position, skipped_run), UP_TO_SKIPPED, 1},
    {"stopped", offsetof(dpt_position, stopped), UP_TO_ONE, 0},
};

static int64_t *position_count(const dpt_position *p, size_t i)
{
    return (int64_t *)((char *)p + position_counts[i].off);
}

int dpt_snapshot_save(const dpt_trainer *t, const char *path, dpt_err *e)
{
    /* A step can leave finite losses but overflowed weights: never save those over good ones. */
    for (size_t i = 0; i < t->model.nparams; i++)
        if (!isfinite(t->model.params[i]))
            return dpt_errf(e, "%s: not saved: parameter %zu is not finite at step %lld", path, i,
                            (long long)t->pos.step);
    bundle b = {.cap = DPT_LAYER_MAX_PARAMS * t->model.nlayers + DPT_OPTIM_MAX_STATE + 3};
    b.t = calloc((size_t)b.cap, sizeof *b.t);
    b.names = calloc((size_t)b.cap, sizeof *b.names);
    if (!b.t || !b.names) {
        free(b.t);
        free(b.names);
        return dpt_errf(e, "%s: out of memory for the checkpoint's table", path);
    }
    add_layers(&b, &t->model);
    char sname[64];
    for (int i = 0; i < t->opt.nstate; i++) {
        snprintf(sname, sizeof sname, "optimizer.%s", t->opt.state_name[i]);
        add_tensor(&b, sname, t->opt.state[i], 1, (int64_t)t->model.nparams, 0);
    }
    if (t->best_params)
        add_tensor(&b, "early_stopping.best", t->best_params, 1, (int64_t)t->model.nparams, 0);
    if (t->train.mean) {
        add_tensor(&b, "data.mean", t->train.mean, 1, (int64_t)t->train.d, 0);
        add_tensor(&b, "data.std", t->train.std, 1, (int64_t)t->train.d, 0);
    }
    for (size_t i = 0; i < sizeof position_counts / sizeof *position_counts; i++)
        add_number(&b, position_counts[i].key, (double)*position_count(&t->pos, i));
    add_number(&b, "epoch_loss", t->pos.epoch_loss);
    add_number(&b, "epoch_count", t->pos.epoch_count);
    add_number(&b, "epoch_correct", t->pos.epoch_correct);
    add_number(&b, "optimizer_t", (double)t->opt.t);
    add_number(&b, "best_metric", t->early.best);
    add_number(&b, "best_step", (double)t->early.best_step);
    add_number(&b, "bad_evals", (double)t->early.bad);
    if (t->cfg->sched.kind == DPT_SCHED_PLATEAU) {
        add_number(&b, "plateau_lr", t->plateau.lr);
        add_number(&b, "plateau_best", t->plateau.best);
        add_number(&b, "plateau_bad", (double)t->plateau.bad);
        add_number(&b, "plateau_cooldown", (double)t->plateau.cooldown_left);
    }
    /* In deterministic mode the file must not depend on the rank count either. */
    if (!t->reducer->deterministic)
        add_number(&b, "ranks", t->comm->size);
    add_number(&b, "in_dim", t->model.in_dim);
    add_number(&b, "in_channels", t->model.in_shape.c); /* C x H x W: conv and pooling need it */
    add_number(&b, "in_height", t->model.in_shape.h);
    add_number(&b, "in_width", t->model.in_shape.w);
    add_number(&b, "seed", (double)t->cfg->run.seed);
    char *config = NULL, *metrics = metrics_json(&t->last);
    size_t clen = 0;
    FILE *f = open_memstream(&config, &clen);
    if (f) {
        dpt_config_write(f, t->cfg);
        if (fclose(f) != 0) {
            free(config);
            config = NULL;
        }
    }
    /* A checkpoint without its configuration or metrics could be neither resumed nor read by
     * eval: none is written over the good ones. */
    if (!config || !metrics) {
        free(config);
        free(metrics);
        free(b.t);
        free(b.names);
        return dpt_errf(e, "%s: not saved: out of memory for its %s", path, config ? "metrics" : "configuration");
    }
    b.m[b.nm++] = (dpt_ckpt_meta){"dptrain_version", DPT_VERSION};
    b.m[b.nm++] = (dpt_ckpt_meta){"layers", t->cfg->model.layers};
    b.m[b.nm++] = (dpt_ckpt_meta){"config", config};
    b.m[b.nm++] = (dpt_ckpt_meta){"metrics", metrics};
    char sums[4 * 17 + 1];
    snprintf(sums, sizeof sums, "%016llx,%016llx,%016llx,%016llx", (unsigned long long)t->data_sum[0],
             (unsigned long long)t->data_sum[1], (unsigned long long)t->data_sum[2], (unsigned long long)t->data_sum[3]);
    b.m[b.nm++] = (dpt_ckpt_meta){"data_checksums", sums};
    if (t->record)
        b.m[b.nm++] = (dpt_ckpt_meta){"record", t->record->text};
    int st = dpt_ckpt_write(path, b.t, b.nt, b.m, b.nm, e);
    free(config);
    free(metrics);
    free(b.t);
    free(b.names);
    return st;
}

int dpt_snapshot_meta_number(const dpt_ckpt *c, const char *path, const char *key, double *v, dpt_err *e)
{
    const char *s = dpt_ckpt_meta_get(c, key);
    char *end;
    if (!s)
        return dpt_errf(e, "%s: metadata has no '%s'", path, key);
    errno = 0;
    *v = strtod(s, &end);
    if (end == s || *end || errno == ERANGE)
        return dpt_errf(e, "%s: metadata '%s' = '%s' is not a number", path, key, s);
    return DPT_OK;
}

/* Appends "[a, b]" to buf. */
static void append_shape(char *buf, size_t size, int ndim, const int64_t *shape)
{
    size_t n = strlen(buf);
    n += (size_t)snprintf(buf + n, size > n ? size - n : 0, "[");
    for (int i = 0; i < ndim && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, "]");
}

/* Appends "name is [..] but the model has [..]" (or "name missing, ...") to a mismatch list. */
static void describe(char *buf, size_t size, const char *name, const dpt_ckpt_tensor *found, int ndim,
                     const int64_t *shape)
{
    size_t n = strlen(buf);
    if (n + 2 >= size)
        return;
    snprintf(buf + n, size - n, "%s%s ", n ? "; " : "", name);
    if (found) {
        strncat(buf, "is ", size - strlen(buf) - 1);
        append_shape(buf, size, found->ndim, found->shape);
        strncat(buf, " but the model has ", size - strlen(buf) - 1);
    } else {
        strncat(buf, "missing, the model has ", size - strlen(buf) - 1);
    }
    append_shape(buf, size, ndim, shape);
}

static int copy_tensor(float *dst, const dpt_ckpt *c, const char *name, int ndim, const int64_t *shape,
                       char *mismatch, size_t msize)
{
    const dpt_ckpt_tensor *t = dpt_ckpt_find(c, name);
    int same = t && t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == shape[i];
    if (!same) {
        describe(mismatch, msize, name, t, ndim, shape);
        return DPT_FAIL;
    }
    size_t n = 1;
    for (int i = 0; i < ndim; i++)
        n *= (size_t)shape[i];
    if (n && dst)
        memcpy(dst, t->data, sizeof(float) * n);
    return DPT_OK;
}

/* Checks every layer tensor of m against c, and copies them when copy is set (only after a check
 * passed: a checkpoint that fails halfway must leave the model as it was). */
static int layer_tensors(dpt_model *m, const dpt_ckpt *c, const char *path, int copy, dpt_err *e)
{
    char mismatch[400] = "";
    char name[64];
    int bad = 0, expected = 0;
    for (int i = 0; i < m->nlayers; i++) {
        const dpt_layer *l = &m->layers[i];
        for (int p = 0; p < l->nparam; p++) {
            const dpt_param *d = &l->param[p];
            dpt_model_tensor_name(name, sizeof name, m, i, p);
            bad |= copy_tensor(copy ? m->params + l->off + d->off : NULL, c, name, d->ndim, d->dims, mismatch,
                               sizeof mismatch) != DPT_OK;
            expected++;
        }
    }
    int layer_tensors = 0;
    for (int i = 0; i < c->nt; i++)
        layer_tensors += strncmp(c->t[i].name, "layers.", 7) == 0;
    if (!bad && layer_tensors != expected)
        return dpt_errf(e, "%s: holds %d layer tensors but the model has %d", path, layer_tensors, expected);
    if (bad)
        return dpt_errf(e, "%s: does not match the model: %s", path, mismatch);
    return DPT_OK;
}

int dpt_snapshot_check_params(dpt_model *m, const dpt_ckpt *c, const char *path, dpt_err *e)
{
    return layer_tensors(m, c, path, 0, e);
}

int dpt_snapshot_load_params(dpt_model *m, const dpt_ckpt *c, const char *path, dpt_err *e)
{
    if (layer_tensors(m, c, path, 0, e) != DPT_OK)
        return DPT_FAIL;
    return layer_tensors(m, c, path, 1, e);
}

int dpt_snapshot_in_shape(const dpt_ckpt *c, const char *path, int in_dim, dpt_shape *s, dpt_err *e)
{
    *s = (dpt_shape){in_dim, 1, 1};
    if (!dpt_ckpt_meta_get(c, "in_channels"))
        return DPT_OK;
    const char *keys[3] = {"in_channels", "in_height", "in_width"};
    double v[3];
    for (int k = 0; k < 3; k++) {
        if (dpt_snapshot_meta_number(c, path, keys[k], &v[k], e) != DPT_OK)
            return DPT_FAIL;
        if (!(v[k] >= 1 && v[k] <= in_dim && v[k] == floor(v[k])))
            return dpt_errf(e, "%s: metadata %s = %g is out of range", path, keys[k], v[k]);
    }
    if (v[0] * v[1] * v[2] != in_dim)
        return dpt_errf(e, "%s: metadata input shape %gx%gx%g does not hold in_dim = %d values", path, v[0], v[1],
                        v[2], in_dim);
    *s = (dpt_shape){(int)v[0], (int)v[1], (int)v[2]};
    return DPT_OK;
}

/* 2^53: every count in a checkpoint's metadata is exact in a double below it. */
static const double BIG_COUNT = 9007199254740992.0;

/* A metadata number in [lo, hi] (NaN never is); a refusal names the field and says what it must be. */
static int meta_within(const dpt_ckpt *c, const char *path, const char *key, double lo, double hi, const char *must,
                       double *out, dpt_err *e)
{
    double v = 0;
    if (dpt_snapshot_meta_number(c, path, key, &v, e) != DPT_OK)
        return DPT_FAIL;
    if (!(v >= lo && v <= hi))
        return dpt_errf(e, "%s: metadata '%s' = %g is out of range: must be %s", path, key, v, must);
    *out = v;
    return DPT_OK;
}

/* A metadata number that must be an integer in [0, max]. */
static int meta_count(const dpt_ckpt *c, const char *path, const char *key, double max, int64_t *out, dpt_err *e)
{
    double v = 0;
    if (dpt_snapshot_meta_number(c, path, key, &v, e) != DPT_OK)
        return DPT_FAIL;
    if (!(v >= 0 && v <= max && v == floor(v)))
        return dpt_errf(e, "%s: metadata '%s' = %g is not an integer in [0, %.0f]", path, key, v, max);
    *out = (int64_t)v;
    return DPT_OK;
}

/* The last step's measurements, so a report right after the resume matches the uninterrupted run. */
static void restore_last_metrics(dpt_trainer *t, const dpt_ckpt *c)
{
    const char *text = dpt_ckpt_meta_get(c, "metrics");
    cJSON *o = text ? cJSON_Parse(text) : NULL;
    const char *keys[] = {"lr", "penalty", "grad_norm"};
    double *dst[] = {&t->last.lr, &t->last.penalty, &t->last.grad_norm};
    for (int i = 0; i < 3; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, keys[i]);
        *dst[i] = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    }
    t->last.val_loss = t->last.val_accuracy = t->last.test_loss = t->last.test_accuracy = NAN;
    cJSON_Delete(o);
}

/* The position's counts, each within its bound (those before it in the table are read first). */
static int restore_counts(dpt_position *p, const dpt_trainer *t, const dpt_ckpt *c, const char *path, dpt_err *e)
{
    for (size_t i = 0; i < sizeof position_counts / sizeof *position_counts; i++) {
        int b = position_counts[i].bound;
        double max = b == UP_TO_BIG       ? BIG_COUNT
                   : b == UP_TO_BATCHES ? (double)dpt_sampler_nbatches(&t->sampler)
                   : b == UP_TO_STEP    ? (double)p->step
                   : b == UP_TO_SKIPPED ? (double)p->skipped
                                        : 1;
        if (position_counts[i].optional && !dpt_ckpt_meta_get(c, position_counts[i].key))
            continue;
        if (meta_count(c, path, position_counts[i].key, max, position_count(p, i), e) != DPT_OK)
            return DPT_FAIL;
    }
    return DPT_OK;
}

/* A plateau schedule's state, checked into *p; a checkpoint without it (saved under another
 * schedule) leaves the fresh state of dpt_trainer_init. */
static int restore_plateau(dpt_plateau *p, const dpt_trainer *t, const dpt_ckpt *c, const char *path, dpt_err *e)
{
    *p = t->plateau;
    if (t->cfg->sched.kind != DPT_SCHED_PLATEAU || !dpt_ckpt_meta_get(c, "plateau_lr"))
        return DPT_OK;
    /* best starts at the metric's worst end (torch's mode_worse); the other end would never improve */
    double lo = p->maximize ? -INFINITY : -DBL_MAX, hi = p->maximize ? DBL_MAX : INFINITY;
    const char *best = p->maximize ? "a number or -inf (the watched metric is maximized)"
                                   : "a number or inf (the watched metric is minimized)";
    if (meta_within(c, path, "plateau_lr", 0, DBL_MAX, "a finite rate >= 0", &p->lr, e) != DPT_OK ||
        meta_within(c, path, "plateau_best", lo, hi, best, &p->best, e) != DPT_OK ||
        meta_count(c, path, "plateau_bad", BIG_COUNT, &p->bad, e) != DPT_OK ||
        meta_count(c, path, "plateau_cooldown", BIG_COUNT, &p->cooldown_left, e) != DPT_OK)
        return DPT_FAIL;
    return DPT_OK;
}

/* Position and bookkeeping, each checked: the checksum covers the tensors, not the metadata. */
static int restore_position(dpt_trainer *t, const dpt_ckpt *c, const char *path, dpt_err *e)
{
    dpt_position p = {0};
    int64_t opt_t = 0, best_step = 0, bad = 0;
    double best = 0;
    dpt_plateau plateau;
    char correct[64];
    if (restore_counts(&p, t, c, path, e) != DPT_OK || restore_plateau(&plateau, t, c, path, e) != DPT_OK ||
        meta_count(c, path, "optimizer_t", (double)p.step, &opt_t, e) != DPT_OK ||
        meta_count(c, path, "best_step", (double)p.step, &best_step, e) != DPT_OK ||
        meta_count(c, path, "bad_evals", BIG_COUNT, &bad, e) != DPT_OK ||
        meta_within(c, path, "epoch_loss", -DBL_MAX, DBL_MAX, "finite", &p.epoch_loss, e) != DPT_OK ||
        meta_within(c, path, "epoch_count", 0, BIG_COUNT, "in [0, 2^53]", &p.epoch_count, e) != DPT_OK ||
        dpt_snapshot_meta_number(c, path, "best_metric", &best, e) != DPT_OK)
        return DPT_FAIL;
    if (isinf(best))
        return dpt_errf(e, "%s: metadata 'best_metric' = %g is out of range: must be finite or nan", path, best);
    /* epoch_correct: older checkpoints lack it (0 then) */
    snprintf(correct, sizeof correct, "in [0, epoch_count = %g]", p.epoch_count);
    if (dpt_ckpt_meta_get(c, "epoch_correct") &&
        meta_within(c, path, "epoch_correct", 0, p.epoch_count, correct, &p.epoch_correct, e) != DPT_OK)
        return DPT_FAIL;
    t->pos = p;
    t->opt.t = opt_t;
    t->early.best_step = best_step;
    t->early.bad = bad;
    t->early.best = best;
    t->plateau = plateau;
    restore_last_metrics(t, c);
    return DPT_OK;
}

/* Whether line is a whole line of the [section] of config text: a key's line can end another's
 * (every_epochs = 0 ends test_every_epochs = 0) or repeat in another section (patience). */
static int in_section(const char *text, const char *section, const char *line)
{
    size_t n = strlen(line), hn = strlen(section) + 2;
    int in = 0;
    for (const char *p = text; *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (p[0] == '[')
            in = len == hn && strncmp(p + 1, section, hn - 2) == 0 && p[hn - 1] == ']';
        else if (in && len == n && strncmp(p, line, n) == 0)
            return 1;
        if (!end)
            break;
        p = end + 1;
    }
    return 0;
}

/* The settings (section.key) whose lines differ between t's configuration and the checkpoint's,
 * comma separated into out; "" when none or unknown. */
static void changed_settings(const dpt_trainer *t, const dpt_ckpt *c, char *out, size_t size)
{
    const char *old = dpt_ckpt_meta_get(c, "config");
    char *cur = NULL, *line, *save = NULL, section[64] = "";
    size_t len = 0;
    out[0] = '\0';
    FILE *f = old ? open_memstream(&cur, &len) : NULL;
    if (!f)
        return;
    dpt_config_write(f, t->cfg);
    fclose(f);
    for (line = strtok_r(cur, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '[')
            sscanf(line, "[%63[^]]", section);
        if (line[0] == '#' || line[0] == '[' || in_section(old, section, line) || strlen(out) + 80 > size)
            continue;
        size_t k = strcspn(line, " =");
        snprintf(out + strlen(out), size - strlen(out), "%s%s.%.*s", out[0] ? ", " : "", section, (int)k, line);
    }
    free(cur);
}

/* Tells the user which settings differ from the checkpoint's own (a resume with another
 * learning rate is allowed, but should never be silent). */
static void note_config_changes(const dpt_trainer *t, const dpt_ckpt *c, const char *path)
{
    char changed[600];
    if (!t->on_note)
        return;
    changed_settings(t, c, changed, sizeof changed);
    if (changed[0]) {
        char msg[800];
        snprintf(msg, sizeof msg, "%.100s: resuming with settings that differ from the checkpoint's: %s", path,
                 changed);
        t->on_note(t->ctx, msg);
    }
}

/* Checks, or (copy) copies, the parameters, optimizer state and best parameters of a resume. */
static int state_tensors(dpt_trainer *t, const dpt_ckpt *c, const char *path, int copy, dpt_err *e)
{
    if (layer_tensors(&t->model, c, path, copy, e) != DPT_OK)
        return DPT_FAIL;
    char mismatch[400] = "", name[64];
    int64_t shape[1] = {(int64_t)t->model.nparams};
    for (int i = 0; i < t->opt.nstate; i++) {
        snprintf(name, sizeof name, "optimizer.%s", t->opt.state_name[i]);
        if (copy_tensor(copy ? t->opt.state[i] : NULL, c, name, 1, shape, mismatch, sizeof mismatch) != DPT_OK)
            return dpt_errf(e, "%s: optimizer state does not match optimizer.kind = %s: %s", path,
                            dpt_optim_kind_name(t->opt.cfg.kind), mismatch);
    }
    /* State this optimizer would leave unused is another optimizer's (or momentum's) history. */
    int held = 0;
    for (int i = 0; i < c->nt; i++)
        held += strncmp(c->t[i].name, "optimizer.", 10) == 0;
    if (held != t->opt.nstate)
        return dpt_errf(e, "%s: holds %d optimizer state tensors, but optimizer.kind = %s with these settings "
                           "keeps %d", path, held, dpt_optim_kind_name(t->opt.cfg.kind), t->opt.nstate);
    if (t->best_params) {
        /* Without a saved best (a warm start, or early stopping newly switched on), start from here. */
        if (!dpt_ckpt_find(c, "early_stopping.best")) {
            if (copy)
                memcpy(t->best_params, t->model.params, sizeof(float) * t->model.nparams);
        } else if (copy_tensor(copy ? t->best_params : NULL, c, "early_stopping.best", 1, shape, mismatch,
                               sizeof mismatch) != DPT_OK) {
            return dpt_errf(e, "%s: %s", path, mismatch);
        }
    }
    return DPT_OK;
}

/* Whether the data this run loaded is what the checkpoint was trained on, file by file (the
 * checksums the ranks compare); a checkpoint from before they were kept passes. */
static int same_data(const dpt_trainer *t, const dpt_ckpt *c, const char *path, dpt_err *e)
{
    const char *sums = dpt_ckpt_meta_get(c, "data_checksums");
    unsigned long long saved[4];
    if (!sums || t->cfg->data.allow_changed)
        return DPT_OK;
    if (sscanf(sums, "%llx,%llx,%llx,%llx", &saved[0], &saved[1], &saved[2], &saved[3]) != 4)
        return dpt_errf(e, "%s: metadata data_checksums = '%.80s' is not 4 checksums", path, sums);
    for (int k = 0; k < 4; k++)
        if (saved[k] != t->data_sum[k]) {
            const char *file, *key = dpt_trainer_data_source(t->cfg, k, &file);
            return dpt_errf(e, "%s: was trained on other data: %s = '%s' now has checksum %016llx, the checkpoint's "
                            "%016llx (set data.allow_changed = true to resume anyway)", path, key, file,
                            (unsigned long long)t->data_sum[k], saved[k]);
        }
    return DPT_OK;
}

int dpt_snapshot_fits(dpt_trainer *t, const dpt_ckpt *c, const char *path, dpt_err *e)
{
    double batch = 0;
    size_t per_epoch = dpt_sampler_nbatches(&t->sampler);
    int fits = state_tensors(t, c, path, 0, e) == DPT_OK && same_data(t, c, path, e) == DPT_OK;
    /* A position past this experiment's epoch is another batch size or dataset, not damage. */
    if (fits && dpt_snapshot_meta_number(c, path, "batch_in_epoch", &batch, NULL) == DPT_OK && batch > (double)per_epoch)
        fits = dpt_errf(e, "%s: stopped at batch %.0f of an epoch, but this experiment's epochs have %zu batches",
                        path, batch, per_epoch) == DPT_OK;
    char changed[300], why[sizeof e->msg];
    changed_settings(t, c, changed, sizeof changed);
    /* Adam's moments are no AdamW's, though they share names and shapes. */
    const char *kind = strstr(changed, "optimizer.kind");
    if (fits && kind && (kind == changed || kind[-1] == ' ') && (kind[14] == ',' || kind[14] == '\0'))
        fits = dpt_errf(e, "%s: was saved by another optimizer.kind than %s", path,
                        dpt_optim_kind_name(t->opt.cfg.kind)) == DPT_OK;
    if (fits)
        return DPT_OK;
    snprintf(why, sizeof why, "%s", e->msg);
    return dpt_errf(e, "%s (this experiment differs from the checkpoint's in: %s); resume with the checkpoint's "
                       "settings, or train afresh without --resume", why, changed[0] ? changed : "no setting");
}

int dpt_snapshot_restore(dpt_trainer *t, const dpt_ckpt *c, const char *path, dpt_err *e)
{
    /* Everything is checked before anything changes (restore_position checks before it sets): a
     * resume that passes over a bad checkpoint must leave this rank as it was, like the others. */
    if (dpt_snapshot_fits(t, c, path, e) != DPT_OK || restore_position(t, c, path, e) != DPT_OK)
        return DPT_FAIL;
    state_tensors(t, c, path, 1, e);
    note_config_changes(t, c, path);
    return DPT_OK;
}
