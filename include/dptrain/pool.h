/* A few worker threads that share the memory-bound loops of a step (averaging and update) with
 * the calling thread. They sleep on a condition variable between runs: spinning would steal the
 * cores the BLAS threads need for the next GEMM. No worker calls MPI. */
#ifndef DPTRAIN_POOL_H
#define DPTRAIN_POOL_H

typedef struct dpt_pool dpt_pool;

/* Work item i of a run, done by thread (0 = the caller, up to the pool's size - 1). */
typedef void (*dpt_pool_fn)(void *ctx, long i, int thread);

/* A pool of n threads counting the caller (n - 1 are started); NULL when out of memory or a thread
 * cannot start. Threads inherit the caller's floating-point mode. */
dpt_pool *dpt_pool_new(int n);

/* Threads in the pool, counting the caller (1 for NULL). */
int dpt_pool_size(const dpt_pool *p);

/* Runs fn for every i in [0, count), each exactly once, on the pool's threads and the caller;
 * returns when all are done. NULL runs them all on the caller. */
void dpt_pool_run(dpt_pool *p, dpt_pool_fn fn, void *ctx, long count);

/* Stops and joins the workers; NULL allowed. */
void dpt_pool_free(dpt_pool *p);

#endif
