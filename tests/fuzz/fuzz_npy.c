/* Harness: NPY files (any version, either byte order, gzipped or not), as features and targets. */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load(dpt_fuzz_file(data, size, ".npy"), DPT_FORMAT_NPY, 0, 4);
    return 0;
}
