/* The fused path: the plan (which path the current models train on, and why), its
 * buffers and its launches. Kernels in kernels/fused.cl; the arch table built here
 * (meta) uses that file's indices. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl/backend_cl.h"

/* The meta table's indices are in consts.h, shared with kernels/fused.cl. */
#define META_N (AB_META_LAYER + AB_MAX_LAYERS * AB_META_NF)

/* AUTO gives one launch at most this many rows (all models together): a longer epoch
 * runs in several launches of whole batches (down to one batch per launch, fused-step),
 * so that no launch runs long (a GPU driver's watchdog, and Ctrl-C, wait for it). */
#define LAUNCH_MAX_ROWS (1 << 18)
/* AUTO also keeps a launch's estimated run time under a limit: FLOPs counted from the
 * net's shape, at a rate per work-group with at most one work-group per compute unit at
 * a time. On a GPU the limit is 0.25 s at 4 GFLOP/s per work-group, a rate set low on
 * purpose, so that a launch stays well under a second on a display GPU, whose driver
 * kills a longer one. A CPU has no watchdog, only Ctrl-C waiting for the launch: 1 s at
 * 20 GFLOP/s per core (PoCL's fused epoch runs ~45 GFLOP/s on one core). */
typedef struct launch_limit {
  double seconds, group_flops;
} launch_limit;
static const launch_limit LIMIT_GPU = {0.25, 4e9}, LIMIT_CPU = {1.0, 20e9};
/* Work-items per group. A CPU device runs a work-group on one core, work-item after
 * work-item; one work-item with vector tiles is its fastest form. A GPU spreads tiles
 * over its lanes. */
#define WG_CPU 1
#define WG_GPU 256
/* Rows per evaluation chunk (at most; less when local memory is short). */
#define EVAL_ROWS 128

static const char *const fused_names[] = {"auto", "per-op", "fused-step", "fused-epoch"};

const char *ab_cl_fused_name(ab_cl_fused f) {
  return f >= AB_CL_FUSED_AUTO && f <= AB_CL_FUSED_EPOCH ? fused_names[f] : "?";
}

int ab_cl_fused_parse(ab_cl_fused *out, const char *s) {
  static const char *const words[] = {"auto", "off", "step", "epoch"};
  for (int i = 0; i < 4; i++)
    if (s && strcmp(s, words[i]) == 0) { *out = (ab_cl_fused)i; return 0; }
  return -1;
}

static void release(cl_mem *m) {
  if (*m) clReleaseMemObject(*m);
  *m = NULL;
}

void ab_cl_fused_free(ab_cl_fplan *f) {
  cl_mem *list[] = {&f->meta, &f->emeta, &f->scratch, &f->escratch, &f->steps, &f->part,
                    &f->active};
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) release(list[i]);
  free(f->hsteps);
  f->hsteps = NULL;
  f->mode = AB_CL_FUSED_OFF;
  f->measure = 0;
}

/* Padded width of d: whole vectors, with room for the ones column at index d. */
static int pad(const ab_cl_backend *cb, int d) {
  int w = cb->ctx->vec;
  return (d + w) / w * w;
}

/* Fills the arch table for rt rows per tile; returns the local floats it needs. */
static size_t build_meta(const ab_cl_backend *cb, int rt, int *meta) {
  const ab_arch *a = &cb->a;
  int L = a->nlayers, maxp = 0, wp = 0, wt = 0, aoff[AB_MAX_LAYERS + 1];
  size_t lf = 0;
  memset(meta, 0, META_N * sizeof(int));
  for (int l = 0; l <= L; l++) {
    aoff[l] = (int)lf;
    lf += (size_t)rt * pad(cb, a->dims[l]);
    if (pad(cb, a->dims[l]) > maxp) maxp = pad(cb, a->dims[l]);
  }
  for (int l = 0; l < L; l++) {
    int *m = meta + AB_META_LAYER + l * AB_META_NF, in = a->dims[l], out = a->dims[l + 1];
    m[AB_META_IN] = in;
    m[AB_META_OUT] = out;
    m[AB_META_INP] = pad(cb, in);
    m[AB_META_OUTP] = pad(cb, out);
    m[AB_META_ACT] = a->act[l];
    m[AB_META_WOFF] = (int)ab_arch_w_off(a, l);
    m[AB_META_WPO] = wp;
    wp += (in + 1) * m[AB_META_OUTP];
    m[AB_META_WTO] = wt;
    if (l > 0) wt += out * m[AB_META_INP];
    m[AB_META_AIN] = aoff[l];
    m[AB_META_AOUT] = aoff[l + 1];
  }
  meta[AB_META_L] = L; meta[AB_META_RT] = rt; meta[AB_META_PP] = wp; meta[AB_META_SS] = 4 * wp + wt;
  meta[AB_META_DZA] = (int)lf; meta[AB_META_DZB] = (int)(lf + (size_t)rt * maxp);
  meta[AB_META_RL] = (int)(lf + 2 * (size_t)rt * maxp);
  return lf + 2 * (size_t)rt * maxp + 2 * (size_t)rt;
}

/* Local bytes of a work-group with rt rows per tile (floats plus rt int labels). */
static size_t local_bytes(const ab_cl_backend *cb, int rt) {
  int meta[META_N];
  return build_meta(cb, rt, meta) * sizeof(float) + (size_t)rt * sizeof(cl_int);
}

/* Local memory the fused kernels may use: the device's, less what they declare
 * themselves (queried when the kernels were created: a query now would also count the
 * __local arguments of the previous launch), capped by the options. */
static size_t local_budget(const ab_cl_backend *cb) {
  ab_cl_ctx *c = cb->ctx;
  cl_ulong dev = 0, k0 = c->klocal[AB_K_FUSED_TRAIN], k1 = c->klocal[AB_K_FUSED_EVAL];
  clGetDeviceInfo(c->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof dev, &dev, NULL);
  cl_ulong own = k0 > k1 ? k0 : k1;
  size_t have = dev > own ? (size_t)(dev - own) : 0;
  return cb->f.local_cap && cb->f.local_cap < have ? cb->f.local_cap : have;
}

/* Largest rows per tile <= want that fit budget bytes (0 if not even one row). */
static int fit_rows(const ab_cl_backend *cb, int want, size_t budget) {
  size_t per_row = local_bytes(cb, 1);
  size_t rows = budget / per_row;
  return rows < (size_t)want ? (int)rows : want;
}

/* Rows per tile for training and evaluation within the local memory budget. */
static int fit_local(ab_cl_backend *cb, char *why, size_t n) {
  ab_cl_fplan *f = &cb->f;
  size_t budget = local_budget(cb);
  f->rt = fit_rows(cb, cb->B, budget);
  f->ert = fit_rows(cb, EVAL_ROWS, budget);
  if (f->rt < 1) {
    snprintf(why, n, "one row of activations needs %zu bytes of local memory, %zu available",
             local_bytes(cb, 1), budget);
    return -1;
  }
  f->lbytes = local_bytes(cb, f->rt);
  f->elbytes = local_bytes(cb, f->ert);
  return 0;
}

/* Work-items per group: asked for, else the device kind's, within what both kernels allow. */
static int fit_wg(ab_cl_backend *cb, char *why, size_t n) {
  ab_cl_fplan *f = &cb->f;
  ab_cl_ctx *c = cb->ctx;
  size_t kwg = c->kwg[AB_K_FUSED_TRAIN] < c->kwg[AB_K_FUSED_EVAL] ? c->kwg[AB_K_FUSED_TRAIN]
                                                          : c->kwg[AB_K_FUSED_EVAL];
  f->wg = f->wg_want ? f->wg_want : c->is_cpu ? WG_CPU : WG_GPU;
  if (f->wg > kwg) f->wg = kwg;
  if (f->wg >= 1) return 0;
  snprintf(why, n, "the fused kernels allow no work-group on this device");
  return -1;
}

/* Scratch sizes, evaluation chunks and groups; the scratch must fit one buffer. */
static int fit_scratch(ab_cl_backend *cb, char *why, size_t n) {
  ab_cl_fplan *f = &cb->f;
  ab_cl_ctx *c = cb->ctx;
  int meta[META_N];
  build_meta(cb, f->rt, meta);
  f->pp = meta[AB_META_PP];
  f->ss = meta[AB_META_SS];
  f->eslots = (int)((cb->maxn + f->ert - 1) / f->ert);
  if (f->eslots < 1) f->eslots = 1;
  int g = (int)((c->info.compute_units + cb->K - 1) / cb->K); /* one group per unit */
  f->egroups = g < 1 ? 1 : g > f->eslots ? f->eslots : g;
  cl_ulong max_alloc = 0;
  clGetDeviceInfo(c->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof max_alloc, &max_alloc, NULL);
  size_t scratch = (size_t)cb->K * f->ss * sizeof(float);
  if (scratch <= max_alloc && (size_t)cb->K * f->ss <= (size_t)INT32_MAX) return 0;
  snprintf(why, n, "the scratch for %d models (%zu MB) exceeds the device's largest buffer "
           "(%llu MB)", cb->K, scratch >> 20, (unsigned long long)(max_alloc >> 20));
  return -1;
}

/* Multiply-adds of one row's forward pass. */
static double row_macs(const ab_arch *a) {
  double m = 0;
  for (int l = 0; l < a->nlayers; l++) m += (double)a->dims[l] * a->dims[l + 1];
  return m;
}

static launch_limit limit_of(const ab_cl_backend *cb) {
  return cb->ctx->is_cpu ? LIMIT_CPU : LIMIT_GPU;
}

/* Estimated seconds of a launch of `flops` over `groups` work-groups. */
static double launch_seconds(const ab_cl_backend *cb, double flops, size_t groups) {
  size_t cu = cb->ctx->info.compute_units ? cb->ctx->info.compute_units : 1;
  return flops / (limit_of(cb).group_flops * (double)(groups < cu ? groups : cu));
}

/* FLOPs of one training batch of all models: forward, dX and dW (2 each per
 * multiply-add), and Adam (about 12 per parameter). */
static double batch_flops(const ab_cl_backend *cb) {
  return (double)cb->K * (6.0 * cb->B * row_macs(&cb->a) + 12.0 * cb->P);
}

/* AUTO: one batch must fit a launch's time; the largest split a fused evaluation
 * launch may take (longer splits are evaluated per-op, in chunks). */
static int fit_time(ab_cl_backend *cb, char *why, size_t n) {
  ab_cl_fplan *f = &cb->f;
  f->eval_max = (size_t)-1;
  if (f->want != AB_CL_FUSED_AUTO) return 0;
  launch_limit lim = limit_of(cb);
  double t = launch_seconds(cb, batch_flops(cb), (size_t)cb->K);
  if (t > lim.seconds) {
    snprintf(why, n, "one batch is estimated at %.2g s in one launch (%.0f GFLOP/s per "
             "work-group), over the %.2g s a launch may take", t, lim.group_flops / 1e9,
             lim.seconds);
    return -1;
  }
  double row = 2.0 * row_macs(&cb->a) * cb->K;
  double per_row = launch_seconds(cb, row, (size_t)cb->K * f->egroups);
  f->eval_max = (size_t)(lim.seconds / per_row);
  return 0;
}

/* Checks the preconditions and sizes the plan; returns 0, or fills why and returns -1. */
static int fit(ab_cl_backend *cb, char *why, size_t n) {
  if (fit_local(cb, why, n) || fit_wg(cb, why, n) || fit_scratch(cb, why, n) ||
      fit_time(cb, why, n))
    return -1;
  return 0;
}

static int create(cl_mem *out, ab_cl_ctx *c, size_t bytes, const void *host, ab_err *e) {
  cl_mem_flags fl = host ? CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR : CL_MEM_READ_WRITE;
  return ab_cl_buffer(c, out, fl, bytes < 8 ? 8 : bytes, host, e);
}

static int create_bufs(ab_cl_backend *cb, ab_err *e) {
  ab_cl_fplan *f = &cb->f;
  ab_cl_ctx *c = cb->ctx;
  int meta[META_N], emeta[META_N];
  build_meta(cb, f->rt, meta);
  build_meta(cb, f->ert, emeta);
  size_t K = (size_t)cb->K, fl = sizeof(float);
  f->hsteps = malloc(2 * (size_t)cb->maxbatches * fl);
  if (!f->hsteps) return ab_err_set(e, AB_ENOMEM, "out of memory");
  int rc = create(&f->meta, c, sizeof meta, meta, e);
  if (!rc) rc = create(&f->emeta, c, sizeof emeta, emeta, e);
  if (!rc) rc = create(&f->scratch, c, K * f->ss * fl, NULL, e);
  if (!rc) rc = ab_cl_zero(c, f->scratch, K * f->ss, e); /* WT's pads stay zero */
  if (!rc) rc = create(&f->escratch, c, K * f->egroups * f->pp * fl, NULL, e);
  if (!rc) rc = create(&f->steps, c, 2 * (size_t)cb->maxbatches * fl, NULL, e);
  if (!rc) rc = create(&f->part, c, 2 * K * f->eslots * fl, NULL, e);
  size_t na = K < 2 ? 2 : K; /* create() makes at least 8 bytes */
  int *ones = rc ? NULL : malloc(na * sizeof *ones);
  if (!rc && !ones) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  for (size_t k = 0; k < na && !rc; k++) ones[k] = 1;
  if (!rc) rc = create(&f->active, c, K * sizeof(cl_int), ones, e); /* all train */
  free(ones);
  return rc;
}

/* The reason for the chosen fused mode, in words. */
static void describe(ab_cl_backend *cb, size_t rows, size_t budget) {
  ab_cl_fplan *f = &cb->f;
  int nb = cb->maxbatches, nl = (nb + f->seg - 1) / f->seg;
  char how[192];
  if (nl == 1)
    snprintf(how, sizeof how, "1 launch per epoch (%d batches)", nb);
  else
    snprintf(how, sizeof how, "%d launches per epoch (%d batch%s each)%s", nl, f->seg,
             f->seg > 1 ? "es" : "", f->want != AB_CL_FUSED_AUTO ? " as asked" : "");
  char ev[96] = "evaluation 1 launch";
  if (cb->maxn > f->eval_max)
    snprintf(ev, sizeof ev, "evaluation 1 launch up to %zu rows, per-op beyond", f->eval_max);
  int n = snprintf(f->why, sizeof f->why, "%s: %s for %d model%s of %zu rows per epoch; "
                   "row tile %d of %d rows in %zu of %zu bytes of local memory; %zu "
                   "work-item%s per group; %s", ab_cl_fused_name(f->mode),
                   how, cb->K, cb->K > 1 ? "s" : "", rows / cb->K, f->rt, cb->B, f->lbytes,
                   budget, f->wg, f->wg > 1 ? "s" : "", ev);
  if (nl > 1 && f->want == AB_CL_FUSED_AUTO && n > 0 && (size_t)n < sizeof f->why)
    snprintf(f->why + n, sizeof f->why - n, " (a launch takes at most %zu model-rows or "
             "%.2g s estimated)", f->launch_rows ? f->launch_rows : LAUNCH_MAX_ROWS,
             limit_of(cb).seconds);
}

/* Batches per launch: one (STEP) when asked; EPOCH: all, or as many as launch_rows
 * allows when it is set; AUTO: as many as keep a launch within LAUNCH_MAX_ROWS (or
 * launch_rows) and the time limit, which is fused-step when that is one batch. */
static void plan_launches(ab_cl_backend *cb) {
  ab_cl_fplan *f = &cb->f;
  int nb = cb->maxbatches;
  size_t fit = (f->launch_rows ? f->launch_rows : LAUNCH_MAX_ROWS) / ((size_t)cb->K * cb->B);
  double by_time = limit_of(cb).seconds / launch_seconds(cb, batch_flops(cb), (size_t)cb->K);
  if (by_time < (double)fit) fit = (size_t)by_time;
  if (f->want == AB_CL_FUSED_EPOCH && f->launch_rows) /* asked: rows alone, not the time */
    fit = f->launch_rows / ((size_t)cb->K * cb->B);
  if (f->want == AB_CL_FUSED_STEP) f->seg = 1;
  else if ((f->want == AB_CL_FUSED_EPOCH && !f->launch_rows) || fit >= (size_t)nb) f->seg = nb;
  else f->seg = fit < 1 ? 1 : (int)fit;
  f->mode = f->want == AB_CL_FUSED_STEP || (f->seg == 1 && nb > 1) ? AB_CL_FUSED_STEP
                                                                   : AB_CL_FUSED_EPOCH;
}

int ab_cl_fused_plan(ab_cl_backend *cb, ab_err *e) {
  ab_cl_fplan *f = &cb->f;
  ab_cl_fused_free(f);
  char why[256];
  if (f->want == AB_CL_FUSED_OFF) {
    snprintf(f->why, sizeof f->why, "per-op: the fused path is turned off");
    return AB_OK;
  }
  if (f->want == AB_CL_FUSED_AUTO && cb->gemm == AB_CL_GEMM_CLBLAST) {
    snprintf(f->why, sizeof f->why, "per-op: --gemm clblast runs CLBlast's GEMMs op by op");
    return AB_OK;
  }
  if (fit(cb, why, sizeof why)) {
    if (f->want != AB_CL_FUSED_AUTO)
      return ab_err_set(e, AB_EUSAGE, "the %s path cannot run here: %s",
                        ab_cl_fused_name(f->want), why);
    snprintf(f->why, sizeof f->why, "per-op: the fused kernels do not fit: %s", why);
    return AB_OK;
  }
  size_t rows = (size_t)cb->K * cb->maxbatches * cb->B;
  plan_launches(cb);
  describe(cb, rows, local_budget(cb));
  int rc = create_bufs(cb, e);
  if (rc) ab_cl_fused_free(f);
  else if (f->want == AB_CL_FUSED_AUTO) ab_cl_choice_start(cb);
  return rc;
}

int ab_cl_fused_steps(ab_cl_backend *cb, int nb, ab_err *e) {
  float *h = cb->f.hsteps;
  for (int b = 0; b < nb; b++) { /* as ab_ref_adam_step computes them */
    float t = (float)(cb->m->t + 1 + b);
    h[2 * b] = 1.0f - powf(AB_ADAM_BETA1, t);
    h[2 * b + 1] = 1.0f - powf(AB_ADAM_BETA2, t);
  }
  /* not waited for: hsteps stays unchanged until the epoch's losses are read */
  AB_CL_CHECK(e, clEnqueueWriteBuffer(cb->ctx->queue, cb->f.steps, CL_FALSE, 0,
                                      2 * (size_t)nb * sizeof(float), h, 0, NULL, NULL));
  return AB_OK;
}

int ab_cl_fused_train(ab_cl_backend *cb, int ostride, int b0, int nb, ab_err *e) {
  ab_cl_fplan *f = &cb->f;
  ab_models *m = cb->m;
  const ab_data *d = cb->data;
  return ab_cl_fused_train_launch(
      cb->ctx, AB_CLM(&m->slot[AB_SLOT_PARAMS]), AB_CLM(&m->slot[AB_SLOT_ADAM_M]),
      AB_CLM(&m->slot[AB_SLOT_ADAM_V]), f->scratch, AB_CLM(&m->bloss), cb->maxbatches,
      AB_CLM(&d->x[0]), AB_CLM(&d->y[0]), AB_CLM(&m->order), ostride, f->steps,
      AB_CLM(&m->lr), AB_CLM(&m->wd), AB_ADAM_BETA1, AB_ADAM_BETA2, AB_ADAM_EPS, f->meta,
      f->active, b0, nb, cb->B, cb->K, cb->P, f->wg, f->lbytes, f->rt, e);
}

int ab_cl_fused_eval(ab_cl_backend *cb, int id, int predict, ab_err *e) {
  ab_cl_fplan *f = &cb->f;
  ab_models *m = cb->m;
  const ab_data *d = cb->data;
  return ab_cl_fused_eval_launch(cb->ctx, f->part, f->eslots, AB_CLM(&m->prob), (int)cb->n[id],
                                 predict, AB_CLM(&m->slot[AB_SLOT_PARAMS]), f->escratch,
                                 AB_CLM(&d->x[id]), AB_CLM(&d->y[id]), (int)cb->n[id], f->emeta,
                                 cb->K, cb->P, f->wg, f->egroups, f->elbytes, f->ert, e);
}
