/* prob1.cl - the op prob1: the probability of class 1 (the buyer) for each row. */

/* Twin of ab_ref_prob1: prob[k*pks + poff + i] = softmax(logits[k][i])[1], C = 2.
 * Global (B, K). */
__kernel void ab_prob1(__global float *prob, int poff, int pks,
                       __global const float *logits, int K, int B) {
  int i = get_global_id(0), k = get_global_id(1);
  if (i >= B || k >= K) return;
  size_t o = (size_t)k * B + i;
  prob[(size_t)k * pks + poff + i] = 1.0f / (1.0f + exp(logits[2 * o] - logits[2 * o + 1]));
}
