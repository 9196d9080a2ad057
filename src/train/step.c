/* The training step and the forward sequence as flat lists of op calls (ops.h): the
 * only copy of them. Per batch (L layers): L forwards (the first reads its rows through
 * the batch order), 1 softmax cross-entropy, L backwards (each hands the layer below its
 * dZ), 1 Adam. A device that runs a whole epoch its own way (ops.h: epoch) computes the
 * same thing. With dropout (m.dropout) each hidden output act[h] also goes through the
 * dropout op into drop[h], which the layer above reads; backward applies the same mask
 * to the gradient reaching act[h], and the layer below then multiplies by its
 * activation's derivative at the undropped act[h]. */
#include "abgpu/ref.h"
#include "pass.h"

int ab_forward_layers(const ab_ops *o, ab_dev *d, ab_mem *const *out, ab_rows in,
                      const ab_mem *P, const ab_arch *a, int K, int n, size_t pstride,
                      ab_err *e) {
  int rc = AB_OK;
  for (int l = 0; l < a->nlayers && !rc; l++) {
    ab_rows x = l ? (ab_rows){out[l - 1], NULL, 0, (size_t)n} : in;
    rc = o->linear_act_fwd(d, out[l], x, P, ab_arch_w_off(a, l), ab_arch_b_off(a, l),
                           a->act[l], K, n, a->dims[l], a->dims[l + 1], pstride, e);
  }
  return rc;
}

/* The input layer l reads in training: the batch rows, act[l], or drop[l] (dropout). */
static ab_rows train_in(ab_models *m, ab_rows rows, int l) {
  if (!l) return rows;
  return (ab_rows){m->dropout ? &m->drop[l] : &m->act[l], NULL, 0, (size_t)m->B};
}

/* The step's forward: as ab_forward_layers, then dropout on each hidden output. */
static int forward_dropout(ab_backend *be, ab_rows rows, ab_err *e) {
  const ab_ops *o = be->ops;
  ab_models *m = &be->m;
  const ab_arch *a = &m->a;
  int rc = AB_OK, L = a->nlayers;
  for (int l = 0; l < L && !rc; l++) {
    rc = o->linear_act_fwd(be->dev, &m->act[l + 1], train_in(m, rows, l),
                           &m->slot[AB_SLOT_PARAMS], ab_arch_w_off(a, l), ab_arch_b_off(a, l),
                           a->act[l], m->K, m->B, a->dims[l], a->dims[l + 1], m->P, e);
    if (!rc && l + 1 < L)
      rc = o->dropout(be->dev, &m->drop[l + 1], &m->act[l + 1], &m->dropc,
                      ab_dropout_salt(l + 1, m->t + 1), m->K, m->B, a->dims[l + 1], e);
  }
  return rc;
}

/* Backward from the output layer's dZ in dA: layer l's gradient into grad; the dX of
 * every layer but the first, times the activation derivative of the layer below, is
 * that layer's dZ (without dropout the derivative is folded into the layer above's
 * backward; with it, the mask comes first and the layer below applies its own). */
static int backward(ab_backend *be, ab_rows rows, ab_err *e) {
  const ab_ops *o = be->ops;
  ab_models *m = &be->m;
  const ab_arch *a = &m->a;
  ab_mem *dY = &m->dA, *dX = &m->dB;
  int rc = AB_OK, L = a->nlayers, drop = m->dropout;
  for (int l = L - 1; l >= 0 && !rc; l--) {
    ab_act act = l == L - 1 || drop ? a->act[l] : AB_ACT_IDENTITY; /* else folded in */
    ab_act act_in = l && !drop ? a->act[l - 1] : AB_ACT_IDENTITY;
    rc = o->linear_act_bwd(be->dev, l ? dX : NULL, &m->grad, ab_arch_w_off(a, l),
                           ab_arch_b_off(a, l), dY, dY, train_in(m, rows, l), &m->act[l + 1],
                           &m->slot[AB_SLOT_PARAMS], act, act_in, m->K, m->B, a->dims[l],
                           a->dims[l + 1], m->P, e);
    if (!rc && l && drop)
      rc = o->dropout(be->dev, dX, dX, &m->dropc, ab_dropout_salt(l, m->t + 1), m->K, m->B,
                      a->dims[l], e);
    ab_mem *t = dY; dY = dX; dX = t;
  }
  return rc;
}

int ab_step(ab_backend *be, int b, int nbatches, ab_err *e) {
  const ab_ops *o = be->ops;
  ab_models *m = &be->m;
  int L = m->a.nlayers;
  size_t per_model = (size_t)nbatches * m->B;
  ab_rows rows = {&be->data.x[AB_SPLIT_TRAIN], &m->order, (size_t)b * m->B, per_model};
  ab_rows labels = {&be->data.y[AB_SPLIT_TRAIN], &m->order, (size_t)b * m->B, per_model};
  ab_mem *out[AB_MAX_LAYERS];
  for (int l = 0; l < L; l++) out[l] = &m->act[l + 1];
  int rc = m->dropout ? forward_dropout(be, rows, e)
                      : ab_forward_layers(o, be->dev, out, rows, &m->slot[AB_SLOT_PARAMS],
                                          &m->a, m->K, m->B, m->P, e);
  if (!rc)
    rc = o->softmax_xent(be->dev, &m->loss, &m->dA, &m->bloss, b, m->maxbatches, &m->act[L],
                         labels, m->K, m->B, m->a.dims[L], e);
  if (!rc) rc = backward(be, rows, e);
  if (rc) return rc;
  m->t++;
  return o->adam_step(be->dev, &m->slot[AB_SLOT_PARAMS], &m->slot[AB_SLOT_ADAM_M],
                      &m->slot[AB_SLOT_ADAM_V], &m->grad, &m->lr, &m->wd, m->t, m->K, m->P, e);
}
