/* impl.h - private to src/cpu/: the CPU device (its ops: dev_cpu.c) and the state of its
 * whole-epoch override (epoch.c, epoch_job.c).
 *
 * The models' slots are kept in the flat layout of arch.h like every device's; the epoch
 * override copies parameters and Adam state into a padded layout at the start of an epoch
 * and back at its end. Padded layout: layer l is (in+1) rows of ldw floats (rows 0..in-1
 * are W, row in is b; ldw = out rounded up to 8 (16 for AVX-512), so rows are 32-byte
 * (64-byte) aligned); Adam's m
 * and v share it. wt holds W transposed ([out][ldwt]) for layers l >= 1, for dX = dZ W^T;
 * it is refreshed after every update. A narrow layer (tm: out under a vector, in > out,
 * the 2-class output layer) is kept the other way round: the padded layout holds W
 * transposed ([out][ldwt], then b as row out), so that its gradient is a product of
 * `out` rows by `in` columns (full vectors) and Adam runs on full vectors; wt then holds
 * the (in+1) x ldw row layout for the forward product, refreshed after every update.
 * Activations and gradients are [K][B][ld[l]].
 *
 * How the threads share an epoch (cpu_split, chosen in plan):
 *   ONE: the calling thread runs every step of every model (each layer's gradient one
 *      product);
 *   MODELS: each of nt threads takes a contiguous run of whole models and trains them
 *      through the epoch alone, as ONE does (no barrier until the epoch ends);
 *   ROWS: every step is two phases with a barrier after each:
 *   1. rows: each thread takes a contiguous share of the K*B batch rows and runs them
 *      through gather, forward, loss and backward to every dZ (rows are independent);
 *   2. units: each thread takes a contiguous run of (model, layer, block of W rows)
 *      units, sums their gradient over the batch and applies Adam in place.
 * Each output element is computed by the same instruction sequence whichever thread
 * gets it, so results do not depend on the thread count or the split. */
#ifndef ABGPU_CPU_IMPL_H
#define ABGPU_CPU_IMPL_H
#include "abgpu/ops.h"
#include "kern.h"
#include "pool.h"

#define CPU_UNIT_ROWS 10 /* W rows per phase-2 unit: two register tiles */

typedef struct cpu_layer {
  int in, out, ldw, ldwt;
  int tm;               /* narrow: the padded layout is W transposed, wt the rows */
  size_t w_off, wt_off; /* in a padded model, in one model's wt */
  ab_act act;
} cpu_layer;

/* Phase-2 work: rows [c0, c1) of layer l of model k's padded layout; c0 == in (out for
 * a tm layer) is the bias row. */
typedef struct cpu_unit {
  int k, l, c0, c1;
} cpu_unit;

typedef struct cpu_job {
  const int32_t *order;
  int nbatches;
  float *bloss;  /* [K][bstride] batch mean losses */
  int bstride;
  int b0, b1;    /* the batches this run of the job trains */
  double *tend;  /* NULL, or thread 0's clock at the end of each batch (tend[b - b0]) */
} cpu_job;

typedef enum { CPU_SPLIT_ONE, CPU_SPLIT_MODELS, CPU_SPLIT_ROWS } cpu_split;

/* A step's work (K*B rows) below which ROWS is not tried: about 30 us of one core's
 * work at the ~70 GFLOP/s the kernels reach on the 2-vCPU VM, where the split's two
 * barriers and wake-up (~2-5 us quiet, far more when the other vCPU is busy) would eat
 * the gain. Above it the epoch measures both (cpu_epoch). */
#define CPU_SPLIT_MIN_FLOPS 2e6
/* ROWS is measured against ONE again after this many epochs (the machine's load
 * changes), twice as many after each loss of ROWS, up to the cap: a probe that loses
 * costs its split batches (under load, milliseconds). */
#define CPU_SPLIT_PROBE_EPOCHS 8
#define CPU_SPLIT_PROBE_MAX 512

/* Whether the forward op's row split pays, measured on its own calls: the first
 * CPU_FWD_PROBE_N eligible calls a side, alternating split and one thread, timed per
 * multiply-add; the split is kept when its median is at least 10% faster, and both
 * are measured again after CPU_FWD_REPROBE calls. A split wakes the pool: when the
 * workers sleep (training ran on one thread), the wake-up alone (~0.1-0.3 ms on the
 * 2-vCPU VM) cost more than a validation pass's layer takes on one core. */
#define CPU_FWD_PROBE_N 3
#define CPU_FWD_REPROBE 256
typedef struct cpu_fwd_probe {
  int n[2];                         /* samples so far: [0] one thread, [1] split */
  double rate[2][CPU_FWD_PROBE_N];  /* seconds per multiply-add */
  int verdict;                      /* -1 measuring, 0 one thread, 1 split */
  int calls;                        /* calls since the verdict */
  char why[96];                     /* the verdict and its medians, for the path */
} cpu_fwd_probe;

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
  char path[256];
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
  cpu_split split;           /* how the epoch is shared (above) */
  int nt;                    /* threads it uses: 1 (ONE), up to T (MODELS), T (ROWS) */
  int rows_ok;               /* ROWS may be used: K == 1 and the step is big enough */
  int rows_won;              /* the last measurement picked ROWS */
  int probe_in;              /* epochs until ROWS and ONE are measured again */
  int probe_every;           /* the current interval */
  char why[128];             /* the last choice, for the path */
  cpu_job job;
  cpu_fwd_probe fp;          /* the forward op's split, measured (dev_cpu.c) */
  char path_all[384];        /* path and the forward's verdict, composed by ops->path */
};

/* The pool, started when first needed. */
int cpu_pool_get(cpu_impl *r, ab_err *e);

/* The epoch override (epoch.c): plan, run, free. */
int cpu_plan(ab_dev *d, const ab_models *m, const ab_data *data, ab_err *e);
int cpu_epoch(ab_dev *d, ab_models *m, int nbatches, int *ran, ab_err *e);
void cpu_plan_free(cpu_impl *r);

/* Pool job (epoch_job.c): batches job.b0 .. job.b1-1 of the epoch, as r->split says. */
void cpu_train_job(void *impl, int tid);
/* wt of model k from its padded parameters. */
void cpu_refresh_wt(cpu_impl *r, int k);

#endif
