/* The op softmax_xent (loss and dlogits = (softmax - onehot) / B, ref.h) and the one
 * log-sum-exp row every softmax uses (ab_ref_lse_row, common.cl's ab_lse_row_*): the
 * reference by hand, the fast CPU path (bit for bit), and the OpenCL kernel
 * (kernels/softmax_xent.cl) against the reference on awkward sizes, margins from
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

Test(softmax_xent, ref_by_hand) {
  float z[4] = {0, 0, 2, 0}, loss[2], d[4];
  int32_t lab[2] = {1, 0};
  ab_ref_softmax_xent(loss, d, z, lab, 1, 2, 2);
  cr_assert_float_eq(loss[0], logf(2.0f), 1e-6);
  cr_assert_float_eq(loss[1], logf(1.0f + expf(-2.0f)), 1e-6);
  /* dlogits = (softmax - onehot) / B */
  cr_assert_float_eq(d[0], 0.25f, 1e-7);
  cr_assert_float_eq(d[1], -0.25f, 1e-7);
  float p0 = 1.0f / (1.0f + expf(-2.0f));
  cr_assert_float_eq(d[2], (p0 - 1.0f) / 2, 1e-7);
  cr_assert_float_eq(d[3], (1.0f - p0) / 2, 1e-7);
  /* large logits do not overflow */
  float big[2] = {1000, -1000};
  int32_t l1 = 1;
  ab_ref_softmax_xent(loss, d, big, &l1, 1, 1, 2);
  cr_assert_float_eq(loss[0], 2000.0f, 1e-3);
}

Test(softmax_xent, ref_lse_row_by_hand) {
  /* the one log-sum-exp row: log(e^1 + e^3 + e^3) = 3 + log(2 + e^-2); first max wins */
  float z[3] = {1, 3, 3}, e[3], sum;
  int best = -1;
  float lse = ab_ref_lse_row(z, 3, e, &sum, &best);
  cr_assert_float_eq(lse, 3.0f + logf(2.0f + expf(-2.0f)), 1e-6, "lse %g", lse);
  cr_assert_eq(best, 1);
  cr_assert_float_eq(e[0], expf(-2.0f), 1e-7);
  cr_assert_eq(e[1], 1.0f);
  cr_assert_eq(e[2], 1.0f);
  cr_assert_float_eq(sum, 2.0f + expf(-2.0f), 1e-6);
  /* no exponentials asked for, no argmax asked for: the same value */
  cr_assert_eq(ab_ref_lse_row(z, 3, NULL, &sum, NULL), lse);
  /* one class: log(1) + z */
  cr_assert_eq(ab_ref_lse_row(z + 1, 1, NULL, &sum, &best), 3.0f);
  cr_assert_eq(best, 0);
}

/* ---- the fast CPU path ---- */

Test(softmax_xent, cpu_is_bit_identical) {
  static const int CS[] = {1, 2, 3, 10};
  to_stats st = {.name = "softmax_xent"};
  ab_rng_seed(&rng, 24, 1);
  for (int ri = 0; ri < TO_NROWS; ri++)
    for (int ci = 0; ci < 4; ci++)
      for (int ki = 0; ki < 2; ki++) {
        int K = TO_KS[ki], B = TO_ROWS[ri], C = CS[ci];
        size_t nl = (size_t)K * B, nz = nl * C;
        float *Z = tu_rand_buf(&rng, nz, -30, 30);
        int32_t *lab = malloc(nl * sizeof(int32_t));
        for (size_t i = 0; i < nl; i++) lab[i] = (int32_t)ab_rng_below(&rng, C);
        float *wl = to_out_buf(nl, 0), *wd = to_out_buf(nz, 0), *gl = to_out_buf(nl, 0), *gd = to_out_buf(nz, 0);
        ab_ref_softmax_xent(wl, wd, Z, lab, K, B, C);
        ab_cpu_softmax_xent(gl, gd, Z, lab, K, B, C);
        char shape[64];
        snprintf(shape, sizeof shape, "K=%d B=%d C=%d", K, B, C);
        to_expect_close(&st, "loss", shape, gl, wl, NULL, nl, 0);
        to_expect_close(&st, "dlogits", shape, gd, wd, NULL, nz, 0);
        st.cases++;
        free(Z); free(lab); free(wl); free(wd); free(gl); free(gd);
      }
  to_stats_print("cpu", &st);
}

/* ---- OpenCL ---- */

static void cl_xent_case(ab_cl_ctx *c, to_stats *st, int K, int B, int C) {
  const int off = 4, bstride = 3, bslot = 1;
  size_t nl = (size_t)K * B, nz = nl * C, N = nl + 9;
  float *Z = tu_rand_buf(&rng, nz, -5, 5);
  int32_t *labdata = malloc(N * sizeof(int32_t)), *idx = malloc((off + nl) * sizeof(int32_t));
  int32_t *lab = malloc(nl * sizeof(int32_t));
  for (size_t i = 0; i < N; i++) labdata[i] = (int32_t)ab_rng_below(&rng, C);
  for (size_t i = 0; i < off + nl; i++) idx[i] = (int32_t)ab_rng_below(&rng, N);
  for (size_t i = 0; i < nl; i++) lab[i] = labdata[idx[off + i]];
  float *wl = to_out_buf(nl, 0), *wd = to_out_buf(nz, 0), *wb = to_out_buf((size_t)K * bstride, 0);
  ab_ref_softmax_xent(wl, wd, Z, lab, K, B, C);
  double *tl = malloc(nl * sizeof(double)), *td = malloc(nz * sizeof(double));
  double tb[3] = {0, 0, 0};
  for (int k = 0; k < K; k++) {
    float s = 0.0f;
    for (int i = 0; i < B; i++) {
      size_t r = (size_t)k * B + i;
      double scale = 1.0;
      for (int q = 0; q < C; q++) scale += 2.0 * fabs(Z[r * C + q]);
      tl[r] = AB_TOL_FN_ABS(scale);
      tb[k] += tl[r] / B;
      for (int q = 0; q < C; q++) td[r * C + q] = AB_TOL_FN_ABS(1.0) / B + AB_TOL_FN(wd[r * C + q]);
      s += wl[r];
    }
    wb[k * bstride + bslot] = s / (float)B;
  }
  double *tbl = malloc((size_t)K * bstride * sizeof(double));
  for (int i = 0; i < K * bstride; i++) tbl[i] = tb[i / bstride] + AB_TOL_EVAL(B, wb[i] * B) / B;
  cl_mem L = to_cl_out(c, nl, 0), D = to_cl_out(c, nz, 0), Bl = to_cl_out(c, (size_t)K * bstride, 0);
  ab_cl_rows rows = {NULL, to_cl_in(c, idx, (off + nl) * 4), off, B};
  rows.x = rows.idx;
  ab_err e;
  cr_assert_eq(ab_cl_softmax_xent(c, L, D, Bl, bslot, bstride, to_cl_in(c, Z, nz * 4),
                                  to_cl_in(c, labdata, N * 4), rows, K, B, C, &e), 0, "%s", e.msg);
  char shape[96];
  snprintf(shape, sizeof shape, "K=%d B=%d C=%d", K, B, C);
  float *gl = to_cl_get(c, L, nl), *gd = to_cl_get(c, D, nz), *gb = to_cl_get(c, Bl, (size_t)K * bstride);
  to_expect_close(st, "loss", shape, gl, wl, tl, nl, 0);
  to_expect_close(st, "dlogits", shape, gd, wd, td, nz, 0);
  to_expect_close(st, "batch mean loss", shape, gb, wb, tbl, (size_t)K * bstride, 0);
  st->cases++;
  free(Z); free(labdata); free(idx); free(lab); free(wl); free(wd); free(wb); free(tl);
  free(td); free(tbl); free(gl); free(gd); free(gb);
  to_cl_release_all();
}

static void cl_xent_all(int split) {
  ab_cl_ctx *c = to_cl_open(0);
  c->split = split;
  to_stats st = {split ? "ab_softmax_xent_split" : "ab_softmax_xent", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 14, 1);
  static const int CS[] = {1, 2, 3, 10};
  for (int ri = 0; ri < TO_NROWS; ri++)
    for (int ci = 0; ci < 4; ci++)
      for (int ki = 0; ki < 2; ki++) cl_xent_case(c, &st, TO_KS[ki], TO_ROWS[ri], CS[ci]);
  to_stats_print("cl", &st);
  ab_cl_ctx_free(c);
}

Test(softmax_xent, opencl) { cl_xent_all(0); }
/* ab_softmax_xent_split and _sum, the GPU form: rows over many groups, the batch loss
 * summed in a tree per group then over groups (AB_TOL_EVAL covers any order) */
Test(softmax_xent, opencl_split) { cl_xent_all(1); }
