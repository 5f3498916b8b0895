/* Harness: safetensors checkpoints: the length, JSON header and metadata as dpt_ckpt_read
 * validates them, then the path eval, predict and info take to build a model from the metadata
 * (the configuration, in_dim) and load the stored tensors into it. The data section is under a
 * checksum; the header and metadata are not, which is where mutations get through. */
#include "dptrain/checkpoint.h"
#include "dptrain/cli.h"
#include "fuzz.h"

static volatile float sink; /* reads of the tensors that the compiler may not drop */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = dpt_fuzz_file(data, size, ".safetensors");
    dpt_ckpt c;
    dpt_err e = {0};
    if (dpt_ckpt_read(&c, path, &e) != DPT_OK)
        return 0;
    for (int i = 0; i < c.nt; i++) {
        size_t n = 1;
        for (int d = 0; d < c.t[i].ndim; d++)
            n *= (size_t)c.t[i].shape[d];
        if (n)
            sink += c.t[i].data[0] + c.t[i].data[n - 1];
    }
    (void)dpt_ckpt_meta_get(&c, "config");
    dpt_ckpt_free(&c);
    dpt_cli_model m;
    if (dpt_cli_model_load(&m, path, &e) == DPT_OK)
        dpt_cli_model_free(&m);
    return 0;
}
