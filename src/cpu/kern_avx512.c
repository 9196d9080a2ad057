/* AVX-512 kernels (AVX512F + AVX512VL + FMA). CMake compiles this file alone with those
 * flags (and -ffp-contract=off); it is called only after ab_cpu_isa_resolve has seen the
 * CPU and the OS support them. Register tiles of 5 rows x 64 columns (4 zmm per row, 20
 * accumulators), or 10 rows x 32 or 16 for narrow or edge columns. Every output is the
 * same fma chain over k in increasing order as in the AVX2 kernels (the dot columns:
 * the same lane chains and tree, kern.h), and the epilogues
 * and the vector exp use the AVX2 kernels' operations in their order, so the two
 * instruction sets give the same bits everywhere but in Adam's parameter update (adam16:
 * within AB_TOL_ADAM of the reference; m and v are the same bits). */
#include "kern.h"
#ifdef ABGPU_CPU_HAVE_AVX512
#include <immintrin.h>
#include <stdalign.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))
#define VW 16    /* floats per vector */
#define NVMAX 4  /* vectors per row of a wide tile: 64 columns */
#define MRW 5    /* rows of a 3- or 4-vector tile (at most 20 accumulators) */
#define MRN 10   /* rows of a 1- or 2-vector tile */

INLINE __mmask16 tail_mask(int n) { return (__mmask16)(n ? (1u << n) - 1u : 0xFFFFu); }

INLINE __m512 ld(const float *p, int masked, __mmask16 k) {
  return masked ? _mm512_maskz_loadu_ps(k, p) : _mm512_loadu_ps(p);
}

INLINE void st(float *p, __m512 x, int masked, __mmask16 k) {
  if (masked) _mm512_mask_storeu_ps(p, k, x);
  else _mm512_storeu_ps(p, x);
}

INLINE __m512 v1(float x) { return _mm512_set1_ps(x); }

/* Bitwise and / or of floats with AVX512F alone (the _ps forms need AVX512DQ). */
INLINE __m512 and_ps(__m512 a, __m512 b) {
  return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
INLINE __m512 or_ps(__m512 a, __m512 b) {
  return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
INLINE __m512 andnot_ps(__m512 a, __m512 b) {
  return _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}

/* exp's core, as Cephes expf: n = floor(x log2 e + 1/2), the reduced x, and the
 * polynomial; returns the mantissa part y (exp(x) = y 2^n) and n. */
INLINE __m512 exp_core16(__m512 x, __m512 *np) {
  __m512 n = _mm512_roundscale_ps(_mm512_fmadd_ps(x, v1(1.44269504088896341f), v1(0.5f)),
                                  _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  x = _mm512_fnmadd_ps(n, v1(0.693359375f), x);
  x = _mm512_fnmadd_ps(n, v1(-2.12194440e-4f), x);
  __m512 y = v1(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, x, v1(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, x, v1(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, x, v1(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, x, v1(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, x, v1(5.0000001201e-1f));
  y = _mm512_fmadd_ps(y, _mm512_mul_ps(x, x), x);
  y = _mm512_add_ps(y, v1(1.0f));
  *np = n;
  return y;
}

/* exp as the AVX2 kernels' exp8 (Cephes expf polynomial), operation for operation. */
INLINE __m512 exp16(__m512 x) {
  x = _mm512_min_ps(v1(88.0f), x);
  x = _mm512_max_ps(v1(-88.0f), x);
  __m512 n, y = exp_core16(x, &n);
  __m512i e = _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127));
  e = _mm512_slli_epi32(e, 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}

/* tanh as the AVX2 kernels' tanh8. */
INLINE __m512 tanh16(__m512 x) {
  const __m512 sign = v1(-0.0f), one = v1(1.0f);
  __m512 ax = andnot_ps(sign, x), z = _mm512_mul_ps(x, x);
  __m512 p = v1(-5.70498872745e-3f);
  p = _mm512_fmadd_ps(p, z, v1(2.06390887954e-2f));
  p = _mm512_fmadd_ps(p, z, v1(-5.37397155531e-2f));
  p = _mm512_fmadd_ps(p, z, v1(1.33314422036e-1f));
  p = _mm512_fmadd_ps(p, z, v1(-3.33332819422e-1f));
  __m512 small = _mm512_fmadd_ps(_mm512_mul_ps(p, z), x, x);
  __m512 e = exp16(_mm512_add_ps(ax, ax));
  __m512 big = _mm512_sub_ps(one, _mm512_div_ps(v1(2.0f), _mm512_add_ps(e, one)));
  big = or_ps(big, and_ps(sign, x));
  return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(ax, v1(0.625f), _CMP_LT_OQ), big, small);
}

/* 1 / (1 + exp16(-z)) with 4 fewer operations and the same bits (checked on all 2^32
 * inputs): z is clamped instead of -z and the negation folded into the fmas (u = -x
 * throughout: RN is symmetric, so each step is the old one negated exactly); 2^n is
 * applied by scalef, which differs from exp16's built exponent only at n = -127
 * (x = -88), where scalef gives a subnormal and exp16 0, and 1 + either is 1. */
INLINE __m512 sigm16(__m512 z) {
  const __m512 one = v1(1.0f);
  z = _mm512_min_ps(v1(88.0f), _mm512_max_ps(v1(-88.0f), z));
  __m512 n = _mm512_roundscale_ps(_mm512_fnmadd_ps(z, v1(1.44269504088896341f), v1(0.5f)),
                                  _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  __m512 u = _mm512_fmadd_ps(n, v1(0.693359375f), z);
  u = _mm512_fmadd_ps(n, v1(-2.12194440e-4f), u);
  __m512 y = v1(1.9875691500e-4f);
  y = _mm512_fnmadd_ps(y, u, v1(1.3981999507e-3f));
  y = _mm512_fnmadd_ps(y, u, v1(8.3334519073e-3f));
  y = _mm512_fnmadd_ps(y, u, v1(4.1665795894e-2f));
  y = _mm512_fnmadd_ps(y, u, v1(1.6666665459e-1f));
  y = _mm512_fnmadd_ps(y, u, v1(5.0000001201e-1f));
  y = _mm512_add_ps(_mm512_fmsub_ps(y, _mm512_mul_ps(u, u), u), one);
  return _mm512_div_ps(one, _mm512_add_ps(one, _mm512_scalef_ps(y, n)));
}

INLINE __m512 act16(ab_act a, __m512 z) {
  switch (a) {
    case AB_ACT_RELU: return _mm512_max_ps(z, _mm512_setzero_ps()); /* NaN -> 0 as ref */
    case AB_ACT_SIGMOID: return sigm16(z);
    case AB_ACT_TANH: return tanh16(z);
    default: return z;
  }
}

/* act'(y) exactly as ab_act_grad_from_y computes it. */
INLINE __m512 dact16(ab_act a, __m512 y) {
  const __m512 one = v1(1.0f);
  switch (a) {
    case AB_ACT_RELU:
      return _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_GT_OQ), one);
    case AB_ACT_SIGMOID: return _mm512_mul_ps(y, _mm512_sub_ps(one, y));
    case AB_ACT_TANH: return _mm512_sub_ps(one, _mm512_mul_ps(y, y));
    default: return one;
  }
}

/* 1 / (sqrt(u) + eps) for u >= 0, eps > 0, with no divide or square-root instruction:
 * sqrt(u) = u * rsqrt14 after one Newton step (~2^-27 relative), then rcp14 and one
 * Newton step (~2^-27). rsqrt14 takes max(u, FLT_MIN): below FLT_MIN, where it is not
 * trusted, sqrt(u) < 1.1e-19 is under half an ulp of eps = AB_ADAM_EPS (1e-8: 4e-16), so
 * den is eps either way; u = 0 gives eps, NaN stays NaN. */
INLINE __m512 rden16(__m512 u, float eps) {
  __m512 y = _mm512_rsqrt14_ps(_mm512_max_ps(u, v1(1.17549435e-38f))), s = _mm512_mul_ps(u, y);
  __m512 t = _mm512_fnmadd_ps(s, y, v1(3.0f));            /* 2 x the Newton factor */
  __m512 den = _mm512_fmadd_ps(_mm512_mul_ps(s, t), v1(0.5f), v1(eps));
  __m512 r = _mm512_rcp14_ps(den);
  return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(den, r, v1(1.0f)), r);
}

/* Adam on 16 floats: m and v with the reference's operations in its order (the same
 * bits); the parameter's update with no divide or square-root instruction (rden16, and
 * 1/c2 as a multiply), within AB_TOL_ADAM of the reference's. Those two divides and a
 * square root per vector kept the divider, not the FMA units, busy. */
INLINE void adam_regs(__m512 *pv, __m512 *mv, __m512 *vv, __m512 g, const cpu_adam *c) {
  *mv = _mm512_add_ps(_mm512_mul_ps(v1(c->b1), *mv), _mm512_mul_ps(v1(c->omb1), g));
  *vv = _mm512_add_ps(_mm512_mul_ps(v1(c->b2), *vv), _mm512_mul_ps(_mm512_mul_ps(v1(c->omb2), g), g));
  __m512 r = rden16(_mm512_mul_ps(*vv, v1(c->rc2)), c->eps);
  __m512 upd = _mm512_fmadd_ps(_mm512_mul_ps(v1(c->step), *mv), r,
                               _mm512_mul_ps(v1(c->decay), *pv));
  *pv = _mm512_sub_ps(*pv, upd);
}

INLINE void adam16(float *p, float *m, float *v, __m512 g, const cpu_adam *c, int masked,
                   __mmask16 k) {
  __m512 mv = ld(m, masked, k), vv = ld(v, masked, k), pv = ld(p, masked, k);
  adam_regs(&pv, &mv, &vv, g, c);
  st(m, mv, masked, k);
  st(v, vv, masked, k);
  st(p, pv, masked, k);
}

/* The epilogue of a finished tile at (i0, j0) whose sums were spilled to acc (row r's
 * vector v at acc + r*64 + v*16); the last vector of a row is masked when msk. One loop
 * per kind, so that the long latency chains of successive vectors overlap. */
static void ep_tile(const cpu_mm *mp, int i0, int j0, int mr, int nv, int msk, __mmask16 mask,
                    const float *acc) {
  const cpu_mm mc = *mp, *m = &mc; /* a local copy: the stores cannot alias its fields */
  if (m->ep == CPU_EP_ADAM) { /* locals: the stores cannot alias them, so none is reloaded */
    const cpu_adam c = *m->adam;
    float *P = m->P, *Mo = m->Mo, *V = m->V;
    const ptrdiff_t ldp = m->ldp;
    for (int r = 0; r < mr; r++)
      for (int v = 0; v < nv; v++) {
        ptrdiff_t o = (i0 + r) * ldp + j0 + VW * v;
        adam16(P + o, Mo + o, V + o, _mm512_load_ps(acc + r * 64 + v * VW), &c,
               msk && v == nv - 1, mask);
      }
    return;
  }
  if (m->ep == CPU_EP_ACT && m->act == AB_ACT_SIGMOID) { /* its own loop: ~5% faster */
    for (int r = 0; r < mr; r++)
      for (int v = 0; v < nv; v++) {
        int mk = msk && v == nv - 1;
        __m512 s = act16(AB_ACT_SIGMOID, _mm512_load_ps(acc + r * 64 + v * VW));
        st(m->C + (i0 + r) * m->ldc + j0 + VW * v, s, mk, mask);
      }
    return;
  }
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++) {
      int mk = msk && v == nv - 1, i = i0 + r, j = j0 + VW * v;
      __m512 s = _mm512_load_ps(acc + r * 64 + v * VW);
      if (m->ep == CPU_EP_ACT) s = act16(m->act, s);
      if (m->ep == CPU_EP_DACT)
        s = _mm512_mul_ps(s, dact16(m->act, ld(m->Y + i * m->ldy + j, mk, mask)));
      st(m->C + i * m->ldc + j, s, mk, mask);
    }
}

/* Epilogues cheap enough to apply straight from the registers. */
enum { EPK_STORE, EPK_RELU, EPK_DACT, EPK_HEAVY };

static int ep_kind(const cpu_mm *m) {
  switch (m->ep) {
    case CPU_EP_STORE: return EPK_STORE;
    case CPU_EP_ACT:
      return m->act == AB_ACT_RELU ? EPK_RELU : m->act == AB_ACT_IDENTITY ? EPK_STORE : EPK_HEAVY;
    case CPU_EP_DACT: return EPK_DACT;
    default: return EPK_HEAVY;
  }
}

INLINE void ep_light(const cpu_mm *m, int kind, int i, int j, __m512 s, int mk, __mmask16 k) {
  if (kind == EPK_RELU) s = _mm512_max_ps(s, _mm512_setzero_ps()); /* NaN -> 0 as ref */
  if (kind == EPK_DACT) s = _mm512_mul_ps(s, dact16(m->act, ld(m->Y + i * m->ldy + j, mk, k)));
  st(m->C + i * m->ldc + j, s, mk, k);
}

/* One register tile of mr rows x nv vectors (compile-time constants once inlined): named
 * accumulators, so that they stay in registers; v is masked when it is the last and msk. */
#define LAST(v) (msk && nv == (v) + 1)
#define ACC_DECL(r) __m512 c##r##0 = iv0, c##r##1 = iv1, c##r##2 = iv2, c##r##3 = iv3;
#define ACC_ROW(r)                                              \
  if (mr > r) {                                                 \
    __m512 av = _mm512_set1_ps(a[r * ars]);                     \
    c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);                 \
    if (nv > 1) c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);     \
    if (nv > 2) c##r##2 = _mm512_fmadd_ps(av, b2, c##r##2);     \
    if (nv > 3) c##r##3 = _mm512_fmadd_ps(av, b3, c##r##3);     \
  }
#define ACC_OUT(r)                                                      \
  if (mr > r) {                                                         \
    _mm512_store_ps(out + r * 64, c##r##0);                             \
    if (nv > 1) _mm512_store_ps(out + r * 64 + 16, c##r##1);            \
    if (nv > 2) _mm512_store_ps(out + r * 64 + 32, c##r##2);            \
    if (nv > 3) _mm512_store_ps(out + r * 64 + 48, c##r##3);            \
  }
#define ACC_EP(r)                                                              \
  if (mr > r) {                                                                \
    ep_light(m, kind, i0 + r, j0, c##r##0, LAST(0), mask);                     \
    if (nv > 1) ep_light(m, kind, i0 + r, j0 + 16, c##r##1, LAST(1), mask);    \
    if (nv > 2) ep_light(m, kind, i0 + r, j0 + 32, c##r##2, LAST(2), mask);    \
    if (nv > 3) ep_light(m, kind, i0 + r, j0 + 48, c##r##3, LAST(3), mask);    \
  }
#define ROWS10(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)

INLINE void tile(const cpu_mm *m, int kind, int i0, int j0, const int mr, const int nv,
                 const int msk, __mmask16 mask) {
  __m512 iv0 = _mm512_setzero_ps(), iv1 = iv0, iv2 = iv0, iv3 = iv0;
  if (m->ep == CPU_EP_ACT) {
    const float *bias = m->bias + j0;
    iv0 = ld(bias, LAST(0), mask);
    if (nv > 1) iv1 = ld(bias + 16, LAST(1), mask);
    if (nv > 2) iv2 = ld(bias + 32, LAST(2), mask);
    if (nv > 3) iv3 = ld(bias + 48, LAST(3), mask);
  }
  ROWS10(ACC_DECL)
  const float *a = m->A + i0 * m->ars, *b = m->B + j0;
  const ptrdiff_t ars = m->ars, aks = m->aks, ldb = m->ldb;
  const int K = m->K;
  for (int k = 0; k < K; k++, a += aks, b += ldb) {
    __m512 b0 = ld(b, LAST(0), mask), b1 = b0, b2 = b0, b3 = b0;
    if (nv > 1) b1 = ld(b + 16, LAST(1), mask);
    if (nv > 2) b2 = ld(b + 32, LAST(2), mask);
    if (nv > 3) b3 = ld(b + 48, LAST(3), mask);
    ROWS10(ACC_ROW)
  }
  if (kind != EPK_HEAVY) {
    const cpu_mm mc = *m; /* as in ep_tile: no field reloaded after a store */
    m = &mc;
    ROWS10(ACC_EP)
    return;
  }
  alignas(64) float out[MRN * 64];
  ROWS10(ACC_OUT)
  ep_tile(m, i0, j0, mr, nv, msk, mask, out);
}

/* The instantiations: rows 1..5 with 1..4 vectors, rows 6..10 with 1 or 2. */
#define TILE_CASE(mr, nv, msk) \
  case ((mr) * 4 + (nv) - 1) * 2 + (msk): tile(m, kind, i0, j0, mr, nv, msk, mask); break;
#define TILE_NV(mr, nv) TILE_CASE(mr, nv, 0) TILE_CASE(mr, nv, 1)
#define TILE_NARROW(mr) TILE_NV(mr, 1) TILE_NV(mr, 2)
#define TILE_WIDE(mr) TILE_NARROW(mr) TILE_NV(mr, 3) TILE_NV(mr, 4)

static void tile_any(const cpu_mm *m, int kind, int i0, int j0, int mr, int nv, int msk,
                     __mmask16 mask) {
  switch ((mr * 4 + nv - 1) * 2 + msk) {
    TILE_WIDE(1) TILE_WIDE(2) TILE_WIDE(3) TILE_WIDE(4) TILE_WIDE(5)
    TILE_NARROW(6) TILE_NARROW(7) TILE_NARROW(8) TILE_NARROW(9) TILE_NARROW(10)
    default: break;
  }
}

static void avx512_adam(float *p, float *m, float *v, const float *g, size_t n,
                        const cpu_adam *ca) {
  const cpu_adam lc = *ca, *c = &lc; /* in registers: the stores cannot alias it */
  size_t i = 0;
  for (; i + VW <= n; i += VW) adam16(p + i, m + i, v + i, _mm512_loadu_ps(g + i), c, 0, 0);
  if (i < n) {
    __mmask16 k = tail_mask((int)(n - i));
    adam16(p + i, m + i, v + i, _mm512_maskz_loadu_ps(k, g + i), c, 1, k);
  }
  _mm256_zeroupper();
}

/* r[0..15] (16 rows of 16) transposed in place: 64 shuffles in four rounds. */
INLINE void tr16(__m512 *r) {
  __m512 t[16];
  for (int k = 0; k < 16; k += 2) {
    t[k] = _mm512_unpacklo_ps(r[k], r[k + 1]);
    t[k + 1] = _mm512_unpackhi_ps(r[k], r[k + 1]);
  }
  for (int k = 0; k < 16; k += 4) /* r[k + c]: column c of each 4-column group, rows k.. */
    for (int h = 0; h < 2; h++) {
      __m512d a = _mm512_castps_pd(t[k + h]), b = _mm512_castps_pd(t[k + h + 2]);
      r[k + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
      r[k + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    }
  for (int g = 0; g < 16; g += 8)
    for (int c = 0; c < 4; c++) {
      t[g + c] = _mm512_shuffle_f32x4(r[g + c], r[g + c + 4], 0x88);
      t[g + c + 4] = _mm512_shuffle_f32x4(r[g + c], r[g + c + 4], 0xdd);
    }
  for (int c = 0; c < 8; c++) {
    r[c] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0x88);
    r[c + 8] = _mm512_shuffle_f32x4(t[c], t[c + 8], 0xdd);
  }
}

/* The dot columns (kern.h: cpu_dot_cols): each output's 16 lane sums in one vector of
 * an accumulator, rows in groups of 16 / nl so that a group's outputs fill 16 vectors,
 * reduced together by red16. */
#define NCMAX 4

/* Lane i: v[i]'s lanes summed in kern.h's order (s_i + s_{i+8}, then + 4, + 2, + 1).
 * The four rounds of shuffles leave input 4e + L in lane 4L + e, so the inputs go in
 * in that order (TR4) and come out straight. */
#define TR4(j) (4 * ((j) % 4) + (j) / 4)
INLINE __m512 red16(const __m512 *v) {
  __m512 x[8], y[4], z[2];
  for (int p = 0; p < 8; p++) {
    __m512 a = v[TR4(2 * p)], b = v[TR4(2 * p + 1)];
    x[p] = _mm512_add_ps(_mm512_shuffle_f32x4(a, b, 0x44), _mm512_shuffle_f32x4(a, b, 0xEE));
  }
  for (int q = 0; q < 4; q++)
    y[q] = _mm512_add_ps(_mm512_shuffle_f32x4(x[2 * q], x[2 * q + 1], 0x88),
                         _mm512_shuffle_f32x4(x[2 * q], x[2 * q + 1], 0xDD));
  for (int t = 0; t < 2; t++)
    z[t] = _mm512_add_ps(_mm512_shuffle_ps(y[2 * t], y[2 * t + 1], 0x44),
                         _mm512_shuffle_ps(y[2 * t], y[2 * t + 1], 0xEE));
  return _mm512_add_ps(_mm512_shuffle_ps(z[0], z[1], 0x88), _mm512_shuffle_ps(z[0], z[1], 0xDD));
}

/* Rows i0.. (R of them, fewer at the end) of the nl dot columns from j0; bt: their
 * columns of B as rows of ldbt; biasv: lane r*nl + c holds column c's bias (ACT). */
INLINE void dot_group(const cpu_mm *mp, const float *bt, ptrdiff_t ldbt, __m512 biasv, int i0,
                      int j0, const int nl, const int R) {
  const cpu_mm mc = *mp, *m = &mc; /* as in ep_tile */
  const int nr = m->M - i0 < R ? m->M - i0 : R;
  const float *a = m->A + i0 * m->ars;
  __m512 acc[16];
  for (int t = 0; t < 16; t++) acc[t] = _mm512_setzero_ps();
  for (int kb = 0; kb < m->K; kb += VW) {
    const __mmask16 km = m->K - kb < VW ? tail_mask(m->K - kb) : (__mmask16)0xFFFF;
    __m512 b[NCMAX];
    for (int c = 0; c < nl; c++) b[c] = _mm512_maskz_loadu_ps(km, bt + c * ldbt + kb);
    for (int r = 0; r < R; r++)
      if (r < nr) {
        __m512 av = _mm512_maskz_loadu_ps(km, a + r * m->ars + kb);
        for (int c = 0; c < nl; c++) acc[r * nl + c] = _mm512_fmadd_ps(av, b[c], acc[r * nl + c]);
      }
  }
  __m512 s = red16(acc);
  if (m->ep == CPU_EP_ACT) s = act16(m->act, _mm512_add_ps(biasv, s));
  if (m->ep == CPU_EP_DACT) { /* row r's nl values of Y into lanes r*nl.. */
    __m512 y = _mm512_setzero_ps();
    for (int r = 0; r < nr; r++)
      y = _mm512_mask_loadu_ps(y, (__mmask16)(((1u << nl) - 1u) << (r * nl)),
                               m->Y + (i0 + r) * m->ldy + j0 - r * nl);
    s = _mm512_mul_ps(s, dact16(m->act, y));
  }
  for (int r = 0; r < nr; r++)
    _mm512_mask_storeu_ps(m->C + (i0 + r) * m->ldc + j0 - r * nl,
                          (__mmask16)(((1u << nl) - 1u) << (r * nl)), s);
}

static void dot_cols(const cpu_mm *m, int nl) {
  const int j0 = m->N - nl, R = VW / nl;
  alignas(64) float copy[NCMAX * CPU_DOT_KMAX], bias[VW] = {0};
  const float *bt = m->Bt ? m->Bt + j0 * m->ldbt : copy;
  ptrdiff_t ldbt = m->Bt ? m->ldbt : m->K;
  if (!m->Bt)
    for (int c = 0; c < nl; c++)
      for (int k = 0; k < m->K; k++) copy[c * m->K + k] = m->B[k * m->ldb + j0 + c];
  if (m->ep == CPU_EP_ACT)
    for (int t = 0; t < R * nl; t++) bias[t] = m->bias[j0 + t % nl];
  __m512 biasv = _mm512_load_ps(bias);
  for (int i0 = 0; i0 < m->M; i0 += R) switch (nl) {
      case 1: dot_group(m, bt, ldbt, biasv, i0, j0, 1, 16); break;
      case 2: dot_group(m, bt, ldbt, biasv, i0, j0, 2, 8); break;
      case 3: dot_group(m, bt, ldbt, biasv, i0, j0, 3, 5); break;
      default: dot_group(m, bt, ldbt, biasv, i0, j0, 4, 4); break;
    }
}

/* Gradients with Adam (dW: A's rows contiguous, ars 1) of N = 16q + 1..4 columns, whose
 * last vector would fill at most 4 of 16 lanes: the first 16q columns as usual, the last
 * nl as the product transposed (tail_t: nl rows of M columns, full vectors), then Adam
 * on those columns of 4 rows packed in one vector, lane 4c + r for row r and column c.
 * Each output is still init 0 and the fma chain over k in increasing order: the same
 * bits. Measured on Zen 4 (2026-12-04): the 100x100x100 dW with Adam 22.2-22.6 ->
 * 21.4-21.6 us against packing the 4 columns of 4 rows in the product itself (one
 * permute of B's columns a k), epoch at 1M rows 0.987x. */
static int packed_ok(const cpu_mm *m) {
  int nl = m->N % VW;
  /* measured with the earlier packing, kept: no gain below 4 rows or 33 columns (16 +
   * 1..4: the one-vector tile that remains is load-bound) */
  return m->ep == CPU_EP_ADAM && m->ars == 1 && m->M >= 4 && m->N > 2 * VW && nl >= 1 && nl <= 4;
}

/* Adam on rows i0.. (nr of them) and columns j0.. (nl) from a packed sum s. */
INLINE void packed_adam(const cpu_mm *m, int i0, int j0, int nr, int nl, __m512 s) {
  const __m512i tr = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  __m512 g = _mm512_permutexvar_ps(tr, s); /* lane 4r + c now */
  __m512 pv = _mm512_setzero_ps(), mv = pv, vv = pv;
  __mmask16 km[4];
  ptrdiff_t o[4];
  for (int r = 0; r < 4; r++) { /* row r's nl columns, loaded into lanes 4r.. */
    km[r] = r < nr ? (__mmask16)(((1u << nl) - 1u) << (4 * r)) : 0;
    o[r] = (i0 + r) * m->ldp + j0 - 4 * r;
    pv = _mm512_mask_loadu_ps(pv, km[r], m->P + o[r]);
    mv = _mm512_mask_loadu_ps(mv, km[r], m->Mo + o[r]);
    vv = _mm512_mask_loadu_ps(vv, km[r], m->V + o[r]);
  }
  const cpu_adam c = *m->adam;
  adam_regs(&pv, &mv, &vv, g, &c);
  for (int r = 0; r < nr; r++) {
    _mm512_mask_storeu_ps(m->P + o[r], km[r], pv);
    _mm512_mask_storeu_ps(m->Mo + o[r], km[r], mv);
    _mm512_mask_storeu_ps(m->V + o[r], km[r], vv);
  }
}

static void blocked_mm(const cpu_mm *m);

#define TT_ROWS 256          /* rows of the product a transposed tail takes at a time */
#define TT_LD (TT_ROWS + 16) /* its buffer's row stride: a group of 4 may read past w */

/* The last nl columns' gradients of rows i0.. (w of them) as the product transposed,
 * g[c][i] = sum_k B(k, j0 + c) A(i, k): nl rows of w columns, a plain register tile
 * (B's columns broadcast, A's rows as vectors), each output still the fma chain over
 * increasing k from 0 (fma(a, b, s) = fma(b, a, s)): the same bits. Then Adam on 4 rows
 * at a time, lane 4c + r as packed_adam takes them. */
static void tail_t_rows(const cpu_mm *m, int i0, int w, int j0, int nl) {
  alignas(64) float g[NCMAX * TT_LD];
  cpu_mm t = {.M = nl, .N = w, .K = m->K, .A = m->B + j0, .ars = 1, .aks = m->ldb,
              .B = m->A + i0, .ldb = m->aks, .ep = CPU_EP_STORE, .C = g, .ldc = TT_LD};
  blocked_mm(&t);
  for (int c = 0; c < NCMAX; c++) /* lanes read past w or beyond nl: zeros, never stored */
    memset(g + c * TT_LD + (c < nl ? w : 0), 0, (size_t)(c < nl ? 4 : w + 4) * sizeof(float));
  for (int r0 = 0; r0 < w; r0 += 4) {
    __m512 s = _mm512_castps128_ps512(_mm_load_ps(g + r0));
    s = _mm512_insertf32x4(s, _mm_load_ps(g + TT_LD + r0), 1);
    s = _mm512_insertf32x4(s, _mm_load_ps(g + 2 * TT_LD + r0), 2);
    s = _mm512_insertf32x4(s, _mm_load_ps(g + 3 * TT_LD + r0), 3);
    packed_adam(m, i0 + r0, j0, w - r0 < 4 ? w - r0 : 4, nl, s);
  }
}

static void tail_t(const cpu_mm *m, int j0, int nl) {
  for (int i0 = 0; i0 < m->M; i0 += TT_ROWS)
    tail_t_rows(m, i0, m->M - i0 < TT_ROWS ? m->M - i0 : TT_ROWS, j0, nl);
}

static void packed_mm(const cpu_mm *m) {
  int nl = m->N % VW;
  cpu_mm head = *m;
  head.N = m->N - nl;
  blocked_mm(&head);
  tail_t(m, head.N, nl);
}

static void avx512_mm(const cpu_mm *m) {
  int nl = cpu_dot_cols(m);
  if (nl) {
    cpu_mm head = *m;
    head.N = m->N - nl;
    if (head.N) blocked_mm(&head);
    dot_cols(m, nl);
  } else if (packed_ok(m)) {
    packed_mm(m);
  } else {
    blocked_mm(m);
  }
  _mm256_zeroupper(); /* code built without AVX may follow */
}

/* Column blocks of 64 outside, row tiles inside: a block of B stays in L1. */
static void blocked_mm(const cpu_mm *m) {
  int kind = ep_kind(m);
  for (int j0 = 0; j0 < m->N; j0 += NVMAX * VW) {
    int w = m->N - j0 < NVMAX * VW ? m->N - j0 : NVMAX * VW;
    int nv = (w + VW - 1) / VW, msk = w % VW != 0, h = nv > 2 ? MRW : MRN;
    __mmask16 mask = tail_mask(w % VW);
    for (int i0 = 0; i0 < m->M; i0 += h)
      tile_any(m, kind, i0, j0, m->M - i0 < h ? m->M - i0 : h, nv, msk, mask);
  }
}

/* 16x16 blocks through zmm registers; edge blocks load and store under masks, so there
 * is no element-by-element part. */
static void avx512_transpose(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds,
                             int rows, int cols) {
  for (int i = 0; i < rows; i += VW) {
    int nr = rows - i < VW ? rows - i : VW;
    __mmask16 rm = tail_mask(nr % VW);
    for (int j = 0; j < cols; j += VW) {
      int nc = cols - j < VW ? cols - j : VW;
      __mmask16 cm = tail_mask(nc % VW);
      __m512 r[16];
      for (int k = 0; k < 16; k++)
        r[k] = k < nr ? _mm512_maskz_loadu_ps(cm, src + (i + k) * lds + j) : _mm512_setzero_ps();
      tr16(r);
      for (int k = 0; k < nc; k++) _mm512_mask_storeu_ps(dst + (j + k) * ldd + i, rm, r[k]);
    }
  }
  _mm256_zeroupper();
}

static void avx512_dact(float *dz, const float *dy, const float *y, ab_act act, size_t n) {
  size_t i = 0;
  for (; i + VW <= n; i += VW)
    _mm512_storeu_ps(dz + i, _mm512_mul_ps(_mm512_loadu_ps(dy + i), dact16(act, _mm512_loadu_ps(y + i))));
  if (i < n) {
    __mmask16 k = tail_mask((int)(n - i));
    __m512 g = dact16(act, _mm512_maskz_loadu_ps(k, y + i));
    _mm512_mask_storeu_ps(dz + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dy + i), g));
  }
  _mm256_zeroupper();
}

/* 12 chains of fma: 2 FMA units x 4 cycles of latency need 8; 12 leave room. */
static double avx512_fma_loop(long n, float *sink) {
  __m512 c[12], x = v1(0.999f), y = v1(1e-3f);
  for (int i = 0; i < 12; i++) c[i] = v1((float)i);
  for (long k = 0; k < n; k++)
    for (int i = 0; i < 12; i++) c[i] = _mm512_fmadd_ps(c[i], x, y);
  for (int i = 1; i < 12; i++) c[0] = _mm512_add_ps(c[0], c[i]);
  *sink = _mm512_cvtss_f32(c[0]);
  _mm256_zeroupper();
  return 2.0 * VW * 12 * (double)n;
}

/* exp(x) for x <= 0 as the AVX2 kernels' expneg8, operation for operation. */
INLINE __m512 expneg16(__m512 x) {
  x = _mm512_max_ps(v1(-104.0f), x);
  __m512 n, y = exp_core16(x, &n);
  __m512i ni = _mm512_cvttps_epi32(n), h = _mm512_srai_epi32(ni, 1), k = _mm512_set1_epi32(127);
  __m512i e1 = _mm512_slli_epi32(_mm512_add_epi32(h, k), 23);
  __m512i e2 = _mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(ni, h), k), 23);
  y = _mm512_mul_ps(y, _mm512_castsi512_ps(e1));
  return _mm512_mul_ps(y, _mm512_castsi512_ps(e2));
}

/* log(x) for positive normal x as the AVX2 kernels' log8. */
INLINE __m512 log16(__m512 x) {
  const __m512 one = v1(1.0f);
  __m512i xi = _mm512_castps_si512(x);
  __m512i ei = _mm512_sub_epi32(_mm512_srli_epi32(xi, 23), _mm512_set1_epi32(126));
  __m512 m = _mm512_castsi512_ps(_mm512_or_si512(
      _mm512_and_si512(xi, _mm512_set1_epi32(0x007FFFFF)), _mm512_set1_epi32(0x3F000000)));
  __m512 e = _mm512_cvtepi32_ps(ei);
  __mmask16 lo = _mm512_cmp_ps_mask(m, v1(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm512_sub_ps(e, _mm512_maskz_mov_ps(lo, one));
  m = _mm512_sub_ps(_mm512_add_ps(m, _mm512_maskz_mov_ps(lo, m)), one);
  __m512 z = _mm512_mul_ps(m, m), y = v1(7.0376836292e-2f);
  y = _mm512_fmadd_ps(y, m, v1(-1.1514610310e-1f));
  y = _mm512_fmadd_ps(y, m, v1(1.1676998740e-1f));
  y = _mm512_fmadd_ps(y, m, v1(-1.2420140846e-1f));
  y = _mm512_fmadd_ps(y, m, v1(1.4249322787e-1f));
  y = _mm512_fmadd_ps(y, m, v1(-1.6668057665e-1f));
  y = _mm512_fmadd_ps(y, m, v1(2.0000714765e-1f));
  y = _mm512_fmadd_ps(y, m, v1(-2.4999993993e-1f));
  y = _mm512_fmadd_ps(y, m, v1(3.3333331174e-1f));
  y = _mm512_mul_ps(_mm512_mul_ps(y, m), z);
  y = _mm512_fmadd_ps(e, v1(-2.12194440e-4f), y);
  y = _mm512_fnmadd_ps(v1(0.5f), z, y);
  return _mm512_fmadd_ps(e, v1(0.693359375f), _mm512_add_ps(m, y));
}

/* 2-class softmax cross-entropy of up to 16 rows (nr) as the AVX2 kernels' xent2_8. */
static void xent2_16(float *loss, float *d, ptrdiff_t ldd, const float *z, ptrdiff_t ldz,
                     const int32_t *lab, int nr, float B) {
  const __m512 one = v1(1.0f), zero = _mm512_setzero_ps(), bv = v1(B);
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  __mmask16 mask = tail_mask(nr % VW);
  __m512i idx = _mm512_mullo_epi32(lane, _mm512_set1_epi32((int)ldz));
  __m512 z0 = _mm512_mask_i32gather_ps(zero, mask, idx, z, 4);
  __m512 z1 = _mm512_mask_i32gather_ps(zero, mask, idx, z + 1, 4);
  __mmask16 l1 = _mm512_cmpeq_epi32_mask(_mm512_maskz_loadu_epi32(mask, lab), _mm512_set1_epi32(1));
  __mmask16 b = _mm512_cmp_ps_mask(z1, z0, _CMP_GT_OQ);
  __m512 mx = _mm512_mask_blend_ps(b, z0, z1), lo = _mm512_mask_blend_ps(b, z1, z0);
  __m512 t = expneg16(_mm512_sub_ps(lo, mx)), sum = _mm512_add_ps(one, t);
  __m512 ls = _mm512_sub_ps(_mm512_add_ps(log16(sum), mx), _mm512_mask_blend_ps(l1, z0, z1));
  __m512 d0 = _mm512_sub_ps(_mm512_div_ps(_mm512_mask_blend_ps(b, one, t), sum),
                            _mm512_maskz_mov_ps((__mmask16)~l1, one));
  __m512 d1 = _mm512_sub_ps(_mm512_div_ps(_mm512_mask_blend_ps(b, t, one), sum),
                            _mm512_maskz_mov_ps(l1, one));
  const __m512 inf = v1(__builtin_inff()), sign = v1(-0.0f);
  int ok = _mm512_cmp_ps_mask(andnot_ps(sign, z0), inf, _CMP_LT_OQ) &
           _mm512_cmp_ps_mask(andnot_ps(sign, z1), inf, _CMP_LT_OQ);
  alignas(64) float lv[VW], dv[2][VW];
  _mm512_store_ps(lv, ls);
  _mm512_store_ps(dv[0], _mm512_div_ps(d0, bv));
  _mm512_store_ps(dv[1], _mm512_div_ps(d1, bv));
  _mm256_zeroupper(); /* SSE code (the scalar fallback's libm) may follow */
  for (int j = 0; j < nr; j++) {
    float *dj = d ? d + j * ldd : NULL;
    if (!(ok >> j & 1)) {
      loss[j] = cpu_xent_row(dj, z + j * ldz, lab[j], 2, B);
      continue;
    }
    loss[j] = lv[j];
    if (dj) { dj[0] = dv[0][j]; dj[1] = dv[1][j]; }
  }
}

static void avx512_xent2(float *loss, float *d, ptrdiff_t ldd, const float *z, ptrdiff_t ldz,
                         const int32_t *lab, int n, float B) {
  for (int i = 0; i < n; i += VW)
    xent2_16(loss + i, d ? d + i * ldd : NULL, ldd, z + i * ldz, ldz, lab + i,
             n - i < VW ? n - i : VW, B);
}

const cpu_kern ab_cpu_kern_avx512 = {AB_CPU_ISA_AVX512, avx512_mm, avx512_adam,
                                     avx512_transpose, avx512_dact, avx512_fma_loop,
                                     avx512_xent2};
#endif
