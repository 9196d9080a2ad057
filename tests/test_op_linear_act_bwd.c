/* The op linear_act_bwd (dZ = dY * act'(Y); dW = X^T dZ; db = sum dZ; dX = dZ W^T; ref.h):
 * the fast CPU kernels and the OpenCL kernels (kernels/linear_act_bwd.cl: _dz, _dw, _dx)
 * against the reference on awkward sizes, seeded random inputs, margins from
 * tolerance.h and tolerance_cpu.h, sentinel and canary as in test_op_linear_act_fwd.c.
 * The whole backward pass against finite differences is in test_ref.c. */
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

/* ---- the fast CPU path ---- */

/* Inputs, reference outputs and bounds of one backward case. */
typedef struct cpu_bwd_io {
  int K, B, IN, OUT;
  ab_act act;
  layout L;
  size_t nx, ny, np;
  float *X, *Y, *dY, *P;
  float *wdz, *wg, *wdx;   /* want: dZ, G (dW and db in the parameter layout), dX */
  double *tg, *tdx;
} cpu_bwd_io;

static void cpu_bwd_want(cpu_bwd_io *io) {
  layout L = io->L;
  io->wdz = to_out_buf(io->ny, 0); io->wg = to_out_buf(io->np, 0); io->wdx = to_out_buf(io->nx, 0);
  ab_ref_linear_act_bwd(io->wdx, io->wg + L.woff, io->wg + L.boff, io->wdz, io->dY, io->X,
                        io->Y, io->P + L.woff, io->act, io->K, io->B, io->IN, io->OUT, L.pstride);
  tu_bwd_bounds(&io->tg, &io->tdx, io->X, io->wdz, io->P, L, io->K, io->B, io->IN, io->OUT);
}

static void cpu_bwd_inputs(cpu_bwd_io *io) {
  io->P = tu_rand_buf(&rng, io->np, -0.7f, 0.7f);
  io->X = tu_rand_buf(&rng, io->nx, -2, 2);
  float *z = tu_rand_buf(&rng, io->ny, -3, 3);
  io->Y = tu_act_of(z, io->ny, io->act);
  io->dY = tu_rand_buf(&rng, io->ny, -1, 1);
  free(z);
}

static void cpu_bwd_free(cpu_bwd_io *io) {
  float *f[] = {io->X, io->Y, io->dY, io->P, io->wdz, io->wg, io->wdx};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
  free(io->tg); free(io->tdx);
}

/* Runs the fast op with and without dX and compares every output. dW/db are compared
 * over the whole parameter buffer: the gaps of the layout must stay untouched. */
static void cpu_bwd_run(ab_cpu_isa isa, to_stats *st, cpu_bwd_io *io, const char *shape) {
  layout L = io->L;
  float *dz = to_out_buf(io->ny, 0), *g = to_out_buf(io->np, 0), *dx = to_out_buf(io->nx, 0);
  float *g2 = to_out_buf(io->np, 0), *dz2 = to_out_buf(io->ny, 0);
  float *work = malloc((size_t)io->IN * io->OUT * sizeof(float));
  ab_cpu_linear_act_bwd(isa, dx, g + L.woff, g + L.boff, dz, io->dY, io->X, io->Y,
                        io->P + L.woff, work, io->act, io->K, io->B, io->IN, io->OUT, L.pstride);
  ab_cpu_linear_act_bwd(isa, NULL, g2 + L.woff, g2 + L.boff, dz2, io->dY, io->X, io->Y,
                        io->P + L.woff, work, io->act, io->K, io->B, io->IN, io->OUT, L.pstride);
  double *tg = to_tol_or_null(isa, io->tg);
  to_expect_close(st, "dZ", shape, dz, io->wdz, NULL, io->ny, 0);
  to_expect_close(st, "dW and db", shape, g, io->wg, tg, io->np, 0);
  to_expect_close(st, "dX", shape, dx, io->wdx, to_tol_or_null(isa, io->tdx), io->nx, 0);
  to_expect_close(st, "dW and db (no dX)", shape, g2, io->wg, tg, io->np, 0);
  for (int k = 0; k < io->K; k++) /* db is a plain sum: exact on every ISA */
    for (int j = 0; j < io->OUT; j++) {
      size_t o = (size_t)k * L.pstride + L.boff + j;
      cr_assert(memcmp(&g[o], &io->wg[o], 4) == 0, "%s db[%d][%d]: got %.9g want %.9g", shape,
                k, j, g[o], io->wg[o]);
    }
  free(dz); free(g); free(dx); free(g2); free(dz2); free(work);
}

Test(linear_act_bwd, cpu) {
  ab_cpu_isa is[3];
  int ni = to_isas(is);
  for (int q = 0; q < ni; q++) {
    char name[64];
    to_stats st = {.name = to_label(name, sizeof name, "linear_act_bwd", is[q])};
    ab_rng_seed(&rng, 22, 1);
    for (int ri = 0; ri < TO_NROWS; ri++)
      for (int ii = 0; ii < TO_CPU_NWIDTHS; ii++)
        for (int oi = 0; oi < TO_CPU_NWIDTHS; oi++)
          for (int ki = 0; ki < 2; ki++)
            for (int a = 0; a < 4; a++) {
              cpu_bwd_io io = {.K = TO_KS[ki], .B = TO_ROWS[ri], .IN = TO_CPU_WIDTHS[ii],
                               .OUT = TO_CPU_WIDTHS[oi],
                           .act = (ab_act)a};
              io.L = layout_of(io.IN, io.OUT);
              io.nx = (size_t)io.K * io.B * io.IN;
              io.ny = (size_t)io.K * io.B * io.OUT;
              io.np = (size_t)io.K * io.L.pstride;
              cpu_bwd_inputs(&io);
              cpu_bwd_want(&io);
              char shape[128];
              snprintf(shape, sizeof shape, "%s K=%d B=%d IN=%d OUT=%d act=%s",
                       ab_cpu_isa_name(is[q]), io.K, io.B, io.IN, io.OUT, ab_act_name(io.act));
              cpu_bwd_run(is[q], &st, &io, shape);
              st.cases++;
              cpu_bwd_free(&io);
            }
    to_stats_print("cpu", &st);
  }
}

/* ---- OpenCL ---- */

Test(linear_act_bwd, opencl_dz) {
  ab_cl_ctx *c = to_cl_open(0);
  to_stats st = {"ab_act_bwd", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 15, 1);
  for (int ri = 0; ri < TO_NROWS; ri++)
    for (int wi = 0; wi < TO_NWIDTHS; wi++)
      for (int a = 0; a < 4; a++) {
        int n = 3 * TO_ROWS[ri] * TO_WIDTHS[wi];
        float *dY = tu_rand_buf(&rng, n, -1, 1), *Z = tu_rand_buf(&rng, n, -3, 3), *Y = tu_act_of(Z, n, (ab_act)a);
        float *want = to_out_buf(n, 0);
        double *tol = malloc(n * sizeof(double));
        for (int i = 0; i < n; i++) {
          want[i] = dY[i] * ab_act_grad_from_y((ab_act)a, Y[i]);
          tol[i] = AB_TOL_FN(want[i]) + AB_TOL_FN_ABS(fabs(dY[i]) * 1e-6);
        }
        cl_mem dZ = to_cl_out(c, n, 0);
        ab_err e;
        cr_assert_eq(ab_cl_linear_act_bwd_dz(c, dZ, to_cl_in(c, dY, n * 4), to_cl_in(c, Y, n * 4), a, n, &e),
                     0, "%s", e.msg);
        char shape[64];
        snprintf(shape, sizeof shape, "n=%d act=%s", n, ab_act_name((ab_act)a));
        float *got = to_cl_get(c, dZ, n);
        to_expect_close(&st, "dZ", shape, got, want, tol, n, 0);
        st.cases++;
        free(dY); free(Z); free(Y); free(want); free(tol); free(got);
        to_cl_release_all();
      }
  to_stats_print("cl", &st);
  ab_cl_ctx_free(c);
}

/* Inputs and reference outputs of one backward case. */
typedef struct cl_bwd_io {
  int K, B, IN, OUT, gather;
  ab_act act, act_in;
  layout L;
  size_t nx, ny, np;
  float *X, *Y, *dY, *P, *data, *Xin;
  int32_t *idx;
  float *wdz, *wg, *wdx, *wdxf;      /* want: dZ, G (dW and db), dX, fused dX */
  double *tdz, *tg, *tdx, *tdxf;
} cl_bwd_io;

enum { cl_BWD_N = 311, cl_BWD_OFF = 6 };

static void cl_bwd_inputs(cl_bwd_io *io) {
  size_t nb = (size_t)io->K * io->B;
  io->P = tu_rand_buf(&rng, io->np, -0.7f, 0.7f);
  io->data = tu_rand_buf(&rng, (size_t)cl_BWD_N * io->IN, -2, 2);
  io->idx = malloc((cl_BWD_OFF + nb) * sizeof(int32_t));
  for (size_t i = 0; i < cl_BWD_OFF + nb; i++) io->idx[i] = (int32_t)ab_rng_below(&rng, cl_BWD_N);
  io->X = malloc(io->nx * sizeof(float));
  ab_ref_gather(io->X, NULL, io->data, NULL, io->idx + cl_BWD_OFF, io->K, io->B, io->IN);
  float *z = tu_rand_buf(&rng, io->ny, -3, 3), *zi = tu_rand_buf(&rng, io->nx, -3, 3);
  io->Y = tu_act_of(z, io->ny, io->act);
  io->Xin = tu_act_of(zi, io->nx, io->act_in);
  io->dY = tu_rand_buf(&rng, io->ny, -1, 1);
  free(z); free(zi);
}

/* Reference outputs, and bounds from the same op run on absolute values. */
static void cl_bwd_want(cl_bwd_io *io) {
  layout L = io->L;
  io->wdz = to_out_buf(io->ny, 0); io->wg = to_out_buf(io->np, 0);
  io->wdx = to_out_buf(io->nx, 0); io->wdxf = to_out_buf(io->nx, 0);
  ab_ref_linear_act_bwd(io->wdx, io->wg + L.woff, io->wg + L.boff, io->wdz, io->dY, io->X,
                        io->Y, io->P + L.woff, io->act, io->K, io->B, io->IN, io->OUT, L.pstride);
  tu_bwd_bounds(&io->tg, &io->tdx, io->X, io->wdz, io->P, L, io->K, io->B, io->IN, io->OUT);
  io->tdz = malloc(io->ny * sizeof(double)); io->tdxf = malloc(io->nx * sizeof(double));
  for (size_t i = 0; i < io->ny; i++) io->tdz[i] = AB_TOL_FN(io->wdz[i]) + 1e-30;
  for (size_t i = 0; i < io->nx; i++) {
    float g = ab_act_grad_from_y(io->act_in, io->Xin[i]);
    io->wdxf[i] = io->wdx[i] * g;
    io->tdxf[i] = io->tdx[i] * fabsf(g) + AB_TOL_FN(io->wdxf[i]) + 1e-30;
  }
}

static void cl_bwd_free(cl_bwd_io *io) {
  float *f[] = {io->X, io->Y, io->dY, io->P, io->data, io->Xin, io->wdz, io->wg, io->wdx, io->wdxf};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
  free(io->idx); free(io->tdz); free(io->tg); free(io->tdx); free(io->tdxf);
}

static void cl_bwd_run(ab_cl_ctx *c, to_stats *st, cl_bwd_io *io, const char *shape) {
  layout L = io->L;
  ab_err e;
  cl_mem dZ = to_cl_out(c, io->ny, 0), G = to_cl_out(c, io->np, 0), Gb = to_cl_out(c, io->np, 0);
  cl_mem dX = to_cl_out(c, io->nx, 0), dXf = to_cl_out(c, io->nx, 0), P = to_cl_in(c, io->P, io->np * 4);
  ab_cl_rows rows = {to_cl_in(c, io->X, io->nx * 4), NULL, 0, 0};
  if (io->gather) {
    rows.x = to_cl_in(c, io->data, (size_t)cl_BWD_N * io->IN * 4);
    rows.idx = to_cl_in(c, io->idx, (cl_BWD_OFF + (size_t)io->K * io->B) * 4);
    rows.off = cl_BWD_OFF;
    rows.kstride = io->B;
  }
  int K = io->K, B = io->B, IN = io->IN, OUT = io->OUT;
  int rc = ab_cl_linear_act_bwd_dz(c, dZ, to_cl_in(c, io->dY, io->ny * 4), to_cl_in(c, io->Y, io->ny * 4),
                         io->act, (int)io->ny, &e);
  if (!rc) rc = ab_cl_linear_act_bwd_dw(c, G, L.woff, L.boff, dZ, rows, 0, K, B, IN, OUT, L.pstride, &e);
  if (!rc) rc = ab_cl_linear_act_bwd_dw(c, Gb, L.woff, L.boff, dZ, rows, 1, K, B, IN, OUT, L.pstride, &e);
  if (!rc) rc = ab_cl_linear_act_bwd_dx(c, dX, dZ, P, L.woff, NULL, 0, K, B, IN, OUT, L.pstride, &e);
  if (!rc)
    rc = ab_cl_linear_act_bwd_dx(c, dXf, dZ, P, L.woff, to_cl_in(c, io->Xin, io->nx * 4), io->act_in,
                             K, B, IN, OUT, L.pstride, &e);
  cr_assert_eq(rc, 0, "%s", e.msg);
  float *wgb = to_out_buf(io->np, 0);
  for (int k = 0; k < K; k++)
    memcpy(wgb + (size_t)k * L.pstride + L.boff, io->wg + (size_t)k * L.pstride + L.boff,
           OUT * sizeof(float));
  float *g[5] = {to_cl_get(c, dZ, io->ny), to_cl_get(c, G, io->np), to_cl_get(c, Gb, io->np),
                 to_cl_get(c, dX, io->nx), to_cl_get(c, dXf, io->nx)};
  st->name = "ab_act_bwd";
  to_expect_close(st, "dZ", shape, g[0], io->wdz, io->tdz, io->ny, 0);
  st->name = "ab_linear_bwd_dw";
  to_expect_close(st, "dW and db", shape, g[1], io->wg, io->tg, io->np, 0);
  to_expect_close(st, "db (db only)", shape, g[2], wgb, io->tg, io->np, 0);
  st->name = "ab_linear_bwd_dx";
  to_expect_close(st, "dX", shape, g[3], io->wdx, io->tdx, io->nx, 0);
  to_expect_close(st, "dX * act_in'(Xin)", shape, g[4], io->wdxf, io->tdxf, io->nx, 0);
  st->name = "backward";
  for (int i = 0; i < 5; i++) free(g[i]);
  free(wgb);
  to_cl_release_all();
}

static void cl_bwd_all(int vec, int split) {
  ab_cl_ctx *c = to_cl_open(vec);
  c->split = split;
  to_stats st = {"backward", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 16, 1);
  for (int ri = 0; ri < TO_NROWS; ri++)
    for (int ii = 0; ii < TO_NWIDTHS; ii++)
      for (int oi = 0; oi < TO_NWIDTHS; oi++)
        for (int ki = 0; ki < 2; ki++) {
          int n = ri + ii + oi + ki;
          cl_bwd_io io;
          memset(&io, 0, sizeof io);
          io.K = TO_KS[ki]; io.B = TO_ROWS[ri]; io.IN = TO_WIDTHS[ii]; io.OUT = TO_WIDTHS[oi];
          io.gather = (n / 4) % 2;
          io.act = (ab_act)(n % 4);
          io.act_in = (ab_act)((n + 1) % 4);
          io.L = layout_of(io.IN, io.OUT);
          io.nx = (size_t)io.K * io.B * io.IN;
          io.ny = (size_t)io.K * io.B * io.OUT;
          io.np = (size_t)io.K * io.L.pstride;
          cl_bwd_inputs(&io);
          cl_bwd_want(&io);
          char shape[160];
          snprintf(shape, sizeof shape, "K=%d B=%d IN=%d OUT=%d act=%s act_in=%s%s", io.K, io.B,
                   io.IN, io.OUT, ab_act_name(io.act), ab_act_name(io.act_in),
                   io.gather ? " (gathered rows)" : "");
          cl_bwd_run(c, &st, &io, shape);
          st.cases++;
          cl_bwd_free(&io);
        }
  to_stats_print("cl", &st);
  ab_cl_ctx_free(c);
}

Test(linear_act_bwd, opencl) { cl_bwd_all(0, 0); }
Test(linear_act_bwd, opencl_vec1) { cl_bwd_all(1, 0); }
/* The split forms GPUs run: ab_linear_act_bwd_dw_tiled (chunks of the batch for small
 * layers, then ab_linear_act_bwd_dw_sum: a different summation order, within
 * AB_TOL_DOT) and ab_linear_act_bwd_dx_tiled (the reference's order). */
Test(linear_act_bwd, opencl_split) { cl_bwd_all(1, 1); }
