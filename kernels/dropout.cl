/* dropout.cl - the op dropout (twin of ab_ref_dropout): inverted dropout on a hidden
 * layer's output in training, and the same mask on the gradient reaching it. */

/* Twin of ab_ref_mix32 (consts.h's mixer), restated by design: a kernel cannot call the
 * host's C. */
uint ab_mix32(uint x) {
  x ^= x >> 16;
  x *= AB_MIX_M1;
  x ^= x >> 15;
  x *= AB_MIX_M2;
  x ^= x >> 16;
  return x;
}

/* Twin of ab_ref_dropout. Y, X [K][B][N] (Y may be X); c [K][3]: threshold, scale's bits,
 * key. Global (N, B, K). */
__kernel void ab_dropout(__global float *Y, __global const float *X, __global const uint *c,
                         uint salt, int K, int B, int N) {
  int j = get_global_id(0), i = get_global_id(1), k = get_global_id(2);
  if (j >= N || i >= B || k >= K) return;
  __global const uint *ck = c + (size_t)k * 3;
  uint r = ab_mix32(ck[2] ^ salt), h = ab_mix32(r ^ ab_mix32((uint)i * (uint)N + (uint)j));
  size_t o = ((size_t)k * B + i) * N + j;
  Y[o] = h >= ck[0] ? X[o] * as_float(ck[1]) : 0.0f;
}
