/* Harness: CSV text (or gzipped CSV). The first byte picks the options (header mode, task,
 * nclasses, label column); the rest is the file. */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_load(dpt_fuzz_file(data + 1, size - 1, ".csv"), DPT_FORMAT_CSV, 1, data[0]);
    return 0;
}
