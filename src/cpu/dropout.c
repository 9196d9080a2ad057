/* The fast dropout op (cpu.h): ab_ref_dropout's mask, hashed in blocks of a row's units
 * by the reference's mixer inlined (ab_ref_mix32_inline), which the compiler vectorises,
 * then applied. */
#include <string.h>
#include "abgpu/cpu.h"
#include "abgpu/ref.h"

#define BLOCK 64

/* The reference's mixer (ref.h), inline so that block()'s loop vectorises. */
#define mix ab_ref_mix32_inline

/* Units j0 .. j0+n-1 of one row: y = x * scale where kept, else 0. */
static void block(float *y, const float *x, uint32_t r, uint32_t base, uint32_t thr,
                  float scale, int n) {
  uint32_t h[BLOCK];
  for (int j = 0; j < n; j++) h[j] = mix(r ^ mix(base + (uint32_t)j));
  for (int j = 0; j < n; j++) y[j] = h[j] >= thr ? x[j] * scale : 0.0f;
}

void ab_cpu_dropout(float *Y, const float *X, const uint32_t *c, uint32_t salt, int K, int B,
                    int N) {
  for (int k = 0; k < K; k++) {
    const uint32_t *ck = c + (size_t)k * AB_DROP_NC;
    uint32_t r = mix(ck[2] ^ salt);
    float scale;
    memcpy(&scale, &ck[1], sizeof scale);
    for (int i = 0; i < B; i++) {
      size_t o = ((size_t)k * B + i) * N;
      for (int j0 = 0; j0 < N; j0 += BLOCK)
        block(Y + o + j0, X + o + j0, r, (uint32_t)i * (uint32_t)N + (uint32_t)j0, ck[0], scale,
              N - j0 < BLOCK ? N - j0 : BLOCK);
    }
  }
}
