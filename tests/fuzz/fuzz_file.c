/* The scratch file of fuzz.h: in /dev/shm when there is one (millions of writes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static char path[256];

static void remove_file(void)
{
    unlink(path);
}

const char *dpt_fuzz_file(const uint8_t *data, size_t size, const char *suffix)
{
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    if (path[0] && strstr(path, suffix) == NULL)
        unlink(path);
    else if (!path[0])
        atexit(remove_file);
    snprintf(path, sizeof path, "%s/dptrain-fuzz-%ld%s", dir, (long)getpid(), suffix);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}
