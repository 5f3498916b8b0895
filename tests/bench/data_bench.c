/* Data-module benchmark: how long Fashion-MNIST takes to load from .gz and
 * from an uncompressed IDX copy (memory-mapped), the resident memory that
 * costs, the gather rate of the training hot path, and CSV parse throughput
 * on a generated ~100 MB file. Temporary files live in a fresh /tmp
 * directory and are deleted at the end. One line per figure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "dptrain/data.h"
#include "dptrain/rng.h"

#define FMNIST "/usr/share/datasets/fashion-mnist/"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

/* Gunzips src into dst; returns 0 on success. */
static int gunzip_to(const char *src, const char *dst)
{
    gzFile g = gzopen(src, "rb");
    FILE *f = fopen(dst, "wb");
    int rc = g && f ? 0 : -1;
    char buf[1 << 16];
    int n;
    while (rc == 0 && (n = gzread(g, buf, sizeof buf)) > 0)
        if (fwrite(buf, 1, (size_t)n, f) != (size_t)n)
            rc = -1;
    if (g)
        gzclose(g);
    if (f && fclose(f) != 0)
        rc = -1;
    return rc;
}

static int load_timed(dpt_dataset *ds, const char *x, const char *y, const char *what)
{
    dpt_data_opts o = {.format = DPT_FORMAT_AUTO, .path = x, .targets = y, .label = "", .header = -1,
                       .task = DPT_TASK_CLASSIFY};
    dpt_err e;
    double t0 = now();
    if (dpt_data_load(ds, &o, &e) != DPT_OK) {
        printf("data: %s: load failed: %s\n", what, e.msg);
        return -1;
    }
    printf("data: load fashion-mnist train %s: %zu x %zu in %.1f ms\n", what, ds->n, ds->d, 1e3 * (now() - t0));
    return 0;
}

/* One epoch of batches of 256 in shuffled order, as training gathers them. */
static void gather_epoch(const dpt_dataset *ds, int standardized)
{
    enum { B = 256 };
    size_t *perm = malloc(ds->n * sizeof *perm);
    float *x = malloc(B * ds->d * sizeof *x), y[B];
    dpt_rng_permutation(perm, ds->n, 1, DPT_STREAM_SHUFFLE);
    double t0 = now(), sum = 0;
    for (size_t s = 0; s + B <= ds->n; s += B) {
        dpt_data_gather(x, y, ds, perm + s, B);
        sum += x[0];
    }
    double dt = now() - t0;
    printf("data: gather epoch (%s, batch %d): %.3f s = %.0f MB/s of float out (checksum %.1f)\n",
           standardized ? "standardized" : "scaled", B, dt,
           (double)(ds->n / B * B) * (double)ds->d * 4 / 1e6 / dt, sum);
    free(perm);
    free(x);
}

static void bench_fmnist(const char *dir)
{
    if (access(FMNIST "train-images-idx3-ubyte.gz", R_OK) != 0) {
        printf("data: fashion-mnist absent at %s, skipping its figures\n", FMNIST);
        return;
    }
    long rss0 = rss_kb();
    dpt_dataset ds;
    if (load_timed(&ds, FMNIST "train-images-idx3-ubyte.gz", FMNIST "train-labels-idx1-ubyte.gz", "from .gz") != 0)
        return;
    printf("data: VmRSS after .gz load: %ld MB (+%ld MB; features %.1f MB as uint8)\n", rss_kb() / 1024,
           (rss_kb() - rss0) / 1024, (double)(ds.n * ds.d) / 1e6);
    dpt_data_free(&ds);

    char xi[512], yi[512];
    snprintf(xi, sizeof xi, "%s/train-images-idx3-ubyte", dir);
    snprintf(yi, sizeof yi, "%s/train-labels-idx1-ubyte", dir);
    if (gunzip_to(FMNIST "train-images-idx3-ubyte.gz", xi) != 0 ||
        gunzip_to(FMNIST "train-labels-idx1-ubyte.gz", yi) != 0) {
        printf("data: cannot write the uncompressed copy in %s\n", dir);
        return;
    }
    rss0 = rss_kb();
    if (load_timed(&ds, xi, yi, "from uncompressed IDX (mmap, page cache warm)") == 0) {
        printf("data: VmRSS after mmap load: %ld MB (+%ld MB: pages arrive when first gathered)\n",
               rss_kb() / 1024, (rss_kb() - rss0) / 1024);
        gather_epoch(&ds, 0);
        printf("data: VmRSS after one epoch of gathers: %ld MB\n", rss_kb() / 1024);
        size_t *all = malloc(ds.n * sizeof *all);
        for (size_t i = 0; i < ds.n; i++)
            all[i] = i;
        dpt_err e;
        double t0 = now();
        if (dpt_data_fit_standardize(&ds, all, ds.n, &e) == DPT_OK) {
            printf("data: fit standardization over %zu samples: %.3f s\n", ds.n, now() - t0);
            gather_epoch(&ds, 1);
        }
        free(all);
        dpt_data_free(&ds);
    }
    unlink(xi);
    unlink(yi);
}

static void bench_csv(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/bench.csv", dir);
    FILE *f = fopen(path, "w");
    if (!f) {
        printf("data: cannot write %s\n", path);
        return;
    }
    /* Image-like rows: about half the pixels 0, the rest 1..255; label first. */
    enum { D = 784 };
    fputs("label", f);
    for (int j = 0; j < D; j++)
        fprintf(f, ",pixel%d", j + 1);
    fputc('\n', f);
    size_t bytes = 0, rows = 0;
    char line[D * 4 + 16];
    while (bytes < 100000000) {
        size_t k = (size_t)sprintf(line, "%d", (int)dpt_rng_below(5, DPT_STREAM_DATA, rows * (D + 1), 10));
        for (int j = 0; j < D; j++) {
            uint64_t r = dpt_rng_u64(5, DPT_STREAM_DATA, rows * (D + 1) + 1 + (uint64_t)j);
            int v = (r & 1) ? 0 : (int)(1 + (r >> 8) % 255);
            k += (size_t)sprintf(line + k, ",%d", v);
        }
        line[k++] = '\n';
        fwrite(line, 1, k, f);
        bytes += k;
        rows++;
    }
    fclose(f);

    dpt_data_opts o = {.format = DPT_FORMAT_AUTO, .path = path, .label = "label", .header = -1,
                       .task = DPT_TASK_CLASSIFY};
    dpt_dataset ds;
    dpt_err e;
    double t0 = now();
    int rc = dpt_data_load(&ds, &o, &e);
    double dt = now() - t0;
    if (rc != DPT_OK)
        printf("data: csv parse failed: %s\n", e.msg);
    else
        printf("data: csv parse %.1f MB (%zu x %zu) in %.2f s = %.0f MB/s\n", (double)bytes / 1e6, ds.n, ds.d, dt,
               (double)bytes / 1e6 / dt);
    dpt_data_free(&ds);
    unlink(path);
}

int main(void)
{
    char dir[] = "/tmp/dpt_data_bench_XXXXXX";
    if (!mkdtemp(dir)) {
        perror("data_bench: mkdtemp");
        return 1;
    }
    bench_fmnist(dir);
    bench_csv(dir);
    rmdir(dir);
    return 0;
}
