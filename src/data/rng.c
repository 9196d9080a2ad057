/* PCG32 (XSH RR 64/32), M. E. O'Neill, "PCG: A Family of Simple Fast Space-Efficient
 * Statistically Good Algorithms for Random Number Generation", 2014. */
#include "abgpu/rng.h"
#include <math.h>

#define PCG_MULT 6364136223846793005ULL

void ab_rng_seed(ab_rng *r, uint64_t seed, uint64_t stream) {
  r->state = 0;
  r->inc = (stream << 1) | 1u;
  ab_rng_u32(r);
  r->state += seed;
  ab_rng_u32(r);
}

uint32_t ab_rng_u32(ab_rng *r) {
  uint64_t old = r->state;
  r->state = old * PCG_MULT + r->inc;
  uint32_t xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
  uint32_t rot = (uint32_t)(old >> 59);
  return (xorshifted >> rot) | (xorshifted << ((-rot) & 31));
}

uint32_t ab_rng_below(ab_rng *r, uint32_t bound) {
  if (bound <= 1) return 0;
  uint64_t m = (uint64_t)ab_rng_u32(r) * bound;
  uint32_t low = (uint32_t)m;
  if (low < bound) {
    uint32_t threshold = (uint32_t)(-bound) % bound;
    while (low < threshold) {
      m = (uint64_t)ab_rng_u32(r) * bound;
      low = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

double ab_rng_uniform(ab_rng *r) {
  uint64_t hi = ab_rng_u32(r) >> 5, lo = ab_rng_u32(r) >> 6; /* 27 + 26 bits */
  return (double)(hi * 67108864.0 + lo) / 9007199254740992.0;
}

double ab_rng_normal(ab_rng *r) {
  double u1 = ab_rng_uniform(r), u2 = ab_rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void ab_rng_shuffle_u32(ab_rng *r, uint32_t *a, uint32_t n) {
  for (uint32_t i = n; i > 1; i--) {
    uint32_t j = ab_rng_below(r, i);
    uint32_t t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}
