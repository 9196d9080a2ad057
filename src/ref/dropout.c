/* The reference dropout op and its mask (ref.h): integer hashing and one float multiply,
 * so every device computes the same bits. */
#include <string.h>
#include "abgpu/ref.h"

uint32_t ab_ref_mix32(uint32_t x) { return ab_ref_mix32_inline(x); }

void ab_dropout_consts(uint32_t *c, float p, uint64_t seed) {
  float scale = 1.0f / (1.0f - p);
  c[0] = (uint32_t)(p * 4294967296.0f); /* exact: a power-of-two scaling, below 2^32 */
  memcpy(&c[1], &scale, sizeof scale);
  c[2] = ab_ref_mix32((uint32_t)seed ^ ab_ref_mix32((uint32_t)(seed >> 32) ^ 0x64726f70u));
}

uint32_t ab_dropout_salt(int h, int64_t t) {
  uint64_t u = (uint64_t)t;
  return ab_ref_mix32((uint32_t)h ^ ab_ref_mix32((uint32_t)u ^ ab_ref_mix32((uint32_t)(u >> 32))));
}

void ab_ref_dropout(float *Y, const float *X, const uint32_t *c, uint32_t salt, int K, int B,
                    int N) {
  for (int k = 0; k < K; k++) {
    const uint32_t *ck = c + (size_t)k * AB_DROP_NC;
    uint32_t r = ab_ref_mix32(ck[2] ^ salt);
    float scale;
    memcpy(&scale, &ck[1], sizeof scale);
    for (int i = 0; i < B; i++)
      for (int j = 0; j < N; j++) {
        size_t o = ((size_t)k * B + i) * N + j;
        uint32_t h = ab_ref_mix32(r ^ ab_ref_mix32((uint32_t)i * (uint32_t)N + (uint32_t)j));
        Y[o] = h >= ck[0] ? X[o] * scale : 0.0f;
      }
  }
}
