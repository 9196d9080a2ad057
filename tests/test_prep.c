/* Prep invariants: class counts after balancing, split sizes, scaler fitted on train,
 * determinism by seed, and the .npz files readable by numpy. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/prep.h"
#include "abgpu/rng.h"
#include "abgpu/source.h"
#include "testutil.h"

/* n rows, about a quarter positive, features with distinct scales. */
static void make_table(ab_table *t, size_t n, uint64_t seed) {
  ab_err e;
  cr_assert_eq(ab_table_alloc(t, n, 1, &e), 0);
  ab_rng r;
  ab_rng_seed(&r, seed, 9);
  for (size_t i = 0; i < n; i++) {
    t->y[i] = ab_rng_uniform(&r) < 0.25;
    for (int j = 0; j < AB_NFEAT; j++) /* within each column's valid range */
      t->x[i * AB_NFEAT + j] = (float)((j + 1) * 10.0 * ab_rng_uniform(&r) + t->y[i]);
    t->x[i * AB_NFEAT + 4] = (float)ab_rng_below(&r, 2);
    t->x[i * AB_NFEAT + 5] = (float)(10.0 * ab_rng_uniform(&r));
    t->x[i * AB_NFEAT + 6] = (float)ab_rng_uniform(&r);
  }
}

static size_t count_pos(const ab_split *s) {
  size_t p = 0;
  for (size_t i = 0; i < s->n; i++) p += s->y[i] == 1;
  return p;
}

Test(prep, balance_split_and_train_only_scaler) {
  ab_table t;
  ab_splits s;
  ab_err e = {0};
  make_table(&t, 4000, 1);
  size_t pos = 0;
  for (size_t i = 0; i < t.n; i++) pos += t.y[i];
  ab_prep_opts o = ab_prep_opts_default();
  cr_assert_eq(ab_prep(&s, &t, &o, &e), 0, "%s", e.msg);
  size_t n = 2 * pos;
  cr_assert_eq(s.n_balanced, n);
  cr_assert_eq(s.train.n, n * 80 / 100);
  cr_assert_eq(s.val.n, n * 10 / 100);
  cr_assert_eq(s.test.n, n - s.train.n - s.val.n);
  cr_assert_eq(count_pos(&s.train) + count_pos(&s.val) + count_pos(&s.test), pos);
  /* tolerance: float32 sums of ~2000 standardised values; 1e-4 is far above rounding */
  for (int j = 0; j < AB_NFEAT; j++) {
    double m = 0, v = 0;
    for (size_t i = 0; i < s.train.n; i++) m += s.train.x[i * AB_NFEAT + j];
    m /= s.train.n;
    for (size_t i = 0; i < s.train.n; i++) v += pow(s.train.x[i * AB_NFEAT + j] - m, 2);
    cr_expect(fabs(m) < 1e-4, "feature %d train mean %g", j, m);
    cr_expect(fabs(sqrt(v / s.train.n) - 1.0) < 1e-4, "feature %d train std %g", j, sqrt(v / s.train.n));
  }
  ab_splits_free(&s);
  ab_table_free(&t);
}

Test(prep, same_seed_same_splits_other_seed_differs) {
  ab_table t;
  ab_splits a, b, c;
  ab_err e = {0};
  make_table(&t, 1000, 2);
  ab_prep_opts o = ab_prep_opts_default();
  o.seed = 7;
  cr_assert_eq(ab_prep(&a, &t, &o, &e), 0);
  cr_assert_eq(ab_prep(&b, &t, &o, &e), 0);
  o.seed = 8;
  cr_assert_eq(ab_prep(&c, &t, &o, &e), 0);
  cr_assert_eq(memcmp(a.train.x, b.train.x, a.train.n * AB_NFEAT * sizeof(float)), 0);
  cr_assert_eq(memcmp(a.test.row, b.test.row, a.test.n * sizeof(uint32_t)), 0);
  cr_assert_neq(memcmp(a.train.row, c.train.row, a.train.n * sizeof(uint32_t)), 0);
  ab_splits_free(&a); ab_splits_free(&b); ab_splits_free(&c);
  ab_table_free(&t);
}

Test(prep, balance_first_keeps_the_first_zeros_in_file_order) {
  ab_table t;
  ab_splits s;
  ab_err e = {0};
  make_table(&t, 1000, 3);
  size_t pos = 0, zeros = 0;
  uint32_t last_zero_row = 0;
  for (size_t i = 0; i < t.n; i++) pos += t.y[i];
  for (size_t i = 0; i < t.n && zeros < pos; i++)
    if (!t.y[i]) { zeros++; last_zero_row = (uint32_t)i; }
  ab_prep_opts o = ab_prep_opts_default();
  o.balance = AB_BALANCE_FIRST;
  cr_assert_eq(ab_prep(&s, &t, &o, &e), 0);
  const ab_split *sp[3] = {&s.train, &s.val, &s.test};
  for (int k = 0; k < 3; k++)
    for (size_t i = 0; i < sp[k]->n; i++)
      if (!sp[k]->y[i]) cr_assert_leq(sp[k]->row[i], last_zero_row);
  ab_splits_free(&s);
  o.balance = AB_BALANCE_NONE;
  cr_assert_eq(ab_prep(&s, &t, &o, &e), 0);
  cr_assert_eq(s.n_balanced, t.n);
  ab_splits_free(&s);
  ab_table_free(&t);
}

Test(prep, seed_compat_scales_on_all_balanced_rows) {
  ab_table t;
  ab_splits s;
  ab_err e = {0};
  make_table(&t, 2000, 4);
  ab_prep_opts o = ab_prep_opts_default();
  o.compat = 1;
  cr_assert_eq(ab_prep(&s, &t, &o, &e), 0);
  for (int j = 0; j < AB_NFEAT; j++) {
    double m = 0;
    const ab_split *sp[3] = {&s.train, &s.val, &s.test};
    for (int k = 0; k < 3; k++)
      for (size_t i = 0; i < sp[k]->n; i++) m += sp[k]->x[i * AB_NFEAT + j];
    cr_expect(fabs(m / s.n_balanced) < 1e-4, "feature %d mean over all rows %g", j, m / s.n_balanced);
  }
  ab_splits_free(&s);
  ab_table_free(&t);
}

Test(prep, split_flag_parsing) {
  int sp[3];
  cr_assert_eq(ab_split_parse(sp, "70,20,10"), 0);
  cr_assert_eq(sp[1], 20);
  cr_assert_neq(ab_split_parse(sp, "70,20"), 0);
  cr_assert_neq(ab_split_parse(sp, "70,20,20"), 0);
  cr_assert_neq(ab_split_parse(sp, "0,50,50"), 0);
  cr_assert_neq(ab_split_parse(sp, "a,b,c"), 0);
}

/* The notebook's reader: np.load(...)['inputs'].astype(float), ['targets'].astype(int). */
static const char *numpy_python(void) {
  static const char *cands[] = {"/usr/bin/python3", "python3"};
  for (size_t i = 0; i < 2; i++) {
    tu_run r;
    if (tu_sh(&r, "%s -c 'import numpy' 2>/dev/null", cands[i]) == 0) return cands[i];
  }
  return NULL;
}

Test(prep, npz_files_load_with_numpy_as_the_notebook_reads_them) {
  const char *py = numpy_python();
  if (!py) cr_skip_test("python3-numpy is not installed: the .npz round trip is not checked "
                        "(apt-get install python3-numpy)");
  char dir[512], csv[512];
  snprintf(dir, sizeof dir, "%s/npz", tu_tmpdir());
  snprintf(csv, sizeof csv, "%s/npz.csv", tu_tmpdir());
  ab_table t;
  ab_err e = {0};
  make_table(&t, 500, 5);
  cr_assert_eq(ab_table_write_csv(&t, csv, &e), 0, "%s", e.msg);
  ab_table_free(&t);
  tu_run r;
  tu_sh(&r, "mkdir -p %s && %s prep --data %s --out %s --seed 3", dir, ABGPU_BIN, csv, dir);
  cr_assert_eq(r.status, 0, "%s", r.out);
  tu_sh(&r, "%s -c \"import numpy as np\n"
            "for s in ['train','validation','test']:\n"
            "  d = np.load('%s/Audiobooks_data_%%s.npz' %% s)\n"
            "  x = d['inputs'].astype(float); y = d['targets'].astype(int)\n"
            "  assert x.dtype == np.float64 and x.shape[1] == 10 and y.shape == (x.shape[0],)\n"
            "  print(s, x.shape[0], int(y.sum()), '%%.6f' %% x[:, 3].mean())\"", py, dir);
  cr_assert_eq(r.status, 0, "%s", r.out);
  /* compare with the library's own splits for the same seed */
  ab_splits s;
  ab_prep_opts o = ab_prep_opts_default();
  o.seed = 3;
  cr_assert_eq(ab_table_load(&t, csv, &(ab_csv_opts){AB_MISSING_ERROR, 1, 1, 1, {0}}, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_prep(&s, &t, &o, &e), 0);
  char expect[128];
  snprintf(expect, sizeof expect, "train %zu %zu", s.train.n, count_pos(&s.train));
  cr_assert(strstr(r.out, expect), "expected '%s' in %s", expect, r.out);
  snprintf(expect, sizeof expect, "test %zu %zu", s.test.n, count_pos(&s.test));
  cr_assert(strstr(r.out, expect), "expected '%s' in %s", expect, r.out);
  ab_splits_free(&s);
  /* --transform log1p: the files hold what the library prepares with that transform */
  tu_sh(&r, "%s prep --data %s --out %s --seed 3 --transform log1p >/dev/null && %s -c \"import "
            "numpy as np\nx = np.load('%s/Audiobooks_data_train.npz')['inputs']\n"
            "print(' '.join('%%.6f' %% v for v in x[:3, 7]))\"", ABGPU_BIN, csv, dir, py, dir);
  cr_assert_eq(r.status, 0, "%s", r.out);
  o.transform = AB_TRANSFORM_LOG1P;
  cr_assert_eq(ab_prep(&s, &t, &o, &e), 0);
  snprintf(expect, sizeof expect, "%.6f %.6f %.6f", s.train.x[7], s.train.x[AB_NFEAT + 7],
           s.train.x[2 * AB_NFEAT + 7]);
  cr_assert(strstr(r.out, expect), "expected '%s' in %s", expect, r.out);
  o.transform = AB_TRANSFORM_NONE;
  ab_splits s0;
  cr_assert_eq(ab_prep(&s0, &t, &o, &e), 0);
  cr_expect_neq(s0.train.x[7], s.train.x[7], "the transform changed nothing");
  ab_splits_free(&s0);
  ab_splits_free(&s);
  ab_table_free(&t);
}

/* ---- abgpu split ---- */

/* A stratified hold-out: both parts keep the header and the input's lines byte for byte
 * (quoted text ids with commas, CRLF endings, a last line without one), every row goes to
 * exactly one part, in file order, and each class is held out at the share asked for. */
Test(split, stratified_byte_for_byte_and_reproducible, .timeout = 60) {
  char path[700];
  snprintf(path, sizeof path, "%s/split_in.csv", tu_tmpdir());
  static char text[20000];
  size_t k = (size_t)snprintf(text, sizeof text, "id,book_length_overall,book_length_avg,"
                              "price_overall,price_avg,review,review_10,completion,"
                              "minutes_listened,support_requests,last_visited_minus_purchase,"
                              "targets\r\n");
  for (int i = 0; i < 100; i++)
    k += (size_t)snprintf(text + k, sizeof text - k, "\"C,%03d\",%d,%d,5.33,5.33,0,8.91,0,%d,0,%d,%d%s",
                          i, 1000 + i, 1000 + i, i * 3, i % 7, i % 10 < 3, i < 99 ? "\r\n" : "");
  cr_assert_eq(tu_write(path, text), 0);
  static tu_run r, again, other;
  const char *cmd = "cd %s && %s split --data split_in.csv --holdout 20%% --seed %d "
                    "--out-train a%d.csv --out-test b%d.csv --json";
  tu_sh(&r, cmd, tu_tmpdir(), ABGPU_BIN, 3, 1, 1);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "\"train\": {\"path\": \"a1.csv\", \"customers\": 80, \"buyers\": 24}"), "%s", r.out);
  cr_assert(strstr(r.out, "\"test\": {\"path\": \"b1.csv\", \"customers\": 20, \"buyers\": 6}"), "%s", r.out);
  /* every input line in exactly one part, after the header in both, in file order */
  tu_sh(&r, "cd %s && head -1 split_in.csv > h && head -1 a1.csv | cmp - h && head -1 b1.csv | "
            "cmp - h && (tail -n +2 a1.csv; tail -n +2 b1.csv) | tr -d '\\r' | sort > got && "
            "(tail -n +2 split_in.csv; echo) | tr -d '\\r' | sort > want && cmp got want && "
            "tail -n +2 a1.csv | cut -c4-6 | sort -c -n && tail -n +2 b1.csv | cut -c4-6 | "
            "sort -c -n && grep -c \"$(printf '\\r')$\" b1.csv", tu_tmpdir());
  cr_assert_eq(r.status, 0, "the parts are not the input's lines: %s", r.out);
  cr_assert(strstr(r.out, "21"), "CRLF endings lost (header and 20 rows): %s", r.out);
  tu_sh(&again, cmd, tu_tmpdir(), ABGPU_BIN, 3, 2, 2);
  tu_sh(&other, cmd, tu_tmpdir(), ABGPU_BIN, 4, 3, 3);
  tu_sh(&r, "cd %s && cmp a1.csv a2.csv && cmp b1.csv b2.csv && ! cmp -s b1.csv b3.csv && echo ok",
        tu_tmpdir());
  cr_assert(strstr(r.out, "ok"), "the same seed must give the same parts, another seed others: %s",
            r.out);
  static const char *const bad[] = {"--holdout 0", "--holdout 100%", "--holdout x",
                                    "--data synth:100"};
  for (int i = 0; i < 4; i++) {
    tu_sh(&r, "cd %s && %s split --data split_in.csv --out-train x.csv --out-test y.csv %s",
          tu_tmpdir(), ABGPU_BIN, bad[i]);
    cr_expect_eq(r.status, 2, "%s: %s", bad[i], r.out);
  }
}

/* Train on the rest, evaluate on the held-out part: eval warns on the training part only. */
Test(split, eval_warns_on_the_training_part_only, .timeout = 120) {
  static tu_run r;
  tu_sh(&r, "cd %s && %s synth --rows 3000 --seed 2 --out s.csv >/dev/null && %s split --data "
            "s.csv --out-train rest.csv --out-test held.csv >/dev/null && %s train --data rest.csv "
            "--epochs 2 --quiet --out m.abm >/dev/null", tu_tmpdir(), ABGPU_BIN, ABGPU_BIN,
        ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  tu_sh(&r, "cd %s && %s eval --model m.abm --data rest.csv 2>&1 >/dev/null", tu_tmpdir(), ABGPU_BIN);
  cr_assert(strstr(r.out, "rest.csv is the data this model was trained on"), "%s", r.out);
  tu_sh(&r, "cd %s && %s eval --model m.abm --data held.csv 2>&1 >/dev/null", tu_tmpdir(), ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(!strstr(r.out, "trained on"), "the held-out part warns: %s", r.out);
}
