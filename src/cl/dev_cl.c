/* The OpenCL device: the op table (ops.h) over the kernels' enqueue wrappers (ops.c),
 * and the fused whole-pass overrides (fused.c): when the plan chooses the fused path, an
 * epoch is one launch (or a few) and an evaluation one; else the generic step runs the
 * per-op kernels, 3L + 1 launches per batch (10 for the seed net). Buffers are cl_mem;
 * transfers block. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl/backend_cl.h"

#define EVAL_ROWS 1024  /* rows per evaluation chunk (at least the batch) */
/* Work-items per group of CLBlast's kernels in their default tuning (a device that
 * allows fewer fails in CLBlast with CL_INVALID_WORK_GROUP_SIZE). */
#define CLBLAST_WG 256

static ab_cl_backend *dev(ab_dev *d) { return d; }

/* ---- memory ---- */

static int cl_alloc(ab_dev *d, ab_mem *m, size_t bytes, ab_err *e) {
  cl_mem b;
  int rc = ab_cl_buffer(dev(d)->ctx, &b, CL_MEM_READ_WRITE,
                        bytes < sizeof(float) ? sizeof(float) : bytes, NULL, e);
  if (rc) return rc;
  m->h = b;
  m->bytes = bytes;
  return AB_OK;
}

static int cl_upload(ab_dev *d, ab_mem *m, const void *host, size_t bytes, ab_err *e) {
  if (!bytes) return cl_alloc(d, m, 0, e);
  cl_mem b;
  int rc = ab_cl_buffer(dev(d)->ctx, &b, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, bytes, host,
                        e);
  if (rc) return rc;
  m->h = b;
  m->bytes = bytes;
  return AB_OK;
}

static void cl_release(ab_dev *d, ab_mem *m) {
  (void)d;
  if (m->h) clReleaseMemObject(AB_CLM(m));
  m->h = NULL;
  m->bytes = 0;
}

/* A zero-byte transfer is an error in OpenCL, so it is skipped. */
static int cl_write(ab_dev *d, ab_mem *m, size_t off, const void *src, size_t bytes, ab_err *e) {
  if (!bytes) return AB_OK;
  AB_CL_CHECK(e, clEnqueueWriteBuffer(dev(d)->ctx->queue, AB_CLM(m), CL_TRUE, off, bytes, src, 0,
                                      NULL, NULL));
  return AB_OK;
}

/* The batch order's upload: queued, not waited for (the caller keeps src until a read). */
static int cl_write_async(ab_dev *d, ab_mem *m, size_t off, const void *src, size_t bytes,
                          ab_err *e) {
  if (!bytes) return AB_OK;
  AB_CL_CHECK(e, clEnqueueWriteBuffer(dev(d)->ctx->queue, AB_CLM(m), CL_FALSE, off, bytes, src,
                                      0, NULL, NULL));
  return AB_OK;
}

static int cl_read(ab_dev *d, const ab_mem *m, size_t off, void *dst, size_t bytes, ab_err *e) {
  if (!bytes) return AB_OK;
  AB_CL_CHECK(e, clEnqueueReadBuffer(dev(d)->ctx->queue, AB_CLM(m), CL_TRUE, off, bytes, dst, 0,
                                     NULL, NULL));
  return AB_OK;
}

static int cl_copy(ab_dev *d, ab_mem *dst, size_t doff, const ab_mem *src, size_t soff,
                   size_t bytes, ab_err *e) {
  if (!bytes) return AB_OK;
  AB_CL_CHECK(e, clEnqueueCopyBuffer(dev(d)->ctx->queue, AB_CLM(src), AB_CLM(dst), soff, doff,
                                     bytes, 0, NULL, NULL));
  return AB_OK;
}

int ab_cl_zero(ab_cl_ctx *c, cl_mem buf, size_t n, ab_err *e) {
  if (!n) return AB_OK;
  float *z = calloc(n, sizeof(float));
  if (!z) return ab_err_set(e, AB_ENOMEM, "out of memory");
  cl_int rc = clEnqueueWriteBuffer(c->queue, buf, CL_TRUE, 0, n * sizeof(float), z, 0, NULL,
                                   NULL);
  free(z);
  AB_CL_CHECK(e, rc);
  return AB_OK;
}

static int cl_zero(ab_dev *d, ab_mem *m, size_t bytes, ab_err *e) {
  return ab_cl_zero(dev(d)->ctx, AB_CLM(m), bytes / sizeof(float), e);
}

/* ---- rows ---- */

/* An index 0..n-1 (grown when needed): rows in place read as rows through an index. */
static int iota(ab_cl_backend *cb, size_t n, ab_err *e) {
  if (n <= cb->niota) return AB_OK;
  int32_t *h = malloc(n * sizeof *h);
  if (!h) return ab_err_set(e, AB_ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) h[i] = (int32_t)i;
  if (cb->iota) clReleaseMemObject(cb->iota);
  int rc = ab_cl_buffer(cb->ctx, &cb->iota, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                        n * sizeof *h, h, e);
  free(h);
  cb->niota = rc ? 0 : n;
  return rc;
}

/* The kernels' form of rows R of K models of B: dense [K][B][..] when they are, else
 * through an index (the batch order, or the iota for rows in place). */
static int cl_rows(ab_cl_backend *cb, ab_cl_rows *out, ab_rows R, int K, int B, ab_err *e) {
  *out = (ab_cl_rows){AB_CLM(R.x), R.idx ? AB_CLM(R.idx) : NULL, (int)R.off, (int)R.kstride};
  if (R.idx || (R.off == 0 && (R.kstride == (size_t)B || K == 1))) {
    if (!R.idx) out->off = out->kstride = 0;
    return AB_OK;
  }
  int rc = iota(cb, R.off + (size_t)(K - 1) * R.kstride + (size_t)B, e);
  out->idx = cb->iota;
  return rc;
}

/* CLBlast needs its X dense: rows through an index are gathered first. */
static int dense(ab_cl_backend *cb, cl_mem *X, ab_cl_rows r, int K, int B, int IN, ab_err *e) {
  if (!r.idx) { *X = r.x; return AB_OK; }
  size_t n = (size_t)K * B * IN * sizeof(float);
  if (n > cb->ngather) {
    ab_mem g = {cb->gather, cb->ngather};
    cl_release(cb, &g);
    int rc = cl_alloc(cb, &g, n, e);
    cb->gather = g.h;
    cb->ngather = rc ? 0 : n;
    if (rc) return rc;
  }
  *X = cb->gather;
  return ab_cl_gather(cb->ctx, cb->gather, NULL, NULL, r, K, B, IN, e);
}

/* ---- the ops ---- */

static int cl_fwd(ab_dev *d, ab_mem *Y, ab_rows X, const ab_mem *P, size_t woff, size_t boff,
                  ab_act act, int K, int B, int IN, int OUT, size_t pstride, ab_err *e) {
  ab_cl_backend *cb = dev(d);
  ab_cl_rows r;
  int rc = cl_rows(cb, &r, X, K, B, e);
  if (rc) return rc;
  if (cb->gemm != AB_CL_GEMM_CLBLAST)
    return ab_cl_linear_act_fwd(cb->ctx, AB_CLM(Y), r, AB_CLM(P), (int)woff, (int)boff, act, K,
                                B, IN, OUT, (int)pstride, e);
  cl_mem x;
  rc = dense(cb, &x, r, K, B, IN, e);
  if (!rc) rc = ab_cl_blas_fwd(cb, AB_CLM(Y), x, AB_CLM(P), woff, K, B, IN, OUT, pstride, e);
  if (!rc)
    rc = ab_cl_linear_act_fwd_bias(cb->ctx, AB_CLM(Y), AB_CLM(P), (int)boff, act, K, B, OUT,
                                   (int)pstride, e);
  return rc;
}

/* The kernel reads every label through an index: the batch order, or the iota. */
static int cl_xent(ab_dev *d, ab_mem *loss, ab_mem *dlogits, ab_mem *bloss, int bslot,
                   int bstride, const ab_mem *logits, ab_rows labels, int K, int B, int C,
                   ab_err *e) {
  ab_cl_backend *cb = dev(d);
  ab_cl_rows r;
  int rc = cl_rows(cb, &r, labels, K, B, e);
  if (!rc && !r.idx) {
    rc = iota(cb, (size_t)K * B, e);
    r.idx = cb->iota;
    r.kstride = B;
  }
  if (rc) return rc;
  return ab_cl_softmax_xent(cb->ctx, AB_CLM(loss), AB_CLM(dlogits), AB_CLM(bloss), bslot,
                            bstride, AB_CLM(logits), AB_CLM(labels.x), r, K, B, C, e);
}

/* dZ = dY * act'(Y) (dZ may be dY; identity: nothing), then dX (times act_in' of the
 * layer's input, in X) before dW and db, as the per-op step always did. */
static int cl_bwd(ab_dev *d, ab_mem *dX, ab_mem *G, size_t woff, size_t boff, ab_mem *dZ,
                  const ab_mem *dY, ab_rows X, const ab_mem *Y, const ab_mem *P, ab_act act,
                  ab_act act_in, int K, int B, int IN, int OUT, size_t pstride, ab_err *e) {
  ab_cl_backend *cb = dev(d);
  ab_cl_rows r;
  int rc = cl_rows(cb, &r, X, K, B, e), blas = cb->gemm == AB_CL_GEMM_CLBLAST;
  size_t nz = (size_t)K * B * OUT;
  if (!rc && act != AB_ACT_IDENTITY)
    rc = ab_cl_linear_act_bwd_dz(cb->ctx, AB_CLM(dZ), AB_CLM(dY), AB_CLM(Y), act, (int)nz, e);
  else if (!rc && dZ->h != dY->h)
    rc = cl_copy(d, dZ, 0, dY, 0, nz * sizeof(float), e);
  cl_mem xin = r.idx ? NULL : r.x; /* the layer's input, dense */
  if (!rc && dX && !blas)
    rc = ab_cl_linear_act_bwd_dx(cb->ctx, AB_CLM(dX), AB_CLM(dZ), AB_CLM(P), (int)woff,
                                 act_in != AB_ACT_IDENTITY ? xin : NULL, act_in, K, B, IN, OUT,
                                 (int)pstride, e);
  if (!rc && dX && blas) {
    rc = ab_cl_blas_dx(cb, AB_CLM(dX), AB_CLM(dZ), AB_CLM(P), woff, K, B, IN, OUT, pstride, e);
    if (!rc && act_in != AB_ACT_IDENTITY)
      rc = ab_cl_linear_act_bwd_dz(cb->ctx, AB_CLM(dX), AB_CLM(dX), xin, act_in,
                                   (int)((size_t)K * B * IN), e);
  }
  if (rc) return rc;
  if (!blas)
    return ab_cl_linear_act_bwd_dw(cb->ctx, AB_CLM(G), (int)woff, (int)boff, AB_CLM(dZ), r, 0,
                                   K, B, IN, OUT, (int)pstride, e);
  cl_mem x;
  rc = dense(cb, &x, r, K, B, IN, e);
  if (!rc) rc = ab_cl_blas_dw(cb, AB_CLM(G), woff, x, AB_CLM(dZ), K, B, IN, OUT, pstride, e);
  if (!rc)
    rc = ab_cl_linear_act_bwd_dw(cb->ctx, AB_CLM(G), (int)woff, (int)boff, AB_CLM(dZ), r, 1, K,
                                 B, IN, OUT, (int)pstride, e);
  return rc;
}

static int cl_adam(ab_dev *d, ab_mem *p, ab_mem *m, ab_mem *v, const ab_mem *g,
                   const ab_mem *lr, const ab_mem *wd, int64_t t, int K, size_t n, ab_err *e) {
  return ab_cl_adam_step(dev(d)->ctx, AB_CLM(p), AB_CLM(m), AB_CLM(v), AB_CLM(g), AB_CLM(lr),
                         AB_CLM(wd), AB_ADAM_BETA1, AB_ADAM_BETA2, AB_ADAM_EPS, (int)t, K,
                         (int)n, e);
}

/* The accumulators: eloss [K][nslots] float and ecount [K][nslots] int per chunk. */
static int cl_eval(ab_dev *d, ab_mem *eloss, ab_mem *ecount, int slot, int nslots,
                   const ab_mem *logits, const ab_mem *labels, size_t loff, int K, int B, int C,
                   ab_err *e) {
  return ab_cl_eval(dev(d)->ctx, AB_CLM(eloss), AB_CLM(ecount), slot, nslots, AB_CLM(logits),
                    AB_CLM(labels), (int)loff, K, B, C, e);
}

/* The chunks' float sums added in double on the host, chunk by chunk; the accumulators'
 * row stride is the models' maxslots (the pass writes them so). */
static int cl_eval_sum(ab_dev *d, double *loss_sum, int64_t *correct, const ab_mem *eloss,
                       const ab_mem *ecount, int nslots, int K, ab_err *e) {
  int ms = dev(d)->m->maxslots;
  size_t ns = (size_t)K * ms;
  float *pl = malloc(ns * sizeof *pl);
  cl_int *pc = malloc(ns * sizeof *pc);
  int rc = pl && pc ? cl_read(d, eloss, 0, pl, ns * sizeof *pl, e)
                    : ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) rc = cl_read(d, ecount, 0, pc, ns * sizeof *pc, e);
  for (int k = 0; k < K && !rc; k++) {
    loss_sum[k] = 0.0;
    correct[k] = 0;
    for (int s = 0; s < nslots; s++) {
      loss_sum[k] += pl[(size_t)k * ms + s];
      correct[k] += pc[(size_t)k * ms + s];
    }
  }
  free(pl);
  free(pc);
  return rc;
}

static int cl_prob1(ab_dev *d, ab_mem *prob, size_t poff, size_t pks, const ab_mem *logits,
                    int K, int B, ab_err *e) {
  return ab_cl_prob1(dev(d)->ctx, AB_CLM(prob), (int)poff, (int)pks, AB_CLM(logits), K, B, e);
}

static int cl_dropout(ab_dev *d, ab_mem *Y, const ab_mem *X, const ab_mem *c, uint32_t salt,
                      int K, int B, int N, ab_err *e) {
  return ab_cl_dropout(dev(d)->ctx, AB_CLM(Y), AB_CLM(X), AB_CLM(c), salt, K, B, N, e);
}

/* ---- the plan and the fused overrides ---- */

/* The training path and why, on --verbose. */
static void log_path(ab_cl_backend *cb) {
  if (!cb->verbose || !cb->log) return;
  char msg[1600];
  snprintf(msg, sizeof msg, "opencl: training path %s", cb->f.why);
  cb->log(cb->log_user, msg);
}

static int cl_plan(ab_dev *d, const ab_models *m, const ab_data *data, ab_err *e) {
  ab_cl_backend *cb = dev(d);
  cb->m = (ab_models *)m; /* the overrides update the models' slots through it */
  cb->data = data;
  cb->a = m->a;
  cb->K = m->K;
  cb->B = m->B;
  cb->P = (int)m->P;
  cb->maxbatches = m->maxbatches;
  for (int i = 0; i < 3; i++) cb->n[i] = data->n[i];
  cb->maxn = data->maxn;
  int rc = ab_cl_fused_plan(cb, e);
  if (!rc && !cb->f.measure) log_path(cb); /* else once the warm-up has timed the paths */
  return rc;
}

/* Early-stopped models leave the fused launches (the per-op kernels run all K). */
static int cl_mask(ab_dev *d, const uint8_t *active, int K, ab_err *e) {
  ab_cl_backend *cb = dev(d);
  if (!cb->f.active) return AB_OK;
  cl_int *a = malloc((size_t)K * sizeof *a);
  if (!a) return ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int k = 0; k < K; k++) a[k] = active[k] != 0;
  cl_int err = clEnqueueWriteBuffer(cb->ctx->queue, cb->f.active, CL_TRUE, 0,
                                    (size_t)K * sizeof *a, a, 0, NULL, NULL);
  free(a);
  AB_CL_CHECK(e, err);
  return AB_OK;
}

static int cl_paths(const ab_dev *d) { return ab_cl_choice_paths(d); }

static int cl_path_use(ab_dev *d, int i, const double *sec, ab_err *e) {
  (void)e;
  if (ab_cl_choice_use(dev(d), i, sec)) log_path(dev(d));
  return AB_OK;
}

static int cl_epoch(ab_dev *d, ab_models *m, int nbatches, int *ran, ab_err *e) {
  ab_cl_backend *cb = dev(d);
  *ran = cb->f.mode != AB_CL_FUSED_OFF;
  if (!*ran) return AB_OK;
  int rc = ab_cl_fused_steps(cb, nbatches, e), per_model = nbatches * m->B;
  for (int b = 0; b < nbatches && !rc; b += cb->f.seg) {
    int nb = nbatches - b < cb->f.seg ? nbatches - b : cb->f.seg;
    rc = ab_cl_fused_train(cb, per_model, b, nb, e);
  }
  return rc;
}

/* Evaluation on the fused path: one launch, one read of the per-chunk partials. */
static int fused_evaluate(ab_cl_backend *cb, int id, double *loss_sum, int64_t *correct,
                          ab_err *e) {
  ab_cl_fplan *f = &cb->f;
  size_t np = 2 * (size_t)cb->K * f->eslots;
  float *part = malloc(np * sizeof(float));
  int rc = part ? ab_cl_fused_eval(cb, id, 0, e) : ab_err_set(e, AB_ENOMEM, "out of memory");
  cl_int err = rc ? CL_SUCCESS : clEnqueueReadBuffer(cb->ctx->queue, f->part, CL_TRUE, 0,
                                                     np * sizeof(float), part, 0, NULL, NULL);
  if (err) rc = ab_cl_fail(e, err, "clEnqueueReadBuffer", __FILE__, __LINE__);
  int slots = (int)((cb->n[id] + f->ert - 1) / f->ert);
  for (int k = 0; k < cb->K && !rc; k++) {
    loss_sum[k] = 0.0;
    correct[k] = 0;
    for (int s = 0; s < slots; s++) {
      loss_sum[k] += part[2 * ((size_t)k * f->eslots + s)];
      correct[k] += (int64_t)part[2 * ((size_t)k * f->eslots + s) + 1];
    }
  }
  free(part);
  return rc;
}

static int cl_eval_split(ab_dev *d, ab_models *m, int split, double *loss_sum,
                         int64_t *correct, int prob, int *ran, ab_err *e) {
  (void)m;
  ab_cl_backend *cb = dev(d);
  *ran = cb->f.mode != AB_CL_FUSED_OFF && cb->n[split] <= cb->f.eval_max;
  if (!*ran) return AB_OK;
  return prob ? ab_cl_fused_eval(cb, split, 1, e) : fused_evaluate(cb, split, loss_sum, correct, e);
}

static const char *cl_path(const ab_dev *d) { return d->f.why; }

static void cl_destroy(ab_dev *d) {
  ab_cl_backend *cb = dev(d);
  if (!cb) return;
  if (cb->ctx) clFinish(cb->ctx->queue);
  ab_cl_fused_free(&cb->f);
  if (cb->iota) clReleaseMemObject(cb->iota);
  if (cb->gather) clReleaseMemObject(cb->gather);
  ab_cl_ctx_free(cb->ctx);
  free(cb);
}

const ab_ops ab_cl_ops = {
    .name = "opencl", .eval_rows = EVAL_ROWS, .warm_up = 1,
    .alloc = cl_alloc, .upload = cl_upload, .release = cl_release, .write = cl_write,
    .write_async = cl_write_async,
    .read = cl_read, .copy = cl_copy, .zero = cl_zero,
    .linear_act_fwd = cl_fwd, .softmax_xent = cl_xent, .linear_act_bwd = cl_bwd,
    .adam_step = cl_adam, .eval = cl_eval, .eval_sum = cl_eval_sum, .prob1 = cl_prob1,
    .dropout = cl_dropout, .plan = cl_plan, .epoch = cl_epoch, .eval_split = cl_eval_split,
    .path = cl_path, .paths = cl_paths, .path_use = cl_path_use, .mask = cl_mask,
    .destroy = cl_destroy};

/* ---- creation ---- */

int ab_cl_have_clblast(void) {
#ifdef ABGPU_HAVE_CLBLAST
  return 1;
#else
  return 0;
#endif
}

/* The path asked for: the options', else $ABGPU_CL_FUSED, else auto. */
static int fused_want(ab_cl_fplan *f, const ab_cl_opts *o, ab_err *e) {
  ab_cl_fused_opts fo = o ? o->fused : (ab_cl_fused_opts){0};
  if (fo.path < AB_CL_FUSED_AUTO || fo.path > AB_CL_FUSED_EPOCH)
    return ab_err_set(e, AB_EUSAGE, "unknown training path %d", (int)fo.path);
  f->want = fo.path;
  f->local_cap = fo.local;
  f->wg_want = fo.wg;
  f->launch_rows = fo.launch_rows;
  f->mode = AB_CL_FUSED_OFF;
  snprintf(f->why, sizeof f->why, "per-op: no models yet");
  const char *env = getenv("ABGPU_CL_FUSED");
  if (fo.path != AB_CL_FUSED_AUTO || !env || !*env) return AB_OK;
  if (ab_cl_fused_parse(&f->want, env))
    return ab_err_set(e, AB_EUSAGE, "ABGPU_CL_FUSED=%s: expected auto, off, step or epoch",
                      env);
  return AB_OK;
}

int ab_cl_dev_create(ab_dev **out, int device, const ab_cl_opts *o, char *name, size_t n,
                     ab_err *e) {
  if (o && o->gemm == AB_CL_GEMM_CLBLAST && !ab_cl_have_clblast())
    return ab_err_set(e, AB_EUSAGE, "--gemm clblast: this build has no CLBlast "
                      "(install libclblast-dev and rebuild)");
  ab_cl_backend *cb = calloc(1, sizeof *cb);
  if (!cb) return ab_err_set(e, AB_ENOMEM, "out of memory");
  cb->gemm = o ? o->gemm : AB_CL_GEMM_OWN;
  cb->verbose = o ? o->verbose : 0;
  cb->log = o ? o->log : NULL;
  cb->log_user = o ? o->log_user : NULL;
  int rc = fused_want(&cb->f, o, e);
  if (!rc) rc = ab_cl_ctx_open(&cb->ctx, device, o, e);
  if (!rc && cb->gemm == AB_CL_GEMM_CLBLAST && cb->ctx->info.max_wg < CLBLAST_WG)
    rc = ab_err_set(e, AB_EUSAGE, "--gemm clblast: CLBlast's kernels use work-groups of %d "
                    "work-items, %s allows %zu: use --gemm own", CLBLAST_WG,
                    cb->ctx->info.name, cb->ctx->info.max_wg);
  if (rc) { cl_destroy(cb); return rc; }
  if (name)
    snprintf(name, n, "opencl:%d %.96s%s", device, cb->ctx->info.name,
             cb->gemm == AB_CL_GEMM_CLBLAST ? " (clblast)" : "");
  *out = cb;
  return AB_OK;
}
