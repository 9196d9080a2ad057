/* The OpenCL engine under a GPU's limits: abgpu runs under the fakegpu shim
 * (../shared/tools/fakegpu, built by CMake from there; not part of abgpu), which makes
 * PoCL report a GPU with a GPU's local memory, work-group size and allocation limits,
 * enforces them as a driver would, and writes one line per launch to $FAKE_TRACE. The
 * checks read that trace: which kernels ran, with how many work-groups. Without the
 * shim these tests skip and say so. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

#ifndef ABGPU_FAKEGPU_SO
#define ABGPU_FAKEGPU_SO ""
#endif

/* The shim's path, or the test skips (there is no shim beside the project). */
static const char *shim_or_skip(void) {
  tu_cl_device_or_skip("GPU-limit tests");
  if (!*ABGPU_FAKEGPU_SO)
    cr_skip_test("the fakegpu shim (../shared/tools/fakegpu/fakegpu.c) was not beside the "
                 "project when it was configured: GPU-limit tests skipped");
  return ABGPU_FAKEGPU_SO;
}

/* The environment of a run under the shim: a GPU with `local` bytes of local memory and
 * work-groups of at most `wg`, every launch traced to `trace`; `extra` adds FAKE_*
 * settings. Other FAKE_* settings of the caller's environment are cleared. ASan builds
 * accept a library preloaded before their runtime. */
static void shim_env(char *buf, size_t n, int local, int wg, const char *trace,
                     const char *extra) {
  snprintf(buf, n,
           "env -u FAKE_ALLOC -u FAKE_NOFMA -u FAKE_CU LD_PRELOAD=%s FAKE_TYPE=GPU "
           "FAKE_LOCAL=%d FAKE_WG=%d FAKE_TRACE=%s %s "
           "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0",
           shim_or_skip(), local, wg, trace, extra ? extra : "");
}

/* One kernel's launches in a trace: how many, and the fewest and most work-groups. */
typedef struct launches {
  int n;
  long min_groups, max_groups;
} launches;

static launches trace_of(const char *trace, const char *kernel) {
  launches l = {0, 0, 0};
  FILE *f = fopen(trace, "r");
  if (!f) return l;
  char line[512], name[128];
  while (fgets(line, sizeof line, f)) {
    const char *g = strstr(line, " groups=");
    if (sscanf(line, "%127s", name) != 1 || strcmp(name, kernel) != 0 || !g) continue;
    long groups = atol(g + 8);
    if (l.n == 0 || groups < l.min_groups) l.min_groups = groups;
    if (l.n == 0 || groups > l.max_groups) l.max_groups = groups;
    l.n++;
  }
  fclose(f);
  return l;
}

/* Lines of `out` that contain `what`. */
static int count_lines(const char *out, const char *what) {
  int n = 0;
  for (const char *p = out; (p = strstr(p, what)); p += strlen(what)) n++;
  return n;
}

/* Issue 13, finding 1: the local-memory budget of the fused kernels used to subtract
 * CL_KERNEL_LOCAL_MEM_SIZE queried after a launch, which counts the __local arguments of
 * that launch: on a 48 KB device the first launch of a sweep ran fused and every later
 * one fell back to per-op ("0 available"). Both launches must run fused. */
Test(cl_gpu, sweep_launches_all_fused_48k) {
  int dev = tu_cl_device_or_skip("GPU-limit tests");
  const char *d = tu_tmpdir();
  char env[1024], trace[512];
  snprintf(trace, sizeof trace, "%s/sweep.trace", d);
  shim_env(env, sizeof env, 48 * 1024, 256, trace, NULL);
  static tu_run r;
  tu_sh(&r, "cd %s && rm -f %s && %s %s sweep --data synth:3000 --set batch=100,50 "
        "--set epochs=2 --device %d --verbose --finalists 1 --force", d, trace, env, ABGPU_BIN,
        dev);
  cr_assert_eq(r.status, 0, "%s", r.out);
  int fused = count_lines(r.out, "training path fused-epoch");
  cr_assert_geq(fused, 3, "two launches and the finalist must each say fused-epoch:\n%s", r.out);
  cr_assert_eq(count_lines(r.out, "training path per-op"), 0, "a launch fell back:\n%s", r.out);
  launches ft = trace_of(trace, "ab_fused_train"), fw = trace_of(trace, "ab_linear_act_fwd");
  cr_assert_geq(ft.n, 6, "2 epochs x (2 launches + the finalist), plus warm-ups: %d", ft.n);
  cr_assert_eq(fw.n, 0, "per-op forward launches in the trace: %d", fw.n);
}
