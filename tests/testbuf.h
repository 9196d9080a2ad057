/* testbuf.h - input builders shared by the kernel tests (test_cl_ops, test_cpu): static
 * inline, so that the compiler still sees the sizes it checks allocations against.
 * Each returns malloc'd memory of at least one element. */
#ifndef ABGPU_TESTBUF_H
#define ABGPU_TESTBUF_H
#include <math.h>
#include <stdlib.h>
#include "abgpu/ref.h"
#include "abgpu/rng.h"

/* n uniform floats in [lo, hi) from r. */
static inline float *tu_rand_buf(ab_rng *r, size_t n, float lo, float hi) {
  float *h = malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) h[i] = lo + (hi - lo) * (float)ab_rng_uniform(r);
  return h;
}

/* |x|, elementwise. */
static inline float *tu_abs_copy(const float *x, size_t n) {
  float *h = malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) h[i] = fabsf(x[i]);
  return h;
}

/* The activation a applied to z, elementwise. */
static inline float *tu_act_of(const float *z, size_t n, ab_act a) {
  float *h = malloc((n ? n : 1) * sizeof(float));
  for (size_t i = 0; i < n; i++) h[i] = ab_act_apply(a, z[i]);
  return h;
}

#endif
