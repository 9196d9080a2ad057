/* --gemm clblast: the three GEMMs of a layer through CLBlast's C API; gather, bias,
 * activation, loss and Adam stay in the own kernels. Per batch (L layers): 1 gather,
 * L GEMMs + L bias/activation, 1 softmax-xent, L dW GEMMs + L db, L-1 dX GEMMs + L-1
 * activation derivatives, 1 Adam. */
#include "cl/backend_cl.h"

#ifdef ABGPU_HAVE_CLBLAST
#include <clblast_c.h>

#define W_OFF(cb, l) ab_arch_w_off(&(cb)->a, (l))
#define B_OFF(cb, l) ((int)ab_arch_b_off(&(cb)->a, (l)))

static int blas_fail(ab_err *e, CLBlastStatusCode s, const char *what) {
  const char *name = s > -1000 ? ab_cl_errname(s) : "CLBlast status";
  return ab_err_set(e, AB_EDEVICE, "CLBlast %s failed: %s (%d)", what, name, (int)s);
}

/* One GEMM per model: C[k] = op(A[k]) op(B[k]), row-major; offsets and strides in floats. */
typedef struct gemm_arg {
  cl_mem m;
  size_t off, ld, stride;
} gemm_arg;

static int gemm(ab_cl_backend *cb, int ta, int tb, size_t m, size_t n, size_t k, gemm_arg A,
                gemm_arg B, gemm_arg C, ab_err *e) {
  CLBlastTranspose a = ta ? CLBlastTransposeYes : CLBlastTransposeNo;
  CLBlastTranspose b = tb ? CLBlastTransposeYes : CLBlastTransposeNo;
  cl_command_queue *q = &cb->ctx->queue;
  CLBlastStatusCode s;
  if (cb->K == 1)
    s = CLBlastSgemm(CLBlastLayoutRowMajor, a, b, m, n, k, 1.0f, A.m, A.off, A.ld, B.m, B.off,
                     B.ld, 0.0f, C.m, C.off, C.ld, q, NULL);
  else
    s = CLBlastSgemmStridedBatched(CLBlastLayoutRowMajor, a, b, m, n, k, 1.0f, A.m, A.off,
                                   A.ld, A.stride, B.m, B.off, B.ld, B.stride, 0.0f, C.m,
                                   C.off, C.ld, C.stride, (size_t)cb->K, q, NULL);
  return s == CLBlastSuccess ? AB_OK : blas_fail(e, s, "Sgemm");
}

int ab_cl_blas_forward(ab_cl_backend *cb, ab_cl_rows rows, int n, ab_err *e) {
  const ab_arch *a = &cb->a;
  int rc = ab_cl_gather(cb->ctx, cb->b.act[0], NULL, NULL, rows, cb->K, n, a->dims[0], e);
  for (int l = 0; l < a->nlayers && !rc; l++) {
    size_t in = (size_t)a->dims[l], out = (size_t)a->dims[l + 1];
    gemm_arg X = {cb->b.act[l], 0, in, (size_t)n * in};
    gemm_arg W = {cb->b.params, W_OFF(cb, l), out, (size_t)cb->P};
    gemm_arg Y = {cb->b.act[l + 1], 0, out, (size_t)n * out};
    rc = gemm(cb, 0, 0, (size_t)n, out, in, X, W, Y, e);
    if (!rc)
      rc = ab_cl_linear_act_fwd_bias(cb->ctx, cb->b.act[l + 1], cb->b.params, B_OFF(cb, l),
                                     a->act[l], cb->K, n, (int)out, cb->P, e);
  }
  return rc;
}

/* dX = dZ W^T for layer l, then times act'(X) of the layer below: that layer's dZ. */
static int blas_dx(ab_cl_backend *cb, int l, cl_mem dX, cl_mem dZ, ab_err *e) {
  const ab_arch *a = &cb->a;
  size_t in = (size_t)a->dims[l], out = (size_t)a->dims[l + 1], B = (size_t)cb->B;
  gemm_arg Z = {dZ, 0, out, B * out}, W = {cb->b.params, W_OFF(cb, l), out, (size_t)cb->P};
  gemm_arg X = {dX, 0, in, B * in};
  int rc = gemm(cb, 0, 1, B, in, out, Z, W, X, e);
  if (!rc && a->act[l - 1] != AB_ACT_IDENTITY)
    rc = ab_cl_linear_act_bwd_dz(cb->ctx, dX, dX, cb->b.act[l], a->act[l - 1],
                                 (int)(cb->K * B * in), e);
  return rc;
}

/* dW = X^T dZ and db = sum dZ for layer l. */
static int blas_dw(ab_cl_backend *cb, int l, cl_mem dZ, ab_cl_rows rows, ab_err *e) {
  const ab_arch *a = &cb->a;
  size_t in = (size_t)a->dims[l], out = (size_t)a->dims[l + 1], B = (size_t)cb->B;
  gemm_arg X = {cb->b.act[l], 0, in, B * in}, Z = {dZ, 0, out, B * out};
  gemm_arg G = {cb->b.grad, W_OFF(cb, l), out, (size_t)cb->P};
  int rc = gemm(cb, 1, 0, in, out, B, X, Z, G, e);
  if (!rc)
    rc = ab_cl_linear_act_bwd_dw(cb->ctx, cb->b.grad, (int)W_OFF(cb, l), B_OFF(cb, l), dZ, rows, 1,
                             cb->K, cb->B, (int)in, (int)out, cb->P, e);
  return rc;
}

int ab_cl_blas_backward(ab_cl_backend *cb, ab_cl_rows rows, ab_err *e) {
  cl_mem dY = cb->b.dA, dX = cb->b.dB;
  int rc = AB_OK;
  for (int l = cb->a.nlayers - 1; l >= 0 && !rc; l--) {
    if (l > 0) rc = blas_dx(cb, l, dX, dY, e);
    if (!rc) rc = blas_dw(cb, l, dY, rows, e);
    cl_mem t = dY; dY = dX; dX = t;
  }
  return rc;
}

#else

int ab_cl_blas_forward(ab_cl_backend *cb, ab_cl_rows rows, int n, ab_err *e) {
  (void)cb; (void)rows; (void)n;
  return ab_err_set(e, AB_EDEVICE, "this build has no CLBlast");
}

int ab_cl_blas_backward(ab_cl_backend *cb, ab_cl_rows rows, ab_err *e) {
  (void)cb; (void)rows;
  return ab_err_set(e, AB_EDEVICE, "this build has no CLBlast");
}

#endif
