/* linear_act_fwd.cl - the op linear_act_fwd (twin of ab_ref_linear_act_fwd): the fused
 * linear + bias + activation forward, and its epilogue after a CLBlast GEMM. */

/* Twin of ab_ref_linear_act_fwd: Y [K][B][OUT] = act(X W + b), each output summed from
 * b[j] over c in order. Input rows come from ab_row (gather fuses ab_ref_gather).
 * A work-item computes columns j0 .. j0+AB_VEC-1 of AB_ROWS rows, so each W load
 * serves AB_ROWS rows. Global (ceil(OUT / AB_VEC), ceil(B / AB_ROWS), K). */
__kernel void ab_linear_act_fwd(__global float *Y, __global const float *X,
                                __global const int *idx, int gather, int ioff, int iks,
                                __global const float *P, int woff, int boff, int act,
                                int K, int B, int IN, int OUT, int pstride) {
  int j0 = get_global_id(0) * AB_VEC, i0 = get_global_id(1) * AB_ROWS, k = get_global_id(2);
  if (j0 >= OUT || i0 >= B || k >= K) return;
  int nj = min(AB_VEC, OUT - j0);
  __global const float *W = P + (size_t)k * pstride + woff + j0;
  __global const float *x[AB_ROWS];
  vfloat z[AB_ROWS], bj = ab_vload_part(P + (size_t)k * pstride + boff + j0, nj);
  for (int r = 0; r < AB_ROWS; r++) { /* rows past B repeat the last one, never stored */
    x[r] = ab_row(X, idx, gather, ioff, iks, k, min(i0 + r, B - 1), B, IN);
    z[r] = bj;
  }
  if (nj == AB_VEC) {
    for (int c = 0; c < IN; c++) {
      vfloat w = AB_VLOAD(W + (size_t)c * OUT);
      for (int r = 0; r < AB_ROWS; r++) z[r] = AB_MAC(x[r][c], w, z[r]);
    }
  } else {
    for (int c = 0; c < IN; c++) {
      vfloat w = ab_vload_part(W + (size_t)c * OUT, nj);
      for (int r = 0; r < AB_ROWS; r++) z[r] = AB_MAC(x[r][c], w, z[r]);
    }
  }
  for (int r = 0; r < AB_ROWS && i0 + r < B; r++)
    ab_vstore_part(ab_act_apply(act, z[r]), Y + ((size_t)k * B + i0 + r) * OUT + j0, nj);
}

/* Y = act(Y + b) in place: linear_act_fwd's bias and activation after a CLBlast GEMM
 * (Y = X W). Global (OUT, B, K). */
__kernel void ab_linear_act_fwd_bias(__global float *Y, __global const float *P, int boff,
                                     int act, int K, int B, int OUT, int pstride) {
  int j = get_global_id(0), i = get_global_id(1), k = get_global_id(2);
  if (j >= OUT || i >= B || k >= K) return;
  size_t o = ((size_t)k * B + i) * OUT + j;
  Y[o] = ab_act_apply1(act, Y[o] + P[(size_t)k * pstride + boff + j]);
}

/* The split form of ab_linear_act_fwd (twin of ab_ref_linear_act_fwd, same arguments):
 * a work-group computes a tile of AB_TM rows x AB_TN columns, staging AB_TK inputs of
 * its rows and the matching weights in local memory per step, so a batch spreads over
 * ceil(B / AB_TM) x ceil(OUT / AB_TN) groups per model. Each output is summed from b[j]
 * over c in order, as the reference (and ab_linear_act_fwd) does.
 * Global (ceil(OUT / AB_TN) * AB_TN, ceil(B / AB_TM) * AB_TL, K), local (AB_TN, AB_TL, 1). */
__kernel void ab_linear_act_fwd_tiled(__global float *Y, __global const float *X,
                                      __global const int *idx, int gather, int ioff, int iks,
                                      __global const float *P, int woff, int boff, int act,
                                      int K, int B, int IN, int OUT, int pstride) {
  __local float xs[AB_TM][AB_TK], ws[AB_TK][AB_TN];
  int tx = get_local_id(0), ty = get_local_id(1), lid = ty * AB_TN + tx;
  int j0 = get_group_id(0) * AB_TN, i0 = get_group_id(1) * AB_TM, k = get_group_id(2);
  int j = j0 + tx;
  __global const float *W = P + (size_t)k * pstride + woff;
  float bj = j < OUT ? P[(size_t)k * pstride + boff + j] : 0.0f, z[AB_TR];
  for (int r = 0; r < AB_TR; r++) z[r] = bj;
  for (int c0 = 0; c0 < IN; c0 += AB_TK) {
    for (int q = lid; q < AB_TM * AB_TK; q += AB_TG) {
      int i = i0 + q / AB_TK, c = c0 + q % AB_TK;
      xs[q / AB_TK][q % AB_TK] =
          i < B && c < IN ? ab_row(X, idx, gather, ioff, iks, k, i, B, IN)[c] : 0.0f;
    }
    for (int q = lid; q < AB_TK * AB_TN; q += AB_TG) {
      int c = c0 + q / AB_TN, jj = j0 + q % AB_TN;
      ws[q / AB_TN][q % AB_TN] = c < IN && jj < OUT ? W[(size_t)c * OUT + jj] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    int n = min(AB_TK, IN - c0); /* no padding term enters a sum */
    for (int c = 0; c < n; c++) {
      float w = ws[c][tx];
      for (int r = 0; r < AB_TR; r++) z[r] = AB_MAC1(xs[ty + r * AB_TL][c], w, z[r]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  for (int r = 0; r < AB_TR; r++) {
    int i = i0 + ty + r * AB_TL;
    if (i < B && j < OUT) Y[((size_t)k * B + i) * OUT + j] = ab_act_apply1(act, z[r]);
  }
}
