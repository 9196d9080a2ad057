/* impl.h - private to src/cpu/: the fast CPU backend's state and its parallel jobs.
 *
 * Layout. Each model's parameters are kept padded: layer l is (in+1) rows of ldw floats
 * (rows 0..in-1 are W, row in is b; ldw = out rounded up to 8, so rows are 32-byte
 * aligned); Adam's m and v and the "best" copy share that layout. wt holds W transposed
 * ([out][ldwt]) for layers l >= 1, for dX = dZ W^T; it is refreshed after every update.
 * Activations and gradients are [K][B][ld[l]] row-major.
 *
 * A training step is two phases with a barrier after each:
 *   1. rows: each thread takes a contiguous share of the K*B batch rows and runs them
 *      through gather, forward, loss and backward to every dZ (rows are independent);
 *   2. units: each thread takes a contiguous run of (model, layer, block of W rows)
 *      units, sums their gradient over the batch and applies Adam in place.
 * Each output element is computed by the same instruction sequence whichever thread
 * gets it, so results do not depend on the thread count. */
#ifndef ABGPU_CPU_IMPL_H
#define ABGPU_CPU_IMPL_H
#include "abgpu/backend.h"
#include "kern.h"
#include "pool.h"

#define CPU_UNIT_ROWS 10 /* W rows per phase-2 unit: two register tiles */
#define CPU_EVAL_ROWS 96 /* rows per evaluation chunk */

typedef struct cpu_layer {
  int in, out, ldw, ldwt;
  size_t w_off, wt_off; /* in a padded model, in one model's wt */
  ab_act act;
} cpu_layer;

/* Phase-2 work: rows [c0, c1) of layer l of model k; c0 == in is the bias row. */
typedef struct cpu_unit {
  int k, l, c0, c1;
} cpu_unit;

typedef struct cpu_job {
  const int32_t *order;
  int nbatches;
  double *loss_sum;
  const ab_split *sp;
  float *prob; /* predict: output; evaluate: NULL */
} cpu_job;

typedef struct cpu_impl {
  ab_cpu_opts o;
  const cpu_kern *kt;
  const ab_splits *s;
  ab_arch a;
  int K, B, L, T;            /* models, batch, layers, threads */
  size_t P, PP, WTN;         /* floats per model: flat params, padded params, wt */
  cpu_layer lay[AB_MAX_LAYERS];
  int ld[AB_MAX_LAYERS + 1]; /* activation row lengths */
  int64_t t;                 /* Adam steps taken */
  float *p, *m, *v, *best;   /* [K][PP] */
  float *wt;                 /* [K][WTN] */
  float *lr, *wd;            /* [K] */
  cpu_adam *adam;            /* [K] this step's constants */
  float *act[AB_MAX_LAYERS + 1];  /* [K][B][ld[l]] */
  float *dz[AB_MAX_LAYERS];       /* [K][B][ld[l+1]] */
  float *loss;               /* [K][B] */
  int32_t *lab;              /* [K][B] */
  float *eact[AB_MAX_LAYERS + 1]; /* [T][CPU_EVAL_ROWS][ld[l]] */
  float *erow;               /* [K][nmax] per-row evaluation losses */
  size_t nmax;
  int64_t *ecorrect;         /* [T][K] */
  cpu_unit *units;
  int nunits;
  int *ubeg;                 /* [T+1]: thread t runs units ubeg[t] .. ubeg[t+1]-1 */
  cpu_pool *pool;
  cpu_job job;
} cpu_impl;

/* Pool jobs (step.c). */
void cpu_train_job(void *impl, int tid);
void cpu_eval_job(void *impl, int tid);
/* wt of model k from its padded parameters. */
void cpu_refresh_wt(cpu_impl *r, int k);

#endif
