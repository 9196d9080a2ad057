/* Synthetic customers: determinism by seed, valid ranges and export quirks, class ratio,
 * means close to the real export's, and the streaming CSV writer (same customers as the
 * in-memory generator, atomic, 12 columns, LF).
 *
 * Reference figures are measured from the real export (audiobooks.csv, 14,084 rows):
 * see docs/synth.md. A synthetic mean must lie within 3 standard errors of the real
 * mean, where the standard error combines the real sample's (sd / sqrt(14084)) and the
 * synthetic sample's (sd / sqrt(n)); the generator is calibrated from the same rows, so
 * this is a check that its tables and copulas are wired to the right columns. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "abgpu/synth.h"
#include "testutil.h"

#define NBIG 100000

enum { BLO, BLA, PO, PA, REV, R10, COMP, MINS, SUP, DAYS };

static float X(const ab_table *t, size_t i, int j) { return t->x[i * AB_NFEAT + j]; }

Test(synth, same_seed_same_customers) {
  ab_table a, b;
  ab_err e = {0};
  cr_assert_eq(ab_synth_generate(&a, 5000, 42, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_synth_generate(&b, 5000, 42, &e), 0, "%s", e.msg);
  cr_assert_eq(a.n, 5000);
  cr_assert(a.y != NULL);
  cr_assert_eq(a.ids.len, b.ids.len);
  cr_assert_eq(memcmp(a.ids.text, b.ids.text, a.ids.len), 0);
  cr_assert_eq(memcmp(a.x, b.x, 5000 * AB_NFEAT * sizeof *a.x), 0);
  cr_assert_eq(memcmp(a.y, b.y, 5000), 0);
  ab_table_free(&a);
  ab_table_free(&b);
}

Test(synth, different_seeds_differ) {
  ab_table a, b;
  ab_err e = {0};
  cr_assert_eq(ab_synth_generate(&a, 5000, 1, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_synth_generate(&b, 5000, 2, &e), 0, "%s", e.msg);
  size_t differ = 0;
  for (size_t i = 0; i < a.n; i++)
    differ += memcmp(a.x + i * AB_NFEAT, b.x + i * AB_NFEAT, AB_NFEAT * sizeof *a.x) != 0;
  /* common profiles (one 2160-minute book at 5.33, nothing listened, no review, days 0)
   * make some rows equal by chance: 0.4% for these seeds */
  cr_expect_gt(differ, a.n * 95 / 100, "only %zu of %zu rows differ", differ, a.n);
  ab_table_free(&a);
  ab_table_free(&b);
}

Test(synth, zero_rows_is_a_usage_error) {
  ab_table t;
  ab_err e = {0};
  cr_assert_eq(ab_synth_generate(&t, 0, 1, &e), AB_EUSAGE);
  cr_assert_eq(ab_synth_write_csv("/nonexistent-dir/x.csv", 0, 1, &e), AB_EUSAGE);
}

static int is_int(float v) { return v == floorf(v); }
static int is_2dp(float v) { return fabs(v * 100.0 - floor(v * 100.0 + 0.5)) < 1e-3; }

Test(synth, ranges_and_export_structure) {
  ab_table t;
  ab_err e = {0};
  cr_assert_eq(ab_synth_generate(&t, NBIG, AB_SYNTH_DEFAULT_SEED, &e), 0, "%s", e.msg);
  for (size_t i = 0; i < t.n; i++) {
    float blo = X(&t, i, BLO), bla = X(&t, i, BLA), po = X(&t, i, PO), pa = X(&t, i, PA);
    float rev = X(&t, i, REV), r10 = X(&t, i, R10), comp = X(&t, i, COMP);
    float mins = X(&t, i, MINS), sup = X(&t, i, SUP), days = X(&t, i, DAYS);
    cr_assert_eq(strtoull(ab_ids_get(&t.ids, i), NULL, 10), (unsigned long long)i + 1);
    cr_assert(t.y[i] <= 1);
    /* the real export's ranges: lengths 216..2160 minutes per book, up to 7 books */
    cr_assert(blo >= 216 && blo <= 2160, "row %zu: book_length_overall %g", i, blo);
    cr_assert(bla >= blo && bla <= 7 * 2160, "row %zu: book_length_avg %g", i, bla);
    cr_assert(po > 0 && pa >= po && is_2dp(po) && is_2dp(pa), "row %zu: prices %g %g", i, po, pa);
    cr_assert(rev == 0 || rev == 1, "row %zu: review %g", i, rev);
    cr_assert(r10 >= 1 && r10 <= 10, "row %zu: review_10 %g", i, r10);
    cr_assert(comp >= 0 && comp <= 1 && is_2dp(comp), "row %zu: completion %g", i, comp);
    cr_assert(fabs(mins - comp * blo) <= 0.01f, "row %zu: minutes %g != %g * %g", i, mins, comp,
              blo);
    cr_assert(is_int(sup) && sup >= 0 && sup <= 30, "row %zu: support_requests %g", i, sup);
    cr_assert(is_int(days) && days >= 0 && days <= 464, "row %zu: days %g", i, days);
    if (t.y[i] == 0) { /* one book; no review means the export's fill 8.91 */
      cr_assert(bla == blo && pa == po, "row %zu: target 0 with several books", i);
      if (rev == 0) cr_assert_eq(r10, 8.91f, "row %zu: review_10 %g without review", i, r10);
    } else { /* converters never have listening recorded in the export */
      cr_assert(comp == 0 && mins == 0, "row %zu: target 1 with completion %g", i, comp);
    }
  }
  ab_table_free(&t);
}

/* Mean of feature j (or of the target when j < 0) over rows with target cls (-1: all). */
static double mean_of(const ab_table *t, int j, int cls, double *sd, size_t *cnt) {
  double s = 0, s2 = 0;
  size_t n = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (cls >= 0 && t->y[i] != cls) continue;
    double v = j < 0 ? t->y[i] : X(t, i, j);
    s += v, s2 += v * v, n++;
  }
  double m = s / (double)n;
  if (sd) *sd = sqrt(s2 / (double)n - m * m);
  if (cnt) *cnt = n;
  return m;
}

/* Real export: mean and sd over n_real rows (all rows, or one class). */
typedef struct {
  const char *what;
  int col, cls;
  double mean, sd, n_real;
} ref_stat;

static const ref_stat REAL[] = {
    {"target", -1, -1, 0.158833, 0.365533, 14084},
    {"book_length_overall", BLO, -1, 1591.2817, 504.3407, 14084},
    {"book_length_avg", BLA, -1, 1678.6086, 654.8386, 14084},
    {"price_overall", PO, -1, 7.103791, 4.931673, 14084},
    {"review", REV, -1, 0.160750, 0.367313, 14084},
    {"completion", COMP, -1, 0.125659, 0.241206, 14084},
    {"minutes_listened", MINS, -1, 189.8890, 371.0840, 14084},
    {"support_requests", SUP, -1, 0.070222, 0.472157, 14084},
    {"last_visited_minus_purchase", DAYS, -1, 61.935033, 88.207634, 14084},
    /* the feature-target relationship: class-conditional means */
    {"book_length_avg | target 1", BLA, 1, 2065.9043, 1077.2371, 2237},
    {"completion | target 0", COMP, 0, 0.149386, 0.256200, 11847},
    {"last_visited_minus_purchase | target 1", DAYS, 1, 82.667412, 97.5868, 2237},
    {"last_visited_minus_purchase | target 0", DAYS, 0, 58.020258, 85.7578, 11847},
};

Test(synth, class_ratio_and_means_match_the_real_export) {
  ab_table t;
  ab_err e = {0};
  cr_assert_eq(ab_synth_generate(&t, NBIG, AB_SYNTH_DEFAULT_SEED, &e), 0, "%s", e.msg);
  double pos = mean_of(&t, -1, -1, NULL, NULL);
  /* real prior 2237 / 14084 = 0.1588; binomial sd at n = 100000 is 0.0012 */
  cr_expect(fabs(pos - 0.1588) < 0.005, "share of target 1 is %.4f, real 0.1588", pos);
  for (size_t k = 0; k < sizeof REAL / sizeof REAL[0]; k++) {
    const ref_stat *r = &REAL[k];
    double sd;
    size_t n;
    double m = mean_of(&t, r->col, r->cls, &sd, &n);
    double se = sqrt(r->sd * r->sd / r->n_real + sd * sd / (double)n);
    cr_expect(fabs(m - r->mean) < 3 * se, "%s: synthetic mean %.4f, real %.4f (tolerance %.4f)",
              r->what, m, r->mean, 3 * se);
  }
  ab_table_free(&t);
}

Test(synth, csv_is_the_generated_table_atomic_and_lf) {
  const char *dir = tu_tmpdir();
  char path[512];
  snprintf(path, sizeof path, "%s/synth_%d.csv", dir, (int)getpid());
  ab_err e = {0};
  cr_assert_eq(ab_synth_write_csv(path, 3000, 7, &e), 0, "%s", e.msg);

  /* layout: 12 comma-separated fields per line, LF endings, no header, no temp left */
  FILE *f = fopen(path, "rb");
  cr_assert(f != NULL);
  int c, commas = 0, lines = 0;
  while ((c = fgetc(f)) != EOF) {
    cr_assert_neq(c, '\r');
    if (c == ',') commas++;
    if (c == '\n') {
      cr_assert_eq(commas, 11, "line %d has %d commas", lines + 1, commas);
      commas = 0, lines++;
    }
  }
  fclose(f);
  cr_assert_eq(lines, 3000);
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  cr_assert(!tu_exists(tmp), "temp file left behind");

  /* the file holds exactly the customers that ab_synth_generate makes */
  ab_table a, b;
  ab_csv_opts o = ab_csv_opts_default();
  cr_assert_eq(ab_csv_read(&a, path, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_synth_generate(&b, 3000, 7, &e), 0, "%s", e.msg);
  cr_assert_eq(a.n, b.n);
  cr_assert_eq(a.ids.len, b.ids.len);
  cr_assert_eq(memcmp(a.ids.text, b.ids.text, a.ids.len), 0);
  cr_assert_eq(memcmp(a.y, b.y, b.n), 0);
  for (size_t i = 0; i < b.n * AB_NFEAT; i++)
    cr_assert_eq(a.x[i], b.x[i], "row %zu column %zu: %g != %g", i / AB_NFEAT + 1,
                 i % AB_NFEAT, a.x[i], b.x[i]);
  ab_table_free(&a);
  ab_table_free(&b);
  remove(path);
}

Test(synth, unwritable_path_is_an_output_error_and_leaves_nothing) {
  ab_err e = {0};
  cr_assert_eq(ab_synth_write_csv("/nonexistent-dir/synth.csv", 10, 1, &e), AB_EOUTPUT);
  cr_assert(strstr(e.msg, "/nonexistent-dir/synth.csv") != NULL, "%s", e.msg);
  cr_assert(!tu_exists("/nonexistent-dir/synth.csv"));
}
