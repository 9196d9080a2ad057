/* The training step and the forward pass as flat lists of kernel launches.
 * Own GEMMs, per batch (L layers): L forward launches (the first gathers its rows),
 * 1 softmax-xent, L dW/db launches, L-1 dX launches (each also applies the activation
 * derivative of the layer below), 1 Adam: 3L + 1 launches, 10 for the seed net. */
#include "cl/backend_cl.h"

#define W_OFF(cb, l) ((int)ab_arch_w_off(&(cb)->a, (l)))
#define B_OFF(cb, l) ((int)ab_arch_b_off(&(cb)->a, (l)))

/* Input rows of layer l: the given rows for layer 0, else the activations below. */
static ab_cl_rows layer_in(ab_cl_backend *cb, ab_cl_rows rows, int l) {
  if (l == 0) return rows;
  ab_cl_rows r = {cb->b.act[l], NULL, 0, 0};
  return r;
}

int ab_cl_forward(ab_cl_backend *cb, ab_cl_rows rows, int n, ab_err *e) {
  if (cb->gemm == AB_CL_GEMM_CLBLAST) return ab_cl_blas_forward(cb, rows, n, e);
  const ab_arch *a = &cb->a;
  int rc = AB_OK;
  for (int l = 0; l < a->nlayers && !rc; l++)
    rc = ab_cl_linear_act_fwd(cb->ctx, cb->b.act[l + 1], layer_in(cb, rows, l), cb->b.params,
                              W_OFF(cb, l), B_OFF(cb, l), a->act[l], cb->K, n, a->dims[l],
                              a->dims[l + 1], cb->P, e);
  return rc;
}

static int backward(ab_cl_backend *cb, ab_cl_rows rows, ab_err *e) {
  const ab_arch *a = &cb->a;
  cl_mem dY = cb->b.dA, dX = cb->b.dB;
  int rc = AB_OK;
  for (int l = a->nlayers - 1; l >= 0 && !rc; l--) {
    if (l > 0)
      rc = ab_cl_linear_act_bwd_dx(cb->ctx, dX, dY, cb->b.params, W_OFF(cb, l), cb->b.act[l],
                               a->act[l - 1], cb->K, cb->B, a->dims[l], a->dims[l + 1],
                               cb->P, e);
    if (!rc)
      rc = ab_cl_linear_act_bwd_dw(cb->ctx, cb->b.grad, W_OFF(cb, l), B_OFF(cb, l), dY,
                               layer_in(cb, rows, l), 0, cb->K, cb->B, a->dims[l],
                               a->dims[l + 1], cb->P, e);
    cl_mem t = dY; dY = dX; dX = t;
  }
  return rc;
}

/* Loss and dLogits of the batch (the output layer's dZ lands in dA). */
static int loss(ab_cl_backend *cb, ab_cl_rows rows, int bslot, ab_err *e) {
  const ab_arch *a = &cb->a;
  int L = a->nlayers, C = a->dims[L];
  int rc = ab_cl_softmax_xent(cb->ctx, cb->b.loss, cb->b.dA, cb->b.bloss, bslot,
                              cb->maxbatches, cb->b.act[L], cb->b.y[AB_SPLIT_TRAIN], rows,
                              cb->K, cb->B, C, e);
  if (!rc && a->act[L - 1] != AB_ACT_IDENTITY)
    rc = ab_cl_linear_act_bwd_dz(cb->ctx, cb->b.dA, cb->b.dA, cb->b.act[L], a->act[L - 1],
                       cb->K * cb->B * C, e);
  return rc;
}

int ab_cl_train_step(ab_cl_backend *cb, ab_cl_rows rows, int bslot, ab_err *e) {
  int rc = ab_cl_forward(cb, rows, cb->B, e);
  if (!rc) rc = loss(cb, rows, bslot, e);
  if (!rc)
    rc = cb->gemm == AB_CL_GEMM_CLBLAST ? ab_cl_blas_backward(cb, rows, e)
                                        : backward(cb, rows, e);
  if (rc) return rc;
  cb->t++;
  return ab_cl_adam_step(cb->ctx, cb->b.params, cb->b.m, cb->b.v, cb->b.grad, cb->b.lr, cb->b.wd,
                    AB_ADAM_BETA1, AB_ADAM_BETA2, AB_ADAM_EPS, (int)cb->t, cb->K, cb->P, e);
}
