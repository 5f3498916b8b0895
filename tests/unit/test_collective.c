/* The arithmetic of the ring reduce-scatter and the deterministic tree, in one process: each
 * "rank" a thread, exchanging through a fake transport (a mailbox per rank). Checks which rank
 * adds what in which order, bit for bit, against sums written out here: the ring's shard r is
 * x_r + (x_{r-1} + (... + x_{r+1})); the tree's is the pairwise sum over ranks by their bits, the
 * same bits on every rank and in both the full tree sum and the tree reduce-scatter. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/collective.h"
#include "dptrain/rng.h"

#include "support.h"

enum { MAX_RANKS = 8 };

/* A message in flight: its sender, tag and a copy of its bytes. */
typedef struct message {
    int from, tag;
    size_t n;
    char *data;
    struct message *next;
} message;

/* The fake network: one mailbox per rank under one lock. */
typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t arrived;
    message *box[MAX_RANKS];
} network;

typedef struct {
    network *net;
    int rank;
} endpoint;

static void post(network *net, int to, int from, int tag, const void *data, size_t n)
{
    message *m = malloc(sizeof *m);
    ck_assert_ptr_nonnull(m);
    m->data = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(m->data);
    memcpy(m->data, data, n);
    *m = (message){from, tag, n, m->data, NULL};
    pthread_mutex_lock(&net->lock);
    message **end = &net->box[to];
    while (*end)
        end = &(*end)->next;
    *end = m;
    pthread_cond_broadcast(&net->arrived);
    pthread_mutex_unlock(&net->lock);
}

/* Takes the first message from `from` with `tag` out of rank's box, waiting for it. */
static message *take(network *net, int rank, int from, int tag)
{
    pthread_mutex_lock(&net->lock);
    for (;;) {
        for (message **m = &net->box[rank]; *m; m = &(*m)->next)
            if ((*m)->from == from && (*m)->tag == tag) {
                message *got = *m;
                *m = got->next;
                pthread_mutex_unlock(&net->lock);
                return got;
            }
        pthread_cond_wait(&net->arrived, &net->lock);
    }
}

static void fake_exchange(void *ctx, const void *out, size_t n, int dst, void *in, size_t m, int src, int tag)
{
    endpoint *ep = ctx;
    post(ep->net, dst, ep->rank, tag, out, n);
    message *got = take(ep->net, ep->rank, src, tag);
    ck_assert_uint_eq(got->n, m); /* both sides agree on every length */
    memcpy(in, got->data, m);
    free(got->data);
    free(got);
}

enum { RING, TREE_SUM, TREE_SCATTER, RING_BF16, GATHER_U16, RING_ALLREDUCE, RING_ALLREDUCE_BF16 };

typedef struct {
    endpoint ep;
    int size, what;
    size_t n, align;
    float *buf, *scratch;
    uint16_t *h, *h2;  /* 16-bit buffers: the wire's (RING_BF16), the gathered values (GATHER_U16) */
} job;

static void *rank_main(void *arg)
{
    job *j = arg;
    dpt_peers p = {.rank = j->ep.rank, .size = j->size, .exchange = fake_exchange, .ctx = &j->ep};
    if (j->what == RING)
        dpt_ring_reduce_scatter(&p, j->buf, j->scratch, j->n);
    else if (j->what == RING_BF16)
        dpt_ring_reduce_scatter_bf16(&p, j->buf, j->h, j->h2, j->n);
    else if (j->what == GATHER_U16)
        dpt_ring_allgather(&p, j->h, j->n, sizeof *j->h);
    else if (j->what == RING_ALLREDUCE)
        dpt_ring_allreduce(&p, j->buf, j->scratch, j->n);
    else if (j->what == RING_ALLREDUCE_BF16)
        dpt_ring_allreduce_bf16(&p, j->buf, j->h, j->h2, j->n);
    else if (j->what == TREE_SUM)
        dpt_tree_sum(&p, j->buf, j->scratch, j->n);
    else
        dpt_tree_reduce_scatter(&p, j->buf, j->scratch, j->n, j->align);
    return NULL;
}

/* x[r][i]: values of every magnitude, so that the order of additions shows in the bits. */
static float value(int r, size_t i)
{
    double u = dpt_rng_uniform(7, (uint64_t)r, i);
    return (float)((u - 0.5) * (1 << (int)(i % 17)));
}

/* Runs `what` on size threads over n floats each; out[r] is rank r's buffer afterwards. */
static void run(int what, int size, size_t n, size_t align, float *out[MAX_RANKS])
{
    network net = {.lock = PTHREAD_MUTEX_INITIALIZER, .arrived = PTHREAD_COND_INITIALIZER};
    job jobs[MAX_RANKS];
    pthread_t th[MAX_RANKS];
    for (int r = 0; r < size; r++) {
        jobs[r] = (job){{&net, r}, size, what, n, align, malloc(sizeof(float) * (n + 1)),
                        malloc(sizeof(float) * (n + 1)), malloc(sizeof(uint16_t) * (n + 1)),
                        malloc(sizeof(uint16_t) * (n + 1))};
        ck_assert(jobs[r].buf && jobs[r].scratch && jobs[r].h && jobs[r].h2);
        for (size_t i = 0; i < n; i++) {
            jobs[r].buf[i] = value(r, i);
            jobs[r].h[i] = 0;
        }
        size_t lo, hi; /* GATHER_U16: each rank starts with its own shard only */
        dpt_shard_range(n, size, r, &lo, &hi);
        for (size_t i = lo; i < hi; i++)
            jobs[r].h[i] = dpt_bf16_from(value(r, i));
        ck_assert_int_eq(pthread_create(&th[r], NULL, rank_main, &jobs[r]), 0);
    }
    for (int r = 0; r < size; r++) {
        pthread_join(th[r], NULL);
        free(jobs[r].scratch);
        if (what == GATHER_U16)
            for (size_t i = 0; i < n; i++)
                jobs[r].buf[i] = dpt_bf16_to(jobs[r].h[i]);
        free(jobs[r].h);
        free(jobs[r].h2);
        out[r] = jobs[r].buf;
    }
    for (int r = 0; r < MAX_RANKS; r++)
        ck_assert_ptr_null(net.box[r]); /* no message left unread */
}

/* The tree's sum of element i over ranks [lo, lo + count): left and right halves by rank index,
 * as recursive doubling pairs rank r with r ^ 1, then pairs of pairs. */
static float tree_ref(int lo, int count, size_t i)
{
    if (count == 1)
        return value(lo, i);
    return tree_ref(lo, count / 2, i) + tree_ref(lo + count / 2, count / 2, i);
}

/* The ring's shard r of element i: x_r + (x_{r-1} + (... + x_{r+1})), each partial sum rounded
 * to bfloat16 on its way when rounded. */
static float ring_ref(int r, int size, size_t i, int rounded)
{
    float acc = value((r + 1) % size, i);
    for (int j = 2; j <= size; j++)
        acc = value((r + j) % size, i) + (rounded ? dpt_bf16_to(dpt_bf16_from(acc)) : acc);
    return acc;
}

/* The ring reduce-scatter, in floats or with 16 bits on the wire, against ring_ref. */
static void check_ring(int what)
{
    const size_t sizes[] = {0, 1, 5, 64, 1001};
    for (int size = 1; size <= 5; size++)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t n = sizes[k];
            float *out[MAX_RANKS];
            run(what, size, n, 1, out);
            for (int r = 0; r < size; r++) {
                size_t lo, hi;
                dpt_shard_range(n, size, r, &lo, &hi);
                for (size_t i = lo; i < hi; i++)
                    ck_assert_msg(out[r][i] == ring_ref(r, size, i, what == RING_BF16),
                                  "%s ring: %d ranks, n %zu, rank %d, element %zu", what == RING_BF16 ? "bf16" : "fp32",
                                  size, n, r, i);
                free(out[r]);
            }
        }
}

START_TEST(test_ring_order)
{
    check_ring(RING);
}
END_TEST

START_TEST(test_tree_same_bits_everywhere)
{
    const size_t sizes[] = {0, 3, 1024, 5000};
    for (int size = 1; size <= MAX_RANKS; size *= 2)
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            size_t n = sizes[k];
            float *sum[MAX_RANKS], *part[MAX_RANKS];
            run(TREE_SUM, size, n, 1, sum);
            run(TREE_SCATTER, size, n, 256, part);
            for (int r = 0; r < size; r++) {
                size_t lo, hi;
                dpt_tree_range(n, 256, size, r, &lo, &hi);
                for (size_t i = 0; i < n; i++)
                    ck_assert_msg(sum[r][i] == tree_ref(0, size, i), "tree sum: %d ranks, rank %d, element %zu",
                                  size, r, i);
                for (size_t i = lo; i < hi; i++)
                    ck_assert_msg(part[r][i] == sum[r][i], "tree scatter: %d ranks, rank %d, element %zu", size, r,
                                  i);
                free(sum[r]);
                free(part[r]);
            }
        }
}
END_TEST

/* With 16 bits on the wire the ring adds in floats what it receives rounded. */
START_TEST(test_ring_bf16_order)
{
    check_ring(RING_BF16);
}
END_TEST

/* The 16-bit all-gather leaves every rank every rank's shard. */
START_TEST(test_allgather_u16)
{
    for (int size = 1; size <= 5; size++) {
        size_t n = 1001;
        float *out[MAX_RANKS];
        run(GATHER_U16, size, n, 1, out);
        for (int q = 0; q < size; q++) {
            size_t lo, hi;
            dpt_shard_range(n, size, q, &lo, &hi);
            for (int r = 0; r < size; r++)
                for (size_t i = lo; i < hi; i++)
                    ck_assert_msg(out[r][i] == dpt_bf16_to(dpt_bf16_from(value(q, i))),
                                  "gather: %d ranks, rank %d, element %zu", size, r, i);
        }
        for (int r = 0; r < size; r++)
            free(out[r]);
    }
}
END_TEST

/* The ring allreduce leaves on every rank the bits the ring's owner formed for each shard, in
 * floats, or with 16 bits on the wire rounded once more for the all-gather. */
static void check_allreduce(int what)
{
    int bf16 = what == RING_ALLREDUCE_BF16;
    for (int size = 1; size <= 5; size++) {
        size_t n = 1001;
        float *out[MAX_RANKS];
        run(what, size, n, 1, out);
        for (int q = 0; q < size; q++) {
            size_t lo, hi;
            dpt_shard_range(n, size, q, &lo, &hi);
            for (int r = 0; r < size; r++)
                for (size_t i = lo; i < hi; i++)
                    ck_assert_msg(out[r][i] == (bf16 ? dpt_bf16_to(dpt_bf16_from(ring_ref(q, size, i, 1)))
                                                      : ring_ref(q, size, i, 0)),
                                  "%s allreduce: %d ranks, rank %d, element %zu", bf16 ? "bf16" : "fp32", size, r, i);
        }
        for (int r = 0; r < size; r++)
            free(out[r]);
    }
}

START_TEST(test_ring_allreduce)
{
    check_allreduce(RING_ALLREDUCE);
    check_allreduce(RING_ALLREDUCE_BF16);
}
END_TEST

/* Round to nearest even, exact widening, NaN kept. */
START_TEST(test_bf16_rounding)
{
    ck_assert(dpt_bf16_to(dpt_bf16_from(1.0f)) == 1.0f);
    ck_assert(dpt_bf16_to(dpt_bf16_from(-2.5f)) == -2.5f);
    ck_assert(dpt_bf16_to(dpt_bf16_from(1.0f + 1.0f / 256)) == 1.0f);             /* a tie: to even */
    ck_assert(dpt_bf16_to(dpt_bf16_from(1.0f + 3.0f / 256)) == 1.0f + 4.0f / 256); /* a tie: to even, up */
    ck_assert(dpt_bf16_to(dpt_bf16_from(1.0f + 1.5f / 256)) == 1.0f + 2.0f / 256);
    ck_assert(dpt_bf16_to(dpt_bf16_from(0.1f)) == 0.10009765625f);
    float nan = dpt_bf16_to(dpt_bf16_from(__builtin_nanf("")));
    ck_assert(nan != nan);
}
END_TEST

/* Shards cover [0, n) once, in rank order: even ones within one element, tree ones cut at
 * multiples of align. */
START_TEST(test_ranges_cover)
{
    const size_t sizes[] = {0, 1, 7, 1000, 4097};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        for (int size = 1; size <= MAX_RANKS; size++) {
            size_t next = 0, lo, hi, small = n, big = 0;
            for (int r = 0; r < size; r++) {
                dpt_shard_range(n, size, r, &lo, &hi);
                ck_assert_uint_eq(lo, next);
                next = hi;
                small = hi - lo < small ? hi - lo : small;
                big = hi - lo > big ? hi - lo : big;
            }
            ck_assert_uint_eq(next, n);
            ck_assert_uint_le(big - small, 1);
        }
        for (int size = 1; size <= MAX_RANKS; size *= 2) {
            size_t covered = 0, lo, hi;
            for (int r = 0; r < size; r++) {
                dpt_tree_range(n, 16, size, r, &lo, &hi);
                ck_assert(lo % 16 == 0 || lo == n);
                covered += hi - lo;
            }
            ck_assert_uint_eq(covered, n);
        }
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("collective");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_ring_order);
    tcase_add_test(tc, test_tree_same_bits_everywhere);
    tcase_add_test(tc, test_ranges_cover);
    tcase_add_test(tc, test_ring_bf16_order);
    tcase_add_test(tc, test_allgather_u16);
    tcase_add_test(tc, test_ring_allreduce);
    tcase_add_test(tc, test_bf16_rounding);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
