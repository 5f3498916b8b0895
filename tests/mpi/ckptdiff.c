/* Test tool: compares the parameter tensors (layers.*) of two checkpoints.
 *   ckptdiff A B bitwise      exit 0 when every float is bit-identical
 *   ckptdiff A B REL          exit 0 when max|a-b| <= REL * max|b| over each tensor
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

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: ckptdiff A B bitwise|REL\n");
        return 2;
    }
    dpt_ckpt a, b;
    dpt_err e;
    if (dpt_ckpt_read(&a, argv[1], &e) != DPT_OK || dpt_ckpt_read(&b, argv[2], &e) != DPT_OK) {
        fprintf(stderr, "ckptdiff: %s\n", e.msg);
        return 2;
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
