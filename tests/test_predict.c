/* predict and export: one row out per row in, ids in file order, the target column
 * ignored, the model's fills and scaler used, --sort/--top, streaming across chunks, and
 * docs/python.md's numpy lines reproducing the probabilities. */
#define _GNU_SOURCE /* memmem */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/model.h"
#include "testutil.h"
#include "tolerance.h"

static char model[600], dir[512];

static void setup(void) {
  tu_run r;
  snprintf(dir, sizeof dir, "%s", tu_tmpdir());
  snprintf(model, sizeof model, "%s/p.abm", dir);
  tu_sh(&r, "%s train --data synth:2000:7 --epochs 3 --quiet --out %s", ABGPU_BIN, model);
  cr_assert_eq(r.status, 0, "%s", r.out);
}

/* Ten customers with unordered ids; the same rows with and without the target. */
static const char *ROWS[10] = {
    "907,1620,1620,19.73,19.73,1,10,0.99,1603.8,5,92",  "12,2160,2160,5.33,5.33,0,8.91,0,0,0,0",
    "5,2160,2160,5.33,5.33,0,8.91,0,0,0,388",          "3000,1620,1620,5.96,5.96,0,8.91,0.42,680.4,1,129",
    "44,2160,2160,5.33,5.33,0,8.91,0.22,475.2,0,361",   "1,2160,2160,4.61,4.61,0,8.91,0,0,0,0",
    "88,648,648,5.33,5.33,0,8.91,0,0,0,0",              "2,1188,1188,6.4,6.4,1,9,0,0,0,0",
    "70001,1080,1080,9.4,9.4,0,8.91,0.8,864,0,0",       "600,2160,2160,5.33,5.33,1,8,0.5,1080,2,14"};
static const int64_t IDS[10] = {907, 12, 5, 3000, 44, 1, 88, 2, 70001, 600};

static void write_rows(const char *path, int with_target, int header) {
  FILE *f = fopen(path, "w");
  cr_assert(f);
  if (header)
    fprintf(f, "id,book_length_overall,book_length_avg,price_overall,price_avg,review,review_10,"
               "completion,minutes_listened,support_requests,last_visited_minus_purchase%s\r\n",
            with_target ? ",targets" : "");
  for (int i = 0; i < 10; i++) fprintf(f, "%s%s\r\n", ROWS[i], with_target ? (i % 3 ? ",0" : ",1") : "");
  fclose(f);
}

/* Parses predict's output: header, then id,prob,flag lines. Returns rows. */
static int parse_scores(const char *out, int64_t *id, double *p, int *flag, int max) {
  const char *s = strstr(out, "customer_id,probability,will_buy\n");
  cr_assert(s, "no header in: %s", out);
  s += strlen("customer_id,probability,will_buy\n");
  int n = 0;
  while (*s && n < max) {
    long long a;
    double b;
    int c, used;
    if (sscanf(s, "%lld,%lf,%d\n%n", &a, &b, &c, &used) != 3) break;
    id[n] = a, p[n] = b, flag[n] = c, n++;
    s += used;
  }
  return n;
}

Test(predict, one_row_per_row_ids_in_order_target_ignored, .init = setup) {
  char with[600], without[600];
  snprintf(with, sizeof with, "%s/with.csv", dir);
  snprintf(without, sizeof without, "%s/without.csv", dir);
  write_rows(with, 1, 0);
  write_rows(without, 0, 1);
  static tu_run a, b;
  tu_sh(&a, "%s predict --model %s --data %s", ABGPU_BIN, model, with);
  tu_sh(&b, "%s predict --model %s --data %s --out -", ABGPU_BIN, model, without);
  cr_assert_eq(a.status, 0, "%s", a.out);
  cr_assert_eq(b.status, 0, "%s", b.out);
  cr_assert_str_eq(a.out, b.out, "the target column changed the scores");
  int64_t id[20];
  double p[20];
  int fl[20];
  cr_assert_eq(parse_scores(a.out, id, p, fl, 20), 10, "%s", a.out);
  for (int i = 0; i < 10; i++) {
    cr_assert_eq(id[i], IDS[i]);
    cr_assert(p[i] >= 0 && p[i] <= 1);
    cr_assert_eq(fl[i], p[i] >= 0.5);
  }
}

Test(predict, matches_the_library_and_uses_the_model_fills, .init = setup) {
  ab_model m;
  ab_err e = {0};
  cr_assert_eq(ab_model_load(&m, model, &e), 0, "%s", e.msg);
  /* row 0 with an empty completion field must score as row 0 with the model's fill */
  float x[2][AB_NFEAT] = {{1620, 1620, 19.73f, 19.73f, 1, 10, NAN, 1603.8f, 5, 92}};
  memcpy(x[1], x[0], sizeof x[0]);
  x[1][6] = m.fill[6];
  uint64_t filled[AB_NFEAT] = {0};
  ab_model_prepare(&m, &x[0][0], 2, filled);
  cr_assert_eq(filled[6], 1);
  float prob[2];
  cr_assert_eq(ab_model_forward(&m, &x[0][0], 2, prob, &e), 0);
  cr_assert_eq(prob[0], prob[1]);
  char path[600];
  snprintf(path, sizeof path, "%s/missing.csv", dir);
  tu_write(path, "77,1620,1620,19.73,19.73,1,10,,1603.8,5,92\n");
  static tu_run r;
  tu_sh(&r, "%s predict --model %s --data %s 2>/dev/null", ABGPU_BIN, model, path);
  cr_assert_eq(r.status, 0, "%s", r.out);
  int64_t id;
  double p;
  int fl;
  cr_assert_eq(parse_scores(r.out, &id, &p, &fl, 1), 1);
  cr_assert_eq(id, 77);
  /* six printed decimals, and predict's fast kernels round differently (fma): 2e-6 */
  cr_assert_float_eq(p, prob[0], 2e-6, "predict %g, library %g", p, prob[0]);
  ab_model_free(&m);
}

Test(predict, sort_and_top, .init = setup) {
  char with[600];
  snprintf(with, sizeof with, "%s/top.csv", dir);
  write_rows(with, 1, 0);
  static tu_run all, top, pct;
  tu_sh(&all, "%s predict --model %s --data %s --sort", ABGPU_BIN, model, with);
  tu_sh(&top, "%s predict --model %s --data %s --top 3", ABGPU_BIN, model, with);
  tu_sh(&pct, "%s predict --model %s --data %s --top 15%%", ABGPU_BIN, model, with);
  int64_t id[3][20];
  double p[3][20];
  int fl[20];
  cr_assert_eq(parse_scores(all.out, id[0], p[0], fl, 20), 10, "%s", all.out);
  cr_assert_eq(parse_scores(top.out, id[1], p[1], fl, 20), 3, "%s", top.out);
  cr_assert_eq(parse_scores(pct.out, id[2], p[2], fl, 20), 2, "15%% of 10 rounds up: %s", pct.out);
  for (int i = 1; i < 10; i++) cr_assert_geq(p[0][i - 1], p[0][i], "not sorted at %d", i);
  for (int i = 0; i < 3; i++) cr_assert_eq(id[1][i], id[0][i]);
  static tu_run bad;
  const char *flags[] = {"--top 0", "--top 120%", "--top x", "--threshold 2", "--prior 0"};
  for (int i = 0; i < 5; i++) {
    tu_sh(&bad, "%s predict --model %s --data %s %s", ABGPU_BIN, model, with, flags[i]);
    cr_expect_eq(bad.status, 2, "%s: %s", flags[i], bad.out);
  }
}

/* --budget N is --top N, and both are the first N of all customers sorted by score (the
 * reference's probabilities, ties in file order); --threshold is on the raw probability
 * whether or not --prior corrects the written one, so will_buy does not change with it. */
static const float *by_score_prob;
static int by_score(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  float p = by_score_prob[x], q = by_score_prob[y];
  return p != q ? (p > q ? -1 : 1) : (x > y) - (x < y);
}

Test(predict, budget_top_and_one_threshold, .init = setup, .timeout = 60) {
  static tu_run r, top;
  char data[600];
  snprintf(data, sizeof data, "%s/b.csv", dir);
  tu_sh(&r, "%s synth --rows 6000 --seed 12 --out %s", ABGPU_BIN, data);
  cr_assert_eq(r.status, 0, "%s", r.out);
  tu_sh(&r, "%s predict --model %s --data %s --budget 2000 --device ref | cut -d, -f1",
        ABGPU_BIN, model, data);
  cr_assert_eq(r.status, 0, "%s", r.out);
  tu_sh(&top, "%s predict --model %s --data %s --top 2000 --device ref | cut -d, -f1",
        ABGPU_BIN, model, data);
  cr_assert_str_eq(r.out, top.out, "--budget 2000 and --top 2000 differ");
  ab_model m;
  ab_scored sc;
  ab_err e = {0};
  cr_assert_eq(ab_model_load(&m, model, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_model_score_file(&sc, &m, data, NULL, 0, (ab_scorer){0}, &e), 0, "%s", e.msg);
  uint32_t *idx = malloc(sc.n * sizeof *idx);
  for (uint32_t i = 0; i < sc.n; i++) idx[i] = i;
  by_score_prob = sc.prob;
  qsort(idx, sc.n, sizeof *idx, by_score);
  const char *line = strchr(r.out, '\n') + 1; /* after the header */
  for (int k = 0; k < 2000; k++) {
    const char *id = ab_ids_get(&sc.ids, idx[k]);
    cr_assert(!strncmp(line, id, strlen(id)) && line[strlen(id)] == '\n',
              "customer %d by score is %s, --budget wrote %.20s", k + 1, id, line);
    line = strchr(line, '\n') + 1;
  }
  cr_assert_eq(*line, 0, "more than 2000 customers written");
  free(idx);
  ab_scored_free(&sc);
  ab_model_free(&m);
  tu_sh(&r, "cd %s && %s predict --model %s --data b.csv --out all.csv && "
            "%s predict --model %s --data b.csv --prior 0.05 --out prior.csv && "
            "cut -d, -f1,3 all.csv > a && cut -d, -f1,3 prior.csv | cmp - a && "
            "cut -d, -f2 all.csv > a && cut -d, -f2 prior.csv | cmp -s - a || echo corrected",
        dir, ABGPU_BIN, model, ABGPU_BIN, model);
  cr_assert_eq(r.status, 0, "will_buy changed with --prior: %s", r.out);
  cr_assert(strstr(r.out, "corrected"), "--prior 0.05 wrote the raw probabilities: %s", r.out);
  static const char *const bad[] = {"--budget 10%", "--budget 5 --top 5", "--budget 0"};
  for (int i = 0; i < 3; i++) {
    tu_sh(&r, "cd %s && %s predict --model %s --data b.csv %s", dir, ABGPU_BIN, model, bad[i]);
    cr_expect_eq(r.status, 2, "%s: %s", bad[i], r.out);
  }
}

Test(predict, streams_across_chunks_and_writes_atomically, .init = setup, .timeout = 60) {
  static tu_run r;
  tu_sh(&r, "cd %s && %s synth --rows 150000 --seed 3 --out big.csv >/dev/null && "
            "%s predict --model %s --data big.csv --out scores.csv && ls && wc -l < scores.csv && "
            "sed -n '2p;65537p;65538p;150001p' scores.csv | cut -d, -f1 | tr '\\n' ' '",
        dir, ABGPU_BIN, ABGPU_BIN, model);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "150001\n"), "rows: %s", r.out);
  cr_assert(strstr(r.out, "1 65536 65537 150000 "), "ids: %s", r.out);
  cr_assert(!strstr(r.out, ".tmp."), "a temp file was left: %s", r.out);
}

Test(predict, bad_input_exits_2_and_leaves_no_output, .init = setup) {
  static tu_run r;
  char path[600];
  snprintf(path, sizeof path, "%s/bad.csv", dir);
  tu_write(path, "1,2,3\n");
  tu_sh(&r, "cd %s && %s predict --model %s --data bad.csv --out o.csv; echo rc=$?; ls",
        dir, ABGPU_BIN, model);
  cr_assert(strstr(r.out, "rc=2"), "%s", r.out);
  cr_assert(strstr(r.out, "bad.csv:1:1:"), "%s", r.out);
  cr_assert(!strstr(r.out, "o.csv"), "%s", r.out);
  tu_sh(&r, "%s predict --help", ABGPU_BIN);
  const char *flags[] = {"--model", "--data", "--out", "--threshold", "--sort", "--top", "--prior"};
  for (int i = 0; i < 7; i++) cr_expect(strstr(r.out, flags[i]), "--help lacks %s", flags[i]);
}

/* Issue 17 item 13: a header without rows is refused as eval refuses it (and --sort on
 * no rows called qsort(NULL)); a full disk names the file; a folder as model says so. */
Test(predict, header_only_full_disk_and_folder_as_model, .init = setup) {
  static tu_run r;
  char path[600];
  snprintf(path, sizeof path, "%s/head.csv", dir);
  write_rows(path, 1, 1);
  tu_sh(&r, "cd %s && head -1 head.csv > only.csv && %s predict --model %s --data only.csv "
            "--sort --out o.csv; echo rc=$?; ls", dir, ABGPU_BIN, model);
  cr_assert(strstr(r.out, "only.csv:1:1: no customer rows"), "%s", r.out);
  cr_assert(strstr(r.out, "rc=2") && !strstr(r.out, "o.csv"), "%s", r.out);
  tu_sh(&r, "%s predict --model %s --data %s --out /dev/full", ABGPU_BIN, model, path);
  cr_assert_eq(r.status, 4, "%s", r.out);
  cr_assert(strstr(r.out, "abgpu: /dev/full: write failed: No space left on device"), "%s", r.out);
  tu_sh(&r, "%s predict --model %s --data %s", ABGPU_BIN, dir, path);
  cr_assert_eq(r.status, 2, "%s", r.out);
  cr_assert(strstr(r.out, "is a folder, not a model file"), "%s", r.out);
  cr_assert(!strstr(r.out, "9223372036854775807"), "%s", r.out);
}

/* Runs the first two ```python blocks of docs/python.md (inputs, one network) on the
 * export of model m and compares p with predict's probabilities. */
static void python_doc_check(const char *m) {
  static tu_run r;
  char path[600];
  snprintf(path, sizeof path, "%s/check_tail.py", dir);
  cr_assert_eq(tu_write(path, "import sys\n"
                              "got = np.genfromtxt('scores.csv', delimiter=',', skip_header=1)\n"
                              "assert got.shape[0] == p.shape[0], (got.shape, p.shape)\n"
                              "err = np.max(np.abs(got[:, 1] - p))\n"
                              "print('max abs difference %.3g' % err)\n"
                              "sys.exit(0 if err <= 1e-5 else 1)\n"), 0);
  tu_sh(&r, "cd %s && awk '/^```python/{n++; on=1; next} /^```/{on=0} on && n<=2' "
            "%s/docs/python.md > doc.py && cat doc.py check_tail.py > check.py && "
            "%s synth --rows 3000 --seed 11 --out customers.csv >/dev/null && "
            "%s export --model %s --out weights.npz && "
            "%s predict --model %s --data customers.csv --out scores.csv && /usr/bin/python3 check.py",
        dir, ABGPU_SRC_DIR, ABGPU_BIN, ABGPU_BIN, m, ABGPU_BIN, m);
  cr_assert_eq(r.status, 0, "%s: %s", m, r.out);
  cr_log_info("%s: %s", m, r.out);
}

Test(predict, python_doc_reproduces_predict_with_numpy, .init = setup, .timeout = 60) {
  static tu_run r;
  if (tu_sh(&r, "/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0)
    cr_skip_test("python3-numpy is not installed: docs/python.md is not checked "
                 "(apt-get install python3-numpy)");
  python_doc_check(model);
  char enc[600];
  snprintf(enc, sizeof enc, "%s/enc.abm", dir);
  tu_sh(&r, "%s train --data synth:3000:5 --epochs 4 --transform log1p,ple:8,te --quiet --out %s",
        ABGPU_BIN, enc);
  cr_assert_eq(r.status, 0, "%s", r.out);
  python_doc_check(enc);
  static const char *const kinds[] = {"platt", "isotonic"};
  for (int k = 0; k < 2; k++) { /* and the calibration lines */
    tu_sh(&r, "%s train --data synth:3000:5 --epochs 4 --calibrate %s --quiet --out %s",
          ABGPU_BIN, kinds[k], enc);
    cr_assert_eq(r.status, 0, "%s", r.out);
    python_doc_check(enc);
  }
}

/* One float64 array `name` of the stored (uncompressed) .npz buf[n], copied into a new
 * array; its length from the .npy header's shape. */
static double *npz_f64(const char *buf, size_t n, const char *name, size_t *len) {
  char key[64];
  snprintf(key, sizeof key, "%s.npy", name);
  const char *s = memmem(buf, n, key, strlen(key));
  cr_assert(s, "no %s in the export", key);
  const char *magic = memmem(s, n - (size_t)(s - buf), "\x93NUMPY", 6);
  cr_assert(magic, "no .npy after %s", key);
  size_t hlen = (unsigned char)magic[8] | (size_t)(unsigned char)magic[9] << 8;
  const char *shape = strstr(magic + 10, "'shape': (");
  cr_assert(shape && strstr(magic + 10, "'descr': '<f8'"), "%s is not float64", name);
  cr_assert_eq(sscanf(shape + 10, "%zu", len), 1);
  cr_assert((size_t)(magic + 10 + hlen - buf) + *len * 8 <= n);
  double *v = malloc(*len * sizeof *v);
  memcpy(v, magic + 10 + hlen, *len * sizeof *v);
  return v;
}

/* What docs/python.md does with the export's calibration arrays, written again here. */
static double apply_export(double p, int kind, const double *ab, const double *x,
                           const double *y, size_t n) {
  if (kind == 1) {
    double q = p < 1e-7 ? 1e-7 : p > 1 - 1e-7 ? 1 - 1e-7 : p;
    return 1 / (1 + exp(-(ab[0] * log(q / (1 - q)) + ab[1])));
  }
  if (p <= x[0]) return y[0];
  if (p >= x[n - 1]) return y[n - 1];
  size_t k = 1;
  while (x[k] < p) k++;
  return y[k - 1] + (p - x[k - 1]) / (x[k] - x[k - 1]) * (y[k] - y[k - 1]);
}

/* A calibrated model gives the same probabilities through predict (ref and cpu devices)
 * as the network's own probabilities (the model loaded, its calibrator set aside) mapped
 * by the arrays export wrote; eval's Brier score and confusion counts are those of
 * predict's probabilities. Tolerances: predict prints 6 decimals (5e-7) and rounds to
 * float (6e-8); the cpu device adds AB_TOL_SCORE_ABS (tolerance.h). The Brier score from
 * printed probabilities moves by at most 2 * 5.6e-7 per row. */
Test(predict, calibrated_predict_eval_and_export_agree, .init = setup, .timeout = 120) {
  static const char *const kinds[] = {"platt", "isotonic"};
  static tu_run r, q;
  static int64_t id[3000];
  static double p[3000], pc[3000];
  static int fl[3000];
  for (int k = 0; k < 2; k++) {
    char m[700];
    snprintf(m, sizeof m, "%s/cal_%s.abm", dir, kinds[k]);
    tu_sh(&r, "cd %s && %s train --data synth:4000:5 --epochs 4 --quiet --calibrate %s --out %s"
              " && %s synth --rows 3000 --seed 11 --out cal.csv > /dev/null && %s export "
              "--model %s --out cal.npz 2> /dev/null", dir, ABGPU_BIN, kinds[k], m, ABGPU_BIN,
          ABGPU_BIN, m);
    cr_assert_eq(r.status, 0, "%s", r.out);
    /* the export's arrays */
    char path[700];
    snprintf(path, sizeof path, "%s/cal.npz", dir);
    FILE *f = fopen(path, "rb");
    cr_assert(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f), nab = 0, nx = 0, ny = 0;
    fclose(f);
    const char *kk = memmem(buf, n, "calib_kind.npy", 14);
    cr_assert(kk, "no calib_kind in the export");
    const char *km = memmem(kk, n - (size_t)(kk - buf), "\x93NUMPY", 6);
    int32_t kind;
    memcpy(&kind, km + 10 + ((unsigned char)km[8] | (size_t)(unsigned char)km[9] << 8), 4);
    cr_assert_eq(kind, k + 1, "calib_kind of a %s model", kinds[k]);
    double *ab = k == 0 ? npz_f64(buf, n, "platt_ab", &nab) : NULL;
    double *x = k == 1 ? npz_f64(buf, n, "iso_x", &nx) : NULL;
    double *y = k == 1 ? npz_f64(buf, n, "iso_y", &ny) : NULL;
    cr_assert(k == 0 ? nab == 2 : nx == ny && nx >= 2, "%zu %zu %zu", nab, nx, ny);
    /* the network's own probabilities of the rows */
    ab_model mod;
    ab_scored s;
    ab_err e = {0};
    cr_assert_eq(ab_model_load(&mod, m, &e), 0, "%s", e.msg);
    cr_assert_eq(mod.calib.kind, (ab_calib_kind)(k + 1));
    ab_calib kept = mod.calib;
    mod.calib.kind = AB_CALIB_NONE;
    snprintf(path, sizeof path, "%s/cal.csv", dir);
    cr_assert_eq(ab_model_score_file(&s, &mod, path, NULL, 1, (ab_scorer){0}, &e), 0, "%s", e.msg);
    mod.calib = kept;
    cr_assert_eq(s.n, 3000);
    for (size_t i = 0; i < s.n; i++) pc[i] = apply_export(s.prob[i], kind, ab, x, y, nx);
    static const char *const devs[] = {"ref", "cpu"};
    for (int d = 0; d < 2; d++) {
      tu_sh(&q, "cd %s && %s predict --model %s --data cal.csv --device %s", dir, ABGPU_BIN, m,
            devs[d]);
      cr_assert_eq(q.status, 0, "%s", q.out);
      cr_assert_eq(parse_scores(q.out, id, p, fl, 3000), 3000);
      double worst = 0, tol = 5.6e-7 + (d ? AB_TOL_SCORE_ABS : 0);
      for (size_t i = 0; i < s.n; i++) worst = fmax(worst, fabs(p[i] - pc[i]));
      cr_log_info("%s on %s: max |predict - export applied| %.3g", kinds[k], devs[d], worst);
      cr_expect_leq(worst, tol, "%s on %s: %.3g", kinds[k], devs[d], worst);
    }
    /* eval's figures are of the same probabilities (predict's on ref, just above) */
    tu_sh(&q, "cd %s && %s eval --model %s --data cal.csv --device ref --json", dir, ABGPU_BIN, m);
    cr_assert_eq(q.status, 0, "%s", q.out);
    double brier = 0;
    uint64_t tp = 0;
    for (size_t i = 0; i < s.n; i++) {
      brier += (p[i] - s.y[i]) * (p[i] - s.y[i]);
      tp += fl[i] && s.y[i];
    }
    brier /= (double)s.n;
    double eb = tu_json_num(q.out, "brier"), etp = tu_json_num(q.out, "tp");
    cr_expect_leq(fabs(eb - brier), 2 * 5.6e-7, "eval Brier %.9g, predict's %.9g", eb, brier);
    cr_expect_eq(etp, (double)tp, "eval tp %g, predict's %llu", etp, (unsigned long long)tp);
    /* importance ranks the same calibrated probabilities: its base ROC AUC is eval's (with
     * isotonic's ties counted half in both) */
    double auc = tu_json_num(q.out, "roc_auc");
    tu_sh(&q, "cd %s && %s importance --model %s --data cal.csv --device ref --repeats 1 --json",
          dir, ABGPU_BIN, m);
    cr_assert_eq(q.status, 0, "%s", q.out);
    cr_expect_eq(tu_json_num(q.out, "base_roc_auc"), auc, "importance %.9g, eval %.9g",
                 tu_json_num(q.out, "base_roc_auc"), auc);
    ab_scored_free(&s);
    ab_model_free(&mod);
    free(ab), free(x), free(y);
  }
}

/* tests/data/model-format2.abm was written by abgpu before model format 3 (the commit
 * before it: `abgpu train --data synth:800:3 --hidden 8 --act relu --epochs 5 --transform
 * log1p --seed 2`), and format2-predict.csv is that abgpu's `predict` of format2-rows.csv
 * (`abgpu synth --rows 40 --seed 7`). This abgpu must still read it and score the same. */
Test(predict, a_format2_model_from_an_older_abgpu_scores_as_it_did, .init = setup) {
  static tu_run r;
  tu_sh(&r, "%s predict --model %s/tests/data/model-format2.abm --data %s/tests/data/format2-rows.csv "
            "--out %s/old.csv && cmp %s/old.csv %s/tests/data/format2-predict.csv && echo same",
        ABGPU_BIN, ABGPU_SRC_DIR, ABGPU_SRC_DIR, dir, dir, ABGPU_SRC_DIR);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "same"), "%s", r.out);
}

/* tests/data/model-format4.abm: the same training by the abgpu before model format 5
 * (commit 2266c96), format4-predict.csv its predict of format2-rows.csv. It reads as
 * uncalibrated and scores byte for byte as it did. */
Test(predict, a_format4_model_from_an_older_abgpu_scores_as_it_did, .init = setup) {
  static tu_run r;
  tu_sh(&r, "%s predict --model %s/tests/data/model-format4.abm --data %s/tests/data/format2-rows.csv "
            "--out %s/old4.csv && cmp %s/old4.csv %s/tests/data/format4-predict.csv && echo same && "
            "%s info %s/tests/data/model-format4.abm", ABGPU_BIN, ABGPU_SRC_DIR, ABGPU_SRC_DIR, dir,
        dir, ABGPU_SRC_DIR, ABGPU_BIN, ABGPU_SRC_DIR);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "same"), "%s", r.out);
  cr_assert(strstr(r.out, "calibration    none"), "%s", r.out);
}

/* Issue 17, item 3: values finite as float32 but far outside the training data never give
 * a NaN score: predict, eval and importance refuse the row with its line and write
 * nothing; the same value in training data trains to a finite model. */
Test(predict, extreme_values_are_refused_never_scored_nan, .init = setup) {
  char path[600], out[700];
  snprintf(path, sizeof path, "%s/extreme.csv", dir);
  snprintf(out, sizeof out, "%s/extreme.out", dir);
  tu_write(path, "1,1620,1620,19.73,19.73,1,10,0.99,1603.8,5,92,1\n"
                 "2,2160,2160,5.33,5.33,0,8.91,0,0,3e38,0,0\n");
  static tu_run r;
  /* raw inputs (no log1p) overflow the network on 3e38; the default recipe's log1p
   * keeps the same row finite, and it is scored */
  char raw[700];
  snprintf(raw, sizeof raw, "%s/raw_inputs.abm", dir);
  tu_sh(&r, "%s train --data synth:2000:7 --epochs 3 --transform none --quiet --out %s && "
            "%s predict --model %s --data %s", ABGPU_BIN, raw, ABGPU_BIN, model, path);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(!strstr(r.out, "nan") && strstr(r.out, "\n2,"), "%s", r.out);
  const char *cmds[] = {"predict --out", "eval --report", "importance --json >"};
  for (int i = 0; i < 3; i++) {
    tu_sh(&r, "rm -f %s; %s %s %s --model %s --data %s", out, ABGPU_BIN, cmds[i], out, raw, path);
    cr_expect_eq(r.status, 2, "%s: %s", cmds[i], r.out);
    cr_expect(strstr(r.out, "extreme.csv:2:1: this customer's values lie too far outside the "
                            "model's training data"), "%s: %s", cmds[i], r.out);
    cr_expect(!strstr(r.out, "nan"), "%s printed a NaN: %s", cmds[i], r.out);
    tu_sh(&r, "test -s %s", out);
    cr_expect_neq(r.status, 0, "%s wrote %s", cmds[i], out);
  }
  /* the training data may hold it: the scaler is computed in double */
  char train[600], m2[700];
  snprintf(train, sizeof train, "%s/extreme_train.csv", dir);
  snprintf(m2, sizeof m2, "%s/extreme.abm", dir);
  tu_sh(&r, "%s synth --rows 2000 --out %s >/dev/null && echo 9999999,1,1,1,1,0,8,0,3e38,0,0,1 >> %s"
        " && %s train --data %s --epochs 2 --quiet --out %s && %s eval --model %s --data %s --json",
        ABGPU_BIN, train, train, ABGPU_BIN, train, m2, ABGPU_BIN, m2, train);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(!strstr(r.out, "nan") && !strstr(r.out, "inf"), "%s", r.out);
}
