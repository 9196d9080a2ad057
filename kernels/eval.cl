/* eval.cl - the op eval: forward outputs reduced to loss sums and correct counts on the
 * device. */

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
    int lab = labels[loff + i], best;
    float sum;
    ls += ab_lse_row_g(z, C, 0, &sum, &best) - z[lab];
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
