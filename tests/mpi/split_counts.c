/* Test tool: collectives whose counts pass what one MPI call carries are cut into pieces
 * (MPI counts are int, so gradients beyond 2^31 floats need it). Lowering the communicator's
 * max_count to a few floats takes those paths on small buffers; every result must equal, bit
 * for bit, the same collective made in one piece.
 *   split_counts      under mpirun -np N; exit 0 when every check holds on every rank */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/comm.h"

static int failures;

static void check(const dpt_comm *c, int ok, const char *what, size_t n)
{
    if (!ok) {
        fprintf(stderr, "split_counts: rank %d: %s differs when cut into pieces (n = %zu)\n", c->rank, what, n);
        failures++;
    }
}

/* Rank-dependent values of every magnitude, so that a different order of additions shows. */
static void fill(float *x, size_t n, int rank)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((double)((i * 2654435761u + (size_t)rank * 40503u) % 1000) - 500.0) * (float)(1 << (i % 13));
}

/* Runs each collective on whole and pieces, both from the same inputs. */
static void compare(const dpt_comm *whole, const dpt_comm *pieces, size_t n)
{
    float *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n), *s = malloc(sizeof(float) * n);
    if (!a || !b || !s)
        dpt_comm_abort(whole, "split_counts: out of memory");
    int pow2 = (whole->size & (whole->size - 1)) == 0;
    fill(a, n, whole->rank);
    fill(b, n, whole->rank);
    dpt_comm_reduce_scatter_f(whole, a, s, n);
    dpt_comm_reduce_scatter_f(pieces, b, s, n);
    check(whole, memcmp(a, b, sizeof(float) * n) == 0, "reduce-scatter", n);
    dpt_gather *ga = dpt_gather_new(whole, n, 0), *gb = dpt_gather_new(pieces, n, 0);
    dpt_gather_run(ga, a);
    dpt_gather_run(gb, b);
    check(whole, memcmp(a, b, sizeof(float) * n) == 0, "all-gather", n);
    dpt_gather_free(ga);
    dpt_gather_free(gb);
    fill(a, n, whole->rank);
    fill(b, n, whole->rank);
    dpt_comm_allreduce_f(whole, a, n);
    dpt_comm_allreduce_f(pieces, b, n);
    check(whole, memcmp(a, b, sizeof(float) * n) == 0, "allreduce", n);
    if (pow2) {
        fill(a, n, whole->rank);
        fill(b, n, whole->rank);
        dpt_comm_tree_sum_f(whole, a, s, n);
        dpt_comm_tree_sum_f(pieces, b, s, n);
        check(whole, memcmp(a, b, sizeof(float) * n) == 0, "tree sum", n);
        fill(a, n, whole->rank);
        fill(b, n, whole->rank);
        dpt_comm_tree_reduce_scatter_f(whole, a, s, n, 4);
        dpt_comm_tree_reduce_scatter_f(pieces, b, s, n, 4);
        ga = dpt_gather_new(whole, n, 4);
        gb = dpt_gather_new(pieces, n, 4);
        dpt_gather_run(ga, a);
        dpt_gather_run(gb, b);
        check(whole, memcmp(a, b, sizeof(float) * n) == 0, "tree reduce-scatter and all-gather", n);
        dpt_gather_free(ga);
        dpt_gather_free(gb);
    }
    free(a);
    free(b);
    free(s);
}

int main(int argc, char **argv)
{
    dpt_comm whole, pieces;
    dpt_err e;
    if (dpt_comm_init(&whole, &argc, &argv, &e) != DPT_OK) {
        fprintf(stderr, "split_counts: %s\n", e.msg);
        return 1;
    }
    pieces = whole;
    pieces.max_count = 7; /* a handful of floats per MPI call */
    /* 15, 22, 29: shards of 8 and 7 floats on 2, 3, 4 ranks, one cut into two pieces, the next
     * not: each message must be cut by its own length, not by the longer of a rank's two. */
    const size_t sizes[] = {1, 6, 7, 8, 15, 22, 29, 50, 1001};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++)
        compare(&whole, &pieces, sizes[k]);
    int bad = dpt_comm_any(&whole, failures > 0);
    if (whole.rank == 0)
        printf(bad ? "split_counts: some check failed\n" : "split_counts: every check holds\n");
    dpt_comm_finalize();
    return bad;
}
