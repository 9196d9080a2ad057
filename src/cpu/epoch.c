/* The CPU device's whole-epoch override: its plan (the padded layout, the phase-2 units
 * and their split over threads, the buffers) and the epoch itself: the models' flat
 * slots are padded in, the pool runs the steps (epoch_job.c), and they are copied back. Every
 * buffer is set up in plan; nothing is allocated per batch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "impl.h"

/* n rounded up to whole vectors of the kernels (8 floats, 16 for AVX-512), so that
 * every padded row starts on a vector boundary (and, for AVX-512, a cache line). */
static int round_v(const cpu_impl *r, int n) {
  int v = r->kt->isa == AB_CPU_ISA_AVX512 ? 16 : 8;
  return (n + v - 1) / v * v;
}

/* Zeroed floats, 64-byte aligned. */
static float *falloc(size_t n) {
  size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
  float *f = aligned_alloc(64, bytes ? bytes : 64);
  if (f) memset(f, 0, bytes);
  return f;
}

void cpu_plan_free(cpu_impl *r) {
  float **f[] = {&r->p, &r->m, &r->v, &r->wt, &r->loss};
  for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) { free(*f[i]); *f[i] = NULL; }
  for (int l = 0; l <= AB_MAX_LAYERS; l++) {
    free(r->act[l]);
    r->act[l] = NULL;
    if (l < AB_MAX_LAYERS) { free(r->dz[l]); r->dz[l] = NULL; }
  }
  free(r->adam); free(r->lab); free(r->units); free(r->ubeg);
  r->adam = NULL; r->lab = NULL; r->units = NULL; r->ubeg = NULL;
  r->K = 0;
}

/* Rows of layer ly's padded layout before its bias row. */
static int unit_rows(const cpu_layer *ly) { return ly->tm ? ly->out : ly->in; }

static void plan_layout(cpu_impl *r) {
  size_t off = 0, wt = 0;
  for (int l = 0; l < r->L; l++) {
    cpu_layer *ly = &r->lay[l];
    ly->in = r->a.dims[l];
    ly->out = r->a.dims[l + 1];
    ly->act = r->a.act[l];
    ly->ldw = round_v(r, ly->out);
    ly->ldwt = round_v(r, ly->in);
    ly->tm = ly->out < round_v(r, 1) && ly->in > ly->out;
    ly->w_off = off;
    ly->wt_off = wt;
    off += ly->tm ? (size_t)(ly->out + 1) * ly->ldwt : (size_t)(ly->in + 1) * ly->ldw;
    if (ly->tm) wt += (size_t)(ly->in + 1) * ly->ldw;
    else if (l > 0) wt += (size_t)ly->out * ly->ldwt;
  }
  r->PP = off;
  r->WTN = wt ? wt : 1;
  for (int l = 0; l <= r->L; l++) r->ld[l] = round_v(r, r->a.dims[l]);
}

static double unit_cost(const cpu_impl *r, const cpu_unit *u) {
  const cpu_layer *ly = &r->lay[u->l];
  int n = ly->tm ? ly->in : ly->out, ldn = ly->tm ? ly->ldwt : ly->ldw;
  return (double)(u->c1 - u->c0) * (ldn * (double)r->B + n);
}

/* Units of every model and layer, and each thread's contiguous run of about equal cost. */
static int plan_units(cpu_impl *r) {
  int n = 0;
  for (int l = 0; l < r->L; l++) n += (unit_rows(&r->lay[l]) + CPU_UNIT_ROWS - 1) / CPU_UNIT_ROWS + 1;
  r->units = malloc((size_t)n * r->K * sizeof *r->units);
  r->ubeg = malloc((size_t)(r->T + 1) * sizeof *r->ubeg);
  if (!r->units || !r->ubeg) return 0;
  r->nunits = 0;
  for (int k = 0; k < r->K; k++)
    for (int l = r->L - 1; l >= 0; l--) {
      int in = unit_rows(&r->lay[l]);
      for (int c = 0; c < in; c += CPU_UNIT_ROWS) {
        int end = c + CPU_UNIT_ROWS < in ? c + CPU_UNIT_ROWS : in;
        r->units[r->nunits++] = (cpu_unit){k, l, c, end};
      }
      r->units[r->nunits++] = (cpu_unit){k, l, in, in + 1}; /* the bias row */
    }
  double total = 0;
  for (int i = 0; i < r->nunits; i++) total += unit_cost(r, &r->units[i]);
  double done = 0;
  int t = 0;
  r->ubeg[0] = 0;
  for (int i = 0; i < r->nunits; i++) {
    double mid = done + unit_cost(r, &r->units[i]) / 2;
    while (t + 1 < r->T && mid >= total * (t + 1) / r->T) r->ubeg[++t] = i;
    done += unit_cost(r, &r->units[i]);
  }
  while (t < r->T) r->ubeg[++t] = r->nunits;
  return 1;
}

static int alloc_bufs(cpu_impl *r) {
  size_t kp = (size_t)r->K * r->PP, kb = (size_t)r->K * r->B;
  r->p = falloc(kp); r->m = falloc(kp); r->v = falloc(kp);
  r->wt = falloc((size_t)r->K * r->WTN);
  r->loss = falloc(kb);
  r->adam = calloc((size_t)r->K, sizeof *r->adam);
  r->lab = calloc(kb, sizeof *r->lab);
  int ok = r->p && r->m && r->v && r->wt && r->loss && r->adam && r->lab;
  for (int l = 0; l <= r->L; l++) {
    r->act[l] = falloc(kb * r->ld[l]);
    ok = ok && r->act[l];
    if (l < r->L) { r->dz[l] = falloc(kb * r->ld[l + 1]); ok = ok && r->dz[l]; }
  }
  return ok && plan_units(r);
}

static int split_threads(const cpu_impl *r, cpu_split sp) {
  return sp == CPU_SPLIT_ONE ? 1 : sp == CPU_SPLIT_MODELS && r->K < r->T ? r->K : r->T;
}

static const char *const SPLIT_NAMES[] = {"one thread", "whole models per thread",
                                           "rows and units per thread"};

static void set_path(cpu_impl *r) {
  snprintf(r->path, sizeof r->path, "threaded-epoch: %s kernels, %d of %d thread%s (%s: %s), "
           "%d unit%s per step", ab_cpu_isa_name(r->kt->isa), r->nt, r->T, r->T == 1 ? "" : "s",
           SPLIT_NAMES[r->split], r->why, r->nunits, r->nunits == 1 ? "" : "s");
}

/* How the threads share the epoch (impl.h): whole models when there are several (no
 * barriers); for one model, rows when asked for exactly or when a step is big enough
 * to be worth measuring (cpu_epoch then measures), else one thread. */
static void plan_split(cpu_impl *r) {
  double flops = ab_arch_train_flops(&r->a) * r->B * r->K;
  r->rows_ok = 0;
  r->probe_in = 0;
  r->probe_every = CPU_SPLIT_PROBE_EPOCHS / 2;
  if (r->T == 1) {
    r->split = CPU_SPLIT_ONE;
    snprintf(r->why, sizeof r->why, "one thread given");
  } else if (r->K >= 2 && (!r->o.exact || r->K >= r->T)) {
    r->split = CPU_SPLIT_MODELS;
    snprintf(r->why, sizeof r->why, "%d models", r->K);
  } else if (r->o.exact) {
    r->split = CPU_SPLIT_ROWS;
    snprintf(r->why, sizeof r->why, "%d threads asked for exactly", r->T);
  } else if (flops < CPU_SPLIT_MIN_FLOPS) {
    r->split = CPU_SPLIT_ONE;
    snprintf(r->why, sizeof r->why, "%.2g flops a step, under %.2g", flops, CPU_SPLIT_MIN_FLOPS);
  } else {
    r->rows_ok = 1;
    r->rows_won = 0;
    r->split = CPU_SPLIT_ONE; /* until measured */
    snprintf(r->why, sizeof r->why, "%d threads to be measured", r->T);
  }
  r->nt = split_threads(r, r->split);
}

int cpu_plan(ab_dev *d, const ab_models *m, const ab_data *data, ab_err *e) {
  cpu_impl *r = d;
  cpu_plan_free(r);
  if (r->o.per_op) {
    snprintf(r->path, sizeof r->path, "per-op: the generic step over the CPU ops (asked for)");
    return AB_OK;
  }
  int rc = cpu_pool_get(r, e);
  if (rc) return rc;
  r->a = m->a; r->K = m->K; r->B = m->B; r->L = m->a.nlayers; r->P = m->P;
  r->data = data;
  r->tx = data->x[0].h; r->ty = data->y[0].h; r->td = data->d;
  r->lr = m->lr.h; r->wd = m->wd.h;
  plan_layout(r);
  if (!alloc_bufs(r)) {
    cpu_plan_free(r);
    return ab_err_set(e, AB_ENOMEM, "out of memory for %d models", m->K);
  }
  plan_split(r);
  set_path(r);
  return AB_OK;
}

/* Flat [P] <-> padded [PP] parameters of one model (a tm layer's W transposed). */
static void pad_params(const cpu_impl *r, float *dst, const float *src) {
  for (int l = 0; l < r->L; l++) {
    const cpu_layer *ly = &r->lay[l];
    const float *s = src + ab_arch_w_off(&r->a, l);
    float *d = dst + ly->w_off;
    if (ly->tm) {
      for (int i = 0; i < ly->in; i++)
        for (int c = 0; c < ly->out; c++) d[(size_t)c * ly->ldwt + i] = s[(size_t)i * ly->out + c];
      memcpy(d + (size_t)ly->out * ly->ldwt, s + (size_t)ly->in * ly->out,
             (size_t)ly->out * sizeof(float));
      continue;
    }
    for (int i = 0; i <= ly->in; i++)
      memcpy(d + (size_t)i * ly->ldw, s + (size_t)i * ly->out, (size_t)ly->out * sizeof(float));
  }
}

static void unpad_params(const cpu_impl *r, float *dst, const float *src) {
  for (int l = 0; l < r->L; l++) {
    const cpu_layer *ly = &r->lay[l];
    float *d = dst + ab_arch_w_off(&r->a, l);
    const float *s = src + ly->w_off;
    if (ly->tm) {
      for (int i = 0; i < ly->in; i++)
        for (int c = 0; c < ly->out; c++) d[(size_t)i * ly->out + c] = s[(size_t)c * ly->ldwt + i];
      memcpy(d + (size_t)ly->in * ly->out, s + (size_t)ly->out * ly->ldwt,
             (size_t)ly->out * sizeof(float));
      continue;
    }
    for (int i = 0; i <= ly->in; i++)
      memcpy(d + (size_t)i * ly->out, s + (size_t)i * ly->ldw, (size_t)ly->out * sizeof(float));
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Batches [b0, b1) split as sp; returns the seconds they took. */
static double run_batches(cpu_impl *r, cpu_split sp, int b0, int b1) {
  if (b0 >= b1) return 0;
  r->split = sp;
  r->nt = split_threads(r, sp);
  r->job.b0 = b0;
  r->job.b1 = b1;
  double t0 = now_s();
  if (sp == CPU_SPLIT_ONE) cpu_train_job(r, 0);
  else cpu_pool_run(r->pool, cpu_train_job, r);
  return now_s() - t0;
}

enum { PROBE_CHUNK = 4 }; /* batches a side runs at a time in the probe */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* Batch times of one run of c batches split as sp into t[], less the first (the split's
 * wake-up, paid once an epoch): c - 1 of them. */
static int timed_run(cpu_impl *r, cpu_split sp, int b0, int c, double *t) {
  double tend[PROBE_CHUNK];
  r->job.tend = tend;
  run_batches(r, sp, b0, b0 + c);
  r->job.tend = NULL;
  for (int i = 1; i < c; i++) t[i - 1] = tend[i] - tend[i - 1];
  return c - 1;
}

/* The epoch's first batches measure ROWS against ONE: chunks of PROBE_CHUNK batches,
 * alternating ROWS, ONE, ROWS, ONE, each timed batch by batch, so that a moment when the
 * machine stalls a vCPU (milliseconds on a shared VM) costs one sample, not a whole
 * side. The split is kept only when its median batch was at least 10% faster than one
 * thread's. Returns the batches run. */
static int probe(cpu_impl *r) {
  enum { NS = 2 * (PROBE_CHUNK - 1) };
  if (r->job.nbatches < 4 * PROBE_CHUNK) return 0;
  double rows[NS], one[NS];
  int nr = 0, no = 0;
  for (int i = 0; i < 2; i++) {
    nr += timed_run(r, CPU_SPLIT_ROWS, 2 * i * PROBE_CHUNK, PROBE_CHUNK, rows + nr);
    no += timed_run(r, CPU_SPLIT_ONE, (2 * i + 1) * PROBE_CHUNK, PROBE_CHUNK, one + no);
  }
  double mr = median(rows, nr), mo = median(one, no);
  r->rows_won = mr < 0.9 * mo;
  r->probe_every = r->rows_won ? CPU_SPLIT_PROBE_EPOCHS
                   : r->probe_every * 2 > CPU_SPLIT_PROBE_MAX ? CPU_SPLIT_PROBE_MAX
                                                              : r->probe_every * 2;
  r->probe_in = r->probe_every - 1;
  snprintf(r->why, sizeof r->why, "measured: %d threads %.0f us a batch, one %.0f (medians of %d)",
           r->T, mr * 1e6, mo * 1e6, nr);
  r->split = r->rows_won ? CPU_SPLIT_ROWS : CPU_SPLIT_ONE;
  r->nt = split_threads(r, r->split);
  set_path(r);
  return 4 * PROBE_CHUNK;
}

int cpu_epoch(ab_dev *d, ab_models *m, int nbatches, int *ran, ab_err *e) {
  (void)e;
  cpu_impl *r = d;
  *ran = r->K > 0;
  if (!*ran) return AB_OK;
  float *slot[3] = {m->slot[AB_SLOT_PARAMS].h, m->slot[AB_SLOT_ADAM_M].h,
                    m->slot[AB_SLOT_ADAM_V].h};
  float *pad[3] = {r->p, r->m, r->v};
  for (int k = 0; k < r->K; k++) {
    for (int s = 0; s < 3; s++) pad_params(r, pad[s] + k * r->PP, slot[s] + k * r->P);
    cpu_refresh_wt(r, k);
  }
  r->t = m->t;
  r->job = (cpu_job){m->order.h, nbatches, m->bloss.h, m->maxbatches, 0, nbatches, NULL};
  int b = r->rows_ok && r->probe_in-- <= 0 ? probe(r) : 0;
  if (r->rows_ok) r->split = r->rows_won ? CPU_SPLIT_ROWS : CPU_SPLIT_ONE;
  run_batches(r, r->split, b, nbatches);
  for (int k = 0; k < r->K; k++)
    for (int s = 0; s < 3; s++) unpad_params(r, slot[s] + k * r->P, pad[s] + k * r->PP);
  return AB_OK;
}
