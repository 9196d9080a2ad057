/* The op eval (loss sums and correct counts of K models over B rows; ref.h): the
 * reference by hand and the OpenCL kernel (kernels/eval.cl) against it, margins from
 * tolerance.h, sentinel and canary as in test_op_linear_act_fwd.c. */
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

/* ---- the reference ---- */

Test(eval, ref_counts_and_losses) {
  float z[6] = {1, 0, 0, 3, 2, 2};
  int32_t lab[3] = {0, 0, 1};
  double loss = 0;
  int64_t correct = 0;
  ab_ref_eval(&loss, &correct, z, lab, 1, 3, 2);
  cr_assert_eq(correct, 1); /* row 3 is a tie: argmax takes the first class */
  double want = log(1 + exp(-1.0)) + log(1 + exp(3.0)) + log(2.0);
  cr_assert_float_eq(loss, want, 1e-5);
}

/* ---- OpenCL ---- */

static void cl_eval_case(ab_cl_ctx *c, to_stats *st, int K, int B, int C) {
  const int loff = 3, nslots = 3, slot = 1;
  size_t nz = (size_t)K * B * C, ns = (size_t)K * nslots;
  float *Z = tu_rand_buf(&rng, nz, -3, 3);
  int32_t *lab = malloc((loff + (size_t)B) * sizeof(int32_t));
  for (int i = 0; i < loff + B; i++) lab[i] = (int32_t)ab_rng_below(&rng, C);
  double ls[3] = {0, 0, 0};
  int64_t cc[3] = {0, 0, 0};
  ab_ref_eval(ls, cc, Z, lab + loff, K, B, C);
  float *wl = to_out_buf(ns, 0), *wc = to_out_buf(ns, 1);
  double *tl = malloc(ns * sizeof(double));
  for (size_t i = 0; i < ns; i++) tl[i] = 0;
  for (int k = 0; k < K; k++) {
    wl[k * nslots + slot] = (float)ls[k];
    ((int32_t *)wc)[k * nslots + slot] = (int32_t)cc[k];
    tl[k * nslots + slot] = AB_TOL_EVAL(B, ls[k]);
  }
  cl_mem Pl = to_cl_out(c, ns, 0), Pc = to_cl_out(c, ns, 1);
  ab_err e;
  cr_assert_eq(ab_cl_eval(c, Pl, Pc, slot, nslots, to_cl_in(c, Z, nz * 4),
                          to_cl_in(c, lab, (loff + (size_t)B) * 4), loff, K, B, C, &e), 0, "%s",
               e.msg);
  char shape[64];
  snprintf(shape, sizeof shape, "K=%d B=%d C=%d", K, B, C);
  float *gl = to_cl_get(c, Pl, ns), *gc = to_cl_get(c, Pc, ns);
  to_expect_close(st, "loss sum", shape, gl, wl, tl, ns, 0);
  to_expect_close(st, "correct count", shape, gc, wc, NULL, ns, 1);
  st->cases++;
  free(Z); free(lab); free(wl); free(wc); free(tl); free(gl); free(gc);
  to_cl_release_all();
}

Test(eval, opencl) {
  ab_cl_ctx *c = to_cl_open(0);
  to_stats st = {"ab_eval", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 18, 1);
  static const int CS[] = {2, 3, 10};
  for (int ri = 0; ri < TO_NROWS; ri++)
    for (int ci = 0; ci < 3; ci++)
      for (int ki = 0; ki < 2; ki++) cl_eval_case(c, &st, TO_KS[ki], TO_ROWS[ri], CS[ci]);
  cl_eval_case(c, &st, 3, 4099, 2); /* more rows than any work-group */
  to_stats_print("cl", &st);
  ab_cl_ctx_free(c);
}
