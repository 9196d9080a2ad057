/* The fused OpenCL paths (kernels/fused.cl) against the reference backend: each path
 * forced in turn (fused-step, fused-epoch, and fused-epoch with a GPU-sized local memory
 * budget so that a batch runs in several row tiles), K = 1 through ab_train and K = 3
 * through every vtable operation; the automatic choice, its fallbacks and its report.
 * Margins from tolerance.h. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
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
#define GPU_LOCAL (48 * 1024) /* a GPU-sized local memory budget */

/* A variant under test: the fused options, the vector width (0: the device's) and the
 * path that must be chosen. */
typedef struct variant {
  const char *name;
  ab_cl_fused_opts o;
  int vec;
  ab_cl_fused expect;
} variant;

#define EP AB_CL_FUSED_EPOCH
static const variant STEP = {"fused-step", {AB_CL_FUSED_STEP, 0, 0, 0}, 0, AB_CL_FUSED_STEP};
static const variant EPOCH = {"fused-epoch", {EP, 0, 0, 0}, 0, EP};
static const variant TILED = {"fused-epoch, 48 KB local", {EP, GPU_LOCAL, 0, 0}, 0, EP};
static const variant TILED8 = {"fused-epoch, 8 KB local", {EP, 8192, 0, 0}, 0, EP};
/* auto with launches of at most 1,110 rows: 10 batches of 37 for 3 models per launch */
static const variant SEGMENTS = {"fused-epoch in launches of 10 batches",
                                 {AB_CL_FUSED_AUTO, 0, 0, 1110}, 0, EP};
/* what a GPU runs: scalar lanes, 64 work-items per group, 48 KB of local memory */
static const variant GPU = {"fused-epoch, GPU shape", {EP, GPU_LOCAL, 64, 0}, 1, EP};
static const variant GPU8 = {"fused-epoch, GPU shape, 8 KB", {EP, 8192, 64, 0}, 1, EP};
static const variant GPU_STEP = {"fused-step, GPU shape", {AB_CL_FUSED_STEP, 8192, 32, 0}, 1,
                                 AB_CL_FUSED_STEP};
static const variant PEROP = {"per-op", {AB_CL_FUSED_OFF, 0, 0, 0}, 0, AB_CL_FUSED_OFF};

/* Captures the backend's log lines. */
static char logbuf[8192];
static void log_capture(void *user, const char *text) {
  (void)user;
  size_t n = strlen(logbuf);
  snprintf(logbuf + n, sizeof logbuf - n, "%s\n", text);
}

static ab_backend *open_cl(int dev, const variant *v, const ab_splits *s) {
  ab_backend *be;
  ab_err e;
  ab_cl_opts o = {AB_CL_GEMM_OWN, 1, v ? v->vec : 0, log_capture, NULL};
  cr_assert_eq(ab_backend_cl_create(&be, dev, &o, &e), 0, "%s", e.msg);
  if (v) cr_assert_eq(ab_backend_cl_set_fused(be, &v->o, &e), 0, "%s", e.msg);
  cr_assert_eq(be->vt->load_data(be, s, &e), 0, "%s", e.msg);
  return be;
}

/* The path the backend chose must be v's; returns the rows per tile it reports. */
static int expect_path(ab_backend *be, const variant *v) {
  const char *why;
  ab_cl_fused got = ab_cl_backend_path(be, &why);
  cr_assert_eq(got, v->expect, "%s: expected path %s, got %s (%s)", v->name,
               ab_cl_fused_name(v->expect), ab_cl_fused_name(got), why);
  int rt = 0, b = 0;
  if (v->expect == AB_CL_FUSED_OFF) return 0;
  if (v->o.launch_rows)
    cr_assert(strstr(why, "5 launches per epoch (10 batches each)"), "%s: %s", v->name, why);
  const char *p = strstr(why, "row tile ");
  cr_assert(p && sscanf(p, "row tile %d of %d", &rt, &b) == 2, "no row tile in: %s", why);
  if (v->o.local) cr_assert_lt(rt, b, "%s: a batch must take several row tiles: %s", v->name, why);
  return rt;
}

/* ---- K = 1 through ab_train: the seed net, 5 epochs, no early stop ---- */

static void train_parity(const variant *v) {
  int dev = tu_cl_device_or_skip("fused-path tests");
  ab_splits s;
  tu_learnable_splits(&s, NROWS);
  ab_backend *bd = open_cl(dev, v, &s), *br = tu_open_ref(&s);
  tu_train_parity(v->name, "K=1", bd, br, &s);
  expect_path(bd, v);
  ab_backend_free(bd);
  ab_backend_free(br);
  ab_splits_free(&s);
}

Test(cl_fused, train_parity_step) { train_parity(&STEP); }
Test(cl_fused, train_parity_epoch) { train_parity(&EPOCH); }
Test(cl_fused, train_parity_epoch_tiled) { train_parity(&TILED); }
Test(cl_fused, train_parity_epoch_gpu_shape) { train_parity(&GPU); }

/* ---- K = 3 models, every vtable operation, an awkward net and batch ---- */

enum { KM = 3, BATCH = 37 };

typedef struct pair {
  const variant *v;
  ab_backend *d, *r;
  size_t P;
  int nb;
  int32_t *order;
} pair;

static void pair_init(pair *p, const variant *v, int dev, const ab_splits *s) {
  ab_err e;
  ab_arch a;
  /* widths around the vector width, three hidden layers, every activation */
  cr_assert_eq(ab_arch_parse(&a, AB_NFEAT, "33,8,17", "tanh,relu,sigmoid", &e), 0, "%s", e.msg);
  p->v = v;
  p->P = ab_arch_nparams(&a);
  p->d = open_cl(dev, v, s);
  p->r = tu_open_ref(s);
  p->nb = (int)(s->train.n / BATCH);
  p->order = malloc((size_t)KM * p->nb * BATCH * sizeof(int32_t));
  float *params = malloc(KM * p->P * sizeof(float));
  for (int k = 0; k < KM; k++) ab_init_params(params + k * p->P, &a, 10 + k);
  ab_hyper hp[KM] = {{1e-3f, 0.0f}, {3e-3f, 0.01f}, {1e-2f, 0.0f}};
  cr_assert_eq(p->d->vt->init_models(p->d, &a, KM, BATCH, params, hp, &e), 0, "%s", e.msg);
  cr_assert_eq(p->r->vt->init_models(p->r, &a, KM, BATCH, params, hp, &e), 0, "%s", e.msg);
  expect_path(p->d, v);
  free(params);
}

static void pair_free(pair *p) {
  ab_backend_free(p->d);
  ab_backend_free(p->r);
  free(p->order);
}

/* nb batches (all when 0) with a fresh order per model on both; loss sums compared. */
static void pair_epoch(pair *p, ab_rng *r, size_t ntrain, int nb, int epoch) {
  uint32_t *perm = malloc(ntrain * sizeof(uint32_t));
  for (int k = 0; k < KM; k++) {
    for (uint32_t i = 0; i < ntrain; i++) perm[i] = i;
    ab_rng_shuffle_u32(r, perm, (uint32_t)ntrain);
    for (int i = 0; i < p->nb * BATCH; i++) p->order[k * p->nb * BATCH + i] = (int32_t)perm[i];
  }
  free(perm);
  if (nb > 0) /* the order's stride stays nb * BATCH: compact it */
    for (int k = 1; k < KM; k++)
      memmove(p->order + k * nb * BATCH, p->order + k * p->nb * BATCH,
              (size_t)nb * BATCH * sizeof(int32_t));
  double ld[KM], lr[KM];
  ab_err e;
  int n = nb > 0 ? nb : p->nb;
  cr_assert_eq(p->d->vt->train_epoch(p->d, p->order, n, ld, &e), 0, "%s", e.msg);
  cr_assert_eq(p->r->vt->train_epoch(p->r, p->order, n, lr, &e), 0, "%s", e.msg);
  for (int k = 0; k < KM; k++) tu_expect_loss(p->v->name, "K=3 train loss sum", epoch, ld[k], lr[k]);
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
      tu_expect_loss(p->v->name, "K=3 evaluate loss sum", epoch, ld[k], lr[k]);
      int64_t allowed = (int64_t)(n[id] * AB_TOL_PRED_FLIPS_PER_1000 / 1000);
      cr_expect(llabs(cd[k] - cref[k]) <= allowed, "%s: split %d model %d: correct %lld vs "
                "%lld", p->v->name, id, k, (long long)cd[k], (long long)cref[k]);
    }
  }
}

/* Compares [K][P] state arrays element by element: prints the worst elements (index,
 * both values) and the count of bit-identical ones; the relative L2 distance must be
 * within AB_TOL_TRAIN_LOSS_REL. */
static void expect_close_state(const pair *p, const char *what, const char *when,
                               const float *got, const float *want, size_t n) {
  double d = 0, w = 0, max_abs = 0, max_rel = 0;
  size_t same = 0, worst = 0;
  for (size_t i = 0; i < n; i++) {
    double diff = fabs((double)got[i] - want[i]);
    d += diff * diff;
    w += (double)want[i] * want[i];
    same += memcmp(&got[i], &want[i], sizeof(float)) == 0;
    if (diff > max_abs) { max_abs = diff; worst = i; }
    if (want[i] != 0 && diff / fabs(want[i]) > max_rel) max_rel = diff / fabs(want[i]);
  }
  double rel = sqrt(d / fmax(w, 1e-300));
  fprintf(stderr, "cl_fused %s K=3 %s %s: %zu of %zu bit-identical, max |err| %.3g, max rel "
          "err %.3g, relative L2 %.3g\n", p->v->name, what, when, same, n, max_abs, max_rel,
          rel);
  if (rel <= AB_TOL_TRAIN_LOSS_REL) return;
  fprintf(stderr, "  worst: model %zu param %zu: device %.9g, reference %.9g\n",
          worst / p->P, worst % p->P, got[worst], want[worst]);
  cr_expect_fail("%s: %s %s differ from the reference by %.3g (relative L2) > %.3g; max "
                 "|err| %.3g at model %zu param %zu (device %.9g, reference %.9g)", p->v->name,
                 what, when, rel, AB_TOL_TRAIN_LOSS_REL, max_abs, worst / p->P, worst % p->P,
                 got[worst], want[worst]);
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
  for (int q = 0; q < 3; q++) expect_close_state(p, names[q], when, pd + q * n, pr + q * n, n);
  free(pd);
  free(pr);
}

static void vtable_parity(const variant *v) {
  int dev = tu_cl_device_or_skip("fused-path tests");
  ab_splits s;
  tu_learnable_splits(&s, NROWS);
  pair p;
  pair_init(&p, v, dev, &s);
  ab_rng r;
  ab_rng_seed(&r, 99, 4);
  pair_epoch(&p, &r, s.train.n, 1, 1); /* one step: the closest comparison */
  expect_same_state(&p, "after 1 step");
  pair_epoch(&p, &r, s.train.n, 0, 1);
  pair_evaluate(&p, &s, 1);
  uint8_t keep[KM] = {1, 0, 1};
  ab_err e;
  cr_assert_eq(p.d->vt->snapshot(p.d, keep, &e), 0, "%s", e.msg);
  cr_assert_eq(p.r->vt->snapshot(p.r, keep, &e), 0, "%s", e.msg);
  pair_epoch(&p, &r, s.train.n, 0, 2);
  expect_same_state(&p, "after epoch 2");
  cr_assert_eq(p.d->vt->restore(p.d, &e), 0, "%s", e.msg);
  cr_assert_eq(p.r->vt->restore(p.r, &e), 0, "%s", e.msg);
  pair_evaluate(&p, &s, 2);
  tu_expect_predictions(v->name, p.d, p.r, &s, KM);
  size_t n = KM * p.P; /* resume: the reference's state into the device, one more epoch */
  float *st = malloc(3 * n * sizeof(float));
  int64_t t;
  cr_assert_eq(p.r->vt->get_state(p.r, st, st + n, st + 2 * n, &t, &e), 0, "%s", e.msg);
  cr_assert_eq(p.d->vt->set_state(p.d, st, st + n, st + 2 * n, t, &e), 0, "%s", e.msg);
  pair_epoch(&p, &r, s.train.n, 0, 3);
  expect_same_state(&p, "after epoch 3");
  free(st);
  pair_free(&p);
  ab_splits_free(&s);
}

Test(cl_fused, vtable_k3_step) { vtable_parity(&STEP); }
Test(cl_fused, vtable_k3_epoch) { vtable_parity(&EPOCH); }
Test(cl_fused, vtable_k3_epoch_tiled) { vtable_parity(&TILED8); }
Test(cl_fused, vtable_k3_epoch_segments) { vtable_parity(&SEGMENTS); }
Test(cl_fused, vtable_k3_epoch_gpu_shape) { vtable_parity(&GPU8); }
Test(cl_fused, vtable_k3_step_gpu_shape) { vtable_parity(&GPU_STEP); }
Test(cl_fused, vtable_k3_per_op_control) { vtable_parity(&PEROP); }

/* ---- the fused paths against the per-op kernels on the same device: same sums in the
 * same order, same exp/log, so the same bits ---- */

static void run_two_epochs(ab_backend *be, const pair *p, const ab_splits *s, double *loss,
                           float *state) {
  ab_rng r;
  ab_rng_seed(&r, 7, 3);
  uint32_t *perm = malloc(s->train.n * sizeof(uint32_t));
  size_t per = (size_t)p->nb * BATCH, n = KM * p->P;
  ab_err e;
  for (int ep = 0; ep < 2; ep++) {
    for (int k = 0; k < KM; k++) {
      for (uint32_t i = 0; i < s->train.n; i++) perm[i] = i;
      ab_rng_shuffle_u32(&r, perm, (uint32_t)s->train.n);
      for (size_t i = 0; i < per; i++) p->order[k * per + i] = (int32_t)perm[i];
    }
    cr_assert_eq(be->vt->train_epoch(be, p->order, p->nb, loss + ep * KM, &e), 0, "%s", e.msg);
  }
  cr_assert_eq(be->vt->get_state(be, state, state + n, state + 2 * n, NULL, &e), 0, "%s",
               e.msg);
  free(perm);
}

static void expect_bits_as_per_op(const variant *v) {
  int dev = tu_cl_device_or_skip("fused-path tests");
  ab_splits s;
  tu_learnable_splits(&s, NROWS);
  pair a, b;
  pair_init(&a, &PEROP, dev, &s);
  pair_init(&b, v, dev, &s);
  size_t n = 3 * KM * a.P;
  float *sa = malloc(n * sizeof(float)), *sb = malloc(n * sizeof(float));
  double la[2 * KM], lb[2 * KM];
  run_two_epochs(a.d, &a, &s, la, sa);
  run_two_epochs(b.d, &b, &s, lb, sb);
  for (int i = 0; i < 2 * KM; i++)
    cr_expect_eq(la[i], lb[i], "%s: epoch %d model %d loss %.17g, per-op %.17g", v->name,
                 i / KM + 1, i % KM, lb[i], la[i]);
  size_t diff = 0, first = 0;
  for (size_t i = 0; i < n; i++)
    if (memcmp(&sa[i], &sb[i], sizeof(float)) && diff++ == 0) first = i;
  cr_expect_eq(diff, 0, "%s: %zu of %zu state floats (params, m, v) differ from the per-op "
               "path; first at %zu: %.9g vs per-op %.9g", v->name, diff, n, first, sb[first],
               sa[first]);
  free(sa);
  free(sb);
  pair_free(&a);
  pair_free(&b);
  ab_splits_free(&s);
}

Test(cl_fused, epoch_bit_identical_to_per_op) { expect_bits_as_per_op(&EPOCH); }
Test(cl_fused, tiled_bit_identical_to_per_op) { expect_bits_as_per_op(&TILED8); }

/* ---- the automatic choice, its fallbacks, its report ---- */

/* Sets up the seed net (K = 1, batch 100) and returns init_models' status. */
static int init_seed(ab_backend *be, ab_err *e) {
  ab_train_cfg cfg = ab_train_cfg_default();
  float *params = malloc(ab_arch_nparams(&cfg.arch) * sizeof(float));
  ab_init_params(params, &cfg.arch, 1);
  ab_hyper hp = {cfg.lr, cfg.wd};
  int rc = be->vt->init_models(be, &cfg.arch, 1, cfg.batch, params, &hp, e);
  free(params);
  return rc;
}

Test(cl_fused, auto_picks_epoch_and_says_why) {
  int dev = tu_cl_device_or_skip("fused-path tests");
  ab_splits s;
  tu_learnable_splits(&s, NROWS);
  logbuf[0] = '\0';
  ab_backend *be = open_cl(dev, NULL, &s);
  ab_err e;
  cr_assert_eq(init_seed(be, &e), 0, "%s", e.msg);
  const char *why;
  cr_expect_eq(ab_cl_backend_path(be, &why), AB_CL_FUSED_EPOCH, "auto chose: %s", why);
  cr_expect(strstr(logbuf, "opencl: training path fused-epoch: 1 launch per epoch"),
            "the verbose log must say which path and why:\n%s", logbuf);
  cr_log_info("auto: %s", why);
  ab_backend_free(be);
  ab_splits_free(&s);
}

Test(cl_fused, auto_falls_back_when_local_memory_is_short) {
  int dev = tu_cl_device_or_skip("fused-path tests");
  ab_splits s;
  tu_learnable_splits(&s, NROWS);
  ab_backend *be = open_cl(dev, NULL, &s);
  ab_err e;
  ab_cl_fused_opts fo = {AB_CL_FUSED_AUTO, 1024, 0, 0};
  cr_assert_eq(ab_backend_cl_set_fused(be, &fo, &e), 0, "%s", e.msg);
  cr_assert_eq(init_seed(be, &e), 0, "%s", e.msg);
  const char *why;
  cr_expect_eq(ab_cl_backend_path(be, &why), AB_CL_FUSED_OFF, "chose: %s", why);
  cr_expect(strstr(why, "per-op: the fused kernels do not fit: one row of activations needs"),
            "%s", why);
  fo.path = AB_CL_FUSED_EPOCH;
  cr_assert_eq(ab_backend_cl_set_fused(be, &fo, &e), 0, "%s", e.msg);
  cr_expect_eq(init_seed(be, &e), AB_EUSAGE, "a forced path that cannot run must fail");
  cr_expect(strstr(e.msg, "the fused-epoch path cannot run here"), "%s", e.msg);
  ab_backend_free(be);
  ab_splits_free(&s);
}

Test(cl_fused, off_and_clblast_run_per_op) {
  int dev = tu_cl_device_or_skip("fused-path tests");
  ab_splits s;
  tu_learnable_splits(&s, NROWS);
  ab_backend *be = open_cl(dev, NULL, &s);
  ab_err e;
  ab_cl_fused_opts fo = {AB_CL_FUSED_OFF, 0, 0, 0};
  cr_assert_eq(ab_backend_cl_set_fused(be, &fo, &e), 0, "%s", e.msg);
  cr_assert_eq(init_seed(be, &e), 0, "%s", e.msg);
  const char *why;
  cr_expect_eq(ab_cl_backend_path(be, &why), AB_CL_FUSED_OFF, "%s", why);
  ab_backend_free(be);
  if (ab_cl_have_clblast()) {
    ab_cl_opts o = {AB_CL_GEMM_CLBLAST, 0, 0, NULL, NULL};
    cr_assert_eq(ab_backend_cl_create(&be, dev, &o, &e), 0, "%s", e.msg);
    cr_assert_eq(be->vt->load_data(be, &s, &e), 0, "%s", e.msg);
    cr_assert_eq(init_seed(be, &e), 0, "%s", e.msg);
    cr_expect_eq(ab_cl_backend_path(be, &why), AB_CL_FUSED_OFF, "%s", why);
    cr_expect(strstr(why, "clblast"), "%s", why);
    ab_backend_free(be);
  }
  ab_splits_free(&s);
}

Test(cl_fused, env_selects_the_path) {
  int dev = tu_cl_device_or_skip("fused-path tests");
  ab_splits s;
  tu_learnable_splits(&s, NROWS);
  setenv("ABGPU_CL_FUSED", "step", 1); /* each test runs in its own process */
  ab_backend *be = open_cl(dev, NULL, &s);
  ab_err e;
  cr_assert_eq(init_seed(be, &e), 0, "%s", e.msg);
  const char *why;
  cr_expect_eq(ab_cl_backend_path(be, &why), AB_CL_FUSED_STEP, "%s", why);
  ab_backend_free(be);
  setenv("ABGPU_CL_FUSED", "fast", 1);
  ab_cl_opts o = {AB_CL_GEMM_OWN, 0, 0, NULL, NULL};
  cr_expect_eq(ab_backend_cl_create(&be, dev, &o, &e), AB_EUSAGE, "a bad value must fail");
  cr_expect(strstr(e.msg, "ABGPU_CL_FUSED=fast"), "%s", e.msg);
  ab_splits_free(&s);
}

Test(cl_fused, cli_verbose_reports_the_path) {
  tu_cl_device_or_skip("fused-path tests");
  tu_run r;
  tu_sh(&r, "%s train --data synth:1200 --device 0 --epochs 1 --verbose", ABGPU_BIN);
  cr_assert_eq(r.status, 0, "abgpu train exited %d:\n%s", r.status, r.out);
  cr_expect(strstr(r.out, "training path fused-epoch"), "--verbose must name the path:\n%s",
            r.out);
  tu_sh(&r, "ABGPU_CL_FUSED=off %s train --data synth:1200 --device 0 --epochs 1 --verbose",
        ABGPU_BIN);
  cr_assert_eq(r.status, 0, "abgpu train exited %d:\n%s", r.status, r.out);
  cr_expect(strstr(r.out, "training path per-op: the fused path is turned off"), "%s", r.out);
}
