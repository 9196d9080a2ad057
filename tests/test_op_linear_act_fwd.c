/* The op linear_act_fwd (Y = act(X W + b), ref.h): the reference by hand, the fast CPU
 * kernels on every instruction set this CPU runs, and the OpenCL kernels
 * (kernels/linear_act_fwd.cl) against the reference on awkward sizes (rows 1, 7, 93,
 * 100, 257; widths 1, 3, 10, 100, 129; K = 1 and 3; every activation), seeded random
 * inputs, margins from tolerance.h and tolerance_cpu.h. Every output is pre-filled with
 * a sentinel and followed by a canary: what the op must not write stays untouched, what
 * it must write is written. */
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

Test(linear_act_fwd, ref_by_hand) {
  /* X = [1 2; 3 4], W = [1 -1 0; 2 0.5 -3], b = [0.5 0 1] */
  float X[4] = {1, 2, 3, 4}, W[6] = {1, -1, 0, 2, 0.5f, -3}, b[3] = {0.5f, 0, 1}, Y[6];
  ab_ref_linear_act_fwd(Y, X, W, b, AB_ACT_IDENTITY, 1, 2, 2, 3, 0);
  float want[6] = {5.5f, 0, -5, 11.5f, -1, -11};
  for (int i = 0; i < 6; i++) cr_assert_float_eq(Y[i], want[i], 1e-6, "Y[%d]=%g", i, Y[i]);
  ab_ref_linear_act_fwd(Y, X, W, b, AB_ACT_RELU, 1, 2, 2, 3, 0);
  cr_assert_eq(Y[1], 0.0f);
  cr_assert_eq(Y[2], 0.0f);
  cr_assert_float_eq(Y[3], 11.5f, 1e-6);
  ab_ref_linear_act_fwd(Y, X, W, b, AB_ACT_SIGMOID, 1, 2, 2, 3, 0);
  cr_assert_float_eq(Y[1], 0.5f, 1e-7);
  cr_assert_float_eq(Y[0], 1.0f / (1.0f + expf(-5.5f)), 1e-7);
  ab_ref_linear_act_fwd(Y, X, W, b, AB_ACT_TANH, 1, 2, 2, 3, 0);
  cr_assert_float_eq(Y[4], tanhf(-1.0f), 1e-7);
}

Test(linear_act_fwd, ref_model_dimension_uses_each_models_weights) {
  /* two models with pstride 4: W = [w], b = [b] for a 1->1 layer, padded */
  float X[2] = {2, 2}, P[8] = {3, 1, 0, 0, -1, 5, 0, 0}, Y[2];
  ab_ref_linear_act_fwd(Y, X, P, P + 1, AB_ACT_IDENTITY, 2, 1, 1, 1, 4);
  cr_assert_float_eq(Y[0], 7.0f, 1e-7);
  cr_assert_float_eq(Y[1], 3.0f, 1e-7);
}

/* ---- the fast CPU path ---- */

static void cpu_fwd_case(ab_cpu_isa isa, to_stats *st, int K, int B, int IN, int OUT, ab_act act) {
  layout L = layout_of(IN, OUT);
  size_t nx = (size_t)K * B * IN, ny = (size_t)K * B * OUT, np = (size_t)K * L.pstride;
  float *P = tu_rand_buf(&rng, np, -0.7f, 0.7f), *X = tu_rand_buf(&rng, nx, -2, 2);
  float *want = to_out_buf(ny, 0), *got = to_out_buf(ny, 0), *S = malloc(ny * sizeof(float));
  float *aX = tu_abs_copy(X, nx), *aP = tu_abs_copy(P, np);
  ab_ref_linear_act_fwd(want, X, P + L.woff, P + L.boff, act, K, B, IN, OUT, L.pstride);
  ab_ref_linear_act_fwd(S, aX, aP + L.woff, aP + L.boff, AB_ACT_IDENTITY, K, B, IN, OUT,
                        L.pstride);
  double *tol = malloc(ny * sizeof(double));
  for (size_t i = 0; i < ny; i++) tol[i] = AB_TOL_ACT(IN, S[i], want[i]);
  ab_cpu_linear_act_fwd(isa, got, X, P + L.woff, P + L.boff, act, K, B, IN, OUT, L.pstride);
  char shape[128];
  snprintf(shape, sizeof shape, "%s K=%d B=%d IN=%d OUT=%d act=%s", ab_cpu_isa_name(isa), K,
           B, IN, OUT, ab_act_name(act));
  to_expect_close(st, "Y", shape, got, want, to_tol_or_null(isa, tol), ny, 0);
  st->cases++;
  free(P); free(X); free(want); free(got); free(S); free(aX); free(aP); free(tol);
}

Test(linear_act_fwd, cpu) {
  ab_cpu_isa is[3];
  int ni = to_isas(is);
  for (int q = 0; q < ni; q++) {
    char name[64];
    to_stats st = {.name = to_label(name, sizeof name, "linear_act_fwd", is[q])};
    ab_rng_seed(&rng, 21, 1);
    for (int ri = 0; ri < TO_NROWS; ri++)
      for (int ii = 0; ii < TO_CPU_NWIDTHS; ii++)
        for (int oi = 0; oi < TO_CPU_NWIDTHS; oi++)
          for (int ki = 0; ki < 2; ki++)
            for (int a = 0; a < 4; a++)
              cpu_fwd_case(is[q], &st, TO_KS[ki], TO_ROWS[ri], TO_CPU_WIDTHS[ii],
                           TO_CPU_WIDTHS[oi], (ab_act)a);
    to_stats_print("cpu", &st);
  }
}

/* ---- OpenCL ---- */

/* One forward case; gather != 0 feeds the rows through an index into a data table. */
static void cl_fwd_case(ab_cl_ctx *c, to_stats *st, int K, int B, int IN, int OUT, ab_act act,
                     int gather) {
  layout L = layout_of(IN, OUT);
  const int N = 311, off = 2;
  size_t nx = (size_t)K * B * IN, ny = (size_t)K * B * OUT, np = (size_t)K * L.pstride;
  float *P = tu_rand_buf(&rng, np, -0.7f, 0.7f), *data = tu_rand_buf(&rng, (size_t)N * IN, -2, 2);
  int32_t *idx = malloc((off + (size_t)K * B) * sizeof(int32_t));
  for (size_t i = 0; i < off + (size_t)K * B; i++) idx[i] = (int32_t)ab_rng_below(&rng, N);
  float *X = malloc(nx * sizeof(float));
  ab_ref_gather(X, NULL, data, NULL, idx + off, K, B, IN); /* plain mode uses X as is */
  float *want = to_out_buf(ny, 0), *S = malloc(ny * sizeof(float));
  float *aX = tu_abs_copy(X, nx), *aP = tu_abs_copy(P, np);
  ab_ref_linear_act_fwd(want, X, P + L.woff, P + L.boff, act, K, B, IN, OUT, L.pstride);
  ab_ref_linear_act_fwd(S, aX, aP + L.woff, aP + L.boff, AB_ACT_IDENTITY, K, B, IN, OUT,
                        L.pstride);
  double *tol = malloc(ny * sizeof(double));
  for (size_t i = 0; i < ny; i++) tol[i] = AB_TOL_ACT(IN, S[i], want[i]);
  cl_mem Y = to_cl_out(c, ny, 0);
  ab_cl_rows rows = {to_cl_in(c, X, nx * 4), NULL, 0, 0};
  if (gather) {
    rows.x = to_cl_in(c, data, (size_t)N * IN * 4);
    rows.idx = to_cl_in(c, idx, (off + (size_t)K * B) * 4);
    rows.off = off;
    rows.kstride = B;
  }
  ab_err e;
  cr_assert_eq(ab_cl_linear_act_fwd(c, Y, rows, to_cl_in(c, P, np * 4), L.woff, L.boff, act, K,
                                    B, IN, OUT, L.pstride, &e), 0, "%s", e.msg);
  char shape[128];
  snprintf(shape, sizeof shape, "K=%d B=%d IN=%d OUT=%d act=%s%s", K, B, IN, OUT,
           ab_act_name(act), gather ? " (gathered rows)" : "");
  float *got = to_cl_get(c, Y, ny);
  to_expect_close(st, "Y", shape, got, want, tol, ny, 0);
  st->cases++;
  free(P); free(data); free(idx); free(X); free(want); free(S); free(aX); free(aP);
  free(tol); free(got);
  to_cl_release_all();
}

static void cl_fwd_all(int vec, int split) {
  ab_cl_ctx *c = to_cl_open(vec);
  c->split = split;
  to_stats st = {"ab_linear_act_fwd", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 12, 1);
  for (int ri = 0; ri < TO_NROWS; ri++)
    for (int ii = 0; ii < TO_NWIDTHS; ii++)
      for (int oi = 0; oi < TO_NWIDTHS; oi++)
        for (int ki = 0; ki < 2; ki++) {
          int n = ri + ii + oi + ki; /* rotates the activation and the input mode */
          cl_fwd_case(c, &st, TO_KS[ki], TO_ROWS[ri], TO_WIDTHS[ii], TO_WIDTHS[oi], (ab_act)(n % 4),
                   (n / 4) % 2);
        }
  to_stats_print("cl", &st);
  ab_cl_ctx_free(c);
}

Test(linear_act_fwd, opencl) { cl_fwd_all(0, 0); }
Test(linear_act_fwd, opencl_vec1) { cl_fwd_all(1, 0); }
/* ab_linear_act_fwd_tiled, the split form GPUs run */
Test(linear_act_fwd, opencl_split) { cl_fwd_all(1, 1); }

Test(linear_act_fwd, opencl_bias_after_clblast) {
  ab_cl_ctx *c = to_cl_open(0);
  to_stats st = {"ab_bias_act", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 13, 1);
  for (int ri = 0; ri < TO_NROWS; ri++)
    for (int oi = 0; oi < TO_NWIDTHS; oi++)
      for (int ki = 0; ki < 2; ki++)
        for (int a = 0; a < 4; a++) {
          int K = TO_KS[ki], B = TO_ROWS[ri], OUT = TO_WIDTHS[oi];
          layout L = layout_of(4, OUT);
          size_t ny = (size_t)K * B * OUT, np = (size_t)K * L.pstride;
          if (ny > ((size_t)1 << 24)) abort(); /* bounds ny for GCC's allocation-size check */
          float *Y = tu_rand_buf(&rng, ny, -4, 4), *P = tu_rand_buf(&rng, np, -1, 1), *want = to_out_buf(ny, 0);
          double *tol = malloc(ny * sizeof(double));
          for (size_t o = 0; o < ny; o++) {
            size_t k = o / ((size_t)B * OUT), j = o % OUT;
            want[o] = ab_act_apply((ab_act)a, Y[o] + P[k * L.pstride + L.boff + j]);
            tol[o] = AB_TOL_FN(want[o]) + AB_TOL_FN_ABS(1e-6);
          }
          float *Yc = to_out_buf(ny, 0);
          memcpy(Yc, Y, ny * sizeof(float));
          cl_mem dY = to_cl_in(c, Yc, (ny + TO_CANARY) * 4);
          ab_err e;
          cr_assert_eq(ab_cl_linear_act_fwd_bias(c, dY, to_cl_in(c, P, np * 4), L.boff, a, K, B, OUT,
                                      L.pstride, &e), 0, "%s", e.msg);
          char shape[96];
          snprintf(shape, sizeof shape, "K=%d B=%d OUT=%d act=%s", K, B, OUT,
                   ab_act_name((ab_act)a));
          float *got = to_cl_get(c, dY, ny);
          to_expect_close(&st, "Y", shape, got, want, tol, ny, 0);
          st.cases++;
          free(Y); free(P); free(want); free(tol); free(Yc); free(got);
          to_cl_release_all();
        }
  to_stats_print("cl", &st);
  ab_cl_ctx_free(c);
}
