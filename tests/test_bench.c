/* abgpu bench as a user runs it: every backend present, each ending at the reference's
 * training loss (the check: within 1e-3 relative), and the CSV reader timed.
 * Speed itself is never asserted here (docs/benchmarks.md has the figures). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "abgpu/cl.h"
#include "abgpu/cpu.h"
#include "testutil.h"

/* The n-th (0-based) value of "key" in json, or NAN. */
static double nth_num(const char *json, const char *key, int n) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = json;
  for (int i = 0; p && i <= n; i++) {
    p = strstr(p, pat);
    if (p && i < n) p += strlen(pat);
  }
  return p ? tu_json_num(p, key) : NAN;
}

Test(bench, every_backend_ends_at_the_reference_loss, .timeout = 120) {
  static tu_run r;
  tu_sh(&r, "%s bench --rows 3000 --epochs 2 --json 2>/dev/null", ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "\"backend\": \"ref\"") && strstr(r.out, "\"backend\": \"cpu\""),
            "%s", r.out);
  ab_cl_devices d;
  ab_err e;
  int ndev = ab_cl_devices_list(&d, &e) == 0 ? d.n : 0;
  if (ndev > 0) {
    cr_expect(strstr(r.out, "\"backend\": \"0\""), "no OpenCL row: %s", r.out);
    ab_cl_devices_free(&d);
  } else {
    cr_log_info("bench: no OpenCL device here, so no OpenCL row to check");
  }
  double ref = nth_num(r.out, "final_loss", 0);
  cr_assert(isfinite(ref) && ref > 0, "%s", r.out);
  int n = 0;
  for (double l; isfinite(l = nth_num(r.out, "final_loss", n)); n++)
    cr_expect_leq(fabs(l / ref - 1), 1e-3, "backend %d: final loss %.8f, reference %.8f", n, l,
                  ref);
  cr_expect_geq(n, 2);
  cr_expect_gt(tu_json_num(r.out, "csv_mb_per_s"), 0, "%s", r.out);
  cr_expect_gt(nth_num(r.out, "ms_per_epoch", 1), 0, "%s", r.out);
}

/* The peak and the fraction of it; the cpu rows with exactly 1 and 2 threads beside the
 * chosen one (two cores or more). */
Test(bench, peak_fraction_and_thread_rows, .timeout = 120) {
  static tu_run r;
  tu_sh(&r, "%s bench --rows 2000 --epochs 1 --backends cpu --json 2>/dev/null", ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_expect(strstr(r.out, "\"peak_gflops\": {\""), "%s", r.out);
  double f = tu_json_num(r.out, "peak_fraction");
  cr_expect(f > 0 && f < 4, "fraction of one core's peak %g: %s", f, r.out);
  cr_expect_gt(tu_json_num(r.out, "epoch_mflop"), 0, "%s", r.out);
  if (ab_cpu_count() >= 2) {
    cr_expect(strstr(r.out, "\"backend\": \"cpu:t1\"") && strstr(r.out, "\"backend\": \"cpu:t2\""),
              "%s", r.out);
    cr_expect(strstr(r.out, "cpu (") && strstr(r.out, "2 threads"), "%s", r.out);
  }
  tu_sh(&r, "%s bench --rows 2000 --epochs 1 --backends cpu 2>/dev/null", ABGPU_BIN);
  cr_expect(strstr(r.out, "cpu threads: threaded-epoch:"), "%s", r.out);
  cr_expect(strstr(r.out, "%peak"), "%s", r.out);
}

/* Every ISA this CPU runs ends at the reference's loss (the bound of the test above). */
Test(bench, every_isa_ends_at_the_reference_loss, .timeout = 120) {
  static const ab_cpu_isa isas[3] = {AB_CPU_ISA_GENERIC, AB_CPU_ISA_AVX2, AB_CPU_ISA_AVX512};
  for (int i = 0; i < 3; i++) {
    const char *name = ab_cpu_isa_name(isas[i]);
    static tu_run r;
    tu_sh(&r, "ABGPU_CPU_ISA=%s %s bench --rows 3000 --epochs 2 --backends ref,cpu --json "
          "2>&1", name, ABGPU_BIN);
    if (ab_cpu_isa_resolve(isas[i]) != isas[i]) {
      cr_expect_eq(r.status, 2, "%s", r.out);
      cr_expect(strstr(r.out, "cannot run"), "%s", r.out);
      fprintf(stderr, "bench: SKIPPED %s (this CPU lacks it; its refusal checked)\n", name);
      continue;
    }
    cr_assert_eq(r.status, 0, "%s", r.out);
    char want[64];
    snprintf(want, sizeof want, "cpu (%s, ", name);
    cr_expect(strstr(r.out, want), "%s: %s", name, r.out);
    double ref = nth_num(r.out, "final_loss", 0), cpu = nth_num(r.out, "final_loss", 1);
    cr_expect_leq(fabs(cpu / ref - 1), 1e-3, "%s: final loss %.8f, reference %.8f", name, cpu,
                  ref);
  }
}

Test(bench, text_output_names_each_backend_and_the_reader) {
  static tu_run r;
  tu_sh(&r, "%s bench --rows 2000 --epochs 1 --backends ref,cpu 2>/dev/null", ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_expect(strstr(r.out, "\nref ") && strstr(r.out, "\ncpu "), "%s", r.out);
  cr_expect(strstr(r.out, "csv reader: "), "%s", r.out);
  tu_sh(&r, "%s bench --backends nope 2>&1", ABGPU_BIN);
  cr_expect_eq(r.status, 2, "%s", r.out);
}
