/* Atomic file replacement (a reader sees the old file or the new one, never a mixture, and a
 * crash at any point leaves one of the two on disk), and whole-file reads. */
#include "dptrain/fsio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n > 0) {
        size_t chunk = n > ((size_t)1 << 30) ? (size_t)1 << 30 : n;
        ssize_t w = write(fd, c, chunk);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (w == 0)
            return ENOSPC;
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory makes the rename itself durable. */
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    if (!dir)
        return ENOMEM;
    int rc = 0, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        rc = errno;
    } else {
        /* EINVAL: this file system cannot sync directories; nothing more to do. */
        if (fsync(fd) != 0 && errno != EINVAL)
            rc = errno;
        close(fd);
    }
    free(dir);
    return rc;
}

int dpt_write_atomic_parts(const char *path, const void *const *parts, const size_t *lens, int nparts,
                           dpt_err *e)
{
    char *tmp = malloc(strlen(path) + 32);
    if (!tmp)
        return dpt_errf(e, "%s: out of memory", path);
    sprintf(tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc = DPT_OK;
    if (fd < 0) {
        rc = dpt_errf(e, "%s: cannot create temporary file %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return rc; /* nothing was created, so there is nothing to remove */
    }
    int err = 0;
    for (int i = 0; !err && i < nparts; i++)
        if (lens[i])
            err = write_all(fd, parts[i], lens[i]);
    const char *what = "write";
    if (!err && fsync(fd) != 0) {
        err = errno;
        what = "fsync";
    }
    if (close(fd) != 0 && !err) {
        err = errno;
        what = "close";
    }
    if (!err && rename(tmp, path) != 0) {
        err = errno;
        what = "rename";
    }
    if (err) {
        unlink(tmp);
        rc = dpt_errf(e, "%s: %s of %s failed: %s (old file left as it was)", path, what, tmp, strerror(err));
    } else if ((err = sync_dir(path)) != 0) {
        rc = dpt_errf(e, "%s: written, but fsync of its directory failed: %s", path, strerror(err));
    }
    free(tmp);
    return rc;
}

int dpt_write_atomic(const char *path, const void *data, size_t len, dpt_err *e)
{
    return dpt_write_atomic_parts(path, &data, &len, 1, e);
}

/* The suffix dpt_write_atomic_parts gives its temporary files: ".tmp." and a pid. */
static int is_temporary(const char *name)
{
    const char *t = strstr(name, ".tmp.");
    while (t && strstr(t + 1, ".tmp."))
        t = strstr(t + 1, ".tmp.");
    if (!t || t == name || !t[5])
        return 0;
    return strspn(t + 5, "0123456789") == strlen(t + 5);
}

int dpt_remove_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (!d)
        return 0;
    char path[4096];
    for (struct dirent *de; (de = readdir(d));) {
        if (!is_temporary(de->d_name) || snprintf(path, sizeof path, "%s/%s", dir, de->d_name) >= (int)sizeof path)
            continue;
        n += unlink(path) == 0;
    }
    closedir(d);
    return n;
}

/* Reads fd's n bytes into b; 0, or an errno, or -1 when the file ended early. */
static int read_all(int fd, char *b, size_t n)
{
    for (size_t got = 0; got < n;) {
        size_t chunk = n - got > ((size_t)1 << 30) ? (size_t)1 << 30 : n - got;
        ssize_t r = read(fd, b + got, chunk);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? errno : -1;
        got += (size_t)r;
    }
    return 0;
}

int dpt_read_file(const char *path, size_t max, char **buf, size_t *len, dpt_err *e)
{
    *buf = NULL, *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return dpt_errf(e, "%s: cannot open: %s", path, strerror(errno));
    int err = fstat(fd, &st) != 0 ? errno : 0;
    const char *why = err ? strerror(err) : !S_ISREG(st.st_mode) ? "not a regular file" : NULL;
    char big[64];
    if (!why && (uint64_t)st.st_size > max) {
        snprintf(big, sizeof big, "larger than %zu bytes", max);
        why = big;
    }
    size_t n = why ? 0 : (size_t)st.st_size;
    char *b = why ? NULL : malloc(n + 1);
    if (!why && !b)
        why = "out of memory for its contents";
    err = why ? 0 : read_all(fd, b, n);
    if (!why && err)
        why = err > 0 ? strerror(err) : "the file shrank while being read";
    close(fd);
    if (why) {
        free(b);
        return dpt_errf(e, "%s: cannot read: %s", path, why);
    }
    b[n] = '\0';
    *buf = b, *len = n;
    return DPT_OK;
}
