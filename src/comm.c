/* MPI behind one door. Collectives are called with the same arguments on
 * every rank; anything data-dependent is agreed on first (dpt_comm_agree,
 * dpt_comm_any) so no rank is left waiting in a call the others skip. */
#include "dptrain/comm.h"

#include "dptrain/collective.h"

#include <limits.h>
#include <math.h>
#include <mpi.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* The watchdog's view of this rank: what it is doing and until when it may take. The training
 * thread writes it (atomics, no lock: a step must not wait for the watchdog); the watchdog
 * thread only reads it, and on expiry prints and calls MPI_Abort, its one MPI call. */
static struct {
    pthread_t thread;
    int running, rank;
    double seconds;
    long long ns;                   /* seconds, in nanoseconds */
    atomic_int stop;
    atomic_llong deadline_ns;       /* 0 = nothing watched */
    atomic_llong step;
    _Atomic(const char *) phase;    /* "step", "the evaluation after step" */
    _Atomic(const char *) waiting;  /* the collective under way, or NULL: this rank's own work */
} wd;

/* Names what this rank waits for from here on, for the watchdog's message (NULL: nothing). */
static void waiting_for(const char *what)
{
    atomic_store_explicit(&wd.waiting, what, memory_order_relaxed);
}

/* The communicator c's collectives run over: its group's (dpt_comm_split), or the whole job. */
static MPI_Comm group(const dpt_comm *c)
{
    return c->group ? *(const MPI_Comm *)c->group : MPI_COMM_WORLD;
}

/* Fills c's rank, size and node facts from its communicator (collective over it). */
static void describe(dpt_comm *c)
{
    MPI_Comm_rank(group(c), &c->rank);
    MPI_Comm_size(group(c), &c->size);
    c->max_count = (size_t)1 << 28;
    MPI_Comm node;
    MPI_Comm_split_type(group(c), MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &node);
    MPI_Comm_rank(node, &c->local_rank);
    MPI_Comm_size(node, &c->local_size);
    MPI_Comm_free(&node);
    int first = c->local_rank == 0;
    MPI_Allreduce(&first, &c->nodes, 1, MPI_INT, MPI_SUM, group(c));
}

int dpt_comm_init(dpt_comm *c, int *argc, char ***argv, dpt_err *e)
{
    int provided;
    memset(c, 0, sizeof *c);
    if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
        return dpt_errf(e, "MPI_Init failed");
    /* Errors in MPI calls abort the job (the default), so no status checks below. */
    describe(c);
    return DPT_OK;
}

/* A group of parent's ranks: by color, or with color < 0 the ranks of this rank's node. */
static int split(const dpt_comm *parent, int color, dpt_comm *child, dpt_err *e)
{
    memset(child, 0, sizeof *child);
    MPI_Comm *g = malloc(sizeof *g);
    if (dpt_comm_any(parent, !g)) {
        free(g);
        return dpt_errf(e, "out of memory for a group of ranks");
    }
    if (color < 0)
        MPI_Comm_split_type(group(parent), MPI_COMM_TYPE_SHARED, parent->rank, MPI_INFO_NULL, g);
    else
        MPI_Comm_split(group(parent), color, parent->rank, g);
    child->group = g;
    describe(child);
    return DPT_OK;
}

int dpt_comm_split(const dpt_comm *parent, int color, dpt_comm *child, dpt_err *e)
{
    return split(parent, color, child, e);
}

int dpt_comm_split_node(const dpt_comm *parent, dpt_comm *node, dpt_err *e)
{
    return split(parent, -1, node, e);
}

void dpt_comm_free(dpt_comm *c)
{
    if (c->group) {
        MPI_Comm_free((MPI_Comm *)c->group);
        free(c->group);
    }
    memset(c, 0, sizeof *c);
}

void dpt_comm_finalize(void)
{
    dpt_comm_watchdog_stop();
    MPI_Finalize();
}

/* Ends the whole job after this rank's message is out. MPICH's launcher (Hydra) drops a line
 * written just before MPI_Abort about one time in ten (measured: 6 of 60 two-rank aborts, none
 * with 100 ms between): the abort overtakes the forwarded output, and the user would see a
 * non-zero exit with no reason. A fifth of a second costs nothing on a path that ends the job. */
_Noreturn static void abort_job(void)
{
    const struct timespec grace = {0, 200 * 1000000L};
    nanosleep(&grace, NULL);
    MPI_Abort(MPI_COMM_WORLD, 1);
    _exit(1);
}

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Polls the deadline a few times a second. A rank stopped (SIGSTOP) or cut off never answers,
 * and Open MPI's blocking calls spin forever on the ranks that wait for it: only a thread of
 * their own can notice and end the job. */
static void *watchdog_main(void *arg)
{
    (void)arg;
    const struct timespec tick = {0, 100 * 1000000L};
    long long last = now_ns();
    while (!atomic_load(&wd.stop)) {
        nanosleep(&tick, NULL);
        long long now = now_ns(), gap = now - last - 100 * 1000000LL, deadline = atomic_load(&wd.deadline_ns);
        last = now;
        /* A tick that came a second late means this process itself was stopped (Ctrl-Z, a
         * debugger, SIGSTOP): that time is not the others' fault, so the clock moves on by it.
         * A rank left waiting for a stopped one still ends the job. */
        if (deadline && gap > 1000000000LL &&
            atomic_compare_exchange_strong(&wd.deadline_ns, &deadline, deadline + gap))
            deadline += gap; /* else the training thread has just moved it itself */
        if (!deadline || now < deadline)
            continue;
        const char *what = atomic_load(&wd.waiting);
        fprintf(stderr, "dptrain: rank %d: no progress for %g s in %s %lld (waiting for %s); ending the job "
                        "(training.timeout)\n", wd.rank, wd.seconds, atomic_load(&wd.phase),
                (long long)atomic_load(&wd.step), what ? what : "this rank's own computation");
        fflush(stderr);
        /* MPI_THREAD_SERIALIZED forbids a second thread in MPI while the training thread (or the
         * buckets' progress thread) may be spinning in a collective now; Open MPI's abort only asks the
         * launcher to kill the job and exits, and does so from this thread (Open MPI 4.1,
         * tests/mpi/t_watchdog.sh). */
        abort_job();
    }
    return NULL;
}

int dpt_comm_watchdog_start(const dpt_comm *c, double seconds, dpt_err *e)
{
    if (seconds <= 0 || wd.running)
        return DPT_OK;
    wd.rank = c->rank;
    wd.seconds = seconds;
    double ns = seconds * 1e9; /* a timeout of centuries (or inf) is no timeout, and must not overflow */
    wd.ns = ns < 4e18 ? (long long)ns : 4000000000000000000LL;
    atomic_store(&wd.stop, 0);
    atomic_store(&wd.deadline_ns, 0);
    if (pthread_create(&wd.thread, NULL, watchdog_main, NULL) != 0)
        return dpt_errf(e, "training.timeout: cannot start the watchdog thread");
    wd.running = 1;
    return DPT_OK;
}

void dpt_comm_watchdog_stop(void)
{
    if (!wd.running)
        return;
    atomic_store(&wd.stop, 1);
    pthread_join(wd.thread, NULL);
    wd.running = 0;
}

void dpt_comm_watch_long(const char *phase, int64_t step, double factor)
{
    if (!wd.running)
        return;
    double ns = (double)wd.ns * factor;
    atomic_store_explicit(&wd.phase, phase, memory_order_relaxed);
    atomic_store_explicit(&wd.step, (long long)step, memory_order_relaxed);
    atomic_store_explicit(&wd.deadline_ns, now_ns() + (ns < 4e18 ? (long long)ns : 4000000000000000000LL),
                          memory_order_release);
}

void dpt_comm_watch(const char *phase, int64_t step)
{
    dpt_comm_watch_long(phase, step, 1);
}

void dpt_comm_unwatch(void)
{
    atomic_store_explicit(&wd.deadline_ns, 0, memory_order_release);
}

void dpt_comm_barrier(const dpt_comm *c)
{
    if (c->size == 1)
        return;
    waiting_for("the other ranks in MPI_Barrier");
    MPI_Barrier(group(c));
    waiting_for(NULL);
}

/* MPI counts are int: large buffers go in chunks. */
#define CHUNK ((size_t)1 << 30)

void dpt_comm_bcast(const dpt_comm *c, void *buf, size_t bytes)
{
    if (c->size == 1)
        return;
    waiting_for("the other ranks in MPI_Bcast");
    for (size_t off = 0; off < bytes; off += CHUNK) {
        size_t len = bytes - off < CHUNK ? bytes - off : CHUNK;
        MPI_Bcast((char *)buf + off, (int)len, MPI_BYTE, 0, group(c));
    }
    waiting_for(NULL);
}

void dpt_comm_allreduce_f(const dpt_comm *c, float *buf, size_t n)
{
    if (c->size == 1)
        return;
    waiting_for("the other ranks in MPI_Allreduce");
    for (size_t off = 0; off < n; off += c->max_count) {
        size_t len = n - off < c->max_count ? n - off : c->max_count;
        MPI_Allreduce(MPI_IN_PLACE, buf + off, (int)len, MPI_FLOAT, MPI_SUM, group(c));
    }
    waiting_for(NULL);
}

void dpt_comm_allreduce_d(const dpt_comm *c, double *buf, size_t n)
{
    if (c->size == 1)
        return;
    waiting_for("the other ranks in MPI_Allreduce");
    MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_DOUBLE, MPI_SUM, group(c));
    waiting_for(NULL);
}

double dpt_comm_max_d(const dpt_comm *c, double v)
{
    waiting_for("the other ranks in MPI_Allreduce");
    if (c->size > 1)
        MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_DOUBLE, MPI_MAX, group(c));
    waiting_for(NULL);
    return v;
}

int dpt_comm_same(const dpt_comm *c, const double *v, int n)
{
    if (c->size == 1)
        return 1;
    double lo[16], hi[16];
    for (int i = 0; i < n && i < 16; i++)
        lo[i] = -v[i], hi[i] = v[i];
    waiting_for("the other ranks in MPI_Allreduce");
    MPI_Allreduce(MPI_IN_PLACE, lo, n < 16 ? n : 16, MPI_DOUBLE, MPI_MAX, group(c));
    MPI_Allreduce(MPI_IN_PLACE, hi, n < 16 ? n : 16, MPI_DOUBLE, MPI_MAX, group(c));
    waiting_for(NULL);
    for (int i = 0; i < n && i < 16; i++)
        if (-lo[i] != hi[i])
            return 0;
    return 1;
}

void dpt_comm_allgather_u64(const dpt_comm *c, const uint64_t *v, int n, uint64_t *all)
{
    if (c->size == 1)
        memcpy(all, v, sizeof(uint64_t) * (size_t)n);
    else
        MPI_Allgather(v, n, MPI_UINT64_T, all, n, MPI_UINT64_T, group(c));
}

int dpt_comm_any(const dpt_comm *c, int flag)
{
    int any = flag != 0;
    waiting_for("the other ranks in MPI_Allreduce");
    if (c->size > 1)
        MPI_Allreduce(MPI_IN_PLACE, &any, 1, MPI_INT, MPI_LOR, group(c));
    waiting_for(NULL);
    return any;
}

int dpt_comm_agree(const dpt_comm *c, int status, dpt_err *e)
{
    int failed = status != DPT_OK;
    waiting_for("the other ranks in MPI_Allreduce");
    if (c->size > 1)
        MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_SUM, group(c));
    waiting_for(NULL);
    if (!failed)
        return DPT_OK;
    /* When every rank met the error (a file missing everywhere), rank 0 speaks for all. */
    if (status != DPT_OK && (failed < c->size || c->rank == 0)) {
        fprintf(stderr, "dptrain: rank %d: %s\n", c->rank, e->msg);
        fflush(stderr);
    }
    if (status == DPT_OK)
        snprintf(e->msg, sizeof e->msg, "another rank failed");
    e->reported = 1;
    return DPT_FAIL;
}

_Noreturn void dpt_comm_abort(const dpt_comm *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dptrain: rank %d: ", c ? c->rank : 0);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    va_end(ap);
    abort_job();
}

double dpt_comm_common_start(const dpt_comm *c)
{
    /* Cristian's algorithm: rank r asks rank 0 for its time; the answer is best trusted from the
     * round trip that took least time, and assumed read halfway through it. */
    enum { ROUNDS = 16 };
    double offset = 0, best = HUGE_VAL;
    for (int r = 1; r < c->size; r++)
        for (int k = 0; k < ROUNDS; k++) {
            if (c->rank == 0) {
                double now;
                MPI_Recv(NULL, 0, MPI_BYTE, r, 8, group(c), MPI_STATUS_IGNORE);
                now = dpt_comm_time();
                MPI_Send(&now, 1, MPI_DOUBLE, r, 8, group(c));
            } else if (c->rank == r) {
                double sent = dpt_comm_time(), theirs;
                MPI_Send(NULL, 0, MPI_BYTE, 0, 8, group(c));
                MPI_Recv(&theirs, 1, MPI_DOUBLE, 0, 8, group(c), MPI_STATUS_IGNORE);
                double back = dpt_comm_time();
                if (back - sent < best) {
                    best = back - sent;
                    offset = theirs - (sent + back) / 2; /* rank 0's clock minus ours */
                }
            }
        }
    double origin = dpt_comm_time(); /* rank 0's start, in rank 0's clock */
    if (c->size > 1)
        MPI_Bcast(&origin, 1, MPI_DOUBLE, 0, group(c));
    return origin - offset;
}

/* Rank 0's verdict, shared: whether it could allocate what comes next. */
static int root_ok(const dpt_comm *c, int ok)
{
    if (c->size > 1)
        MPI_Bcast(&ok, 1, MPI_INT, 0, group(c));
    return ok;
}

char *dpt_comm_gather_bytes(const dpt_comm *c, const void *buf, size_t n, size_t **lens)
{
    /* Sizes first (as 64-bit, above MPI's int counts), then the bytes rank by rank: a trace or a
     * record is small, so point-to-point messages in chunks keep every count an int. */
    uint64_t mine = n, *all = NULL;
    char *out = NULL;
    *lens = NULL;
    if (c->rank == 0) {
        all = malloc(sizeof(uint64_t) * (size_t)c->size);
        *lens = malloc(sizeof(size_t) * (size_t)c->size);
    }
    if (!root_ok(c, c->rank != 0 || (all && *lens)))
        goto fail;
    MPI_Gather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, group(c));
    if (c->rank == 0) {
        size_t total = 0;
        for (int r = 0; r < c->size; r++)
            total += (*lens)[r] = (size_t)all[r];
        out = malloc(total ? total : 1);
    }
    if (!root_ok(c, c->rank != 0 || out))
        goto fail;
    if (c->rank == 0) {
        size_t at = 0;
        memcpy(out, buf, n);
        for (int r = 0; r < c->size; at += (*lens)[r], r++)
            for (size_t off = r ? 0 : (*lens)[0]; off < (*lens)[r]; off += CHUNK) {
                size_t len = (*lens)[r] - off < CHUNK ? (*lens)[r] - off : CHUNK;
                MPI_Recv(out + at + off, (int)len, MPI_BYTE, r, 7, group(c), MPI_STATUS_IGNORE);
            }
    } else {
        for (size_t off = 0; off < n; off += CHUNK) {
            size_t len = n - off < CHUNK ? n - off : CHUNK;
            MPI_Send((const char *)buf + off, (int)len, MPI_BYTE, 0, 7, group(c));
        }
    }
    free(all);
    return out;
fail:
    free(all);
    free(*lens);
    *lens = NULL;
    return NULL;
}

void dpt_comm_hostname(char *buf, size_t size)
{
    char name[MPI_MAX_PROCESSOR_NAME];
    int len = 0;
    MPI_Get_processor_name(name, &len);
    snprintf(buf, size, "%.*s", len, name);
}

int dpt_comm_cores_per_rank(const dpt_comm *c)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN) / c->local_size;
    return n > 1 ? (int)n : 1;
}

double dpt_comm_time(void)
{
    /* Not MPI_Wtime: the update's pool threads time trace spans, and under MPI_THREAD_SERIALIZED
     * no two threads may be in MPI at once. The monotonic clock serves as well for intervals. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void dpt_comm_library(char *buf, size_t size)
{
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len;
    MPI_Get_library_version(version, &len);
    for (int i = 0; i < len; i++)
        if (version[i] == '\n' || version[i] == ',')
            version[i] = '\0';
    snprintf(buf, size, "%s", version);
}

/* Buckets cover buf from its end backwards, because backward produces the
 * last layer's gradients (stored last) first. */
/* The buckets' allreduces run on a thread of their own, so that they move while backward computes
 * (as Horovod's background thread and DDP's reducer do): Open MPI moves TCP data only inside MPI
 * calls, and backward makes none. Each bucket is dptrain's ring allreduce over point-to-point
 * messages that the thread tests every POLL_NS and sleeps between: a blocking MPI call would spin
 * on a core that backward needs, and Open MPI's MPI_Iallreduce measured twice as slow as the
 * blocking ring across nodes. From the first ready bucket of a step to the end of
 * dpt_bucketed_finish this thread alone calls MPI, so MPI_THREAD_SERIALIZED suffices. */
enum { POLL_NS = 50000 }; /* between two tests: the sockets' buffers keep the link busy meanwhile */

struct dpt_bucketed {
    const dpt_comm *c;
    float *buf, *scratch;
    uint16_t *wire, *in; /* bf16: a bucket's rounded sums, one shard's incoming partial sums */
    size_t n, bucket;    /* floats in buf and per bucket (0: one blocking call) */
    int nb, bf16;        /* buckets; whether they travel in bfloat16 */
    pthread_t thread;
    int has_thread;
    pthread_mutex_t lock;
    pthread_cond_t wake, done_cond;
    size_t ready_from;   /* buf[ready_from..n) is final (under lock) */
    int reduced;         /* buckets of this step summed (under lock) */
    int finishing, done, stop; /* all ready; all summed; the thread is to end (under lock) */
};

static void bucket_bounds(const dpt_bucketed *b, int k, size_t *lo, size_t *hi)
{
    *hi = b->n - (size_t)k * b->bucket;
    *lo = *hi > b->bucket ? *hi - b->bucket : 0;
}

/* MPICH defines MPI_STATUSES_IGNORE as the address 1, which GCC's access checks take for an empty
 * array of statuses (a false -Wstringop-overflow); the standard's value is meant to be passed. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wstringop-overflow"

/* Sends n bytes of out to dst while receiving m into in from src. Each message goes in pieces of
 * at most 4 * c->max_count bytes (MPI counts are int), cut by its own length alone (at least one
 * piece, empty for an empty message), so its sender and receiver post as many pieces whatever
 * else either exchanges. polite: the requests are tested and the thread sleeps between, leaving
 * the core to backward while the bytes travel (the progress thread); else they are waited for. */
static void exchange_bytes(const dpt_comm *c, const char *out, size_t n, int dst, char *in, size_t m, int src,
                           int tag, int polite)
{
    const struct timespec poll = {0, POLL_NS};
    size_t piece = 4 * c->max_count, so = 0, ro = 0;
    for (int first = 1; first || so < n || ro < m; first = 0) {
        size_t sn = n - so < piece ? n - so : piece, rn = m - ro < piece ? m - ro : piece;
        MPI_Request req[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
        if (first || ro < m)
            MPI_Irecv(in + (rn ? ro : 0), (int)rn, MPI_BYTE, src, tag, group(c), &req[0]);
        if (first || so < n)
            MPI_Isend(out + (sn ? so : 0), (int)sn, MPI_BYTE, dst, tag, group(c), &req[1]);
        if (!polite)
            MPI_Waitall(2, req, MPI_STATUSES_IGNORE);
        for (int all = !polite; !all;) {
            MPI_Testall(2, req, &all, MPI_STATUSES_IGNORE);
            if (!all)
                nanosleep(&poll, NULL);
        }
        so += sn, ro += rn;
    }
}

#pragma GCC diagnostic pop

/* The exchange of the progress thread: exchange_bytes, polite. */
static void polite_exchange(void *ctx, const void *out, size_t n, int dst, void *in, size_t m, int src, int tag)
{
    exchange_bytes(ctx, out, n, dst, in, m, src, tag, 1);
}

/* Sums buf [n] over the ranks through peers p, in floats or in bfloat16. */
static void ring_allreduce(dpt_bucketed *b, const dpt_peers *p, float *buf, size_t n)
{
    if (b->bf16)
        dpt_ring_allreduce_bf16(p, buf, b->wire, b->in, n);
    else
        dpt_ring_allreduce(p, buf, b->scratch, n);
}

/* Sums bucket k over the ranks, the lock released. */
static void reduce_bucket(dpt_bucketed *b, int k)
{
    size_t lo, hi;
    bucket_bounds(b, k, &lo, &hi);
    dpt_peers p = {.rank = b->c->rank, .size = b->c->size, .exchange = polite_exchange, .ctx = (void *)b->c};
    waiting_for("the other ranks in the bucketed gradient allreduce");
    ring_allreduce(b, &p, b->buf + lo, hi - lo);
    waiting_for(NULL);
}

/* Whether the next bucket to sum is final (under lock). */
static int next_ready(const dpt_bucketed *b)
{
    size_t lo, hi;
    if (b->reduced == b->nb)
        return 0;
    bucket_bounds(b, b->reduced, &lo, &hi);
    return lo >= b->ready_from;
}

static void *progress_main(void *arg)
{
    dpt_bucketed *b = arg;
    pthread_mutex_lock(&b->lock);
    while (!b->stop) {
        if (next_ready(b)) {
            int k = b->reduced;
            pthread_mutex_unlock(&b->lock);
            reduce_bucket(b, k);
            pthread_mutex_lock(&b->lock);
            b->reduced++;
        } else if (b->finishing && b->reduced == b->nb) {
            b->finishing = 0;
            b->done = 1;
            pthread_cond_signal(&b->done_cond);
        } else {
            pthread_cond_wait(&b->wake, &b->lock);
        }
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

dpt_bucketed *dpt_bucketed_new(const dpt_comm *c, float *buf, size_t n, size_t bucket_bytes, int bf16)
{
    dpt_bucketed *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->c = c;
    b->buf = buf;
    b->n = n;
    b->bf16 = bf16 && c->size > 1;
    b->bucket = bucket_bytes / sizeof(float);
    b->nb = b->bucket ? (int)((n + b->bucket - 1) / b->bucket) : 0;
    b->ready_from = n;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->wake, NULL);
    pthread_cond_init(&b->done_cond, NULL);
    int level;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_SERIALIZED || c->size == 1) /* no thread may call MPI, or none needs to */
        b->nb = 0;
    /* fp32 without a thread is one MPI_Allreduce: only the rings need buffers */
    size_t most = b->nb ? b->bucket : n, shard = most / (size_t)c->size + 1;
    int buffers = b->bf16 ? (b->wire = malloc(sizeof(uint16_t) * (most + 1))) && (b->in = malloc(sizeof(uint16_t) * shard))
                          : !b->nb || (b->scratch = malloc(sizeof(float) * shard)) != NULL;
    if (buffers && b->nb)
        b->has_thread = pthread_create(&b->thread, NULL, progress_main, b) == 0;
    if (!buffers || (b->nb && !b->has_thread)) {
        dpt_bucketed_free(b);
        return NULL;
    }
    return b;
}

void dpt_bucketed_free(dpt_bucketed *b)
{
    if (!b)
        return;
    if (b->has_thread) {
        pthread_mutex_lock(&b->lock);
        b->stop = 1;
        pthread_cond_signal(&b->wake);
        pthread_mutex_unlock(&b->lock);
        pthread_join(b->thread, NULL);
    }
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->wake);
    pthread_cond_destroy(&b->done_cond);
    free(b->scratch);
    free(b->wire);
    free(b->in);
    free(b);
}

void dpt_bucketed_ready(dpt_bucketed *b, size_t off, size_t len)
{
    if (!b->has_thread)
        return;
    pthread_mutex_lock(&b->lock);
    /* Layers finish in reverse order, so a run ending at ready_from extends the final suffix. */
    if (off + len == b->ready_from) {
        b->ready_from = off;
        pthread_cond_signal(&b->wake);
    }
    pthread_mutex_unlock(&b->lock);
}

void dpt_bucketed_finish(dpt_bucketed *b)
{
    if (!b->has_thread) { /* one call over the whole buffer, blocking */
        dpt_peers p = dpt_comm_peers(b->c);
        if (b->bf16)
            ring_allreduce(b, &p, b->buf, b->n);
        else
            dpt_comm_allreduce_f(b->c, b->buf, b->n);
        return;
    }
    pthread_mutex_lock(&b->lock);
    b->ready_from = 0;
    b->finishing = 1;
    pthread_cond_signal(&b->wake);
    while (!b->done)
        pthread_cond_wait(&b->done_cond, &b->lock);
    b->done = 0;
    b->reduced = 0;
    b->ready_from = b->n;
    pthread_mutex_unlock(&b->lock);
}

void dpt_comm_shard(const dpt_comm *c, size_t n, int rank, size_t *lo, size_t *hi)
{
    dpt_shard_range(n, c->size, rank, lo, hi);
}

/* The exchange of src/collective.c's algorithms: blocking, in pieces, watched. */
static void mpi_exchange(void *ctx, const void *out, size_t n, int dst, void *in, size_t m, int src, int tag)
{
    waiting_for("another rank in MPI_Sendrecv (ring or deterministic tree)");
    exchange_bytes(ctx, out, n, dst, in, m, src, tag, 0);
    waiting_for(NULL);
}

dpt_peers dpt_comm_peers(const dpt_comm *c)
{
    return (dpt_peers){.rank = c->rank, .size = c->size, .exchange = mpi_exchange, .ctx = (void *)c};
}

void dpt_comm_reduce_scatter_f(const dpt_comm *c, float *buf, float *scratch, size_t n)
{
    dpt_peers p = dpt_comm_peers(c);
    dpt_ring_reduce_scatter(&p, buf, scratch, n);
}

void dpt_comm_tree_sum_f(const dpt_comm *c, float *buf, float *scratch, size_t n)
{
    dpt_peers p = dpt_comm_peers(c);
    dpt_tree_sum(&p, buf, scratch, n);
}

struct dpt_gather {
    const dpt_comm *c;
    size_t *lo, *len;      /* [size] each rank's shard */
    int *counts, *displs;  /* [size] the same as ints, for one MPI_Allgatherv */
    int one_call;          /* every count and offset fits in one call */
};

dpt_gather *dpt_gather_new(const dpt_comm *c, size_t n, size_t align)
{
    size_t q = (size_t)c->size;
    dpt_gather *g = calloc(1, sizeof *g);
    if (!g || !(g->lo = malloc(sizeof(size_t) * q)) || !(g->len = malloc(sizeof(size_t) * q)) ||
        !(g->counts = malloc(sizeof(int) * q)) || !(g->displs = malloc(sizeof(int) * q))) {
        dpt_gather_free(g);
        return NULL;
    }
    g->c = c;
    g->one_call = n <= c->max_count;
    for (int r = 0; r < c->size; r++) {
        size_t lo, hi;
        if (align)
            dpt_comm_tree_shard(c, n, align, r, &lo, &hi);
        else
            dpt_comm_shard(c, n, r, &lo, &hi);
        g->lo[r] = lo;
        g->len[r] = hi - lo;
        g->counts[r] = g->one_call ? (int)(hi - lo) : 0;
        g->displs[r] = g->one_call ? (int)lo : 0;
    }
    return g;
}

void dpt_gather_run(const dpt_gather *g, float *buf)
{
    const dpt_comm *c = g->c;
    if (c->size == 1)
        return;
    waiting_for("the other ranks in MPI_Allgatherv");
    if (g->one_call) {
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, g->counts, g->displs, MPI_FLOAT, group(c));
    } else { /* offsets past an int's reach: each shard broadcast from its owner, in pieces */
        for (int r = 0; r < c->size; r++)
            for (size_t off = 0; off < g->len[r]; off += c->max_count) {
                size_t len = g->len[r] - off < c->max_count ? g->len[r] - off : c->max_count;
                MPI_Bcast(buf + g->lo[r] + off, (int)len, MPI_FLOAT, r, group(c));
            }
    }
    waiting_for(NULL);
}

void dpt_gather_free(dpt_gather *g)
{
    if (!g)
        return;
    free(g->lo);
    free(g->len);
    free(g->counts);
    free(g->displs);
    free(g);
}

void dpt_comm_tree_shard(const dpt_comm *c, size_t n, size_t align, int rank, size_t *lo, size_t *hi)
{
    dpt_tree_range(n, align, c->size, rank, lo, hi);
}

void dpt_comm_tree_reduce_scatter_f(const dpt_comm *c, float *buf, float *scratch, size_t n, size_t align)
{
    dpt_peers p = dpt_comm_peers(c);
    dpt_tree_reduce_scatter(&p, buf, scratch, n, align);
}

/* ---------------------------------------------------------------- node-shared memory */

struct dpt_shared {
    MPI_Win win;
    MPI_Comm node;
    float **region; /* [size] */
};

dpt_shared *dpt_shared_new(const dpt_comm *c, size_t n)
{
    if (c->size != c->local_size) /* the same answer on every rank */
        return NULL;
    size_t bytes = (n * sizeof(float) + 4095) / 4096 * 4096;
    dpt_shared *s = calloc(1, sizeof *s);
    float *mine = NULL;
    /* Open MPI backs the window with a file in /dev/shm (or the osc_sm_backing_directory MCA
     * setting), and it cannot fall back by itself: when the file does not fit, one rank fails
     * while the others wait inside the call. So look first, and agree, before any window call. */
    const char *dir = getenv("OMPI_MCA_osc_sm_backing_directory");
    struct statvfs fs;
    double need = (double)bytes * c->local_size * 1.125;
    int small = statvfs(dir && *dir ? dir : "/dev/shm", &fs) == 0 &&
                (double)fs.f_bavail * (double)fs.f_frsize < need;
    int failed = small || !s || !(s->region = calloc((size_t)c->size, sizeof(float *)));
    if (dpt_comm_any(c, failed)) {
        if (s)
            free(s->region);
        free(s);
        return NULL;
    }
    MPI_Comm_split_type(group(c), MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &s->node);
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true"); /* each region on its own pages */
    /* Errors here abort the job (the default handler): a rank cannot leave the others waiting. */
    MPI_Win_allocate_shared((MPI_Aint)(bytes ? bytes : 4096), sizeof(float), info, s->node, &mine, &s->win);
    MPI_Info_free(&info);
    for (int q = 0; q < c->size; q++) {
        MPI_Aint size;
        int unit;
        MPI_Win_shared_query(s->win, q, &size, &unit, &s->region[q]);
    }
    memset(mine, 0, n * sizeof(float));
    /* One passive epoch for the window's life; dpt_shared_sync orders loads and stores. */
    MPI_Win_lock_all(MPI_MODE_NOCHECK, s->win);
    dpt_shared_sync(s);
    return s;
}

float *dpt_shared_region(const dpt_shared *s, int rank)
{
    return s->region[rank];
}

void dpt_shared_sync(const dpt_shared *s)
{
    waiting_for("the other ranks in the node-shared barrier");
    MPI_Win_sync(s->win);
    MPI_Barrier(s->node);
    MPI_Win_sync(s->win);
    waiting_for(NULL);
}

void dpt_shared_free(dpt_shared *s)
{
    if (!s)
        return;
    MPI_Win_unlock_all(s->win);
    MPI_Win_free(&s->win);
    MPI_Comm_free(&s->node);
    free(s->region);
    free(s);
}

/* ---- a shared counter ------------------------------------------------------ */

struct dpt_counter {
    MPI_Win win;
    int64_t *value;            /* rank 0's: the next number */
    _Atomic int64_t *shared;   /* rank 0's value, in this process's address space */
};

dpt_counter *dpt_counter_new(const dpt_comm *c)
{
    /* Across nodes the counter would be passive-target RMA on rank 0, which some libraries
     * (MPICH) progress only when rank 0 enters MPI: a one-rank trial on rank 0 makes no MPI call
     * for hours, and the other groups would wait that long for their next trial. nodes is the
     * same on every rank, so all return NULL together and the study deals round-robin. */
    if (c->nodes > 1)
        return NULL;
    dpt_counter *k = calloc(1, sizeof *k);
    if (dpt_comm_any(c, !k)) {
        free(k);
        return NULL;
    }
    /* On one node the ranks add to shared memory atomically. Errors here abort the job (the
     * default handler): no rank is left waiting. */
    MPI_Aint size = c->rank == 0 ? (MPI_Aint)sizeof(int64_t) : 0, got;
    int unit;
    MPI_Win_allocate_shared(size, sizeof(int64_t), MPI_INFO_NULL, group(c), &k->value, &k->win);
    MPI_Win_shared_query(k->win, 0, &got, &unit, &k->shared);
    if (c->rank == 0)
        atomic_store(k->shared, 0);
    MPI_Barrier(group(c));
    return k;
}

int64_t dpt_counter_next(dpt_counter *k)
{
    return atomic_fetch_add(k->shared, 1);
}

void dpt_counter_free(dpt_counter *k)
{
    if (!k)
        return;
    MPI_Win_free(&k->win);
    free(k);
}
