/* gather.cl - the op gather (twin of ab_ref_gather), for the CLBlast path; the own
 * GEMM kernels read rows through an index themselves (ab_row, common.cl). */

/* Twin of ab_ref_gather. X [K][B][IN] = data[idx[ioff + k*iks + i]]; Y [K][B] labels
 * (written when with_y != 0). Global (IN, B, K). */
__kernel void ab_gather(__global float *X, __global int *Y, __global const float *data,
                        __global const int *labels, int with_y, __global const int *idx,
                        int ioff, int iks, int K, int B, int IN) {
  int j = get_global_id(0), i = get_global_id(1), k = get_global_id(2);
  if (j >= IN || i >= B || k >= K) return;
  int r = idx[ioff + k * iks + i];
  X[((size_t)k * B + i) * IN + j] = data[(size_t)r * IN + j];
  if (with_y && j == 0) Y[k * B + i] = labels[r];
}
