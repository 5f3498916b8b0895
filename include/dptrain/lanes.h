/* The tail masks of the AVX-512 loops (activations, direct convolution, dpt_gemm_small). */
#ifndef DPTRAIN_LANES_H
#define DPTRAIN_LANES_H

#include <stdint.h>

/* Bits [0, n) of a 16-lane mask: none for n <= 0, all for n >= 16. */
static inline uint16_t dpt_lanes16(long n)
{
    return n <= 0 ? 0 : n >= 16 ? 0xffff : (uint16_t)((1u << n) - 1);
}

#endif
