/* The fast ops with the reference's layouts (cpu.h), instruction-set choice, and the
 * per-row softmax pieces shared with the backend. */
#include <math.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "abgpu/ref.h"
#include "kern.h"
#ifdef ABGPU_CPU_HAVE_AVX512
#include <cpuid.h>
#endif

#ifdef ABGPU_CPU_HAVE_AVX512
/* AVX512F and AVX512VL (CPUID leaf 7) and the OS saving the opmask and zmm registers
 * (XCR0 bits 1, 2, 5, 6, 7, read with xgetbv once CPUID says OSXSAVE). */
static int have_avx512(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_FMA)) return 0;
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 0xE6) != 0xE6) return 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return (b & bit_AVX512F) && (b & bit_AVX512VL);
}
#endif

ab_cpu_isa ab_cpu_isa_resolve(ab_cpu_isa want) {
#ifdef ABGPU_CPU_HAVE_AVX2
  __builtin_cpu_init();
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  int avx2 = 0;
#endif
#ifdef ABGPU_CPU_HAVE_AVX512
  int avx512 = have_avx512();
#else
  int avx512 = 0;
#endif
  if (want == AB_CPU_ISA_AUTO && avx512) return AB_CPU_ISA_AVX512;
  if (want == AB_CPU_ISA_AVX512) return avx512 ? AB_CPU_ISA_AVX512 : AB_CPU_ISA_GENERIC;
  if (want == AB_CPU_ISA_AUTO || want == AB_CPU_ISA_AVX2)
    return avx2 ? AB_CPU_ISA_AVX2 : AB_CPU_ISA_GENERIC;
  return AB_CPU_ISA_GENERIC;
}

static const char *const ISA_NAMES[] = {"auto", "generic", "avx2", "avx512"};

const char *ab_cpu_isa_name(ab_cpu_isa isa) {
  return isa >= AB_CPU_ISA_AUTO && isa <= AB_CPU_ISA_AVX512 ? ISA_NAMES[isa] : "auto";
}

int ab_cpu_isa_parse(const char *name, ab_cpu_isa *isa) {
  for (int i = 0; i < 4; i++)
    if (name && strcmp(name, ISA_NAMES[i]) == 0) {
      *isa = (ab_cpu_isa)i;
      return 0;
    }
  return -1;
}

const cpu_kern *cpu_kern_get(ab_cpu_isa isa) {
  switch (ab_cpu_isa_resolve(isa)) {
#ifdef ABGPU_CPU_HAVE_AVX512
    case AB_CPU_ISA_AVX512: return &ab_cpu_kern_avx512;
#endif
#ifdef ABGPU_CPU_HAVE_AVX2
    case AB_CPU_ISA_AVX2: return &ab_cpu_kern_avx2;
#endif
    default: return &ab_cpu_kern_generic;
  }
}

static double thread_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double ab_cpu_fma_peak(ab_cpu_isa isa) {
  const cpu_kern *kt = cpu_kern_get(isa);
  float sink;
  long n = 1 << 12;
  double best = 0;
  while (n < (1L << 30)) { /* grow the loop until it runs 10 ms */
    double t0 = thread_s(), f = kt->fma_loop(n, &sink), t = thread_s() - t0;
    if (t >= 0.01) { best = f / t; break; }
    n *= 2;
  }
  for (int i = 0; i < 4; i++) { /* the best of five: another process may share the core */
    double t0 = thread_s(), f = kt->fma_loop(n, &sink), t = thread_s() - t0;
    if (t > 0 && f / t > best) best = f / t;
  }
  return best / 1e9;
}

int ab_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

void cpu_adam_init(cpu_adam *c, float lr, float wd, float beta1, float beta2, float eps,
                   int t) {
  float c1 = 1.0f - powf(beta1, (float)t);
  c->c2 = 1.0f - powf(beta2, (float)t);
  c->rc2 = 1.0f / c->c2;
  c->b1 = beta1;
  c->b2 = beta2;
  c->omb1 = 1.0f - beta1;
  c->omb2 = 1.0f - beta2;
  c->eps = eps;
  c->step = lr / c1;
  c->decay = lr * wd;
}

/* Two classes with finite logits, bit for bit as ab_ref_lse_row: the larger logit's
 * exp(z - max) is exp(0), exactly 1, so only the other one calls expf. */
static float xent2(float *d, const float *z, int lab, float B) {
  int b = z[1] > z[0];
  float mx = z[b], e[2];
  e[b] = 1.0f;
  e[1 - b] = expf(z[1 - b] - mx);
  float sum = e[0] + e[1], loss = logf(sum) + mx - z[lab];
  if (d)
    for (int c = 0; c < 2; c++) d[c] = (e[c] / sum - (c == lab ? 1.0f : 0.0f)) / B;
  return loss;
}

float cpu_xent_row(float *d, const float *z, int lab, int C, float B) {
  if (C == 2 && isfinite(z[0]) && isfinite(z[1])) return xent2(d, z, lab, B);
  float sum, loss = ab_ref_lse_row(z, C, d, &sum, NULL) - z[lab];
  if (d)
    for (int c = 0; c < C; c++) d[c] = (d[c] / sum - (c == lab ? 1.0f : 0.0f)) / B;
  return loss;
}

void ab_cpu_linear_act_fwd(ab_cpu_isa isa, float *Y, const float *X, const float *W,
                           const float *b, ab_act act, int K, int B, int IN, int OUT,
                           size_t pstride) {
  const cpu_kern *kt = cpu_kern_get(isa);
  for (int k = 0; k < K; k++) {
    cpu_mm m = {.M = B, .N = OUT, .K = IN, .A = X + (size_t)k * B * IN, .ars = IN, .aks = 1,
                .B = W + k * pstride, .ldb = OUT, .ep = CPU_EP_ACT,
                .C = Y + (size_t)k * B * OUT, .ldc = OUT, .bias = b + k * pstride, .act = act};
    kt->mm(&m);
  }
}

void ab_cpu_linear_act_bwd(ab_cpu_isa isa, float *dX, float *dW, float *db, float *dZ,
                           const float *dY, const float *X, const float *Y, const float *W,
                           float *work, ab_act act, int K, int B, int IN, int OUT,
                           size_t pstride) {
  static const float one = 1.0f;
  const cpu_kern *kt = cpu_kern_get(isa);
  kt->dact(dZ, dY, Y, act, (size_t)K * B * OUT);
  for (int k = 0; k < K; k++) {
    const float *Xk = X + (size_t)k * B * IN, *Zk = dZ + (size_t)k * B * OUT;
    cpu_mm gw = {.M = IN, .N = OUT, .K = B, .A = Xk, .ars = 1, .aks = IN, .B = Zk,
                 .ldb = OUT, .ep = CPU_EP_STORE, .C = dW + k * pstride, .ldc = OUT};
    kt->mm(&gw);
    cpu_mm gb = {.M = 1, .N = OUT, .K = B, .A = &one, .ars = 0, .aks = 0, .B = Zk,
                 .ldb = OUT, .ep = CPU_EP_STORE, .C = db + k * pstride, .ldc = OUT};
    kt->mm(&gb);
    if (!dX) continue;
    kt->transpose(work, IN, W + k * pstride, OUT, IN, OUT);
    cpu_mm gx = {.M = B, .N = IN, .K = OUT, .A = Zk, .ars = OUT, .aks = 1, .B = work,
                 .ldb = IN, .Bt = W + k * pstride, .ldbt = OUT, .ep = CPU_EP_STORE, .C = dX + (size_t)k * B * IN, .ldc = IN};
    kt->mm(&gx);
  }
}

void ab_cpu_adam_step(ab_cpu_isa isa, float *p, float *m, float *v, const float *g,
                      const float *lr, const float *wd, float beta1, float beta2, float eps,
                      int t, int K, size_t n) {
  const cpu_kern *kt = cpu_kern_get(isa);
  for (int k = 0; k < K; k++) {
    cpu_adam c;
    cpu_adam_init(&c, lr[k], wd[k], beta1, beta2, eps, t);
    size_t o = (size_t)k * n;
    kt->adam(p + o, m + o, v + o, g + o, n, &c);
  }
}

void ab_cpu_softmax_xent(float *loss, float *dlogits, const float *logits,
                         const int32_t *labels, int K, int B, int C) {
  for (size_t i = 0; i < (size_t)K * B; i++)
    loss[i] = cpu_xent_row(dlogits ? dlogits + i * C : NULL, logits + i * C, labels[i], C,
                           (float)B);
}
