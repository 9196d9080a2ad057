/* The reference device: the op table (ops.h) over the plain C ops of ops.c on host
 * memory, and no overrides: every epoch and evaluation runs the generic sequences of
 * src/train/. Rows read through an index are gathered first (ab_ref_gather's work). */
#include <stdlib.h>
#include "abgpu/ops.h"
#include "abgpu/ref.h"
#include "host.h"

#define EVAL_ROWS 256

struct ab_dev {
  ab_host_scratch s;
};

int ab_ref_dev_create(ab_dev **out, ab_err *e) {
  ab_dev *d = calloc(1, sizeof *d);
  if (!d) return ab_err_set(e, AB_ENOMEM, "out of memory");
  *out = d;
  return AB_OK;
}

static void ref_destroy(ab_dev *d) {
  if (!d) return;
  ab_host_scratch_free(&d->s);
  free(d);
}

static float *F(const ab_mem *m) { return (float *)m->h; }

static int ref_fwd(ab_dev *d, ab_mem *Y, ab_rows X, const ab_mem *P, size_t woff, size_t boff,
                   ab_act act, int K, int B, int IN, int OUT, size_t pstride, ab_err *e) {
  const float *x = ab_host_rows(&d->s, X, K, B, IN, e);
  if (!x) return AB_ENOMEM;
  ab_ref_linear_act_fwd(F(Y), x, F(P) + woff, F(P) + boff, act, K, B, IN, OUT, pstride);
  return AB_OK;
}

static int ref_xent(ab_dev *d, ab_mem *loss, ab_mem *dlogits, ab_mem *bloss, int bslot,
                    int bstride, const ab_mem *logits, ab_rows labels, int K, int B, int C,
                    ab_err *e) {
  const int32_t *lab = ab_host_labels(&d->s, labels, K, B, e);
  if (!lab) return AB_ENOMEM;
  ab_ref_softmax_xent(F(loss), dlogits ? F(dlogits) : NULL, F(logits), lab, K, B, C);
  if (bloss) ab_host_batch_means(F(bloss), bslot, bstride, F(loss), K, B);
  return AB_OK;
}

static int ref_bwd(ab_dev *d, ab_mem *dX, ab_mem *G, size_t woff, size_t boff, ab_mem *dZ,
                   const ab_mem *dY, ab_rows X, const ab_mem *Y, const ab_mem *P, ab_act act,
                   ab_act act_in, int K, int B, int IN, int OUT, size_t pstride, ab_err *e) {
  const float *x = ab_host_rows(&d->s, X, K, B, IN, e);
  if (!x) return AB_ENOMEM;
  float *dx = dX ? F(dX) : NULL;
  ab_ref_linear_act_bwd(dx, F(G) + woff, F(G) + boff, F(dZ), F(dY), x, F(Y), F(P) + woff, act,
                        K, B, IN, OUT, pstride);
  if (dx && act_in != AB_ACT_IDENTITY)
    for (size_t i = 0; i < (size_t)K * B * IN; i++) dx[i] *= ab_act_grad_from_y(act_in, x[i]);
  return AB_OK;
}

static int ref_adam(ab_dev *d, ab_mem *p, ab_mem *m, ab_mem *v, const ab_mem *g,
                    const ab_mem *lr, const ab_mem *wd, int64_t t, int K, size_t n, ab_err *e) {
  (void)d; (void)e;
  ab_ref_adam_step(F(p), F(m), F(v), F(g), F(lr), F(wd), AB_ADAM_BETA1, AB_ADAM_BETA2,
                   AB_ADAM_EPS, (int)t, K, n);
  return AB_OK;
}

static int ref_dropout(ab_dev *d, ab_mem *Y, const ab_mem *X, const ab_mem *c, uint32_t salt,
                       int K, int B, int N, ab_err *e) {
  (void)d; (void)e;
  ab_ref_dropout(F(Y), F(X), (const uint32_t *)c->h, salt, K, B, N);
  return AB_OK;
}

static const char *ref_path(const ab_dev *d) {
  (void)d;
  return "reference: the generic step and evaluation over the plain C ops";
}

const ab_ops ab_ref_ops = {
    .name = "reference", .eval_rows = EVAL_ROWS, .warm_up = 0,
    .alloc = ab_host_alloc, .upload = ab_host_upload, .release = ab_host_release,
    .write = ab_host_write, .read = ab_host_read, .copy = ab_host_copy, .zero = ab_host_zero,
    .linear_act_fwd = ref_fwd, .softmax_xent = ref_xent, .linear_act_bwd = ref_bwd,
    .adam_step = ref_adam, .eval = ab_host_eval, .eval_sum = ab_host_eval_sum,
    .prob1 = ab_host_prob1, .dropout = ref_dropout, .path = ref_path, .destroy = ref_destroy};
