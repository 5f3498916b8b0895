/* The worker pool: every item of a run done exactly once, by a thread the pool names, for pool
 * sizes 1 to 4, empty and tiny runs, and many runs on the same pool. */
#include <check.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "dptrain/pool.h"

#include "support.h"

enum { MAX_ITEMS = 5000 };

typedef struct {
    atomic_int done[MAX_ITEMS];
    atomic_int bad_thread;
    int n;
} tally;

static void mark(void *ctx, long i, int thread)
{
    tally *t = ctx;
    atomic_fetch_add(&t->done[i], 1);
    if (thread < 0 || thread >= t->n)
        atomic_store(&t->bad_thread, 1);
}

START_TEST(test_each_item_once)
{
    static tally t;
    const long counts[] = {0, 1, 2, 7, 1000, MAX_ITEMS};
    for (int n = 1; n <= 4; n++) {
        dpt_pool *p = dpt_pool_new(n);
        ck_assert_ptr_nonnull(p);
        ck_assert_int_eq(dpt_pool_size(p), n);
        for (int round = 0; round < 50; round++)
            for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
                for (long i = 0; i < MAX_ITEMS; i++)
                    atomic_store(&t.done[i], 0);
                atomic_store(&t.bad_thread, 0);
                t.n = n;
                dpt_pool_run(p, mark, &t, counts[c]);
                /* The first wrong item, if any (one assertion per run: Check's per call cost under the
                 * sanitizers made this test take minutes). */
                long wrong = -1;
                for (long i = 0; i < MAX_ITEMS && wrong < 0; i++)
                    if (atomic_load(&t.done[i]) != (i < counts[c]))
                        wrong = i;
                ck_assert_msg(wrong < 0, "n=%d count=%ld item %ld done %d times", n, counts[c], wrong,
                              wrong < 0 ? 0 : atomic_load(&t.done[wrong]));
                ck_assert_int_eq(atomic_load(&t.bad_thread), 0);
            }
        dpt_pool_free(p);
    }
}
END_TEST

START_TEST(test_null_pool_runs_on_caller)
{
    static tally t;
    t.n = 1;
    ck_assert_int_eq(dpt_pool_size(NULL), 1);
    dpt_pool_run(NULL, mark, &t, 10);
    for (long i = 0; i < 10; i++)
        ck_assert_int_eq(atomic_load(&t.done[i]), 1);
    ck_assert_int_eq(atomic_load(&t.bad_thread), 0);
    dpt_pool_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pool");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_each_item_once);
    tcase_add_test(tc, test_null_pool_runs_on_caller);
    suite_add_tcase(s, tc);
    return dpt_test_run(s);
}
