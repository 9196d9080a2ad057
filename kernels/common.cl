/* common.cl - built second, after include/abgpu/consts.h (the activation codes, Adam's
 * constants and the fused meta indices, shared with the host) and before the other .cl
 * files of the kernels folder.
 *
 * Conventions (as src/ref/, see include/abgpu/ref.h): outputs first, sizes last; every
 * kernel carries the model dimension K; W and b of model k live in the flat parameter
 * buffer at k*pstride + woff / boff. Every work-item checks its indices, so any global
 * size (rounded up to the local size) is safe.
 *
 * No implicit contraction: each output is summed in the reference's order, every step
 * through AB_MAC, which is one fused multiply-add where the device has fma in hardware
 * (AB_FMA, set by the host from CL_FP_FMA) and a multiply then an add elsewhere. So the
 * fused and per-op kernels agree bit for bit on any device; without fma a kernel also
 * matches its twin except for exp/log/tanh rounding, with fma it is within the rounding
 * bounds of tests/tolerance.h (fma rounds less often, never more).
 *
 * Options the host prepends: AB_VEC, the vector width (1, 2, 4, 8 or 16) of the GEMM
 * kernels: each work-item computes AB_VEC neighbouring outputs as one vector (a CPU's
 * SIMD lanes; 1 on GPUs, whose lanes are work-items). AB_ROWS: rows per work-item. */
#pragma OPENCL FP_CONTRACT OFF

#ifndef AB_VEC
#define AB_VEC 1
#endif
#ifndef AB_ROWS
#define AB_ROWS 4
#endif

/* The split kernels' tiles (options AB_TM, AB_TN, AB_TK): a work-group of AB_TN x AB_TL
 * = 64 work-items computes AB_TM x AB_TN outputs, AB_TR rows per work-item, over steps
 * of AB_TK terms staged in local memory. */
#ifndef AB_TM
#define AB_TM 8
#endif
#ifndef AB_TN
#define AB_TN 16
#endif
#ifndef AB_TK
#define AB_TK 16
#endif
#define AB_TL 4
#define AB_TR (AB_TM / AB_TL)
#define AB_TG (AB_TN * AB_TL)

/* a * b + c; b and c may be vectors and a a scalar (AB_MAC1: all three scalars). */
#if AB_FMA
#define AB_MAC(a, b, c) fma((vfloat)(a), (b), (c))
#define AB_MAC1(a, b, c) fma((a), (b), (c))
#else
#define AB_MAC(a, b, c) ((a) * (b) + (c))
#define AB_MAC1(a, b, c) ((a) * (b) + (c))
#endif

/* vfloat: AB_VEC floats; vload/vstore of a whole vector, and of its first n lanes. */
#if AB_VEC == 1
typedef float vfloat;
#define AB_VLOAD(p) (*(p))
#define AB_VSTORE(v, p) (*(p) = (v))
#else
#define AB_CAT_(a, b) a##b
#define AB_CAT(a, b) AB_CAT_(a, b)
typedef AB_CAT(float, AB_VEC) vfloat;
#define AB_VLOAD(p) AB_CAT(vload, AB_VEC)(0, (p))
#define AB_VSTORE(v, p) AB_CAT(vstore, AB_VEC)((v), 0, (p))
#endif

vfloat ab_vload_part(__global const float *p, int n) {
  if (n >= AB_VEC) return AB_VLOAD(p);
  float t[AB_VEC];
  for (int v = 0; v < AB_VEC; v++) t[v] = v < n ? p[v] : 0.0f;
  return AB_VLOAD(t);
}

void ab_vstore_part(vfloat x, __global float *p, int n) {
  if (n >= AB_VEC) { AB_VSTORE(x, p); return; }
  float t[AB_VEC];
  AB_VSTORE(x, t);
  for (int v = 0; v < n; v++) p[v] = t[v];
}

/* Twin of ab_act_apply, lane by lane. */
vfloat ab_act_apply(int a, vfloat z) {
  if (a == AB_ACT_RELU) return select((vfloat)0.0f, z, z > 0.0f);
  if (a == AB_ACT_SIGMOID) return 1.0f / (1.0f + exp(-z));
  if (a == AB_ACT_TANH) return tanh(z);
  return z;
}

/* Twin of ab_act_grad_from_y: the derivative through the output y = act(z). */
vfloat ab_act_grad(int a, vfloat y) {
  if (a == AB_ACT_RELU) return select((vfloat)0.0f, (vfloat)1.0f, y > 0.0f);
  if (a == AB_ACT_SIGMOID) return y * (1.0f - y);
  if (a == AB_ACT_TANH) return 1.0f - y * y;
  return (vfloat)1.0f;
}

/* Scalar forms, for the kernels that work one float at a time. */
float ab_act_apply1(int a, float z) {
  if (a == AB_ACT_RELU) return z > 0.0f ? z : 0.0f;
  if (a == AB_ACT_SIGMOID) return 1.0f / (1.0f + exp(-z));
  if (a == AB_ACT_TANH) return tanh(z);
  return z;
}

float ab_act_grad1(int a, float y) {
  if (a == AB_ACT_RELU) return y > 0.0f ? 1.0f : 0.0f;
  if (a == AB_ACT_SIGMOID) return y * (1.0f - y);
  if (a == AB_ACT_TANH) return 1.0f - y * y;
  return 1.0f;
}

/* Log-sum-exp of one row of C logits, twin of ab_ref_lse_row (the one copy every softmax
 * here uses): returns log(sum_c exp(z[c] - mx)) + mx, mx = max_c z[c]; *sum gets the sum,
 * e[c] (when e is not 0) each exp(z[c] - mx), *best (when not 0) the first index of the
 * maximum. One body for the two address spaces logits live in (OpenCL 1.2 has no generic
 * one): ab_lse_row_g for __global rows, ab_lse_row_l for __local ones. */
#define AB_LSE_ROW(NAME, SPACE)                                                         \
  float NAME(SPACE const float *z, int C, SPACE float *e, float *sum, int *best) {      \
    float mx = z[0];                                                                    \
    int b = 0;                                                                          \
    for (int c = 1; c < C; c++)                                                         \
      if (z[c] > mx) { mx = z[c]; b = c; }                                              \
    float s = 0.0f;                                                                     \
    for (int c = 0; c < C; c++) {                                                       \
      float x = exp(z[c] - mx);                                                         \
      if (e) e[c] = x;                                                                  \
      s += x;                                                                           \
    }                                                                                   \
    *sum = s;                                                                           \
    if (best) *best = b;                                                                \
    return log(s) + mx;                                                                 \
  }
AB_LSE_ROW(ab_lse_row_g, __global)
AB_LSE_ROW(ab_lse_row_l, __local)

/* One Adam step of AB_VEC parameters, the loop body of ab_ref_adam_step (adam_step.cl and
 * fused.cl): m = beta1 m + (1 - beta1) g; v = beta2 v + (1 - beta2) g g;
 * p -= step m / (sqrt(v / c2) + eps) + decay p, with step = lr / c1, decay = lr * wd. */
void ab_adam_update(vfloat *p, vfloat *m, vfloat *v, vfloat g, float beta1, float beta2,
                    float eps, float c2, float step, float decay) {
  *m = beta1 * *m + (1.0f - beta1) * g;
  *v = beta2 * *v + (1.0f - beta2) * g * g;
  *p -= step * *m / (sqrt(*v / c2) + eps) + decay * *p;
}

/* Row i of model k's input. gather != 0: row idx[ioff + k*iks + i] of a split's data
 * [N][IN] (the fused twin of ab_ref_gather); else row i of model k in X [K][B][IN]. */
__global const float *ab_row(__global const float *X, __global const int *idx, int gather,
                             int ioff, int iks, int k, int i, int B, int IN) {
  if (gather) return X + (size_t)idx[ioff + k * iks + i] * IN;
  return X + ((size_t)k * B + i) * IN;
}
