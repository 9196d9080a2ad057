/* tools/cpu_xent_ulp.c - development only: measures the AVX2 loss kernel's vector exp
 * and log (src/cpu/kern_avx2.c: expneg8, log8) against libm on every float of their
 * ranges, and its 2-class softmax cross-entropy (xent2) against the reference's on
 * random rows. The AVX-512 kernels compute the same bits (tests/test_op_softmax_xent.c).
 * Not built by CMake; from the repository root, after a build:
 *
 *   gcc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc -Iinclude -Ibuild/include \
 *       tools/cpu_xent_ulp.c build/libabgpu.a -lm -lpthread -lOpenCL \
 *       -o /tmp/cpu_xent_ulp && /tmp/cpu_xent_ulp
 */
#include "../src/cpu/kern_avx2.c"
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "abgpu/ref.h"

/* Distance in ulps: floats mapped to integers that order like the floats. */
static long ord(float x) {
  int32_t i;
  memcpy(&i, &x, 4);
  return i < 0 ? -(long)(i & 0x7FFFFFFF) : (long)i;
}
static long ulps(float a, float b) { return labs(ord(a) - ord(b)); }
static float at(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

typedef __m256 (*vfn)(__m256);
AVX2 static __m256 vexp(__m256 x) { return expneg8(x); }
AVX2 static __m256 vlog(__m256 x) { return log8(x); }

/* Every float in [lo, hi] (same sign) through f and g; the worst distance and how many
 * differ. */
AVX2 static void sweep(const char *name, vfn f, float (*g)(float), float lo, float hi) {
  uint32_t a = bits(lo), b = bits(hi);
  if (a > b) { uint32_t t = a; a = b; b = t; }
  long worst = 0, ndiff = 0;
  float wx = 0;
  alignas(32) float x[8], y[8];
  for (uint64_t u = a; u <= b; u += 8) {
    for (int j = 0; j < 8; j++) x[j] = at((uint32_t)(u + j <= b ? u + j : b));
    _mm256_store_ps(y, f(_mm256_load_ps(x)));
    for (int j = 0; j < 8; j++) {
      long d = ulps(y[j], g(x[j]));
      ndiff += d != 0;
      if (d > worst) { worst = d; wx = x[j]; }
    }
  }
  _mm256_zeroupper();
  printf("%-28s %u floats: max %ld ulp (at %.9g), %ld differ\n", name, b - a + 1, worst, wx,
         ndiff);
}

static uint64_t rs = 88172645463325252ull;
static double unif(void) {
  rs ^= rs << 13; rs ^= rs >> 7; rs ^= rs << 17;
  return (double)(rs >> 11) / 9007199254740992.0;
}

/* Random rows whose logits differ by up to `span`: the worst loss error in units of
 * eps * (1 + |max logit|) plus ulps of the loss, and the worst dlogit error in eps / B. */
static void rows(float span, int n) {
  enum { N = 1000 };
  static float z[2 * N], wl[N], wd[2 * N], gl[N], gd[2 * N];
  static int32_t lab[N];
  double wloss = 0, wdl = 0;
  long lu = 0;
  const float B = 100.0f;
  for (int r = 0; r < n; r += N) {
    for (int i = 0; i < N; i++) {
      float c = (float)((unif() - 0.5) * 60.0);
      z[2 * i] = c;
      z[2 * i + 1] = c + (float)((unif() - 0.5) * 2.0 * span);
      lab[i] = unif() < 0.5;
    }
    for (int i = 0; i < N; i++) wl[i] = cpu_xent_row(wd + 2 * i, z + 2 * i, lab[i], 2, B);
    ab_cpu_kern_avx2.xent2(gl, gd, 2, z, 2, lab, N, B);
    for (int i = 0; i < N; i++) {
      double mx = fmax(fabs(z[2 * i]), fabs(z[2 * i + 1]));
      double e = fabs((double)gl[i] - wl[i]) / (FLT_EPSILON * (1.0 + mx));
      if (e > wloss) wloss = e;
      if (ulps(gl[i], wl[i]) > lu) lu = ulps(gl[i], wl[i]);
      for (int c = 0; c < 2; c++) {
        double ed = fabs((double)gd[2 * i + c] - wd[2 * i + c]) / (FLT_EPSILON / B);
        if (ed > wdl) wdl = ed;
      }
    }
  }
  printf("xent2 |z0-z1| <= %-8g %d rows: loss max %.3g eps(1+|max z|) (%ld ulp); "
         "dlogits max %.3g eps/B\n", span, n, wloss, lu, wdl);
}

int main(void) {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    printf("this CPU has no AVX2 + FMA\n");
    return 1;
  }
  sweep("expneg8 vs expf, [-104, 0]", vexp, expf, -0.0f, -104.0f);
  sweep("log8 vs logf, [1, 2]", vlog, logf, 1.0f, 2.0f);
  sweep("log8 vs logf, [FLT_MIN, 1]", vlog, logf, FLT_MIN, 1.0f);
  sweep("log8 vs logf, [2, FLT_MAX]", vlog, logf, 2.0f, FLT_MAX);
  static const float spans[] = {1, 10, 30, 90, 110, 1e4f};
  for (int i = 0; i < 6; i++) rows(spans[i], 2000000);
  return 0;
}
