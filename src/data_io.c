/* The seam between files and the format readers: a whole file in memory (mapped read-only, or
 * gunzipped into a buffer whose growth the compressed size bounds), its lines, and the size
 * helpers of stored types. Knows no format. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "data/formats.h"
#include "dptrain/data.h"

size_t dpt_dtype_size(dpt_dtype t)
{
    switch (t) {
    case DPT_DT_U8: return 1;
    case DPT_DT_I32: return 4;
    case DPT_DT_F32: return 4;
    case DPT_DT_I64: return 8;
    case DPT_DT_F64: return 8;
    }
    return 0;
}

int dpt_mul_ok(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

/* ---- files in memory ---- */

/* Deflate expands at most about 1032:1 (258-byte matches coded in 2 bits), and every gzip member
 * has an 18-byte frame: more output than this from fsize bytes is impossible. */
static size_t gunzip_bound(off_t fsize)
{
    size_t bound;
    if (!dpt_mul_ok((size_t)fsize, 1032, &bound) || bound > SIZE_MAX - 65536)
        return SIZE_MAX - 65536;
    return bound + 65536;
}

/* Gunzips fd into a malloc'd buffer; fd is consumed. The gzip trailer's size
 * (mod 2^32, and written by whoever made the file) sizes the first buffer only
 * as far as the compressed size could hold it, so a short file cannot ask for
 * gigabytes; the buffer then grows as the data really inflates. */
static int gunzip_fd(dpt_blob *b, int fd, off_t fsize, const char *path, dpt_err *e)
{
    unsigned char tail[4];
    size_t cap = 0, bound = gunzip_bound(fsize);
    if (fsize >= 18 && pread(fd, tail, 4, fsize - 4) == 4)
        cap = (size_t)tail[0] | (size_t)tail[1] << 8 | (size_t)tail[2] << 16 | (size_t)tail[3] << 24;
    if (cap > bound)
        cap = bound;
    if (cap < 65536)
        cap = 65536;
    cap += 1; /* one spare byte lets the loop see EOF without growing */
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return dpt_errf(e, "%s: cannot open as gzip", path);
    }
    gzbuffer(gz, 1u << 18);
    unsigned char *buf = malloc(cap);
    if (!buf) {
        gzclose(gz);
        return dpt_errf(e, "%s: out of memory for %zu bytes", path, cap);
    }
    size_t len = 0;
    for (;;) {
        if (len == cap) {
            size_t ncap;
            if (cap > bound) { /* zlib would have failed first: defence, not a path */
                free(buf);
                gzclose(gz);
                return dpt_errf(e, "%s: gzip data inflates past %zu bytes, more than deflate allows", path, bound);
            }
            if (!dpt_mul_ok(cap, 2, &ncap) || ncap > bound + 1)
                ncap = bound + 1;
            unsigned char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                gzclose(gz);
                return dpt_errf(e, "%s: out of memory for %zu bytes", path, ncap);
            }
            buf = nb;
            cap = ncap;
        }
        size_t want = cap - len;
        if (want > (1u << 30))
            want = 1u << 30;
        int r = gzread(gz, buf + len, (unsigned)want);
        if (r < 0)
            break;
        if (r == 0)
            break;
        len += (size_t)r;
    }
    int zerr = Z_OK;
    const char *zmsg = gzerror(gz, &zerr);
    if (zerr != Z_OK) {
        dpt_errf(e, "%s: truncated or corrupt gzip data (%s)", path, zmsg ? zmsg : "?");
        free(buf);
        gzclose(gz);
        return DPT_FAIL;
    }
    gzclose(gz);
    if (len == 0) {
        free(buf);
        return dpt_errf(e, "%s: file is empty (after decompression)", path);
    }
    /* Exact size: nothing may lean on slack past the data (and ASan can tell). */
    if (len < cap) {
        unsigned char *nb = realloc(buf, len);
        if (nb)
            buf = nb;
    }
    b->buf = buf;
    b->p = buf;
    b->len = len;
    return DPT_OK;
}

const char *dpt_line(const char *ls, const char *end, const char **le)
{
    const char *nl = memchr(ls, '\n', (size_t)(end - ls));
    *le = nl ? nl : end;
    if (*le > ls && (*le)[-1] == '\r')
        (*le)--;
    return nl ? nl + 1 : end;
}

int dpt_blob_open(dpt_blob *b, const char *path, dpt_err *e)
{
    memset(b, 0, sizeof *b);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dpt_errf(e, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return dpt_errf(e, "%s: cannot stat: %s", path, strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return dpt_errf(e, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return dpt_errf(e, "%s: file is empty", path);
    }
    if ((uintmax_t)st.st_size > SIZE_MAX) {
        close(fd);
        return dpt_errf(e, "%s: file too large to map", path);
    }
    unsigned char magic[2];
    if (st.st_size >= 2 && pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
        return gunzip_fd(b, fd, st.st_size, path, e);
    size_t len = (size_t)st.st_size;
    void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (m == MAP_FAILED)
        return dpt_errf(e, "%s: cannot map: %s", path, strerror(err));
    b->map = m;
    b->maplen = len;
    b->p = m;
    b->len = len;
    return DPT_OK;
}

void dpt_blob_close(dpt_blob *b)
{
    if (!b)
        return;
    if (b->map)
        munmap(b->map, b->maplen);
    free(b->buf);
    memset(b, 0, sizeof *b);
}

void dpt_blob_give(dpt_dataset *ds, dpt_blob *b)
{
    if (b->map) {
        ds->map = b->map;
        ds->maplen = b->maplen;
    } else {
        ds->xbuf = b->buf;
    }
    memset(b, 0, sizeof *b);
}
