/* Harness: the experiment file (INI text) as dptrain train reads it: parse, validate, resolve,
 * and write it back as a checkpoint's metadata would hold it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dptrain/config.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = 0;
    dpt_config c;
    dpt_err e = {0};
    dpt_config_defaults(&c);
    if (dpt_config_load_string(&c, text, "fuzz.ini", &e) == DPT_OK && dpt_config_validate(&c, &e) == DPT_OK) {
        dpt_config_resolve(&c);
        FILE *f = fopen("/dev/null", "w");
        if (f) {
            dpt_config_write(f, &c);
            fclose(f);
        }
    }
    free(text);
    return 0;
}
