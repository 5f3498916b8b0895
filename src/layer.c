/* The registry of layer kinds: the one place that lists them. */
#include "dptrain/layer.h"

#include <string.h>

static const dpt_layer_ops *const registry[] = {
    &dpt_layer_dense, &dpt_layer_identity, &dpt_layer_relu, &dpt_layer_tanh, &dpt_layer_sigmoid,
};

const dpt_layer_ops *dpt_layer_find(const char *name)
{
    for (size_t i = 0; i < sizeof registry / sizeof *registry; i++)
        if (strcmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const char *dpt_layer_kinds(void)
{
    return "dense N, identity, relu, tanh, sigmoid";
}
