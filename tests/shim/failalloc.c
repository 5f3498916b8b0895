/* Test shim (LD_PRELOAD): makes chosen allocations of dptrain's own code fail, to test that
 * out-of-memory becomes a clean error. Set by the environment:
 *   DPT_FAILALLOC=malloc:BYTES[:N]   malloc (or calloc, realloc, any) of BYTES in all, called
 *                                    from the program itself (not a library); only the Nth such
 *                                    call when N > 0
 *   DPT_FAILALLOC=nth:N              the Nth allocation of the program, whatever its size
 *   DPT_FAILALLOC=open_memstream:N   the Nth open_memstream (every one when N = 0)
 *   DPT_FAILALLOC_RANK=R             only on MPI rank R (OMPI_COMM_WORLD_RANK or PMI_RANK)
 *   DPT_FAILALLOC_LOG=1              print each allocation of the program (kind, bytes) on stderr
 * Without DPT_FAILALLOC it changes nothing. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);

static struct {
    int ready, on, log;
    char kind[32];
    size_t bytes;
    long nth, seen;
    uintptr_t lo, hi; /* the program's own code */
} s;

static int main_range(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size, (void)data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *p = &info->dlpi_phdr[i];
        if (p->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + p->p_vaddr, b = a + p->p_memsz;
        if (!s.lo || a < s.lo)
            s.lo = a;
        if (b > s.hi)
            s.hi = b;
    }
    return 1; /* the first object is the program */
}

static void setup(void)
{
    if (s.ready)
        return;
    s.ready = 1;
    const char *spec = getenv("DPT_FAILALLOC"), *rank = getenv("DPT_FAILALLOC_RANK");
    const char *mine = getenv("OMPI_COMM_WORLD_RANK") ? getenv("OMPI_COMM_WORLD_RANK") : getenv("PMI_RANK");
    s.log = getenv("DPT_FAILALLOC_LOG") != NULL;
    if (s.log)
        dl_iterate_phdr(main_range, NULL);
    if (!spec || (rank && (!mine || strcmp(rank, mine) != 0)))
        return;
    const char *colon = strchr(spec, ':');
    size_t k = colon ? (size_t)(colon - spec) : strlen(spec);
    if (k >= sizeof s.kind)
        return;
    memcpy(s.kind, spec, k);
    if (strcmp(s.kind, "open_memstream") == 0 || strcmp(s.kind, "nth") == 0) {
        s.nth = colon ? atol(colon + 1) : 0;
    } else {
        char *end;
        s.bytes = colon ? strtoul(colon + 1, &end, 10) : 0;
        s.nth = colon && *end == ':' ? atol(end + 1) : 0;
    }
    s.on = 1;
    if (!s.log)
        dl_iterate_phdr(main_range, NULL);
}

/* Whether this call (kind, bytes, made from caller) is one to fail. */
static int fails(const char *kind, size_t bytes, const void *caller)
{
    setup();
    uintptr_t at = (uintptr_t)caller;
    int ours = at >= s.lo && at < s.hi;
    if (s.log && ours) {
        char line[64];
        int n = snprintf(line, sizeof line, "failalloc: %s %zu\n", kind, bytes);
        if (write(2, line, (size_t)n) < 0)
            return 0;
    }
    if (!s.on || !ours)
        return 0;
    if (strcmp(s.kind, "nth") == 0)
        return __atomic_add_fetch(&s.seen, 1, __ATOMIC_RELAXED) == s.nth;
    if (bytes != s.bytes || (strcmp(s.kind, "any") != 0 && strcmp(s.kind, kind) != 0))
        return 0;
    long n = __atomic_add_fetch(&s.seen, 1, __ATOMIC_RELAXED);
    return s.nth == 0 || n == s.nth;
}

void *malloc(size_t n)
{
    if (fails("malloc", n, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
    if (s.ready && fails("calloc", n * size, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t n)
{
    if (fails("realloc", n, __builtin_return_address(0))) {
        errno = ENOMEM;
        return NULL;
    }
    return __libc_realloc(p, n);
}

FILE *open_memstream(char **buf, size_t *len)
{
    static FILE *(*real)(char **, size_t *);
    static long calls;
    setup();
    if (s.log && write(2, "failalloc: open_memstream\n", 26) < 0)
        return NULL;
    if (s.on && strcmp(s.kind, "open_memstream") == 0) {
        long n = __atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
        if (s.nth == 0 || n == s.nth) {
            errno = ENOMEM;
            return NULL;
        }
    }
    if (!real)
        real = (FILE * (*)(char **, size_t *)) dlsym(RTLD_NEXT, "open_memstream");
    return real(buf, len);
}
