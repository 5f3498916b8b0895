/* Rank 0's files and progress output. */
#include "dptrain/log.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
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
        return dpt_errf(e, "%s/config.ini: out of memory", l->dir);
    fprintf(f, "# Resolved by dptrain %s (commit %s) for %d rank%s.\n", DPT_VERSION, DPT_COMMIT, env->ranks,
            env->ranks == 1 ? "" : "s");
    fprintf(f, "# Every key is listed; `dptrain train` on this file repeats the run.\n#\n");
    fprintf(f, "# What produced it (a record, not settings):\n");
    for (const char *p = env->record->text; *p;) {
        size_t n = strcspn(p, "\n");
        fprintf(f, "#   %.*s\n", (int)n, p);
        p += n + (p[n] == '\n');
    }
    fputc('\n', f);
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

/* The lock file's text: who holds the run directory. */
static void lock_text(char *buf, size_t size)
{
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(buf, size, "host %s pid %ld\n", host, (long)getpid());
}

/* A lock file that still names a holder, though nobody holds the lock, is a run that died; a
 * holder on this host whose pid is gone proves it. */
static void note_stale(dpt_log *l, const char *old, const char *path)
{
    char host[256] = "", mine[256] = "";
    long pid = 0;
    if (sscanf(old, "host %255s pid %ld", host, &pid) != 2)
        return;
    gethostname(mine, sizeof mine - 1);
    int dead = strcmp(host, mine) == 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    dpt_log_printf(l, "%s: taking over a stale lock of host %s pid %ld (%s)", path, host, pid,
                   dead ? "no longer running" : "no longer held");
}

/* flock(2) on RUN/run.lock, kept for the life of the run: the kernel releases it when the process
 * dies, however it dies. The file is never removed (removing it would let two runs lock two
 * different files of one name); a clean end empties it. */
static int lock_dir(dpt_log *l, dpt_err *e)
{
    char path[sizeof l->dir + 16], old[600] = "", mine[300];
    snprintf(path, sizeof path, "%s/run.lock", l->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return dpt_errf(e, "%s: cannot open the run directory's lock: %s", path, strerror(errno));
    ssize_t n = pread(fd, old, sizeof old - 1, 0);
    old[n > 0 ? n : 0] = '\0';
    old[strcspn(old, "\n")] = '\0';
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        if (err != EWOULDBLOCK)
            return dpt_errf(e, "%s: cannot lock: %s", path, strerror(err));
        return dpt_errf(e, "%s: another run is using this run directory (%s; lock %s): wait for it to end or "
                           "choose another run.name", l->dir, old[0] ? old : "holder not yet written", path);
    }
    l->lock_fd = fd;
    l->locked = 1;
    if (old[0])
        note_stale(l, old, path);
    lock_text(mine, sizeof mine);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, mine, strlen(mine), 0) != (ssize_t)strlen(mine))
        return dpt_errf(e, "%s: cannot write the lock's holder: %s", path, strerror(errno));
    return DPT_OK;
}

int dpt_log_open(dpt_log *l, const dpt_config *c, int writer, dpt_err *e)
{
    memset(l, 0, sizeof *l);
    l->last_step = -1;
    if (!writer)
        return DPT_OK;
    l->active = 1;
    l->tty = watched();
    snprintf(l->dir, sizeof l->dir, "%s/%s", c->run.dir, c->run.name);
    if (mkdir_p(l->dir, e) != DPT_OK || lock_dir(l, e) != DPT_OK)
        return DPT_FAIL;
    char ckpt[sizeof l->dir + 16];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoints", l->dir);
    int n = dpt_remove_temporaries(l->dir) + dpt_remove_temporaries(ckpt);
    if (n)
        dpt_log_printf(l, "%s: removed %d temporary file%s left by an interrupted write", l->dir, n,
                       n == 1 ? "" : "s");
    return DPT_OK;
}

/* What belongs to the run directory itself rather than to one run. */
static int kept_in_place(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || strcmp(name, "run.lock") == 0 ||
           strncmp(name, "previous-", 9) == 0;
}

/* Creates DIR/previous-N for the smallest N not taken (mkdir fails on an existing one). */
static int make_previous(const dpt_log *l, char *out, size_t size, dpt_err *e)
{
    for (int k = 1; k < 100000; k++) {
        snprintf(out, size, "%s/previous-%d", l->dir, k);
        if (mkdir(out, 0777) == 0)
            return DPT_OK;
        if (errno != EEXIST)
            return dpt_errf(e, "%s: cannot create: %s", out, strerror(errno));
    }
    return dpt_errf(e, "%s: too many earlier runs set aside", l->dir);
}

int dpt_log_set_aside(dpt_log *l, char *moved, size_t size, dpt_err *e)
{
    moved[0] = '\0';
    if (!l->active)
        return DPT_OK;
    DIR *d = opendir(l->dir);
    if (!d)
        return dpt_errf(e, "%s: cannot read: %s", l->dir, strerror(errno));
    int st = DPT_OK;
    char from[sizeof l->dir + 300], to[sizeof l->dir + 340];
    for (struct dirent *de; st == DPT_OK && (de = readdir(d));) {
        if (kept_in_place(de->d_name))
            continue;
        if (!moved[0])
            st = make_previous(l, moved, size, e);
        snprintf(from, sizeof from, "%s/%s", l->dir, de->d_name);
        snprintf(to, sizeof to, "%s/%s", moved, de->d_name);
        if (st == DPT_OK && rename(from, to) != 0)
            st = dpt_errf(e, "%s: cannot move the earlier run's %s aside: %s", l->dir, de->d_name, strerror(errno));
    }
    closedir(d);
    return st;
}

int dpt_log_start(dpt_log *l, const dpt_config *c, const dpt_log_env *env, int append, int64_t step, dpt_err *e)
{
    if (!l->active)
        return DPT_OK;
    if (write_config(l, c, env, e) != DPT_OK)
        return DPT_FAIL;
    char path[sizeof l->dir + 16];
    snprintf(path, sizeof path, "%s/metrics.jsonl", l->dir);
    l->metrics = fopen(path, append ? "a" : "w");
    if (!l->metrics)
        return dpt_errf(e, "%s: cannot open: %s", path, strerror(errno));
    return append ? dpt_log_trim(l, step, e) : DPT_OK;
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
    /* One line per step: a report at a step already reported (an evaluation that falls on an
     * epoch's last step reports it twice) would break the series' order. */
    if (l->fold != l->last_fold)
        l->last_fold = l->fold, l->last_step = -1;
    if (m->step <= l->last_step)
        return;
    l->last_step = m->step;
    cJSON *o = cJSON_CreateObject();
    if (l->fold)
        cJSON_AddNumberToObject(o, "fold", l->fold);
    cJSON_AddNumberToObject(o, "step", (double)m->step);
    cJSON_AddNumberToObject(o, "epoch", (double)m->epoch);
    add_number(o, "lr", m->lr);
    add_number(o, "train_loss", m->train_loss);
    add_number(o, "train_accuracy", m->train_accuracy);
    add_number(o, "penalty", m->penalty);
    add_number(o, "grad_norm", m->grad_norm);
    add_number(o, "val_loss", m->val_loss);
    add_number(o, "val_accuracy", m->val_accuracy);
    add_number(o, "test_loss", m->test_loss);
    add_number(o, "test_accuracy", m->test_accuracy);
    add_number(o, "samples_per_s", m->samples_per_s);
    add_number(o, "elapsed_s", m->elapsed);
    char *line = cJSON_PrintUnformatted(o);
    if (line && l->metrics) {
        fprintf(l->metrics, "%s\n", line);
        fflush(l->metrics);
    }
    free(line);
    cJSON_Delete(o);
    if (!m->console)
        return;
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
           (long long)t->pos.epoch + 1, (long long)t->pos.step, (long long)t->total_steps, t->last.train_loss,
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

int dpt_log_trim(dpt_log *l, int64_t step, dpt_err *e)
{
    if (!l->active || !l->metrics)
        return DPT_OK;
    char path[sizeof l->dir + 16], *line = NULL, *kept = NULL;
    size_t cap = 0, klen = 0;
    snprintf(path, sizeof path, "%s/metrics.jsonl", l->dir);
    fclose(l->metrics);
    errno = 0;
    FILE *in = fopen(path, "r"), *out = in ? open_memstream(&kept, &klen) : NULL;
    int st = in && out ? DPT_OK
                       : dpt_errf(e, "%s: cannot drop the lines after step %lld: %s", path, (long long)step,
                                  in ? "out of memory" : strerror(errno));
    while (st == DPT_OK && getline(&line, &cap, in) > 0) {
        cJSON *o = cJSON_Parse(line);
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, "step");
        /* Only a strictly increasing series up to step survives, whatever the file held. */
        if (cJSON_IsNumber(s) && s->valuedouble <= (double)step && s->valuedouble > (double)l->last_step) {
            fputs(line, out);
            l->last_step = (int64_t)s->valuedouble;
        }
        cJSON_Delete(o);
    }
    if (st == DPT_OK && (ferror(in) || ferror(out)))
        st = dpt_errf(e, "%s: cannot drop the lines after step %lld: %s", path, (long long)step,
                      ferror(in) ? "read error" : "out of memory");
    if (in)
        fclose(in);
    if (out && fclose(out) != 0 && st == DPT_OK)
        st = dpt_errf(e, "%s: cannot drop the lines after step %lld: out of memory", path, (long long)step);
    if (st == DPT_OK)
        st = dpt_write_atomic(path, kept, klen, e);
    free(line);
    free(kept);
    l->metrics = fopen(path, "a");
    if (!l->metrics && st == DPT_OK)
        st = dpt_errf(e, "%s: cannot open: %s", path, strerror(errno));
    return st;
}

void dpt_log_close(dpt_log *l)
{
    end_live_line(l);
    if (l->metrics)
        fclose(l->metrics);
    l->metrics = NULL;
    if (l->locked) {
        /* An empty lock file tells the next run that this one ended cleanly (if this fails, the
         * next run only reports a stale lock). */
        int emptied = ftruncate(l->lock_fd, 0) == 0;
        (void)emptied;
        close(l->lock_fd);
        l->locked = 0;
    }
}

int dpt_log_mkdir_p(const char *path, dpt_err *e)
{
    return mkdir_p(path, e);
}
