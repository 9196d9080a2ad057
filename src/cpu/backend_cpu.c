/* The fast CPU backend: state, layout and the backend table. The parallel work is in
 * step.c. All buffers and the threads are set up in init_models; nothing is allocated
 * per batch or per evaluation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "impl.h"

static int round8(int n) { return (n + 7) / 8 * 8; }

/* Zeroed floats, 64-byte aligned. */
static float *falloc(size_t n) {
  size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  float *f = aligned_alloc(64, bytes ? bytes : 64);
  if (f) memset(f, 0, bytes);
  return f;
}

static void free_bufs(cpu_impl *r) {
  float **f[] = {&r->p, &r->m, &r->v, &r->best, &r->wt, &r->lr, &r->wd, &r->loss, &r->erow};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) { free(*f[i]); *f[i] = NULL; }
  for (int l = 0; l <= AB_MAX_LAYERS; l++) {
    free(r->act[l]); free(r->eact[l]);
    r->act[l] = r->eact[l] = NULL;
    if (l < AB_MAX_LAYERS) { free(r->dz[l]); r->dz[l] = NULL; }
  }
  free(r->adam); free(r->lab); free(r->ecorrect); free(r->units); free(r->ubeg);
  r->adam = NULL; r->lab = NULL; r->ecorrect = NULL; r->units = NULL; r->ubeg = NULL;
}

static void plan_layout(cpu_impl *r) {
  size_t off = 0, wt = 0;
  for (int l = 0; l < r->L; l++) {
    cpu_layer *ly = &r->lay[l];
    ly->in = r->a.dims[l];
    ly->out = r->a.dims[l + 1];
    ly->act = r->a.act[l];
    ly->ldw = round8(ly->out);
    ly->ldwt = round8(ly->in);
    ly->w_off = off;
    ly->wt_off = wt;
    off += (size_t)(ly->in + 1) * ly->ldw;
    if (l > 0) wt += (size_t)ly->out * ly->ldwt;
  }
  r->PP = off;
  r->WTN = wt ? wt : 1;
  for (int l = 0; l <= r->L; l++) r->ld[l] = round8(r->a.dims[l]);
}

static double unit_cost(const cpu_impl *r, const cpu_unit *u) {
  const cpu_layer *ly = &r->lay[u->l];
  return (double)(u->c1 - u->c0) * (ly->ldw * (double)r->B + ly->out);
}

/* Units of every model and layer, and each thread's contiguous run of about equal cost. */
static int plan_units(cpu_impl *r) {
  int n = 0;
  for (int l = 0; l < r->L; l++) n += (r->lay[l].in + CPU_UNIT_ROWS - 1) / CPU_UNIT_ROWS + 1;
  r->units = malloc((size_t)n * r->K * sizeof *r->units);
  r->ubeg = malloc((size_t)(r->T + 1) * sizeof *r->ubeg);
  if (!r->units || !r->ubeg) return 0;
  r->nunits = 0;
  for (int k = 0; k < r->K; k++)
    for (int l = r->L - 1; l >= 0; l--) {
      int in = r->lay[l].in;
      for (int c = 0; c < in; c += CPU_UNIT_ROWS) {
        int end = c + CPU_UNIT_ROWS < in ? c + CPU_UNIT_ROWS : in;
        r->units[r->nunits++] = (cpu_unit){k, l, c, end};
      }
      r->units[r->nunits++] = (cpu_unit){k, l, in, in + 1}; /* the bias row */
    }
  double total = 0;
  for (int i = 0; i < r->nunits; i++) total += unit_cost(r, &r->units[i]);
  double done = 0;
  int t = 0;
  r->ubeg[0] = 0;
  for (int i = 0; i < r->nunits; i++) {
    double mid = done + unit_cost(r, &r->units[i]) / 2;
    while (t + 1 < r->T && mid >= total * (t + 1) / r->T) r->ubeg[++t] = i;
    done += unit_cost(r, &r->units[i]);
  }
  while (t < r->T) r->ubeg[++t] = r->nunits;
  return 1;
}

/* Per-row evaluation losses need the split sizes: (re)made when data or models change. */
static int alloc_eval_rows(cpu_impl *r) {
  free(r->erow);
  r->erow = NULL;
  if (!r->s || !r->K) return 1;
  size_t n = r->s->train.n;
  if (r->s->val.n > n) n = r->s->val.n;
  if (r->s->test.n > n) n = r->s->test.n;
  r->nmax = n;
  r->erow = falloc((size_t)r->K * (n ? n : 1));
  return r->erow != NULL;
}

static int alloc_bufs(cpu_impl *r) {
  size_t kp = (size_t)r->K * r->PP, kb = (size_t)r->K * r->B;
  r->p = falloc(kp); r->m = falloc(kp); r->v = falloc(kp); r->best = falloc(kp);
  r->wt = falloc((size_t)r->K * r->WTN);
  r->lr = falloc(r->K); r->wd = falloc(r->K); r->loss = falloc(kb);
  r->adam = calloc((size_t)r->K, sizeof *r->adam);
  r->lab = calloc(kb, sizeof *r->lab);
  r->ecorrect = calloc((size_t)r->T * r->K, sizeof *r->ecorrect);
  int ok = r->p && r->m && r->v && r->best && r->wt && r->lr && r->wd && r->loss && r->adam &&
           r->lab && r->ecorrect;
  for (int l = 0; l <= r->L; l++) {
    r->act[l] = falloc(kb * r->ld[l]);
    ok = ok && r->act[l];
    if (l > 0) { /* evaluation reads layer 0 straight from the split */
      r->eact[l] = falloc((size_t)r->T * CPU_EVAL_ROWS * r->ld[l]);
      ok = ok && r->eact[l];
    }
    if (l < r->L) { r->dz[l] = falloc(kb * r->ld[l + 1]); ok = ok && r->dz[l]; }
  }
  return ok && plan_units(r) && alloc_eval_rows(r);
}

/* Flat [P] <-> padded [PP] parameters of one model. */
static void pad_params(const cpu_impl *r, float *dst, const float *src) {
  for (int l = 0; l < r->L; l++) {
    const cpu_layer *ly = &r->lay[l];
    const float *s = src + ab_arch_w_off(&r->a, l);
    for (int i = 0; i <= ly->in; i++)
      memcpy(dst + ly->w_off + (size_t)i * ly->ldw, s + (size_t)i * ly->out,
             (size_t)ly->out * sizeof(float));
  }
}

static void unpad_params(const cpu_impl *r, float *dst, const float *src) {
  for (int l = 0; l < r->L; l++) {
    const cpu_layer *ly = &r->lay[l];
    float *d = dst + ab_arch_w_off(&r->a, l);
    for (int i = 0; i <= ly->in; i++)
      memcpy(d + (size_t)i * ly->out, src + ly->w_off + (size_t)i * ly->ldw,
             (size_t)ly->out * sizeof(float));
  }
}

static int cpu_load_data(ab_backend *be, const ab_splits *s, ab_err *e) {
  cpu_impl *r = be->impl;
  r->s = s;
  if (!alloc_eval_rows(r)) return ab_err_set(e, AB_ENOMEM, "out of memory for evaluation");
  return AB_OK;
}

static int cpu_init_models(ab_backend *be, const ab_arch *a, int K, int batch,
                           const float *params, const ab_hyper *hyper, ab_err *e) {
  cpu_impl *r = be->impl;
  if (K < 1 || batch < 1) return ab_err_set(e, AB_EUSAGE, "need K >= 1 and batch >= 1");
  free_bufs(r);
  r->a = *a; r->K = K; r->B = batch; r->L = a->nlayers; r->t = 0;
  r->P = ab_arch_nparams(a);
  plan_layout(r);
  if (!r->pool) {
    int rc = cpu_pool_create(&r->pool, r->T, e);
    if (rc) return rc;
  }
  if (!alloc_bufs(r)) {
    free_bufs(r);
    r->K = 0;
    return ab_err_set(e, AB_ENOMEM, "out of memory for %d models", K);
  }
  for (int k = 0; k < K; k++) {
    pad_params(r, r->p + k * r->PP, params + k * r->P);
    cpu_refresh_wt(r, k);
    r->lr[k] = hyper[k].lr;
    r->wd[k] = hyper[k].wd;
  }
  memcpy(r->best, r->p, (size_t)K * r->PP * sizeof(float));
  return AB_OK;
}

static int check_ready(const cpu_impl *r, ab_err *e) {
  if (!r->K) return ab_err_set(e, AB_EUSAGE, "cpu backend: init_models was not called");
  if (!r->s) return ab_err_set(e, AB_EUSAGE, "cpu backend: load_data was not called");
  return AB_OK;
}

static int cpu_train_epoch(ab_backend *be, const int32_t *order, int nbatches,
                           double *loss_sum, ab_err *e) {
  cpu_impl *r = be->impl;
  int rc = check_ready(r, e);
  if (rc) return rc;
  for (int k = 0; k < r->K; k++) loss_sum[k] = 0.0;
  r->job = (cpu_job){order, nbatches, loss_sum, NULL, NULL};
  cpu_pool_run(r->pool, cpu_train_job, r);
  r->t += nbatches;
  return AB_OK;
}

static const ab_split *pick_split(const cpu_impl *r, ab_split_id id) {
  return id == AB_SPLIT_TRAIN ? &r->s->train : id == AB_SPLIT_VAL ? &r->s->val : &r->s->test;
}

static int cpu_evaluate(ab_backend *be, ab_split_id id, double *loss_sum, int64_t *correct,
                        ab_err *e) {
  cpu_impl *r = be->impl;
  int rc = check_ready(r, e);
  if (rc) return rc;
  const ab_split *sp = pick_split(r, id);
  r->job = (cpu_job){NULL, 0, NULL, sp, NULL};
  cpu_pool_run(r->pool, cpu_eval_job, r);
  for (int k = 0; k < r->K; k++) {
    double s = 0.0;
    const float *row = r->erow + (size_t)k * r->nmax;
    for (size_t i = 0; i < sp->n; i++) s += (double)row[i];
    loss_sum[k] = s;
    correct[k] = 0;
    for (int t = 0; t < r->T; t++) correct[k] += r->ecorrect[(size_t)t * r->K + k];
  }
  return AB_OK;
}

static int cpu_predict(ab_backend *be, ab_split_id id, float *prob, ab_err *e) {
  cpu_impl *r = be->impl;
  int rc = check_ready(r, e);
  if (rc) return rc;
  r->job = (cpu_job){NULL, 0, NULL, pick_split(r, id), prob};
  cpu_pool_run(r->pool, cpu_eval_job, r);
  return AB_OK;
}

static int cpu_snapshot(ab_backend *be, const uint8_t *keep, ab_err *e) {
  (void)e;
  cpu_impl *r = be->impl;
  for (int k = 0; k < r->K; k++)
    if (keep[k]) memcpy(r->best + k * r->PP, r->p + k * r->PP, r->PP * sizeof(float));
  return AB_OK;
}

static int cpu_restore(ab_backend *be, ab_err *e) {
  (void)e;
  cpu_impl *r = be->impl;
  memcpy(r->p, r->best, (size_t)r->K * r->PP * sizeof(float));
  for (int k = 0; k < r->K; k++) cpu_refresh_wt(r, k);
  return AB_OK;
}

static int cpu_get_state(ab_backend *be, float *params, float *m, float *v, int64_t *t,
                         ab_err *e) {
  (void)e;
  cpu_impl *r = be->impl;
  for (int k = 0; k < r->K; k++) {
    if (params) unpad_params(r, params + k * r->P, r->p + k * r->PP);
    if (m) unpad_params(r, m + k * r->P, r->m + k * r->PP);
    if (v) unpad_params(r, v + k * r->P, r->v + k * r->PP);
  }
  if (t) *t = r->t;
  return AB_OK;
}

static int cpu_set_state(ab_backend *be, const float *params, const float *m, const float *v,
                         int64_t t, ab_err *e) {
  (void)e;
  cpu_impl *r = be->impl;
  for (int k = 0; k < r->K; k++) {
    pad_params(r, r->p + k * r->PP, params + k * r->P);
    pad_params(r, r->m + k * r->PP, m + k * r->P);
    pad_params(r, r->v + k * r->PP, v + k * r->P);
    cpu_refresh_wt(r, k);
  }
  r->t = t;
  return AB_OK;
}

static void cpu_destroy(ab_backend *be) {
  cpu_impl *r = be->impl;
  if (r) {
    free_bufs(r);
    cpu_pool_free(r->pool);
  }
  free(r);
  free(be);
}

static int cpu_set_hyper(ab_backend *be, const ab_hyper *hyper, ab_err *e) {
  cpu_impl *r = be->impl;
  if (!r->p) return ab_err_set(e, AB_EUSAGE, "cpu backend: init_models first");
  for (int k = 0; k < r->K; k++) { r->lr[k] = hyper[k].lr; r->wd[k] = hyper[k].wd; }
  return AB_OK;
}

static const ab_backend_vt cpu_vt = {
    cpu_load_data, cpu_init_models, cpu_set_hyper, cpu_train_epoch, cpu_evaluate,  cpu_predict,
    cpu_snapshot,  cpu_restore,     cpu_get_state,   cpu_set_state, cpu_destroy};

int ab_backend_cpu_create(ab_backend **out, const ab_cpu_opts *o, ab_err *e) {
  ab_cpu_opts opts = o ? *o : (ab_cpu_opts){0, AB_CPU_ISA_AUTO};
  ab_cpu_isa isa = ab_cpu_isa_resolve(opts.isa);
  if (opts.isa != AB_CPU_ISA_AUTO && isa != opts.isa)
    return ab_err_set(e, AB_EUSAGE, "this CPU cannot run the %s kernels",
                      ab_cpu_isa_name(opts.isa));
  ab_backend *be = calloc(1, sizeof *be);
  cpu_impl *r = calloc(1, sizeof *r);
  if (!be || !r) {
    free(be); free(r);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  r->o = opts;
  r->T = opts.threads > 0 ? opts.threads : ab_cpu_count();
  r->kt = cpu_kern_get(isa);
  be->vt = &cpu_vt;
  be->impl = r;
  snprintf(be->name, sizeof be->name, "cpu (%s, %d thread%s)", ab_cpu_isa_name(isa), r->T,
           r->T == 1 ? "" : "s");
  *out = be;
  return AB_OK;
}
