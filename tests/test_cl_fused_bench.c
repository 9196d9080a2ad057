/* Speed of the OpenCL training paths, printed, never asserted (machines differ and are
 * noisy): ms per epoch (training and the validation evaluation, as ab_train runs them)
 * of one model on the per-op, fused-step and fused-epoch paths; and 64 models trained
 * together (K = 64, one launch per epoch) against the same 64 trained one after the
 * other. Data: $ABGPU_REAL_DATA when set (docs/opencl.md uses the real export), else
 * 4,474 synthetic customers (the real data's size after balancing). What is asserted:
 * the 64 models learn the same whether trained together or one by one. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "abgpu/cl.h"
#include "abgpu/prep.h"
#include "abgpu/rng.h"
#include "abgpu/source.h"
#include "abgpu/train.h"
#include "testutil.h"

#define NMODELS 64
#define EPOCHS 2      /* timed epochs per model in the K = 64 comparison */
#define PATH_EPOCHS 7 /* timed epochs per path (the median is reported) */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void load_splits(ab_splits *s, const char **what) {
  const char *real = tu_real_data();
  *what = real ? real : "synth:4474";
  ab_table t;
  ab_err e;
  ab_csv_opts co = ab_csv_opts_default();
  cr_assert_eq(ab_table_load(&t, *what, &co, &e), 0, "%s", e.msg);
  ab_prep_opts po = ab_prep_opts_default();
  cr_assert_eq(ab_prep(s, &t, &po, &e), 0, "%s", e.msg);
  ab_table_free(&t);
}

/* The seed net's K models: params from seeds 1.., learning rates cycling over 4 values. */
typedef struct models {
  ab_train_cfg cfg;
  size_t P;
  int nb;              /* batches per epoch */
  float *params;       /* [NMODELS][P] */
  ab_hyper hp[NMODELS];
  int32_t *order;      /* [EPOCHS + 1][NMODELS][nb * batch] */
} models;

static void models_init(models *m, const ab_splits *s) {
  m->cfg = ab_train_cfg_default();
  m->P = ab_arch_nparams(&m->cfg.arch);
  m->nb = (int)(s->train.n / (size_t)m->cfg.batch);
  m->params = malloc(NMODELS * m->P * sizeof(float));
  size_t per = (size_t)m->nb * m->cfg.batch, n = s->train.n;
  m->order = malloc((EPOCHS + 1) * NMODELS * per * sizeof(int32_t));
  uint32_t *perm = malloc(n * sizeof(uint32_t));
  ab_rng r;
  ab_rng_seed(&r, 5, 2);
  for (int k = 0; k < NMODELS; k++) {
    ab_init_params(m->params + k * m->P, &m->cfg.arch, (uint64_t)k + 1);
    m->hp[k].lr = 0.001f * (float)(1 + k % 4);
    m->hp[k].wd = 0.0f;
  }
  for (int ek = 0; ek < (EPOCHS + 1) * NMODELS; ek++) {
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    ab_rng_shuffle_u32(&r, perm, (uint32_t)n);
    for (size_t i = 0; i < per; i++) m->order[ek * per + i] = (int32_t)perm[i];
  }
  free(perm);
}

static void models_free(models *m) {
  free(m->params);
  free(m->order);
}

/* The data (real when given, else synthetic) and its models; returns the data's name. */
static const char *setup(ab_splits *s, models *m) {
  const char *what;
  load_splits(s, &what);
  models_init(m, s);
  return what;
}

static void teardown(ab_splits *s, models *m, const char *msg) {
  cr_log_info("%s", msg);
  fprintf(stderr, "cl_fused_bench %s\n", msg);
  models_free(m);
  ab_splits_free(s);
}

static ab_backend *open_path(int dev, ab_cl_fused path, const ab_splits *s) {
  ab_backend *be;
  ab_err e;
  ab_cl_opts o = {AB_CL_GEMM_OWN, 0, 0, NULL, NULL, {path, 0, 0, 0}, AB_CL_SPLIT_AUTO};
  cr_assert_eq(ab_backend_cl_create(&be, dev, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_load_data(be, s, &e), 0, "%s", e.msg);
  return be;
}

/* One epoch as ab_train runs it: the batches, then the validation evaluation. order:
 * [K][nb * batch]; the K training loss sums to loss. Returns the wall time in ms. */
static double epoch(ab_backend *be, const int32_t *order, int nb, double *loss) {
  double vl[NMODELS], t0 = now_ms();
  int64_t c[NMODELS];
  ab_err e;
  cr_assert_eq(ab_backend_train_epoch(be, order, nb, loss, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_evaluate(be, AB_SPLIT_VAL, vl, c, &e), 0, "%s", e.msg);
  return now_ms() - t0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median ms per epoch of model 0 alone on a path (after one untimed epoch). */
static double path_ms(int dev, ab_cl_fused path, const ab_splits *s, models *m) {
  ab_backend *be = open_path(dev, path, s);
  ab_err e;
  cr_assert_eq(ab_backend_init_models(be, &m->cfg.arch, 1, m->cfg.batch, m->params, m->hp, &e),
               0, "%s", e.msg);
  double t[PATH_EPOCHS], loss;
  epoch(be, m->order, m->nb, &loss);
  for (int i = 0; i < PATH_EPOCHS; i++) t[i] = epoch(be, m->order, m->nb, &loss);
  qsort(t, PATH_EPOCHS, sizeof t[0], cmp_double);
  ab_backend_free(be);
  return t[PATH_EPOCHS / 2];
}

Test(cl_fused_bench, ms_per_epoch_by_path) {
  int dev = tu_cl_device_or_skip("fused-path timings");
  ab_splits s;
  models m;
  const char *what = setup(&s, &m);
  double off = path_ms(dev, AB_CL_FUSED_OFF, &s, &m);
  double step = path_ms(dev, AB_CL_FUSED_STEP, &s, &m);
  double ep = path_ms(dev, AB_CL_FUSED_EPOCH, &s, &m);
  char msg[512];
  snprintf(msg, sizeof msg, "%s, seed net, batch %d, %d batches + validation per epoch "
           "(median of %d): per-op %.2f ms/epoch, fused-step %.2f, fused-epoch %.2f "
           "(%.1fx faster than per-op)", what, m.cfg.batch, m.nb, PATH_EPOCHS, off, step, ep,
           off / ep);
  teardown(&s, &m, msg);
}

/* NMODELS models for EPOCHS epochs on path: together (K = NMODELS) or one after the
 * other (K = 1 each, init_models included). Losses of the last epoch to loss[]. */
static double run_models(int dev, ab_cl_fused path, int together, const ab_splits *s,
                         models *m, double *loss) {
  ab_backend *be = open_path(dev, path, s);
  size_t per = (size_t)m->nb * m->cfg.batch;
  int32_t *ord = malloc(NMODELS * per * sizeof(int32_t));
  ab_err e;
  double t0 = now_ms();
  for (int k0 = 0; k0 < NMODELS; k0 += together ? NMODELS : 1) {
    int K = together ? NMODELS : 1;
    cr_assert_eq(ab_backend_init_models(be, &m->cfg.arch, K, m->cfg.batch, m->params + k0 * m->P,
                                     m->hp + k0, &e), 0, "%s", e.msg);
    for (int ep = 1; ep <= EPOCHS; ep++) { /* epoch ep's orders of models k0 .. k0+K-1 */
      memcpy(ord, m->order + ((size_t)ep * NMODELS + k0) * per, K * per * sizeof(int32_t));
      epoch(be, ord, m->nb, loss + k0);
    }
  }
  double ms = now_ms() - t0;
  free(ord);
  ab_backend_free(be);
  return ms;
}

Test(cl_fused_bench, k64_together_vs_one_after_another) {
  int dev = tu_cl_device_or_skip("fused-path timings");
  ab_splits s;
  models m;
  const char *what = setup(&s, &m);
  double lt[NMODELS], ls[NMODELS], lp[NMODELS];
  run_models(dev, AB_CL_FUSED_EPOCH, 1, &s, &m, lt); /* compiles the K = 64 shapes */
  double together = run_models(dev, AB_CL_FUSED_EPOCH, 1, &s, &m, lt);
  double seq = run_models(dev, AB_CL_FUSED_AUTO, 0, &s, &m, ls);
  double seq_op = run_models(dev, AB_CL_FUSED_OFF, 0, &s, &m, lp);
  for (int k = 0; k < NMODELS; k++)
    cr_expect_eq(lt[k], ls[k], "model %d: loss %.17g together, %.17g alone: a model must not "
                 "depend on the others", k, lt[k], ls[k]);
  char msg[640];
  snprintf(msg, sizeof msg, "%s, %d seed-net models x %d epochs (training + validation, "
           "init_models included): together (K=%d, fused-epoch, 1 launch per epoch) %.0f ms; "
           "one after another (K=1, auto = fused-epoch) %.0f ms, ratio %.2f; one after "
           "another on the per-op path %.0f ms, ratio %.2f", what, NMODELS, EPOCHS, NMODELS,
           together, seq, seq / together, seq_op, seq_op / together);
  teardown(&s, &m, msg);
}
