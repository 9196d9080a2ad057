/* The CPU device: the op table (ops.h) over the fast kernels of ops.c on host memory.
 * The forward op splits its rows over the device's threads where that measures faster
 * (impl.h, cpu_fwd_probe; every row is computed by the same instructions whichever
 * thread takes it, so the choice never changes a bit); the other ops run on the calling thread:
 * training goes through the threaded whole-epoch override (epoch.c) unless opts.per_op. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../ref/host.h"
#include "abgpu/ref.h"
#include "impl.h"

#define EVAL_ROWS 1024
#define THREAD_MIN_MACS (1 << 21) /* smaller forward calls (~50 us) run on the calling thread */

int cpu_pool_get(cpu_impl *r, ab_err *e) {
  return r->pool ? AB_OK : cpu_pool_create(&r->pool, r->T, e);
}

int ab_cpu_dev_create(ab_dev **out, const ab_cpu_opts *o, char *name, size_t n, ab_err *e) {
  ab_cpu_opts opts = o ? *o : (ab_cpu_opts){0, AB_CPU_ISA_AUTO, 0, 0};
  ab_cpu_isa isa = ab_cpu_isa_resolve(opts.isa);
  if (opts.isa != AB_CPU_ISA_AUTO && isa != opts.isa)
    return ab_err_set(e, AB_EUSAGE, "this CPU cannot run the %s kernels",
                      ab_cpu_isa_name(opts.isa));
  cpu_impl *r = calloc(1, sizeof *r);
  if (!r) return ab_err_set(e, AB_ENOMEM, "out of memory");
  r->o = opts;
  r->T = opts.threads > 0 ? opts.threads : ab_cpu_count();
  r->kt = cpu_kern_get(isa);
  r->fp.verdict = -1;
  snprintf(r->path, sizeof r->path, "threaded-epoch: no models yet");
  if (name)
    snprintf(name, n, "cpu (%s, %s%d thread%s)", ab_cpu_isa_name(isa),
             r->T > 1 && !opts.exact ? "up to " : "", r->T, r->T == 1 ? "" : "s");
  *out = r;
  return AB_OK;
}

static void cpu_destroy(ab_dev *d) {
  cpu_impl *r = d;
  if (!r) return;
  cpu_plan_free(r);
  cpu_pool_free(r->pool);
  free(r->gx);
  free(r->gy);
  free(r->work);
  free(r);
}

/* Gathers through host.h's helper with this device's buffers. */
static const float *rows(cpu_impl *r, ab_rows X, int K, int B, int IN, ab_err *e) {
  ab_host_scratch s = {r->gx, r->gy, r->cap, r->capy};
  const float *x = ab_host_rows(&s, X, K, B, IN, e);
  r->gx = s.x; r->cap = s.capx;
  return x;
}

static const int32_t *labels(cpu_impl *r, ab_rows Y, int K, int B, ab_err *e) {
  ab_host_scratch s = {r->gx, r->gy, r->cap, r->capy};
  const int32_t *y = ab_host_labels(&s, Y, K, B, e);
  r->gy = s.y; r->capy = s.capy;
  return y;
}

static float *F(const ab_mem *m) { return (float *)m->h; }

/* ---- linear_act_fwd, rows split over the threads ---- */

typedef struct fwd_job {
  const cpu_kern *kt;
  float *Y;
  const float *X, *W, *b;
  size_t xks, pstride;         /* X: model k's row i at (k*xks + i) * IN */
  ab_act act;
  int K, B, IN, OUT, T;
} fwd_job;

static void fwd_rows(const fwd_job *j, int k, int i0, int i1) {
  cpu_mm m = {.M = i1 - i0, .N = j->OUT, .K = j->IN,
              .A = j->X + (k * j->xks + i0) * j->IN, .ars = j->IN, .aks = 1,
              .B = j->W + k * j->pstride, .ldb = j->OUT, .ep = CPU_EP_ACT,
              .C = j->Y + ((size_t)k * j->B + i0) * j->OUT, .ldc = j->OUT,
              .bias = j->b + k * j->pstride, .act = j->act};
  j->kt->mm(&m);
}

/* Thread tid's contiguous share of the K*B rows. */
static void fwd_task(void *arg, int tid) {
  const fwd_job *j = arg;
  size_t n = (size_t)j->K * j->B, lo = n * tid / j->T, hi = n * (tid + 1) / j->T;
  for (int k = 0; k < j->K; k++) {
    size_t a = (size_t)k * j->B, z = a + j->B;
    if (hi > a && lo < z)
      fwd_rows(j, k, (int)((lo > a ? lo : a) - a), (int)((hi < z ? hi : z) - a));
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double median3(const double *t) {
  double a = t[0], b = t[1], c = t[2];
  return a > b ? (b > c ? b : a > c ? c : a) : (a > c ? a : b > c ? c : b);
}

/* Split (1) or one thread (0) for an eligible call, as the probe stands (impl.h). */
static int fwd_choice(cpu_fwd_probe *p) {
  if (p->verdict >= 0 && ++p->calls > CPU_FWD_REPROBE) {
    p->n[0] = p->n[1] = 0;
    p->verdict = -1;
  }
  return p->verdict >= 0 ? p->verdict : p->n[1] <= p->n[0];
}

static void fwd_note(cpu_fwd_probe *p, int split, double rate) {
  if (p->verdict >= 0 || p->n[split] >= CPU_FWD_PROBE_N) return;
  p->rate[split][p->n[split]++] = rate;
  if (p->n[0] == CPU_FWD_PROBE_N && p->n[1] == CPU_FWD_PROBE_N) {
    double one = median3(p->rate[0]), split = median3(p->rate[1]);
    p->verdict = split < 0.9 * one;
    p->calls = 0;
    snprintf(p->why, sizeof p->why, "forward op: %s (measured: split %.2f ns per 1k MACs, one %.2f)",
             p->verdict ? "rows split" : "one thread", split * 1e12, one * 1e12);
  }
}

static int cpu_fwd(ab_dev *d, ab_mem *Y, ab_rows X, const ab_mem *P, size_t woff, size_t boff,
                   ab_act act, int K, int B, int IN, int OUT, size_t pstride, ab_err *e) {
  cpu_impl *r = d;
  const float *x = X.idx ? rows(r, X, K, B, IN, e) : F(X.x) + X.off * IN;
  if (!x) return AB_ENOMEM;
  double macs = (double)K * B * IN * OUT;
  fwd_job j = {r->kt, F(Y), x, F(P) + woff, F(P) + boff, X.idx ? (size_t)B : X.kstride,
               pstride, act, K, B, IN, OUT, 1};
  if (r->T < 2 || macs < THREAD_MIN_MACS || (size_t)K * B < (size_t)r->T * 8) {
    fwd_task(&j, 0);
    return AB_OK;
  }
  int split = r->o.exact ? 1 : fwd_choice(&r->fp);
  int rc = split ? cpu_pool_get(r, e) : AB_OK;
  if (rc) return rc;
  double t0 = now_s();
  if (split) {
    j.T = r->T;
    cpu_pool_run(r->pool, fwd_task, &j);
  } else {
    fwd_task(&j, 0);
  }
  if (!r->o.exact) fwd_note(&r->fp, split, (now_s() - t0) / macs);
  return AB_OK;
}

/* ---- the other ops, on the calling thread ---- */

static int cpu_xent(ab_dev *d, ab_mem *loss, ab_mem *dlogits, ab_mem *bloss, int bslot,
                    int bstride, const ab_mem *logits, ab_rows lab, int K, int B, int C,
                    ab_err *e) {
  cpu_impl *r = d;
  const int32_t *y = labels(r, lab, K, B, e);
  if (!y) return AB_ENOMEM;
  float *dl = dlogits ? F(dlogits) : NULL;
  if (C == 2) /* the threaded epoch's kernel, so that the generic step gets its bits */
    r->kt->xent2(F(loss), dl, 2, F(logits), 2, y, K * B, (float)B);
  else
    ab_cpu_softmax_xent(F(loss), dl, F(logits), y, K, B, C);
  if (bloss) ab_host_batch_means(F(bloss), bslot, bstride, F(loss), K, B);
  return AB_OK;
}

static int cpu_bwd(ab_dev *d, ab_mem *dX, ab_mem *G, size_t woff, size_t boff, ab_mem *dZ,
                   const ab_mem *dY, ab_rows X, const ab_mem *Y, const ab_mem *P, ab_act act,
                   ab_act act_in, int K, int B, int IN, int OUT, size_t pstride, ab_err *e) {
  cpu_impl *r = d;
  const float *x = X.idx || (K > 1 && X.kstride != (size_t)B) ? rows(r, X, K, B, IN, e)
                                                                : F(X.x) + X.off * IN;
  size_t nw = (size_t)IN * OUT;
  if (x && nw > r->capw) {
    float *w = realloc(r->work, nw * sizeof *w);
    if (w) { r->work = w; r->capw = nw; }
    else x = NULL;
  }
  if (!x) return ab_err_set(e, AB_ENOMEM, "out of memory");
  float *dx = dX ? F(dX) : NULL;
  ab_cpu_linear_act_bwd(r->kt->isa, dx, F(G) + woff, F(G) + boff, F(dZ), F(dY), x, F(Y),
                        F(P) + woff, r->work, act, K, B, IN, OUT, pstride);
  if (dx && act_in != AB_ACT_IDENTITY) r->kt->dact(dx, dx, x, act_in, (size_t)K * B * IN);
  return AB_OK;
}

static int cpu_adam_op(ab_dev *d, ab_mem *p, ab_mem *m, ab_mem *v, const ab_mem *g,
                    const ab_mem *lr, const ab_mem *wd, int64_t t, int K, size_t n, ab_err *e) {
  (void)e;
  cpu_impl *r = d;
  ab_cpu_adam_step(r->kt->isa, F(p), F(m), F(v), F(g), F(lr), F(wd), AB_ADAM_BETA1,
                   AB_ADAM_BETA2, AB_ADAM_EPS, (int)t, K, n);
  return AB_OK;
}

static int cpu_dropout(ab_dev *d, ab_mem *Y, const ab_mem *X, const ab_mem *c, uint32_t salt,
                       int K, int B, int N, ab_err *e) {
  (void)d; (void)e;
  ab_cpu_dropout(F(Y), F(X), (const uint32_t *)c->h, salt, K, B, N);
  return AB_OK;
}

/* The training path, and the forward op's choice once measured. */
static const char *cpu_path(const ab_dev *d) {
  cpu_impl *r = (cpu_impl *)d; /* a device is never const itself; the buffer is its own */
  if (!r->fp.why[0]) return r->path;
  snprintf(r->path_all, sizeof r->path_all, "%s; %s", r->path, r->fp.why);
  return r->path_all;
}

const ab_ops ab_cpu_ops = {
    .name = "cpu", .eval_rows = EVAL_ROWS, .warm_up = 0,
    .alloc = ab_host_alloc, .upload = ab_host_upload, .release = ab_host_release,
    .write = ab_host_write, .read = ab_host_read, .copy = ab_host_copy, .zero = ab_host_zero,
    .linear_act_fwd = cpu_fwd, .softmax_xent = cpu_xent, .linear_act_bwd = cpu_bwd,
    .adam_step = cpu_adam_op, .eval = ab_host_eval, .eval_sum = ab_host_eval_sum,
    .prob1 = ab_host_prob1, .dropout = cpu_dropout, .plan = cpu_plan, .epoch = cpu_epoch, .path = cpu_path,
    .destroy = cpu_destroy};
