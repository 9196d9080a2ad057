/* The forward slot (predictor.h): a saved model scored on every device. On the
 * reference it gives ab_model_forward's bits; on the fast CPU path and OpenCL it agrees
 * within tolerance.h's scoring margins, also through the CLI (eval, predict, importance
 * --device); permutation importance scores only the rows a shuffle changed, and that
 * gives the bits of scoring every row; large files show progress. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/cl.h"
#include "abgpu/cpu.h"
#include "abgpu/predictor.h"
#include "abgpu/rng.h"
#include "abgpu/train.h"
#include "testutil.h"
#include "tolerance.h"

#define NROWS 5000

static char dir[512], model[600], ens[600], csv[600], iso[600], platt[600];

/* A model (log1p and ple encodings, to cover the encoder), an ensemble of two, the same
 * two calibrated (isotonic, Platt: the calibrator is applied in the predictor as in
 * ab_model_forward), and a labelled file to score. */
static void setup(void) {
  tu_run r;
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  snprintf(model, sizeof model, "%s/m.abm", dir);
  snprintf(ens, sizeof ens, "%s/e.abm", dir);
  snprintf(csv, sizeof csv, "%s/c.csv", dir);
  snprintf(iso, sizeof iso, "%s/iso.abm", dir);
  snprintf(platt, sizeof platt, "%s/platt.abm", dir);
  tu_sh(&r, "%s train --data synth:6000:3 --epochs 4 --quiet --transform log1p,ple:8 --out %s"
            " && %s train --data synth:6000:3 --epochs 3 --quiet --ensemble 2 --out %s"
            " && %s synth --rows %d --seed 5 --out %s",
        ABGPU_BIN, model, ABGPU_BIN, ens, ABGPU_BIN, NROWS, csv);
  cr_assert_eq(r.status, 0, "%s", r.out);
  tu_sh(&r, "%s train --data synth:6000:3 --epochs 4 --quiet --transform log1p,ple:8 "
            "--calibrate isotonic --out %s && %s train --data synth:6000:3 --epochs 3 --quiet "
            "--ensemble 2 --calibrate platt --out %s", ABGPU_BIN, iso, ABGPU_BIN, platt);
  cr_assert_eq(r.status, 0, "%s", r.out);
}

/* The prepared rows of csv for m, scored by the reference. */
static void read_ref(ab_scored *s, const ab_model *m) {
  ab_err e = {0};
  cr_assert_eq(ab_model_score_file(s, m, csv, NULL, 1, (ab_scorer){0}, &e), 0, "%s", e.msg);
}

/* The model at path and csv's rows scored by the reference. */
static void load_ref(ab_model *m, ab_scored *s, const char *path) {
  ab_err e = {0};
  cr_assert_eq(ab_model_load(m, path, &e), 0, "%s", e.msg);
  read_ref(s, m);
}

/* m's probabilities of s's rows on be. */
static float *score_on(ab_backend *be, const ab_model *m, const ab_scored *s) {
  ab_predictor *p;
  ab_err e = {0};
  float *prob = malloc(s->n * sizeof *prob);
  cr_assert_eq(ab_predictor_open(&p, be, m, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_predictor_run(p, s->x, s->n, prob, &e), 0, "%s", e.msg);
  ab_predictor_free(p);
  return prob;
}

/* Largest |got - want|; fails beyond AB_TOL_SCORE_ABS. */
static void expect_close(const char *what, const float *got, const float *want, size_t n) {
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]);
    if (!(d <= worst)) { worst = d; at = i; }
  }
  cr_log_info("%s: max |p - p_ref| %.3g (row %zu)", what, worst, at);
  cr_assert(worst <= AB_TOL_SCORE_ABS, "%s: row %zu: %.9g against the reference's %.9g "
            "(tolerance %g)", what, at, got[at], want[at], AB_TOL_SCORE_ABS);
}

static void each_model(void (*check)(const char *path)) {
  check(model);
  check(ens);
  check(iso);
  check(platt);
}

static void ref_bits(const char *path) {
  ab_model m;
  ab_scored s;
  ab_backend *be;
  ab_err e = {0};
  load_ref(&m, &s, path);
  cr_assert_eq(ab_backend_ref_create(&be, &e), 0, "%s", e.msg);
  float *p = score_on(be, &m, &s);
  cr_assert(memcmp(p, s.prob, s.n * sizeof *p) == 0, "%s: the reference device must give "
            "ab_model_forward's bits", path);
  free(p);
  ab_backend_free(be);
  ab_scored_free(&s);
  ab_model_free(&m);
}

Test(predictor, the_reference_device_gives_the_reference_bits, .init = setup) {
  each_model(ref_bits);
}

static void cpu_close(const char *path) {
  ab_model m;
  ab_scored s;
  ab_backend *be;
  ab_err e = {0};
  load_ref(&m, &s, path);
  for (int t = 1; t <= 2; t++) {
    ab_cpu_opts o = {t, AB_CPU_ISA_AUTO, 0, 0};
    cr_assert_eq(ab_backend_cpu_create(&be, &o, &e), 0, "%s", e.msg);
    float *p = score_on(be, &m, &s);
    expect_close(be->name, p, s.prob, s.n);
    if (t == 1) { /* and the thread count changes nothing */
      ab_backend *b2;
      ab_cpu_opts o2 = {2, AB_CPU_ISA_AUTO, 0, 0};
      cr_assert_eq(ab_backend_cpu_create(&b2, &o2, &e), 0, "%s", e.msg);
      float *p2 = score_on(b2, &m, &s);
      cr_assert(memcmp(p, p2, s.n * sizeof *p) == 0, "1 and 2 threads differ");
      free(p2);
      ab_backend_free(b2);
    }
    free(p);
    ab_backend_free(be);
  }
  ab_scored_free(&s);
  ab_model_free(&m);
}

Test(predictor, the_cpu_device_agrees, .init = setup) { each_model(cpu_close); }

static void cl_close(const char *path) {
  int dev = tu_cl_device_or_skip("OpenCL scoring tests");
  ab_model m;
  ab_scored s;
  ab_backend *be;
  ab_err e = {0};
  load_ref(&m, &s, path);
  ab_cl_opts o = {AB_CL_GEMM_OWN, 0, 0, NULL, NULL, {0}, AB_CL_SPLIT_AUTO};
  cr_assert_eq(ab_backend_cl_create(&be, dev, &o, &e), 0, "%s", e.msg);
  float *p = score_on(be, &m, &s);
  expect_close(be->name, p, s.prob, s.n);
  free(p);
  ab_backend_free(be);
  ab_scored_free(&s);
  ab_model_free(&m);
}

Test(predictor, the_opencl_device_agrees, .init = setup) { each_model(cl_close); }

/* ab_backend_forward: one network, rows of its own width. */
Test(predictor, forward_slot_of_one_network) {
  ab_arch a;
  ab_err e = {0};
  cr_assert_eq(ab_arch_parse(&a, 7, "13,5", "tanh,relu", &e), 0, "%s", e.msg);
  size_t P = ab_arch_nparams(&a), n = 3001;
  float *params = malloc(P * sizeof *params), *x = malloc(n * 7 * sizeof *x);
  float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
  ab_init_params(params, &a, 4);
  ab_rng r;
  ab_rng_seed(&r, 5, 1);
  for (size_t i = 0; i < n * 7; i++) x[i] = (float)ab_rng_normal(&r);
  ab_backend *ref, *cpu;
  cr_assert_eq(ab_backend_ref_create(&ref, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_cpu_create(&cpu, NULL, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_forward(ref, &a, params, x, n, want, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_forward(cpu, &a, params, x, n, got, &e), 0, "%s", e.msg);
  expect_close("forward slot, cpu", got, want, n);
  ab_backend_free(ref);
  ab_backend_free(cpu);
  free(params); free(x); free(want); free(got);
}

/* ---- importance: only the changed rows are scored, with the bits of scoring all ---- */

/* The algorithm as it was: shuffle the column in place, score every row. */
static void naive_importance(ab_importance *imp, const ab_model *m, const float *xs,
                             const uint8_t *y, size_t n, int R, uint64_t seed) {
  float *x = malloc(n * AB_NFEAT * sizeof *x), *col = malloc(n * sizeof *col);
  float *prob = malloc(n * sizeof *prob);
  uint32_t *perm = malloc(n * sizeof *perm);
  ab_scorepair *pairs = malloc(n * sizeof *pairs);
  ab_err e = {0};
  memcpy(x, xs, n * AB_NFEAT * sizeof *x);
  memset(imp, 0, sizeof *imp);
  cr_assert_eq(ab_model_forward(m, x, n, prob, &e), 0, "%s", e.msg);
  imp->base_auc = ab_roc_auc(prob, y, n, pairs);
  ab_rng rng;
  ab_rng_seed(&rng, seed, 7);
  for (int j = 0; j < AB_NFEAT; j++) {
    double s = 0, ss = 0;
    for (int k = 0; k < R; k++) {
      for (uint32_t i = 0; i < n; i++) { perm[i] = i; col[i] = x[(size_t)i * AB_NFEAT + j]; }
      ab_rng_shuffle_u32(&rng, perm, (uint32_t)n);
      for (size_t i = 0; i < n; i++) x[i * AB_NFEAT + j] = col[perm[i]];
      cr_assert_eq(ab_model_forward(m, x, n, prob, &e), 0, "%s", e.msg);
      for (size_t i = 0; i < n; i++) x[i * AB_NFEAT + j] = col[i];
      double d = imp->base_auc - ab_roc_auc(prob, y, n, pairs);
      s += d;
      ss += d * d;
    }
    imp->mean[j] = s / R;
    imp->sd[j] = R > 1 ? sqrt(fmax(0.0, (ss - s * s / R) / (R - 1))) : 0.0;
  }
  free(x); free(col); free(prob); free(perm); free(pairs);
}

static int progress_calls;
static void count_progress(void *user, int done, int total, const char *feature) {
  (void)user; (void)feature;
  cr_assert_eq(total, AB_NFEAT);
  cr_assert_eq(done, ++progress_calls);
}

Test(predictor, importance_scores_changed_rows_with_the_bits_of_all, .init = setup) {
  ab_model m;
  ab_scored s;
  ab_err e = {0};
  cr_assert_eq(ab_model_load(&m, model, &e), 0, "%s", e.msg);
  read_ref(&s, &m);
  ab_importance got, want;
  ab_importance_opts o = {3, 11, {0}, count_progress, NULL, NULL, 0};
  progress_calls = 0;
  cr_assert_eq(ab_importance_run(&got, &m, s.x, s.y, s.n, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(progress_calls, AB_NFEAT);
  naive_importance(&want, &m, s.x, s.y, s.n, 3, 11);
  cr_assert(memcmp(&got.base_auc, &want.base_auc, sizeof want.base_auc) == 0);
  for (int j = 0; j < AB_NFEAT; j++) {
    cr_assert(memcmp(&got.mean[j], &want.mean[j], sizeof(double)) == 0,
              "feature %d: mean drop %.17g, scoring every row %.17g", j, got.mean[j],
              want.mean[j]);
    cr_assert(memcmp(&got.sd[j], &want.sd[j], sizeof(double)) == 0, "feature %d sd", j);
  }
  ab_scored_free(&s);
  ab_model_free(&m);
}

/* Rows encoded once, a shuffled feature's columns encoded anew (the predictor's encoded
 * scorer): the bits of scoring every row, on the model with PLE and on the ensemble
 * with the default encodings (PLE and target encoding). */
static int encoded_calls;
static int count_encoded(void *user, const float *x, size_t n, float *prob, ab_err *e) {
  __atomic_fetch_add(&encoded_calls, 1, __ATOMIC_RELAXED);
  return ab_predictor_run_encoded(user, x, n, prob, e);
}

static void encoded_has_the_bits(const char *path) {
  ab_model m;
  ab_scored s;
  ab_err e = {0};
  ab_backend *be;
  ab_predictor *p;
  cr_assert_eq(ab_model_load(&m, path, &e), 0, "%s", e.msg);
  read_ref(&s, &m);
  cr_assert_eq(ab_backend_ref_create(&be, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_predictor_open(&p, be, &m, &e), 0, "%s", e.msg);
  ab_importance got, want;
  ab_importance_opts o = {3, 11, ab_predictor_scorer_encoded(p), NULL, NULL, NULL, 0};
  o.scorer.encoded = count_encoded;
  encoded_calls = 0;
  cr_assert_eq(ab_importance_run(&got, &m, s.x, s.y, s.n, &o, &e), 0, "%s", e.msg);
  cr_assert_geq(encoded_calls, AB_NFEAT, "%s: the encoded rows were scored", path);
  naive_importance(&want, &m, s.x, s.y, s.n, 3, 11);
  cr_assert(memcmp(&got.base_auc, &want.base_auc, sizeof want.base_auc) == 0);
  for (int j = 0; j < AB_NFEAT; j++) {
    cr_assert(memcmp(&got.mean[j], &want.mean[j], sizeof(double)) == 0,
              "%s feature %d: mean drop %.17g, scoring every row %.17g", path, j, got.mean[j],
              want.mean[j]);
    cr_assert(memcmp(&got.sd[j], &want.sd[j], sizeof(double)) == 0, "%s feature %d sd", path, j);
  }
  ab_predictor_free(p);
  ab_backend_free(be);
  ab_scored_free(&s);
  ab_model_free(&m);
}

Test(predictor, importance_on_encoded_rows_has_the_bits_of_all, .init = setup) {
  encoded_has_the_bits(model);
  encoded_has_the_bits(ens);
}

/* Three threads, each with its own reference backend: the bits of one thread. */
Test(predictor, importance_on_threads_has_the_bits_of_one, .init = setup) {
  ab_model m;
  ab_scored s;
  ab_err e = {0};
  cr_assert_eq(ab_model_load(&m, model, &e), 0, "%s", e.msg);
  read_ref(&s, &m);
  ab_backend *be[3];
  ab_predictor *p[3];
  ab_scorer sc[3];
  for (int t = 0; t < 3; t++) {
    cr_assert_eq(ab_backend_ref_create(&be[t], &e), 0, "%s", e.msg);
    cr_assert_eq(ab_predictor_open(&p[t], be[t], &m, &e), 0, "%s", e.msg);
  }
  ab_importance one, three;
  for (int enc = 0; enc < 2; enc++) { /* prepared rows, then rows encoded once */
    for (int t = 0; t < 3; t++)
      sc[t] = enc ? ab_predictor_scorer_encoded(p[t]) : ab_predictor_scorer(p[t]);
    ab_importance_opts o1 = {3, 11, sc[0], NULL, NULL, NULL, 0};
    cr_assert_eq(ab_importance_run(&one, &m, s.x, s.y, s.n, &o1, &e), 0, "%s", e.msg);
    o1.scorers = sc;
    o1.nscorers = 3;
    cr_assert_eq(ab_importance_run(&three, &m, s.x, s.y, s.n, &o1, &e), 0, "%s", e.msg);
    cr_assert(memcmp(&one, &three, sizeof one) == 0, "3 threads: other figures than 1 (%d)", enc);
  }
  ab_importance_opts o = {3, 11, sc[0], NULL, NULL, sc, 3};
  cr_assert_gt(one.pd_rows, 0, "partial dependence computed (and so compared)");
  o.nscorers = AB_IMPORTANCE_MAX_SCORERS + 1;
  cr_assert_eq(ab_importance_run(&three, &m, s.x, s.y, s.n, &o, &e), AB_EUSAGE);
  for (int t = 0; t < 3; t++) {
    ab_predictor_free(p[t]);
    ab_backend_free(be[t]);
  }
  ab_scored_free(&s);
  ab_model_free(&m);
}

/* ---- the CLI: the same figures on every device ---- */

static void cli_json(tu_run *r, const char *cmd, const char *dev) {
  tu_sh(r, "%s %s --model %s --data %s --json --device %s 2>/dev/null", ABGPU_BIN, cmd, model,
        csv, dev);
  cr_assert_eq(r->status, 0, "%s --device %s: %s", cmd, dev, r->out);
}

static void expect_figures(const char *dev, const tu_run *ref, const tu_run *got,
                           const char *const *keys, int nkeys, double tol) {
  for (int i = 0; i < nkeys; i++) {
    double a = tu_json_num(got->out, keys[i]), b = tu_json_num(ref->out, keys[i]);
    cr_assert(!isnan(a) && !isnan(b), "%s: no %s in %s", dev, keys[i], got->out);
    cr_assert(fabs(a - b) <= tol, "--device %s: %s %.9g, reference %.9g (tolerance %g)", dev,
              keys[i], a, b, tol);
  }
}

static void cli_device(const char *dev, const tu_run *eref, const tu_run *iref) {
  static tu_run ev, im;
  cli_json(&ev, "eval", dev);
  static const char *const rank[] = {"roc_auc", "pr_auc"};
  expect_figures(dev, eref, &ev, rank, 2, AB_TOL_SCORE_AUC);
  static const char *const flips[] = {"tp", "fp", "tn", "fn"};
  expect_figures(dev, eref, &ev, flips, 4, NROWS * AB_TOL_PRED_FLIPS_PER_1000 / 1000.0);
  cli_json(&im, "importance --repeats 2", dev);
  static const char *const imp[] = {"base_roc_auc"};
  expect_figures(dev, iref, &im, imp, 1, AB_TOL_SCORE_AUC);
}

Test(predictor, cli_eval_and_importance_agree_on_cpu, .init = setup, .timeout = 120) {
  static tu_run eref, iref;
  cli_json(&eref, "eval", "ref");
  cli_json(&iref, "importance --repeats 2", "ref");
  cli_device("cpu", &eref, &iref);
}

Test(predictor, cli_eval_and_importance_agree_on_opencl, .init = setup, .timeout = 120) {
  tu_cl_device_or_skip("OpenCL scoring tests");
  static tu_run eref, iref;
  cli_json(&eref, "eval", "ref");
  cli_json(&iref, "importance --repeats 2", "ref");
  cli_device("0", &eref, &iref);
}

/* predict: the device's probabilities within AB_TOL_SCORE_ABS of the reference's
 * (printed to 1e-6, so one more unit of the last digit). */
static void cli_predict(const char *dev) {
  tu_run r;
  char a[700], b[700];
  snprintf(a, sizeof a, "%s/p_ref.csv", dir);
  snprintf(b, sizeof b, "%s/p_dev.csv", dir);
  tu_sh(&r, "%s predict --model %s --data %s --device ref --out %s && "
            "%s predict --model %s --data %s --device %s --out %s",
        ABGPU_BIN, model, csv, a, ABGPU_BIN, model, csv, dev, b);
  cr_assert_eq(r.status, 0, "%s", r.out);
  FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
  cr_assert(fa && fb);
  char la[128], lb[128];
  cr_assert(fgets(la, sizeof la, fa) && fgets(lb, sizeof lb, fb)); /* the headers */
  int rows = 0, ka, kb;
  long long ia, ib;
  double pa, pb;
  while (fscanf(fa, "%lld,%lf,%d", &ia, &pa, &ka) == 3 &&
         fscanf(fb, "%lld,%lf,%d", &ib, &pb, &kb) == 3) {
    cr_assert_eq(ia, ib);
    cr_assert(fabs(pa - pb) <= AB_TOL_SCORE_ABS + 1e-6, "row %d: %g vs %g", rows, pa, pb);
    rows++;
  }
  fclose(fa);
  fclose(fb);
  cr_assert_eq(rows, NROWS, "--device %s: %d rows compared", dev, rows);
}

Test(predictor, cli_predict_agrees_on_cpu, .init = setup) { cli_predict("cpu"); }

Test(predictor, cli_predict_agrees_on_opencl, .init = setup) {
  tu_cl_device_or_skip("OpenCL scoring tests");
  cli_predict("0");
}

/* --threads: the same JSON from 1 and 3 threads, on a file of several chunks (32768 rows
 * each), so that the threads share a feature's chunks. */
Test(predictor, cli_importance_same_on_any_number_of_threads, .init = setup, .timeout = 120) {
  static tu_run r, a, b;
  tu_sh(&r, "%s synth --rows 70000 --seed 8 --out %s/mid.csv >/dev/null", ABGPU_BIN, dir);
  cr_assert_eq(r.status, 0, "%s", r.out);
  const char *cmd = "%s importance --model %s --data %s/mid.csv --repeats 2 --json --threads %d";
  tu_sh(&a, cmd, ABGPU_BIN, model, dir, 1);
  tu_sh(&b, cmd, ABGPU_BIN, model, dir, 3);
  cr_assert_eq(a.status, 0, "%s", a.out);
  cr_assert_eq(b.status, 0, "%s", b.out);
  cr_assert_str_eq(a.out, b.out, "--threads 1 and 3 differ");
  static const char *const arrays[] = {"\"pd_values\": [", "\"pd_probability\": ["};
  for (int k = 0; k < 2; k++) {
    int found = 0;
    for (const char *p = strstr(a.out, arrays[k]); p; p = strstr(p + 1, arrays[k]), found++) {
      int values = 1;
      for (const char *q = p + strlen(arrays[k]); *q && *q != ']'; q++) values += *q == ',';
      cr_assert_eq(values, AB_PD_POINTS, "%s: %d values", arrays[k], values);
    }
    cr_assert_eq(found, AB_NFEAT, "%s in %d features", arrays[k], found);
  }
}

/* importance prints a line per feature on large files (or a terminal), none with --quiet. */
Test(predictor, importance_shows_progress_on_large_files, .init = setup, .timeout = 120) {
  static tu_run r;
  tu_sh(&r, "%s synth --rows 100000 --seed 9 --out %s/big.csv >/dev/null && "
            "%s importance --model %s --data %s/big.csv --repeats 1 >/dev/null",
        ABGPU_BIN, dir, ABGPU_BIN, model, dir);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "importance on 100000 customers"), "%s", r.out);
  cr_assert(strstr(r.out, "importance: 10/10 features done (last_visited_minus_purchase)"),
            "%s", r.out);
  tu_sh(&r, "%s importance --model %s --data %s/big.csv --repeats 1 --quiet >/dev/null",
        ABGPU_BIN, model, dir);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(!strstr(r.out, "features done"), "--quiet must print no progress: %s", r.out);
}

/* eval and importance warn when the file is the model's training data (its hash), and only
 * then. */
Test(predictor, warns_on_the_training_data, .init = setup, .timeout = 120) {
  static tu_run r;
  tu_sh(&r, "cd %s && %s synth --rows 3000 --seed 4 --out t.csv >/dev/null && "
            "%s train --data t.csv --epochs 2 --quiet --out w.abm >/dev/null", dir, ABGPU_BIN,
        ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  const char *warn = "t.csv is the data this model was trained on";
  static const char *const cmds[] = {"eval", "importance --repeats 1"};
  for (int k = 0; k < 2; k++) {
    tu_sh(&r, "cd %s && %s %s --model w.abm --data t.csv 2>&1 >/dev/null", dir, ABGPU_BIN, cmds[k]);
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(strstr(r.out, warn), "%s on the training data: no warning: %s", cmds[k], r.out);
    tu_sh(&r, "cd %s && %s %s --model w.abm --data %s 2>&1 >/dev/null", dir, ABGPU_BIN, cmds[k],
          csv);
    cr_assert_eq(r.status, 0, "%s", r.out);
    cr_assert(!strstr(r.out, "is the data this model was trained on"),
              "%s on other data warns: %s", cmds[k], r.out);
  }
}
