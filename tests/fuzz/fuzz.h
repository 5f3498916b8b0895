/* Shared by the fuzz harnesses (tests/fuzz/fuzz_*.c). Each harness is one
 * LLVMFuzzerTestOneInput over one parser of untrusted input; the readers take
 * paths (they map or gunzip whole files), so an input is first written to a
 * file of this process's own. Built two ways: with clang and libFuzzer by
 * `make fuzz`, and with gcc, the sanitizers and replay.c's main by `make asan`
 * (part of `make test`), which replays every file under tests/fuzz/NAME/. */
#ifndef DPTRAIN_FUZZ_H
#define DPTRAIN_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes data to this process's scratch file whose name ends in suffix (".csv", "-idx3-ubyte",
 * ...; the readers pick formats by name) and returns its path, valid until the next call. */
const char *dpt_fuzz_file(const uint8_t *data, size_t size, const char *suffix);

#endif
