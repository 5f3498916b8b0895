/* Every MPI call of dptrain lives behind this header: start-up, broadcast,
 * reductions, agreement on errors, and the job-wide abort. A program run
 * without mpirun is a valid one-rank job. */
#ifndef DPTRAIN_COMM_H
#define DPTRAIN_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "dptrain/collective.h"
#include "dptrain/error.h"

/* A group of ranks that run collectives together: the whole job, or a part of it that trains one
 * trial of a study (dpt_comm_split). Every call below runs over c's group only. */
typedef struct {
    int rank, size;             /* in this group */
    int local_rank, local_size; /* among this group's ranks on this node */
    int nodes;                  /* nodes the group spans */
    size_t max_count;           /* the most elements one MPI call carries (MPI counts are int) */
    void *group;                /* comm.c's MPI communicator; NULL = the whole job */
} dpt_comm;

/* Starts MPI (a singleton when not under mpirun) and fills c with the whole job. */
int dpt_comm_init(dpt_comm *c, int *argc, char ***argv, dpt_err *e);

/* Splits parent's ranks into groups, one per color, ranked as in parent; child gets this rank's
 * group (collective over parent). */
int dpt_comm_split(const dpt_comm *parent, int color, dpt_comm *child, dpt_err *e);

/* The ranks of parent on this rank's node, ranked as in parent (collective over parent). */
int dpt_comm_split_node(const dpt_comm *parent, dpt_comm *node, dpt_err *e);

/* Frees a group made by dpt_comm_split (collective over it); the whole job's needs no freeing. */
void dpt_comm_free(dpt_comm *c);

/* Ends MPI; call once on every rank after the last collective. */
void dpt_comm_finalize(void);

/* Copies bytes from rank 0's buf into every other rank's buf. */
void dpt_comm_bcast(const dpt_comm *c, void *buf, size_t bytes);

/* Sums n floats element-wise across ranks, in place. */
void dpt_comm_allreduce_f(const dpt_comm *c, float *buf, size_t n);

/* Sums n doubles element-wise across ranks, in place. */
void dpt_comm_allreduce_d(const dpt_comm *c, double *buf, size_t n);

/* Sums n floats across a power-of-two number of ranks along a fixed binary tree over ranks
 * (recursive doubling), so the bits do not depend on the MPI library's algorithm; scratch [n]. */
void dpt_comm_tree_sum_f(const dpt_comm *c, float *buf, float *scratch, size_t n);

/* The largest v over all ranks (collective). */
double dpt_comm_max_d(const dpt_comm *c, double v);

/* Whether every rank holds the same v[0..n) (n <= 16; collective). */
int dpt_comm_same(const dpt_comm *c, const double *v, int n);

/* Rank's shard [*lo, *hi) of n elements: contiguous, sizes differ by at most one. */
void dpt_comm_shard(const dpt_comm *c, size_t n, int rank, size_t *lo, size_t *hi);

/* Sums buf [n] across ranks so that this rank's shard holds the total (the rest is left
 * partial); scratch holds one shard (collective). */
void dpt_comm_reduce_scatter_f(const dpt_comm *c, float *buf, float *scratch, size_t n);

/* c's ranks as peers of src/collective.c's algorithms, exchanging through MPI (watched). */
dpt_peers dpt_comm_peers(const dpt_comm *c);

/* A planned all-gather of every rank's shard of n floats: plain shards (dpt_comm_shard) or, with
 * align > 0, tree shards (dpt_comm_tree_shard). Planned once, so a step allocates nothing. */
typedef struct dpt_gather dpt_gather;

/* Plans it for c (kept by pointer: c must outlive it); NULL on no memory (local). */
dpt_gather *dpt_gather_new(const dpt_comm *c, size_t n, size_t align);

/* Gives every rank every rank's shard of buf [n] (collective, in place). */
void dpt_gather_run(const dpt_gather *g, float *buf);

/* Frees g (NULL allowed). */
void dpt_gather_free(dpt_gather *g);

/* The range rank keeps in dpt_comm_tree_reduce_scatter_f: [0, n) halved size-1 times along the
 * bits of rank, each cut at a multiple of align. */
void dpt_comm_tree_shard(const dpt_comm *c, size_t n, size_t align, int rank, size_t *lo, size_t *hi);

/* Like dpt_comm_tree_sum_f, but each rank ends with only its tree shard summed (recursive
 * halving; a power-of-two number of ranks); scratch holds half of buf (collective). */
void dpt_comm_tree_reduce_scatter_f(const dpt_comm *c, float *buf, float *scratch, size_t n, size_t align);


/* Memory that every rank of one node reads and writes directly (an MPI shared-memory window):
 * one region of n floats per rank. Valid only when all ranks share one node. */
typedef struct dpt_shared dpt_shared;

/* Allocates the regions, zeroed (collective); NULL on every rank if any rank lacks memory or
 * /dev/shm (Open MPI's backing directory) has too little room for them. */
dpt_shared *dpt_shared_new(const dpt_comm *c, size_t n);

/* The region of rank (any rank's, in this process's address space). */
float *dpt_shared_region(const dpt_shared *s, int rank);

/* Barrier after which every rank sees every write made before it (collective). */
void dpt_shared_sync(const dpt_shared *s);

/* Frees the regions (collective; NULL allowed, then not collective). */
void dpt_shared_free(dpt_shared *s);

/* A counter in node-shared memory that any rank draws numbers 0, 1, 2, ... from without the
 * others taking part: a group of a study asks for its next trial when it is done. */
typedef struct dpt_counter dpt_counter;
/* Creates it at 0 (collective); NULL on every rank when the job spans nodes or any rank lacks
 * memory. */
dpt_counter *dpt_counter_new(const dpt_comm *c);
/* The next number, atomically (this rank alone; not collective). */
int64_t dpt_counter_next(dpt_counter *k);
/* Frees it (collective over the ranks that made it; NULL allowed, then not collective). */
void dpt_counter_free(dpt_counter *k);
/* Every rank's v[0..n) into all [size][n], in rank order (collective). */
void dpt_comm_allgather_u64(const dpt_comm *c, const uint64_t *v, int n, uint64_t *all);

/* Logical OR of flag over all ranks (collective). */
int dpt_comm_any(const dpt_comm *c, int flag);

/* Collective agreement on a status: a failed rank prints "dptrain: rank R: msg" on
 * stderr (only rank 0 when all failed); every rank returns DPT_FAIL (e marked reported)
 * if any rank failed. */
int dpt_comm_agree(const dpt_comm *c, int status, dpt_err *e);

/* Prints "dptrain: rank R: msg" and ends the whole job with a non-zero status. */
_Noreturn void dpt_comm_abort(const dpt_comm *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The watchdog (training.timeout): a thread of this rank that ends the whole job, after printing
 * "dptrain: rank R: no progress for T s in step S (waiting for ...)", when a watched phase lasts
 * longer than seconds: a rank stopped or cut off never answers, and the others would wait in a
 * collective forever. Starts it (0 seconds: none); call after dpt_comm_init. */
int dpt_comm_watchdog_start(const dpt_comm *c, double seconds, dpt_err *e);

/* Stops and joins the watchdog (none running: nothing); dpt_comm_finalize calls it. */
void dpt_comm_watchdog_stop(void);

/* Starts the clock on a phase, named "PHASE STEP" in the message (phase is a string literal). */
void dpt_comm_watch(const char *phase, int64_t step);

/* The same with factor times training.timeout: for waits whose length is not a rank's fault,
 * such as rank 0's file writes. */
void dpt_comm_watch_long(const char *phase, int64_t step, double factor);

/* Stops the clock: what follows is not watched. */
void dpt_comm_unwatch(void);

/* Waits for every rank: after rank 0's file writes, so that the others' next watched phase starts
 * after them (collective; watch it with dpt_comm_watch_long). */
void dpt_comm_barrier(const dpt_comm *c);

/* Seconds from an arbitrary origin (a monotonic clock; any thread may call it). */
double dpt_comm_time(void);

/* A common start for timelines: the value of this rank's dpt_comm_time() at the moment rank 0's
 * clock read its start, each rank's offset to rank 0's clock estimated from the fastest of a few
 * round trips, so a rank descheduled in one of them does not skew it (collective). */
double dpt_comm_common_start(const dpt_comm *c);

/* Gathers each rank's n bytes on rank 0: returns there a malloc'd buffer of every rank's bytes in
 * rank order and sets *lens to a malloc'd [size] of their lengths (the caller frees both); NULL
 * elsewhere, and on every rank when rank 0 lacks the memory (collective). */
char *dpt_comm_gather_bytes(const dpt_comm *c, const void *buf, size_t n, size_t **lens);

/* This node's cores shared among its ranks (in this communicator), at least 1. */
int dpt_comm_cores_per_rank(const dpt_comm *c);

/* This node's host name into buf (always terminated). */
void dpt_comm_hostname(char *buf, size_t size);

/* "Open MPI v4.1.4" as the library reports itself, into buf (always terminated). */
void dpt_comm_library(char *buf, size_t size);

/* Sum n floats across ranks in buckets that the backward pass hands to a progress thread as
 * gradients become final (a ring allreduce each, every rank getting the same bits), and the
 * optimizer waits on. Between the first
 * dpt_bucketed_ready of a step and dpt_bucketed_finish the caller makes no MPI call. */
typedef struct dpt_bucketed dpt_bucketed;

/* Plans buckets of about bucket_bytes over buf [n] (0: one blocking allreduce at the end), in
 * bfloat16 on the wire (fp32 sums) when bf16; NULL on no memory or no thread. */
dpt_bucketed *dpt_bucketed_new(const dpt_comm *c, float *buf, size_t n, size_t bucket_bytes, int bf16);

/* Frees b (NULL allowed). */
void dpt_bucketed_free(dpt_bucketed *b);

/* Marks buf[off..off+len) final; the thread sums every bucket that is now complete. */
void dpt_bucketed_ready(dpt_bucketed *b, size_t off, size_t len);


/* Completes every bucket (starting any left), so buf holds the sum; resets for the next step. */
void dpt_bucketed_finish(dpt_bucketed *b);

#endif
