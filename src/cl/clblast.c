/* --gemm clblast: the three GEMMs of a layer through CLBlast's C API (dev_cl.c calls them
 * from its forward and backward ops); gather, bias, activation, db, loss and Adam stay
 * in the own kernels. Per batch (L layers): 1 gather, L GEMMs + L bias/activation, 1
 * softmax-xent, L dW GEMMs + L db, L-1 dX GEMMs + L-1 activation derivatives, 1 Adam. */
#include "cl/backend_cl.h"

#ifdef ABGPU_HAVE_CLBLAST
#include <clblast_c.h>

static int blas_fail(ab_err *e, CLBlastStatusCode s, const char *what) {
  const char *name = s > -1000 ? ab_cl_errname(s) : "CLBlast status";
  return ab_err_set(e, AB_EDEVICE, "CLBlast %s failed: %s (%d)", what, name, (int)s);
}

/* One GEMM per model: C[k] = op(A[k]) op(B[k]), row-major; offsets and strides in floats. */
typedef struct gemm_arg {
  cl_mem m;
  size_t off, ld, stride;
} gemm_arg;

static int gemm(ab_cl_backend *cb, int K, int ta, int tb, size_t m, size_t n, size_t k,
                gemm_arg A, gemm_arg B, gemm_arg C, ab_err *e) {
  CLBlastTranspose a = ta ? CLBlastTransposeYes : CLBlastTransposeNo;
  CLBlastTranspose b = tb ? CLBlastTransposeYes : CLBlastTransposeNo;
  cl_command_queue *q = &cb->ctx->queue;
  CLBlastStatusCode s;
  if (K == 1)
    s = CLBlastSgemm(CLBlastLayoutRowMajor, a, b, m, n, k, 1.0f, A.m, A.off, A.ld, B.m, B.off,
                     B.ld, 0.0f, C.m, C.off, C.ld, q, NULL);
  else
    s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, a, b, m, n, k, 1.0f, A.m, A.off,
                                   A.ld, A.stride, B.m, B.off, B.ld, B.stride, 0.0f, C.m,
                                   C.off, C.ld, C.stride, (size_t)K, q, NULL);
  return s == CLBlastSuccess ? AB_OK : blas_fail(e, s, "Sgemm");
}

int ab_cl_blas_fwd(ab_cl_backend *cb, cl_mem Y, cl_mem X, cl_mem P, size_t woff, int K,
                   int B, int IN, int OUT, size_t pstride, ab_err *e) {
  size_t in = (size_t)IN, out = (size_t)OUT;
  gemm_arg x = {X, 0, in, (size_t)B * in}, w = {P, woff, out, pstride};
  gemm_arg y = {Y, 0, out, (size_t)B * out};
  return gemm(cb, K, 0, 0, (size_t)B, out, in, x, w, y, e);
}

int ab_cl_blas_dx(ab_cl_backend *cb, cl_mem dX, cl_mem dZ, cl_mem P, size_t woff, int K,
                  int B, int IN, int OUT, size_t pstride, ab_err *e) {
  size_t in = (size_t)IN, out = (size_t)OUT;
  gemm_arg z = {dZ, 0, out, (size_t)B * out}, w = {P, woff, out, pstride};
  gemm_arg x = {dX, 0, in, (size_t)B * in};
  return gemm(cb, K, 0, 1, (size_t)B, in, out, z, w, x, e);
}

int ab_cl_blas_dw(ab_cl_backend *cb, cl_mem G, size_t woff, cl_mem X, cl_mem dZ, int K, int B,
                  int IN, int OUT, size_t pstride, ab_err *e) {
  size_t in = (size_t)IN, out = (size_t)OUT;
  gemm_arg x = {X, 0, in, (size_t)B * in}, z = {dZ, 0, out, (size_t)B * out};
  gemm_arg g = {G, woff, out, pstride};
  return gemm(cb, K, 1, 0, in, out, (size_t)B, x, z, g, e);
}

#else

static int no_clblast(ab_err *e) { return ab_err_set(e, AB_EDEVICE, "this build has no CLBlast"); }

int ab_cl_blas_fwd(ab_cl_backend *cb, cl_mem Y, cl_mem X, cl_mem P, size_t woff, int K,
                   int B, int IN, int OUT, size_t pstride, ab_err *e) {
  (void)cb; (void)Y; (void)X; (void)P; (void)woff; (void)K; (void)B; (void)IN; (void)OUT;
  (void)pstride;
  return no_clblast(e);
}

int ab_cl_blas_dx(ab_cl_backend *cb, cl_mem dX, cl_mem dZ, cl_mem P, size_t woff, int K,
                  int B, int IN, int OUT, size_t pstride, ab_err *e) {
  (void)cb; (void)dX; (void)dZ; (void)P; (void)woff; (void)K; (void)B; (void)IN; (void)OUT;
  (void)pstride;
  return no_clblast(e);
}

int ab_cl_blas_dw(ab_cl_backend *cb, cl_mem G, size_t woff, cl_mem X, cl_mem dZ, int K, int B,
                  int IN, int OUT, size_t pstride, ab_err *e) {
  (void)cb; (void)G; (void)woff; (void)X; (void)dZ; (void)K; (void)B; (void)IN; (void)OUT;
  (void)pstride;
  return no_clblast(e);
}

#endif
