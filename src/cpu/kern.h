/* kern.h - private to src/cpu/: the one blocked matrix product every fast op is built
 * from, its epilogues, and the per-ISA kernel tables.
 *
 *   C[r][j] = init[j] + sum_{k=0..K-1} A(r,k) * B[k][j]     r < M, j < N
 *   A(r,k)  = A[r*ars + k*aks]       (any strides: X, X transposed, a constant 1)
 *
 * Every output element is one sum in a fixed order, whatever the tiling or thread
 * split, so results never depend on how work is divided: a sequential fma chain over k
 * in increasing order, except in the dot columns below. */
#ifndef ABGPU_CPU_KERN_H
#define ABGPU_CPU_KERN_H
#include <stddef.h>
#include <stdint.h>
#include "abgpu/arch.h"
#include "abgpu/cpu.h"

/* What happens to a finished sum. */
typedef enum {
  CPU_EP_STORE,  /* C = sum                                    (init 0) */
  CPU_EP_ACT,    /* C = act(sum), init = bias row              (forward) */
  CPU_EP_DACT,   /* C = sum * act'(Y), act' from y as ref.h    (dX fused with dZ below) */
  CPU_EP_ADAM    /* sum is the gradient of P: Adam updates P, Mo, V in place (init 0) */
} cpu_ep;

/* One Adam step's constants, computed as ab_ref_adam_step computes them. */
typedef struct cpu_adam {
  float b1, b2, omb1, omb2;  /* beta1, beta2, 1 - beta1, 1 - beta2 */
  float eps, c2;             /* c2 = 1 - beta2^t */
  float step, decay;         /* lr / (1 - beta1^t), lr * wd */
  float rc2;                 /* 1 / c2 (the AVX-512 Adam multiplies by it) */
} cpu_adam;

void cpu_adam_init(cpu_adam *c, float lr, float wd, float beta1, float beta2, float eps,
                   int t);

typedef struct cpu_mm {
  int M, N, K;
  const float *A;
  ptrdiff_t ars, aks;
  const float *B;
  ptrdiff_t ldb;
  const float *Bt;          /* NULL, or B transposed: B(k, j) = Bt[j*ldbt + k] (dot columns) */
  ptrdiff_t ldbt;
  cpu_ep ep;
  float *C;                 /* STORE, ACT, DACT */
  ptrdiff_t ldc;
  const float *bias;        /* ACT: [N] */
  ab_act act;               /* ACT: applied; DACT: derivative taken */
  const float *Y;           /* DACT: [M][ldy] */
  ptrdiff_t ldy;
  float *P, *Mo, *V;        /* ADAM: [M][ldp] each */
  ptrdiff_t ldp;
  const cpu_adam *adam;
} cpu_mm;

/* The dot columns: where the last N % 16 columns are 1..4 (all of N when N <= 4), A's
 * rows contiguous (aks 1), 16 <= K <= CPU_DOT_KMAX and no Adam, the AVX2 and AVX-512
 * kernels compute those columns as dot products of A's rows with B's columns (Bt, or a
 * copy the kernel makes): lane l of 16 sums the terms k = l mod 16 in increasing k (an
 * fma chain from +0; lanes past K add 0 x 0), then the lanes are added as
 * f_i = s_i + s_{i+8}, g_i = f_i + f_{i+4}, h_i = g_i + g_{i+2}, h_0 + h_1; the bias
 * (ACT) is added to that, then the epilogue. Both instruction sets do exactly this
 * (the same bits); generic keeps the sequential chain. A row tile would fill 1-4 of a
 * vector's 16 lanes there. The rule depends on N, K, aks and ep only, never on M, so
 * the thread split cannot change a bit. Returns the number of dot columns (0: none). */
#define CPU_DOT_KMAX 1024
static inline int cpu_dot_cols(const cpu_mm *m) {
  int nl = m->N % 16;
  if (m->ep == CPU_EP_ADAM || m->aks != 1 || m->K < 16 || m->K > CPU_DOT_KMAX) return 0;
  return nl >= 1 && nl <= 4 ? nl : 0;
}

/* The kernels of one instruction set. */
typedef struct cpu_kern {
  ab_cpu_isa isa;
  void (*mm)(const cpu_mm *m);
  /* Adam over n contiguous floats (g: gradient). */
  void (*adam)(float *p, float *m, float *v, const float *g, size_t n, const cpu_adam *c);
  /* dst[j][i] = src[i][j] for i < rows, j < cols. */
  void (*transpose)(float *dst, ptrdiff_t ldd, const float *src, ptrdiff_t lds, int rows,
                    int cols);
  /* y[i] = y[i] * act'(x[i]) elementwise, act' from the output as in ref.h. */
  void (*dact)(float *dz, const float *dy, const float *y, ab_act act, size_t n);
  /* n rounds of independent multiply-adds in registers, as many as fill the FMA units;
   * returns the flops done (2 a multiply-add). *sink gets a result, so none is dropped. */
  double (*fma_loop)(long n, float *sink);
  /* 2-class softmax cross-entropy of n rows: row i's logits at z + i*ldz, loss[i], and
   * (when d is not NULL) its dlogits (softmax - onehot) / B at d + i*ldd. Generic: the
   * reference's bits (cpu_xent_row); AVX2 and AVX-512 (the same bits as each other): a
   * vector exp and log, within a few ulp (docs/cpu.md, Numerics); rows with a
   * non-finite logit take cpu_xent_row. */
  void (*xent2)(float *loss, float *d, ptrdiff_t ldd, const float *z, ptrdiff_t ldz,
                const int32_t *lab, int n, float B);
} cpu_kern;

extern const cpu_kern ab_cpu_kern_generic;
#if defined(__x86_64__) || defined(__i386__)
#define ABGPU_CPU_HAVE_AVX2 1
extern const cpu_kern ab_cpu_kern_avx2;
#endif
/* Set by CMake where kern_avx512.c is built with the AVX-512 flags (x86-64 only). */
#if defined(ABGPU_CPU_AVX512) && defined(__x86_64__)
#define ABGPU_CPU_HAVE_AVX512 1
extern const cpu_kern ab_cpu_kern_avx512;
#endif

/* The table for isa (resolved with ab_cpu_isa_resolve). */
const cpu_kern *cpu_kern_get(ab_cpu_isa isa);

/* Softmax cross-entropy of one row, as ab_ref_softmax_xent: returns the loss and, when
 * d is not NULL, writes d[c] = (softmax - onehot) / B. */
float cpu_xent_row(float *d, const float *z, int lab, int C, float B);

#endif
