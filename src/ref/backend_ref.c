/* The reference backend: the training step as a flat list of ref op calls.
 * All buffers are allocated in init_models; nothing is allocated per batch. */
#include <stdlib.h>
#include <string.h>
#include "abgpu/backend.h"
#include "abgpu/ref.h"

#define EVAL_ROWS 256

typedef struct ref_impl {
  const ab_splits *s;       /* borrowed: the caller keeps the splits alive */
  ab_arch a;
  int K, B, R;              /* models, batch, rows per buffer = max(B, EVAL_ROWS) */
  size_t P;                 /* params per model */
  int64_t t;                /* Adam steps taken */
  float *params, *best, *m, *v, *grad;   /* [K][P] */
  float *lr, *wd;           /* [K] */
  float *act[AB_MAX_LAYERS + 1];         /* [K][R][dims[l]] */
  float *dA, *dB;           /* [K][R][maxdim] gradient ping-pong */
  float *loss;              /* [K][R] */
  int32_t *lab, *idx;       /* [K][R] */
} ref_impl;

static void ref_free_bufs(ref_impl *r) {
  float **f[] = {&r->params, &r->best, &r->m, &r->v, &r->grad, &r->lr, &r->wd,
                 &r->dA, &r->dB, &r->loss};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) { free(*f[i]); *f[i] = NULL; }
  for (int l = 0; l <= AB_MAX_LAYERS; l++) { free(r->act[l]); r->act[l] = NULL; }
  free(r->lab); free(r->idx);
  r->lab = r->idx = NULL;
}

static int ref_load_data(ab_backend *be, const ab_splits *s, ab_err *e) {
  (void)e;
  ((ref_impl *)be->impl)->s = s;
  return AB_OK;
}

static int ref_alloc(ref_impl *r) {
  size_t kp = (size_t)r->K * r->P, kr = (size_t)r->K * r->R;
  int md = ab_arch_maxdim(&r->a);
  r->params = malloc(kp * sizeof(float)); r->best = malloc(kp * sizeof(float));
  r->m = calloc(kp, sizeof(float)); r->v = calloc(kp, sizeof(float));
  r->grad = malloc(kp * sizeof(float));
  r->lr = malloc(r->K * sizeof(float)); r->wd = malloc(r->K * sizeof(float));
  r->dA = malloc(kr * md * sizeof(float)); r->dB = malloc(kr * md * sizeof(float));
  r->loss = malloc(kr * sizeof(float));
  r->lab = malloc(kr * sizeof(int32_t)); r->idx = malloc(kr * sizeof(int32_t));
  int ok = r->params && r->best && r->m && r->v && r->grad && r->lr && r->wd && r->dA &&
           r->dB && r->loss && r->lab && r->idx;
  for (int l = 0; l <= r->a.nlayers; l++) {
    r->act[l] = malloc(kr * r->a.dims[l] * sizeof(float));
    ok = ok && r->act[l];
  }
  return ok;
}

static int ref_init_models(ab_backend *be, const ab_arch *a, int K, int batch,
                           const float *params, const ab_hyper *hyper, ab_err *e) {
  ref_impl *r = be->impl;
  ref_free_bufs(r);
  r->a = *a; r->K = K; r->B = batch; r->t = 0;
  r->R = batch > EVAL_ROWS ? batch : EVAL_ROWS;
  r->P = ab_arch_nparams(a);
  if (!ref_alloc(r)) return ab_err_set(e, AB_ENOMEM, "out of memory for %d models", K);
  memcpy(r->params, params, (size_t)K * r->P * sizeof(float));
  memcpy(r->best, params, (size_t)K * r->P * sizeof(float));
  for (int k = 0; k < K; k++) { r->lr[k] = hyper[k].lr; r->wd[k] = hyper[k].wd; }
  return AB_OK;
}

/* Forward through every layer for n rows already gathered into act[0]. */
static void ref_forward(ref_impl *r, int n) {
  for (int l = 0; l < r->a.nlayers; l++)
    ab_ref_linear_act_fwd(r->act[l + 1], r->act[l], r->params + ab_arch_w_off(&r->a, l),
                          r->params + ab_arch_b_off(&r->a, l), r->a.act[l], r->K, n,
                          r->a.dims[l], r->a.dims[l + 1], r->P);
}

static void ref_backward(ref_impl *r) {
  float *dY = r->dA, *dX = r->dB;
  for (int l = r->a.nlayers - 1; l >= 0; l--) {
    ab_ref_linear_act_bwd(l ? dX : NULL, r->grad + ab_arch_w_off(&r->a, l),
                          r->grad + ab_arch_b_off(&r->a, l), dY, dY, r->act[l], r->act[l + 1],
                          r->params + ab_arch_w_off(&r->a, l), r->a.act[l], r->K, r->B,
                          r->a.dims[l], r->a.dims[l + 1], r->P);
    float *t = dY; dY = dX; dX = t;
  }
}

static void ref_step(ref_impl *r, double *loss_sum) {
  const ab_split *tr = &r->s->train;
  int L = r->a.nlayers, B = r->B;
  ab_ref_gather(r->act[0], r->lab, tr->in, tr->y, r->idx, r->K, B, tr->d);
  ref_forward(r, B);
  ab_ref_softmax_xent(r->loss, r->dA, r->act[L], r->lab, r->K, B, AB_NCLASS);
  for (int k = 0; k < r->K; k++) {
    float s = 0.0f;
    for (int i = 0; i < B; i++) s += r->loss[k * B + i];
    loss_sum[k] += s / (float)B;
  }
  ref_backward(r);
  r->t++;
  ab_ref_adam_step(r->params, r->m, r->v, r->grad, r->lr, r->wd, AB_ADAM_BETA1, AB_ADAM_BETA2,
                   AB_ADAM_EPS, (int)r->t, r->K, r->P);
}

static int ref_train_epoch(ab_backend *be, const int32_t *order, int nbatches,
                           double *loss_sum, ab_err *e) {
  (void)e;
  ref_impl *r = be->impl;
  size_t per_model = (size_t)nbatches * r->B;
  for (int k = 0; k < r->K; k++) loss_sum[k] = 0.0;
  for (int b = 0; b < nbatches; b++) {
    for (int k = 0; k < r->K; k++)
      memcpy(r->idx + (size_t)k * r->B, order + k * per_model + (size_t)b * r->B,
             r->B * sizeof(int32_t));
    ref_step(r, loss_sum);
  }
  return AB_OK;
}

static const ab_split *ref_split(ref_impl *r, ab_split_id id) {
  return id == AB_SPLIT_TRAIN ? &r->s->train : id == AB_SPLIT_VAL ? &r->s->val : &r->s->test;
}

/* Gathers rows [start, start+n) of sp for every model and runs the forward pass. */
static void ref_forward_rows(ref_impl *r, const ab_split *sp, size_t start, int n) {
  for (int k = 0; k < r->K; k++)
    for (int i = 0; i < n; i++) r->idx[k * n + i] = (int32_t)(start + i);
  ab_ref_gather(r->act[0], NULL, sp->in, sp->y, r->idx, r->K, n, sp->d);
  ref_forward(r, n);
}

static int ref_evaluate(ab_backend *be, ab_split_id id, double *loss_sum, int64_t *correct,
                        ab_err *e) {
  (void)e;
  ref_impl *r = be->impl;
  const ab_split *sp = ref_split(r, id);
  for (int k = 0; k < r->K; k++) { loss_sum[k] = 0.0; correct[k] = 0; }
  for (size_t start = 0; start < sp->n; start += r->R) {
    int n = (int)(sp->n - start < (size_t)r->R ? sp->n - start : (size_t)r->R);
    ref_forward_rows(r, sp, start, n);
    ab_ref_eval(loss_sum, correct, r->act[r->a.nlayers], sp->y + start, r->K, n, AB_NCLASS);
  }
  return AB_OK;
}

static int ref_predict(ab_backend *be, ab_split_id id, float *prob, ab_err *e) {
  (void)e;
  ref_impl *r = be->impl;
  const ab_split *sp = ref_split(r, id);
  for (size_t start = 0; start < sp->n; start += r->R) {
    int n = (int)(sp->n - start < (size_t)r->R ? sp->n - start : (size_t)r->R);
    ref_forward_rows(r, sp, start, n);
    ab_ref_prob1(r->loss, r->act[r->a.nlayers], r->K, n);
    for (int k = 0; k < r->K; k++)
      memcpy(prob + k * sp->n + start, r->loss + (size_t)k * n, n * sizeof(float));
  }
  return AB_OK;
}

static int ref_snapshot(ab_backend *be, const uint8_t *keep, ab_err *e) {
  (void)e;
  ref_impl *r = be->impl;
  for (int k = 0; k < r->K; k++)
    if (keep[k]) memcpy(r->best + k * r->P, r->params + k * r->P, r->P * sizeof(float));
  return AB_OK;
}

static int ref_restore(ab_backend *be, ab_err *e) {
  (void)e;
  ref_impl *r = be->impl;
  memcpy(r->params, r->best, (size_t)r->K * r->P * sizeof(float));
  return AB_OK;
}

static int ref_get_state(ab_backend *be, float *params, float *m, float *v, int64_t *t,
                         ab_err *e) {
  (void)e;
  ref_impl *r = be->impl;
  size_t bytes = (size_t)r->K * r->P * sizeof(float);
  if (params) memcpy(params, r->params, bytes);
  if (m) memcpy(m, r->m, bytes);
  if (v) memcpy(v, r->v, bytes);
  if (t) *t = r->t;
  return AB_OK;
}

static int ref_set_state(ab_backend *be, const float *params, const float *m, const float *v,
                         int64_t t, ab_err *e) {
  (void)e;
  ref_impl *r = be->impl;
  size_t bytes = (size_t)r->K * r->P * sizeof(float);
  memcpy(r->params, params, bytes);
  memcpy(r->m, m, bytes);
  memcpy(r->v, v, bytes);
  r->t = t;
  return AB_OK;
}

static void ref_destroy(ab_backend *be) {
  ref_impl *r = be->impl;
  if (r) ref_free_bufs(r);
  free(r);
  free(be);
}

static int ref_set_hyper(ab_backend *be, const ab_hyper *hyper, ab_err *e) {
  ref_impl *r = be->impl;
  if (!r->params) return ab_err_set(e, AB_EUSAGE, "reference backend: init_models first");
  for (int k = 0; k < r->K; k++) { r->lr[k] = hyper[k].lr; r->wd[k] = hyper[k].wd; }
  return AB_OK;
}

static const ab_backend_vt ref_vt = {
    ref_load_data, ref_init_models, ref_set_hyper, ref_train_epoch, ref_evaluate, ref_predict,
    ref_snapshot,  ref_restore,     ref_get_state,   ref_set_state, ref_destroy};

int ab_backend_ref_create(ab_backend **out, ab_err *e) {
  ab_backend *be = calloc(1, sizeof *be);
  ref_impl *r = calloc(1, sizeof *r);
  if (!be || !r) {
    free(be); free(r);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  be->vt = &ref_vt;
  be->impl = r;
  strcpy(be->name, "cpu-ref");
  *out = be;
  return AB_OK;
}

void ab_backend_free(ab_backend *be) {
  if (be) be->vt->destroy(be);
}
