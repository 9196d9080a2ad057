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
#include "cl/engine.h"
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

/* A test's run under the shim: the device, a scratch folder, the trace file (named
 * `name` there) and the environment (shim_env's). */
typedef struct shim_run {
  int dev;
  const char *d;
  char env[1024], trace[512];
} shim_run;

static void shim_setup(shim_run *s, const char *name, int local, int wg, const char *extra) {
  s->dev = tu_cl_device_or_skip("GPU-limit tests");
  s->d = tu_tmpdir();
  snprintf(s->trace, sizeof s->trace, "%s/%s", s->d, name);
  shim_env(s->env, sizeof s->env, local, wg, s->trace, extra);
}

/* One kernel's launches in a trace: how many, and the fewest and most work-groups. */
typedef struct launches {
  int n;
  long min_groups, max_groups;
} launches;

/* One kernel's launches whose first global size is at least `min0` (a tiled GEMM's
 * output columns rounded up to its tile): how many, and the fewest work-groups. */
static launches trace_wide(const char *trace, const char *kernel, long min0) {
  launches l = {0, 0, 0};
  FILE *f = fopen(trace, "r");
  if (!f) return l;
  char line[512], name[128];
  while (fgets(line, sizeof line, f)) {
    const char *g = strstr(line, " groups="), *gl = strstr(line, " global=");
    if (sscanf(line, "%127s", name) != 1 || strcmp(name, kernel) != 0 || !g || !gl) continue;
    if (atol(gl + 8) < min0) continue;
    long groups = atol(g + 8);
    if (l.n == 0 || groups < l.min_groups) l.min_groups = groups;
    if (l.n == 0 || groups > l.max_groups) l.max_groups = groups;
    l.n++;
  }
  fclose(f);
  return l;
}

static launches trace_of(const char *trace, const char *kernel) {
  return trace_wide(trace, kernel, 0); /* every launch's global size is >= 0 */
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
  shim_run s;
  shim_setup(&s, "sweep.trace", 48 * 1024, 256, NULL);
  const char *d = s.d, *env = s.env, *trace = s.trace;
  int dev = s.dev;
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

/* A launch's __local bytes as the trace reports them: the largest of a kernel's. */
static long max_localmem(const char *trace, const char *kernel) {
  FILE *f = fopen(trace, "r");
  long most = -1;
  char line[512], name[128];
  while (f && fgets(line, sizeof line, f)) {
    const char *m = strstr(line, " localmem=");
    if (sscanf(line, "%127s", name) == 1 && strcmp(name, kernel) == 0 && m && atol(m + 10) > most)
      most = atol(m + 10);
  }
  if (f) fclose(f);
  return most;
}

/* Issue 13, finding 6: a buffer larger than the device's largest allocation used to fail
 * in clCreateBuffer with a bare CL_INVALID_BUFFER_SIZE (exit 3). It is refused before it
 * is created: exit 2, one line naming the size and what to lower. */
Test(cl_gpu, oversize_buffer_exits_2_with_one_line) {
  shim_run s;
  shim_setup(&s, "alloc.trace", 48 * 1024, 256, "FAKE_ALLOC=100000");
  const char *d = s.d, *env = s.env, *trace = s.trace;
  int dev = s.dev;
  static tu_run r;
  tu_sh(&r, "cd %s && rm -f %s && %s %s train --data synth:3000 --epochs 1 --device %d --quiet",
        d, trace, env, ABGPU_BIN, dev);
  cr_assert_eq(r.status, 2, "a buffer over FAKE_ALLOC must exit 2:\n%s", r.out);
  cr_assert_eq(count_lines(r.out, "\n"), 1, "one line expected:\n%s", r.out);
  cr_expect(strstr(r.out, "bytes) exceeds") && strstr(r.out, "CL_DEVICE_MAX_MEM_ALLOC_SIZE"),
            "the line must name the size and the limit:\n%s", r.out);
  cr_expect(strstr(r.out, "lower --batch"), "the line must say what to lower:\n%s", r.out);
  tu_sh(&r, "grep FAKE_ALLOC %s", trace);
  cr_expect_neq(r.status, 0, "the refused buffer reached clCreateBuffer:\n%s", r.out);
}

/* 1 KB of local memory: the fused kernels do not fit (per-op training), and evaluation,
 * which used to fail with CL_OUT_OF_RESOURCES (ab_eval's work-group of 256 needed 2 KB),
 * runs with a smaller group: train, eval and predict all succeed within 1 KB. */
Test(cl_gpu, local_1k_trains_evaluates_predicts) {
  shim_run s;
  shim_setup(&s, "l1k.trace", 1024, 256, NULL);
  const char *d = s.d, *env = s.env, *trace = s.trace;
  int dev = s.dev;
  static tu_run r;
  tu_sh(&r, "cd %s && rm -f %s && %s %s train --data synth:2000 --epochs 2 --device %d "
        "--verbose --out m.abm && %s synth --rows 300 --out s.csv", d, trace, env, ABGPU_BIN,
        dev, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "training with 1 KB of local memory:\n%s", r.out);
  cr_expect(strstr(r.out, "training path per-op"), "the fused kernels cannot fit 1 KB:\n%s",
            r.out);
  tu_sh(&r, "cd %s && %s %s eval --model m.abm --data s.csv --device %d", d, env, ABGPU_BIN,
        dev);
  cr_assert_eq(r.status, 0, "eval with 1 KB of local memory:\n%s", r.out);
  tu_sh(&r, "cd %s && %s %s predict --model m.abm --data s.csv --device %d --out p.csv", d,
        env, ABGPU_BIN, dev);
  cr_assert_eq(r.status, 0, "predict with 1 KB of local memory:\n%s", r.out);
  long most = max_localmem(trace, "ab_eval");
  cr_expect(most > 0 && most <= 1024, "ab_eval's __local bytes: %ld (at most 1024)", most);
}

/* Launches are capped by their estimated run time, not only by rows (a display GPU's
 * watchdog kills a long launch): a 1024,1024 net's batch of 200 (1.4 GFLOP in one
 * work-group) is too long for one fused launch, so AUTO trains it per-op; a 256,256
 * net's epoch is split into several fused launches though its rows are far below the
 * rows cap. */
Test(cl_gpu, launches_capped_by_estimated_time) {
  shim_run s;
  shim_setup(&s, "time.trace", 48 * 1024, 256, NULL);
  const char *d = s.d, *env = s.env, *trace = s.trace;
  int dev = s.dev;
  static tu_run r;
  tu_sh(&r, "cd %s && %s %s train --data synth:300 --hidden 1024,1024 --batch 200 "
        "--epochs 1 --device %d --verbose --quiet", d, env, ABGPU_BIN, dev);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_expect(strstr(r.out, "training path per-op") && strstr(r.out, "s in one launch"),
            "a 1.4 GFLOP batch must not run in one fused launch:\n%s", r.out);
  tu_sh(&r, "cd %s && rm -f %s && %s %s train --data synth:5000 --hidden 256,256 "
        "--epochs 1 --device %d --verbose --quiet", d, trace, env, ABGPU_BIN, dev);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_expect(strstr(r.out, "launches per epoch") && strstr(r.out, "s estimated"),
            "the epoch must be split by its estimated time:\n%s", r.out);
  launches ft = trace_of(trace, "ab_fused_train");
  cr_expect_geq(ft.n, 3, "1 epoch in several launches, plus the warm-up: %d", ft.n);
}

/* The global-memory check: a buffer that fits the largest allocation but not what is
 * left of global memory is refused before clCreateBuffer (the limit raised here, since
 * real devices allow at most a quarter or so of their memory in one buffer). */
Test(cl_gpu, buffer_over_free_global_memory_refused) {
  int dev = tu_cl_device_or_skip("GPU-limit tests");
  ab_err e;
  ab_cl_ctx *c = NULL;
  ab_cl_opts o = {AB_CL_GEMM_OWN, 0, 0, NULL, NULL, {0}, AB_CL_SPLIT_AUTO};
  cr_assert_eq(ab_cl_ctx_open(&c, dev, &o, &e), AB_OK, "opening device %d: %s", dev, e.msg);
  c->max_alloc = (cl_ulong)-1;
  cl_mem a = NULL, b = NULL;
  size_t mb = 1 << 20, total = (size_t)c->info.global_mem;
  cr_assert_eq(ab_cl_buffer(c, &a, CL_MEM_READ_WRITE, mb, NULL, &e), AB_OK, "%s", e.msg);
  cr_expect_eq(ab_cl_in_use(c), mb, "1 MiB in use: %zu", ab_cl_in_use(c));
  cr_expect_eq(ab_cl_buffer(c, &b, CL_MEM_READ_WRITE, total - mb / 2, NULL, &e), AB_EUSAGE,
               "global memory less 0.5 MiB with 1 MiB in use must be refused");
  cr_expect(strstr(e.msg, "in use") && strstr(e.msg, "lower --batch"), "%s", e.msg);
  cr_expect_null(b, "no buffer made");
  clReleaseMemObject(a);
  cr_expect_eq(ab_cl_in_use(c), 0, "released: %zu in use", ab_cl_in_use(c));
  cr_expect_eq(ab_cl_buffer(c, &b, CL_MEM_READ_WRITE, total + 1, NULL, &e), AB_EUSAGE,
               "more than global memory must be refused");
  ab_cl_ctx_free(c);
}

/* Issue 13, finding 2: one model used a handful of work-groups per step. A K = 1 training
 * run on the per-op path of a 132-unit GPU (48 KB, 256) must spread every GEMM-sized
 * step of a batch of 100 over at least 64 work-groups: the forward of each 100-wide layer,
 * every dX, every dW and db (small layers take chunks of the batch); the batch loss runs
 * over ceil(100 / 64) = 2 groups with its second stage, never the one-group kernel. (The
 * output layer's forward, 100 rows x 2 columns, is 13 groups of 8 x 16 outputs.) */
Test(cl_gpu, k1_per_op_steps_spread_over_64_groups) {
  shim_run s;
  shim_setup(&s, "k1.trace", 48 * 1024, 256, "FAKE_CU=132 ABGPU_CL_FUSED=off");
  const char *d = s.d, *env = s.env, *trace = s.trace;
  int dev = s.dev;
  static tu_run r;
  tu_sh(&r, "cd %s && rm -f %s && %s %s train --data synth:1500 --batch 100 --epochs 1 "
        "--device %d --verbose", d, trace, env, ABGPU_BIN, dev);
  cr_assert_eq(r.status, 0, "%s", r.out);
  static const char *const gemm[] = {"ab_linear_act_bwd_dw_tiled", "ab_linear_act_bwd_dx_tiled"};
  for (int i = 0; i < 2; i++) {
    launches l = trace_wide(trace, gemm[i], 0);
    cr_assert_geq(l.n, 12, "%s: %d launches (12 batches)", gemm[i], l.n);
    cr_expect_geq(l.min_groups, 64, "%s: a launch of %ld work-groups", gemm[i], l.min_groups);
  }
  launches fw = trace_wide(trace, "ab_linear_act_fwd_tiled", 64);
  cr_assert_geq(fw.n, 24, "forward launches of 100-wide layers: %d", fw.n);
  cr_expect_geq(fw.min_groups, 64, "a 100-wide forward of %ld work-groups", fw.min_groups);
  launches xs = trace_of(trace, "ab_softmax_xent_split");
  cr_expect(xs.n >= 12 && xs.min_groups == 2, "batch loss: %d launches, %ld groups", xs.n,
            xs.min_groups);
  static const char *const old[] = {"ab_linear_act_fwd", "ab_linear_act_bwd_dw",
                                    "ab_linear_act_bwd_dx", "ab_softmax_xent"};
  for (int i = 0; i < 4; i++)
    cr_expect_eq(trace_of(trace, old[i]).n, 0, "%s (the ordered form) ran", old[i]);
}

/* Issue 13, finding 3: the automatic choice took the fused path whenever one row fit
 * local memory, even for a 1024,2048 net, whose fused kernel re-reads 2.3 M weights per
 * row tile (1 row in 48 KB). Both paths are now timed in init_models' warm-up and the
 * faster taken: per-op here, with the figures and the cache file named on --verbose. */
Test(cl_gpu, wide_net_takes_per_op_when_measured_faster) {
  shim_run s;
  shim_setup(&s, "wide.trace", 48 * 1024, 256, "FAKE_CU=132");
  const char *d = s.d, *env = s.env, *trace = s.trace;
  int dev = s.dev;
  static tu_run r;
  tu_sh(&r, "cd %s && %s %s train --data synth:120 --hidden 1024,2048 --batch 8 --epochs 1 "
        "--device %d --verbose", d, env, ABGPU_BIN, dev);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_expect(strstr(r.out, "training path per-op: the split kernels are estimated at") &&
                strstr(r.out, "(measured on epochs of 1 and 3 batches; cached in "),
            "the wide net must train per-op, by measurement:\n%s", r.out);
  cr_expect_geq(trace_of(trace, "ab_fused_train").n, 1, "the fused path was not timed");
}
