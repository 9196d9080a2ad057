/* Generic kernels for any CPU: plain C in column blocks the compiler can vectorise,
 * with the reference's arithmetic (separate multiply and add, libm), so they match the
 * ab_ref_* ops bit for bit. */
#include <math.h>
#include "abgpu/ref.h"
#include "kern.h"

#define GW 16 /* output columns per block */

static void gen_adam(float *p, float *m, float *v, const float *g, size_t n, const cpu_adam *c) {
  for (size_t i = 0; i < n; i++) {
    m[i] = c->b1 * m[i] + c->omb1 * g[i];
    v[i] = c->b2 * v[i] + c->omb2 * g[i] * g[i];
    p[i] -= c->step * m[i] / (sqrtf(v[i] / c->c2) + c->eps) + c->decay * p[i];
  }
}

/* The epilogue of nj finished sums of row r, columns j0.. */
static void gen_ep(const cpu_mm *m, int r, int j0, int nj, const float *acc) {
  float *c = m->C ? m->C + r * m->ldc + j0 : NULL;
  switch (m->ep) {
    case CPU_EP_STORE:
      for (int j = 0; j < nj; j++) c[j] = acc[j];
      break;
    case CPU_EP_ACT:
      for (int j = 0; j < nj; j++) c[j] = ab_act_apply(m->act, acc[j]);
      break;
    case CPU_EP_DACT: {
      const float *y = m->Y + r * m->ldy + j0;
      for (int j = 0; j < nj; j++) c[j] = acc[j] * ab_act_grad_from_y(m->act, y[j]);
      break;
    }
    case CPU_EP_ADAM: {
      ptrdiff_t o = r * m->ldp + j0;
      gen_adam(m->P + o, m->Mo + o, m->V + o, acc, (size_t)nj, m->adam);
      break;
    }
  }
}

static void gen_mm(const cpu_mm *m) {
  float acc[GW];
  for (int j0 = 0; j0 < m->N; j0 += GW) {
    int nj = m->N - j0 < GW ? m->N - j0 : GW;
    for (int r = 0; r < m->M; r++) {
      for (int j = 0; j < nj; j++) acc[j] = m->ep == CPU_EP_ACT ? m->bias[j0 + j] : 0.0f;
      const float *a = m->A + r * m->ars, *b = m->B + j0;
      for (int k = 0; k < m->K; k++, a += m->aks, b += m->ldb) {
        float av = *a;
        for (int j = 0; j < nj; j++) acc[j] += av * b[j];
      }
      gen_ep(m, r, j0, nj, acc);
    }
  }
}

static void gen_transpose(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows,
                          int cols) {
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) dst[j * ldd + i] = src[i * lds + j];
}

static void gen_dact(float *dz, const float *dy, const float *y, ab_act act, size_t n) {
  for (size_t i = 0; i < n; i++) dz[i] = dy[i] * ab_act_grad_from_y(act, y[i]);
}

/* The generic kernels' arithmetic (a multiply, then an add) on 16 independent chains,
 * in whatever vectors the compiler makes of it. */
static double gen_fma_loop(long n, float *sink) {
  float c[GW], x = 0.999f, y = 1e-3f;
  for (int i = 0; i < GW; i++) c[i] = (float)i;
  for (long k = 0; k < n; k++)
    for (int i = 0; i < GW; i++) c[i] = c[i] * x + y;
  for (int i = 1; i < GW; i++) c[0] += c[i];
  *sink = c[0];
  return 2.0 * GW * (double)n;
}

/* Row by row with libm: the reference's bits. */
static void gen_xent2(float *loss, float *d, ptrdiff_t ldd, const float *z, ptrdiff_t ldz,
                      const int32_t *lab, int n, float B) {
  for (int i = 0; i < n; i++)
    loss[i] = cpu_xent_row(d ? d + i * ldd : NULL, z + i * ldz, lab[i], 2, B);
}

const cpu_kern ab_cpu_kern_generic = {AB_CPU_ISA_GENERIC, gen_mm, gen_adam, gen_transpose,
                                      gen_dact, gen_fma_loop, gen_xent2};
