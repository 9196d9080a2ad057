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
#include <sys/stat.h>
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
/* fused-epoch in launches of at most 1,110 rows: 10 batches of 37 for 3 models per
 * launch (asked, so that no timing decides the path: under load auto's measurement once
 * picked per-op here) */
static const variant SEGMENTS = {"fused-epoch in launches of 10 batches",
                                 {EP, 0, 0, 1110}, 0, EP};
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
  /* the ordered per-op kernels: the fused kernels' summation order on every device */
  ab_cl_opts o = {AB_CL_GEMM_OWN, 1, v ? v->vec : 0, log_capture, NULL, {0},
                  AB_CL_SPLIT_ORDERED};
  if (v) o.fused = v->o;
  cr_assert_eq(ab_backend_cl_create(&be, dev, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_load_data(be, s, &e), 0, "%s", e.msg);
  return be;
}

/* The path the backend's models train on, from ab_backend_path's words ("fused-epoch:
 * ..."); *why gets the words. */
static ab_cl_fused path_of(const ab_backend *be, const char **why) {
  *why = ab_backend_path(be);
  static const ab_cl_fused paths[] = {AB_CL_FUSED_EPOCH, AB_CL_FUSED_STEP, AB_CL_FUSED_OFF};
  for (int i = 0; i < 3; i++) {
    const char *name = ab_cl_fused_name(paths[i]);
    if (strncmp(*why, name, strlen(name)) == 0 && (*why)[strlen(name)] == ':') return paths[i];
  }
  cr_assert_fail("no OpenCL training path in \"%s\"", *why);
  return AB_CL_FUSED_AUTO;
}

/* The path the backend chose must be v's; returns the rows per tile it reports. */
static int expect_path(ab_backend *be, const variant *v) {
  const char *why;
  ab_cl_fused got = path_of(be, &why);
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

/* The device these tests run on (or the test skips), and the learnable splits in *s. */
static int device_and_splits(ab_splits *s) {
  int dev = tu_cl_device_or_skip("fused-path tests");
  tu_learnable_splits(s, NROWS);
  return dev;
}

/* ---- K = 1 through ab_train: the seed net, 5 epochs, no early stop ---- */

static void train_parity(const variant *v) {
  ab_splits s;
  int dev = device_and_splits(&s);
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

enum { KM = TU_PAIR_K, BATCH = 37 };

/* K = 3 models on the fused path of v and on the reference: widths around the vector
 * width, three hidden layers, every activation. */
static void pair_init(tu_pair *p, const variant *v, int dev, const ab_splits *s) {
  tu_pair_init(p, v->name, open_cl(dev, v, s), s, "33,8,17", "tanh,relu,sigmoid", BATCH);
  expect_path(p->d, v);
}

static void vtable_parity(const variant *v) {
  ab_splits s;
  int dev = device_and_splits(&s);
  tu_pair p;
  pair_init(&p, v, dev, &s);
  tu_pair_vtable_parity(&p, &s);
  tu_pair_free(&p);
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

static void run_two_epochs(ab_backend *be, const tu_pair *p, const ab_splits *s, double *loss,
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
    cr_assert_eq(ab_backend_train_epoch(be, p->order, p->nb, loss + ep * KM, &e), 0, "%s", e.msg);
  }
  cr_assert_eq(tu_get_state(be, state, state + n, state + 2 * n, NULL, &e), 0, "%s",
               e.msg);
  free(perm);
}

static void expect_bits_as_per_op(const variant *v) {
  ab_splits s;
  int dev = device_and_splits(&s);
  tu_pair a, b;
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
  tu_pair_free(&a);
  tu_pair_free(&b);
  ab_splits_free(&s);
}

Test(cl_fused, epoch_bit_identical_to_per_op) { expect_bits_as_per_op(&EPOCH); }
Test(cl_fused, tiled_bit_identical_to_per_op) { expect_bits_as_per_op(&TILED8); }

/* A model that stopped leaves the fused launch: its parameters and Adam state stay as
 * they were, its batch losses read 0, and the other models train bit for bit as they
 * do with every model active. */
Test(cl_fused, stopped_models_leave_the_launch) {
  ab_splits s;
  int dev = device_and_splits(&s);
  tu_pair a, b;
  pair_init(&a, &EPOCH, dev, &s);
  pair_init(&b, &EPOCH, dev, &s);
  size_t n = 3 * KM * a.P, P = a.P;
  float *sa = malloc(n * sizeof(float)), *sb = malloc(n * sizeof(float));
  float *s0 = malloc(n * sizeof(float));
  double la[2 * KM], lb[2 * KM];
  ab_err e;
  cr_assert_eq(tu_get_state(b.d, s0, s0 + n / 3, s0 + 2 * n / 3, NULL, &e), 0, "%s", e.msg);
  uint8_t active[KM];
  for (int k = 0; k < KM; k++) active[k] = k != 1;
  cr_assert_eq(ab_backend_set_active(b.d, active, &e), 0, "%s", e.msg);
  run_two_epochs(a.d, &a, &s, la, sa);
  run_two_epochs(b.d, &b, &s, lb, sb);
  for (int ep = 0; ep < 2; ep++)
    for (int k = 0; k < KM; k++)
      cr_expect_eq(lb[ep * KM + k], k == 1 ? 0.0 : la[ep * KM + k], "epoch %d model %d: %.17g",
                   ep + 1, k, lb[ep * KM + k]);
  for (int q = 0; q < 3; q++) /* params, m, v */
    for (int k = 0; k < KM; k++) {
      const float *want = (k == 1 ? s0 : sa) + (q * KM + k) * P, *got = sb + (q * KM + k) * P;
      cr_expect(memcmp(want, got, P * sizeof(float)) == 0, "state %d of model %d %s", q, k,
                k == 1 ? "changed while stopped" : "differs from the unmasked run");
    }
  free(sa); free(sb); free(s0);
  tu_pair_free(&a);
  tu_pair_free(&b);
  ab_splits_free(&s);
}

/* ---- the automatic choice, its fallbacks, its report ---- */

/* Sets up the seed net (K = 1, batch 100) and returns init_models' status. */
static int init_seed(ab_backend *be, ab_err *e) {
  ab_train_cfg cfg = ab_train_cfg_default();
  float *params = malloc(ab_arch_nparams(&cfg.arch) * sizeof(float));
  ab_init_params(params, &cfg.arch, 1);
  ab_hyper hp = {cfg.lr, cfg.wd};
  int rc = ab_backend_init_models(be, &cfg.arch, 1, cfg.batch, params, &hp, e);
  free(params);
  return rc;
}

/* Sets up the seed net; returns the path the backend chose, and its reason in *why. */
static ab_cl_fused chosen_path(ab_backend *be, const char **why) {
  ab_err e;
  cr_assert_eq(init_seed(be, &e), 0, "%s", e.msg);
  return path_of(be, why);
}

/* A backend with the fused options fo (the path is chosen from them at init_models). */
static ab_backend *open_fused(int dev, const ab_cl_fused_opts *fo, const ab_splits *s) {
  variant v = {"test", *fo, 0, AB_CL_FUSED_AUTO};
  return open_cl(dev, &v, s);
}

Test(cl_fused, auto_picks_epoch_and_says_why) {
  ab_splits s;
  int dev = device_and_splits(&s);
  logbuf[0] = '\0';
  ab_backend *be = open_cl(dev, NULL, &s);
  const char *why;
  cr_expect_eq(chosen_path(be, &why), AB_CL_FUSED_EPOCH, "auto chose: %s", why);
  cr_expect(strstr(logbuf, "opencl: training path fused-epoch: 1 launch per epoch"),
            "the verbose log must say which path and why:\n%s", logbuf);
  cr_log_info("auto: %s", why);
  ab_backend_free(be);
  ab_splits_free(&s);
}

Test(cl_fused, auto_falls_back_when_local_memory_is_short) {
  ab_splits s;
  int dev = device_and_splits(&s);
  ab_cl_fused_opts fo = {AB_CL_FUSED_AUTO, 1024, 0, 0};
  ab_backend *be = open_fused(dev, &fo, &s);
  ab_err e;
  const char *why;
  cr_expect_eq(chosen_path(be, &why), AB_CL_FUSED_OFF, "chose: %s", why);
  cr_expect(strstr(why, "per-op: the fused kernels do not fit: one row of activations needs"),
            "%s", why);
  ab_backend_free(be);
  fo.path = AB_CL_FUSED_EPOCH;
  be = open_fused(dev, &fo, &s);
  cr_expect_eq(init_seed(be, &e), AB_EUSAGE, "a forced path that cannot run must fail");
  cr_expect(strstr(e.msg, "the fused-epoch path cannot run here"), "%s", e.msg);
  ab_backend_free(be);
  ab_splits_free(&s);
}

Test(cl_fused, off_and_clblast_run_per_op) {
  ab_splits s;
  int dev = device_and_splits(&s);
  ab_cl_fused_opts fo = {AB_CL_FUSED_OFF, 0, 0, 0};
  ab_backend *be = open_fused(dev, &fo, &s);
  ab_err e;
  const char *why;
  cr_expect_eq(chosen_path(be, &why), AB_CL_FUSED_OFF, "%s", why);
  ab_backend_free(be);
  if (ab_cl_have_clblast() && tu_clblast_runs(dev)) {
    ab_cl_opts o = {AB_CL_GEMM_CLBLAST, 0, 0, NULL, NULL, {0}, AB_CL_SPLIT_AUTO};
    cr_assert_eq(ab_backend_cl_create(&be, dev, &o, &e), 0, "%s", e.msg);
    cr_assert_eq(ab_backend_load_data(be, &s, &e), 0, "%s", e.msg);
    cr_expect_eq(chosen_path(be, &why), AB_CL_FUSED_OFF, "%s", why);
    cr_expect(strstr(why, "clblast"), "%s", why);
    ab_backend_free(be);
  }
  ab_splits_free(&s);
}

Test(cl_fused, env_selects_the_path) {
  ab_splits s;
  int dev = device_and_splits(&s);
  setenv("ABGPU_CL_FUSED", "step", 1); /* each test runs in its own process */
  ab_backend *be = open_cl(dev, NULL, &s);
  ab_err e;
  const char *why;
  cr_expect_eq(chosen_path(be, &why), AB_CL_FUSED_STEP, "%s", why);
  ab_backend_free(be);
  setenv("ABGPU_CL_FUSED", "fast", 1);
  ab_cl_opts o = {AB_CL_GEMM_OWN, 0, 0, NULL, NULL, {0}, AB_CL_SPLIT_AUTO};
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

/* ---- the automatic choice by measurement, cached per device ---- */

/* The one cache file under dir/abgpu (the test's own folder), or "" when none. */
static const char *cache_file_in(const char *dir) {
  static char path[1024];
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "ls %s/abgpu/opencl-*.paths 2>/dev/null | head -1", dir);
  path[0] = '\0';
  FILE *p = popen(cmd, "r");
  if (p && fgets(path, sizeof path, p)) path[strcspn(path, "\n")] = '\0';
  if (p) pclose(p);
  return path;
}

/* Rewrites every line of the cache with these fits (seconds per epoch = a + b*batches). */
static void cache_set(const char *file, double op_a, double op_b, double fu_a, double fu_b) {
  char lines[4096] = "", line[512], key[384];
  FILE *f = fopen(file, "r");
  cr_assert(f, "%s", file);
  while (fgets(line, sizeof line, f) && sscanf(line, "%383s", key) == 1) {
    size_t n = strlen(lines);
    snprintf(lines + n, sizeof lines - n, "%s %g %g %g %g\n", key, op_a, op_b, fu_a, fu_b);
  }
  fclose(f);
  cr_assert_eq(tu_write(file, lines), 0);
}

/* The first set-up of a shape times both paths and caches the fits; the next reads them
 * back; the cached estimates decide (a per-op estimate below the fused one picks per-op,
 * as for a wide net on a GPU, and the other way round). */
Test(cl_fused, auto_measures_caches_and_follows_the_estimates) {
  int dev = tu_cl_device_or_skip("fused-path tests");
  char dir[600];
  snprintf(dir, sizeof dir, "%s/xdg", tu_tmpdir());
  setenv("XDG_CACHE_HOME", dir, 1);
  ab_splits s;
  tu_learnable_splits(&s, NROWS);
  ab_backend *be = open_cl(dev, NULL, &s);
  const char *why;
  chosen_path(be, &why);
  cr_expect(strstr(why, "measured on epochs of 1 and 3 batches; cached in"), "%s", why);
  cr_log_info("measured: %s", why);
  ab_backend_free(be);
  const char *file = cache_file_in(dir);
  cr_assert(*file, "no cache file under %s/abgpu", dir);
  be = open_cl(dev, NULL, &s);
  chosen_path(be, &why);
  cr_expect(strstr(why, "from the cache"), "the second set-up must read the cache: %s", why);
  ab_backend_free(be);
  cache_set(file, 0.0, 1e-4, 0.0, 1e-2); /* per-op estimated 100x faster */
  be = open_cl(dev, NULL, &s);
  cr_expect_eq(chosen_path(be, &why), AB_CL_FUSED_OFF, "%s", why);
  cr_expect(strstr(why, "per-op: the ordered kernels are estimated at ") &&
                strstr(why, "for fused-epoch (from the cache"), "%s", why);
  ab_backend_free(be);
  cache_set(file, 0.0, 1e-2, 0.0, 1e-4);
  be = open_cl(dev, NULL, &s);
  cr_expect_eq(chosen_path(be, &why), AB_CL_FUSED_EPOCH, "%s", why);
  ab_backend_free(be);
  ab_splits_free(&s);
}

/* Without XDG_CACHE_HOME the cache is ~/.cache/abgpu. */
Test(cl_fused, cache_falls_back_to_home) {
  int dev = tu_cl_device_or_skip("fused-path tests");
  char home[600];
  snprintf(home, sizeof home, "%s/home", tu_tmpdir());
  cr_assert_eq(mkdir(home, 0755), 0);
  unsetenv("XDG_CACHE_HOME");
  setenv("HOME", home, 1);
  ab_splits s;
  tu_learnable_splits(&s, NROWS);
  ab_backend *be = open_cl(dev, NULL, &s);
  const char *why;
  chosen_path(be, &why);
  char dot[700];
  snprintf(dot, sizeof dot, "%s/.cache", home);
  cr_expect(*cache_file_in(dot), "no cache under %s/abgpu: %s", dot, why);
  ab_backend_free(be);
  ab_splits_free(&s);
}
