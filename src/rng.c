/* Counter-based generator: a SplitMix64-style finalizer applied to a
 * combination of (seed, stream, index). Cheap, stateless, and good enough
 * for initialization and shuffling (it passes the usual avalanche tests). */
#include "dptrain/rng.h"

#include <math.h>

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t dpt_rng_u64(uint64_t seed, uint64_t stream, uint64_t index)
{
    /* Mixing each coordinate separately keeps (s, t, i) and (s, t+1, i-1) unrelated. */
    uint64_t k = mix64(seed + 0x9e3779b97f4a7c15ULL);
    k = mix64(k ^ (stream * 0xd1b54a32d192ed03ULL + 0x632be59bd9b4e019ULL));
    return mix64(k ^ (index * 0x9e3779b97f4a7c15ULL + 0x2545f4914f6cdd1dULL));
}

double dpt_rng_uniform(uint64_t seed, uint64_t stream, uint64_t index)
{
    /* 53 random bits, shifted by half an ulp so 0 never occurs. */
    uint64_t r = dpt_rng_u64(seed, stream, index) >> 11;
    return ((double)r + 0.5) * (1.0 / 9007199254740992.0);
}

double dpt_rng_normal(uint64_t seed, uint64_t stream, uint64_t index)
{
    double u1 = dpt_rng_uniform(seed, stream, 2 * index);
    double u2 = dpt_rng_uniform(seed, stream, 2 * index + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t dpt_rng_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t bound)
{
    /* Rejection on the top of the range; retries use fresh counters far away. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t r = dpt_rng_u64(seed, stream, index);
    for (uint64_t k = 1; r >= limit; k++)
        r = dpt_rng_u64(seed, stream, index ^ (k << 48));
    return r % bound;
}

void dpt_rng_permutation(size_t *perm, size_t n, uint64_t seed, uint64_t stream)
{
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)dpt_rng_below(seed, stream, i - 1, i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}
