/* The OpenCL backend: the vtable of backend.h over the context and buffer structs.
 * Splits go up once (load_data); per epoch only the batch order goes up and the
 * per-batch mean losses come back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl/backend_cl.h"

#define EVAL_ROWS 1024  /* rows per evaluation chunk (at least the batch) */

static ab_cl_backend *impl(ab_backend *be) { return be->impl; }

static const ab_split *split_of(const ab_splits *s, int id) {
  return id == AB_SPLIT_TRAIN ? &s->train : id == AB_SPLIT_VAL ? &s->val : &s->test;
}

static int cl_load_data(ab_backend *be, const ab_splits *s, ab_err *e) {
  ab_cl_backend *cb = impl(be);
  for (int i = 0; i < 3; i++)
    if (split_of(s, i)->n > (size_t)INT32_MAX / (size_t)split_of(s, i)->d)
      return ab_err_set(e, AB_EINPUT, "split too large for the OpenCL backend");
  int rc = ab_cl_bufs_data(cb, s, e);
  cb->loaded = rc == AB_OK;
  return rc;
}

/* Blocking transfers (a zero-byte transfer is an error in OpenCL, so it is skipped). */
static int dev_write(ab_cl_backend *cb, cl_mem m, size_t off, size_t bytes, const void *src,
                 ab_err *e) {
  if (!bytes) return AB_OK;
  AB_CL_CHECK(e, clEnqueueWriteBuffer(cb->ctx->queue, m, CL_TRUE, off, bytes, src, 0, NULL,
                                      NULL));
  return AB_OK;
}

static int dev_read(ab_cl_backend *cb, cl_mem m, size_t bytes, void *dst, ab_err *e) {
  if (!bytes) return AB_OK;
  AB_CL_CHECK(e, clEnqueueReadBuffer(cb->ctx->queue, m, CL_TRUE, 0, bytes, dst, 0, NULL, NULL));
  return AB_OK;
}

static int copy(ab_cl_backend *cb, cl_mem from, cl_mem to, size_t off, size_t bytes, ab_err *e) {
  AB_CL_CHECK(e, clEnqueueCopyBuffer(cb->ctx->queue, from, to, off, off, bytes, 0, NULL, NULL));
  return AB_OK;
}

/* Params (and best) from host, Adam state zeroed, step count 0. */
static int reset_state(ab_cl_backend *cb, const float *params, ab_err *e) {
  size_t kp = (size_t)cb->K * cb->P;
  int rc = dev_write(cb, cb->b.params, 0, kp * sizeof(float), params, e);
  if (!rc) rc = dev_write(cb, cb->b.best, 0, kp * sizeof(float), params, e);
  if (!rc) rc = ab_cl_zero(cb->ctx, cb->b.m, kp, e);
  if (!rc) rc = ab_cl_zero(cb->ctx, cb->b.v, kp, e);
  cb->t = 0;
  return rc;
}

/* One step and one evaluation chunk with the real shapes, so that a runtime which
 * compiles per launch shape (PoCL) or a library compiling on first use (CLBlast) does it
 * here rather than inside the first timed epoch. The caller resets the state after. */
static int warm_up(ab_cl_backend *cb, ab_err *e) {
  if (!cb->loaded || cb->n[AB_SPLIT_TRAIN] < (size_t)cb->B) return AB_OK;
  if (cb->f.mode != AB_CL_FUSED_OFF) {
    int rc = ab_cl_fused_steps(cb, 1, e);
    if (!rc) rc = ab_cl_fused_train(cb, cb->b.iota, 0, 0, 1, e);
    if (!rc) rc = ab_cl_fused_eval(cb, AB_SPLIT_VAL, 0, e);
    return rc ? rc : ab_cl_finish(cb->ctx, e);
  }
  ab_cl_rows rows = {cb->b.x[AB_SPLIT_TRAIN], cb->b.iota, 0, 0};
  int rc = ab_cl_train_step(cb, rows, 0, e);
  int n = (int)(cb->n[AB_SPLIT_VAL] < (size_t)cb->R ? cb->n[AB_SPLIT_VAL] : (size_t)cb->R);
  ab_cl_rows vrows = {cb->b.x[AB_SPLIT_VAL], cb->b.iota, 0, 0};
  if (!rc && n > 0) rc = ab_cl_forward(cb, vrows, n, e);
  if (!rc && n > 0)
    rc = ab_cl_eval(cb->ctx, cb->b.ploss, cb->b.pcorrect, 0, cb->maxslots,
                    cb->b.act[cb->a.nlayers], cb->b.y[AB_SPLIT_VAL], 0, cb->K, n,
                    cb->a.dims[cb->a.nlayers], e);
  return rc ? rc : ab_cl_finish(cb->ctx, e);
}

/* Decides the training path for the new models; reports it when verbose. */
static int plan_path(ab_cl_backend *cb, ab_err *e) {
  int rc = ab_cl_fused_plan(cb, e);
  if (!rc && cb->verbose && cb->log) {
    char msg[512];
    snprintf(msg, sizeof msg, "opencl: training path %s", cb->f.why);
    cb->log(cb->log_user, msg);
  }
  return rc;
}

static void set_sizes(ab_cl_backend *cb, const ab_arch *a, int K, int batch) {
  cb->a = *a;
  cb->K = K;
  cb->B = batch;
  cb->P = (int)ab_arch_nparams(a);
  size_t rows = cb->maxn < EVAL_ROWS ? (cb->maxn ? cb->maxn : 1) : EVAL_ROWS;
  cb->R = (int)rows > batch ? (int)rows : batch;
  cb->maxbatches = (int)(cb->n[AB_SPLIT_TRAIN] / (size_t)batch);
  if (cb->maxbatches < 1) cb->maxbatches = 1;
  cb->maxslots = (int)((cb->maxn + cb->R - 1) / cb->R);
  if (cb->maxslots < 1) cb->maxslots = 1;
}

/* The K learning rates and weight decays, to the device. */
static int write_hyper(ab_cl_backend *cb, const ab_hyper *hyper, ab_err *e) {
  int K = (int)cb->K;
  float *hp = malloc(2 * (size_t)K * sizeof(float));
  if (!hp) return ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int k = 0; k < K; k++) { hp[k] = hyper[k].lr; hp[K + k] = hyper[k].wd; }
  int rc = dev_write(cb, cb->b.lr, 0, K * sizeof(float), hp, e);
  if (!rc) rc = dev_write(cb, cb->b.wd, 0, K * sizeof(float), hp + K, e);
  free(hp);
  return rc;
}

static int cl_set_hyper(ab_backend *be, const ab_hyper *hyper, ab_err *e) {
  ab_cl_backend *cb = impl(be);
  if (!cb->b.lr) return ab_err_set(e, AB_EUSAGE, "OpenCL backend: init_models first");
  return write_hyper(cb, hyper, e);
}

static int cl_init_models(ab_backend *be, const ab_arch *a, int K, int batch,
                          const float *params, const ab_hyper *hyper, ab_err *e) {
  ab_cl_backend *cb = impl(be);
  if (!cb->loaded) return ab_err_set(e, AB_EUSAGE, "OpenCL backend: load_data first");
  if (K < 1 || batch < 1) return ab_err_set(e, AB_EUSAGE, "need K >= 1 and batch >= 1");
  ab_cl_bufs_free_models(&cb->b);
  set_sizes(cb, a, K, batch);
  int rc = ab_cl_bufs_models(cb, e);
  if (!rc) rc = write_hyper(cb, hyper, e);
  if (!rc) rc = plan_path(cb, e);
  if (!rc) rc = reset_state(cb, params, e);
  if (!rc) rc = warm_up(cb, e);
  if (!rc) rc = reset_state(cb, params, e);
  return rc;
}

/* The epoch's batches on the chosen path; the order is on the device. */
static int run_batches(ab_cl_backend *cb, int nbatches, int per_model, ab_err *e) {
  int rc = AB_OK;
  if (cb->f.mode == AB_CL_FUSED_OFF) {
    ab_cl_rows rows = {cb->b.x[AB_SPLIT_TRAIN], cb->b.order, 0, per_model};
    for (int b = 0; b < nbatches && !rc; b++) {
      rows.off = b * cb->B;
      rc = ab_cl_train_step(cb, rows, b, e);
    }
    return rc;
  }
  rc = ab_cl_fused_steps(cb, nbatches, e);
  for (int b = 0; b < nbatches && !rc; b += cb->f.seg) {
    int nb = nbatches - b < cb->f.seg ? nbatches - b : cb->f.seg;
    rc = ab_cl_fused_train(cb, cb->b.order, per_model, b, nb, e);
  }
  if (!rc) cb->t += nbatches;
  return rc;
}

/* The batch count fits the training split and every row index is a training row (the
 * kernels read rows through these indices unchecked). */
static int check_order(ab_cl_backend *cb, const int32_t *order, int nbatches, ab_err *e) {
  size_t per_model = (size_t)nbatches * cb->B, n = cb->n[AB_SPLIT_TRAIN];
  if (nbatches < 1 || nbatches > cb->maxbatches || per_model > n)
    return ab_err_set(e, AB_EUSAGE, "train_epoch: %d batches of %d do not fit %zu rows",
                      nbatches, cb->B, n);
  for (size_t i = 0; i < (size_t)cb->K * per_model; i++)
    if (order[i] < 0 || (size_t)order[i] >= n)
      return ab_err_set(e, AB_EUSAGE, "train_epoch: order[%zu] = %d is not a training row "
                        "(0..%zu)", i, (int)order[i], n - 1);
  return AB_OK;
}

static int cl_train_epoch(ab_backend *be, const int32_t *order, int nbatches,
                          double *loss_sum, ab_err *e) {
  ab_cl_backend *cb = impl(be);
  size_t per_model = (size_t)nbatches * cb->B;
  int rc = check_order(cb, order, nbatches, e);
  if (!rc) rc = dev_write(cb, cb->b.order, 0, cb->K * per_model * sizeof(int32_t), order, e);
  if (!rc) rc = run_batches(cb, nbatches, (int)per_model, e);
  float *bl = rc ? NULL : malloc((size_t)cb->K * cb->maxbatches * sizeof(float));
  if (!rc && !bl) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) rc = dev_read(cb, cb->b.bloss, (size_t)cb->K * cb->maxbatches * sizeof(float), bl, e);
  for (int k = 0; k < cb->K && !rc; k++) {
    loss_sum[k] = 0.0;
    for (int b = 0; b < nbatches; b++) loss_sum[k] += bl[(size_t)k * cb->maxbatches + b];
  }
  free(bl);
  return rc;
}

/* Walks a split in chunks of R rows: forward, then the eval reduction into one
 * slot per chunk, or (predict) class-1 probabilities into the prob buffer. */
static int sweep_split(ab_cl_backend *cb, int id, int predict, ab_err *e) {
  int n = (int)cb->n[id], L = cb->a.nlayers, rc = AB_OK;
  for (int start = 0, slot = 0; start < n && !rc; start += cb->R, slot++) {
    int nr = n - start < cb->R ? n - start : cb->R;
    ab_cl_rows rows = {cb->b.x[id], cb->b.iota, start, 0};
    rc = ab_cl_forward(cb, rows, nr, e);
    if (!rc && predict)
      rc = ab_cl_prob1(cb->ctx, cb->b.prob, start, n, cb->b.act[L], cb->K, nr, e);
    else if (!rc)
      rc = ab_cl_eval(cb->ctx, cb->b.ploss, cb->b.pcorrect, slot, cb->maxslots, cb->b.act[L],
                      cb->b.y[id], start, cb->K, nr, cb->a.dims[L], e);
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
  if (!rc) rc = dev_read(cb, f->part, np * sizeof(float), part, e);
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

static int cl_evaluate(ab_backend *be, ab_split_id id, double *loss_sum, int64_t *correct,
                       ab_err *e) {
  ab_cl_backend *cb = impl(be);
  if (cb->f.mode != AB_CL_FUSED_OFF) return fused_evaluate(cb, id, loss_sum, correct, e);
  size_t ns = (size_t)cb->K * cb->maxslots;
  float *pl = malloc(ns * sizeof(float));
  cl_int *pc = malloc(ns * sizeof(cl_int));
  int rc = pl && pc ? sweep_split(cb, id, 0, e) : ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) rc = dev_read(cb, cb->b.ploss, ns * sizeof(float), pl, e);
  if (!rc) rc = dev_read(cb, cb->b.pcorrect, ns * sizeof(cl_int), pc, e);
  int slots = (int)((cb->n[id] + cb->R - 1) / cb->R);
  for (int k = 0; k < cb->K && !rc; k++) {
    loss_sum[k] = 0.0;
    correct[k] = 0;
    for (int s = 0; s < slots; s++) {
      loss_sum[k] += pl[(size_t)k * cb->maxslots + s];
      correct[k] += pc[(size_t)k * cb->maxslots + s];
    }
  }
  free(pl);
  free(pc);
  return rc;
}

static int cl_predict(ab_backend *be, ab_split_id id, float *prob, ab_err *e) {
  ab_cl_backend *cb = impl(be);
  int rc = cb->f.mode != AB_CL_FUSED_OFF ? ab_cl_fused_eval(cb, id, 1, e)
                                         : sweep_split(cb, id, 1, e);
  return rc ? rc : dev_read(cb, cb->b.prob, (size_t)cb->K * cb->n[id] * sizeof(float), prob, e);
}

static int cl_snapshot(ab_backend *be, const uint8_t *keep, ab_err *e) {
  ab_cl_backend *cb = impl(be);
  size_t bytes = (size_t)cb->P * sizeof(float);
  int rc = AB_OK;
  for (int k = 0; k < cb->K && !rc; k++)
    if (keep[k]) rc = copy(cb, cb->b.params, cb->b.best, k * bytes, bytes, e);
  return rc;
}

static int cl_restore(ab_backend *be, ab_err *e) {
  ab_cl_backend *cb = impl(be);
  return copy(cb, cb->b.best, cb->b.params, 0, (size_t)cb->K * cb->P * sizeof(float), e);
}

static int cl_get_state(ab_backend *be, float *params, float *m, float *v, int64_t *t,
                        ab_err *e) {
  ab_cl_backend *cb = impl(be);
  size_t bytes = (size_t)cb->K * cb->P * sizeof(float);
  int rc = params ? dev_read(cb, cb->b.params, bytes, params, e) : AB_OK;
  if (!rc && m) rc = dev_read(cb, cb->b.m, bytes, m, e);
  if (!rc && v) rc = dev_read(cb, cb->b.v, bytes, v, e);
  if (!rc && t) *t = cb->t;
  return rc;
}

static int cl_set_state(ab_backend *be, const float *params, const float *m, const float *v,
                        int64_t t, ab_err *e) {
  ab_cl_backend *cb = impl(be);
  size_t bytes = (size_t)cb->K * cb->P * sizeof(float);
  int rc = dev_write(cb, cb->b.params, 0, bytes, params, e);
  if (!rc) rc = dev_write(cb, cb->b.m, 0, bytes, m, e);
  if (!rc) rc = dev_write(cb, cb->b.v, 0, bytes, v, e);
  if (!rc) cb->t = t;
  return rc;
}

static void cl_destroy(ab_backend *be) {
  ab_cl_backend *cb = impl(be);
  if (cb) {
    if (cb->ctx) clFinish(cb->ctx->queue);
    ab_cl_fused_free(&cb->f);
    ab_cl_bufs_free(&cb->b);
    ab_cl_ctx_free(cb->ctx);
    free(cb);
  }
  free(be);
}

static const ab_backend_vt cl_vt = {
    cl_load_data, cl_init_models, cl_set_hyper, cl_train_epoch, cl_evaluate,  cl_predict,
    cl_snapshot,  cl_restore,     cl_get_state,   cl_set_state, cl_destroy};

int ab_cl_have_clblast(void) {
#ifdef ABGPU_HAVE_CLBLAST
  return 1;
#else
  return 0;
#endif
}

ab_cl_fused ab_cl_backend_path(const ab_backend *be, const char **why) {
  int cl = be && be->vt == &cl_vt;
  const ab_cl_backend *cb = cl ? be->impl : NULL;
  if (why) *why = cl ? cb->f.why : "not an OpenCL backend";
  return cl ? cb->f.mode : AB_CL_FUSED_OFF;
}

int ab_backend_cl_set_fused(ab_backend *be, const ab_cl_fused_opts *o, ab_err *e) {
  if (!be || be->vt != &cl_vt) return ab_err_set(e, AB_EUSAGE, "not an OpenCL backend");
  if (o->path < AB_CL_FUSED_AUTO || o->path > AB_CL_FUSED_EPOCH)
    return ab_err_set(e, AB_EUSAGE, "unknown training path %d", (int)o->path);
  ab_cl_backend *cb = impl(be);
  cb->f.want = o->path;
  cb->f.local_cap = o->local;
  cb->f.wg_want = o->wg;
  cb->f.launch_rows = o->launch_rows;
  return AB_OK;
}

/* The path asked for at creation: $ABGPU_CL_FUSED, else auto. */
static int fused_want(ab_cl_fused *want, ab_err *e) {
  *want = AB_CL_FUSED_AUTO;
  const char *env = getenv("ABGPU_CL_FUSED");
  if (!env || !*env) return AB_OK;
  if (ab_cl_fused_parse(want, env))
    return ab_err_set(e, AB_EUSAGE, "ABGPU_CL_FUSED=%s: expected auto, off, step or epoch",
                      env);
  return AB_OK;
}

int ab_backend_cl_create(ab_backend **out, int device, const ab_cl_opts *o, ab_err *e) {
  ab_cl_fused want;
  int rc = fused_want(&want, e);
  if (rc) return rc;
  if (o && o->gemm == AB_CL_GEMM_CLBLAST && !ab_cl_have_clblast())
    return ab_err_set(e, AB_EUSAGE, "--gemm clblast: this build has no CLBlast "
                      "(install libclblast-dev and rebuild)");
  ab_backend *be = calloc(1, sizeof *be);
  ab_cl_backend *cb = calloc(1, sizeof *cb);
  if (!be || !cb) { free(be); free(cb); return ab_err_set(e, AB_ENOMEM, "out of memory"); }
  be->vt = &cl_vt;
  be->impl = cb;
  cb->gemm = o ? o->gemm : AB_CL_GEMM_OWN;
  cb->verbose = o ? o->verbose : 0;
  cb->log = o ? o->log : NULL;
  cb->log_user = o ? o->log_user : NULL;
  cb->f.want = want;
  cb->f.mode = AB_CL_FUSED_OFF;
  snprintf(cb->f.why, sizeof cb->f.why, "per-op: no models yet");
  rc = ab_cl_ctx_open(&cb->ctx, device, o, e);
  if (rc) { cl_destroy(be); return rc; }
  snprintf(be->name, sizeof be->name, "opencl:%d %.96s%s", device, cb->ctx->info.name,
           cb->gemm == AB_CL_GEMM_CLBLAST ? " (clblast)" : "");
  *out = be;
  return AB_OK;
}
