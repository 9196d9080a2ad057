/* impl.h - private to src/cpu/: the CPU device (its ops: dev_cpu.c) and the state of its
 * whole-epoch override (epoch.c, epoch_job.c).
 *
 * The models' slots are kept in the flat layout of arch.h like every device's; the epoch
 * override copies parameters and Adam state into a padded layout at the start of an epoch
 * and back at its end. Padded layout: layer l is (in+1) rows of ldw floats (rows 0..in-1
 * are W, row in is b; ldw = out rounded up to 8, so rows are 32-byte aligned); Adam's m
 * and v share it. wt holds W transposed ([out][ldwt]) for layers l >= 1, for dX = dZ W^T;
 * it is refreshed after every update. Activations and gradients are [K][B][ld[l]].
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
#include "abgpu/ops.h"
#include "kern.h"
#include "pool.h"

#define CPU_UNIT_ROWS 10 /* W rows per phase-2 unit: two register tiles */

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
  float *bloss;  /* [K][bstride] batch mean losses */
  int bstride;
} cpu_job;

typedef struct ab_dev cpu_impl;
struct ab_dev {
  ab_cpu_opts o;
  const cpu_kern *kt;
  int T;                     /* threads */
  cpu_pool *pool;            /* started on first use */
  /* scratch of the ops: gathered rows and labels, W transposed */
  float *gx, *work;
  int32_t *gy;
  size_t cap, capy, capw;
  char path[160];
  /* the epoch override's plan (epoch.c) for the models of plan() */
  const ab_data *data;
  const float *tx;           /* training inputs [n][td] */
  const int32_t *ty;         /* training labels */
  int td;
  ab_arch a;
  int K, B, L;               /* models, batch, layers */
  size_t P, PP, WTN;         /* floats per model: flat params, padded params, wt */
  cpu_layer lay[AB_MAX_LAYERS];
  int ld[AB_MAX_LAYERS + 1]; /* activation row lengths */
  int64_t t;                 /* Adam steps before this epoch */
  float *p, *m, *v;          /* [K][PP] */
  float *wt;                 /* [K][WTN] */
  const float *lr, *wd;      /* [K], the models' lr and wd buffers */
  cpu_adam *adam;            /* [K] this step's constants */
  float *act[AB_MAX_LAYERS + 1];  /* [K][B][ld[l]] */
  float *dz[AB_MAX_LAYERS];       /* [K][B][ld[l+1]] */
  float *loss;               /* [K][B] */
  int32_t *lab;              /* [K][B] */
  cpu_unit *units;
  int nunits;
  int *ubeg;                 /* [T+1]: thread t runs units ubeg[t] .. ubeg[t+1]-1 */
  cpu_job job;
};

/* The pool, started when first needed. */
int cpu_pool_get(cpu_impl *r, ab_err *e);

/* The epoch override (epoch.c): plan, run, free. */
int cpu_plan(ab_dev *d, const ab_models *m, const ab_data *data, ab_err *e);
int cpu_epoch(ab_dev *d, ab_models *m, int nbatches, int *ran, ab_err *e);
void cpu_plan_free(cpu_impl *r);

/* Pool job (epoch_job.c): the epoch's training steps. */
void cpu_train_job(void *impl, int tid);
/* wt of model k from its padded parameters. */
void cpu_refresh_wt(cpu_impl *r, int k);

#endif
