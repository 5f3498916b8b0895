/* The record of a run: facts gathered once at start-up, kept as text lines. */
#include "dptrain/record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dpt_cflags.h"
#include "dpt_commit.h"
#include "dptrain/tensor.h"
#include "dptrain/version.h"

extern char **environ;

void dpt_record_add(dpt_record *r, const char *key, const char *fmt, ...)
{
    char value[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    for (char *p = value; *p; p++) /* one line per fact */
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    int n = snprintf(r->text + r->len, sizeof r->text - r->len, "%s: %s\n", key, value);
    if (n > 0 && (size_t)n < sizeof r->text - r->len)
        r->len += (size_t)n;
    else
        r->text[r->len] = '\0';
}

/* argv joined by spaces, each word quoted when the shell would split or expand it. */
static void join_words(char *out, size_t size, int argc, char **argv)
{
    size_t at = 0;
    out[0] = '\0';
    for (int i = 0; i < argc && at < size; i++) {
        int plain = argv[i][0] && strspn(argv[i], "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                   "0123456789_-+=.,/:@%") == strlen(argv[i]);
        at += (size_t)snprintf(out + at, size - at, plain ? "%s%s" : "%s'%s'", i ? " " : "", argv[i]);
    }
}

/* The command line of a process (self, or rank 0's parent: mpirun, or the shell), from /proc. */
static void cmdline(char *out, size_t size, long pid)
{
    char path[64], buf[2048];
    if (pid)
        snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
    else
        snprintf(path, sizeof path, "/proc/self/cmdline");
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    char *words[64];
    int count = 0;
    for (size_t i = 0; i < n && count < 64; i += strlen(buf + i) + 1)
        words[count++] = buf + i;
    join_words(out, size, count, words);
}

static void cpu_model(char *out, size_t size)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(out, size, "unknown");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            snprintf(out, size, "%s", strchr(line, ':') + 2);
            out[strcspn(out, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
}

/* "vm (ranks 0-1), node2 (ranks 2-3)": each host with the ranks on it, from every rank's name. */
static void hosts(char *out, size_t size, const dpt_comm *comm)
{
    enum { NAME = 64 };
    char mine[NAME] = "";
    size_t *lens;
    dpt_comm_hostname(mine, sizeof mine);
    char *all = dpt_comm_gather_bytes(comm, mine, NAME, &lens);
    snprintf(out, size, "%s", comm->rank == 0 && !all ? "(out of memory)" : "");
    if (comm->rank == 0 && all) {
        size_t at = 0;
        for (int r = 0; r < comm->size && at < size;) {
            int end = r;
            while (end + 1 < comm->size && strcmp(all + (size_t)(end + 1) * NAME, all + (size_t)r * NAME) == 0)
                end++;
            const char *sep = at ? ", " : "", *host = all + (size_t)r * NAME;
            if (end > r)
                at += (size_t)snprintf(out + at, size - at, "%s%s (ranks %d-%d)", sep, host, r, end);
            else
                at += (size_t)snprintf(out + at, size - at, "%s%s (rank %d)", sep, host, r);
            r = end + 1;
        }
    }
    free(all);
    free(lens);
}

void dpt_record_collect(dpt_record *r, const dpt_comm *comm)
{
    char buf[2048], line[1024];
    memset(r, 0, sizeof *r);
    hosts(buf, sizeof buf, comm); /* collective: before anything only rank 0 does */
    if (comm->rank != 0)
        return;
    cmdline(line, sizeof line, 0);
    dpt_record_add(r, "command", "%s", line);
    cmdline(line, sizeof line, (long)getppid());
    dpt_record_add(r, "launched by", "%s", line);
    dpt_record_add(r, "hosts", "%s; %d rank%s on %d node%s", buf, comm->size, comm->size == 1 ? "" : "s",
                   comm->nodes, comm->nodes == 1 ? "" : "s");
    cpu_model(buf, sizeof buf);
    dpt_record_add(r, "cpu", "%s, %ld cores", buf, sysconf(_SC_NPROCESSORS_ONLN));
    dpt_record_add(r, "blas core", "%s", dpt_blas_core());
    dpt_record_add(r, "blas", "%s", dpt_blas_info());
    dpt_comm_library(buf, sizeof buf);
    dpt_record_add(r, "mpi", "%s", buf);
    dpt_record_add(r, "build", "dptrain %s, commit %s, %s", DPT_VERSION, DPT_COMMIT,
#if defined(__clang__)
                   "clang " __clang_version__
#elif defined(__GNUC__)
                   "gcc " __VERSION__
#else
                   "an unknown compiler"
#endif
    );
    dpt_record_add(r, "cflags", "%s", DPT_CFLAGS);
    size_t at = 0;
    buf[0] = '\0';
    for (char **v = environ; *v && at < sizeof buf; v++)
        if (strncmp(*v, "OPENBLAS_", 9) == 0 || strncmp(*v, "OMP_", 4) == 0 || strncmp(*v, "GOTO_", 5) == 0)
            at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%s", at ? " " : "", *v);
    dpt_record_add(r, "environment", "%s", at ? buf : "(no OPENBLAS_*, OMP_* or GOTO_* variable set)");
}

void dpt_record_data(dpt_record *r, const char *name, const char *path, uint64_t checksum)
{
    struct stat st;
    char key[64];
    snprintf(key, sizeof key, "data %s", name);
    if (stat(path, &st) == 0)
        dpt_record_add(r, key, "%s, %lld bytes, checksum %016llx", path, (long long)st.st_size,
                       (unsigned long long)checksum);
    else
        dpt_record_add(r, key, "%s, checksum %016llx", path, (unsigned long long)checksum);
}
