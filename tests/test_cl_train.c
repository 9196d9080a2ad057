/* The OpenCL backend against the reference backend: training parity through ab_train
 * (5 epochs, 2,000 rows, both GEMM paths), every vtable operation with K = 3 models,
 * and the CLI's device listing and selection, all on the per-op path (the fused paths
 * are tested in test_cl_fused.c). Margins from tolerance.h. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/cl.h"
#include "abgpu/prep.h"
#include "abgpu/rng.h"
#include "abgpu/train.h"
#include "testutil.h"
#include "tolerance.h"

#define NROWS 2000

static ab_backend *open_cl(int dev, ab_cl_gemm gemm, ab_cl_split split, const ab_splits *s) {
  ab_backend *be;
  ab_err e;
  ab_cl_fused_opts per_op = {AB_CL_FUSED_OFF, 0, 0, 0}; /* the fused paths: test_cl_fused.c */
  ab_cl_opts o = {gemm, 0, 0, NULL, NULL, per_op, split};
  cr_assert_eq(ab_backend_cl_create(&be, dev, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_load_data(be, s, &e), 0, "%s", e.msg);
  return be;
}

/* The learnable splits in *s and a device backend holding them (or the test skips). */
static ab_backend *open_on_splits(ab_splits *s, ab_cl_gemm gemm, ab_cl_split split) {
  int dev = tu_cl_device_or_skip("OpenCL training tests");
  tu_learnable_splits(s, NROWS);
  return open_cl(dev, gemm, split, s);
}

/* parity with CLBlast's GEMM, where this build has CLBlast and it runs on the device. */
static void on_clblast(void (*parity)(ab_cl_gemm, ab_cl_split)) {
  if (!ab_cl_have_clblast()) cr_skip_test("this build has no CLBlast");
  if (tu_clblast_runs(tu_cl_device_or_skip("OpenCL training tests")))
    parity(AB_CL_GEMM_CLBLAST, AB_CL_SPLIT_AUTO);
}

/* ab_train on the device and on the reference: same seed, 5 epochs, no early stop. */
static void train_parity(ab_cl_gemm gemm, ab_cl_split split) {
  ab_splits s;
  ab_backend *bd = open_on_splits(&s, gemm, split), *br = tu_open_ref(&s);
  tu_train_parity("cl_train", bd->name, bd, br, &s);
  ab_backend_free(bd);
  ab_backend_free(br);
  ab_splits_free(&s);
}

Test(cl_train, parity_own_kernels) { train_parity(AB_CL_GEMM_OWN, AB_CL_SPLIT_AUTO); }
/* The split per-op kernels (the GPU form) on any device: tiles, two-stage dW/db and
 * batch-loss sums, so within the training bound rather than bit for bit. */
Test(cl_train, parity_split_kernels) { train_parity(AB_CL_GEMM_OWN, AB_CL_SPLIT_ON); }

Test(cl_train, parity_clblast) { on_clblast(train_parity); }

/* ---- every vtable operation, K = 3 models with their own hyperparameters ---- */

enum { KM = TU_PAIR_K, BATCH = 50 };

static void vtable_parity(ab_cl_gemm gemm, ab_cl_split split) {
  ab_splits s;
  tu_pair p;
  ab_backend *bd = open_on_splits(&s, gemm, split);
  tu_pair_init(&p, bd->name, bd, &s, "20,7", "tanh,sigmoid", BATCH);
  tu_pair_vtable_parity(&p, &s);
  tu_pair_free(&p);
  ab_splits_free(&s);
}

Test(cl_train, vtable_k3_own_kernels) { vtable_parity(AB_CL_GEMM_OWN, AB_CL_SPLIT_AUTO); }
Test(cl_train, vtable_k3_split_kernels) { vtable_parity(AB_CL_GEMM_OWN, AB_CL_SPLIT_ON); }

Test(cl_train, vtable_k3_clblast) { on_clblast(vtable_parity); }

/* ---- CLI ---- */

Test(cl_train, cli_devices_lists_a_device) {
  tu_cl_device_or_skip("OpenCL training tests");
  tu_run r;
  tu_sh(&r, "%s devices", ABGPU_BIN);
  cr_assert_eq(r.status, 0, "abgpu devices exited %d:\n%s", r.status, r.out);
  cr_expect(strstr(r.out, "\ncpu "), "the cpu backend must be listed:\n%s", r.out);
  cr_expect(strstr(r.out, "\n0 "), "device 0 must be listed:\n%s", r.out);
}

Test(cl_train, cli_missing_device_exits_2_with_list) {
  tu_cl_device_or_skip("OpenCL training tests");
  tu_run r;
  tu_sh(&r, "%s train --data synth:300 --device 99 --epochs 1", ABGPU_BIN);
  cr_assert_eq(r.status, 2, "--device 99 must exit 2, got %d:\n%s", r.status, r.out);
  cr_expect(strstr(r.out, "no such OpenCL device"), "the error must say why:\n%s", r.out);
  cr_expect(strstr(r.out, "\ncpu "), "the device list must be printed:\n%s", r.out);
  cr_expect(strstr(r.out, "\n0 "), "the device list must show device 0:\n%s", r.out);
}

Test(cl_train, cli_no_platform_says_so) {
  char empty[600];
  snprintf(empty, sizeof empty, "%s/no-icd", tu_tmpdir());
  tu_run r;
  tu_sh(&r, "mkdir -p %s && OCL_ICD_VENDORS=%s %s devices", empty, empty, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "abgpu devices without a platform must exit 0:\n%s", r.out);
  cr_expect(strstr(r.out, "no OpenCL platform found; use --device cpu"), "%s", r.out);
  cr_expect(strstr(r.out, "\ncpu "), "cpu must still be listed:\n%s", r.out);
  tu_sh(&r, "OCL_ICD_VENDORS=%s %s train --data synth:300 --device 0 --epochs 1", empty,
        ABGPU_BIN);
  cr_expect_eq(r.status, 3, "--device 0 without a platform must exit 3 (device error):\n%s", r.out);
  cr_expect(strstr(r.out, "--device cpu"), "the error must suggest --device cpu:\n%s", r.out);
}
