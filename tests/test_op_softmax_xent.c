/* The op softmax_xent (loss and dlogits = (softmax - onehot) / B, ref.h) and the one
 * log-sum-exp row every softmax uses (ab_ref_lse_row, common.cl's ab_lse_row_*): the
 * reference by hand, the fast CPU path (bit for bit; its 2-class row kernel xent2, the
 * threaded epoch's, within AB_TOL_CPU_XENT_* on AVX2 and AVX-512), and the OpenCL kernel
 * (kernels/softmax_xent.cl) against the reference on awkward sizes, margins from
 * tolerance.h, sentinel and canary as in test_op_linear_act_fwd.c. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/ref.h"
#include "abgpu/rng.h"
#include "cpu/kern.h"
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

/* ---- the fast CPU path's 2-class rows (kern.h xent2, the threaded epoch's loss) ---- */

/* Logits of awkward rows: ties, near-ties, signed zeros, a subnormal, differences about
 * where exp underflows (-87.3 normal, -103.9 subnormal, -104 zero) and beyond, sums that
 * overflow, and every kind of non-finite logit. */
static const float AWKWARD[][2] = {
    {0, 0}, {5, 5}, {-3e38f, -3e38f}, {1.0f, 1.00000012f}, {-0.0f, 0.0f}, {1e-40f, 0},
    {1e4f, -1e4f}, {-1e4f, 1e4f}, {87.3f, 0}, {0, -87.7f}, {-88, 0}, {0, -100},
    {-103.9f, 0}, {0, -104}, {0, -200}, {3e38f, -3e38f}, {-3e38f, 3e38f}, {INFINITY, 0},
    {0, INFINITY}, {-INFINITY, 0}, {0, -INFINITY}, {NAN, 0}, {0, NAN}, {INFINITY, INFINITY},
    {INFINITY, -INFINITY}, {-INFINITY, -INFINITY}, {NAN, NAN}};
#define NAWK ((int)(sizeof AWKWARD / sizeof AWKWARD[0]))

typedef struct xrows {
  int n, ld;      /* rows; floats from one row's logits (and dlogits) to the next */
  float *z, *zp;  /* [n][ld] for the kernel, [n][2] packed for the reference */
  int32_t *lab;
  float *wl, *wd; /* the reference's loss [n] and dlogits [n][ld] (sentinel gaps) */
  double *tl, *td;
} xrows;

/* n rows of random logits, in [-30, 30] and [-1, 1] by turns (where log's rounding
 * shows in the loss), or (awkward) the awkward ones from offset n. */
static void xrows_make(xrows *x, int n, int ld, int awkward) {
  *x = (xrows){n, ld, to_out_buf((size_t)n * ld, 0), malloc(n * 2 * sizeof(float)),
               malloc(n * sizeof(int32_t)), to_out_buf(n, 0), to_out_buf((size_t)n * ld, 0),
               calloc(n, sizeof(double)), calloc((size_t)n * ld, sizeof(double))};
  float *wd = malloc(n * 2 * sizeof(float));
  for (int i = 0; i < n; i++) {
    for (int c = 0; c < 2; c++)
      x->zp[2 * i + c] = awkward ? AWKWARD[(i + n) % NAWK][c]
                                 : (float)((ab_rng_uniform(&rng) - 0.5) * (i % 2 ? 2 : 60));
    x->z[i * ld] = x->zp[2 * i];
    x->z[i * ld + 1] = x->zp[2 * i + 1];
    x->lab[i] = (int32_t)ab_rng_below(&rng, 2);
  }
  ab_ref_softmax_xent(x->wl, wd, x->zp, x->lab, 1, n, 2);
  for (int i = 0; i < n; i++) {
    double zmax = fmax(fabs(x->zp[2 * i]), fabs(x->zp[2 * i + 1]));
    x->tl[i] = AB_TOL_CPU_XENT_LOSS(zmax);
    for (int c = 0; c < 2; c++) {
      x->wd[i * ld + c] = wd[2 * i + c];
      x->td[i * ld + c] = AB_TOL_CPU_XENT_D((double)n);
    }
  }
  free(wd);
}

static void xrows_free(xrows *x) {
  free(x->z); free(x->zp); free(x->lab); free(x->wl); free(x->wd); free(x->tl); free(x->td);
}

/* Rows the reference makes non-finite (a non-finite logit, or a loss that overflows)
 * must be its bits (the kernel hands them to cpu_xent_row or computes the same
 * overflow); they are checked here, then both sides hold the sentinel there, so that
 * to_expect_close holds the other rows to their tolerances and checks gaps and canary. */
static void expect_exact_rows(const xrows *x, float *gl, float *gd, float *wl, float *wd,
                              const char *who, const char *shape) {
  for (int i = 0; i < x->n; i++) {
    float *g[3] = {gl + i, gd + (size_t)i * x->ld, gd + (size_t)i * x->ld + 1};
    float *w[3] = {wl + i, wd + (size_t)i * x->ld, wd + (size_t)i * x->ld + 1};
    int exact = !isfinite(x->zp[2 * i]) || !isfinite(x->zp[2 * i + 1]);
    for (int q = 0; q < 3; q++) exact |= !isfinite(*w[q]);
    if (!exact) continue;
    for (int q = 0; q < 3; q++) {
      cr_assert(memcmp(g[q], w[q], sizeof(float)) == 0, "xent2 %s, %s: row %d (logits %g, %g, "
                "label %d) output %d: %.9g, reference %.9g (must be bit-identical)", who,
                shape, i, x->zp[2 * i], x->zp[2 * i + 1], x->lab[i], q, *g[q], *w[q]);
      *g[q] = *w[q] = TO_SENTINEL;
    }
  }
}

/* One ISA's kernel on x: loss and dlogits against the reference (bit for bit on generic);
 * loss alone (d NULL) the same bits. Returns the outputs [loss | dlogits] for the AVX2 vs
 * AVX-512 comparison. */
static float *xent2_case(to_stats *sl, to_stats *sd, ab_cpu_isa isa, const xrows *x,
                         const char *shape) {
  const cpu_kern *kt = cpu_kern_get(isa);
  size_t nd = (size_t)x->n * x->ld;
  float *gl = to_out_buf(x->n, 0), *gd = to_out_buf(nd, 0), *g2 = to_out_buf(x->n, 0);
  kt->xent2(gl, gd, x->ld, x->z, x->ld, x->lab, x->n, (float)x->n);
  kt->xent2(g2, NULL, 0, x->z, x->ld, x->lab, x->n, (float)x->n);
  cr_assert(memcmp(g2, gl, (x->n + TO_CANARY) * sizeof(float)) == 0,
            "xent2 %s, %s: the loss without dlogits differs", ab_cpu_isa_name(isa), shape);
  float *out = malloc((x->n + nd) * sizeof(float));
  memcpy(out, gl, x->n * sizeof(float));
  memcpy(out + x->n, gd, nd * sizeof(float));
  float *wl = to_out_buf(x->n, 0), *wd = to_out_buf(nd, 0);
  memcpy(wl, x->wl, (x->n + TO_CANARY) * sizeof(float));
  memcpy(wd, x->wd, (nd + TO_CANARY) * sizeof(float));
  int generic = isa == AB_CPU_ISA_GENERIC;
  if (!generic) expect_exact_rows(x, gl, gd, wl, wd, ab_cpu_isa_name(isa), shape);
  to_expect_close(sl, "loss", shape, gl, wl, generic ? NULL : x->tl, x->n, 0);
  to_expect_close(sd, "dlogits", shape, gd, wd, generic ? NULL : x->td, nd, 0);
  sl->cases++;
  sd->cases++;
  free(gl); free(gd); free(g2); free(wl); free(wd);
  return out;
}

/* Every ISA this CPU has on rows 1-100 (the tails of 8- and 16-row vectors), packed
 * (ld 2, the op's layout) and padded (ld 16, the threaded epoch's), random and awkward
 * logits; AVX-512 bit for bit as AVX2 where the CPU has both. */
Test(softmax_xent, cpu_xent2_rows) {
  static const int NS[] = {1, 7, 8, 9, 15, 16, 17, 100}, LDS[] = {2, 16};
  ab_cpu_isa is[3];
  int ni = to_isas(is), both = 0;
  to_stats sl[3], sd[3];
  char names[3][2][32];
  for (int q = 0; q < ni; q++) {
    sl[q] = (to_stats){to_label(names[q][0], 32, "xent2 loss", is[q]), 0, 0, 0, 0, 0};
    sd[q] = (to_stats){to_label(names[q][1], 32, "xent2 dlogits", is[q]), 0, 0, 0, 0, 0};
  }
  ab_rng_seed(&rng, 31, 1);
  for (int ni8 = 0; ni8 < 8; ni8++)
    for (int li = 0; li < 2; li++)
      for (int awk = 0; awk < 2; awk++) {
        xrows x;
        xrows_make(&x, NS[ni8], LDS[li], awk);
        char shape[64];
        snprintf(shape, sizeof shape, "n=%d ld=%d %s", x.n, x.ld, awk ? "awkward" : "random");
        float *out[3] = {NULL, NULL, NULL}, *avx2 = NULL;
        for (int q = 0; q < ni; q++) {
          out[q] = xent2_case(&sl[q], &sd[q], is[q], &x, shape);
          if (is[q] == AB_CPU_ISA_AVX2) avx2 = out[q];
          if (is[q] == AB_CPU_ISA_AVX512 && avx2) {
            size_t nb = (x.n + (size_t)x.n * x.ld) * sizeof(float);
            cr_assert(memcmp(out[q], avx2, nb) == 0, "xent2, %s: AVX-512 differs from AVX2 "
                      "(must be bit-identical)", shape);
            both = 1;
          }
        }
        for (int q = 0; q < ni; q++) free(out[q]);
        xrows_free(&x);
      }
  for (int q = 0; q < ni; q++) {
    to_stats_print("cpu", &sl[q]);
    to_stats_print("cpu", &sd[q]);
  }
  if (!both) fprintf(stderr, "cpu: SKIPPED xent2 AVX-512 vs AVX2: this CPU lacks one\n");
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
