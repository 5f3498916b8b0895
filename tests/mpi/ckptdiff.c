/* Test tool: compares the tensors of two checkpoints.
 *   ckptdiff A B bitwise      exit 0 when every float of the parameters (layers.*) is bit-identical
 *   ckptdiff A B REL          exit 0 when max|a-b| <= REL * max|b| over each parameter tensor
 *   ckptdiff A B all          exit 0 when every tensor (parameters and optimizer state) and the
 *                             training position in the metadata are bit-identical; names the first
 *                             tensor or key that differs (scripts/path-identity.sh)
 * Prints the largest difference found either way. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/checkpoint.h"

static size_t count(const dpt_ckpt_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

/* The metadata that places a run (times, hosts and the record are left out: they differ by design). */
static const char *const position[] = {"step", "epoch", "batch_in_epoch", "optimizer_t", "skipped", "skipped_run",
                                       "best_step", "bad_evals", "stopped", "epoch_loss", "epoch_count",
                                       "best_metric", "metrics"};

static int same_text(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Mode all: every tensor of A in B with the same shape and bits, none extra, the same position. */
static int compare_all(const dpt_ckpt *a, const dpt_ckpt *b, const char *bname)
{
    if (a->nt != b->nt) {
        printf("%d tensors, %d in %s\n", a->nt, b->nt, bname);
        return 1;
    }
    for (int i = 0; i < a->nt; i++) {
        const dpt_ckpt_tensor *ta = &a->t[i], *tb = dpt_ckpt_find(b, ta->name);
        if (!tb || tb->ndim != ta->ndim || memcmp(tb->shape, ta->shape, sizeof(int64_t) * (size_t)ta->ndim) != 0) {
            printf("tensor %s: missing or different shape in %s\n", ta->name, bname);
            return 1;
        }
        size_t n = count(ta), ndiff = 0;
        double diff = 0;
        for (size_t k = 0; k < n; k++)
            if (memcmp(&ta->data[k], &tb->data[k], sizeof(float)) != 0) {
                ndiff++;
                diff = fmax(diff, fabs((double)ta->data[k] - tb->data[k]));
            }
        if (ndiff) {
            printf("tensor %s: %zu of %zu floats differ, largest |a-b| %.3g\n", ta->name, ndiff, n, diff);
            return 1;
        }
    }
    for (size_t k = 0; k < sizeof position / sizeof *position; k++) {
        const char *va = dpt_ckpt_meta_get(a, position[k]), *vb = dpt_ckpt_meta_get(b, position[k]);
        if (!same_text(va, vb)) {
            size_t at = 0; /* where they part, shown with a little context */
            while (va && vb && va[at] && va[at] == vb[at])
                at++;
            at = at > 20 ? at - 20 : 0;
            printf("metadata %s: '...%.50s' vs '...%.50s'\n", position[k], va ? va + at : "(none)",
                   vb ? vb + at : "(none)");
            return 1;
        }
    }
    printf("ckptdiff: %d tensors and the position bit-identical\n", a->nt);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ckptdiff A B bitwise|all|REL\n");
        return 2;
    }
    dpt_ckpt a, b;
    dpt_err e;
    if (dpt_ckpt_read(&a, argv[1], &e) != DPT_OK || dpt_ckpt_read(&b, argv[2], &e) != DPT_OK) {
        fprintf(stderr, "ckptdiff: %s\n", e.msg);
        return 2;
    }
    if (strcmp(argv[3], "all") == 0) {
        int bad = compare_all(&a, &b, argv[2]);
        dpt_ckpt_free(&a);
        dpt_ckpt_free(&b);
        return bad;
    }
    int bitwise = strcmp(argv[3], "bitwise") == 0, bad = 0, compared = 0;
    double rel = bitwise ? 0 : atof(argv[3]), worst = 0;
    for (int i = 0; i < a.nt; i++) {
        if (strncmp(a.t[i].name, "layers.", 7) != 0)
            continue;
        const dpt_ckpt_tensor *ta = &a.t[i], *tb = dpt_ckpt_find(&b, ta->name);
        if (!tb || count(tb) != count(ta)) {
            printf("%s: missing or different shape in %s\n", ta->name, argv[2]);
            return 1;
        }
        size_t n = count(ta);
        double scale = 0, diff = 0;
        for (size_t k = 0; k < n; k++) {
            scale = fmax(scale, fabs(tb->data[k]));
            diff = fmax(diff, fabs((double)ta->data[k] - tb->data[k]));
        }
        if (bitwise && n && memcmp(ta->data, tb->data, sizeof(float) * n) != 0)
            bad = 1;
        if (!bitwise && diff > rel * scale)
            bad = 1;
        worst = fmax(worst, scale > 0 ? diff / scale : diff);
        compared++;
    }
    printf("ckptdiff: %d tensors, largest relative difference %.3g (%s)\n", compared, worst,
           bad ? "DIFFERENT" : "equal");
    dpt_ckpt_free(&a);
    dpt_ckpt_free(&b);
    return bad || compared == 0;
}
