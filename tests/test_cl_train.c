/* The OpenCL backend against the reference backend: training parity through ab_train
 * (5 epochs, 2,000 rows, both GEMM paths), every vtable operation with K = 3 models,
 * and the CLI's device listing and selection, all on the per-op path (the fused paths
 * are tested in test_cl_fused.c). Margins from tolerance.h. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/cl.h"
#include "abgpu/prep.h"
#include "abgpu/rng.h"
#include "abgpu/train.h"
#include "testutil.h"
#include "tolerance.h"

#define NROWS 2000

static ab_backend *open_cl(int dev, ab_cl_gemm gemm, const ab_splits *s) {
  ab_backend *be;
  ab_err e;
  ab_cl_opts o = {gemm, 0, 0, NULL, NULL};
  cr_assert_eq(ab_backend_cl_create(&be, dev, &o, &e), 0, "%s", e.msg);
  ab_cl_fused_opts per_op = {AB_CL_FUSED_OFF, 0, 0, 0}; /* the fused paths: test_cl_fused.c */
  cr_assert_eq(ab_backend_cl_set_fused(be, &per_op, &e), 0, "%s", e.msg);
  cr_assert_eq(be->vt->load_data(be, s, &e), 0, "%s", e.msg);
  return be;
}

/* ab_train on the device and on the reference: same seed, 5 epochs, no early stop. */
static void train_parity(ab_cl_gemm gemm) {
  int dev = tu_cl_device_or_skip("OpenCL training tests");
  ab_splits s;
  tu_learnable_splits(&s, NROWS);
  ab_backend *bd = open_cl(dev, gemm, &s), *br = tu_open_ref(&s);
  tu_train_parity("cl_train", bd->name, bd, br, &s);
  ab_backend_free(bd);
  ab_backend_free(br);
  ab_splits_free(&s);
}

Test(cl_train, parity_own_kernels) { train_parity(AB_CL_GEMM_OWN); }

Test(cl_train, parity_clblast) {
  if (!ab_cl_have_clblast()) cr_skip_test("this build has no CLBlast");
  train_parity(AB_CL_GEMM_CLBLAST);
}

/* ---- every vtable operation, K = 3 models with their own hyperparameters ---- */

enum { KM = 3, BATCH = 50 };

typedef struct pair {
  ab_backend *d, *r;
  ab_arch a;
  size_t P;
  int nb;
  int32_t *order;
} pair;

static void pair_init(pair *p, int dev, ab_cl_gemm gemm, const ab_splits *s) {
  ab_err e;
  cr_assert_eq(ab_arch_parse(&p->a, AB_NFEAT, "20,7", "tanh,sigmoid", &e), 0, "%s", e.msg);
  p->P = ab_arch_nparams(&p->a);
  p->d = open_cl(dev, gemm, s);
  p->r = tu_open_ref(s);
  p->nb = (int)(s->train.n / BATCH);
  p->order = malloc((size_t)KM * p->nb * BATCH * sizeof(int32_t));
  float *params = malloc(KM * p->P * sizeof(float));
  for (int k = 0; k < KM; k++) ab_init_params(params + k * p->P, &p->a, 10 + k);
  ab_hyper hp[KM] = {{1e-3f, 0.0f}, {3e-3f, 0.01f}, {1e-2f, 0.0f}};
  cr_assert_eq(p->d->vt->init_models(p->d, &p->a, KM, BATCH, params, hp, &e), 0, "%s", e.msg);
  cr_assert_eq(p->r->vt->init_models(p->r, &p->a, KM, BATCH, params, hp, &e), 0, "%s", e.msg);
  free(params);
}

static void pair_free(pair *p) {
  ab_backend_free(p->d);
  ab_backend_free(p->r);
  free(p->order);
}

/* One epoch with a fresh order per model on both; loss sums compared. */
static void pair_epoch(pair *p, ab_rng *r, size_t ntrain, int epoch) {
  uint32_t *perm = malloc(ntrain * sizeof(uint32_t));
  for (int k = 0; k < KM; k++) {
    for (uint32_t i = 0; i < ntrain; i++) perm[i] = i;
    ab_rng_shuffle_u32(r, perm, (uint32_t)ntrain);
    for (int i = 0; i < p->nb * BATCH; i++) p->order[k * p->nb * BATCH + i] = (int32_t)perm[i];
  }
  free(perm);
  double ld[KM], lr[KM];
  ab_err e;
  cr_assert_eq(p->d->vt->train_epoch(p->d, p->order, p->nb, ld, &e), 0, "%s", e.msg);
  cr_assert_eq(p->r->vt->train_epoch(p->r, p->order, p->nb, lr, &e), 0, "%s", e.msg);
  for (int k = 0; k < KM; k++)
    tu_expect_loss("cl_train", "K=3 train loss sum", epoch, ld[k], lr[k]);
}

static void pair_evaluate(pair *p, const ab_splits *s, int epoch) {
  const size_t n[3] = {s->train.n, s->val.n, s->test.n};
  for (int id = 0; id < 3; id++) {
    double ld[KM], lr[KM];
    int64_t cd[KM], cref[KM];
    ab_err e;
    cr_assert_eq(p->d->vt->evaluate(p->d, (ab_split_id)id, ld, cd, &e), 0, "%s", e.msg);
    cr_assert_eq(p->r->vt->evaluate(p->r, (ab_split_id)id, lr, cref, &e), 0, "%s", e.msg);
    for (int k = 0; k < KM; k++) {
      tu_expect_loss("cl_train", "K=3 evaluate loss sum", epoch, ld[k], lr[k]);
      int64_t allowed = (int64_t)(n[id] * AB_TOL_PRED_FLIPS_PER_1000 / 1000);
      cr_expect(llabs(cd[k] - cref[k]) <= allowed, "split %d model %d: correct %lld vs %lld",
                id, k, (long long)cd[k], (long long)cref[k]);
    }
  }
}

/* Relative L2 distance of two [K][P] state arrays. */
static double state_diff(const float *a, const float *b, size_t n) {
  double d = 0, w = 0;
  for (size_t i = 0; i < n; i++) {
    d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    w += (double)b[i] * b[i];
  }
  return sqrt(d / fmax(w, 1e-300));
}

static void expect_same_state(pair *p, const char *when) {
  size_t n = KM * p->P;
  float *pd = malloc(3 * n * sizeof(float)), *pr = malloc(3 * n * sizeof(float));
  int64_t td, tr;
  ab_err e;
  cr_assert_eq(p->d->vt->get_state(p->d, pd, pd + n, pd + 2 * n, &td, &e), 0, "%s", e.msg);
  cr_assert_eq(p->r->vt->get_state(p->r, pr, pr + n, pr + 2 * n, &tr, &e), 0, "%s", e.msg);
  cr_expect_eq(td, tr, "%s: step counts %lld vs %lld", when, (long long)td, (long long)tr);
  static const char *const names[3] = {"params", "Adam m", "Adam v"};
  for (int q = 0; q < 3; q++) {
    double d = state_diff(pd + q * n, pr + q * n, n);
    cr_expect(d <= AB_TOL_TRAIN_LOSS_REL, "%s: %s differ by %.3g (relative L2)", when,
              names[q], d);
  }
  free(pd);
  free(pr);
}

static void vtable_parity(ab_cl_gemm gemm) {
  int dev = tu_cl_device_or_skip("OpenCL training tests");
  ab_splits s;
  tu_learnable_splits(&s, NROWS);
  pair p;
  pair_init(&p, dev, gemm, &s);
  ab_rng r;
  ab_rng_seed(&r, 99, 4);
  pair_epoch(&p, &r, s.train.n, 1);
  pair_evaluate(&p, &s, 1);
  uint8_t keep[KM] = {1, 0, 1};
  ab_err e;
  cr_assert_eq(p.d->vt->snapshot(p.d, keep, &e), 0, "%s", e.msg);
  cr_assert_eq(p.r->vt->snapshot(p.r, keep, &e), 0, "%s", e.msg);
  pair_epoch(&p, &r, s.train.n, 2);
  expect_same_state(&p, "after epoch 2");
  cr_assert_eq(p.d->vt->restore(p.d, &e), 0, "%s", e.msg);
  cr_assert_eq(p.r->vt->restore(p.r, &e), 0, "%s", e.msg);
  pair_evaluate(&p, &s, 2);
  tu_expect_predictions(p.d->name, p.d, p.r, &s, KM);
  /* resume: the reference's full state into the device, one more epoch on both */
  size_t n = KM * p.P;
  float *st = malloc(3 * n * sizeof(float));
  int64_t t;
  cr_assert_eq(p.r->vt->get_state(p.r, st, st + n, st + 2 * n, &t, &e), 0, "%s", e.msg);
  cr_assert_eq(p.d->vt->set_state(p.d, st, st + n, st + 2 * n, t, &e), 0, "%s", e.msg);
  expect_same_state(&p, "after set_state");
  pair_epoch(&p, &r, s.train.n, 3);
  expect_same_state(&p, "after epoch 3");
  free(st);
  pair_free(&p);
  ab_splits_free(&s);
}

Test(cl_train, vtable_k3_own_kernels) { vtable_parity(AB_CL_GEMM_OWN); }

Test(cl_train, vtable_k3_clblast) {
  if (!ab_cl_have_clblast()) cr_skip_test("this build has no CLBlast");
  vtable_parity(AB_CL_GEMM_CLBLAST);
}

/* ---- CLI ---- */

Test(cl_train, cli_devices_lists_a_device) {
  tu_cl_device_or_skip("OpenCL training tests");
  tu_run r;
  tu_sh(&r, "%s devices", ABGPU_BIN);
  cr_assert_eq(r.status, 0, "abgpu devices exited %d:\n%s", r.status, r.out);
  cr_expect(strstr(r.out, "\ncpu "), "the cpu backend must be listed:\n%s", r.out);
  cr_expect(strstr(r.out, "\n0 "), "device 0 must be listed:\n%s", r.out);
}

Test(cl_train, cli_missing_device_exits_2_with_list) {
  tu_cl_device_or_skip("OpenCL training tests");
  tu_run r;
  tu_sh(&r, "%s train --data synth:300 --device 99 --epochs 1", ABGPU_BIN);
  cr_assert_eq(r.status, 2, "--device 99 must exit 2, got %d:\n%s", r.status, r.out);
  cr_expect(strstr(r.out, "no such OpenCL device"), "the error must say why:\n%s", r.out);
  cr_expect(strstr(r.out, "\ncpu "), "the device list must be printed:\n%s", r.out);
  cr_expect(strstr(r.out, "\n0 "), "the device list must show device 0:\n%s", r.out);
}

Test(cl_train, cli_no_platform_says_so) {
  char empty[600];
  snprintf(empty, sizeof empty, "%s/no-icd", tu_tmpdir());
  tu_run r;
  tu_sh(&r, "mkdir -p %s && OCL_ICD_VENDORS=%s %s devices", empty, empty, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "abgpu devices without a platform must exit 0:\n%s", r.out);
  cr_expect(strstr(r.out, "no OpenCL platform found; use --device cpu"), "%s", r.out);
  cr_expect(strstr(r.out, "\ncpu "), "cpu must still be listed:\n%s", r.out);
  tu_sh(&r, "OCL_ICD_VENDORS=%s %s train --data synth:300 --device 0 --epochs 1", empty,
        ABGPU_BIN);
  cr_expect_eq(r.status, 2, "--device 0 without a platform must exit 2:\n%s", r.out);
  cr_expect(strstr(r.out, "--device cpu"), "the error must suggest --device cpu:\n%s", r.out);
}
