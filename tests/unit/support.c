/* Shared by every unit suite; linked into each test program by the Makefile. */
#include "support.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int dpt_test_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

void dpt_test_tmpdir(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "/tmp/%s_XXXXXX", name);
    if (!mkdtemp(buf)) {
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
}

void dpt_test_rmdir(const char *dir)
{
    DIR *d = opendir(dir);
    char path[1024];
    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d)) != NULL;)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
    closedir(d);
    rmdir(dir);
}
