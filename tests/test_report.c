/* The HTML report: self-contained (no scripts, nothing from the network), the numbers
 * in it equal those of the JSON printed by the same run, and it renders in headless
 * Chromium when that is installed. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/report.h"
#include "abgpu/prep.h"
#include "abgpu/table.h"
#include "testutil.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert(f, "cannot read %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

/* data-value of the element with data-key="key", or NAN. */
static double html_num(const char *html, const char *key) {
  char pat[256];
  snprintf(pat, sizeof pat, "data-key=\"%s\" data-value=\"", key);
  const char *p = strstr(html, pat);
  return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* A JSON number inside the object that follows "scope" (NULL: the whole text). */
static double json_in(const char *json, const char *scope, const char *key) {
  if (scope) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", scope);
    const char *p = strstr(json, pat);
    cr_assert(p, "no %s in JSON", scope);
    json = p;
  }
  return tu_json_num(json, key);
}

static const char *const METRIC_KEYS[] = {"accuracy", "precision", "recall", "f1", "roc_auc",
                                          "pr_auc", "log_loss", "brier", "tp", "fp", "tn", "fn",
                                          "threshold", "rows", "buyers"};

static void same_metrics(const char *json, const char *scope, const char *html) {
  for (size_t i = 0; i < sizeof METRIC_KEYS / sizeof *METRIC_KEYS; i++) {
    double j = json_in(json, scope, METRIC_KEYS[i]), h = html_num(html, METRIC_KEYS[i]);
    cr_assert(!isnan(j) && !isnan(h), "%s: JSON %g, HTML %g", METRIC_KEYS[i], j, h);
    cr_expect_eq(j, h, "%s: JSON %.9g != HTML %.9g", METRIC_KEYS[i], j, h);
  }
}

static void same_gains(const char *json, const char *scope, const char *html) {
  const char *g = strstr(json, scope);
  cr_assert(g, "no %s", scope);
  for (int d = 1; d <= 10; d++) {
    char pat[64], key[64];
    snprintf(pat, sizeof pat, "{\"decile\": %d,", d);
    const char *row = strstr(g, pat);
    cr_assert(row, "no decile %d", d);
    const char *fields[] = {"buyers", "buyers_share", "lift", "band_rate"};
    for (int i = 0; i < 4; i++) {
      snprintf(key, sizeof key, "gains.%d.%s", d, fields[i]);
      cr_expect_eq(tu_json_num(row, fields[i]), html_num(html, key), "%s", key);
    }
  }
}

static void same_importance(const char *json, const char *html) {
  cr_assert_eq(json_in(json, "importance", "base_roc_auc"), html_num(html, "importance.base_roc_auc"));
  for (int j = 0; j < AB_NFEAT; j++) {
    char pat[128], key[128];
    snprintf(pat, sizeof pat, "{\"feature\": \"%s\",", ab_feature_names[j]);
    const char *f = strstr(json, pat);
    cr_assert(f, "no importance for %s", ab_feature_names[j]);
    snprintf(key, sizeof key, "importance.%s.mean", ab_feature_names[j]);
    cr_expect_eq(tu_json_num(f, "mean"), html_num(html, key), "%s", key);
    snprintf(key, sizeof key, "importance.%s.sd", ab_feature_names[j]);
    cr_expect_eq(tu_json_num(f, "sd"), html_num(html, key), "%s", key);
  }
}

static void self_contained(const char *html) {
  const char *banned[] = {"<script", "http://", "https://", "url(", "@import", "@font-face",
                          "<link", "<img", "<iframe"};
  for (size_t i = 0; i < sizeof banned / sizeof *banned; i++)
    cr_expect(!strstr(html, banned[i]), "the report contains %s", banned[i]);
  cr_expect(strstr(html, "<svg"), "no inline SVG");
  cr_expect(strstr(html, "</html>"), "not complete");
}

/* How many times the text occurs in the page. */
static int count_of(const char *html, const char *text) {
  int n = 0;
  for (const char *p = strstr(html, text); p; p = strstr(p + 1, text)) n++;
  return n;
}

/* The confusion matrix at the operating point equals the JSON's, with a mark on the ROC
 * and the gains charts. */
static void same_op_point(const char *json, const char *scope, const char *html) {
  const char *k[] = {"tp", "fp", "tn", "fn", "threshold"};
  for (int i = 0; i < 5; i++) {
    char key[64];
    snprintf(key, sizeof key, "operating_point.%s", k[i]);
    double j = json_in(json, scope, k[i]), h = html_num(html, key);
    cr_assert(!isnan(j) && !isnan(h), "%s: JSON %g, HTML %g", key, j, h);
    cr_expect_eq(j, h, "%s: JSON %.9g != HTML %.9g", key, j, h);
  }
  cr_expect_eq(count_of(html, "data-mark=\"operating-point\""), 2, "ROC and gains marks");
  cr_expect_eq(count_of(html, ">operating point: "), 2, "the marks' labels");
}

Test(report, op_sentence_says_share_customers_reach_and_precision) {
  ab_metrics m = {.n = 14085, .npos = 2222, .tp = 1578, .fp = 1239, .threshold = 0.5};
  ab_op_point o = ab_op_point_of(&m, NULL);
  char s[200];
  ab_op_sentence(s, sizeof s, &o);
  cr_expect_str_eq(s, "Contact the top 20% (2,817 customers) to reach 71% of the buyers; "
                      "precision 56%.");
  cr_expect_eq(o.tn, 14085 - 2222 - 1239);
  cr_expect_eq(o.fn, 2222 - 1578);
  ab_choice c = {AB_CHOOSE_BUDGET, 50, 0.9, 50, 45, 0.9, 45.0 / 2222};
  o = ab_op_point_of(&m, &c);
  ab_op_sentence(s, sizeof s, &o);
  cr_expect_str_eq(s, "Contact the top 0.4% (50 customers) to reach 2.0% of the buyers; "
                      "precision 90%.");
  cr_expect(o.chosen && o.fp == 5 && o.fn == 2222 - 45 && o.tn == 14085 - 2222 - 5);
}

static char train_html[600], model[600];
static tu_run train_json;

static void train_with_report(void) {
  const char *d = tu_tmpdir();
  snprintf(train_html, sizeof train_html, "%s/train.html", d);
  snprintf(model, sizeof model, "%s/r.abm", d);
  tu_sh(&train_json, "%s train --data synth:3000:2 --epochs 4 --patience 9 --quiet --json "
                     "--out %s --report %s 2>/dev/null", ABGPU_BIN, model, train_html);
  cr_assert_eq(train_json.status, 0, "%s", train_json.out);
}

Test(report, train_report_numbers_equal_the_json) {
  train_with_report();
  char *html = slurp(train_html);
  self_contained(html);
  same_metrics(train_json.out, "test_metrics", html);
  same_gains(train_json.out, "test_gains", html);
  same_importance(train_json.out, html);
  /* no chooser in train: the operating point is the threshold's */
  const char *k[] = {"tp", "fp", "tn", "fn"};
  for (int i = 0; i < 4; i++) {
    char key[64];
    snprintf(key, sizeof key, "operating_point.%s", k[i]);
    cr_expect_eq(json_in(train_json.out, "test_metrics", k[i]), html_num(html, key), "%s", key);
  }
  cr_expect_eq(count_of(html, "data-mark=\"operating-point\""), 2, "ROC and gains marks");
  /* the trainer's own test accuracy agrees with the model's metrics on the CPU path */
  cr_expect_float_eq(tu_json_num(train_json.out, "test_accuracy"),
                     json_in(train_json.out, "test_metrics", "accuracy"), 1e-9);
  cr_expect(strstr(html, "Loss per epoch"), "no training curves");
  cr_expect(strstr(html, "ROC curve") && strstr(html, "Cumulative gains") &&
            strstr(html, "Confusion matrix") && strstr(html, "permutation importance") &&
            strstr(html, "aria-label=\"reliability chart\"") && strstr(html, "Calibration &middot; Brier"));
  free(html);
}

/* The text a tile shows for key (between its span's tags), or "" when there is none. */
static void html_shown(char *out, size_t cap, const char *html, const char *key) {
  char pat[256];
  snprintf(pat, sizeof pat, "data-key=\"%s\" data-value=\"", key);
  const char *p = strstr(html, pat), *q = p ? strchr(p + strlen(pat), '>') : NULL;
  const char *end = q ? strstr(q, "</span>") : NULL;
  size_t n = end ? (size_t)(end - q - 1) : 0;
  snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), q ? q + 1 : "");
}

/* Writes the test split's lines of csv (train's default preparation at
 * seed 1) to out; returns the split's rows. */
static size_t write_test_split(const char *csv, const char *out) {
  ab_table t;
  ab_splits s;
  ab_err e = {0};
  ab_csv_opts co = ab_csv_opts_default();
  cr_assert_eq(ab_csv_read(&t, csv, &co, &e), 0, "%s", e.msg);
  ab_prep_opts o = ab_prep_opts_default();
  o.balance = AB_BALANCE_NONE;
  o.seed = 1;
  cr_assert_eq(ab_transform_parse(&o.transform, "log1p,ple:32,te"), 0);
  cr_assert_eq(ab_prep(&s, &t, &o, &e), 0, "%s", e.msg);
  char *text = slurp(csv), **line = malloc((t.n + 1) * sizeof *line);
  size_t k = 0;
  for (char *p = strtok(text, "\n"); p && k <= t.n; p = strtok(NULL, "\n")) line[k++] = p;
  cr_assert_eq(k, t.n, "%zu rows without a header expected (synth's CSV), %zu lines", t.n, k);
  FILE *f = fopen(out, "w");
  cr_assert(f);
  for (size_t i = 0; i < s.test.n; i++) fprintf(f, "%s\n", line[s.test.row[i]]);
  fclose(f);
  size_t n = s.test.n;
  free(line); free(text);
  ab_splits_free(&s);
  ab_table_free(&t);
  return n;
}

/* Issue 16: with --balance none the test split is at the file's share of buyers, and the
 * training report's first row of tiles shows what eval --json gives on those same rows,
 * to the digits printed. */
Test(report, train_report_first_row_equals_eval_on_the_test_split, .timeout = 90) {
  static tu_run r, ev;
  const char *d = tu_tmpdir();
  tu_sh(&r, "cd %s && %s synth --rows 3000 --seed 5 --out all.csv >/dev/null && %s train "
            "--data all.csv --epochs 3 --quiet --out n.abm --report n.html >/dev/null 2>&1",
        d, ABGPU_BIN, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  char csv[700], test[700], path[700];
  snprintf(csv, sizeof csv, "%s/all.csv", d);
  snprintf(test, sizeof test, "%s/test.csv", d);
  size_t n = write_test_split(csv, test);
  tu_sh(&ev, "cd %s && %s eval --model n.abm --data test.csv --json 2>/dev/null", d, ABGPU_BIN);
  cr_assert_eq(ev.status, 0, "%s", ev.out);
  cr_assert_eq(tu_json_num(ev.out, "rows"), (double)n);
  snprintf(path, sizeof path, "%s/n.html", d);
  char *html = slurp(path);
  /* tile key, eval's JSON key, the tile's format, the factor it shows the value at */
  struct { const char *tile, *json, *fmt; double k; } t[] = {
    {"roc_auc", "roc_auc", "%.3f", 1}, {"pr_auc", "pr_auc", "%.3f", 1},
    {"accuracy", "accuracy", "%.1f%%", 100}, {"precision", "precision", "%.1f%%", 100},
    {"recall", "recall", "%.1f%%", 100}, {"f1", "f1", "%.3f", 1},
    {"gains.1.lift", "lift", "%.2f&times;", 1}, {"log_loss", "log_loss", "%.4f", 1},
    {"brier", "brier", "%.4f", 1}, {"log_loss_corrected", "log_loss_corrected", "%.4f", 1}};
  const char *gains = strstr(ev.out, "\"gains\": ");
  cr_assert(gains, "%s", ev.out);
  for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
    char shown[64], want[64];
    html_shown(shown, sizeof shown, html, t[i].tile);
    double v = strcmp(t[i].json, "lift") ? tu_json_num(ev.out, t[i].json)
                                         : tu_json_num(gains, "lift");
    cr_assert(!isnan(v), "eval has no %s", t[i].json);
    snprintf(want, sizeof want, t[i].fmt, t[i].k * v);
    cr_expect_str_eq(shown, want, "tile %s shows '%s', eval --json %s gives '%s'", t[i].tile,
                     shown, t[i].json, want);
  }
  cr_expect(!strstr(html, "balanced.roc_auc"), "no balanced row without balancing");
  free(html);
}

/* The JSON object that follows "key": (NULL: the first object), its text with braces
 * matched, into out. */
static void json_object(char *out, size_t cap, const char *json, const char *key) {
  char pat[64] = "";
  if (key) snprintf(pat, sizeof pat, "\"%s\": {", key);
  const char *p = key ? strstr(json, pat) : strchr(json, '{');
  cr_assert(p, "no %s in %.200s", key ? key : "object", json);
  p = strchr(p, '{');
  size_t n = 0;
  for (int depth = 0; p[n]; n++) {
    depth += (p[n] == '{') - (p[n] == '}');
    if (depth == 0) { n++; break; }
  }
  cr_assert_lt(n, cap, "object too long");
  snprintf(out, cap, "%.*s", (int)n, p);
}

/* train scores its test split where it trained, as eval and importance do there: its
 * importance (every figure, to the digits printed) is `abgpu importance`'s on the test
 * split's rows on the same device (cpu: on another number of threads too; ref: the
 * reference), and its test metrics are eval's. On the real data ($ABGPU_REAL_DATA) the cpu
 * and ref paths differ in the last digits printed, so the reference would not pass for cpu. */
Test(report, train_importance_and_metrics_equal_importance_and_eval_on_the_test_split,
     .timeout = 120) {
  static tu_run tr, im, ev;
  static char a[65536], b[65536];
  const char *d = tu_tmpdir();
  char csv[700], test[700];
  const char *real = tu_real_data(); /* there the paths differ in the digits printed */
  if (real) snprintf(csv, sizeof csv, "%s", real);
  else {
    tu_sh(&tr, "cd %s && %s synth --rows 3000 --seed 9 --out imp.csv >/dev/null", d, ABGPU_BIN);
    cr_assert_eq(tr.status, 0, "%s", tr.out);
    snprintf(csv, sizeof csv, "%s/imp.csv", d);
  }
  snprintf(test, sizeof test, "%s/imp_test.csv", d);
  write_test_split(csv, test);
  const char *dev[] = {"cpu", "ref"}, *imp_flags[] = {"--threads 1", ""};
  for (int i = 0; i < 2; i++) {
    /* 10 epochs: the figures compared need a trained model, not the best one, and the
     * reference's full run on the real export under ASan/UBSan took over 120 s (the
     * timeout) on a 2-vCPU Intel machine */
    tu_sh(&tr, "cd %s && %s train --data '%s' --balance none --epochs 10 --quiet --device %s "
               "--out imp.abm --json 2>/dev/null", d, ABGPU_BIN, csv, dev[i]);
    cr_assert_eq(tr.status, 0, "%s", tr.out);
    tu_sh(&im, "cd %s && %s importance --model imp.abm --data imp_test.csv --device %s %s --json "
               "2>/dev/null", d, ABGPU_BIN, dev[i], imp_flags[i]);
    cr_assert_eq(im.status, 0, "%s", im.out);
    json_object(a, sizeof a, tr.out, "importance");
    json_object(b, sizeof b, im.out, NULL);
    cr_expect_str_eq(a, b, "--device %s: train's importance\n%s\nimportance's\n%s", dev[i], a, b);
    tu_sh(&ev, "cd %s && %s eval --model imp.abm --data imp_test.csv --device %s --json "
               "2>/dev/null", d, ABGPU_BIN, dev[i]);
    cr_assert_eq(ev.status, 0, "%s", ev.out);
    const char *k[] = {"roc_auc", "pr_auc", "log_loss", "brier", "accuracy", "tp", "fp"};
    for (int j = 0; j < 7; j++)
      cr_expect_eq(json_in(tr.out, "test_metrics", k[j]), tu_json_num(ev.out, k[j]),
                   "--device %s: %s", dev[i], k[j]);
  }
}

/* After balanced training the first row is the real-share estimate, the balanced split's
 * figures are a second, labelled row, and both equal train --json's. */
Test(report, balanced_training_report_has_two_rows, .timeout = 90) {
  static tu_run r;
  const char *d = tu_tmpdir();
  tu_sh(&r, "cd %s && %s train --data synth:3000:3 --balance random --epochs 3 --quiet --json "
            "--report b.html 2>/dev/null", d, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  char path[700];
  snprintf(path, sizeof path, "%s/b.html", d);
  char *html = slurp(path);
  const char *k[] = {"roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss",
                     "brier"};
  for (int i = 0; i < 8; i++) {
    char key[64];
    snprintf(key, sizeof key, "balanced.%s", k[i]);
    cr_expect_eq(html_num(html, key), json_in(r.out, "test_metrics", k[i]), "%s", key);
    cr_expect_eq(html_num(html, k[i]), json_in(r.out, "test_metrics_natural_estimate", k[i]),
                 "%s", k[i]);
  }
  cr_expect_eq(html_num(html, "gains.1.lift"), tu_json_num(r.out, "test_lift_natural_estimate"));
  cr_expect_eq(html_num(html, "balanced.gains.1.lift"), json_in(r.out, "test_gains", "lift"));
  /* the same ranking: the weights leave ROC AUC alone; fewer buyers: lower precision */
  cr_expect_eq(html_num(html, "roc_auc"), html_num(html, "balanced.roc_auc"));
  cr_expect_lt(html_num(html, "precision"), html_num(html, "balanced.precision"));
  cr_expect(strstr(html, "At the real share of buyers") &&
            strstr(html, "On the balanced test split itself"), "rows not labelled");
  free(html);
}

Test(report, eval_report_numbers_equal_the_json) {
  train_with_report();
  static tu_run r;
  const char *d = tu_tmpdir();
  tu_sh(&r, "%s synth --rows 4000 --seed 8 --out %s/ev.csv >/dev/null && "
            "%s eval --model %s --data %s/ev.csv --budget 400 --json --report %s/eval.html",
        ABGPU_BIN, d, ABGPU_BIN, model, d, d);
  cr_assert_eq(r.status, 0, "%s", r.out);
  char path[700];
  snprintf(path, sizeof path, "%s/eval.html", d);
  char *html = slurp(path);
  self_contained(html);
  same_metrics(r.out, NULL, html);
  same_gains(r.out, "\"gains\"", html);
  same_importance(r.out, html);
  cr_expect_eq(tu_json_num(r.out, "log_loss_corrected"), html_num(html, "log_loss_corrected"));
  const char *choice[] = {"threshold", "threshold_corrected", "precision", "recall", "contacted"};
  for (int i = 0; i < 5; i++) {
    char key[64];
    snprintf(key, sizeof key, "choice.%s", choice[i]);
    cr_expect_eq(json_in(r.out, "choice", choice[i]), html_num(html, key), "%s", key);
  }
  cr_expect(!strstr(html, "Loss per epoch"), "eval has no training curves");
  /* the operating point is the budget's: 400 contacted, the chooser's buyers reached */
  same_op_point(r.out, "operating_point", html);
  cr_expect_eq(json_in(r.out, "operating_point", "contacted"), 400);
  cr_expect_eq(json_in(r.out, "operating_point", "tp"), json_in(r.out, "choice", "buyers_reached"));
  cr_expect(strstr(html, "(400 customers) to reach "), "no operating-point sentence");
  cr_expect(strstr(html, "operating point: top 400 (--budget)"), "the mark is not labelled");
  free(html);
}

/* The eval report names the version, the run's date and both data hashes, and warns when
 * the evaluated file is the training data; a held-out file gets no warning. */
Test(report, eval_report_names_hashes_and_warns_on_training_data, .timeout = 60) {
  static tu_run r;
  const char *d = tu_tmpdir();
  tu_sh(&r, "cd %s && %s synth --rows 3000 --seed 6 --out all.csv >/dev/null && %s split --data "
            "all.csv --out-train tr.csv --out-test te.csv >/dev/null && %s train --data tr.csv "
            "--epochs 2 --quiet --out w.abm >/dev/null && %s eval --model w.abm --data tr.csv "
            "--report on_train.html >/dev/null 2>&1 && %s eval --model w.abm --data te.csv "
            "--report on_test.html >/dev/null 2>&1 && %s info w.abm --json", d, ABGPU_BIN,
        ABGPU_BIN, ABGPU_BIN, ABGPU_BIN, ABGPU_BIN, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  char hash[40], want[80], path[700];
  const char *h = strstr(r.out, "\"data_hash\": \"");
  cr_assert(h, "%s", r.out);
  snprintf(hash, sizeof hash, "%.16s", h + strlen("\"data_hash\": \""));
  snprintf(path, sizeof path, "%s/on_train.html", d);
  char *html = slurp(path);
  snprintf(want, sizeof want, "evaluated data hash %s", hash);
  cr_expect(strstr(html, want), "no '%s' in the report on the training data", want);
  cr_expect(strstr(html, "class=\"warn\"") && strstr(html, "data the model was trained on"),
            "no warning on the training data");
  cr_expect(strstr(html, " UTC") && strstr(html, "<br>abgpu "), "no version or run date");
  free(html);
  snprintf(path, sizeof path, "%s/on_test.html", d);
  html = slurp(path);
  snprintf(want, sizeof want, "training data hash %s, evaluated data hash", hash);
  cr_expect(strstr(html, want), "no '%s' in the report on held-out data", want);
  cr_expect(!strstr(html, "class=\"warn\""), "the held-out report warns");
  free(html);
}

Test(report, renders_in_headless_chromium, .timeout = 120) {
  static tu_run r;
  if (tu_sh(&r, "command -v chromium") != 0)
    cr_skip_test("chromium is not installed: the screenshot check is skipped "
                 "(tools/install-deps.sh --optional installs it)");
  train_with_report();
  char png[700];
  snprintf(png, sizeof png, "%s/train.png", tu_tmpdir());
  tu_sh(&r, "chromium --headless --no-sandbox --disable-gpu --screenshot=%s "
            "--window-size=1200,2000 file://%s 2>&1", png, train_html);
  cr_assert(tu_exists(png), "no screenshot: %s", r.out);
  FILE *f = fopen(png, "rb");
  unsigned char sig[8] = {0};
  cr_assert_eq(fread(sig, 1, 8, f), 8);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fclose(f);
  cr_assert(memcmp(sig, "\x89PNG\r\n\x1a\n", 8) == 0, "not a PNG");
  cr_assert_gt(size, 50000, "a %ld-byte screenshot is too small to hold the charts", size);
  cr_log_info("report screenshot: %s (%ld bytes)", png, size);
}

Test(report, ids_in_common_counted_as_text) {
  ab_ids a = {0}, ref = {0};
  const char *av[] = {"a", "b", "007", "a", "7"}, *rv[] = {"a", "x", "007"};
  for (int i = 0; i < 5; i++) cr_assert_eq(ab_ids_push(&a, av[i], strlen(av[i]), NULL), 0);
  for (int i = 0; i < 3; i++) cr_assert_eq(ab_ids_push(&ref, rv[i], strlen(rv[i]), NULL), 0);
  uint64_t n = 99;
  cr_assert_eq(ab_ids_count_common(&a, &ref, &n, NULL), 0);
  cr_expect_eq(n, 3, "a twice and 007 (7 is other text): %llu", (unsigned long long)n);
  ab_ids_free(&a);
  ab_ids_free(&ref);
}

/* Customers of the training file mixed into held-out ones: eval counts them by id (from
 * the file the model names, or --train-data from elsewhere), warns in one line and in the
 * report; the held-out part alone gets no warning. */
Test(report, eval_warns_on_ids_of_the_training_file, .timeout = 60) {
  static tu_run r, w;
  const char *d = tu_tmpdir();
  tu_sh(&r, "cd %s && %s synth --rows 3000 --seed 6 --out all.csv >/dev/null && %s split --data "
            "all.csv --out-train tr.csv --out-test te.csv >/dev/null && %s train --data tr.csv "
            "--epochs 2 --quiet --out w.abm >/dev/null && cp te.csv mix.csv && sed -n 2,101p "
            "tr.csv >> mix.csv && %s eval --model w.abm --data mix.csv --json --report mix.html "
            "2>mix.err", d, ABGPU_BIN, ABGPU_BIN, ABGPU_BIN, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_expect_eq(tu_json_num(r.out, "train_id_overlap"), 100, "%s", r.out);
  char path[700];
  snprintf(path, sizeof path, "%s/mix.err", d);
  char *err = slurp(path);
  cr_expect(strstr(err, "warning: 100 of the 700 evaluated customers") && strstr(err, "tr.csv"),
            "%s", err);
  cr_expect_eq(count_of(err, "\n"), 1, "one line: %s", err);
  free(err);
  snprintf(path, sizeof path, "%s/mix.html", d);
  char *html = slurp(path);
  cr_expect_eq(html_num(html, "train_id_overlap"), 100);
  cr_expect(strstr(html, "class=\"warn\"") && strstr(html, "the model's training file"));
  free(html);
  tu_sh(&w, "cd / && %s eval --model %s/w.abm --data %s/mix.csv --train-data %s/tr.csv --json "
            "2>/dev/null", ABGPU_BIN, d, d, d);
  cr_expect_eq(tu_json_num(w.out, "train_id_overlap"), 100, "--train-data: %s", w.out);
  tu_sh(&w, "cd %s && %s eval --model w.abm --data te.csv --json 2>&1 >/dev/null", d, ABGPU_BIN);
  cr_expect(!strstr(w.out, "warning"), "held-out data warned: %s", w.out);
}
