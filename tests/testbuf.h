/* testbuf.h - the parameter layout and input builders shared by the kernel tests
 * (test_cl_ops, test_cpu): static inline, so that the compiler still sees the sizes it
 * checks allocations against. Builders return malloc'd memory of at least one element. */
#ifndef ABGPU_TESTBUF_H
#define ABGPU_TESTBUF_H
#include <math.h>
#include <stdlib.h>
#include "abgpu/ref.h"
#include "abgpu/rng.h"
#include "tolerance.h"

/* Parameter layout with awkward offsets: pstride > IN*OUT + OUT, W and b not aligned. */
typedef struct layout {
  int woff, boff, pstride;
} layout;

static inline layout layout_of(int IN, int OUT) {
  layout l = {3, 3 + IN * OUT + 2, IN * OUT + OUT + 7};
  return l;
}

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

/* Bounds for a backward pass's G (dW and db in layout L) and dX: the dot-product bound
 * of tolerance.h with S from the reference backward run on |dZ|, |X| and |P|. Sets
 * *tg [np] and *tdx [nx] (malloc'd). */
static inline void tu_bwd_bounds(double **tg, double **tdx, const float *X, const float *dZ,
                                 const float *P, layout L, int K, int B, int IN, int OUT) {
  size_t nx = (size_t)K * B * IN, ny = (size_t)K * B * OUT, np = (size_t)K * L.pstride;
  float *aX = tu_abs_copy(X, nx), *aZ = tu_abs_copy(dZ, ny);
  float *aP = tu_abs_copy(P, np), *SG = calloc(np ? np : 1, sizeof(float));
  float *SX = malloc((nx ? nx : 1) * sizeof(float)), *sz = malloc((ny ? ny : 1) * sizeof(float));
  ab_ref_linear_act_bwd(SX, SG + L.woff, SG + L.boff, sz, aZ, aX, aZ, aP + L.woff,
                        AB_ACT_IDENTITY, K, B, IN, OUT, L.pstride);
  *tg = calloc(np ? np : 1, sizeof(double));
  *tdx = malloc((nx ? nx : 1) * sizeof(double));
  for (size_t i = 0; i < np; i++) (*tg)[i] = AB_TOL_DOT(B, SG[i]) + 1e-30;
  for (size_t i = 0; i < nx; i++) (*tdx)[i] = AB_TOL_DOT(OUT, SX[i]) + 1e-30;
  free(aX); free(aZ); free(aP); free(SG); free(SX); free(sz);
}

#endif
