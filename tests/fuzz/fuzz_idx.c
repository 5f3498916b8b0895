/* Harness: IDX files, plain or gzipped (the input's own bytes decide), as features and targets. */
#include "fuzz_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_load(dpt_fuzz_file(data, size, "-idx3-ubyte"), DPT_FORMAT_IDX, 0, 4);
    return 0;
}
