/* The epoch override's parallel job: training steps in two phases (impl.h). Every
 * function here runs on all pool threads at once. */
#include <string.h>
#include <time.h>
#include "impl.h"

static const float ONE = 1.0f;

/* This thread's share [*lo, *hi) of n items. */
static void share(size_t n, int T, int tid, size_t *lo, size_t *hi) {
  *lo = n * (size_t)tid / (size_t)T;
  *hi = n * (size_t)(tid + 1) / (size_t)T;
}

static float *wpad(cpu_impl *r, int k, int l) { return r->p + k * r->PP + r->lay[l].w_off; }
static float *wtm(cpu_impl *r, int k, int l) { return r->wt + k * r->WTN + r->lay[l].wt_off; }
/* Layer l's W as rows [in+1][ldw] (the forward's), and transposed [out][ldwt] (dX's). */
static float *wrows(cpu_impl *r, int k, int l) { return r->lay[l].tm ? wtm(r, k, l) : wpad(r, k, l); }
static float *wcols(cpu_impl *r, int k, int l) { return r->lay[l].tm ? wpad(r, k, l) : wtm(r, k, l); }

/* Forward of n rows through every layer: x (row stride ldx) in, act[l] rows out. */
static void forward(cpu_impl *r, int k, const float *x, int ldx, float **act, int n) {
  for (int l = 0; l < r->L; l++) {
    const cpu_layer *ly = &r->lay[l];
    const float *W = wrows(r, k, l);
    cpu_mm m = {.M = n, .N = ly->out, .K = ly->in, .A = l ? act[l] : x,
                .ars = l ? r->ld[l] : ldx, .aks = 1, .B = W, .ldb = ly->ldw,
                .Bt = l || ly->tm ? wcols(r, k, l) : NULL, .ldbt = ly->ldwt, .ep = CPU_EP_ACT,
                .C = act[l + 1], .ldc = r->ld[l + 1], .bias = W + (size_t)ly->in * ly->ldw,
                .act = ly->act};
    r->kt->mm(&m);
  }
}

/* Rows [i0, i1) of model k's batch b into act[0] and lab. The fields are read into
 * locals once: through r, each float store could alias them and force reloads. */
static void gather_rows(cpu_impl *r, int k, int i0, int i1, int b) {
  const int B = r->B, td = r->td, nb = r->job.nbatches;
  const ptrdiff_t ld = r->ld[0];
  const int32_t *idx = r->job.order + (size_t)k * nb * B + (size_t)b * B;
  const float *tx = r->tx;
  const int32_t *ty = r->ty;
  float *dst = r->act[0] + ((size_t)k * B + i0) * ld;
  int32_t *lab = r->lab + (size_t)k * B;
  for (int i = i0; i < i1; i++, dst += ld) {
    const float *src = tx + (size_t)idx[i] * td;
    for (int c = 0; c < td; c++) dst[c] = src[c];
    lab[i] = ty[idx[i]];
  }
  if (b + 1 < nb) /* the next batch's rows, while this one computes */
    for (int i = i0; i < i1; i++) {
      const float *src = tx + (size_t)idx[B + i] * td;
      __builtin_prefetch(src);
      __builtin_prefetch(src + td - 1);
      __builtin_prefetch(ty + idx[B + i]);
    }
}

/* Per-row loss and dZ of the output layer for n rows from batch row row0. */
static void loss_rows(cpu_impl *r, float **act, size_t row0, int n) {
  int L = r->L;
  ptrdiff_t ld = r->ld[L];
  float *d = r->dz[L - 1] + row0 * ld;
  r->kt->xent2(r->loss + row0, d, ld, act[L], ld, r->lab + row0, n, (float)r->B);
  if (r->lay[L - 1].act != AB_ACT_IDENTITY)
    for (int i = 0; i < n; i++)
      r->kt->dact(d + i * ld, d + i * ld, act[L] + i * ld, r->lay[L - 1].act, AB_NCLASS);
}

/* dZ of every layer below the output: dX of the layer above times act'. */
static void backward_rows(cpu_impl *r, int k, float **act, size_t row0, int n) {
  for (int l = r->L - 1; l >= 1; l--) {
    const cpu_layer *ly = &r->lay[l];
    cpu_mm m = {.M = n, .N = ly->in, .K = ly->out, .A = r->dz[l] + row0 * r->ld[l + 1],
                .ars = r->ld[l + 1], .aks = 1, .B = wcols(r, k, l), .ldb = ly->ldwt,
                .Bt = wrows(r, k, l), .ldbt = ly->ldw, .ep = CPU_EP_DACT, .C = r->dz[l - 1] + row0 * r->ld[l], .ldc = r->ld[l],
                .act = r->lay[l - 1].act, .Y = act[l], .ldy = r->ld[l]};
    r->kt->mm(&m);
  }
}

/* Phase 1 for rows [i0, i1) of model k in batch b. */
static void rows_step(cpu_impl *r, int k, int i0, int i1, int b) {
  size_t row0 = (size_t)k * r->B + i0;
  float *act[AB_MAX_LAYERS + 1];
  for (int l = 0; l <= r->L; l++) act[l] = r->act[l] + row0 * r->ld[l];
  gather_rows(r, k, i0, i1, b);
  forward(r, k, act[0], r->ld[0], act, i1 - i0);
  loss_rows(r, act, row0, i1 - i0);
  backward_rows(r, k, act, row0, i1 - i0);
}

static void adam_init(cpu_impl *r, int k, int b) {
  cpu_adam_init(&r->adam[k], r->lr[k], r->wd[k], AB_ADAM_BETA1, AB_ADAM_BETA2, AB_ADAM_EPS,
                (int)(r->t + b + 1));
}

static void phase_rows(cpu_impl *r, int tid, int b) {
  size_t lo, hi;
  share((size_t)r->K * r->B, r->T, tid, &lo, &hi);
  for (int k = 0; k < r->K; k++) {
    size_t a = (size_t)k * r->B, z = a + r->B;
    if (hi > a && lo < z)
      rows_step(r, k, (int)((lo > a ? lo : a) - a), (int)((hi < z ? hi : z) - a), b);
  }
  if (tid == 0)
    for (int k = 0; k < r->K; k++) adam_init(r, k, b);
}

/* Phase 2 of a tm layer: rows [c0, c1) of W transposed are dZ^T X (out rows, in
 * columns: each element the same sum over the batch, in the same order, as the row
 * layout's), or the bias row; then the row copy wt is refreshed. */
static void unit_step_tm(cpu_impl *r, const cpu_unit *u, int refresh) {
  const cpu_layer *ly = &r->lay[u->l];
  int bias = u->c0 == ly->out;
  size_t off = (size_t)u->k * r->PP + ly->w_off + (size_t)u->c0 * ly->ldwt;
  const float *dz = r->dz[u->l] + (size_t)u->k * r->B * r->ld[u->l + 1];
  cpu_mm m = {.M = u->c1 - u->c0, .N = bias ? ly->out : ly->in, .K = r->B,
              .A = bias ? &ONE : dz + u->c0, .ars = bias ? 0 : 1,
              .aks = bias ? 0 : r->ld[u->l + 1],
              .B = bias ? dz : r->act[u->l] + (size_t)u->k * r->B * r->ld[u->l],
              .ldb = bias ? r->ld[u->l + 1] : r->ld[u->l], .ep = CPU_EP_ADAM, .P = r->p + off,
              .Mo = r->m + off, .V = r->v + off, .ldp = ly->ldwt, .adam = &r->adam[u->k]};
  r->kt->mm(&m);
  if (!refresh) return;
  float *w = wtm(r, u->k, u->l);
  if (bias) memcpy(w + (size_t)ly->in * ly->ldw, r->p + off, (size_t)ly->out * sizeof(float));
  else r->kt->transpose(w + u->c0, ly->ldw, r->p + off, ly->ldwt, u->c1 - u->c0, ly->in);
}

/* Phase 2: the gradient of one unit's rows, applied by Adam, then (when refresh) the
 * unit's part of wt refreshed. */
static void unit_step(cpu_impl *r, const cpu_unit *u, int refresh) {
  const cpu_layer *ly = &r->lay[u->l];
  if (ly->tm) {
    unit_step_tm(r, u, refresh);
    return;
  }
  int bias = u->c0 == ly->in;
  size_t off = (size_t)u->k * r->PP + ly->w_off + (size_t)u->c0 * ly->ldw;
  cpu_mm m = {.M = u->c1 - u->c0, .N = ly->out, .K = r->B,
              .A = bias ? &ONE : r->act[u->l] + (size_t)u->k * r->B * r->ld[u->l] + u->c0,
              .ars = bias ? 0 : 1, .aks = bias ? 0 : r->ld[u->l],
              .B = r->dz[u->l] + (size_t)u->k * r->B * r->ld[u->l + 1], .ldb = r->ld[u->l + 1],
              .ep = CPU_EP_ADAM, .P = r->p + off, .Mo = r->m + off, .V = r->v + off,
              .ldp = ly->ldw, .adam = &r->adam[u->k]};
  r->kt->mm(&m);
  if (refresh && u->l > 0 && !bias)
    r->kt->transpose(wtm(r, u->k, u->l) + u->c0, ly->ldwt, r->p + off, ly->ldw, u->c1 - u->c0,
                     ly->out);
}

/* Phase 2 of model k by one thread: each layer's gradient as one product (its rows and
 * then its bias row), not the split's 10-row units, so dZ is read once a column block
 * instead of once a unit (epoch 0.97x on the seed net). */
static void layers_step(cpu_impl *r, int k) {
  for (int l = 0; l < r->L; l++) {
    int rows = r->lay[l].tm ? r->lay[l].out : r->lay[l].in;
    cpu_unit w = {k, l, 0, rows}, bias = {k, l, rows, rows + 1};
    unit_step(r, &w, 0);
    unit_step(r, &bias, 0);
  }
}

/* Batch b's mean loss of model k: the row losses in order, in float, over B. */
static void batch_mean(cpu_impl *r, int k, int b) {
  float s = 0.0f;
  for (int i = 0; i < r->B; i++) s += r->loss[(size_t)k * r->B + i];
  r->job.bloss[(size_t)k * r->job.bstride + b] = s / (float)r->B;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Thread 0 notes when batch b ended, when the probe asks. */
static void note_end(cpu_impl *r, int tid, int b) {
  if (tid == 0 && r->job.tend) r->job.tend[b - r->job.b0] = now_s();
}

/* ROWS: every thread in every step, a barrier after each phase. */
static void job_rows(cpu_impl *r, int tid) {
  for (int b = r->job.b0; b < r->job.b1; b++) {
    phase_rows(r, tid, b);
    cpu_pool_barrier(r->pool, tid);
    if (tid == 0)
      for (int k = 0; k < r->K; k++) batch_mean(r, k, b);
    for (int u = r->ubeg[tid]; u < r->ubeg[tid + 1]; u++) unit_step(r, &r->units[u], 1);
    cpu_pool_barrier(r->pool, tid);
    note_end(r, tid, b);
  }
}

/* ONE and MODELS: thread tid of nt trains its run of whole models alone. */
static void job_models(cpu_impl *r, int tid) {
  int k0 = r->K * tid / r->nt, k1 = r->K * (tid + 1) / r->nt;
  for (int b = r->job.b0; b < r->job.b1; b++) {
    for (int k = k0; k < k1; k++) {
      rows_step(r, k, 0, r->B, b);
      adam_init(r, k, b);
      batch_mean(r, k, b);
      layers_step(r, k);
      cpu_refresh_wt(r, k); /* whole layers at once: fewer edge blocks than per unit */
    }
    note_end(r, tid, b);
  }
}

void cpu_train_job(void *impl, int tid) {
  cpu_impl *r = impl;
  if (r->split == CPU_SPLIT_ROWS) job_rows(r, tid);
  else if (tid < r->nt) job_models(r, tid);
}

void cpu_refresh_wt(cpu_impl *r, int k) {
  for (int l = 0; l < r->L; l++) {
    const cpu_layer *ly = &r->lay[l];
    float *w = wtm(r, k, l), *p = wpad(r, k, l);
    if (ly->tm) {
      r->kt->transpose(w, ly->ldw, p, ly->ldwt, ly->out, ly->in);
      memcpy(w + (size_t)ly->in * ly->ldw, p + (size_t)ly->out * ly->ldwt,
             (size_t)ly->out * sizeof(float));
    } else if (l > 0) {
      r->kt->transpose(w, ly->ldwt, p, ly->ldw, ly->in, ly->out);
    }
  }
}
