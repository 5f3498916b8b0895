/* Rank 0's files and progress output. */
#include "dptrain/log.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dpt_commit.h"
#include "dptrain/fsio.h"
#include "dptrain/version.h"

static int mkdir_p(const char *path, dpt_err *e)
{
    char buf[DPT_PATH_MAX + DPT_NAME_MAX + 2];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char keep = *p;
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return dpt_errf(e, "%s: cannot create directory: %s", buf, strerror(errno));
            *p = keep;
            if (!keep)
                break;
        }
    }
    return DPT_OK;
}

static int write_config(const dpt_log *l, const dpt_config *c, const dpt_log_env *env, dpt_err *e)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return dpt_errf(e, "out of memory");
    fprintf(f, "# Resolved by dptrain %s (commit %s) for %d rank%s.\n", DPT_VERSION, DPT_COMMIT, env->ranks,
            env->ranks == 1 ? "" : "s");
    fprintf(f, "# BLAS: %s\n# MPI: %s\n", env->blas, env->mpi);
    fprintf(f, "# Every key is listed; `dptrain train` on this file repeats the run.\n\n");
    dpt_config_write(f, c);
    fclose(f);
    char path[sizeof l->dir + 16];
    snprintf(path, sizeof path, "%s/config.ini", l->dir);
    int st = dpt_write_atomic(path, text, len, e);
    free(text);
    return st;
}

/* A live line only when a person watches: under mpirun our stdout is a
 * pseudo-terminal of the launcher's, so ask whether mpirun's own stdout (our
 * parent on this node) is a terminal. DPTRAIN_PROGRESS=0/1 overrides. */
static int watched(void)
{
    const char *force = getenv("DPTRAIN_PROGRESS");
    if (force && *force)
        return strcmp(force, "0") != 0;
    if (!isatty(STDOUT_FILENO))
        return 0;
    if (!getenv("OMPI_COMM_WORLD_SIZE"))
        return 1;
    char link[64], target[256];
    snprintf(link, sizeof link, "/proc/%ld/fd/1", (long)getppid());
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n <= 0)
        return 0;
    target[n] = '\0';
    return strncmp(target, "/dev/pts/", 9) == 0 || strncmp(target, "/dev/tty", 8) == 0;
}

int dpt_log_open(dpt_log *l, const dpt_config *c, const dpt_log_env *env, int writer, int append, dpt_err *e)
{
    memset(l, 0, sizeof *l);
    if (!writer)
        return DPT_OK;
    l->active = 1;
    l->tty = watched();
    snprintf(l->dir, sizeof l->dir, "%s/%s", c->run.dir, c->run.name);
    if (mkdir_p(l->dir, e) != DPT_OK || write_config(l, c, env, e) != DPT_OK)
        return DPT_FAIL;
    char path[sizeof l->dir + 16];
    snprintf(path, sizeof path, "%s/metrics.jsonl", l->dir);
    l->metrics = fopen(path, append ? "a" : "w");
    if (!l->metrics)
        return dpt_errf(e, "%s: cannot open: %s", path, strerror(errno));
    return DPT_OK;
}

static void add_number(cJSON *o, const char *key, double v)
{
    if (isfinite(v))
        cJSON_AddNumberToObject(o, key, v);
    else
        cJSON_AddNullToObject(o, key);
}

static void end_live_line(dpt_log *l)
{
    if (l->line_open) {
        fputs("\r\033[K", stdout);
        l->line_open = 0;
    }
}

void dpt_log_metrics(dpt_log *l, const dpt_trainer *t, const dpt_metrics *m)
{
    if (!l->active)
        return;
    cJSON *o = cJSON_CreateObject();
    if (l->fold)
        cJSON_AddNumberToObject(o, "fold", l->fold);
    cJSON_AddNumberToObject(o, "step", (double)m->step);
    cJSON_AddNumberToObject(o, "epoch", (double)m->epoch);
    add_number(o, "lr", m->lr);
    add_number(o, "train_loss", m->train_loss);
    add_number(o, "penalty", m->penalty);
    add_number(o, "grad_norm", m->grad_norm);
    add_number(o, "val_loss", m->val_loss);
    add_number(o, "val_accuracy", m->val_accuracy);
    add_number(o, "samples_per_s", m->samples_per_s);
    add_number(o, "elapsed_s", m->elapsed);
    char *line = cJSON_PrintUnformatted(o);
    if (line && l->metrics) {
        fprintf(l->metrics, "%s\n", line);
        fflush(l->metrics);
    }
    free(line);
    cJSON_Delete(o);
    end_live_line(l);
    printf("epoch %lld  step %lld/%lld  loss %.5g", (long long)m->epoch, (long long)m->step,
           (long long)t->total_steps, m->train_loss);
    if (m->penalty > 0)
        printf("  penalty %.5g", m->penalty);
    if (!isnan(m->val_loss))
        printf("  val_loss %.5g", m->val_loss);
    if (!isnan(m->val_accuracy))
        printf("  val_acc %.4f", m->val_accuracy);
    printf("  %.0f samples/s\n", m->samples_per_s);
    fflush(stdout);
}

void dpt_log_progress(dpt_log *l, const dpt_trainer *t, double samples_per_s, double eta)
{
    if (!l->active || !l->tty)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double now = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    if (l->line_open && now - l->last_draw < 0.2)
        return;
    l->last_draw = now;
    int eta_s = isfinite(eta) && eta > 0 ? (int)eta : 0;
    printf("\r\033[Kepoch %lld  step %lld/%lld  loss %.5g  %.0f samples/s  ETA %d:%02d",
           (long long)t->epoch + 1, (long long)t->step, (long long)t->total_steps, t->last.train_loss,
           samples_per_s, eta_s / 60, eta_s % 60);
    fflush(stdout);
    l->line_open = 1;
}

void dpt_log_printf(dpt_log *l, const char *fmt, ...)
{
    if (!l->active)
        return;
    end_live_line(l);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

int dpt_log_summary(dpt_log *l, const char *json, dpt_err *e)
{
    if (!l->active)
        return DPT_OK;
    char path[sizeof l->dir + 16];
    snprintf(path, sizeof path, "%s/summary.json", l->dir);
    return dpt_write_atomic(path, json, strlen(json), e);
}

void dpt_log_trim(dpt_log *l, int64_t step)
{
    if (!l->active || !l->metrics)
        return;
    char path[sizeof l->dir + 16], *line = NULL, *kept = NULL;
    size_t cap = 0, klen = 0;
    snprintf(path, sizeof path, "%s/metrics.jsonl", l->dir);
    fclose(l->metrics);
    FILE *in = fopen(path, "r"), *out = open_memstream(&kept, &klen);
    while (in && out && getline(&line, &cap, in) > 0) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "step");
        if (cJSON_IsNumber(s) && s->valuedouble <= (double)step)
            fputs(line, out);
        cJSON_Delete(o);
    }
    if (in)
        fclose(in);
    if (out)
        fclose(out);
    dpt_err e;
    if (kept)
        dpt_write_atomic(path, kept, klen, &e);
    free(line);
    free(kept);
    l->metrics = fopen(path, "a");
}

void dpt_log_close(dpt_log *l)
{
    end_live_line(l);
    if (l->metrics)
        fclose(l->metrics);
    l->metrics = NULL;
}
