/* The fast CPU backend against the reference: the backend's vtable operations (threads
 * 1 and 2); thread-count invariance and run-to-run determinism (bit for bit); training
 * parity; the CLI. Margins from tolerance_cpu.h. Its ops one by one: test_op_OP.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "abgpu/cpu.h"
#include "abgpu/prep.h"
#include "abgpu/ref.h"
#include "abgpu/rng.h"
#include "abgpu/train.h"
#include "cpu/impl.h"
#include "cpu/pool.h"
#include "testbuf.h"
#include "testop.h"
#include "testutil.h"
#include "tolerance_cpu.h"


static const int ROWS[] = {1, 7, 93, 100, 257};
static const int KS[] = {1, 3};
#define NROWS 5

/* ---- the backend ---- */

#define NDATA 2000

/* One backend configuration. */
typedef struct bcfg {
  const char *hidden, *acts;
  int B, K, threads;
  ab_cpu_isa isa; /* AB_CPU_ISA_AUTO with threads 0: the reference backend */
  int per_op;     /* 1: the generic step over the CPU ops instead of the threaded epoch */
} bcfg;

/* What a run records. */
typedef struct bout {
  ab_arch a;
  size_t P;
  double loss1[3], loss2[3], eloss[3], eloss_restored[3];
  int64_t corr[3], corr_restored[3];
  float *p0, *p1, *m1, *v1;  /* initial; after one step */
  float *p, *m, *v;          /* after three steps */
  float *pr;                 /* after snapshot (models 0, 2), one more epoch, restore */
  float *ps, *ms, *vs;       /* set_state(p0, 0, 0, 0) then the first step again */
  float *prob;               /* [K][val.n] after three steps */
  int64_t t;
  char path[256];            /* the backend's path after training */
} bout;

static ab_backend *open_backend(const bcfg *c, const ab_splits *s) {
  ab_backend *be;
  ab_err e;
  if (c->threads == 0) cr_assert_eq(ab_backend_ref_create(&be, &e), 0, "%s", e.msg);
  else {
    /* threads < 0: -threads at most, the backend choosing how many pay */
    ab_cpu_opts o = {abs(c->threads), c->isa, c->per_op, c->threads > 0};
    cr_assert_eq(ab_backend_cpu_create(&be, &o, &e), 0, "%s", e.msg);
  }
  cr_assert_eq(ab_backend_load_data(be, s, &e), 0, "%s", e.msg);
  return be;
}

static float *fbuf(size_t n) { return calloc(n ? n : 1, sizeof(float)); }

/* order [K][nb*B]: a fixed permutation of the training rows per model. */
static int32_t *make_order(const bcfg *c, size_t ntrain, int nb, uint64_t seed) {
  int32_t *order = malloc((size_t)c->K * nb * c->B * sizeof(int32_t));
  uint32_t *perm = malloc(ntrain * sizeof(uint32_t));
  ab_rng r;
  ab_rng_seed(&r, seed, 3);
  for (int k = 0; k < c->K; k++) {
    for (uint32_t i = 0; i < ntrain; i++) perm[i] = i;
    ab_rng_shuffle_u32(&r, perm, (uint32_t)ntrain);
    for (int i = 0; i < nb * c->B; i++) order[(size_t)k * nb * c->B + i] = (int32_t)perm[i];
  }
  free(perm);
  return order;
}

static void get_state(ab_backend *be, float *p, float *m, float *v, int64_t *t) {
  ab_err e;
  cr_assert_eq(tu_get_state(be, p, m, v, t, &e), 0, "%s", e.msg);
}

static void epoch(ab_backend *be, const bcfg *c, const ab_splits *s, int nb, uint64_t seed,
                  double *loss) {
  ab_err e;
  int32_t *order = make_order(c, s->train.n, nb, seed);
  cr_assert_eq(ab_backend_train_epoch(be, order, nb, loss, &e), 0, "%s", e.msg);
  free(order);
}

static void eval_val(ab_backend *be, double *loss, int64_t *corr) {
  ab_err e;
  cr_assert_eq(ab_backend_evaluate(be, AB_SPLIT_VAL, loss, corr, &e), 0, "%s", e.msg);
}

static void bout_alloc(bout *o, const bcfg *c, const ab_splits *s) {
  ab_err e;
  cr_assert_eq(ab_arch_parse(&o->a, AB_NFEAT, c->hidden, c->acts, &e), 0, "%s", e.msg);
  o->P = ab_arch_nparams(&o->a);
  size_t kp = (size_t)c->K * o->P;
  float **f[] = {&o->p0, &o->p1, &o->m1, &o->v1, &o->p, &o->m,
                 &o->v,  &o->pr, &o->ps, &o->ms, &o->vs};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) *f[i] = fbuf(kp);
  o->prob = fbuf((size_t)c->K * s->val.n);
  for (int k = 0; k < c->K; k++) ab_init_params(o->p0 + k * o->P, &o->a, 10 + k);
}

static void bout_free(bout *o) {
  float *f[] = {o->p0, o->p1, o->m1, o->v1, o->p, o->m, o->v, o->pr, o->ps, o->ms, o->vs, o->prob};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
}

/* Snapshot models 0 and 2, train on, restore, and evaluate what was restored. */
static void snapshot_restore(ab_backend *be, const bcfg *c, const ab_splits *s, bout *o) {
  ab_err e;
  uint8_t keep[3] = {1, 0, 1};
  double loss[3];
  cr_assert_eq(ab_backend_slot_copy(be, AB_SLOT_BEST, AB_SLOT_PARAMS, keep, &e), 0, "%s", e.msg);
  epoch(be, c, s, 1, 99, loss);
  cr_assert_eq(ab_backend_slot_copy(be, AB_SLOT_PARAMS, AB_SLOT_BEST, NULL, &e), 0, "%s", e.msg);
  get_state(be, o->pr, NULL, NULL, NULL);
  eval_val(be, o->eloss_restored, o->corr_restored);
}

/* set_state back to the start, then the first step again. */
static void reset_and_step(ab_backend *be, const bcfg *c, const ab_splits *s, bout *o) {
  ab_err e;
  size_t kp = (size_t)c->K * o->P;
  float *zero = fbuf(kp);
  double loss[3];
  cr_assert_eq(tu_set_state(be, o->p0, zero, zero, 0, &e), 0, "%s", e.msg);
  epoch(be, c, s, 1, 1, loss);
  get_state(be, o->ps, o->ms, o->vs, NULL);
  free(zero);
}

static void run_backend(const bcfg *c, const ab_splits *s, bout *o) {
  bout_alloc(o, c, s);
  ab_backend *be = open_backend(c, s);
  ab_hyper hp[3] = {{1e-3f, 0.0f}, {3e-3f, 0.01f}, {1e-2f, 0.0f}};
  ab_err e;
  cr_assert_eq(ab_backend_init_models(be, &o->a, c->K, c->B, o->p0, hp, &e), 0, "%s", e.msg);
  epoch(be, c, s, 1, 1, o->loss1);
  get_state(be, o->p1, o->m1, o->v1, NULL);
  epoch(be, c, s, 2, 2, o->loss2);
  eval_val(be, o->eloss, o->corr);
  cr_assert_eq(ab_backend_predict(be, AB_SPLIT_VAL, o->prob, &e), 0, "%s", e.msg);
  get_state(be, o->p, o->m, o->v, &o->t);
  snprintf(o->path, sizeof o->path, "%s", ab_backend_path(be));
  if (c->K == 3) snapshot_restore(be, c, s, o);
  reset_and_step(be, c, s, o);
  ab_backend_free(be);
}

static void expect_bits(const char *what, const char *cfg, const void *got, const void *want,
                        size_t n, int is_double) {
  size_t sz = is_double ? sizeof(double) : sizeof(float);
  for (size_t i = 0; i < n; i++) {
    const char *g = (const char *)got + i * sz, *w = (const char *)want + i * sz;
    if (memcmp(g, w, sz) == 0) continue;
    double gv = is_double ? *(const double *)g : *(const float *)g;
    double wv = is_double ? *(const double *)w : *(const float *)w;
    cr_assert_fail("%s: %s differs at [%zu]: %.17g vs %.17g (must be bit-identical)", cfg,
                   what, i, gv, wv);
  }
}

/* Everything two runs recorded, bit for bit. */
static void expect_same(const bout *a, const bout *b, const bcfg *c, size_t nval,
                        const char *cfg) {
  size_t kp = (size_t)c->K * a->P;
  const float *fa[] = {a->p1, a->m1, a->v1, a->p, a->m, a->v, a->ps, a->ms, a->vs};
  const float *fb[] = {b->p1, b->m1, b->v1, b->p, b->m, b->v, b->ps, b->ms, b->vs};
  static const char *const names[] = {"params after 1 step", "m after 1 step",
                                      "v after 1 step", "params", "m", "v",
                                      "params after set_state", "m after set_state",
                                      "v after set_state"};
  for (int i = 0; i < 9; i++) expect_bits(names[i], cfg, fa[i], fb[i], kp, 0);
  expect_bits("loss of step 1", cfg, a->loss1, b->loss1, c->K, 1);
  expect_bits("losses of steps 2-3", cfg, a->loss2, b->loss2, c->K, 1);
  expect_bits("validation loss", cfg, a->eloss, b->eloss, c->K, 1);
  expect_bits("probabilities", cfg, a->prob, b->prob, c->K * nval, 0);
  for (int k = 0; k < c->K; k++)
    cr_assert_eq(a->corr[k], b->corr[k], "%s: correct count of model %d: %lld vs %lld", cfg, k,
                 (long long)a->corr[k], (long long)b->corr[k]);
  cr_assert_eq(a->t, b->t, "%s: step count", cfg);
}

/* Checks a run against itself: the first step's parameters follow from its own m and v
 * by the reference's Adam formula exactly; set_state then the same step reproduces it;
 * restore brings back the snapshot (models 0, 2) or the initial weights (model 1). */
static void expect_consistent(const bout *o, const bcfg *c, const char *cfg) {
  static const float lr[3] = {1e-3f, 3e-3f, 1e-2f}, wd[3] = {0.0f, 0.01f, 0.0f};
  float c1 = 1.0f - powf(0.9f, 1.0f), c2 = 1.0f - powf(0.999f, 1.0f);
  for (int k = 0; k < c->K; k++)
    for (size_t i = 0; i < o->P; i++) {
      size_t q = k * o->P + i;
      float step = lr[k] / c1, decay = lr[k] * wd[k], p = o->p0[q];
      p -= step * o->m1[q] / (sqrtf(o->v1[q] / c2) + 1e-8f) + decay * p;
      /* the AVX-512 update avoids the divider: AB_TOL_ADAM (test_op_adam_step.c) */
      double tol = c->isa == AB_CPU_ISA_AVX512 ? AB_TOL_ADAM(p, fabs((double)p - o->p0[q])) : 0;
      cr_assert(tol ? fabs((double)o->p1[q] - p) <= tol : memcmp(&p, &o->p1[q], 4) == 0,
                "%s: model %d param %zu after one step: %.9g, Adam on its own m, v gives %.9g",
                cfg, k, i, o->p1[q], p);
    }
  size_t kp = (size_t)c->K * o->P;
  expect_bits("params after set_state + step 1", cfg, o->ps, o->p1, kp, 0);
  expect_bits("m after set_state + step 1", cfg, o->ms, o->m1, kp, 0);
  if (c->K != 3) return;
  expect_bits("restored model 0", cfg, o->pr, o->p, o->P, 0);
  expect_bits("restored model 1", cfg, o->pr + o->P, o->p0 + o->P, o->P, 0);
  expect_bits("restored model 2", cfg, o->pr + 2 * o->P, o->p + 2 * o->P, o->P, 0);
  expect_bits("validation loss after restore (model 0)", cfg, o->eloss_restored, o->eloss, 1, 1);
}

/* |got - want| <= rel * |want|; k is the model (or the epoch) named in the message. */
static void expect_rel(const char *what, const char *cfg, int k, double got, double want,
                       double rel) {
  double d = fabs(got - want), tol = rel * fabs(want) + 1e-30;
  cr_assert(d <= tol, "%s: %s [%d]: %.9g vs reference %.9g (|diff| %.3g > %.3g)", cfg, what,
            k, got, want, d, tol);
}

/* m after one step is 0.1 * gradient: compared per layer, relative to the layer's
 * largest value in the reference. */
static void expect_grads(const bout *o, const bout *r, const bcfg *c, const char *cfg) {
  for (int k = 0; k < c->K; k++)
    for (int l = 0; l < o->a.nlayers; l++) {
      size_t lo = k * o->P + ab_arch_w_off(&o->a, l);
      size_t hi = k * o->P + ab_arch_b_off(&o->a, l) + o->a.dims[l + 1];
      double mx = 0;
      for (size_t i = lo; i < hi; i++) mx = fmax(mx, fabs(r->m1[i]));
      double tol = AB_TOL_CPU_WIRING_REL * mx + 1e-30;
      for (size_t i = lo; i < hi; i++)
        cr_assert(fabs((double)o->m1[i] - r->m1[i]) <= tol, "%s: gradient (m) of model %d "
                  "layer %d at [%zu]: %.9g vs reference %.9g, tolerance %.3g", cfg, k, l,
                  i - lo, o->m1[i], r->m1[i], tol);
    }
}

static void expect_near_ref(const bout *o, const bout *r, const bcfg *c, size_t nval,
                            const char *cfg) {
  for (int k = 0; k < c->K; k++) {
    expect_rel("loss of step 1", cfg, k, o->loss1[k], r->loss1[k], AB_TOL_TRAIN_LOSS_REL);
    expect_rel("losses of steps 2-3", cfg, k, o->loss2[k], r->loss2[k], AB_TOL_TRAIN_LOSS_REL);
    expect_rel("validation loss", cfg, k, o->eloss[k], r->eloss[k], AB_TOL_CPU_WIRING_REL);
    int64_t d = o->corr[k] - r->corr[k];
    cr_assert(llabs(d) <= 1 + (int64_t)nval / 1000, "%s: correct count of model %d: %lld vs "
              "reference %lld", cfg, k, (long long)o->corr[k], (long long)r->corr[k]);
  }
  expect_grads(o, r, c, cfg);
  for (size_t i = 0; i < (size_t)c->K * nval; i++)
    cr_assert(fabs((double)o->prob[i] - r->prob[i]) <= AB_TOL_CPU_WIRING_REL, "%s: probability "
              "[%zu]: %.9g vs reference %.9g", cfg, i, o->prob[i], r->prob[i]);
  cr_assert_eq(o->t, r->t, "%s: step count", cfg);
}

typedef struct arch_case { const char *hidden, *acts; } arch_case;
static const arch_case ARCHS[] = {{"100,100", "relu,sigmoid"}, {"129,3", "tanh,relu"},
                                  {"1", "sigmoid"}, {"7", "relu"},
                                  {"3,129,10", "sigmoid,tanh,relu"}};

/* The AVX-512 kernels against the AVX2 ones: the same bits until Adam first updates the
 * parameters (loss of step 1, the first gradients in m and v); after that their
 * parameter updates differ within AB_TOL_ADAM (both are held to the reference by
 * expect_near_ref). */
static void expect_avx512_as_avx2(const bout *o, const bout *a, const bcfg *c, const char *cfg) {
  size_t kp = (size_t)c->K * o->P;
  expect_bits("loss of step 1", cfg, o->loss1, a->loss1, c->K, 1);
  expect_bits("m after 1 step", cfg, o->m1, a->m1, kp, 0);
  expect_bits("v after 1 step", cfg, o->v1, a->v1, kp, 0);
}

/* For one arch, batch and K: the reference, then every ISA with 1 and 2 threads. */
static void backend_case(const ab_splits *s, const arch_case *ac, int B, int K) {
  bcfg rc = {ac->hidden, ac->acts, B, K, 0, AB_CPU_ISA_AUTO, 0};
  bout ref = {0}, avx2 = {0};
  run_backend(&rc, s, &ref);
  ab_cpu_isa is[3];
  int ni = to_isas(is);
  for (int q = 0; q < ni; q++) {
    bout one = {0};
    for (int threads = 1; threads <= 2; threads++) {
      bcfg c = {ac->hidden, ac->acts, B, K, threads, is[q], 0};
      char cfg[160];
      snprintf(cfg, sizeof cfg, "%s %s B=%d K=%d %s threads=%d", ac->hidden, ac->acts, B, K,
               ab_cpu_isa_name(is[q]), threads);
      bout o = {0};
      run_backend(&c, s, &o);
      expect_consistent(&o, &c, cfg);
      if (is[q] == AB_CPU_ISA_GENERIC) expect_same(&o, &ref, &c, s->val.n, cfg);
      else expect_near_ref(&o, &ref, &c, s->val.n, cfg);
      if (is[q] == AB_CPU_ISA_AVX512 && avx2.p) expect_avx512_as_avx2(&o, &avx2, &c, cfg);
      if (threads == 1) one = o;
      else {
        expect_same(&o, &one, &c, s->val.n, cfg);
        bout_free(&o);
        if (is[q] == AB_CPU_ISA_AVX2) avx2 = one;
        else bout_free(&one);
      }
    }
  }
  if (avx2.p) bout_free(&avx2);
  bout_free(&ref);
}

/* A job whose workers finish long after the caller (as with 2 of 3 models on one thread):
 * cpu_pool_run must return only after every thread's writes, each thread run once. */
typedef struct { int runs[3]; } pool_job;

static void slow_workers(void *arg, int tid) {
  pool_job *j = arg;
  struct timespec ts = {0, 5000000L * tid};
  if (tid) nanosleep(&ts, NULL);
  j->runs[tid]++;
}

Test(cpu_pool, run_returns_after_the_slowest_thread) {
  cpu_pool *p = NULL;
  ab_err e = {0};
  cr_assert_eq(cpu_pool_create(&p, 3, &e), AB_OK, "%s", e.msg);
  pool_job j = {{0}};
  for (int i = 1; i <= 10; i++) {
    cpu_pool_run(p, slow_workers, &j);
    for (int t = 0; t < 3; t++)
      cr_assert_eq(j.runs[t], i, "thread %d ran %d times of %d", t, j.runs[t], i);
  }
  cpu_pool_free(p);
}

/* The dot columns (kern.h: cpu_dot_cols) in plain C: 16 lane chains of fmaf over
 * k = l mod 16 from +0, the lanes added as kern.h says, then the epilogue's one
 * operation (bias + s for ACT with the identity, s * relu'(y) for DACT). */
static float dot_model(const cpu_mm *m, int i, int j) {
  float lane[16] = {0};
  for (int k = 0; k < m->K; k++)
    lane[k % 16] = fmaf(m->A[i * m->ars + k], m->B[k * m->ldb + j], lane[k % 16]);
  for (int w = 8; w >= 1; w /= 2)
    for (int l = 0; l < w; l++) lane[l] = lane[l] + lane[l + w];
  if (m->ep == CPU_EP_ACT) return m->bias[j] + lane[0];
  if (m->ep == CPU_EP_DACT) return lane[0] * (m->Y[i * m->ldy + j] > 0.0f ? 1.0f : 0.0f);
  return lane[0];
}

/* One product through one ISA's kernel into C (pre-filled with a sentinel); with bt, B
 * transposed is given (the backend's way), else the kernel makes its own copy. */
static void dot_run(const cpu_kern *kt, cpu_mm m, float *C, const float *bt) {
  for (int i = 0; i < m.M * m.ldc; i++) C[i] = -1234.5f;
  m.C = C;
  m.Bt = bt;
  m.ldbt = m.K + 3;
  kt->mm(&m);
}

/* The AVX2 and AVX-512 kernels on products with dot columns (1..4 of them, N up to 132,
 * K 16..1024 around the 16-lane chunks, rows 1..37, every epilogue, B transposed given or
 * not): bit for bit each other, and (identity, STORE, relu') bit for bit the order
 * kern.h states; the other columns untouched by the dot path (they are the row tiles'). */
Test(cpu_kernels, dot_columns_in_the_stated_order_on_avx2_and_avx512) {
  const cpu_kern *k2 = cpu_kern_get(AB_CPU_ISA_AVX2), *k5 = cpu_kern_get(AB_CPU_ISA_AVX512);
  if (k2->isa != AB_CPU_ISA_AVX2) {
    fprintf(stderr, "cpu: SKIPPED dot columns: this CPU cannot run the avx2 kernels\n");
    return;
  }
  if (k5->isa != AB_CPU_ISA_AVX512)
    fprintf(stderr, "cpu: SKIPPED dot columns on avx512: this CPU cannot run them; avx2 alone "
            "against the stated order\n");
  static const int Ns[] = {1, 2, 3, 4, 17, 20, 100, 132}, Ks[] = {16, 17, 31, 100, 129, 1024};
  static const int Ms[] = {1, 7, 16, 37};
  ab_rng rng;
  ab_rng_seed(&rng, 5, 2);
  int cases = 0;
  for (size_t ni = 0; ni < 8; ni++)
    for (size_t ki = 0; ki < 6; ki++)
      for (size_t mi = 0; mi < 4; mi++)
        for (int ep = 0; ep < 4; ep++) {
          int N = Ns[ni], K = Ks[ki], M = Ms[mi], ldc = N + 5;
          float *A = tu_rand_buf(&rng, (size_t)M * (K + 1), -2, 2);
          float *B = tu_rand_buf(&rng, (size_t)K * (N + 2), -1, 1);
          float *bt = fbuf((size_t)N * (K + 3)), *bias = tu_rand_buf(&rng, (size_t)N, -1, 1);
          float *Y = tu_rand_buf(&rng, (size_t)M * ldc, -1, 1);
          float *c2 = fbuf((size_t)M * ldc), *c5 = fbuf((size_t)M * ldc);
          for (int j = 0; j < N; j++)
            for (int k = 0; k < K; k++) bt[j * (K + 3) + k] = B[k * (N + 2) + j];
          cpu_mm m = {.M = M, .N = N, .K = K, .A = A, .ars = K + 1, .aks = 1, .B = B,
                      .ldb = N + 2, .ep = ep < 2 ? CPU_EP_ACT : ep == 2 ? CPU_EP_STORE : CPU_EP_DACT,
                      .ldc = ldc, .bias = bias, .act = ep == 1 ? AB_ACT_SIGMOID
                      : ep == 3 ? AB_ACT_RELU : AB_ACT_IDENTITY, .Y = Y, .ldy = ldc};
          int nl = cpu_dot_cols(&m);
          cr_assert(nl == N % 16, "N=%d K=%d: %d dot columns", N, K, nl);
          for (int given = 0; given < 2; given++) {
            dot_run(k2, m, c2, given ? bt : NULL);
            dot_run(k5, m, c5, given ? bt : NULL);
            cr_assert(memcmp(c2, c5, (size_t)M * ldc * sizeof(float)) == 0,
                      "N=%d K=%d M=%d ep %d given %d: avx512 differs from avx2", N, K, M, ep, given);
            for (int i = 0; i < M; i++)
              for (int j = N - nl; j < N && ep != 1; j++) {
                float want = dot_model(&m, i, j), got = c5[i * ldc + j], got2 = c2[i * ldc + j];
                cr_assert(memcmp(&got, &want, sizeof got) == 0 && memcmp(&got2, &want, sizeof got) == 0,
                          "N=%d K=%d M=%d ep %d: [%d][%d] %.9g (avx2 %.9g), the stated order "
                          "gives %.9g", N, K, M, ep, i, j, got, got2, want);
              }
            for (int i = 0; i < M; i++)
              for (int j = N; j < ldc; j++)
                cr_assert(c5[i * ldc + j] == -1234.5f, "N=%d K=%d M=%d: wrote past N", N, K, M);
            cases++;
          }
          free(A); free(B); free(bt); free(bias); free(Y); free(c2); free(c5);
        }
  fprintf(stderr, "cpu dot columns: %d cases, avx2 and avx512 bit for bit, in the stated order\n", cases);
}

/* A gradient with Adam (dW: A's rows contiguous, ars 1) through one ISA's kernel: the
 * gradient as a plain fmaf chain over increasing k from 0 (what every tile computes),
 * Adam on it by the generic kernel's update (the reference's operations). m and v must
 * be those bits; p within AB_TOL_ADAM (the AVX-512 update avoids the divider); the pad
 * columns past N untouched. */
static void adam_mm_case(const cpu_kern *kt, ab_rng *rng, int M, int N, int K) {
  const int lda = M + 3, ldb = N + 2, ldp = N + 5;
  size_t np = (size_t)M * ldp;
  float *A = tu_rand_buf(rng, (size_t)K * lda, -2, 2), *B = tu_rand_buf(rng, (size_t)K * ldb, -1, 1);
  float *P = tu_rand_buf(rng, np, -1, 1), *Mo = tu_rand_buf(rng, np, -0.1f, 0.1f);
  float *V = tu_rand_buf(rng, np, 0, 0.01f), *g = fbuf((size_t)N);
  float *wp = fbuf(np), *wm = fbuf(np), *wv = fbuf(np), *p0 = fbuf(np);
  memcpy(wp, P, np * sizeof *P); memcpy(wm, Mo, np * sizeof *P); memcpy(wv, V, np * sizeof *P);
  memcpy(p0, P, np * sizeof *P);
  cpu_adam ad;
  cpu_adam_init(&ad, 1e-3f, 0.01f, 0.9f, 0.999f, 1e-8f, 4);
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      float s = 0.0f;
      for (int k = 0; k < K; k++) s = fmaf(A[k * lda + i], B[k * ldb + j], s);
      g[j] = s;
    }
    size_t o = (size_t)i * ldp;
    ab_cpu_kern_generic.adam(wp + o, wm + o, wv + o, g, (size_t)N, &ad);
  }
  cpu_mm m = {.M = M, .N = N, .K = K, .A = A, .ars = 1, .aks = lda, .B = B, .ldb = ldb,
              .ep = CPU_EP_ADAM, .P = P, .Mo = Mo, .V = V, .ldp = ldp, .adam = &ad};
  kt->mm(&m);
  for (size_t q = 0; q < np; q++) {
    int i = (int)(q / ldp), j = (int)(q % ldp);
    cr_assert(memcmp(&Mo[q], &wm[q], 4) == 0 && memcmp(&V[q], &wv[q], 4) == 0,
              "%s M=%d N=%d K=%d [%d][%d]: m or v differs", ab_cpu_isa_name(kt->isa), M, N, K, i, j);
    double tol = j < N ? AB_TOL_ADAM(wp[q], fabs((double)p0[q] - wp[q])) : 0.0;
    cr_assert(fabs((double)P[q] - wp[q]) <= tol, "%s M=%d N=%d K=%d [%d][%d]: p %.9g, want %.9g",
              ab_cpu_isa_name(kt->isa), M, N, K, i, j, P[q], wp[q]);
  }
  free(A); free(B); free(P); free(Mo); free(V); free(g); free(wp); free(wm); free(wv); free(p0);
}

/* Every column split the AVX2 and AVX-512 dW paths take: 16q + 1..4 columns (the
 * AVX-512 transposed tail, with 4+ rows and q >= 2), rows past its 256-row chunks,
 * rows not a multiple of 4, K from 1. */
Test(cpu_kernels, gradients_with_adam_on_every_column_split) {
  static const int Ms[] = {1, 4, 7, 100, 301}, Ns[] = {5, 17, 33, 34, 35, 36, 47, 100, 129};
  static const int Ks[] = {1, 7, 100};
  ab_rng rng;
  ab_rng_seed(&rng, 7, 3);
  int cases = 0;
  for (int isa = AB_CPU_ISA_AVX2; isa <= AB_CPU_ISA_AVX512; isa++) {
    const cpu_kern *kt = cpu_kern_get(isa);
    if ((int)kt->isa != isa) {
      fprintf(stderr, "cpu: SKIPPED dW with Adam on %s: this CPU cannot run it\n",
              ab_cpu_isa_name(isa));
      continue;
    }
    for (size_t mi = 0; mi < 5; mi++)
      for (size_t ni = 0; ni < 9; ni++)
        for (size_t ki = 0; ki < 3; ki++, cases++) adam_mm_case(kt, &rng, Ms[mi], Ns[ni], Ks[ki]);
  }
  fprintf(stderr, "cpu dW with Adam: %d cases against fmaf chains and the generic update\n", cases);
}

/* The sigmoid epilogue on AVX2 and AVX-512, bit for bit, on z = every 4099th float bit
 * pattern (NaN, infinities, subnormals and both signs among them), a dense sweep of
 * [-90, 90], and the floats next to the exp clamp at +-88 (AVX-512 folds the negation
 * and scales by scalef, which differs from a built 2^n only at n = -127). */
static void sigmoid_pair(const cpu_kern *k2, const cpu_kern *k5, const float *z, int N) {
  static const float one = 1.0f;
  float *bias = fbuf((size_t)N), *c2 = fbuf((size_t)N), *c5 = fbuf((size_t)N);
  cpu_mm m = {.M = 1, .N = N, .K = 1, .A = &one, .ars = 1, .aks = 1, .B = z, .ldb = N,
              .ep = CPU_EP_ACT, .ldc = N, .bias = bias, .act = AB_ACT_SIGMOID};
  dot_run(k2, m, c2, NULL);
  dot_run(k5, m, c5, NULL);
  for (int j = 0; j < N; j++)
    cr_assert(memcmp(&c2[j], &c5[j], sizeof(float)) == 0,
              "sigmoid(%a): avx512 %a, avx2 %a", (double)z[j], (double)c5[j], (double)c2[j]);
  free(bias); free(c2); free(c5);
}

Test(cpu_kernels, sigmoid_gives_the_same_bits_on_avx2_and_avx512) {
  const cpu_kern *k2 = cpu_kern_get(AB_CPU_ISA_AVX2), *k5 = cpu_kern_get(AB_CPU_ISA_AVX512);
  if (k2->isa != AB_CPU_ISA_AVX2 || k5->isa != AB_CPU_ISA_AVX512) {
    fprintf(stderr, "cpu: SKIPPED sigmoid avx2 vs avx512: this CPU lacks one of them\n");
    return;
  }
  enum { N = 1024 };
  float z[N];
  long n = 0;
  for (uint64_t b = 0; b < (1ull << 32); n += N) {
    for (int j = 0; j < N; j++, b += 4099) {
      uint32_t u = (uint32_t)b;
      memcpy(&z[j], &u, sizeof u);
    }
    sigmoid_pair(k2, k5, z, N);
  }
  for (int c = 0; c < 12; c++, n += N) {
    for (int j = 0; j < N; j++) z[j] = -90.0f + (float)(c * N + j) / 64.0f;
    sigmoid_pair(k2, k5, z, N);
  }
  for (int j = 0; j < N; j++) {
    float e = (j & 1 ? -88.0f : 88.0f);
    int s = (j >> 1) - N / 4;
    z[j] = e;
    for (int i = 0; i < (s < 0 ? -s : s); i++) z[j] = nextafterf(z[j], s < 0 ? -INFINITY : INFINITY);
  }
  sigmoid_pair(k2, k5, z, N);
  fprintf(stderr, "cpu sigmoid: %ld inputs, avx2 and avx512 bit for bit\n", n + N);
}

/* The forward op on a device that may use 2 threads measures the row split against one
 * thread on its first calls (impl.h: cpu_fwd_probe, alternating) and then keeps the
 * faster: every call, whichever way it ran, gives one thread's bits, and the path says
 * what was measured. With exactly 2 threads asked for it always splits, unmeasured. */
static ab_dev *fwd_dev(int threads, int exact) {
  ab_dev *d = NULL;
  ab_err e = {0};
  ab_cpu_opts o = {threads, AB_CPU_ISA_AUTO, 0, exact};
  cr_assert_eq(ab_cpu_dev_create(&d, &o, NULL, 0, &e), AB_OK, "%s", e.msg);
  return d;
}

static void fwd_call(ab_dev *d, ab_mem *y, const ab_mem *x, const ab_mem *p, int K, int B,
                     int IN, int OUT) {
  ab_err e = {0};
  ab_rows rows = {x, NULL, 0, (size_t)B};
  size_t ps = (size_t)(IN + 1) * OUT;
  cr_assert_eq(ab_cpu_ops.linear_act_fwd(d, y, rows, p, 0, (size_t)IN * OUT, AB_ACT_SIGMOID,
                                         K, B, IN, OUT, ps, &e), AB_OK, "%s", e.msg);
}

Test(cpu_backend, the_forward_ops_measured_split_keeps_one_threads_bits) {
  enum { K = 2, B = 600, IN = 100, OUT = 100, CALLS = 2 * CPU_FWD_PROBE_N + 3 };
  size_t nx = (size_t)K * B * IN, ny = (size_t)K * B * OUT, np = (size_t)K * (IN + 1) * OUT;
  float *xs = fbuf(nx), *ps = fbuf(np), *want = fbuf(ny), *got = fbuf(ny);
  ab_rng g;
  ab_rng_seed(&g, 77, 1);
  for (size_t i = 0; i < nx; i++) xs[i] = (float)(ab_rng_uniform(&g) * 2.0 - 1.0);
  for (size_t i = 0; i < np; i++) ps[i] = (float)((ab_rng_uniform(&g) - 0.5) * 0.3);
  ab_mem x = {xs, nx * sizeof(float)}, p = {ps, np * sizeof(float)};
  ab_mem y1 = {want, ny * sizeof(float)}, y2 = {got, ny * sizeof(float)};
  ab_dev *one = fwd_dev(1, 1), *chosen = fwd_dev(2, 0), *exact = fwd_dev(2, 1);
  fwd_call(one, &y1, &x, &p, K, B, IN, OUT);
  for (int c = 0; c < CALLS; c++) {
    memset(got, 0, ny * sizeof(float));
    fwd_call(chosen, &y2, &x, &p, K, B, IN, OUT);
    cr_assert(memcmp(got, want, ny * sizeof(float)) == 0,
              "call %d of the measured forward differs from one thread's bits", c);
  }
  const char *path = ab_cpu_ops.path(chosen);
  cr_assert(strstr(path, "forward op: ") && strstr(path, "measured: split"), "%s", path);
  memset(got, 0, ny * sizeof(float));
  fwd_call(exact, &y2, &x, &p, K, B, IN, OUT);
  cr_assert(memcmp(got, want, ny * sizeof(float)) == 0, "2 threads exactly differ from one");
  cr_assert(!strstr(ab_cpu_ops.path(exact), "forward op"), "%s", ab_cpu_ops.path(exact));
  fprintf(stderr, "cpu forward, 2 threads at most: %s\n", path);
  ab_cpu_ops.destroy(one);
  ab_cpu_ops.destroy(chosen);
  ab_cpu_ops.destroy(exact);
  free(xs); free(ps); free(want); free(got);
}

Test(cpu_backend, every_operation_against_the_reference, .timeout = 600) {
  ab_splits s;
  tu_learnable_splits(&s, NDATA);
  int cases = 0;
  for (size_t ai = 0; ai < sizeof ARCHS / sizeof ARCHS[0]; ai++)
    for (int ri = 0; ri < NROWS; ri++)
      for (int ki = 0; ki < 2; ki++, cases++) backend_case(&s, &ARCHS[ai], ROWS[ri], KS[ki]);
  fprintf(stderr, "cpu backend: %d configurations (arch x batch x K), each on every ISA with "
          "1 and 2 threads: generic bit-identical to the reference, AVX2 within %.0e, "
          "AVX-512 bit-identical to AVX2 until Adam's first update, 1 and 2 threads bit-identical\n", cases, AB_TOL_CPU_WIRING_REL);
  ab_splits_free(&s);
}

Test(cpu_backend, thread_counts_give_identical_results) {
  ab_splits s;
  tu_learnable_splits(&s, NDATA);
  bcfg c = {"100,100", "relu,sigmoid", 100, 3, 1, AB_CPU_ISA_AUTO, 0};
  bout one = {0};
  run_backend(&c, &s, &one);
  for (int threads = 2; threads <= 5; threads++) {
    c.threads = threads;
    bout o = {0};
    run_backend(&c, &s, &o);
    char cfg[64];
    snprintf(cfg, sizeof cfg, "K=3 B=100, %d threads vs 1", threads);
    expect_same(&o, &one, &c, s.val.n, cfg);
    bout_free(&o);
  }
  bout_free(&one);
  ab_splits_free(&s);
}

/* Threads chosen by the backend (exact 0): whole models per thread for K = 3; for one
 * model one thread when a step is small (B = 7), else a measured choice, which epochs
 * of one or two batches are too short for (cpu_train below measures); the path says
 * which, and the bits are those of exactly one thread. */
Test(cpu_backend, chosen_splits_give_one_threads_bits) {
  ab_splits s;
  tu_learnable_splits(&s, NDATA);
  static const struct { int B, K; const char *split; } cases[] = {
      {100, 3, "whole models per thread"}, {100, 1, "to be measured"}, {7, 1, "under"}};
  for (int i = 0; i < 3; i++) {
    bcfg c = {"100,100", "relu,sigmoid", cases[i].B, cases[i].K, 1, AB_CPU_ISA_AUTO, 0};
    bout one = {0}, chosen = {0};
    run_backend(&c, &s, &one);
    c.threads = -2; /* run_backend: 2 threads, chosen */
    run_backend(&c, &s, &chosen);
    char cfg[96];
    snprintf(cfg, sizeof cfg, "B=%d K=%d, 2 threads chosen vs 1", c.B, c.K);
    expect_same(&chosen, &one, &c, s.val.n, cfg);
    cr_assert(strstr(chosen.path, cases[i].split), "%s: path %s", cfg, chosen.path);
    fprintf(stderr, "cpu %s: %s\n", cfg, chosen.path);
    bout_free(&one);
    bout_free(&chosen);
  }
  ab_splits_free(&s);
}

/* The threaded epoch is a whole-epoch override of the generic step (ops.h): over the CPU
 * device's own ops the generic step computes the same bits, on every instruction set. */
Test(cpu_backend, the_threaded_epoch_gives_the_generic_steps_bits) {
  ab_splits s;
  tu_learnable_splits(&s, NDATA);
  ab_cpu_isa is[3];
  int ni = to_isas(is);
  static const arch_case cases[] = {{"100,100", "relu,sigmoid"}, {"129,3", "tanh,relu"}};
  for (int q = 0; q < ni; q++)
    for (int a = 0; a < 2; a++) {
      bcfg c = {cases[a].hidden, cases[a].acts, a ? 7 : 100, a ? 1 : 3, 2, is[q], 1};
      bout generic = {0}, epoch = {0};
      run_backend(&c, &s, &generic);
      c.per_op = 0;
      run_backend(&c, &s, &epoch);
      char cfg[96];
      snprintf(cfg, sizeof cfg, "%s %s K=%d B=%d %s: threaded epoch vs generic step",
               cases[a].hidden, cases[a].acts, c.K, c.B, ab_cpu_isa_name(is[q]));
      expect_same(&epoch, &generic, &c, s.val.n, cfg);
      bout_free(&generic);
      bout_free(&epoch);
    }
  ab_splits_free(&s);
}

Test(cpu_backend, rejects_an_isa_this_cpu_lacks_and_calls_out_of_order) {
  ab_backend *be;
  ab_err e;
  static const ab_cpu_isa fast[2] = {AB_CPU_ISA_AVX2, AB_CPU_ISA_AVX512};
  for (int i = 0; i < 2; i++) {
    ab_cpu_opts o = {1, fast[i], 0, 0};
    if (ab_cpu_isa_resolve(fast[i]) == fast[i]) {
      cr_assert_eq(ab_backend_cpu_create(&be, &o, &e), 0, "%s", e.msg);
      cr_assert(strstr(be->name, ab_cpu_isa_name(fast[i])), "%s", be->name);
      ab_backend_free(be);
      continue;
    }
    fprintf(stderr, "cpu: this CPU lacks %s: its refusal is tested\n", ab_cpu_isa_name(fast[i]));
    cr_assert_eq(ab_backend_cpu_create(&be, &o, &e), AB_EUSAGE);
    cr_assert(strstr(e.msg, ab_cpu_isa_name(fast[i])), "%s", e.msg);
  }
  ab_cpu_opts o = {1, AB_CPU_ISA_AUTO, 0, 0};
  cr_assert_eq(ab_backend_cpu_create(&be, &o, &e), 0, "%s", e.msg);
  double loss;
  int64_t corr;
  cr_assert_eq(ab_backend_evaluate(be, AB_SPLIT_VAL, &loss, &corr, &e), AB_EUSAGE);
  cr_assert(strstr(e.msg, "init_models"), "%s", e.msg);
  ab_backend_free(be);
}

/* ---- training ---- */

static void train_on(ab_train_result *r, ab_backend *be, const ab_splits *s, uint64_t seed) {
  ab_train_cfg cfg = ab_train_cfg_default();
  cfg.epochs = 5;
  cfg.patience = 1000;
  cfg.seed = seed;
  ab_err e;
  cr_assert_eq(ab_train(r, be, &cfg, s, NULL, NULL, &e), 0, "%s", e.msg);
  cr_assert_eq(r->epochs, 5);
}

static ab_backend *cpu_backend(const ab_splits *s, int threads, ab_cpu_isa isa) {
  bcfg c = {NULL, NULL, 0, 0, threads, isa, 0};
  return open_backend(&c, s);
}

static void expect_same_training(const ab_train_result *a, const ab_train_result *b, size_t P,
                                 const char *what) {
  for (int i = 0; i < 5; i++) {
    expect_bits("train loss", what, &a->hist[i].train_loss, &b->hist[i].train_loss, 1, 1);
    expect_bits("validation loss", what, &a->hist[i].val_loss, &b->hist[i].val_loss, 1, 1);
  }
  expect_bits("test loss", what, &a->test_loss, &b->test_loss, 1, 1);
  expect_bits("final params", what, a->params, b->params, P, 0);
}

/* 5 epochs on 2,000 rows through ab_train: per-epoch losses within AB_TOL_TRAIN_LOSS_REL
 * of the reference (bit-identical for the generic kernels), 2 threads identical to 1. */
Test(cpu_train, parity_with_the_reference) {
  ab_splits s;
  tu_learnable_splits(&s, NDATA);
  ab_train_cfg dc = ab_train_cfg_default();
  size_t P = ab_arch_nparams(&dc.arch);
  ab_backend *br = cpu_backend(&s, 0, AB_CPU_ISA_AUTO);
  ab_train_result rr, r1, r2, rg;
  train_on(&rr, br, &s, 3);
  ab_backend *b1 = cpu_backend(&s, 1, AB_CPU_ISA_AUTO), *b2 = cpu_backend(&s, 2, AB_CPU_ISA_AUTO);
  ab_backend *bg = cpu_backend(&s, 2, AB_CPU_ISA_GENERIC);
  train_on(&r1, b1, &s, 3);
  train_on(&r2, b2, &s, 3);
  train_on(&rg, bg, &s, 3);
  double worst = 0;
  for (int i = 0; i < 5; i++) {
    expect_rel("train loss of epoch", "5-epoch parity", i + 1, r1.hist[i].train_loss,
               rr.hist[i].train_loss, AB_TOL_TRAIN_LOSS_REL);
    expect_rel("validation loss of epoch", "5-epoch parity", i + 1, r1.hist[i].val_loss,
               rr.hist[i].val_loss, AB_TOL_TRAIN_LOSS_REL);
    const ab_epoch_stats *a = &r1.hist[i], *b = &rr.hist[i];
    worst = fmax(worst, fabs(a->train_loss - b->train_loss) / b->train_loss);
    worst = fmax(worst, fabs(a->val_loss - b->val_loss) / b->val_loss);
  }
  fprintf(stderr, "cpu train %s: 5 epochs, worst relative loss difference %.3g (allowed %.3g); "
          "test accuracy %.4f vs %.4f; %.2f vs %.2f ms/epoch\n", b1->name, worst,
          AB_TOL_TRAIN_LOSS_REL, r1.test_acc, rr.test_acc, r1.ms_per_epoch, rr.ms_per_epoch);
  cr_expect(r1.hist[4].train_loss < r1.hist[0].train_loss, "training must make progress");
  expect_same_training(&r2, &r1, P, "2 threads vs 1");
  expect_same_training(&rg, &rr, P, "generic kernels vs the reference");
  ab_train_result *all[] = {&rr, &r1, &r2, &rg};
  for (int i = 0; i < 4; i++) ab_train_result_free(all[i]);
  ab_backend *bes[] = {br, b1, b2, bg};
  for (int i = 0; i < 4; i++) ab_backend_free(bes[i]);
  ab_splits_free(&s);
}

/* One model, 2 threads at most: the backend measures the split against one thread in
 * the first epoch, and either way trains one thread's bits. */
Test(cpu_train, a_measured_choice_of_threads_keeps_the_bits) {
  ab_splits s;
  tu_learnable_splits(&s, NDATA);
  ab_train_cfg dc = ab_train_cfg_default();
  size_t P = ab_arch_nparams(&dc.arch);
  ab_backend *b1 = cpu_backend(&s, 1, AB_CPU_ISA_AUTO), *b2;
  ab_cpu_opts o = {2, AB_CPU_ISA_AUTO, 0, 0};
  ab_err e;
  cr_assert_eq(ab_backend_cpu_create(&b2, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_load_data(b2, &s, &e), 0, "%s", e.msg);
  ab_train_result r1, r2;
  train_on(&r1, b1, &s, 4);
  train_on(&r2, b2, &s, 4);
  expect_same_training(&r2, &r1, P, "2 threads chosen vs 1");
  const char *path = ab_backend_path(b2);
  cr_assert(strstr(path, "measured: 2 threads"), "%s", path);
  fprintf(stderr, "cpu train, 2 threads at most: %s\n", path);
  ab_train_result_free(&r1);
  ab_train_result_free(&r2);
  ab_backend_free(b1);
  ab_backend_free(b2);
  ab_splits_free(&s);
}

Test(cpu_train, same_seed_gives_identical_results) {
  ab_splits s;
  tu_learnable_splits(&s, NDATA);
  ab_train_cfg dc = ab_train_cfg_default();
  size_t P = ab_arch_nparams(&dc.arch);
  ab_train_result a, b, c;
  ab_backend *ba = cpu_backend(&s, 2, AB_CPU_ISA_AUTO), *bb = cpu_backend(&s, 2, AB_CPU_ISA_AUTO);
  train_on(&a, ba, &s, 5);
  train_on(&b, bb, &s, 5);
  expect_same_training(&a, &b, P, "same seed twice");
  train_on(&c, ba, &s, 6); /* the same backend object reused, another seed */
  cr_assert(memcmp(a.params, c.params, P * sizeof(float)) != 0, "another seed, other weights");
  ab_train_result_free(&a);
  ab_train_result_free(&b);
  ab_train_result_free(&c);
  ab_backend_free(ba);
  ab_backend_free(bb);
  ab_splits_free(&s);
}

/* ---- the CLI ---- */

/* Deletes the values of the "ms..." fields and of "device", which legitimately differ. */
static void strip_volatile(char *s) {
  static const char *const keys[] = {"ms\": ", "ms_per_epoch\": ", "device\": \""};
  for (int k = 0; k < 3; k++)
    for (char *p = strstr(s, keys[k]); p; p = strstr(p + 1, keys[k])) {
      char *v = p + strlen(keys[k]), *q = v;
      while (*q && (k == 2 ? *q != '"' : *q != ',' && *q != '}')) q++;
      memmove(v, q, strlen(q) + 1);
    }
}

Test(cpu_cli, threads_flag_and_devices) {
  static tu_run a, b, r;
  const char *cmd = "%s train --data synth:3000:5 --device %s --threads %d --epochs 3 "
                    "--patience 9 --quiet --json 2>/dev/null";
  cr_assert_eq(tu_sh(&a, cmd, ABGPU_BIN, "cpu", 1), 0, "%s", a.out);
  cr_assert_eq(tu_sh(&b, cmd, ABGPU_BIN, "cpu", 2), 0, "%s", b.out);
  cr_assert(strstr(a.out, "\"device\": \"cpu ("), "%s", a.out);
  cr_assert(strstr(b.out, "2 threads"), "%s", b.out);
  strip_volatile(a.out);
  strip_volatile(b.out);
  cr_assert_str_eq(a.out, b.out, "--threads 1 and 2 must train identically");
  /* --threads does not apply to ref (or OpenCL): refused before any work, not ignored */
  cr_assert_eq(tu_sh(&r, cmd, ABGPU_BIN, "ref", 1), 2, "%s", r.out);
  tu_sh(&r, "%s train --data synth:3000:5 --device ref --threads 1 --epochs 3", ABGPU_BIN);
  cr_assert(strstr(r.out, "--threads applies to --device cpu only, not to --device ref"), "%s", r.out);
  cr_assert(!strstr(r.out, "epoch"), "refused before training: %s", r.out);
  cr_assert_eq(tu_sh(&r, "%s train --data synth:3000:5 --device ref --epochs 3 --patience 9 "
                         "--quiet --json 2>/dev/null", ABGPU_BIN), 0, "%s", r.out);
  cr_assert(strstr(r.out, "\"device\": \"cpu-ref\""), "%s", r.out);
  tu_expect_usage(&r, "--gemm applies to OpenCL devices only",
                  "%s train --data synth:300 --device cpu --gemm clblast --epochs 1", ABGPU_BIN);
  /* --threads is capped at a few per core: 4096 threads waited 75 s for 2 epochs */
  tu_expect_usage(&r, "--threads 4096: at most",
                  "%s train --data synth:300 --threads 4096 --epochs 1", ABGPU_BIN);
  tu_expect_usage(&r, "abgpu train: --threads", "%s train --threads 0", ABGPU_BIN);
  tu_sh(&r, "%s train --help", ABGPU_BIN);
  cr_assert(strstr(r.out, "--threads N"), "%s", r.out);
}
