/* The distributed sampler, simulated in one process for many rank counts:
 * a global batch holds the same samples whatever the number of ranks, the
 * slices tile it exactly, and the order depends on (seed, epoch) only. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/rng.h"
#include "dptrain/sampler.h"

#include "support.h"

/* Every (n, batch, ranks, parts) combination: slices are contiguous, tile each batch once, differ by <= 1. */
START_TEST(test_slices_tile_batches)
{
    size_t ns[] = {1, 7, 100, 101};
    size_t batches[] = {0, 1, 3, 10, 32};
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 5; b++)
            for (int drop = 0; drop < 2; drop++) {
                dpt_sampler s;
                ck_assert_int_eq(dpt_sampler_init(&s, NULL, ns[a], batches[b], 1, drop, 1, NULL), DPT_OK);
                dpt_sampler_set_epoch(&s, 0);
                size_t nb = dpt_sampler_nbatches(&s), covered = 0;
                for (size_t i = 0; i < nb; i++)
                    for (int size = 1; size <= 8; size++)
                        for (int parts = 1; parts <= 3; parts++) {
                            size_t next = i * s.batch, sum = 0;
                            for (int p = 0; p < parts; p++)
                                for (int r = 0; r < size; r++) {
                                    size_t begin, count, total;
                                    dpt_sampler_slice(&s, i, p, parts, r, size, &begin, &count, &total);
                                    ck_assert_uint_eq(begin, next);
                                    next += count;
                                    sum += count;
                                    ck_assert(count <= total / (size_t)size + 1);
                                }
                            size_t expect = ns[a] - i * s.batch < s.batch ? ns[a] - i * s.batch : s.batch;
                            ck_assert_uint_eq(sum, expect);
                            if (size == 1 && parts == 1)
                                covered += sum;
                        }
                ck_assert_uint_eq(covered, drop ? nb * s.batch : ns[a]);
                dpt_sampler_free(&s);
            }
}
END_TEST

START_TEST(test_order_is_a_permutation_of_the_pool)
{
    size_t pool[50];
    for (size_t i = 0; i < 50; i++)
        pool[i] = 1000 + 3 * i;
    dpt_sampler s;
    ck_assert_int_eq(dpt_sampler_init(&s, pool, 50, 8, 1, 0, 42, NULL), DPT_OK);
    dpt_sampler_set_epoch(&s, 3);
    int seen[50] = {0};
    for (size_t i = 0; i < 50; i++) {
        size_t v = s.order[i];
        ck_assert(v >= 1000 && (v - 1000) % 3 == 0 && (v - 1000) / 3 < 50);
        seen[(v - 1000) / 3]++;
    }
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(seen[i], 1);
    dpt_sampler_free(&s);
}
END_TEST

START_TEST(test_order_depends_on_seed_and_epoch)
{
    dpt_sampler a, b;
    dpt_sampler_init(&a, NULL, 1000, 10, 1, 0, 7, NULL);
    dpt_sampler_init(&b, NULL, 1000, 64, 1, 1, 7, NULL);
    dpt_sampler_set_epoch(&a, 5);
    dpt_sampler_set_epoch(&b, 4);
    dpt_sampler_set_epoch(&b, 5); /* no hidden state: the previous epoch does not matter */
    ck_assert_int_eq(memcmp(a.order, b.order, sizeof(size_t) * 1000), 0);
    dpt_sampler_set_epoch(&b, 6);
    ck_assert_int_ne(memcmp(a.order, b.order, sizeof(size_t) * 1000), 0);
    dpt_sampler_free(&b);
    dpt_sampler_init(&b, NULL, 1000, 10, 0, 0, 7, NULL);
    dpt_sampler_set_epoch(&b, 5);
    for (size_t i = 0; i < 1000; i++)
        ck_assert_uint_eq(b.order[i], i);
    dpt_sampler_free(&a);
    dpt_sampler_free(&b);
}
END_TEST

START_TEST(test_empty_slices_and_errors)
{
    dpt_sampler s;
    dpt_err e;
    ck_assert_int_eq(dpt_sampler_init(&s, NULL, 0, 4, 1, 0, 1, &e), DPT_FAIL);
    ck_assert_int_eq(dpt_sampler_init(&s, NULL, 10, 4, 0, 0, 1, &e), DPT_OK);
    dpt_sampler_set_epoch(&s, 0);
    ck_assert_uint_eq(dpt_sampler_nbatches(&s), 3);
    size_t begin, count, total;
    /* The last batch holds 2 samples: on 4 ranks two slices are empty but well defined. */
    dpt_sampler_slice(&s, 2, 0, 1, 0, 4, &begin, &count, &total);
    ck_assert_uint_eq(count, 0);
    ck_assert_uint_eq(total, 2);
    dpt_sampler_slice(&s, 2, 0, 1, 3, 4, &begin, &count, &total);
    ck_assert_uint_eq(begin, 9);
    ck_assert_uint_eq(count, 1);
    dpt_sampler_free(&s);
}
END_TEST

START_TEST(test_permutation_uniformity)
{
    /* Each value lands in each position about equally often over many seeds. */
    enum { N = 5, SEEDS = 20000 };
    int hits[N][N] = {{0}};
    size_t perm[N];
    for (uint64_t seed = 0; seed < SEEDS; seed++) {
        dpt_rng_permutation(perm, N, seed, 9);
        for (int i = 0; i < N; i++)
            hits[i][perm[i]]++;
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            ck_assert_msg(abs(hits[i][j] - SEEDS / N) < 250, "position %d value %d: %d", i, j, hits[i][j]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_slices_tile_batches);
    tcase_add_test(tc, test_order_is_a_permutation_of_the_pool);
    tcase_add_test(tc, test_order_depends_on_seed_and_epoch);
    tcase_add_test(tc, test_empty_slices_and_errors);
    tcase_add_test(tc, test_permutation_uniformity);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
