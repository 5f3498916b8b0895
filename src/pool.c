/* Workers wait for a new generation of work, take items from a shared atomic counter, and the
 * last one to finish wakes the caller. */
#include "dptrain/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef struct {
    dpt_pool *pool;
    int index;
} worker_arg;

struct dpt_pool {
    int n, started;
    pthread_t *threads;
    worker_arg *args;
    pthread_mutex_t mu;
    pthread_cond_t wake, done;
    unsigned long gen;  /* runs so far; a worker works once per new value */
    int busy, quit;     /* workers still in the current run; stop */
    dpt_pool_fn fn;
    void *ctx;
    long count;
    atomic_long next;   /* the next item to take */
};

static void work(dpt_pool *p, int thread)
{
    long i;
    while ((i = atomic_fetch_add(&p->next, 1)) < p->count)
        p->fn(p->ctx, i, thread);
}

static void *worker(void *v)
{
    worker_arg *a = v;
    dpt_pool *p = a->pool;
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->gen == seen && !p->quit)
            pthread_cond_wait(&p->wake, &p->mu);
        if (p->quit)
            break;
        seen = p->gen;
        pthread_mutex_unlock(&p->mu);
        work(p, a->index);
        pthread_mutex_lock(&p->mu);
        if (--p->busy == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

dpt_pool *dpt_pool_new(int n)
{
    dpt_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->n = n < 1 ? 1 : n;
    p->threads = calloc((size_t)p->n, sizeof *p->threads);
    p->args = calloc((size_t)p->n, sizeof *p->args);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->next, 0);
    if (!p->threads || !p->args) {
        dpt_pool_free(p);
        return NULL;
    }
    for (int i = 1; i < p->n; i++) {
        p->args[i] = (worker_arg){p, i};
        if (pthread_create(&p->threads[i], NULL, worker, &p->args[i]) != 0) {
            dpt_pool_free(p);
            return NULL;
        }
        p->started = i;
    }
    return p;
}

int dpt_pool_size(const dpt_pool *p)
{
    return p ? p->n : 1;
}

void dpt_pool_run(dpt_pool *p, dpt_pool_fn fn, void *ctx, long count)
{
    if (!p || p->n == 1 || count <= 1) {
        for (long i = 0; i < count; i++)
            fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->count = count;
    atomic_store(&p->next, 0);
    p->busy = p->n - 1;
    p->gen++;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    work(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->busy > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void dpt_pool_free(dpt_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i <= p->started; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    free(p->threads);
    free(p->args);
    free(p);
}
