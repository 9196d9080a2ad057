/* The op prob1 (softmax probability of class 1; ref.h): the OpenCL kernel
 * (kernels/prob1.cl) against the reference, margins from tolerance.h, sentinel and canary
 * as in test_op_linear_act_fwd.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/ref.h"
#include "abgpu/rng.h"
#include "testbuf.h"
#include "testop.h"
#include "testutil.h"
#include "tolerance_cpu.h"

static ab_rng rng;

Test(prob1, opencl) {
  ab_cl_ctx *c = to_cl_open(0);
  to_stats st = {"ab_prob1", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 19, 1);
  for (int ri = 0; ri < TO_NROWS; ri++)
    for (int ki = 0; ki < 2; ki++) {
      int K = TO_KS[ki], B = TO_ROWS[ri], poff = 2, pks = B + 5;
      size_t nz = (size_t)K * B * 2, np = (size_t)(K * pks);
      float *Z = tu_rand_buf(&rng, nz, -6, 6), *pr = malloc((size_t)K * B * sizeof(float));
      ab_ref_prob1(pr, Z, K, B);
      float *want = to_out_buf(np, 0);
      double *tol = malloc((np + TO_CANARY) * sizeof(double));
      for (size_t i = 0; i < np; i++) tol[i] = 0;
      for (int k = 0; k < K; k++)
        for (int i = 0; i < B; i++) {
          size_t o = (size_t)k * pks + poff + i;
          want[o] = pr[(size_t)k * B + i];
          tol[o] = AB_TOL_FN(want[o]) + 1e-30;
        }
      cl_mem P = to_cl_out(c, np, 0);
      ab_err e;
      cr_assert_eq(ab_cl_prob1(c, P, poff, pks, to_cl_in(c, Z, nz * 4), K, B, &e), 0, "%s", e.msg);
      char shape[64];
      snprintf(shape, sizeof shape, "K=%d B=%d", K, B);
      float *got = to_cl_get(c, P, np);
      to_expect_close(&st, "prob", shape, got, want, tol, np, 0);
      st.cases++;
      free(Z); free(pr); free(want); free(tol); free(got);
      to_cl_release_all();
    }
  to_stats_print("cl", &st);
  ab_cl_ctx_free(c);
}
