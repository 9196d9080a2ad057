/* cpu.h - the fast CPU backend: register-blocked, vectorised twins of the reference ops
 * and a threaded device built on them (its op table, ab_cpu_ops: ops.h).
 *
 * The ops below take the same arguments as their ab_ref_* twins (ref.h) plus a leading
 * instruction-set choice (and a scratch buffer for the backward), and compute the same
 * sums in the same order; they differ from the reference only by rounding: the AVX2
 * kernels fuse multiply-add (one rounding per term instead of two) and use their own
 * vector exp for sigmoid and tanh, and the backend's 2-class training loss a vector
 * exp and log (the AVX-512 kernels compute the AVX2 kernels' bits with wider vectors). The generic kernels (any CPU) use no fma and libm and
 * match the reference bit for bit. The backend's results never depend on the thread
 * count (see docs/cpu.md). */
#ifndef ABGPU_CPU_H
#define ABGPU_CPU_H
#include <stddef.h>
#include <stdint.h>
#include "abgpu/arch.h"
#include "abgpu/ops.h"

typedef struct ab_backend ab_backend; /* backend.h */

/* Which kernels run: AUTO picks AVX-512 (AVX512F, AVX512VL and FMA, with the OS saving
 * the zmm state) when the CPU has it, else AVX2+FMA when it has that, else GENERIC. */
typedef enum {
  AB_CPU_ISA_AUTO = 0,
  AB_CPU_ISA_GENERIC = 1,
  AB_CPU_ISA_AVX2 = 2,
  AB_CPU_ISA_AVX512 = 3
} ab_cpu_isa;

/* AUTO resolved for this CPU; any other value is returned when the CPU supports it,
 * else AB_CPU_ISA_GENERIC. */
ab_cpu_isa ab_cpu_isa_resolve(ab_cpu_isa want);
/* "generic", "avx2", "avx512" ("auto" for AUTO). */
const char *ab_cpu_isa_name(ab_cpu_isa isa);
/* The ISA of a name ("auto", "generic", "avx2", "avx512"); -1 for anything else. */
int ab_cpu_isa_parse(const char *name, ab_cpu_isa *isa);

typedef struct ab_cpu_opts {
  int threads;     /* worker threads including the caller; <= 0: all online cores */
  ab_cpu_isa isa;  /* AB_CPU_ISA_AUTO unless testing */
  int per_op;      /* 1: no whole-epoch override, the generic step over the ops (tests) */
  int exact;       /* 0: up to `threads` threads, as many as pay (docs/cpu.md); 1: all of
                    * them (tests, bench's side-by-side rows) */
} ab_cpu_opts;

/* The fast CPU backend: the CPU device's op table (ab_cpu_ops) with its threaded
 * whole-epoch override. Threads start on first use and live until ab_backend_free.
 * Fails with AB_EUSAGE when o->isa names kernels this CPU cannot run. */
int ab_backend_cpu_create(ab_backend **be, const ab_cpu_opts *o, ab_err *e);
/* The device alone; name gets "cpu (ISA, N threads)", or "cpu (ISA, up to N threads)"
 * when the backend chooses how many of them to use (exact 0). */
int ab_cpu_dev_create(ab_dev **d, const ab_cpu_opts *o, char *name, size_t n, ab_err *e);

/* One core's multiply-add peak with the kernels of isa, in GFLOP/s: a loop of
 * independent multiply-adds in registers (fma on AVX2 and AVX-512, a multiply and an add
 * in plain C for the generic kernels), timed in the calling thread's CPU time (so that
 * another process sharing the core does not lower it), best of five runs of ~10 ms. */
double ab_cpu_fma_peak(ab_cpu_isa isa);

/* Online cores (at least 1). */
int ab_cpu_count(void);

/* The ops, single-threaded, with the reference's layouts and argument order (ref.h). */
void ab_cpu_linear_act_fwd(ab_cpu_isa isa, float *Y, const float *X, const float *W,
                           const float *b, ab_act act, int K, int B, int IN, int OUT,
                           size_t pstride);
/* As ab_ref_linear_act_bwd; work: [IN*OUT] scratch (W transposed, for dX). */
void ab_cpu_linear_act_bwd(ab_cpu_isa isa, float *dX, float *dW, float *db, float *dZ,
                           const float *dY, const float *X, const float *Y, const float *W,
                           float *work, ab_act act, int K, int B, int IN, int OUT,
                           size_t pstride);
/* Bit-identical to ab_ref_adam_step on every ISA (same operations, no fma). */
void ab_cpu_adam_step(ab_cpu_isa isa, float *p, float *m, float *v, const float *g,
                      const float *lr, const float *wd, float beta1, float beta2, float eps,
                      int t, int K, size_t n);
/* Bit-identical to ab_ref_softmax_xent (the same libm calls). */
void ab_cpu_softmax_xent(float *loss, float *dlogits, const float *logits,
                         const int32_t *labels, int K, int B, int C);
/* Bit-identical to ab_ref_dropout (integer hashing, one multiply); a row's mask is
 * computed a vector at a time. */
void ab_cpu_dropout(float *Y, const float *X, const uint32_t *c, uint32_t salt, int K, int B,
                    int N);

#endif
