/* The trainer end to end: determinism, early stopping, the CLI's JSON, and the real data
 * (when ABGPU_REAL_DATA points at it) against the accuracy bar. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "testutil.h"

/* Replaces the value after every key ending in `key` with '#': timings differ by run. */
static void blank_values(char *s, const char *key) {
  size_t k = strlen(key);
  for (char *p = strstr(s, key); p; p = strstr(p + 1, key)) {
    char *v = p + k, *q = v;
    while (*q && *q != ',' && *q != '}') q++;
    *v = '#';
    memmove(v + 1, q, strlen(q) + 1);
  }
}

static void strip_timings(char *s) {
  blank_values(s, "ms\": ");
  blank_values(s, "ms_per_epoch\": ");
}

Test(train, same_seed_gives_bit_identical_results) {
  static tu_run a, b, c;
  const char *cmd = "%s train --data synth:3000:5 --seed %d --epochs 4 --patience 9 --quiet --json 2>/dev/null";
  cr_assert_eq(tu_sh(&a, cmd, ABGPU_BIN, 3), 0, "%s", a.out);
  cr_assert_eq(tu_sh(&b, cmd, ABGPU_BIN, 3), 0, "%s", b.out);
  cr_assert_eq(tu_sh(&c, cmd, ABGPU_BIN, 4), 0, "%s", c.out);
  strip_timings(a.out);
  strip_timings(b.out);
  strip_timings(c.out);
  if (strcmp(a.out, b.out) != 0) {
    size_t i = 0;
    while (a.out[i] == b.out[i]) i++;
    cr_assert_fail("runs differ at byte %zu: '%.60s' vs '%.60s'", i, a.out + (i > 20 ? i - 20 : 0),
                   b.out + (i > 20 ? i - 20 : 0));
  }
  cr_assert_str_neq(a.out, c.out);
  cr_assert_eq(tu_json_num(a.out, "epochs"), 4);
}

Test(train, default_data_is_synthetic_and_said_in_the_first_line) {
  static tu_run r;
  tu_sh(&r, "%s train --epochs 2 --quiet", ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strncmp(r.out, "no --data given: training on synth:14084", 40) == 0, "%s", r.out);
  cr_assert(strstr(r.out, "test accuracy"), "%s", r.out);
}

Test(train, json_has_the_promised_fields) {
  static tu_run r;
  tu_sh(&r, "%s train --data synth:2000 --epochs 3 --json --quiet 2>/dev/null", ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  const char *keys[] = {"test_accuracy", "test_loss", "epochs", "best_epoch", "ms_per_epoch", "seed"};
  for (size_t i = 0; i < 6; i++) cr_expect(!isnan(tu_json_num(r.out, keys[i])), "no %s in %s", keys[i], r.out);
  cr_expect(strstr(r.out, "\"device\": \"cpu"), "%s", r.out);
  double acc = tu_json_num(r.out, "test_accuracy");
  cr_expect(acc > 0.5 && acc <= 1.0, "test_accuracy %g", acc);
  cr_expect(tu_json_num(r.out, "best_epoch") <= tu_json_num(r.out, "epochs"));
}

Test(train, usage_errors_exit_2) {
  static tu_run r;
  const char *bad[] = {"--lr abc", "--batch 0", "--hidden 100,x", "--act relu,foo", "--balance some",
                       "--split 50,50", "--missing guess", "--frobnicate", "--epochs"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tu_sh(&r, "%s train %s", ABGPU_BIN, bad[i]);
    cr_expect_eq(r.status, 2, "'%s' exited %d: %s", bad[i], r.status, r.out);
    cr_expect(strstr(r.out, "abgpu train:"), "'%s': %s", bad[i], r.out);
  }
  tu_sh(&r, "%s train --help", ABGPU_BIN);
  cr_assert_eq(r.status, 0);
  const char *flags[] = {"--data", "--device", "--hidden", "--act", "--lr", "--batch", "--epochs",
                         "--patience", "--seed", "--balance", "--missing", "--seed-compat",
                         "--quiet", "--json", "--split"};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    cr_expect(strstr(r.out, flags[i]), "--help does not list %s", flags[i]);
}

/* Issue 11's checks on protocol A (the notebook's split: `--balance first`, seeds 1..10,
 * 448 balanced test customers): the default recipe's mean test accuracy >= 0.82, and
 * --seed-compat's >= 0.81 with a median of at least 25 epochs (the notebook in PyTorch:
 * 43 epochs, 81.6-82.1%). Measured on this machine kind (docs/manual.md): default 0.8281,
 * --seed-compat 0.8165 with a median of 49.5 epochs. The CPU path is bit-reproducible,
 * so these are the figures CI gets; a regression (a broken op, a leaked scaler, a
 * reshuffled batch order under --seed-compat, a lost encoding) falls below the bars. */
#define SEEDS 10

static double mean_accuracy(const char *data, const char *extra, double *median_epochs) {
  double sum = 0, ep[SEEDS];
  static tu_run r;
  for (int s = 1; s <= SEEDS; s++) {
    tu_sh(&r, "%s train --data %s --device cpu --seed %d --balance first --json --quiet %s 2>/dev/null",
          ABGPU_BIN, data, s, extra);
    cr_assert_eq(r.status, 0, "%s", r.out);
    double a = tu_json_num(r.out, "test_accuracy");
    ep[s - 1] = tu_json_num(r.out, "epochs");
    cr_log_info("real data seed %d %s: test accuracy %.4f, %g epochs", s, extra, a, ep[s - 1]);
    sum += a;
  }
  for (int i = 1; i < SEEDS; i++) /* insertion sort for the median */
    for (int j = i; j > 0 && ep[j] < ep[j - 1]; j--) { double t = ep[j]; ep[j] = ep[j - 1]; ep[j - 1] = t; }
  *median_epochs = 0.5 * (ep[SEEDS / 2 - 1] + ep[SEEDS / 2]);
  return sum / SEEDS;
}

Test(train_real, protocol_a_default_and_seed_compat_reach_the_bars, .timeout = 600) {
  const char *data = tu_real_data();
  if (!data) cr_skip_test("ABGPU_REAL_DATA is not set: the real-data accuracy check is skipped");
  double de, ce;
  double d = mean_accuracy(data, "", &de), c = mean_accuracy(data, "--seed-compat", &ce);
  cr_log_info("real data, seeds 1..%d: default mean test accuracy %.4f (median %g epochs), "
              "--seed-compat %.4f (median %g epochs)", SEEDS, d, de, c, ce);
  cr_expect_geq(d, 0.82, "default mean %.4f < 0.82", d);
  cr_expect_geq(c, 0.81, "--seed-compat mean %.4f < 0.81", c);
  cr_expect_geq(ce, 25, "--seed-compat median epochs %g < 25", ce);
}

/* --calibrate on the real export (synthetic customers without it): both calibrators lower
 * the validation split's log loss and Brier score they were fitted on, or leave them
 * (isotonic: the PAV fit minimises the squared error and the log loss over every
 * non-decreasing map, the identity included; Platt: Newton from the identity only takes
 * steps that do not raise the log loss, and its Brier score is checked as measured). The figures reported before
 * calibration are the uncalibrated model's: the same as --calibrate none's val_metrics. */
Test(train, calibration_does_not_raise_the_validation_loss, .timeout = 300) {
  const char *real = tu_real_data(), *data = real ? real : "synth:6000:3";
  static tu_run r;
  tu_sh(&r, "%s train --data %s --quiet --json 2>/dev/null", ABGPU_BIN, data);
  cr_assert_eq(r.status, 0, "%s", r.out);
  const char *v = strstr(r.out, "\"val_metrics\": {");
  cr_assert(v, "%s", r.out);
  double ll = tu_json_num(v, "log_loss"), br = tu_json_num(v, "brier");
  static const char *const kinds[] = {"platt", "isotonic"};
  for (int k = 0; k < 2; k++) {
    tu_sh(&r, "%s train --data %s --quiet --json --calibrate %s --report %s/cal.html 2>/dev/null",
          ABGPU_BIN, data, kinds[k], tu_tmpdir());
    cr_assert_eq(r.status, 0, "%s", r.out);
    const char *c = strstr(r.out, "\"calibration\": {");
    cr_assert(c && strstr(c, kinds[k]), "%s", r.out);
    double lb = tu_json_num(c, "val_log_loss_before"), la = tu_json_num(c, "val_log_loss_after");
    double bb = tu_json_num(c, "val_brier_before"), ba = tu_json_num(c, "val_brier_after");
    cr_log_info("%s, %s: validation log loss %.6f -> %.6f, Brier %.6f -> %.6f", data, kinds[k],
                lb, la, bb, ba);
    cr_expect_eq(lb, ll, "before: %.9g, --calibrate none's %.9g", lb, ll);
    cr_expect_eq(bb, br, "before: %.9g, --calibrate none's %.9g", bb, br);
    cr_expect_leq(ba, bb, "%s raised the validation Brier score", kinds[k]);
    cr_expect_leq(la, lb, "%s raised the validation log loss", kinds[k]);
    /* and the stored validation metrics are the calibrated ones */
    v = strstr(r.out, "\"val_metrics\": {");
    cr_assert(v);
    cr_expect_eq(tu_json_num(v, "brier"), ba, "val_metrics' Brier is not the calibrated one");
    static tu_run h;
    tu_sh(&h, "grep -o '<td>calibration</td><td>[^<]*' %s/cal.html", tu_tmpdir());
    cr_expect(strstr(h.out, k ? "isotonic, " : "Platt, a "), "the report: %s", h.out);
    cr_expect(strstr(h.out, "every probability here is calibrated"), "the report: %s", h.out);
  }
}

/* A validation split the model separates completely (the target is price_overall > 10
 * with a gap around it): Platt has no finite slope, so train --calibrate platt refuses
 * with exit 2 and writes no model; isotonic fits it. */
Test(train, calibrate_platt_refuses_a_separated_validation_split, .timeout = 60) {
  static tu_run r;
  tu_sh(&r, "cd %s && %s synth --rows 1500 --seed 3 --out s.csv > /dev/null 2>&1 && "
            "awk -F, -v OFS=, '$4 > 8 && $4 < 12 {next} {$12 = $4 > 10; print}' s.csv > sep.csv && "
            "%s train --data sep.csv --epochs 60 --quiet --calibrate platt --out sep.abm; "
            "echo rc=$?; ls", tu_tmpdir(), ABGPU_BIN, ABGPU_BIN);
  cr_assert(strstr(r.out, "rc=2"), "%s", r.out);
  cr_assert(strstr(r.out, "--calibrate platt on the validation split: calibration: the model "
                   "separates the"), "%s", r.out);
  cr_assert(strstr(r.out, "use isotonic or none; no model written"), "%s", r.out);
  cr_assert(!strstr(r.out, "sep.abm"), "a model was written: %s", r.out);
  tu_sh(&r, "cd %s && %s train --data sep.csv --epochs 60 --quiet --calibrate isotonic --out "
            "sep.abm", tu_tmpdir(), ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
}
