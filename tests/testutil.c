#include "testutil.h"
#include <criterion/criterion.h>
#include "abgpu/cl.h"
#include "abgpu/prep.h"
#include "abgpu/rng.h"
#include "abgpu/sweep.h"
#include "abgpu/train.h"
#include "tolerance.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int sh_cmd(tu_run *r, const char *cmd) {
  char full[8300];
  snprintf(full, sizeof full, "( %s ) 2>&1", cmd);
  FILE *p = popen(full, "r");
  r->out[0] = '\0';
  r->status = -1;
  if (!p) return -1;
  size_t n = fread(r->out, 1, sizeof r->out - 1, p);
  r->out[n] = '\0';
  char sink[4096];
  while (fread(sink, 1, sizeof sink, p) > 0) {}
  int st = pclose(p);
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r->status;
}

int tu_sh(tu_run *r, const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  return sh_cmd(r, cmd);
}

void tu_expect_usage(tu_run *r, const char *want, const char *fmt, ...) {
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  sh_cmd(r, cmd);
  cr_assert_eq(r->status, 2, "%s: exit %d: %s", cmd, r->status, r->out);
  cr_assert(strstr(r->out, want), "%s: no '%s' in: %s", cmd, want, r->out);
}

const char *tu_real_data(void) {
  const char *p = getenv("ABGPU_REAL_DATA");
  if (!p || !*p || access(p, R_OK) != 0) return NULL;
  return p;
}

static char tmp_dir[256];

static void remove_tmpdir(void) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp_dir);
}

const char *tu_tmpdir(void) {
  if (!tmp_dir[0]) {
    snprintf(tmp_dir, sizeof tmp_dir, "/tmp/abgpu-test-XXXXXX");
    if (!mkdtemp(tmp_dir)) return "/tmp";
    atexit(remove_tmpdir); /* each test process removes the folder it made */
  }
  return tmp_dir;
}

int tu_write(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t n = strlen(text);
  int ok = fwrite(text, 1, n, f) == n;
  return (fclose(f) == 0 && ok) ? 0 : -1;
}

int tu_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

void tu_load_lb(ab_leaderboard *lb, const char *dir, const char *name) {
  char p[700];
  ab_err e = {0};
  snprintf(p, sizeof p, "%s/%s", dir, name);
  ab_lb_init(lb);
  cr_assert_eq(ab_lb_read_csv(lb, p, &e), AB_OK, "%s", e.msg);
}

double tu_json_num(const char *json, const char *key) {
  char pat[128];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(json, pat);
  if (!p) return NAN;
  p += strlen(pat);
  while (*p == ' ') p++;
  char *end;
  double v = strtod(p, &end);
  return end == p ? NAN : v;
}

int tu_cl_device_or_skip(const char *what) {
  ab_cl_devices d;
  ab_err e;
  int n = ab_cl_devices_list(&d, &e) ? 0 : d.n;
  if (n) ab_cl_devices_free(&d);
  if (n == 0) {
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0)
      cr_assert_fail("no OpenCL device found and CI=true: the OpenCL tests must run in CI "
                     "(install pocl-opencl-icd)");
    cr_skip_test("no OpenCL device found: %s skipped (install pocl-opencl-icd to run them "
                 "on the CPU)", what);
  }
  char cache[600]; /* the path choice's cache: this test's own, so it measures afresh */
  snprintf(cache, sizeof cache, "%s/xdg-cache", tu_tmpdir());
  setenv("XDG_CACHE_HOME", cache, 1);
  const char *env = getenv("ABGPU_DEVICE");
  return env && *env >= '0' && *env <= '9' ? atoi(env) : 0;
}

/* 1 when CLBlast can run on device dev. On a device whose work-groups are smaller than
 * CLBlast's kernels need (the fakegpu shim's FAKE_WG=64), the backend must refuse
 * --gemm clblast when it is created, saying what to use instead: that is checked, and 0
 * returned. */
int tu_clblast_runs(int dev) {
  ab_cl_devices d;
  ab_err e;
  cr_assert_eq(ab_cl_devices_list(&d, &e), 0, "%s", e.msg);
  size_t wg = d.dev[dev].max_wg;
  ab_cl_devices_free(&d);
  if (wg >= 256) return 1;
  ab_backend *be = NULL;
  ab_cl_opts o = {AB_CL_GEMM_CLBLAST, 0, 0, NULL, NULL, {0}, AB_CL_SPLIT_AUTO};
  cr_assert_eq(ab_backend_cl_create(&be, dev, &o, &e), AB_EUSAGE,
               "CLBlast on a device of %zu work-items per group must be refused", wg);
  cr_assert(strstr(e.msg, "use --gemm own"), "the refusal must say what to use: %s", e.msg);
  cr_log_info("CLBlast refused on a device of %zu work-items per group: %s", wg, e.msg);
  return 0;
}

void tu_learnable_splits(struct ab_splits *s, size_t n) {
  ab_table t;
  ab_err e;
  cr_assert_eq(ab_table_alloc(&t, n, 1, &e), 0, "%s", e.msg);
  ab_rng r;
  ab_rng_seed(&r, 2024, 9);
  static const float w[AB_NFEAT] = {1.5f, -1.0f, 0.8f, 0.0f, 2.0f, -0.5f, 0.3f, 0.0f, -1.2f, 0.7f};
  for (size_t i = 0; i < t.n; i++) {
    double z = 0;
    for (int j = 0; j < AB_NFEAT; j++) {
      float x = (float)(ab_rng_normal(&r) * (j + 1) + 10.0 * j); /* unscaled on purpose */
      t.x[i * AB_NFEAT + j] = x;
      z += w[j] * (x - 10.0 * j) / (j + 1);
    }
    t.y[i] = z + ab_rng_normal(&r) > 0.0;
  }
  ab_prep_opts o = ab_prep_opts_default();
  o.balance = AB_BALANCE_NONE;
  o.seed = 7;
  cr_assert_eq(ab_prep(s, &t, &o, &e), 0, "%s", e.msg);
  ab_table_free(&t);
}

double tu_rel_diff(double got, double want) { return fabs(got - want) / fmax(fabs(want), 1e-30); }

void tu_expect_loss(const char *label, const char *what, int epoch, double got, double want) {
  double d = tu_rel_diff(got, want);
  cr_expect(d <= AB_TOL_TRAIN_LOSS_REL, "%s: %s, epoch %d: device %.9g, reference %.9g, "
            "relative difference %.3g > %.3g", label, what, epoch, got, want, d,
            AB_TOL_TRAIN_LOSS_REL);
}

void tu_expect_predictions(const char *label, struct ab_backend *dev, struct ab_backend *ref,
                           const struct ab_splits *s, int K) {
  const size_t n[3] = {s->train.n, s->val.n, s->test.n};
  size_t flips = 0, total = 0;
  double max_diff = 0;
  for (int id = 0; id < 3; id++) {
    size_t m = (size_t)K * n[id];
    float *a = malloc(m * sizeof(float)), *b = malloc(m * sizeof(float));
    ab_err e;
    cr_assert_eq(ab_backend_predict(dev, (ab_split_id)id, a, &e), 0, "%s", e.msg);
    cr_assert_eq(ab_backend_predict(ref, (ab_split_id)id, b, &e), 0, "%s", e.msg);
    for (size_t i = 0; i < m; i++) {
      flips += (a[i] > 0.5f) != (b[i] > 0.5f);
      max_diff = fmax(max_diff, fabs((double)a[i] - b[i]));
    }
    total += m;
    free(a);
    free(b);
  }
  size_t allowed = total * AB_TOL_PRED_FLIPS_PER_1000 / 1000;
  fprintf(stderr, "%s K=%d: %zu of %zu predicted classes differ (allowed %zu), max "
          "|prob diff| %.3g\n", label, K, flips, total, allowed, max_diff);
  cr_expect(flips <= allowed, "%s: %zu of %zu predictions differ from the reference "
            "(allowed %zu)", label, flips, total, allowed);
}

ab_backend *tu_open_ref(const ab_splits *s) {
  ab_backend *be;
  ab_err e;
  cr_assert_eq(ab_backend_ref_create(&be, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_load_data(be, s, &e), 0, "%s", e.msg);
  return be;
}

void tu_train_parity(const char *label, const char *detail, ab_backend *bd, ab_backend *br,
                     const ab_splits *s) {
  ab_train_cfg cfg = ab_train_cfg_default();
  cfg.epochs = 5;
  cfg.patience = 1000;
  cfg.seed = 3;
  ab_train_result rd, rr;
  ab_err e;
  cr_assert_eq(ab_train(&rd, bd, &cfg, s, NULL, NULL, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_train(&rr, br, &cfg, s, NULL, NULL, &e), 0, "%s", e.msg);
  cr_assert_eq(rd.epochs, 5);
  cr_assert_eq(rr.epochs, 5);
  double worst = 0;
  for (int i = 0; i < 5; i++) {
    tu_expect_loss(label, "train loss", i + 1, rd.hist[i].train_loss, rr.hist[i].train_loss);
    tu_expect_loss(label, "validation loss", i + 1, rd.hist[i].val_loss, rr.hist[i].val_loss);
    worst = fmax(worst, fmax(tu_rel_diff(rd.hist[i].train_loss, rr.hist[i].train_loss),
                             tu_rel_diff(rd.hist[i].val_loss, rr.hist[i].val_loss)));
  }
  tu_expect_loss(label, "test loss", 5, rd.test_loss, rr.test_loss);
  fprintf(stderr, "%s %s: 5 epochs, worst relative loss difference %.3g (allowed %.3g); test "
          "accuracy %.4f vs %.4f; %.1f vs %.1f ms/epoch\n", label, detail, worst,
          AB_TOL_TRAIN_LOSS_REL, rd.test_acc, rr.test_acc, rd.ms_per_epoch, rr.ms_per_epoch);
  cr_expect(rd.hist[4].train_loss < rd.hist[0].train_loss, "training must make progress");
  tu_expect_predictions(label, bd, br, s, 1);
  ab_train_result_free(&rd);
  ab_train_result_free(&rr);
}

void tu_pair_init(tu_pair *p, const char *label, ab_backend *dev, const ab_splits *s,
                  const char *hidden, const char *act, int batch) {
  ab_err e;
  ab_arch a;
  cr_assert_eq(ab_arch_parse(&a, AB_NFEAT, hidden, act, &e), 0, "%s", e.msg);
  p->label = label;
  p->P = ab_arch_nparams(&a);
  p->d = dev;
  p->r = tu_open_ref(s);
  p->batch = batch;
  p->nb = (int)(s->train.n / (size_t)batch);
  p->order = malloc((size_t)TU_PAIR_K * p->nb * batch * sizeof(int32_t));
  float *params = malloc(TU_PAIR_K * p->P * sizeof(float));
  for (int k = 0; k < TU_PAIR_K; k++) ab_init_params(params + k * p->P, &a, 10 + k);
  ab_hyper hp[TU_PAIR_K] = {{1e-3f, 0.0f}, {3e-3f, 0.01f}, {1e-2f, 0.0f}};
  cr_assert_eq(ab_backend_init_models(p->d, &a, TU_PAIR_K, batch, params, hp, &e), 0, "%s",
               e.msg);
  cr_assert_eq(ab_backend_init_models(p->r, &a, TU_PAIR_K, batch, params, hp, &e), 0, "%s",
               e.msg);
  free(params);
}

void tu_pair_free(tu_pair *p) {
  ab_backend_free(p->d);
  ab_backend_free(p->r);
  free(p->order);
}

void tu_pair_epoch(tu_pair *p, ab_rng *r, size_t ntrain, int nb, int epoch) {
  size_t per = (size_t)p->nb * p->batch;
  uint32_t *perm = malloc(ntrain * sizeof(uint32_t));
  for (int k = 0; k < TU_PAIR_K; k++) {
    for (uint32_t i = 0; i < ntrain; i++) perm[i] = i;
    ab_rng_shuffle_u32(r, perm, (uint32_t)ntrain);
    for (size_t i = 0; i < per; i++) p->order[k * per + i] = (int32_t)perm[i];
  }
  free(perm);
  if (nb > 0) /* the order's stride becomes nb * batch: compact it */
    for (int k = 1; k < TU_PAIR_K; k++)
      memmove(p->order + (size_t)k * nb * p->batch, p->order + k * per,
              (size_t)nb * p->batch * sizeof(int32_t));
  double ld[TU_PAIR_K], lr[TU_PAIR_K];
  ab_err e;
  int n = nb > 0 ? nb : p->nb;
  cr_assert_eq(ab_backend_train_epoch(p->d, p->order, n, ld, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_train_epoch(p->r, p->order, n, lr, &e), 0, "%s", e.msg);
  for (int k = 0; k < TU_PAIR_K; k++)
    tu_expect_loss(p->label, "K=3 train loss sum", epoch, ld[k], lr[k]);
}

void tu_pair_evaluate(tu_pair *p, const ab_splits *s, int epoch) {
  const size_t n[3] = {s->train.n, s->val.n, s->test.n};
  for (int id = 0; id < 3; id++) {
    double ld[TU_PAIR_K], lr[TU_PAIR_K];
    int64_t cd[TU_PAIR_K], cref[TU_PAIR_K];
    ab_err e;
    cr_assert_eq(ab_backend_evaluate(p->d, (ab_split_id)id, ld, cd, &e), 0, "%s", e.msg);
    cr_assert_eq(ab_backend_evaluate(p->r, (ab_split_id)id, lr, cref, &e), 0, "%s", e.msg);
    for (int k = 0; k < TU_PAIR_K; k++) {
      tu_expect_loss(p->label, "K=3 evaluate loss sum", epoch, ld[k], lr[k]);
      int64_t allowed = (int64_t)(n[id] * AB_TOL_PRED_FLIPS_PER_1000 / 1000);
      cr_expect(llabs(cd[k] - cref[k]) <= allowed, "%s: split %d model %d: correct %lld vs "
                "%lld", p->label, id, k, (long long)cd[k], (long long)cref[k]);
    }
  }
}

/* Compares [K][P] state arrays element by element: prints the worst elements (index,
 * both values) and the count of bit-identical ones; the relative L2 distance must be
 * within AB_TOL_TRAIN_LOSS_REL. */
static void pair_expect_close(const tu_pair *p, const char *what, const char *when,
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
  fprintf(stderr, "%s K=3 %s %s: %zu of %zu bit-identical, max |err| %.3g, max rel "
          "err %.3g, relative L2 %.3g\n", p->label, what, when, same, n, max_abs, max_rel,
          rel);
  if (rel <= AB_TOL_TRAIN_LOSS_REL) return;
  fprintf(stderr, "  worst: model %zu param %zu: device %.9g, reference %.9g\n",
          worst / p->P, worst % p->P, got[worst], want[worst]);
  cr_expect_fail("%s: %s %s differ from the reference by %.3g (relative L2) > %.3g; max "
                 "|err| %.3g at model %zu param %zu (device %.9g, reference %.9g)", p->label,
                 what, when, rel, AB_TOL_TRAIN_LOSS_REL, max_abs, worst / p->P, worst % p->P,
                 got[worst], want[worst]);
}

static void pair_expect_state(tu_pair *p, const char *when) {
  size_t n = TU_PAIR_K * p->P;
  float *pd = malloc(3 * n * sizeof(float)), *pr = malloc(3 * n * sizeof(float));
  int64_t td, tr;
  ab_err e;
  cr_assert_eq(tu_get_state(p->d, pd, pd + n, pd + 2 * n, &td, &e), 0, "%s", e.msg);
  cr_assert_eq(tu_get_state(p->r, pr, pr + n, pr + 2 * n, &tr, &e), 0, "%s", e.msg);
  cr_expect_eq(td, tr, "%s: step counts %lld vs %lld", when, (long long)td, (long long)tr);
  static const char *const names[3] = {"params", "Adam m", "Adam v"};
  for (int q = 0; q < 3; q++) pair_expect_close(p, names[q], when, pd + q * n, pr + q * n, n);
  free(pd);
  free(pr);
}

void tu_pair_vtable_parity(tu_pair *p, const ab_splits *s) {
  ab_rng r;
  ab_rng_seed(&r, 99, 4);
  tu_pair_epoch(p, &r, s->train.n, 1, 1); /* one step: the closest comparison */
  pair_expect_state(p, "after 1 step");
  tu_pair_epoch(p, &r, s->train.n, 0, 1);
  tu_pair_evaluate(p, s, 1);
  uint8_t keep[TU_PAIR_K] = {1, 0, 1};
  ab_err e;
  cr_assert_eq(ab_backend_slot_copy(p->d, AB_SLOT_BEST, AB_SLOT_PARAMS, keep, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_slot_copy(p->r, AB_SLOT_BEST, AB_SLOT_PARAMS, keep, &e), 0, "%s", e.msg);
  tu_pair_epoch(p, &r, s->train.n, 0, 2);
  pair_expect_state(p, "after epoch 2");
  cr_assert_eq(ab_backend_slot_copy(p->d, AB_SLOT_PARAMS, AB_SLOT_BEST, NULL, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_slot_copy(p->r, AB_SLOT_PARAMS, AB_SLOT_BEST, NULL, &e), 0, "%s", e.msg);
  tu_pair_evaluate(p, s, 2);
  tu_expect_predictions(p->label, p->d, p->r, s, TU_PAIR_K);
  size_t n = TU_PAIR_K * p->P; /* resume: the reference's state into the device */
  float *st = malloc(3 * n * sizeof(float));
  int64_t t;
  cr_assert_eq(tu_get_state(p->r, st, st + n, st + 2 * n, &t, &e), 0, "%s", e.msg);
  cr_assert_eq(tu_set_state(p->d, st, st + n, st + 2 * n, t, &e), 0, "%s", e.msg);
  pair_expect_state(p, "after set_state");
  tu_pair_epoch(p, &r, s->train.n, 0, 3);
  pair_expect_state(p, "after epoch 3");
  free(st);
}

int tu_get_state(ab_backend *be, float *p, float *m, float *v, int64_t *t, ab_err *e) {
  int rc = p ? ab_backend_slot_read(be, AB_SLOT_PARAMS, p, e) : AB_OK;
  if (!rc && m) rc = ab_backend_slot_read(be, AB_SLOT_ADAM_M, m, e);
  if (!rc && v) rc = ab_backend_slot_read(be, AB_SLOT_ADAM_V, v, e);
  if (!rc && t) *t = ab_backend_steps(be);
  return rc;
}

int tu_set_state(ab_backend *be, const float *p, const float *m, const float *v, int64_t t,
                 ab_err *e) {
  int rc = ab_backend_slot_write(be, AB_SLOT_PARAMS, p, e);
  if (!rc) rc = ab_backend_slot_write(be, AB_SLOT_ADAM_M, m, e);
  if (!rc) rc = ab_backend_slot_write(be, AB_SLOT_ADAM_V, v, e);
  if (!rc) ab_backend_set_steps(be, t);
  return rc;
}
