/* The op adam_step (Adam, AdamW with wd > 0, over K flat buffers; ref.h): the reference
 * by hand, the fast CPU path (bit for bit with the generic and AVX2 kernels; the AVX-512
 * parameter update, which avoids the divider, within AB_TOL_ADAM, its m and v bit for
 * bit), and the OpenCL
 * kernel (kernels/adam_step.cl) against the reference, margins from tolerance.h,
 * sentinel and canary as in test_op_linear_act_fwd.c. */
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

Test(adam_step, ref_first_step_by_hand) {
  /* at t = 1 with bias correction, the step is lr * g / (|g| + eps) = lr * sign(g) */
  float p[3] = {1, 1, 1}, m[3] = {0}, v[3] = {0}, g[3] = {0.5f, -2, 0}, lr = 0.1f, wd = 0;
  ab_ref_adam_step(p, m, v, g, &lr, &wd, 0.9f, 0.999f, 1e-8f, 1, 1, 3);
  cr_assert_float_eq(p[0], 0.9f, 1e-6);
  cr_assert_float_eq(p[1], 1.1f, 1e-6);
  cr_assert_float_eq(p[2], 1.0f, 1e-7);
  cr_assert_float_eq(m[1], -0.2f, 1e-7);
  cr_assert_float_eq(v[1], 0.004f, 1e-7);
  /* AdamW: decoupled decay p -= lr * wd * p */
  float q = 2, mq = 0, vq = 0, gq = 0, wdq = 0.5f;
  ab_ref_adam_step(&q, &mq, &vq, &gq, &lr, &wdq, 0.9f, 0.999f, 1e-8f, 1, 1, 1);
  cr_assert_float_eq(q, 2.0f - 0.1f * 0.5f * 2.0f, 1e-6);
}

/* ---- the fast CPU path ---- */

Test(adam_step, cpu_is_bit_identical) {
  static const size_t NS[] = {1, 7, 93, 100, 257, 11302};
  static const int TS[] = {1, 2, 1000};
  ab_cpu_isa is[3];
  int ni = to_isas(is);
  ab_rng_seed(&rng, 23, 1);
  for (int q = 0; q < ni; q++) {
    char name[64];
    to_stats st = {.name = to_label(name, sizeof name, "adam_step", is[q])};
    for (int ni2 = 0; ni2 < 6; ni2++)
      for (int ki = 0; ki < 2; ki++)
        for (int ti = 0; ti < 3; ti++) {
          int K = TO_KS[ki];
          size_t n = NS[ni2], kn = (size_t)K * n;
          float lr[3] = {1e-3f, 3e-2f, 1e-4f}, wd[3] = {0.0f, 0.01f, 0.1f};
          float *p = tu_rand_buf(&rng, kn, -1, 1), *m = tu_rand_buf(&rng, kn, -0.1f, 0.1f);
          float *v = tu_rand_buf(&rng, kn, 0, 0.01f), *g = tu_rand_buf(&rng, kn, -1, 1);
          float *wp = to_out_buf(kn, 0), *wm = to_out_buf(kn, 0), *wv = to_out_buf(kn, 0);
          float *gp = to_out_buf(kn, 0), *gm = to_out_buf(kn, 0), *gv = to_out_buf(kn, 0);
          memcpy(wp, p, kn * 4); memcpy(wm, m, kn * 4); memcpy(wv, v, kn * 4);
          memcpy(gp, p, kn * 4); memcpy(gm, m, kn * 4); memcpy(gv, v, kn * 4);
          ab_ref_adam_step(wp, wm, wv, g, lr, wd, 0.9f, 0.999f, 1e-8f, TS[ti], K, n);
          ab_cpu_adam_step(is[q], gp, gm, gv, g, lr, wd, 0.9f, 0.999f, 1e-8f, TS[ti], K, n);
          char shape[96];
          snprintf(shape, sizeof shape, "%s K=%d n=%zu t=%d", ab_cpu_isa_name(is[q]), K, n, TS[ti]);
          double *tp = malloc(kn * sizeof *tp);
          for (size_t i = 0; i < kn; i++) tp[i] = AB_TOL_ADAM(wp[i], fabs((double)p[i] - wp[i]));
          to_expect_close(&st, "p", shape, gp, wp, is[q] == AB_CPU_ISA_AVX512 ? tp : NULL, kn, 0);
          free(tp);
          to_expect_close(&st, "m", shape, gm, wm, NULL, kn, 0);
          to_expect_close(&st, "v", shape, gv, wv, NULL, kn, 0);
          st.cases++;
          free(p); free(m); free(v); free(g); free(wp); free(wm); free(wv);
          free(gp); free(gm); free(gv);
        }
    to_stats_print("cpu", &st);
  }
}

/* Lanes where the AVX-512 Adam's square root is special (src/cpu/kern_avx512.c,
 * rden16: zero, and rsqrt14 floored at FLT_MIN below it): second moments of 0,
 * below FLT_MIN and around it, with zero and tiny gradients, plain Adam and AdamW:
 * every ISA within AB_TOL_ADAM of the reference (generic bit for bit), m and v bit for
 * bit; a NaN gradient gives NaN parameters as in the reference. */
Test(adam_step, cpu_special_lanes) {
  static const float V[] = {0.0f, 1e-45f, 1e-39f, 1.17549435e-38f, 2e-38f, 1e-30f, 1e-16f, 0.01f};
  static const float G[] = {0.0f, 1e-30f, 1e-20f, -3e-5f};
  enum { NV = 8, NG = 4, N = NV * NG + 5 };
  ab_cpu_isa is[3];
  int ni = to_isas(is);
  for (int q = 0; q < ni; q++)
    for (int w = 0; w < 2; w++) {
      float p[N], m[N], v[N], g[N], wp[N], wm[N], wv[N], lr = 1e-3f, wd = w ? 0.01f : 0.0f;
      for (int i = 0; i < N; i++) {
        p[i] = 0.5f - 0.03f * (float)i;
        m[i] = i % 3 ? 0.0f : 1e-6f * (float)i;
        v[i] = V[i % NV];
        g[i] = G[(i / NV) % NG];
      }
      g[N - 1] = NAN;
      memcpy(wp, p, sizeof p); memcpy(wm, m, sizeof m); memcpy(wv, v, sizeof v);
      float p0[N];
      memcpy(p0, p, sizeof p);
      ab_ref_adam_step(wp, wm, wv, g, &lr, &wd, 0.9f, 0.999f, 1e-8f, 3, 1, N);
      ab_cpu_adam_step(is[q], p, m, v, g, &lr, &wd, 0.9f, 0.999f, 1e-8f, 3, 1, N);
      for (int i = 0; i < N; i++) {
        cr_assert(isnan(p[i]) == isnan(wp[i]), "%s wd %g lane %d: p %g, reference %g",
                  ab_cpu_isa_name(is[q]), wd, i, p[i], wp[i]);
        cr_assert(memcmp(&m[i], &wm[i], 4) == 0 && memcmp(&v[i], &wv[i], 4) == 0,
                  "%s lane %d: m or v differs", ab_cpu_isa_name(is[q]), i);
        if (isnan(wp[i])) continue;
        double tol = is[q] == AB_CPU_ISA_GENERIC ? 0.0 : AB_TOL_ADAM(wp[i], fabs((double)p0[i] - wp[i]));
        cr_assert(fabs((double)p[i] - wp[i]) <= tol, "%s wd %g lane %d (v %g, g %g): p %.9g, "
                  "reference %.9g", ab_cpu_isa_name(is[q]), wd, i, V[i % NV], g[i], p[i], wp[i]);
      }
    }
}

/* ---- OpenCL ---- */

static void cl_adam_all(int vec, int split) {
  ab_cl_ctx *c = to_cl_open(vec);
  c->split = split;
  to_stats st = {"ab_adam", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 17, 1);
  static const int NS[] = {1, 3, 10, 100, 129, 11402};
  static const int TS[] = {1, 2, 50};
  const float lr[3] = {1e-3f, 3e-3f, 1e-2f}, wd[3] = {0.0f, 0.01f, 0.1f};
  for (int ni = 0; ni < 6; ni++)
    for (int ki = 0; ki < 2; ki++)
      for (int ti = 0; ti < 3; ti++) {
        int n = NS[ni], K = TO_KS[ki], t = TS[ti];
        size_t kn = (size_t)K * n;
        float *p = tu_rand_buf(&rng, kn, -1, 1), *m = tu_rand_buf(&rng, kn, -0.1f, 0.1f);
        float *v = tu_rand_buf(&rng, kn, 0, 0.01f), *g = tu_rand_buf(&rng, kn, -0.5f, 0.5f);
        float *wp = to_out_buf(kn, 0), *wm = to_out_buf(kn, 0), *wv = to_out_buf(kn, 0);
        memcpy(wp, p, kn * 4); memcpy(wm, m, kn * 4); memcpy(wv, v, kn * 4);
        ab_ref_adam_step(wp, wm, wv, g, lr, wd, 0.9f, 0.999f, 1e-8f, t, K, kn / K);
        double *tp = malloc(kn * sizeof(double)), *tm = malloc(kn * sizeof(double));
        double *tv = malloc(kn * sizeof(double));
        for (size_t i = 0; i < kn; i++) {
          tp[i] = AB_TOL_ADAM(wp[i], fabs((double)p[i] - wp[i]));
          tm[i] = AB_TOL_FN(wm[i]) + 1e-30;
          tv[i] = AB_TOL_FN(wv[i]) + 1e-30;
        }
        float *hp = to_out_buf(kn, 0), *hm = to_out_buf(kn, 0), *hv = to_out_buf(kn, 0);
        memcpy(hp, p, kn * 4); memcpy(hm, m, kn * 4); memcpy(hv, v, kn * 4);
        cl_mem P = to_cl_in(c, hp, (kn + TO_CANARY) * 4), M = to_cl_in(c, hm, (kn + TO_CANARY) * 4);
        cl_mem V = to_cl_in(c, hv, (kn + TO_CANARY) * 4);
        ab_err e;
        cr_assert_eq(ab_cl_adam_step(c, P, M, V, to_cl_in(c, g, kn * 4), to_cl_in(c, lr, 12),
                                to_cl_in(c, wd, 12), 0.9f, 0.999f, 1e-8f, t, K, n, &e), 0, "%s",
                     e.msg);
        char shape[64];
        snprintf(shape, sizeof shape, "K=%d n=%d t=%d", K, n, t);
        float *gp = to_cl_get(c, P, kn), *gm = to_cl_get(c, M, kn), *gv = to_cl_get(c, V, kn);
        to_expect_close(&st, "p", shape, gp, wp, tp, kn, 0);
        to_expect_close(&st, "m", shape, gm, wm, tm, kn, 0);
        to_expect_close(&st, "v", shape, gv, wv, tv, kn, 0);
        st.cases++;
        float *fr[] = {p, m, v, g, wp, wm, wv, hp, hm, hv, gp, gm, gv};
        for (size_t i = 0; i < sizeof fr / sizeof fr[0]; i++) free(fr[i]);
        free(tp); free(tm); free(tv);
        to_cl_release_all();
      }
  to_stats_print("cl", &st);
  ab_cl_ctx_free(c);
}

Test(adam_step, opencl) { cl_adam_all(0, 0); }
Test(adam_step, opencl_vec1) { cl_adam_all(1, 0); }
/* the split per-op form: the same kernel in groups of 64 */
Test(adam_step, opencl_split) { cl_adam_all(1, 1); }
