/* The one place that decides how gradients are combined: from the config
 * (bucket_mb, shard_optimizer, shared_memory, deterministic), the topology
 * and what node-shared memory can be had. A new path is a file of its own
 * and a line here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/reduce.h"

static int is_pow2(long v)
{
    return v > 0 && (v & (v - 1)) == 0;
}

/* Whether the rank count can share the blocks' tree. */
static int tree_check(const dpt_config *c, int ranks, dpt_err *e)
{
    long b = c->train.blocks;
    if (!is_pow2(b) || b > (1L << DPT_DET_LEVELS))
        return dpt_errf(e, "training.blocks = %ld: deterministic mode needs a power of two up to %ld", b,
                        1L << DPT_DET_LEVELS);
    if (!is_pow2(ranks) || ranks > b) {
        char ok[128] = "";
        for (long p = 1; p <= b && strlen(ok) < sizeof ok - 16; p *= 2)
            snprintf(ok + strlen(ok), sizeof ok - strlen(ok), "%s%ld", p > 1 ? ", " : "", p);
        return dpt_errf(e, "training.deterministic: %d ranks cannot share training.blocks = %ld along a binary "
                        "tree; use %s ranks (or change training.blocks)", ranks, b, ok);
    }
    return DPT_OK;
}

int dpt_reducer_max_rows(const dpt_config *c, const dpt_comm *comm, size_t batch, size_t *rows, dpt_err *e)
{
    size_t k = (size_t)c->train.accumulation, ranks = (size_t)comm->size, micro = (batch + k - 1) / k;
    *rows = (micro + ranks - 1) / ranks;
    if (!c->train.deterministic)
        return DPT_OK;
    /* Blocks, not ranks, decide every GEMM's rows. */
    *rows = (batch + (size_t)c->train.blocks - 1) / (size_t)c->train.blocks;
    return tree_check(c, comm->size, e);
}

double dpt_reducer_bucket_mb(const dpt_config *c, const dpt_comm *comm)
{
    /* Measured on a quiet machine (README, bench-cluster, 2026-11-30): across two emulated nodes
     * sharing 2 cores the buckets on their progress thread at best tie the blocking shards (1 MiB
     * at 2 Gbit/s) and lose unshaped (124-144 against 115-122 ms a step): an MLP's largest
     * gradients are final late in backward, and the thread moving bytes slows backward itself. On
     * one node no link waits to be overlapped. So auto keeps the shards everywhere. */
    (void)comm;
    return isnan(c->train.bucket_mb) ? 0 : c->train.bucket_mb;
}

/* The path for this job, built locally (nothing collective yet). */
static int build(dpt_reducer **out, const dpt_config *c, const dpt_reduce_plan *p, int shards, dpt_err *e)
{
    if (c->train.deterministic) {
        /* A penalty's value would need a fixed-order reduction too: it keeps full gradients. */
        dpt_reduce_plan q = *p;
        q.blocks = (int)c->train.blocks;
        q.sharded = c->train.shard_optimizer && p->comm->size > 1 && !(c->reg.l1 > 0 || c->reg.l2 > 0);
        return dpt_reduce_tree_new(out, &q, e);
    }
    if (shards)
        return dpt_reduce_shards_mpi_new(out, p, e);
    return dpt_reduce_allreduce_new(out, p, e);
}

int dpt_reducer_new(dpt_reducer **out, const dpt_config *c, const dpt_comm *comm, const dpt_grad_source *src,
                    dpt_err *e)
{
    dpt_reduce_plan p = {.comm = comm, .src = src, .penalize_bias = c->penalize_bias,
                         .bucket_mb = dpt_reducer_bucket_mb(c, comm),
                         .bf16 = c->train.comm_dtype == DPT_COMM_BF16 && comm->size > 1};
    int shards = c->train.shard_optimizer && p.bucket_mb == 0 && comm->size > 1 && !c->train.deterministic &&
                 c->train.comm_dtype == DPT_COMM_FP32;
    *out = NULL;
    if (dpt_comm_agree(comm, build(out, c, &p, shards, e), e) != DPT_OK)
        return DPT_FAIL;
    if (shards && c->train.shared_memory) { /* node-shared memory where it can be had */
        dpt_reducer *shm;
        /* several ranks on each of several nodes, as many on each: two levels */
        double local = comm->local_size;
        int same = comm->nodes > 1 ? dpt_comm_same(comm, &local, 1) : 0; /* collective: on every rank */
        int hierarchical = same && comm->local_size > 1;
        if (hierarchical)
            dpt_reduce_hierarchical_new(&shm, &p);
        else
            dpt_reduce_shards_shm_new(&shm, &p);
        if (shm) {
            dpt_reducer_free(*out);
            *out = shm;
        }
    }
    if (comm->size == 1)
        (*out)->name = "one rank";
    return DPT_OK;
}

void dpt_reducer_free(dpt_reducer *r)
{
    if (!r)
        return;
    r->ops->free(r);
    free(r->ranges);
    free(r);
}
