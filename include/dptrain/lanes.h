/* Lane patterns of the AVX-512 loops (activations, pooling, direct convolution, Winograd,
 * dpt_gemm_small): tail masks, and the permutes that split a row into its even and odd values and
 * interleave them back. */
#ifndef DPTRAIN_LANES_H
#define DPTRAIN_LANES_H

#include <stdint.h>

/* Bits [0, n) of a 16-lane mask: none for n <= 0, all for n >= 16. */
static inline uint16_t dpt_lanes16(long n)
{
    return n <= 0 ? 0 : n >= 16 ? 0xffff : (uint16_t)((1u << n) - 1);
}

#if defined(__AVX512F__)
#include <immintrin.h>

/* _mm512_permutex2var_ps indices taking values 2k + odd of the 32 in (a, b): the even (odd = 0) or
 * the odd values of a row of 32. */
static inline __m512i dpt_split16(int odd)
{
    return _mm512_add_epi32(_mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0),
                            _mm512_set1_epi32(odd));
}

/* _mm512_permutex2var_ps indices interleaving a and b, split16's inverse: a0 b0 a1 b1 ... a7 b7
 * for half 0, a8 b8 ... a15 b15 for half 1. */
static inline __m512i dpt_zip16(int half)
{
    return _mm512_add_epi32(_mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0),
                            _mm512_set1_epi32(8 * half));
}
#endif

#endif
