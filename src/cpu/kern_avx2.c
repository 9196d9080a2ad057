/* AVX2 + FMA kernels, compiled for that target only (the target attribute) and chosen
 * at run time, so the same binary runs on any x86-64. Register tiles of 5 rows x 16
 * columns, or 10 rows x 8 for narrow or edge columns (10 accumulators either way);
 * every output is one fma chain over k in increasing order (the dot columns: kern.h's
 * lane chains and tree, as the AVX-512 kernels do them). Adam, dact and the
 * epilogue derivatives use the reference's exact operations (no fma); sigmoid and tanh
 * use the vector exp below (within a few ulp of libm). */
#include "kern.h"
#ifdef ABGPU_CPU_HAVE_AVX2
#include <immintrin.h>
#include <stdalign.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define INLINE static inline __attribute__((always_inline))
#define MR2 5  /* rows of a two-vector tile (10 accumulators): divides 100 and 50 */
#define MR1 10 /* rows of a one-vector tile, for narrow or edge columns */

AVX2 INLINE __m256i tail_mask(int n) {
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), idx);
}

AVX2 INLINE __m256 ld(const float *p, int masked, __m256i mask) {
  return masked ? _mm256_maskload_ps(p, mask) : _mm256_loadu_ps(p);
}

AVX2 INLINE void st(float *p, __m256 x, int masked, __m256i mask) {
  if (masked) _mm256_maskstore_ps(p, mask, x);
  else _mm256_storeu_ps(p, x);
}

/* exp's core, as Cephes expf: n = floor(x log2 e + 1/2), the reduced x, and the
 * polynomial; returns the mantissa part y (exp(x) = y 2^n) and n. */
AVX2 INLINE __m256 exp_core8(__m256 x, __m256 *np) {
  __m256 n = _mm256_floor_ps(
      _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), x);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  *np = n;
  return y;
}

/* exp (Cephes expf polynomial, ~1 ulp); the argument is clamped to +-88 and NaN passes
 * through (vminps/vmaxps return their second operand on NaN). */
AVX2 INLINE __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_set1_ps(88.0f), x);
  x = _mm256_max_ps(_mm256_set1_ps(-88.0f), x);
  __m256 n, y = exp_core8(x, &n);
  __m256i e = _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127));
  e = _mm256_slli_epi32(e, 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/* tanh as Cephes tanhf: an odd polynomial below |x| 0.625, 1 - 2/(exp(2|x|)+1) above. */
AVX2 INLINE __m256 tanh8(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
  __m256 ax = _mm256_andnot_ps(sign, x), z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  __m256 e = exp8(_mm256_add_ps(ax, ax));
  __m256 big = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, one)));
  big = _mm256_or_ps(big, _mm256_and_ps(sign, x));
  return _mm256_blendv_ps(big, small, _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}

AVX2 INLINE __m256 act8(ab_act a, __m256 z) {
  const __m256 one = _mm256_set1_ps(1.0f);
  switch (a) {
    case AB_ACT_RELU: return _mm256_max_ps(z, _mm256_setzero_ps()); /* NaN -> 0 as ref */
    case AB_ACT_SIGMOID:
      return _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(_mm256_setzero_ps(), z))));
    case AB_ACT_TANH: return tanh8(z);
    default: return z;
  }
}

/* act'(y) exactly as ab_act_grad_from_y computes it. */
AVX2 INLINE __m256 dact8(ab_act a, __m256 y) {
  const __m256 one = _mm256_set1_ps(1.0f);
  switch (a) {
    case AB_ACT_RELU: return _mm256_and_ps(_mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ), one);
    case AB_ACT_SIGMOID: return _mm256_mul_ps(y, _mm256_sub_ps(one, y));
    case AB_ACT_TANH: return _mm256_sub_ps(one, _mm256_mul_ps(y, y));
    default: return one;
  }
}

/* Adam on 8 floats with the reference's operations, in its order. */
AVX2 INLINE void adam8(float *p, float *m, float *v, __m256 g, const cpu_adam *c, int masked,
                       __m256i mask) {
  __m256 mv = ld(m, masked, mask), vv = ld(v, masked, mask), pv = ld(p, masked, mask);
  mv = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(c->b1), mv),
                     _mm256_mul_ps(_mm256_set1_ps(c->omb1), g));
  vv = _mm256_add_ps(_mm256_mul_ps(_mm256_set1_ps(c->b2), vv),
                     _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(c->omb2), g), g));
  __m256 den = _mm256_add_ps(_mm256_sqrt_ps(_mm256_div_ps(vv, _mm256_set1_ps(c->c2))),
                             _mm256_set1_ps(c->eps));
  __m256 upd = _mm256_add_ps(_mm256_div_ps(_mm256_mul_ps(_mm256_set1_ps(c->step), mv), den),
                             _mm256_mul_ps(_mm256_set1_ps(c->decay), pv));
  st(m, mv, masked, mask);
  st(v, vv, masked, mask);
  st(p, _mm256_sub_ps(pv, upd), masked, mask);
}

/* Applies the epilogue to a finished tile at (i0, j0): row r's vector v is at
 * acc + r*16 + v*8; the last vector of a row is masked when msk. One loop per kind,
 * so that the long latency chains (exp, divide, square root) of successive vectors
 * overlap. */
AVX2 static void ep_tile(const cpu_mm *mp, int i0, int j0, int mr, int nv, int msk,
                         __m256i mask, const float *acc) {
  /* local copies: through the pointers every store could alias a field or constant, and
   * the compiler reloaded them after each (as in the AVX-512 kernels) */
  const cpu_mm mc = *mp, *m = &mc;
  if (m->ep == CPU_EP_ADAM) {
    const cpu_adam ac = *m->adam;
    for (int r = 0; r < mr; r++)
      for (int v = 0; v < nv; v++) {
        ptrdiff_t o = (i0 + r) * m->ldp + j0 + 8 * v;
        adam8(m->P + o, m->Mo + o, m->V + o, _mm256_load_ps(acc + r * 16 + v * 8), &ac,
              msk && v == nv - 1, mask);
      }
    return;
  }
  for (int r = 0; r < mr; r++)
    for (int v = 0; v < nv; v++) {
      int mk = msk && v == nv - 1, i = i0 + r, j = j0 + 8 * v;
      __m256 s = _mm256_load_ps(acc + r * 16 + v * 8);
      if (m->ep == CPU_EP_ACT) s = act8(m->act, s);
      if (m->ep == CPU_EP_DACT)
        s = _mm256_mul_ps(s, dact8(m->act, ld(m->Y + i * m->ldy + j, mk, mask)));
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

AVX2 INLINE void ep_light(const cpu_mm *m, int kind, int i, int j, __m256 s, int mk,
                          __m256i mask) {
  float *c = m->C + i * m->ldc + j;
  if (kind == EPK_RELU) s = _mm256_max_ps(s, _mm256_setzero_ps()); /* NaN -> 0 as ref */
  if (kind == EPK_DACT) s = _mm256_mul_ps(s, dact8(m->act, ld(m->Y + i * m->ldy + j, mk, mask)));
  st(c, s, mk, mask);
}

/* One register tile: mr rows x nv vectors, mr, nv and msk compile-time constants.
 * The accumulators are named variables (not an array) so that they stay in registers;
 * the branches on mr and nv vanish when the tile is instantiated. */
#define ACC_DECL(r) __m256 c##r##0 = i0v, c##r##1 = i1v;
#define ACC_ROW(r)                                                   \
  if (mr > r) {                                                      \
    __m256 av = _mm256_broadcast_ss(a + r * ars);                    \
    c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);                      \
    if (nv > 1) c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);          \
  }
#define ACC_OUT(r)                                                   \
  if (mr > r) {                                                      \
    _mm256_store_ps(out + r * 16, c##r##0);                          \
    if (nv > 1) _mm256_store_ps(out + r * 16 + 8, c##r##1);          \
  }
#define ACC_EP(r)                                                    \
  if (mr > r) {                                                      \
    ep_light(m, kind, i0 + r, j0, c##r##0, msk && nv == 1, mask);    \
    if (nv > 1) ep_light(m, kind, i0 + r, j0 + 8, c##r##1, msk, mask); \
  }

AVX2 INLINE void tile(const cpu_mm *m, int kind, int i0, int j0, const int mr,
                      const int nv, const int msk, __m256i mask) {
  __m256 i0v = _mm256_setzero_ps(), i1v = _mm256_setzero_ps();
  if (m->ep == CPU_EP_ACT) {
    i0v = ld(m->bias + j0, msk && nv == 1, mask);
    if (nv > 1) i1v = ld(m->bias + j0 + 8, msk, mask);
  }
  ACC_DECL(0) ACC_DECL(1) ACC_DECL(2) ACC_DECL(3) ACC_DECL(4)
  ACC_DECL(5) ACC_DECL(6) ACC_DECL(7) ACC_DECL(8) ACC_DECL(9)
  const float *a = m->A + i0 * m->ars, *b = m->B + j0;
  const ptrdiff_t ars = m->ars, aks = m->aks, ldb = m->ldb;
  const int K = m->K;
  for (int k = 0; k < K; k++, a += aks, b += ldb) {
    __m256 b0 = ld(b, msk && nv == 1, mask), b1 = b0;
    if (nv > 1) b1 = ld(b + 8, msk, mask);
    ACC_ROW(0) ACC_ROW(1) ACC_ROW(2) ACC_ROW(3) ACC_ROW(4)
    ACC_ROW(5) ACC_ROW(6) ACC_ROW(7) ACC_ROW(8) ACC_ROW(9)
  }
  if (kind != EPK_HEAVY) {
    const cpu_mm mc = *m; /* as in ep_tile: no field reloaded after a store */
    m = &mc;
    ACC_EP(0) ACC_EP(1) ACC_EP(2) ACC_EP(3) ACC_EP(4)
    ACC_EP(5) ACC_EP(6) ACC_EP(7) ACC_EP(8) ACC_EP(9)
    return;
  }
  alignas(32) float out[MR1 * 16];
  ACC_OUT(0) ACC_OUT(1) ACC_OUT(2) ACC_OUT(3) ACC_OUT(4)
  ACC_OUT(5) ACC_OUT(6) ACC_OUT(7) ACC_OUT(8) ACC_OUT(9)
  ep_tile(m, i0, j0, mr, nv, msk, mask, out);
}

#define TILE_CASE(mr, nv, msk) \
  case (mr) * 4 + (nv) * 2 + (msk) - 2: tile(m, kind, i0, j0, mr, nv, msk, mask); break;
#define TILE_ROWS1(mr) TILE_CASE(mr, 1, 0) TILE_CASE(mr, 1, 1)
#define TILE_ROWS(mr) TILE_ROWS1(mr) TILE_CASE(mr, 2, 0) TILE_CASE(mr, 2, 1)

AVX2 static void tile_any(const cpu_mm *m, int kind, int i0, int j0, int mr, int nv,
                          int msk, __m256i mask) {
  switch (mr * 4 + nv * 2 + msk - 2) {
    TILE_ROWS(1) TILE_ROWS(2) TILE_ROWS(3) TILE_ROWS(4) TILE_ROWS(5)
    TILE_ROWS1(6) TILE_ROWS1(7) TILE_ROWS1(8) TILE_ROWS1(9) TILE_ROWS1(10)
    default: break;
  }
}

/* Column blocks of 16 outside, row tiles inside: a block of B stays in L1. */
AVX2 static void blocked_mm(const cpu_mm *m) {
  int kind = ep_kind(m);
  for (int j0 = 0; j0 < m->N; j0 += 16) {
    int w = m->N - j0 < 16 ? m->N - j0 : 16;
    int nv = (w + 7) / 8, msk = w % 8 != 0, h = nv == 1 ? MR1 : MR2;
    __m256i mask = tail_mask(w % 8);
    for (int i0 = 0; i0 < m->M; i0 += h)
      tile_any(m, kind, i0, j0, m->M - i0 < h ? m->M - i0 : h, nv, msk, mask);
  }
}

/* A 16-lane sum held as lanes 0-7 (lo) and 8-15 (hi), added up in kern.h's order, as
 * the AVX-512 kernels' red16 does. */
AVX2 INLINE float red16(__m256 lo, __m256 hi) {
  __m256 f = _mm256_add_ps(lo, hi);
  __m128 g = _mm_add_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
  __m128 h = _mm_add_ps(g, _mm_movehl_ps(g, g));
  return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

/* Row i of the nl dot columns from j0 (kern.h: cpu_dot_cols), the same operations per
 * lane as the AVX-512 kernels: the 16 lanes are two vectors here. */
AVX2 INLINE void dot_row(const cpu_mm *m, const float *bt, ptrdiff_t ldbt, int i, int j0,
                         const int nl) {
  const float *a = m->A + i * m->ars;
  __m256 lo[4], hi[4];
  for (int c = 0; c < nl; c++) lo[c] = hi[c] = _mm256_setzero_ps();
  for (int kb = 0; kb < m->K; kb += 16) {
    int n = m->K - kb, nlo = n < 8 ? n : 8, nhi = n < 8 ? 0 : n - 8 < 8 ? n - 8 : 8;
    __m256i ml = tail_mask(nlo), mh = tail_mask(nhi);
    __m256 al = _mm256_maskload_ps(a + kb, ml), ah = _mm256_maskload_ps(a + kb + 8, mh);
    for (int c = 0; c < nl; c++) {
      lo[c] = _mm256_fmadd_ps(al, _mm256_maskload_ps(bt + c * ldbt + kb, ml), lo[c]);
      hi[c] = _mm256_fmadd_ps(ah, _mm256_maskload_ps(bt + c * ldbt + kb + 8, mh), hi[c]);
    }
  }
  alignas(32) float out[8] = {0};
  for (int c = 0; c < nl; c++) out[c] = red16(lo[c], hi[c]);
  __m256i mk = tail_mask(nl);
  __m256 s = _mm256_load_ps(out);
  if (m->ep == CPU_EP_ACT) s = act8(m->act, _mm256_add_ps(_mm256_maskload_ps(m->bias + j0, mk), s));
  if (m->ep == CPU_EP_DACT)
    s = _mm256_mul_ps(s, dact8(m->act, _mm256_maskload_ps(m->Y + i * m->ldy + j0, mk)));
  _mm256_maskstore_ps(m->C + i * m->ldc + j0, mk, s);
}

AVX2 static void dot_cols(const cpu_mm *m, int nl) {
  const int j0 = m->N - nl;
  alignas(32) float copy[4 * CPU_DOT_KMAX];
  const float *bt = m->Bt ? m->Bt + j0 * m->ldbt : copy;
  ptrdiff_t ldbt = m->Bt ? m->ldbt : m->K;
  if (!m->Bt)
    for (int c = 0; c < nl; c++)
      for (int k = 0; k < m->K; k++) copy[c * m->K + k] = m->B[k * m->ldb + j0 + c];
  for (int i = 0; i < m->M; i++) switch (nl) {
      case 1: dot_row(m, bt, ldbt, i, j0, 1); break;
      case 2: dot_row(m, bt, ldbt, i, j0, 2); break;
      case 3: dot_row(m, bt, ldbt, i, j0, 3); break;
      default: dot_row(m, bt, ldbt, i, j0, 4); break;
    }
}

AVX2 static void avx2_mm(const cpu_mm *m) {
  int nl = cpu_dot_cols(m);
  cpu_mm head = *m;
  head.N = m->N - nl;
  if (head.N) blocked_mm(&head);
  if (nl) dot_cols(m, nl);
  _mm256_zeroupper(); /* GCC leaves the upper halves dirty here; SSE code follows */
}

AVX2 static void avx2_adam(float *p, float *m, float *v, const float *g, size_t n,
                           const cpu_adam *ca) {
  const cpu_adam lc = *ca, *c = &lc; /* in registers: the stores cannot alias it */
  size_t i = 0;
  __m256i none = _mm256_setzero_si256();
  for (; i + 8 <= n; i += 8) adam8(p + i, m + i, v + i, _mm256_loadu_ps(g + i), c, 0, none);
  if (i < n) {
    __m256i mask = tail_mask((int)(n - i));
    adam8(p + i, m + i, v + i, _mm256_maskload_ps(g + i, mask), c, 1, mask);
  }
}

/* 8x8 blocks through registers, the edges element by element. */
AVX2 static void avx2_transpose(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds,
                                int rows, int cols) {
  int r8 = rows / 8 * 8, c8 = cols / 8 * 8;
  for (int i = 0; i < r8; i += 8)
    for (int j = 0; j < c8; j += 8) {
      __m256 r[8], t[8];
      for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_ps(src + (i + k) * lds + j);
      for (int k = 0; k < 8; k += 2) {
        t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
        t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
      }
      for (int k = 0; k < 8; k += 4)
        for (int h = 0; h < 2; h++) {
          __m256d a = _mm256_castps_pd(t[k + h]), b = _mm256_castps_pd(t[k + h + 2]);
          r[k + h] = _mm256_castpd_ps(_mm256_unpacklo_pd(a, b));
          r[k + h + 2] = _mm256_castpd_ps(_mm256_unpackhi_pd(a, b));
        }
      /* r[0..3] hold columns {0,2,1,3} of rows 0-3 in lanes 0-3 and 4-7 (rows 0-3 of
       * columns 4-7); r[4..7] the same for rows 4-7. */
      static const int col[4] = {0, 2, 1, 3};
      for (int k = 0; k < 4; k++) {
        __m256 lo = _mm256_permute2f128_ps(r[k], r[k + 4], 0x20);
        __m256 hi = _mm256_permute2f128_ps(r[k], r[k + 4], 0x31);
        _mm256_storeu_ps(dst + (j + col[k]) * ldd + i, lo);
        _mm256_storeu_ps(dst + (j + col[k] + 4) * ldd + i, hi);
      }
    }
  for (int i = 0; i < rows; i++)
    for (int j = i < r8 ? c8 : 0; j < cols; j++) dst[j * ldd + i] = src[i * lds + j];
}

AVX2 static void avx2_dact(float *dz, const float *dy, const float *y, ab_act act, size_t n) {
  size_t i = 0;
  __m256i none = _mm256_setzero_si256();
  for (; i + 8 <= n; i += 8)
    st(dz + i, _mm256_mul_ps(_mm256_loadu_ps(dy + i), dact8(act, _mm256_loadu_ps(y + i))), 0,
       none);
  if (i < n) {
    __m256i mask = tail_mask((int)(n - i));
    __m256 g = dact8(act, _mm256_maskload_ps(y + i, mask));
    st(dz + i, _mm256_mul_ps(_mm256_maskload_ps(dy + i, mask), g), 1, mask);
  }
}

/* 12 chains of fma: 2 FMA units x 4 cycles of latency need 8; 12 leave room. */
AVX2 static double avx2_fma_loop(long n, float *sink) {
  __m256 c[12], x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-3f);
  for (int i = 0; i < 12; i++) c[i] = _mm256_set1_ps((float)i);
  for (long k = 0; k < n; k++)
    for (int i = 0; i < 12; i++) c[i] = _mm256_fmadd_ps(c[i], x, y);
  for (int i = 1; i < 12; i++) c[0] = _mm256_add_ps(c[0], c[i]);
  *sink = _mm256_cvtss_f32(c[0]);
  _mm256_zeroupper();
  return 2.0 * 8 * 12 * (double)n;
}

/* exp(x) for x <= 0 (the loss's): exp8's polynomial, the scale 2^n applied as two
 * normal halves so that results below FLT_MIN round once (exp8 gives 0 below -87.7);
 * x is clamped to -104, where expf is 0 too. Measured against libm expf on every float
 * in [-104, 0]: at most 1 ulp (0 at x = 0: exactly 1). */
AVX2 INLINE __m256 expneg8(__m256 x) {
  x = _mm256_max_ps(_mm256_set1_ps(-104.0f), x);
  __m256 n, y = exp_core8(x, &n);
  __m256i ni = _mm256_cvttps_epi32(n), h = _mm256_srai_epi32(ni, 1), k = _mm256_set1_epi32(127);
  __m256i e1 = _mm256_slli_epi32(_mm256_add_epi32(h, k), 23);
  __m256i e2 = _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(ni, h), k), 23);
  y = _mm256_mul_ps(y, _mm256_castsi256_ps(e1));
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e2));
}

/* log(x) for positive normal x (the loss's x is in [1, 2]): Cephes logf, x = m 2^e with
 * m in [sqrt(1/2), sqrt(2)) (exact), then its polynomial in m - 1 with fma. Measured
 * against libm logf on every float in [1, 2]: at most 1 ulp. */
AVX2 INLINE __m256 log8(__m256 x) {
  const __m256 one = _mm256_set1_ps(1.0f);
  __m256i xi = _mm256_castps_si256(x);
  __m256i ei = _mm256_sub_epi32(_mm256_srli_epi32(xi, 23), _mm256_set1_epi32(126));
  __m256 m = _mm256_castsi256_ps(_mm256_or_si256(
      _mm256_and_si256(xi, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x3F000000)));
  __m256 e = _mm256_cvtepi32_ps(ei);
  __m256 lo = _mm256_cmp_ps(m, _mm256_set1_ps(0.707106781186547524f), _CMP_LT_OQ);
  e = _mm256_sub_ps(e, _mm256_and_ps(lo, one));
  m = _mm256_sub_ps(_mm256_add_ps(m, _mm256_and_ps(lo, m)), one);
  __m256 z = _mm256_mul_ps(m, m), y = _mm256_set1_ps(7.0376836292e-2f);
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.1514610310e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.1676998740e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.2420140846e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(1.4249322787e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-1.6668057665e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(2.0000714765e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(-2.4999993993e-1f));
  y = _mm256_fmadd_ps(y, m, _mm256_set1_ps(3.3333331174e-1f));
  y = _mm256_mul_ps(_mm256_mul_ps(y, m), z);
  y = _mm256_fmadd_ps(e, _mm256_set1_ps(-2.12194440e-4f), y);
  y = _mm256_fnmadd_ps(_mm256_set1_ps(0.5f), z, y);
  return _mm256_fmadd_ps(e, _mm256_set1_ps(0.693359375f), _mm256_add_ps(m, y));
}

/* 2-class softmax cross-entropy of up to 8 rows (nr), as xent2 in ops.c with expneg8
 * and log8 for expf and logf; rows with a non-finite logit take cpu_xent_row. */
AVX2 static void xent2_8(float *loss, float *d, ptrdiff_t ldd, const float *z, ptrdiff_t ldz,
                         const int32_t *lab, int nr, float B) {
  const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps(), bv = _mm256_set1_ps(B);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  __m256i mask = tail_mask(nr), idx = _mm256_mullo_epi32(lane, _mm256_set1_epi32((int)ldz));
  __m256 z0 = _mm256_mask_i32gather_ps(zero, z, idx, _mm256_castsi256_ps(mask), 4);
  __m256 z1 = _mm256_mask_i32gather_ps(zero, z + 1, idx, _mm256_castsi256_ps(mask), 4);
  __m256 l1 = _mm256_castsi256_ps(
      _mm256_cmpeq_epi32(_mm256_maskload_epi32(lab, mask), _mm256_set1_epi32(1)));
  __m256 b = _mm256_cmp_ps(z1, z0, _CMP_GT_OQ);
  __m256 mx = _mm256_blendv_ps(z0, z1, b), lo = _mm256_blendv_ps(z1, z0, b);
  __m256 t = expneg8(_mm256_sub_ps(lo, mx)), sum = _mm256_add_ps(one, t);
  __m256 ls = _mm256_sub_ps(_mm256_add_ps(log8(sum), mx), _mm256_blendv_ps(z0, z1, l1));
  __m256 d0 = _mm256_sub_ps(_mm256_div_ps(_mm256_blendv_ps(one, t, b), sum),
                            _mm256_andnot_ps(l1, one));
  __m256 d1 = _mm256_sub_ps(_mm256_div_ps(_mm256_blendv_ps(t, one, b), sum),
                            _mm256_and_ps(l1, one));
  const __m256 inf = _mm256_set1_ps(__builtin_inff()), sign = _mm256_set1_ps(-0.0f);
  __m256 fin = _mm256_and_ps(_mm256_cmp_ps(_mm256_andnot_ps(sign, z0), inf, _CMP_LT_OQ),
                             _mm256_cmp_ps(_mm256_andnot_ps(sign, z1), inf, _CMP_LT_OQ));
  int ok = _mm256_movemask_ps(fin);
  alignas(32) float lv[8], dv[2][8];
  _mm256_store_ps(lv, ls);
  _mm256_store_ps(dv[0], _mm256_div_ps(d0, bv));
  _mm256_store_ps(dv[1], _mm256_div_ps(d1, bv));
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

AVX2 static void avx2_xent2(float *loss, float *d, ptrdiff_t ldd, const float *z,
                            ptrdiff_t ldz, const int32_t *lab, int n, float B) {
  for (int i = 0; i < n; i += 8)
    xent2_8(loss + i, d ? d + i * ldd : NULL, ldd, z + i * ldz, ldz, lab + i,
            n - i < 8 ? n - i : 8, B);
}

const cpu_kern ab_cpu_kern_avx2 = {AB_CPU_ISA_AVX2, avx2_mm, avx2_adam, avx2_transpose,
                                   avx2_dact, avx2_fma_loop, avx2_xent2};
#endif
