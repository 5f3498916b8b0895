/* What every unit suite shares: running a suite, and a scratch directory. */
#ifndef DPTRAIN_TEST_SUPPORT_H
#define DPTRAIN_TEST_SUPPORT_H

#include <check.h>
#include <stddef.h>

/* Runs s (Check prints its summary line) and returns the process exit status. */
int dpt_test_run(Suite *s);

/* Makes a fresh directory /tmp/NAME_XXXXXX into buf; exits the test program if it cannot. */
void dpt_test_tmpdir(char *buf, size_t size, const char *name);

/* Removes dir and the files directly in it. */
void dpt_test_rmdir(const char *dir);

#endif
