/* Sweeps beyond one process (docs/scale-out.md): --device gpu picks GPUs by type and
 * local rank, the work queue's order, and the recipes of tools/scale-out run for real:
 * the MPI job with a rank killed and the sweep resumed on fewer ranks, the job array with
 * a shard killed and rerun, the Kubernetes pods' shard script. Each ends with the
 * leaderboard of one uninterrupted process. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/cl.h"
#include "abgpu/sweep.h"
#include "testutil.h"

#define RECIPES ABGPU_SRC_DIR "/tools/scale-out"
#define SHIM_SRC ABGPU_SRC_DIR "/../shared/tools/fakegpu/fakegpu.c"
#define MPIRUN "mpirun --allow-run-as-root --oversubscribe"

static ab_err E;

/* ---- --device gpu: by type, local rank mod the GPUs ---- */

static ab_cl_device_info dev(int index, const char *type, const char *platform) {
  ab_cl_device_info d;
  memset(&d, 0, sizeof d);
  d.index = index;
  snprintf(d.type, sizeof d.type, "%s", type);
  snprintf(d.platform, sizeof d.platform, "%s", platform);
  return d;
}

Test(gpu, pick_counts_only_gpus_and_wraps_by_local_rank) {
  ab_cl_device_info list[5] = {dev(0, "CPU", "Portable Computing Language"),
                               dev(1, "GPU", "NVIDIA CUDA"), dev(2, "ACCELERATOR", "x"),
                               dev(3, "GPU", "NVIDIA CUDA"), dev(4, "CPU", "Intel")};
  ab_cl_devices d = {2, 5, list};
  int n = -1, k = -1;
  cr_assert_eq(ab_cl_gpu_pick(&d, 0, &n, &k), 1);
  cr_assert_eq(n, 2);
  cr_assert_eq(k, 0);
  cr_assert_eq(ab_cl_gpu_pick(&d, 1, NULL, &k), 3);
  cr_assert_eq(k, 1);
  cr_assert_eq(ab_cl_gpu_pick(&d, 2, NULL, NULL), 1);
  cr_assert_eq(ab_cl_gpu_pick(&d, 7, NULL, NULL), 3);
  ab_cl_devices cpu_only = {1, 1, list};
  cr_assert_eq(ab_cl_gpu_pick(&cpu_only, 0, &n, NULL), -1, "PoCL's CPU device is not a GPU");
  cr_assert_eq(n, 0);
}

/* The LD_PRELOAD shim of ../shared/tools/fakegpu (not part of the project) built into
 * this test's folder; skips the test when it is absent. */
static const char *fake_gpu_shim(void) {
  static char so[600];
  if (!tu_exists(SHIM_SRC))
    cr_skip_test("%s is absent: --device gpu is checked only on the device list model", SHIM_SRC);
  snprintf(so, sizeof so, "%s/fakegpu.so", tu_tmpdir());
  tu_run r;
  tu_sh(&r, "cc -shared -fPIC -O2 -o %s %s -ldl", so, SHIM_SRC);
  cr_assert_eq(r.status, 0, "building the shim: %s", r.out);
  return so;
}

/* Two PoCL devices, both reported as GPUs; ASan (make test-sanitize) must not insist on
 * coming first in the preload list. */
#define FAKE_ENV "FAKE_TYPE=GPU POCL_DEVICES='pthread pthread' " \
  "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 LD_PRELOAD=%s"

Test(gpu_cli, without_a_gpu_the_flag_says_so) {
  tu_run r;
  tu_sh(&r, "%s devices", ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  if (strstr(r.out, "[gpu 0]")) cr_skip_test("this machine has an OpenCL GPU: the no-GPU error is not checked");
  cr_assert(strstr(r.out, "gpu     the GPUs of this node: none here"), "%s", r.out);
  tu_sh(&r, "%s train --data synth:500 --epochs 1 --device gpu", ABGPU_BIN);
  cr_assert_eq(r.status, 3, "a device error: %s", r.out);
  cr_assert(strstr(r.out, "--device gpu: no OpenCL GPU on this node"), "%s", r.out);
}

Test(gpu_cli, fake_gpus_are_marked_and_taken_by_local_rank, .timeout = 120) {
  const char *so = fake_gpu_shim();
  tu_run r;
  tu_sh(&r, FAKE_ENV " %s devices", so, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "[gpu 0]") && strstr(r.out, "[gpu 1]"), "%s", r.out);
  cr_assert(strstr(r.out, "local rank r takes [gpu r mod 2]"), "%s", r.out);
  tu_sh(&r, FAKE_ENV " SLURM_LOCALID=3 %s train --data synth:500 --epochs 1 --batch 20 "
        "--device gpu --verbose", so, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "local rank 3 takes GPU 2 of 2, device 1"), "%s", r.out);
  tu_sh(&r, FAKE_ENV " OMPI_COMM_WORLD_LOCAL_RANK=2 SLURM_LOCALID=1 %s train --data synth:500 "
        "--epochs 1 --batch 20 --device gpu --verbose", so, ABGPU_BIN);
  cr_assert(strstr(r.out, "local rank 2 takes GPU 1 of 2, device 0"), "OMPI's variable first: %s", r.out);
  cr_log_info("--device gpu with two fake GPUs: local ranks 3 and 2 took devices 1 and 0");
}

/* ---- the work queue's order ---- */

Test(queue, largest_launch_first_equal_ones_in_order) {
  ab_space sp;
  ab_space_init(&sp);
  const char *text = "hidden = 8 64 8,8\nlr = 0.001 0.01\nepochs = 5 50\nseed = 1 2 3\n";
  cr_assert_eq(ab_space_parse(&sp, text, strlen(text), "q.txt", &E), AB_OK, "%s", E.msg);
  ab_sweep_cfg *c;
  size_t n, nl, *order = malloc(64 * sizeof *order);
  cr_assert_eq(ab_space_expand(&c, &n, &sp, 0, 1, &E), AB_OK, "%s", E.msg);
  ab_launch *l;
  cr_assert_eq(ab_sweep_group(order, &l, &nl, c, n, 4, &E), AB_OK);
  ab_launch *before = malloc(nl * sizeof *before);
  memcpy(before, l, nl * sizeof *l);
  ab_sweep_order_largest_first(l, nl, order, c);
  double last = INFINITY;
  size_t last_first = 0;
  for (size_t i = 0; i < nl; i++) {
    ab_sweep_cfg lc[4];
    for (size_t k = 0; k < l[i].n; k++) lc[k] = c[order[l[i].first + k]];
    double cost = ab_sweep_launch_cost(lc, l[i].n);
    cr_assert_leq(cost, last, "launch %zu costs more than the one before", i);
    if (cost == last) cr_assert_gt(l[i].first, last_first, "equal costs keep their order");
    last = cost;
    last_first = l[i].first;
  }
  /* a launch of hidden 64 (834 parameters) reaching 50 epochs comes first; the same
   * launches, reordered */
  cr_assert_str_eq(c[order[l[0].first]].hidden, "64");
  cr_assert_eq(c[order[l[0].first + l[0].n - 1]].epochs, 50);
  for (size_t i = 0; i < nl; i++) {
    int found = 0;
    for (size_t j = 0; j < nl; j++) found += before[j].first == l[i].first && before[j].n == l[i].n;
    cr_assert_eq(found, 1);
  }
  free(before); free(l); free(order); free(c);
  ab_space_free(&sp);
}

/* ---- the recipes, run ---- */

/* 96 configurations of short launches on small data. Where a process is killed in the
 * middle of a launch, ABGPU_SWEEP_TEST_DELAY (DELAY96: seconds slept after each epoch) makes
 * every launch last a few tenths of a second without computing more; it changes no figure,
 * so the killed runs are compared with a process run without it. */
static const char *SPACE96 = "hidden = 16 32 16,16\nact = relu tanh\nlr = 0.001 0.003 0.01 0.03\n"
                             "epochs = 8\npatience = 8\nbatch = 20\nseed = 1 2 3 4\n";
#define DATA96 "synth:3000"
#define DELAY96 "ABGPU_SWEEP_TEST_DELAY=0.04"
#define ARGS96 "--parallel 4 --threads 1 --finalists 1"

static const char *fresh_dir(const char *name, const char *space) {
  static char d[600];
  snprintf(d, sizeof d, "%s/%s", tu_tmpdir(), name);
  tu_run r;
  tu_sh(&r, "mkdir -p %s", d);
  char p[700];
  snprintf(p, sizeof p, "%s/space.txt", d);
  cr_assert_eq(tu_write(p, space), 0);
  return d;
}

/* Row for row by configuration key, equal in everything but where and how fast it was
 * trained (launch_models, seconds, device). */
static void expect_same_by_key(const ab_leaderboard *a, const ab_leaderboard *b) {
  cr_assert_eq(a->n, b->n, "%zu rows against %zu", a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    long k = ab_lb_find(b, &a->row[i].cfg);
    char key[AB_SWEEP_KEY_LEN];
    ab_sweep_key(&a->row[i].cfg, key, sizeof key);
    cr_assert_geq(k, 0, "%s is missing", key);
    ab_lb_row x = a->row[i], y = b->row[k];
    x.launch_models = y.launch_models = 0;
    x.seconds = y.seconds = 0;
    memset(x.device, 0, sizeof x.device);
    memset(y.device, 0, sizeof y.device);
    cr_assert(memcmp(&x, &y, sizeof x) == 0, "%s differs", key);
  }
}

/* The leaderboard of one uninterrupted process, as one.csv in d. */
static void one_process(const char *d, const char *data, const char *args) {
  tu_run r;
  tu_sh(&r, "cd %s && %s sweep --data %s --space space.txt %s --leaderboard one.csv --quiet",
        d, ABGPU_BIN, data, args);
  cr_assert_eq(r.status, 0, "%s", r.out);
}

static void need_mpi(void) {
  int ci = getenv("CI") && strcmp(getenv("CI"), "true") == 0;
#ifndef ABGPU_TEST_MPI
  if (ci) cr_assert_fail("abgpu was built without MPI and CI=true: .ci/run installs OpenMPI "
                         "(tools/install-deps.sh --mpi), so the MPI tests must run");
  cr_skip_test("abgpu was built without MPI (tools/install-deps.sh --mpi, then reconfigure): "
               "the MPI recipes are not checked");
#endif
  tu_run r;
  if (tu_sh(&r, "command -v mpirun >/dev/null") != 0) {
    if (ci) cr_assert_fail("mpirun is not on PATH and CI=true (openmpi-bin)");
    cr_skip_test("mpirun is not on PATH (openmpi-bin): the MPI recipes are not checked");
  }
}

static size_t count(const char *text, const char *what) {
  size_t n = 0;
  for (const char *p = text; (p = strstr(p, what)); p += strlen(what)) n++;
  return n;
}

/* The check of issue 18: mpirun -n 3 over 96 configurations, rank 1 killed with SIGKILL
 * after its second launch; the job fails naming rank 1 and the leaderboard holds every
 * launch finished; the same command with -n 2 completes it, equal to one process. Run
 * through tools/scale-out/sweep-mpi.sbatch, which passes --resume every time. */
Test(mpi, a_killed_rank_loses_only_launches_in_progress_and_resume_completes, .timeout = 300) {
  need_mpi();
  const char *d = fresh_dir("mpikill", SPACE96);
  one_process(d, DATA96, ARGS96);
  static tu_run r;
  tu_sh(&r, "cd %s && export " DELAY96 " DATA=%s SPACE=space.txt OUT=out ABGPU=%s DEVICE=cpu "
        "SWEEP_ARGS='" ARGS96 " --verbose' && : > k.log && "
        "(MPIRUN='" MPIRUN " -n 3' bash %s/sweep-mpi.sbatch > k.log 2>&1 & job=$!; i=0; "
        "while [ \"$(grep -c 'on rank 1:' k.log)\" -lt 2 ] && [ $i -lt 6000 ]; do sleep 0.01; i=$((i+1)); done; "
        "kill -9 $(sed -n 's/.*rank 1 of 3 (.*pid \\([0-9]*\\)).*/\\1/p' k.log); wait $job; "
        "echo \"exit=$?\"; cat k.log)", d, DATA96, ABGPU_BIN, RECIPES);
  cr_assert(!strstr(r.out, "exit=0"), "the job must fail: %s", r.out);
  cr_assert_geq(count(r.out, "on rank 1:"), 2, "%s", r.out);
  cr_assert(strstr(r.out, "rank 1 (launch") && strstr(r.out, "rank lost"), "%s", r.out);
  cr_assert(strstr(r.out, "process rank 1") && strstr(r.out, "signal 9"), "mpirun names it: %s", r.out);
  ab_leaderboard part, done, one;
  tu_load_lb(&part, d, "out/sweep.csv");
  size_t reported = 4 * count(r.out, "/24 on rank");
  cr_assert_geq(part.n, reported, "launches reported finished are missing: %zu rows, %zu reported",
                part.n, reported);
  cr_assert_lt(part.n, 96, "rank 1's launch in progress cannot be there");
  cr_log_info("rank 1 killed after its second launch: %zu of 96 configurations kept", part.n);
  tu_sh(&r, "cd %s && DATA=%s SPACE=space.txt OUT=out ABGPU=%s DEVICE=cpu SWEEP_ARGS='" ARGS96 "' "
        "MPIRUN='" MPIRUN " -n 2' bash %s/sweep-mpi.sbatch", d, DATA96, ABGPU_BIN, RECIPES);
  cr_assert_eq(r.status, 0, "%s", r.out);
  char want[96];
  snprintf(want, sizeof want, "96 configurations, %zu to train here (%zu already in", 96 - part.n, part.n);
  cr_assert(strstr(r.out, want), "only what is missing is trained: %s", r.out);
  cr_assert(strstr(r.out, "measured once on the test split"), "%s", r.out);
  tu_load_lb(&done, d, "out/sweep.csv");
  tu_load_lb(&one, d, "one.csv");
  expect_same_by_key(&one, &done);
  ab_lb_free(&part);
  ab_lb_free(&done);
  ab_lb_free(&one);
}

/* One rank keeps the single process's order of launches. */
Test(mpi, one_rank_trains_in_the_single_process_order, .timeout = 120) {
  need_mpi();
  const char *d = fresh_dir("mpione", SPACE96);
  static tu_run a, b;
  tu_sh(&a, "cd %s && %s sweep --data synth:3000 --space space.txt " ARGS96 " --leaderboard a.csv "
        "2>&1 | sed -n 's/ in [0-9.]* s;/;/p'", d, ABGPU_BIN);
  tu_sh(&b, "cd %s && " MPIRUN " -n 1 %s sweep --data synth:3000 --space space.txt " ARGS96
        " --leaderboard b.csv 2>&1 | sed -n 's/ in [0-9.]* s;/;/p'", d, ABGPU_BIN);
  cr_assert_eq(count(a.out, "/24: "), 24, "%s", a.out);
  cr_assert_str_eq(a.out, b.out);
}

/* The job-array recipe as a loop over the shards, one of them killed and rerun, then the
 * merge job: the same leaderboard as one process. No MPI. */
Test(scaleout, job_array_with_a_killed_shard_rerun_merges_to_one_process, .timeout = 300) {
  const char *d = fresh_dir("array", SPACE96);
  one_process(d, DATA96, ARGS96);
  static tu_run r;
  tu_sh(&r, "cd %s && export DATA=%s SPACE=space.txt OUT=out ABGPU=%s DEVICE=cpu SHARDS=4 "
        "SWEEP_ARGS='" ARGS96 "' && for i in 1 2 3 4; do "
        "  if [ $i = 3 ]; then "
        "    (SLURM_ARRAY_TASK_ID=3 bash %s/sweep-array.sbatch & job=$!; n=0; "
        "     while [ \"$(cat out/shard-3.csv 2>/dev/null | wc -l)\" -lt 2 ] && [ $n -lt 6000 ]; do sleep 0.01; n=$((n+1)); done; "
        "     kill -9 $(pgrep -P $job); wait $job; echo \"killed shard 3: exit $?\"); "
        "    echo \"shard 3 kept $(($(wc -l < out/shard-3.csv) - 1)) rows\"; "
        "  fi; SLURM_ARRAY_TASK_ID=$i bash %s/sweep-array.sbatch || exit 1; "
        "done && bash %s/sweep-merge.sbatch", d, DATA96, ABGPU_BIN, RECIPES, RECIPES, RECIPES);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "killed shard 3: exit 137"), "%s", r.out);
  int kept = -1;
  const char *k = strstr(r.out, "shard 3 kept ");
  cr_assert(k && sscanf(k, "shard 3 kept %d rows", &kept) == 1 && kept >= 1 && kept < 24, "%s", r.out);
  cr_assert(strstr(r.out, "96 configurations, 0 to train here (96 already in out/merged.csv)"), "%s", r.out);
  cr_assert(strstr(r.out, "measured once on the test split"), "%s", r.out);
  cr_log_info("shard 3 of 4 killed with %d of its 24 configurations written, then rerun", kept);
  ab_leaderboard merged, one;
  tu_load_lb(&merged, d, "out/merged.csv");
  tu_load_lb(&one, d, "one.csv");
  expect_same_by_key(&one, &merged);
  ab_lb_free(&merged);
  ab_lb_free(&one);
}

/* The text between "# NAME script: begin" and "# NAME script: end" in a manifest, its
 * indentation removed, into path. */
static void script_from(const char *manifest, const char *name, const char *path) {
  tu_run r;
  tu_sh(&r, "sed -n '/# %s script: begin/,/# %s script: end/p' %s/%s | sed 's/^ *//' > %s && "
        "test $(wc -l < %s) -ge 4", name, name, RECIPES, manifest, path, path);
  cr_assert_eq(r.status, 0, "no %s script in %s: %s", name, manifest, r.out);
}

/* The Kubernetes pods' scripts, as an Indexed Job runs them (JOB_COMPLETION_INDEX 0..3),
 * then the merge Job's. */
Test(scaleout, kubernetes_indexed_job_scripts_give_one_process, .timeout = 300) {
  const char *d = fresh_dir("k8s", "hidden = 8 16,16\nact = relu tanh\nlr = 0.003 0.01\n"
                            "epochs = 4\npatience = 1\nbatch = 50\nseed = 1 2\n");
  one_process(d, "synth:3000", "--finalists 1");
  char shard[700], merge[700];
  snprintf(shard, sizeof shard, "%s/shard.sh", d);
  snprintf(merge, sizeof merge, "%s/merge.sh", d);
  script_from("k8s-sweep.yaml", "shard", shard);
  script_from("k8s-merge.yaml", "merge", merge);
  static tu_run r;
  tu_sh(&r, "cd %s && mkdir -p bin && ln -sf %s bin/abgpu && export PATH=$PWD/bin:$PATH "
        "SHARDS=4 DATA=synth:3000 SPACE=space.txt RESULTS=res SWEEP_ARGS='--finalists 1' "
        "DEVICE=cpu && mkdir -p res && for k in 0 1 2 3; do JOB_COMPLETION_INDEX=$k sh %s || "
        "exit 1; done && sh %s", d, ABGPU_BIN, shard, merge);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "merged 4 leaderboards"), "%s", r.out);
  tu_sh(&r, "python3 -c 'import yaml' 2>/dev/null || { echo no-yaml; exit 0; }; cd %s && "
        "python3 -c 'import yaml; print([d[\"kind\"] for f in (\"k8s-volume.yaml\", "
        "\"k8s-sweep.yaml\", \"k8s-merge.yaml\") for d in yaml.safe_load_all(open(f))])'",
        RECIPES);
  if (strstr(r.out, "no-yaml")) cr_log_warn("python3-yaml is absent: the manifests are not parsed");
  else cr_assert(strstr(r.out, "['PersistentVolumeClaim', 'Job', 'Job']"), "%s", r.out);
  ab_leaderboard merged, one;
  tu_load_lb(&merged, d, "res/merged.csv");
  tu_load_lb(&one, d, "one.csv");
  expect_same_by_key(&one, &merged);
  ab_lb_free(&merged);
  ab_lb_free(&one);
}
