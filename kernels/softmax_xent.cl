/* softmax_xent.cl - the op softmax_xent: loss and gradient in one pass. */

/* Twin of ab_ref_softmax_xent. loss [K][B], dlogits [K][B][C] = (softmax - onehot) / B,
 * logits [K][B][C]; the label of row (k, i) is labels[idx[ioff + k*iks + i]] (the
 * split's labels through the batch order, so labels are never gathered separately).
 * Also writes the batch mean loss of model k, summed over rows in order as the
 * reference backend does, to bloss[k*bstride + bslot].
 * One work-group per model: global (L, K), local (L, 1). */
__kernel void ab_softmax_xent(__global float *loss, __global float *dlogits,
                              __global float *bloss, int bslot, int bstride,
                              __global const float *logits, __global const int *labels,
                              __global const int *idx, int ioff, int iks,
                              int K, int B, int C) {
  int k = get_global_id(1), L = get_local_size(0);
  if (k >= K) return; /* the whole work-group: no barrier is skipped by part of it */
  for (int i = get_local_id(0); i < B; i += L) {
    __global const float *z = logits + ((size_t)k * B + i) * C;
    __global float *d = dlogits + ((size_t)k * B + i) * C;
    int lab = labels[idx[ioff + k * iks + i]];
    float sum;
    loss[k * B + i] = ab_lse_row_g(z, C, d, &sum, 0) - z[lab];
    for (int c = 0; c < C; c++) d[c] = (d[c] / sum - (c == lab ? 1.0f : 0.0f)) / (float)B;
  }
  barrier(CLK_GLOBAL_MEM_FENCE);
  if (get_local_id(0) == 0) {
    float s = 0.0f;
    for (int i = 0; i < B; i++) s += loss[k * B + i];
    bloss[k * bstride + bslot] = s / (float)B;
  }
}

/* The split form of ab_softmax_xent: one row per work-item over ceil(B / AB_TG) groups
 * per model; loss and dlogits as ab_softmax_xent; the first stage of the batch loss:
 * group g adds its rows' losses in a tree into part[k * ngroups + g].
 * Global (ceil(B / AB_TG) * AB_TG, K), local (AB_TG, 1). */
__kernel void ab_softmax_xent_split(__global float *loss, __global float *dlogits,
                                    __global float *part, __global const float *logits,
                                    __global const int *labels, __global const int *idx,
                                    int ioff, int iks, int K, int B, int C) {
  __local float acc[AB_TG];
  int i = get_global_id(0), k = get_global_id(1), t = get_local_id(0);
  float li = 0.0f;
  if (i < B) {
    __global const float *z = logits + ((size_t)k * B + i) * C;
    __global float *d = dlogits + ((size_t)k * B + i) * C;
    int lab = labels[idx[ioff + k * iks + i]];
    float sum;
    li = ab_lse_row_g(z, C, d, &sum, 0) - z[lab];
    loss[k * B + i] = li;
    for (int c = 0; c < C; c++) d[c] = (d[c] / sum - (c == lab ? 1.0f : 0.0f)) / (float)B;
  }
  acc[t] = li;
  for (int h = AB_TG / 2; h > 0; h /= 2) {
    barrier(CLK_LOCAL_MEM_FENCE);
    if (t < h) acc[t] += acc[t + h];
  }
  if (t == 0) part[(size_t)k * get_num_groups(0) + get_group_id(0)] = acc[0];
}

/* The second stage: bloss[k*bstride + bslot] = (the ngroups partials of model k added
 * in group order) / B. Global (K). */
__kernel void ab_softmax_xent_sum(__global float *bloss, int bslot, int bstride,
                                  __global const float *part, int ngroups, int K, int B) {
  int k = get_global_id(0);
  if (k >= K) return;
  float s = 0.0f;
  for (int g = 0; g < ngroups; g++) s += part[(size_t)k * ngroups + g];
  bloss[k * bstride + bslot] = s / (float)B;
}
