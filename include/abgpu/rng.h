/* rng.h - PCG32 (O'Neill 2014, "PCG XSH RR 64/32"): the one seeded generator abgpu
 * uses for balancing, shuffling, initialisation and synthetic data. Deterministic on
 * every platform: same seed and stream give the same numbers. */
#ifndef ABGPU_RNG_H
#define ABGPU_RNG_H
#include <stdint.h>

typedef struct ab_rng {
  uint64_t state;
  uint64_t inc; /* stream selector, always odd */
} ab_rng;

/* Seeds r with seed on stream `stream` (different streams are independent). */
void ab_rng_seed(ab_rng *r, uint64_t seed, uint64_t stream);
/* Next 32 random bits. */
uint32_t ab_rng_u32(ab_rng *r);
/* Uniform integer in [0, bound), unbiased (Lemire's multiply with rejection). */
uint32_t ab_rng_below(ab_rng *r, uint32_t bound);
/* Uniform double in [0, 1) with 53 random bits. */
double ab_rng_uniform(ab_rng *r);
/* Standard normal (Box-Muller, no cached second value, so the stream is simple). */
double ab_rng_normal(ab_rng *r);
/* Fisher-Yates shuffle of n indices in place. */
void ab_rng_shuffle_u32(ab_rng *r, uint32_t *a, uint32_t n);

#endif
