/* linear_act_bwd.cl - the op linear_act_bwd (twin of ab_ref_linear_act_bwd), backward of
 * Y = act(X W + b), as three kernels: ab_linear_act_bwd_dz (dZ = dY * act'(Y)),
 * ab_linear_act_bwd_dw (dW = X^T dZ, db = sum dZ) and ab_linear_act_bwd_dx (dX = dZ W^T,
 * optionally times act'(X) of the layer below, which hands that layer its dZ without a
 * separate launch). */

/* dZ = dY * act'(Y) over n floats (dZ may alias dY). Global (n). */
__kernel void ab_linear_act_bwd_dz(__global float *dZ, __global const float *dY,
                                   __global const float *Y, int act, int n) {
  int i = get_global_id(0);
  if (i < n) dZ[i] = dY[i] * ab_act_grad1(act, Y[i]);
}

/* dW [IN][OUT] at k*pstride + woff and db [OUT] at k*pstride + boff (overwritten);
 * dZ [K][B][OUT]; input rows through ab_row. Each sum runs over i in order from 0.
 * Grid rows c = c0 .. IN, where row IN is db (the sum of dZ: a column of ones in X,
 * and 1.0f * z == z exactly); c0 = IN computes db alone. A work-item computes
 * AB_ROWS rows c and columns j0 .. j0+AB_VEC-1.
 * Global (ceil(OUT / AB_VEC), ceil((IN + 1 - c0) / AB_ROWS), K). */
__kernel void ab_linear_act_bwd_dw(__global float *G, int woff, int boff,
                                   __global const float *dZ, __global const float *X,
                                   __global const int *idx, int gather, int ioff, int iks,
                                   int c0, int K, int B, int IN, int OUT, int pstride) {
  int j0 = get_global_id(0) * AB_VEC, cb = c0 + get_global_id(1) * AB_ROWS;
  int k = get_global_id(2);
  if (j0 >= OUT || cb > IN || k >= K) return;
  int nj = min(AB_VEC, OUT - j0);
  __global const float *z = dZ + (size_t)k * B * OUT + j0;
  vfloat s[AB_ROWS];
  for (int q = 0; q < AB_ROWS; q++) s[q] = 0.0f;
  for (int i = 0; i < B; i++) {
    vfloat dz = ab_vload_part(z + (size_t)i * OUT, nj);
    __global const float *x = ab_row(X, idx, gather, ioff, iks, k, i, B, IN);
    for (int q = 0; q < AB_ROWS; q++) {
      int c = cb + q;
      float xc = c < IN ? x[min(c, IN - 1)] : 1.0f;
      s[q] = AB_MAC(xc, dz, s[q]);
    }
  }
  __global float *g = G + (size_t)k * pstride;
  for (int q = 0; q < AB_ROWS && cb + q <= IN; q++) {
    int c = cb + q;
    ab_vstore_part(s[q], g + (c < IN ? woff + (size_t)c * OUT : (size_t)boff) + j0, nj);
  }
}

/* dX [K][B][IN] = dZ W^T, summed over j in order; then, when act_in is not identity,
 * times act_in'(Xin) where Xin [K][B][IN] is this layer's input (the output of the
 * layer below): the result is that layer's dZ. A work-item computes columns
 * c0 .. c0+AB_VEC-1 of AB_ROWS rows. Global (ceil(IN / AB_VEC), ceil(B / AB_ROWS), K). */
__kernel void ab_linear_act_bwd_dx(__global float *dX, __global const float *dZ,
                                   __global const float *P, int woff,
                                   __global const float *Xin, int act_in,
                                   int K, int B, int IN, int OUT, int pstride) {
  int c0 = get_global_id(0) * AB_VEC, i0 = get_global_id(1) * AB_ROWS, k = get_global_id(2);
  if (c0 >= IN || i0 >= B || k >= K) return;
  int nc = min(AB_VEC, IN - c0);
  __global const float *W = P + (size_t)k * pstride + woff;
  __global const float *w[AB_VEC], *z[AB_ROWS];
  for (int v = 0; v < AB_VEC; v++) w[v] = W + (size_t)(c0 + min(v, nc - 1)) * OUT;
  vfloat s[AB_ROWS];
  for (int r = 0; r < AB_ROWS; r++) {
    z[r] = dZ + ((size_t)k * B + min(i0 + r, B - 1)) * OUT;
    s[r] = 0.0f;
  }
  for (int j = 0; j < OUT; j++) {
    float t[AB_VEC]; /* W[c0 .. c0+AB_VEC-1][j]: a column of W as one vector */
    for (int v = 0; v < AB_VEC; v++) t[v] = w[v][j];
#if AB_VEC == 1
    vfloat wj = t[0];
#else
    vfloat wj = AB_VLOAD(t);
#endif
    for (int r = 0; r < AB_ROWS; r++) s[r] = AB_MAC(z[r][j], wj, s[r]);
  }
  for (int r = 0; r < AB_ROWS && i0 + r < B; r++) {
    size_t o = ((size_t)k * B + i0 + r) * IN + c0;
    if (act_in != AB_ACT_IDENTITY) s[r] *= ab_act_grad(act_in, ab_vload_part(Xin + o, nc));
    ab_vstore_part(s[r], dX + o, nc);
  }
}

/* The split form of ab_linear_act_bwd_dw (twin of the dW and db of
 * ab_ref_linear_act_bwd): a work-group computes a tile of AB_TM rows c (row IN is db)
 * x AB_TN columns j over one chunk of `chunk` batch rows, staging AB_TK rows of X and dZ
 * in local memory per step. The batch's nchunks chunks are the first stage of a two-stage
 * sum: with nchunks = 1 the result goes to G (summed over i in order: the reference's
 * sums), else chunk q's partial sums go to part [K][nchunks][IN + 1 - c0][OUT] and
 * ab_linear_act_bwd_dw_sum adds them in chunk order. Other arguments as
 * ab_linear_act_bwd_dw. Global (ceil(OUT / AB_TN) * AB_TN,
 * ceil((IN + 1 - c0) / AB_TM) * AB_TL, K * nchunks), local (AB_TN, AB_TL, 1). */
__kernel void ab_linear_act_bwd_dw_tiled(__global float *G, int woff, int boff,
                                         __global float *part, int nchunks, int chunk,
                                         __global const float *dZ, __global const float *X,
                                         __global const int *idx, int gather, int ioff,
                                         int iks, int c0, int K, int B, int IN, int OUT,
                                         int pstride) {
  __local float xs[AB_TK][AB_TM], zs[AB_TK][AB_TN];
  int tx = get_local_id(0), ty = get_local_id(1), lid = ty * AB_TN + tx;
  int j0 = get_group_id(0) * AB_TN, cb = c0 + get_group_id(1) * AB_TM;
  int kq = get_group_id(2), k = kq / nchunks, ib = kq % nchunks * chunk;
  int ie = min(B, ib + chunk);
  float s[AB_TR];
  for (int r = 0; r < AB_TR; r++) s[r] = 0.0f;
  for (int i0 = ib; i0 < ie; i0 += AB_TK) {
    for (int q = lid; q < AB_TK * AB_TM; q += AB_TG) {
      int i = i0 + q / AB_TM, c = cb + q % AB_TM;
      float v = c < IN ? 0.0f : 1.0f; /* row IN: db, a column of ones in X */
      if (i < ie && c < IN) v = ab_row(X, idx, gather, ioff, iks, k, i, B, IN)[c];
      xs[q / AB_TM][q % AB_TM] = i < ie && c <= IN ? v : 0.0f;
    }
    for (int q = lid; q < AB_TK * AB_TN; q += AB_TG) {
      int i = i0 + q / AB_TN, j = j0 + q % AB_TN;
      zs[q / AB_TN][q % AB_TN] = i < ie && j < OUT ? dZ[((size_t)k * B + i) * OUT + j] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    int n = min(AB_TK, ie - i0);
    for (int i = 0; i < n; i++) {
      float z = zs[i][tx];
      for (int r = 0; r < AB_TR; r++) s[r] = AB_MAC1(xs[i][ty + r * AB_TL], z, s[r]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  int j = j0 + tx, nc = IN + 1 - c0;
  for (int r = 0; r < AB_TR; r++) {
    int c = cb + ty + r * AB_TL;
    if (c > IN || j >= OUT) continue;
    if (nchunks > 1)
      part[((size_t)kq * nc + c - c0) * OUT + j] = s[r];
    else
      G[(size_t)k * pstride + (c < IN ? woff + (size_t)c * OUT : (size_t)boff) + j] = s[r];
  }
}

/* The second stage: dW and db of model k at woff / boff of G = the nchunks partial sums
 * of ab_linear_act_bwd_dw_tiled added in chunk order. Global ((IN + 1 - c0) * OUT, K). */
__kernel void ab_linear_act_bwd_dw_sum(__global float *G, int woff, int boff,
                                       __global const float *part, int nchunks, int c0,
                                       int K, int IN, int OUT, int pstride) {
  int q = get_global_id(0), k = get_global_id(1), nc = IN + 1 - c0;
  if (q >= nc * OUT || k >= K) return;
  __global const float *p = part + (size_t)k * nchunks * nc * OUT + q;
  float s = p[0];
  for (int h = 1; h < nchunks; h++) s += p[(size_t)h * nc * OUT];
  int c = c0 + q / OUT, j = q % OUT;
  G[(size_t)k * pstride + (c < IN ? woff + (size_t)c * OUT : (size_t)boff) + j] = s;
}

/* The split form of ab_linear_act_bwd_dx (same arguments and results): a work-group
 * computes a tile of AB_TM rows i x AB_TN columns c, staging AB_TK columns of dZ and
 * the matching weights per step; each sum runs over j in order.
 * Global (ceil(IN / AB_TN) * AB_TN, ceil(B / AB_TM) * AB_TL, K), local (AB_TN, AB_TL, 1). */
__kernel void ab_linear_act_bwd_dx_tiled(__global float *dX, __global const float *dZ,
                                         __global const float *P, int woff,
                                         __global const float *Xin, int act_in,
                                         int K, int B, int IN, int OUT, int pstride) {
  __local float zs[AB_TM][AB_TK], ws[AB_TK][AB_TN];
  int tx = get_local_id(0), ty = get_local_id(1), lid = ty * AB_TN + tx;
  int c0 = get_group_id(0) * AB_TN, i0 = get_group_id(1) * AB_TM, k = get_group_id(2);
  __global const float *W = P + (size_t)k * pstride + woff;
  float s[AB_TR];
  for (int r = 0; r < AB_TR; r++) s[r] = 0.0f;
  for (int j0 = 0; j0 < OUT; j0 += AB_TK) {
    for (int q = lid; q < AB_TM * AB_TK; q += AB_TG) {
      int i = i0 + q / AB_TK, j = j0 + q % AB_TK;
      zs[q / AB_TK][q % AB_TK] = i < B && j < OUT ? dZ[((size_t)k * B + i) * OUT + j] : 0.0f;
    }
    for (int q = lid; q < AB_TK * AB_TN; q += AB_TG) { /* consecutive q: along a W row */
      int c = c0 + q / AB_TK, j = j0 + q % AB_TK;
      ws[q % AB_TK][q / AB_TK] = c < IN && j < OUT ? W[(size_t)c * OUT + j] : 0.0f;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    int n = min(AB_TK, OUT - j0);
    for (int j = 0; j < n; j++) {
      float w = ws[j][tx];
      for (int r = 0; r < AB_TR; r++) s[r] = AB_MAC1(zs[ty + r * AB_TL][j], w, s[r]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  int c = c0 + tx;
  for (int r = 0; r < AB_TR; r++) {
    int i = i0 + ty + r * AB_TL;
    if (i >= B || c >= IN) continue;
    size_t o = ((size_t)k * B + i) * IN + c;
    float v = s[r];
    if (act_in != AB_ACT_IDENTITY) v *= ab_act_grad1(act_in, Xin[o]);
    dX[o] = v;
  }
}
