/* Building the OpenCL program: a kernel that does not compile comes back as an error
 * carrying the compiler's log. (The kernels themselves: test_op_OP.c, one file per op.) */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testop.h"

/* A kernel build failure must come back as an error carrying the build log. */
Test(cl_build, failure_reports_log) {
  ab_cl_ctx *c = to_cl_open(0);
  ab_cl_ctx_free(c);
  char dir[] = "/tmp/abgpu-kdir-XXXXXX";
  cr_assert(mkdtemp(dir));
  char path[256], cmd[600];
  snprintf(cmd, sizeof cmd, "cp %s/kernels/*.cl %s/", ABGPU_SRC_DIR, dir);
  cr_assert_eq(system(cmd), 0);
  snprintf(path, sizeof path, "%s/eval.cl", dir);
  FILE *f = fopen(path, "a");
  cr_assert(f);
  fputs("\n__kernel void ab_broken(__global float *x) { x[0] = undeclared_name; }\n", f);
  fclose(f);
  setenv("ABGPU_KERNEL_DIR", dir, 1);
  ab_err e;
  int rc = ab_cl_ctx_open(&c, 0, NULL, &e);
  unsetenv("ABGPU_KERNEL_DIR");
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_expect_eq(system(cmd), 0);
  cr_assert_eq(rc, AB_EDEVICE, "a broken kernel must fail the build (rc %d)", rc);
  cr_assert(strstr(e.msg, "CL_BUILD_PROGRAM_FAILURE"), "message: %s", e.msg);
  cr_assert(strstr(e.msg, "undeclared_name"), "the log must name the error: %s", e.msg);
}
