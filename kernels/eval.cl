/* eval.cl - evaluation reduced on the device, and class-1 probabilities. */

/* Twin of ab_ref_eval over rows [0, B): logits [K][B][C], labels [B] at labels + loff
 * (shared by all models). Model k's loss sum and correct count go to
 * ploss/pcorrect[k*nslots + slot]; the host adds the slots of a split in double.
 * One work-group per model: global (L, K), local (L, 1); sl, sc: L floats / ints. */
__kernel void ab_eval(__global float *ploss, __global int *pcorrect, int slot, int nslots,
                      __global const float *logits, __global const int *labels, int loff,
                      int K, int B, int C, __local float *sl, __local int *sc) {
  int k = get_global_id(1), t = get_local_id(0), L = get_local_size(0);
  if (k >= K) return; /* the whole work-group */
  float ls = 0.0f;
  int cs = 0;
  for (int i = t; i < B; i += L) {
    __global const float *z = logits + ((size_t)k * B + i) * C;
    int lab = labels[loff + i], best = 0;
    float mx = z[0];
    for (int c = 1; c < C; c++)
      if (z[c] > mx) { mx = z[c]; best = c; }
    float sum = 0.0f;
    for (int c = 0; c < C; c++) sum += exp(z[c] - mx);
    ls += log(sum) + mx - z[lab];
    cs += best == lab;
  }
  sl[t] = ls;
  sc[t] = cs;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (int h = L / 2; h > 0; h /= 2) { /* L is a power of two */
    if (t < h) { sl[t] += sl[t + h]; sc[t] += sc[t + h]; }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  if (t == 0) { ploss[k * nslots + slot] = sl[0]; pcorrect[k * nslots + slot] = sc[0]; }
}

/* Twin of ab_ref_prob1: prob[k*pks + poff + i] = softmax(logits[k][i])[1], C = 2.
 * Global (B, K). */
__kernel void ab_prob1(__global float *prob, int poff, int pks,
                       __global const float *logits, int K, int B) {
  int i = get_global_id(0), k = get_global_id(1);
  if (i >= B || k >= K) return;
  size_t o = (size_t)k * B + i;
  prob[(size_t)k * pks + poff + i] = 1.0f / (1.0f + exp(logits[2 * o] - logits[2 * o + 1]));
}
