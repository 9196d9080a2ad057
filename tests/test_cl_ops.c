/* Every OpenCL kernel against its src/ref/ twin on awkward sizes (rows 1, 7, 93, 100,
 * 257; widths 1, 3, 10, 100, 129; K = 1 and 3; every activation), seeded random inputs,
 * margins from tolerance.h. Every output buffer is pre-filled with a sentinel and
 * followed by a canary region: elements the kernel must not write are checked
 * untouched, elements it must write are checked written. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/ref.h"
#include "abgpu/rng.h"
#include "cl/engine.h"
#include "testbuf.h"
#include "testutil.h"
#include "tolerance.h"

#define CANARY 37
#define SENTINEL (-1234.5f)
#define SENTINEL_I 0x5A5A5A5A

static const int ROWS[] = {1, 7, 93, 100, 257};
static const int WIDTHS[] = {1, 3, 10, 100, 129};
static const int KS[] = {1, 3};
#define NROWS 5
#define NWIDTHS 5

/* ---- device: open or skip (fail in CI) ---- */

/* vec: the GEMM kernels' vector width (0: the device's choice, 8 on PoCL; 1: the
 * one-float-per-work-item variant GPUs get). */
static ab_cl_ctx *open_vec_or_skip(int vec) {
  int dev = tu_cl_device_or_skip("OpenCL kernel tests");
  ab_err e;
  ab_cl_ctx *c = NULL;
  ab_cl_opts o = {AB_CL_GEMM_OWN, 0, vec, NULL, NULL};
  cr_assert_eq(ab_cl_ctx_open(&c, dev, &o, &e), AB_OK, "opening device %d: %s", dev, e.msg);
  return c;
}

static ab_cl_ctx *open_or_skip(void) { return open_vec_or_skip(0); }

/* ---- buffers: a small arena released after each case ---- */

static cl_mem arena[32];
static int narena;

static cl_mem track(cl_mem m) {
  cr_assert(narena < 32);
  return arena[narena++] = m;
}

static void release_all(void) {
  while (narena) clReleaseMemObject(arena[--narena]);
}

static cl_mem dev_in(ab_cl_ctx *c, const void *host, size_t bytes) {
  cl_int err;
  cl_mem m = clCreateBuffer(c->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes,
                            (void *)host, &err);
  cr_assert_eq(err, CL_SUCCESS, "clCreateBuffer: %s", ab_cl_errname(err));
  return track(m);
}

/* n elements of 4 bytes plus the canary, all set to the sentinel. */
static cl_mem dev_out(ab_cl_ctx *c, size_t n, int is_int) {
  size_t t = n + CANARY;
  float *h = malloc(t * sizeof(float));
  for (size_t i = 0; i < t; i++) {
    if (is_int) ((int32_t *)h)[i] = SENTINEL_I;
    else h[i] = SENTINEL;
  }
  cl_mem m = dev_in(c, h, t * sizeof(float));
  free(h);
  return m;
}

/* A host twin of dev_out: the expected contents, filled by the reference. */
static float *want_buf(size_t n, int is_int) {
  float *h = malloc((n + CANARY) * sizeof(float));
  for (size_t i = 0; i < n + CANARY; i++) {
    if (is_int) ((int32_t *)h)[i] = SENTINEL_I;
    else h[i] = SENTINEL;
  }
  return h;
}

static float *dev_get(ab_cl_ctx *c, cl_mem m, size_t n) {
  float *h = malloc((n + CANARY) * sizeof(float));
  cl_int err = clEnqueueReadBuffer(c->queue, m, CL_TRUE, 0, (n + CANARY) * sizeof(float), h, 0,
                                   NULL, NULL);
  cr_assert_eq(err, CL_SUCCESS, "clEnqueueReadBuffer: %s", ab_cl_errname(err));
  return h;
}

/* ---- comparison with a per-element tolerance ---- */

typedef struct stats {
  const char *kernel;
  int cases;
  double max_abs, max_rel, max_ratio, max_tol;
} stats;

static void stats_print(const stats *s) {
  fprintf(stderr, "cl_ops %-18s %4d cases  max |err| %.3g  max rel err %.3g  "
          "max err/tolerance %.3g  (largest tolerance used %.3g)\n", s->kernel, s->cases,
          s->max_abs, s->max_rel, s->max_ratio, s->max_tol);
}

/* got and want hold n + CANARY elements. Where want holds the sentinel, got must be
 * bitwise the same (not written); elsewhere |got - want| <= tol[i] (exact when tol is
 * NULL). is_int compares int32 elements exactly. */
static void expect_close(stats *st, const char *buf, const char *shape, const float *got,
                         const float *want, const double *tol, size_t n, int is_int) {
  size_t bad = 0, first = 0;
  double max_abs = 0, max_rel = 0;
  for (size_t i = 0; i < n + CANARY; i++) {
    int ok;
    if (is_int || memcmp(&want[i], &(float){SENTINEL}, sizeof(float)) == 0 || !tol || i >= n) {
      ok = memcmp(&got[i], &want[i], sizeof(float)) == 0;
    } else {
      double err = fabs((double)got[i] - want[i]);
      ok = isfinite(got[i]) && err <= tol[i];
      if (isfinite(err)) {
        if (err > max_abs) max_abs = err;
        if (want[i] != 0 && err / fabs(want[i]) > max_rel) max_rel = err / fabs(want[i]);
        if (tol[i] > 0 && err / tol[i] > st->max_ratio) st->max_ratio = err / tol[i];
        if (tol[i] > st->max_tol) st->max_tol = tol[i];
      }
    }
    if (!ok && bad++ == 0) first = i;
  }
  if (max_abs > st->max_abs) st->max_abs = max_abs;
  if (max_rel > st->max_rel) st->max_rel = max_rel;
  if (!bad) return;
  for (size_t i = first, shown = 0; i < n + CANARY && shown < 5; i++) {
    int differs = memcmp(&got[i], &want[i], sizeof(float)) != 0;
    if (!differs) continue;
    if (is_int)
      fprintf(stderr, "  [%zu]%s got %d want %d\n", i, i >= n ? " (canary)" : "",
              ((const int32_t *)got)[i], ((const int32_t *)want)[i]);
    else
      fprintf(stderr, "  [%zu]%s got %.9g want %.9g tolerance %.3g\n", i,
              i >= n ? " (canary)" : "", got[i], want[i], tol && i < n ? tol[i] : 0.0);
    shown++;
  }
  cr_assert_fail("%s: output %s, %s: %zu of %zu elements wrong (first at index %zu; "
                 "see above); max |err| %.3g, max rel err %.3g",
                 st->kernel, buf, shape, bad, n + CANARY, first, max_abs, max_rel);
}

/* ---- inputs ---- */

static ab_rng rng;

/* ---- tests ---- */

Test(cl_ops, gather) {
  ab_cl_ctx *c = open_or_skip();
  stats st = {"ab_gather", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 11, 1);
  const int N = 300, off = 5;
  for (int ri = 0; ri < NROWS; ri++)
    for (int wi = 0; wi < NWIDTHS; wi++)
      for (int ki = 0; ki < 2; ki++) {
        int B = ROWS[ri], IN = WIDTHS[wi], K = KS[ki];
        size_t nx = (size_t)K * B * IN, ny = (size_t)K * B;
        float *data = tu_rand_buf(&rng, (size_t)N * IN, -2, 2);
        int32_t *lab = malloc(N * sizeof(int32_t)), *idx = malloc((off + ny) * sizeof(int32_t));
        for (int i = 0; i < N; i++) lab[i] = (int32_t)ab_rng_below(&rng, 7);
        for (size_t i = 0; i < off + ny; i++) idx[i] = (int32_t)ab_rng_below(&rng, N);
        float *wx = want_buf(nx, 0), *wy = want_buf(ny, 1);
        ab_ref_gather(wx, (int32_t *)wy, data, lab, idx + off, K, B, IN);
        cl_mem X = dev_out(c, nx, 0), Y = dev_out(c, ny, 1);
        ab_cl_rows rows = {dev_in(c, data, (size_t)N * IN * 4), dev_in(c, idx, (off + ny) * 4),
                           off, B};
        ab_err e;
        cr_assert_eq(ab_cl_gather(c, X, Y, dev_in(c, lab, N * 4), rows, K, B, IN, &e), 0, "%s",
                     e.msg);
        char shape[96];
        snprintf(shape, sizeof shape, "K=%d B=%d IN=%d", K, B, IN);
        float *gx = dev_get(c, X, nx), *gy = dev_get(c, Y, ny);
        expect_close(&st, "X", shape, gx, wx, NULL, nx, 0);
        expect_close(&st, "Y", shape, gy, wy, NULL, ny, 1);
        st.cases++;
        free(data); free(lab); free(idx); free(wx); free(wy); free(gx); free(gy);
        release_all();
      }
  stats_print(&st);
  ab_cl_ctx_free(c);
}

/* One forward case; gather != 0 feeds the rows through an index into a data table. */
static void fwd_case(ab_cl_ctx *c, stats *st, int K, int B, int IN, int OUT, ab_act act,
                     int gather) {
  layout L = layout_of(IN, OUT);
  const int N = 311, off = 2;
  size_t nx = (size_t)K * B * IN, ny = (size_t)K * B * OUT, np = (size_t)K * L.pstride;
  float *P = tu_rand_buf(&rng, np, -0.7f, 0.7f), *data = tu_rand_buf(&rng, (size_t)N * IN, -2, 2);
  int32_t *idx = malloc((off + (size_t)K * B) * sizeof(int32_t));
  for (size_t i = 0; i < off + (size_t)K * B; i++) idx[i] = (int32_t)ab_rng_below(&rng, N);
  float *X = malloc(nx * sizeof(float));
  ab_ref_gather(X, NULL, data, NULL, idx + off, K, B, IN); /* plain mode uses X as is */
  float *want = want_buf(ny, 0), *S = malloc(ny * sizeof(float));
  float *aX = tu_abs_copy(X, nx), *aP = tu_abs_copy(P, np);
  ab_ref_linear_act_fwd(want, X, P + L.woff, P + L.boff, act, K, B, IN, OUT, L.pstride);
  ab_ref_linear_act_fwd(S, aX, aP + L.woff, aP + L.boff, AB_ACT_IDENTITY, K, B, IN, OUT,
                        L.pstride);
  double *tol = malloc(ny * sizeof(double));
  for (size_t i = 0; i < ny; i++) tol[i] = AB_TOL_ACT(IN, S[i], want[i]);
  cl_mem Y = dev_out(c, ny, 0);
  ab_cl_rows rows = {dev_in(c, X, nx * 4), NULL, 0, 0};
  if (gather) {
    rows.x = dev_in(c, data, (size_t)N * IN * 4);
    rows.idx = dev_in(c, idx, (off + (size_t)K * B) * 4);
    rows.off = off;
    rows.kstride = B;
  }
  ab_err e;
  cr_assert_eq(ab_cl_linear_act_fwd(c, Y, rows, dev_in(c, P, np * 4), L.woff, L.boff, act, K,
                                    B, IN, OUT, L.pstride, &e), 0, "%s", e.msg);
  char shape[128];
  snprintf(shape, sizeof shape, "K=%d B=%d IN=%d OUT=%d act=%s%s", K, B, IN, OUT,
           ab_act_name(act), gather ? " (gathered rows)" : "");
  float *got = dev_get(c, Y, ny);
  expect_close(st, "Y", shape, got, want, tol, ny, 0);
  st->cases++;
  free(P); free(data); free(idx); free(X); free(want); free(S); free(aX); free(aP);
  free(tol); free(got);
  release_all();
}

static void fwd_all(int vec) {
  ab_cl_ctx *c = open_vec_or_skip(vec);
  stats st = {"ab_linear_act_fwd", 0, 0, 0, 0, 0};
  fprintf(stderr, "cl_ops AB_VEC=%d\n", c->vec);
  ab_rng_seed(&rng, 12, 1);
  for (int ri = 0; ri < NROWS; ri++)
    for (int ii = 0; ii < NWIDTHS; ii++)
      for (int oi = 0; oi < NWIDTHS; oi++)
        for (int ki = 0; ki < 2; ki++) {
          int n = ri + ii + oi + ki; /* rotates the activation and the input mode */
          fwd_case(c, &st, KS[ki], ROWS[ri], WIDTHS[ii], WIDTHS[oi], (ab_act)(n % 4),
                   (n / 4) % 2);
        }
  stats_print(&st);
  ab_cl_ctx_free(c);
}

Test(cl_ops, linear_act_fwd) { fwd_all(0); }
Test(cl_ops, linear_act_fwd_vec1) { fwd_all(1); }

Test(cl_ops, bias_act) {
  ab_cl_ctx *c = open_or_skip();
  stats st = {"ab_bias_act", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 13, 1);
  for (int ri = 0; ri < NROWS; ri++)
    for (int oi = 0; oi < NWIDTHS; oi++)
      for (int ki = 0; ki < 2; ki++)
        for (int a = 0; a < 4; a++) {
          int K = KS[ki], B = ROWS[ri], OUT = WIDTHS[oi];
          layout L = layout_of(4, OUT);
          size_t ny = (size_t)K * B * OUT, np = (size_t)K * L.pstride;
          if (ny > ((size_t)1 << 24)) abort(); /* bounds ny for GCC's allocation-size check */
          float *Y = tu_rand_buf(&rng, ny, -4, 4), *P = tu_rand_buf(&rng, np, -1, 1), *want = want_buf(ny, 0);
          double *tol = malloc(ny * sizeof(double));
          for (size_t o = 0; o < ny; o++) {
            size_t k = o / ((size_t)B * OUT), j = o % OUT;
            want[o] = ab_act_apply((ab_act)a, Y[o] + P[k * L.pstride + L.boff + j]);
            tol[o] = AB_TOL_FN(want[o]) + AB_TOL_FN_ABS(1e-6);
          }
          float *Yc = want_buf(ny, 0);
          memcpy(Yc, Y, ny * sizeof(float));
          cl_mem dY = dev_in(c, Yc, (ny + CANARY) * 4);
          ab_err e;
          cr_assert_eq(ab_cl_bias_act(c, dY, dev_in(c, P, np * 4), L.boff, a, K, B, OUT,
                                      L.pstride, &e), 0, "%s", e.msg);
          char shape[96];
          snprintf(shape, sizeof shape, "K=%d B=%d OUT=%d act=%s", K, B, OUT,
                   ab_act_name((ab_act)a));
          float *got = dev_get(c, dY, ny);
          expect_close(&st, "Y", shape, got, want, tol, ny, 0);
          st.cases++;
          free(Y); free(P); free(want); free(tol); free(Yc); free(got);
          release_all();
        }
  stats_print(&st);
  ab_cl_ctx_free(c);
}

static void xent_case(ab_cl_ctx *c, stats *st, int K, int B, int C) {
  const int off = 4, bstride = 3, bslot = 1;
  size_t nl = (size_t)K * B, nz = nl * C, N = nl + 9;
  float *Z = tu_rand_buf(&rng, nz, -5, 5);
  int32_t *labdata = malloc(N * sizeof(int32_t)), *idx = malloc((off + nl) * sizeof(int32_t));
  int32_t *lab = malloc(nl * sizeof(int32_t));
  for (size_t i = 0; i < N; i++) labdata[i] = (int32_t)ab_rng_below(&rng, C);
  for (size_t i = 0; i < off + nl; i++) idx[i] = (int32_t)ab_rng_below(&rng, N);
  for (size_t i = 0; i < nl; i++) lab[i] = labdata[idx[off + i]];
  float *wl = want_buf(nl, 0), *wd = want_buf(nz, 0), *wb = want_buf((size_t)K * bstride, 0);
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
  cl_mem L = dev_out(c, nl, 0), D = dev_out(c, nz, 0), Bl = dev_out(c, (size_t)K * bstride, 0);
  ab_cl_rows rows = {NULL, dev_in(c, idx, (off + nl) * 4), off, B};
  rows.x = rows.idx;
  ab_err e;
  cr_assert_eq(ab_cl_softmax_xent(c, L, D, Bl, bslot, bstride, dev_in(c, Z, nz * 4),
                                  dev_in(c, labdata, N * 4), rows, K, B, C, &e), 0, "%s", e.msg);
  char shape[96];
  snprintf(shape, sizeof shape, "K=%d B=%d C=%d", K, B, C);
  float *gl = dev_get(c, L, nl), *gd = dev_get(c, D, nz), *gb = dev_get(c, Bl, (size_t)K * bstride);
  expect_close(st, "loss", shape, gl, wl, tl, nl, 0);
  expect_close(st, "dlogits", shape, gd, wd, td, nz, 0);
  expect_close(st, "batch mean loss", shape, gb, wb, tbl, (size_t)K * bstride, 0);
  st->cases++;
  free(Z); free(labdata); free(idx); free(lab); free(wl); free(wd); free(wb); free(tl);
  free(td); free(tbl); free(gl); free(gd); free(gb);
  release_all();
}

Test(cl_ops, softmax_xent) {
  ab_cl_ctx *c = open_or_skip();
  stats st = {"ab_softmax_xent", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 14, 1);
  static const int CS[] = {1, 2, 3, 10};
  for (int ri = 0; ri < NROWS; ri++)
    for (int ci = 0; ci < 4; ci++)
      for (int ki = 0; ki < 2; ki++) xent_case(c, &st, KS[ki], ROWS[ri], CS[ci]);
  stats_print(&st);
  ab_cl_ctx_free(c);
}

Test(cl_ops, act_bwd) {
  ab_cl_ctx *c = open_or_skip();
  stats st = {"ab_act_bwd", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 15, 1);
  for (int ri = 0; ri < NROWS; ri++)
    for (int wi = 0; wi < NWIDTHS; wi++)
      for (int a = 0; a < 4; a++) {
        int n = 3 * ROWS[ri] * WIDTHS[wi];
        float *dY = tu_rand_buf(&rng, n, -1, 1), *Z = tu_rand_buf(&rng, n, -3, 3), *Y = tu_act_of(Z, n, (ab_act)a);
        float *want = want_buf(n, 0);
        double *tol = malloc(n * sizeof(double));
        for (int i = 0; i < n; i++) {
          want[i] = dY[i] * ab_act_grad_from_y((ab_act)a, Y[i]);
          tol[i] = AB_TOL_FN(want[i]) + AB_TOL_FN_ABS(fabs(dY[i]) * 1e-6);
        }
        cl_mem dZ = dev_out(c, n, 0);
        ab_err e;
        cr_assert_eq(ab_cl_act_bwd(c, dZ, dev_in(c, dY, n * 4), dev_in(c, Y, n * 4), a, n, &e),
                     0, "%s", e.msg);
        char shape[64];
        snprintf(shape, sizeof shape, "n=%d act=%s", n, ab_act_name((ab_act)a));
        float *got = dev_get(c, dZ, n);
        expect_close(&st, "dZ", shape, got, want, tol, n, 0);
        st.cases++;
        free(dY); free(Z); free(Y); free(want); free(tol); free(got);
        release_all();
      }
  stats_print(&st);
  ab_cl_ctx_free(c);
}

/* Inputs and reference outputs of one backward case. */
typedef struct bwd_io {
  int K, B, IN, OUT, gather;
  ab_act act, act_in;
  layout L;
  size_t nx, ny, np;
  float *X, *Y, *dY, *P, *data, *Xin;
  int32_t *idx;
  float *wdz, *wg, *wdx, *wdxf;      /* want: dZ, G (dW and db), dX, fused dX */
  double *tdz, *tg, *tdx, *tdxf;
} bwd_io;

enum { BWD_N = 311, BWD_OFF = 6 };

static void bwd_inputs(bwd_io *io) {
  size_t nb = (size_t)io->K * io->B;
  io->P = tu_rand_buf(&rng, io->np, -0.7f, 0.7f);
  io->data = tu_rand_buf(&rng, (size_t)BWD_N * io->IN, -2, 2);
  io->idx = malloc((BWD_OFF + nb) * sizeof(int32_t));
  for (size_t i = 0; i < BWD_OFF + nb; i++) io->idx[i] = (int32_t)ab_rng_below(&rng, BWD_N);
  io->X = malloc(io->nx * sizeof(float));
  ab_ref_gather(io->X, NULL, io->data, NULL, io->idx + BWD_OFF, io->K, io->B, io->IN);
  float *z = tu_rand_buf(&rng, io->ny, -3, 3), *zi = tu_rand_buf(&rng, io->nx, -3, 3);
  io->Y = tu_act_of(z, io->ny, io->act);
  io->Xin = tu_act_of(zi, io->nx, io->act_in);
  io->dY = tu_rand_buf(&rng, io->ny, -1, 1);
  free(z); free(zi);
}

/* Reference outputs, and bounds from the same op run on absolute values. */
static void bwd_want(bwd_io *io) {
  layout L = io->L;
  io->wdz = want_buf(io->ny, 0); io->wg = want_buf(io->np, 0);
  io->wdx = want_buf(io->nx, 0); io->wdxf = want_buf(io->nx, 0);
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

static void bwd_free(bwd_io *io) {
  float *f[] = {io->X, io->Y, io->dY, io->P, io->data, io->Xin, io->wdz, io->wg, io->wdx, io->wdxf};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) free(f[i]);
  free(io->idx); free(io->tdz); free(io->tg); free(io->tdx); free(io->tdxf);
}

static void bwd_run(ab_cl_ctx *c, stats *st, bwd_io *io, const char *shape) {
  layout L = io->L;
  ab_err e;
  cl_mem dZ = dev_out(c, io->ny, 0), G = dev_out(c, io->np, 0), Gb = dev_out(c, io->np, 0);
  cl_mem dX = dev_out(c, io->nx, 0), dXf = dev_out(c, io->nx, 0), P = dev_in(c, io->P, io->np * 4);
  ab_cl_rows rows = {dev_in(c, io->X, io->nx * 4), NULL, 0, 0};
  if (io->gather) {
    rows.x = dev_in(c, io->data, (size_t)BWD_N * io->IN * 4);
    rows.idx = dev_in(c, io->idx, (BWD_OFF + (size_t)io->K * io->B) * 4);
    rows.off = BWD_OFF;
    rows.kstride = io->B;
  }
  int K = io->K, B = io->B, IN = io->IN, OUT = io->OUT;
  int rc = ab_cl_act_bwd(c, dZ, dev_in(c, io->dY, io->ny * 4), dev_in(c, io->Y, io->ny * 4),
                         io->act, (int)io->ny, &e);
  if (!rc) rc = ab_cl_linear_bwd_dw(c, G, L.woff, L.boff, dZ, rows, 0, K, B, IN, OUT, L.pstride, &e);
  if (!rc) rc = ab_cl_linear_bwd_dw(c, Gb, L.woff, L.boff, dZ, rows, 1, K, B, IN, OUT, L.pstride, &e);
  if (!rc) rc = ab_cl_linear_bwd_dx(c, dX, dZ, P, L.woff, NULL, 0, K, B, IN, OUT, L.pstride, &e);
  if (!rc)
    rc = ab_cl_linear_bwd_dx(c, dXf, dZ, P, L.woff, dev_in(c, io->Xin, io->nx * 4), io->act_in,
                             K, B, IN, OUT, L.pstride, &e);
  cr_assert_eq(rc, 0, "%s", e.msg);
  float *wgb = want_buf(io->np, 0);
  for (int k = 0; k < K; k++)
    memcpy(wgb + (size_t)k * L.pstride + L.boff, io->wg + (size_t)k * L.pstride + L.boff,
           OUT * sizeof(float));
  float *g[5] = {dev_get(c, dZ, io->ny), dev_get(c, G, io->np), dev_get(c, Gb, io->np),
                 dev_get(c, dX, io->nx), dev_get(c, dXf, io->nx)};
  st->kernel = "ab_act_bwd";
  expect_close(st, "dZ", shape, g[0], io->wdz, io->tdz, io->ny, 0);
  st->kernel = "ab_linear_bwd_dw";
  expect_close(st, "dW and db", shape, g[1], io->wg, io->tg, io->np, 0);
  expect_close(st, "db (db only)", shape, g[2], wgb, io->tg, io->np, 0);
  st->kernel = "ab_linear_bwd_dx";
  expect_close(st, "dX", shape, g[3], io->wdx, io->tdx, io->nx, 0);
  expect_close(st, "dX * act_in'(Xin)", shape, g[4], io->wdxf, io->tdxf, io->nx, 0);
  st->kernel = "backward";
  for (int i = 0; i < 5; i++) free(g[i]);
  free(wgb);
  release_all();
}

static void bwd_all(int vec) {
  ab_cl_ctx *c = open_vec_or_skip(vec);
  stats st = {"backward", 0, 0, 0, 0, 0};
  fprintf(stderr, "cl_ops AB_VEC=%d\n", c->vec);
  ab_rng_seed(&rng, 16, 1);
  for (int ri = 0; ri < NROWS; ri++)
    for (int ii = 0; ii < NWIDTHS; ii++)
      for (int oi = 0; oi < NWIDTHS; oi++)
        for (int ki = 0; ki < 2; ki++) {
          int n = ri + ii + oi + ki;
          bwd_io io;
          memset(&io, 0, sizeof io);
          io.K = KS[ki]; io.B = ROWS[ri]; io.IN = WIDTHS[ii]; io.OUT = WIDTHS[oi];
          io.gather = (n / 4) % 2;
          io.act = (ab_act)(n % 4);
          io.act_in = (ab_act)((n + 1) % 4);
          io.L = layout_of(io.IN, io.OUT);
          io.nx = (size_t)io.K * io.B * io.IN;
          io.ny = (size_t)io.K * io.B * io.OUT;
          io.np = (size_t)io.K * io.L.pstride;
          bwd_inputs(&io);
          bwd_want(&io);
          char shape[160];
          snprintf(shape, sizeof shape, "K=%d B=%d IN=%d OUT=%d act=%s act_in=%s%s", io.K, io.B,
                   io.IN, io.OUT, ab_act_name(io.act), ab_act_name(io.act_in),
                   io.gather ? " (gathered rows)" : "");
          bwd_run(c, &st, &io, shape);
          st.cases++;
          bwd_free(&io);
        }
  stats_print(&st);
  ab_cl_ctx_free(c);
}

Test(cl_ops, linear_act_bwd) { bwd_all(0); }
Test(cl_ops, linear_act_bwd_vec1) { bwd_all(1); }

static void adam_all(int vec) {
  ab_cl_ctx *c = open_vec_or_skip(vec);
  stats st = {"ab_adam", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 17, 1);
  static const int NS[] = {1, 3, 10, 100, 129, 11402};
  static const int TS[] = {1, 2, 50};
  const float lr[3] = {1e-3f, 3e-3f, 1e-2f}, wd[3] = {0.0f, 0.01f, 0.1f};
  for (int ni = 0; ni < 6; ni++)
    for (int ki = 0; ki < 2; ki++)
      for (int ti = 0; ti < 3; ti++) {
        int n = NS[ni], K = KS[ki], t = TS[ti];
        size_t kn = (size_t)K * n;
        float *p = tu_rand_buf(&rng, kn, -1, 1), *m = tu_rand_buf(&rng, kn, -0.1f, 0.1f);
        float *v = tu_rand_buf(&rng, kn, 0, 0.01f), *g = tu_rand_buf(&rng, kn, -0.5f, 0.5f);
        float *wp = want_buf(kn, 0), *wm = want_buf(kn, 0), *wv = want_buf(kn, 0);
        memcpy(wp, p, kn * 4); memcpy(wm, m, kn * 4); memcpy(wv, v, kn * 4);
        ab_ref_adam_step(wp, wm, wv, g, lr, wd, 0.9f, 0.999f, 1e-8f, t, K, kn / K);
        double *tp = malloc(kn * sizeof(double)), *tm = malloc(kn * sizeof(double));
        double *tv = malloc(kn * sizeof(double));
        for (size_t i = 0; i < kn; i++) {
          tp[i] = AB_TOL_ADAM(wp[i], fabs((double)p[i] - wp[i]));
          tm[i] = AB_TOL_FN(wm[i]) + 1e-30;
          tv[i] = AB_TOL_FN(wv[i]) + 1e-30;
        }
        float *hp = want_buf(kn, 0), *hm = want_buf(kn, 0), *hv = want_buf(kn, 0);
        memcpy(hp, p, kn * 4); memcpy(hm, m, kn * 4); memcpy(hv, v, kn * 4);
        cl_mem P = dev_in(c, hp, (kn + CANARY) * 4), M = dev_in(c, hm, (kn + CANARY) * 4);
        cl_mem V = dev_in(c, hv, (kn + CANARY) * 4);
        ab_err e;
        cr_assert_eq(ab_cl_adam(c, P, M, V, dev_in(c, g, kn * 4), dev_in(c, lr, 12),
                                dev_in(c, wd, 12), 0.9f, 0.999f, 1e-8f, t, K, n, &e), 0, "%s",
                     e.msg);
        char shape[64];
        snprintf(shape, sizeof shape, "K=%d n=%d t=%d", K, n, t);
        float *gp = dev_get(c, P, kn), *gm = dev_get(c, M, kn), *gv = dev_get(c, V, kn);
        expect_close(&st, "p", shape, gp, wp, tp, kn, 0);
        expect_close(&st, "m", shape, gm, wm, tm, kn, 0);
        expect_close(&st, "v", shape, gv, wv, tv, kn, 0);
        st.cases++;
        float *fr[] = {p, m, v, g, wp, wm, wv, hp, hm, hv, gp, gm, gv};
        for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++) free(fr[i]);
        free(tp); free(tm); free(tv);
        release_all();
      }
  stats_print(&st);
  ab_cl_ctx_free(c);
}

Test(cl_ops, adam) { adam_all(0); }
Test(cl_ops, adam_vec1) { adam_all(1); }

static void eval_case(ab_cl_ctx *c, stats *st, int K, int B, int C) {
  const int loff = 3, nslots = 3, slot = 1;
  size_t nz = (size_t)K * B * C, ns = (size_t)K * nslots;
  float *Z = tu_rand_buf(&rng, nz, -3, 3);
  int32_t *lab = malloc((loff + (size_t)B) * sizeof(int32_t));
  for (int i = 0; i < loff + B; i++) lab[i] = (int32_t)ab_rng_below(&rng, C);
  double ls[3] = {0, 0, 0};
  int64_t cc[3] = {0, 0, 0};
  ab_ref_eval(ls, cc, Z, lab + loff, K, B, C);
  float *wl = want_buf(ns, 0), *wc = want_buf(ns, 1);
  double *tl = malloc(ns * sizeof(double));
  for (size_t i = 0; i < ns; i++) tl[i] = 0;
  for (int k = 0; k < K; k++) {
    wl[k * nslots + slot] = (float)ls[k];
    ((int32_t *)wc)[k * nslots + slot] = (int32_t)cc[k];
    tl[k * nslots + slot] = AB_TOL_EVAL(B, ls[k]);
  }
  cl_mem Pl = dev_out(c, ns, 0), Pc = dev_out(c, ns, 1);
  ab_err e;
  cr_assert_eq(ab_cl_eval(c, Pl, Pc, slot, nslots, dev_in(c, Z, nz * 4),
                          dev_in(c, lab, (loff + (size_t)B) * 4), loff, K, B, C, &e), 0, "%s",
               e.msg);
  char shape[64];
  snprintf(shape, sizeof shape, "K=%d B=%d C=%d", K, B, C);
  float *gl = dev_get(c, Pl, ns), *gc = dev_get(c, Pc, ns);
  expect_close(st, "loss sum", shape, gl, wl, tl, ns, 0);
  expect_close(st, "correct count", shape, gc, wc, NULL, ns, 1);
  st->cases++;
  free(Z); free(lab); free(wl); free(wc); free(tl); free(gl); free(gc);
  release_all();
}

Test(cl_ops, eval) {
  ab_cl_ctx *c = open_or_skip();
  stats st = {"ab_eval", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 18, 1);
  static const int CS[] = {2, 3, 10};
  for (int ri = 0; ri < NROWS; ri++)
    for (int ci = 0; ci < 3; ci++)
      for (int ki = 0; ki < 2; ki++) eval_case(c, &st, KS[ki], ROWS[ri], CS[ci]);
  eval_case(c, &st, 3, 4099, 2); /* more rows than any work-group */
  stats_print(&st);
  ab_cl_ctx_free(c);
}

Test(cl_ops, prob1) {
  ab_cl_ctx *c = open_or_skip();
  stats st = {"ab_prob1", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 19, 1);
  for (int ri = 0; ri < NROWS; ri++)
    for (int ki = 0; ki < 2; ki++) {
      int K = KS[ki], B = ROWS[ri], poff = 2, pks = B + 5;
      size_t nz = (size_t)K * B * 2, np = (size_t)(K * pks);
      float *Z = tu_rand_buf(&rng, nz, -6, 6), *pr = malloc((size_t)K * B * sizeof(float));
      ab_ref_prob1(pr, Z, K, B);
      float *want = want_buf(np, 0);
      double *tol = malloc((np + CANARY) * sizeof(double));
      for (size_t i = 0; i < np; i++) tol[i] = 0;
      for (int k = 0; k < K; k++)
        for (int i = 0; i < B; i++) {
          size_t o = (size_t)k * pks + poff + i;
          want[o] = pr[(size_t)k * B + i];
          tol[o] = AB_TOL_FN(want[o]) + 1e-30;
        }
      cl_mem P = dev_out(c, np, 0);
      ab_err e;
      cr_assert_eq(ab_cl_prob1(c, P, poff, pks, dev_in(c, Z, nz * 4), K, B, &e), 0, "%s", e.msg);
      char shape[64];
      snprintf(shape, sizeof shape, "K=%d B=%d", K, B);
      float *got = dev_get(c, P, np);
      expect_close(&st, "prob", shape, got, want, tol, np, 0);
      st.cases++;
      free(Z); free(pr); free(want); free(tol); free(got);
      release_all();
    }
  stats_print(&st);
  ab_cl_ctx_free(c);
}

/* A kernel build failure must come back as an error carrying the build log. */
Test(cl_ops, build_failure_reports_log) {
  ab_cl_ctx *c = open_or_skip();
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
