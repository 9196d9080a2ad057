/* ops.h - the op table: what a device implements so that the training step, the
 * evaluation pass and prediction (written once, in src/train/) run on it.
 *
 * One ab_ops per device kind: the reference (src/ref/, plain C: the specification), the
 * fast CPU path (src/cpu/) and OpenCL (src/cl/ + kernels/). The ops take the arguments
 * of their ab_ref_* twins (ref.h): outputs first, sizes last, a leading model dimension
 * K; buffers are ab_mem on the device and offsets count elements (floats or int32).
 *
 * Below the ops sit optional whole-pass overrides: a device may run a whole epoch (the
 * OpenCL fused kernel, the threaded CPU epoch) or a whole evaluation pass (the OpenCL
 * fused evaluation) its own way, because a per-op call from the host costs a launch
 * (tens of microseconds on PoCL, more than a 10-100-100-2 step's arithmetic). An
 * override computes what the generic sequence over the ops computes; it says whether it
 * ran, so the generic sequence is always there to fall back on. The whole-epoch
 * overrides are not asked while dropout is on (src/train/backend.c): the generic step
 * runs, with the dropout op after each hidden layer.
 *
 * Adding an op: one function per device (ref, cpu, cl) and one line in this table. */
#ifndef ABGPU_OPS_H
#define ABGPU_OPS_H
#include <stddef.h>
#include <stdint.h>
#include "abgpu/arch.h"
#include "abgpu/err.h"

/* A device (context, queue, threads, scratch): each implementation's own struct. */
typedef struct ab_dev ab_dev;

/* A buffer on a device: host memory (ref, cpu) or an OpenCL buffer (cl_mem). */
typedef struct ab_mem {
  void *h;
  size_t bytes;
} ab_mem;

/* Rows an op reads: row i of model k is row idx[off + k*kstride + i] of x when idx is
 * set (a batch through its order), else row off + k*kstride + i of x (kstride = B:
 * each model's own rows; kstride = 0: all models read the same rows). */
typedef struct ab_rows {
  const ab_mem *x, *idx;
  size_t off, kstride;
} ab_rows;

/* The models' named state: [K][P] floats each, in the flat layout of arch.h. */
typedef enum {
  AB_SLOT_PARAMS = 0,  /* current parameters */
  AB_SLOT_BEST = 1,    /* the parameters the training loop keeps (best epoch) */
  AB_SLOT_ADAM_M = 2,  /* Adam's first moment */
  AB_SLOT_ADAM_V = 3,  /* Adam's second moment */
  AB_NSLOTS = 4
} ab_slot;

/* The uploaded splits (train, val, test), as the training code keeps them. */
typedef struct ab_data {
  ab_mem x[3], y[3];   /* network inputs [n][d] float, labels [n] int32 */
  size_t n[3], maxn;   /* rows per split, the largest */
  int d;               /* inputs per row */
} ab_data;

/* K models of one architecture and their buffers on the device, as the training code
 * keeps them (src/train/backend.c allocates them through the ops). */
typedef struct ab_models {
  ab_arch a;
  int K, B, R;              /* models, batch, rows per evaluation chunk (>= B) */
  size_t P;                 /* parameters per model */
  int maxbatches, maxslots; /* batches per epoch, evaluation chunks of the largest split */
  int64_t t;                /* Adam steps taken */
  ab_mem slot[AB_NSLOTS];   /* [K][P] each */
  ab_mem grad;              /* [K][P] */
  ab_mem lr, wd;            /* [K] */
  ab_mem act[AB_MAX_LAYERS + 1]; /* [K][R][dims[l]] */
  ab_mem dA, dB;            /* [K][B][maxdim] gradient ping-pong */
  ab_mem loss;              /* [K][B] per-row training losses */
  ab_mem order;             /* [K][nbatches*B] int32, the epoch's batch order */
  ab_mem bloss;             /* [K][maxbatches] batch mean losses */
  ab_mem eloss, ecount;     /* [K][maxslots] evaluation accumulators (the device's format) */
  ab_mem prob;              /* [K][maxn] class-1 probabilities */
  int dropout;              /* 1: some model trains with dropout (ab_hyper.dropout > 0) */
  ab_mem dropc;             /* [K][AB_DROP_NC] uint32 dropout constants (ref.h) */
  ab_mem drop[AB_MAX_LAYERS + 1]; /* [K][B][dims[h]] hidden activation h after dropout
                            * (h = 1..nlayers-1), allocated when dropout is on */
} ab_models;

typedef struct ab_ops {
  const char *name;        /* "reference", "cpu", "opencl" */
  int eval_rows;           /* rows per evaluation chunk, at most (at least the batch) */
  int warm_up;             /* 1: train one batch and evaluate once when models are set up,
                            * then restore them (a runtime that compiles per launch shape
                            * does it there, not in the first timed epoch) */

  /* ---- memory ---- */
  /* A buffer of bytes (contents undefined). */
  int (*alloc)(ab_dev *d, ab_mem *m, size_t bytes, ab_err *e);
  /* A read-only buffer holding host[bytes]; a host device may use host in place (the
   * caller keeps it alive while the buffer is in use). */
  int (*upload)(ab_dev *d, ab_mem *m, const void *host, size_t bytes, ab_err *e);
  /* Frees m (a zeroed ab_mem is nothing to free) and zeroes it. */
  void (*release)(ab_dev *d, ab_mem *m);
  int (*write)(ab_dev *d, ab_mem *m, size_t off, const void *src, size_t bytes, ab_err *e);
  /* As write, but may return before the copy is done: src stays unchanged until the next
   * read (which waits for everything queued before it). NULL: write is used. */
  int (*write_async)(ab_dev *d, ab_mem *m, size_t off, const void *src, size_t bytes,
                     ab_err *e);
  int (*read)(ab_dev *d, const ab_mem *m, size_t off, void *dst, size_t bytes, ab_err *e);
  int (*copy)(ab_dev *d, ab_mem *dst, size_t doff, const ab_mem *src, size_t soff,
              size_t bytes, ab_err *e);
  int (*zero)(ab_dev *d, ab_mem *m, size_t bytes, ab_err *e);

  /* ---- the ops (ref.h; row inputs through ab_rows) ---- */
  /* Y [K][B][OUT] = act(X W + b). */
  int (*linear_act_fwd)(ab_dev *d, ab_mem *Y, ab_rows X, const ab_mem *P, size_t woff,
                        size_t boff, ab_act act, int K, int B, int IN, int OUT,
                        size_t pstride, ab_err *e);
  /* loss [K][B] and dlogits [K][B][C] of ab_ref_softmax_xent, labels int32 through
   * `labels`; also bloss[k*bstride + bslot] = the batch mean loss of model k (the row
   * losses summed in order, in float, divided by B). */
  int (*softmax_xent)(ab_dev *d, ab_mem *loss, ab_mem *dlogits, ab_mem *bloss, int bslot,
                      int bstride, const ab_mem *logits, ab_rows labels, int K, int B, int C,
                      ab_err *e);
  /* ab_ref_linear_act_bwd with the gradient G of the layer at woff/boff; dX NULL: skipped.
   * Then dX *= act_in'(Xin) elementwise (act_in identity: nothing), Xin [K][B][IN] the
   * layer's input as the layer below produced it: dX becomes that layer's dZ. */
  int (*linear_act_bwd)(ab_dev *d, ab_mem *dX, ab_mem *G, size_t woff, size_t boff,
                        ab_mem *dZ, const ab_mem *dY, ab_rows X, const ab_mem *Y,
                        const ab_mem *P, ab_act act, ab_act act_in, int K, int B, int IN,
                        int OUT, size_t pstride, ab_err *e);
  /* ab_ref_adam_step over p, m, v, g [K][n] with lr, wd [K] and consts.h's betas. */
  int (*adam_step)(ab_dev *d, ab_mem *p, ab_mem *m, ab_mem *v, const ab_mem *g,
                   const ab_mem *lr, const ab_mem *wd, int64_t t, int K, size_t n, ab_err *e);
  /* ab_ref_eval of chunk `slot` (labels [B] at loff, shared by the models) into the
   * accumulators (chunk 0 starts a pass); eval_sum gives the pass's totals over nslots
   * chunks. How the chunks add up is the device's: the reference adds every row in
   * order in double, OpenCL keeps float sums per chunk and adds them in double. */
  int (*eval)(ab_dev *d, ab_mem *eloss, ab_mem *ecount, int slot, int nslots,
              const ab_mem *logits, const ab_mem *labels, size_t loff, int K, int B, int C,
              ab_err *e);
  int (*eval_sum)(ab_dev *d, double *loss_sum, int64_t *correct, const ab_mem *eloss,
                  const ab_mem *ecount, int nslots, int K, ab_err *e);
  /* prob[k*pks + poff + i] = softmax(logits[k][i])[1] (ab_ref_prob1). */
  int (*prob1)(ab_dev *d, ab_mem *prob, size_t poff, size_t pks, const ab_mem *logits,
               int K, int B, ab_err *e);

  /* Y [K][B][N] = X * the dropout mask of ab_ref_dropout (Y may be X); c the models'
   * [K][AB_DROP_NC] uint32 constants. The same on every device, bit for bit. */
  int (*dropout)(ab_dev *d, ab_mem *Y, const ab_mem *X, const ab_mem *c, uint32_t salt, int K,
                 int B, int N, ab_err *e);

  /* ---- whole-pass overrides (each may be NULL) ---- */
  /* The models' shapes are set (m and data stay at these addresses until the next
   * plan): a device chooses how it runs them and sets up what its overrides need. */
  int (*plan)(ab_dev *d, const ab_models *m, const ab_data *data, ab_err *e);
  /* A whole epoch of nbatches steps over m->order, from step m->t + 1: the batch mean
   * losses into m->bloss, parameters and Adam state updated in m->slot. *ran = 0: not
   * on this plan (the generic step runs). */
  int (*epoch)(ab_dev *d, ab_models *m, int nbatches, int *ran, ab_err *e);
  /* A whole split: the loss sum and correct count of every model, or (prob set) the
   * class-1 probabilities into m->prob [K][n]. *ran = 0: the generic pass runs. */
  int (*eval_split)(ab_dev *d, ab_models *m, int split, double *loss_sum, int64_t *correct,
                    int prob, int *ran, ab_err *e);
  /* How the current models train, in words ("fused-epoch: ...", "per-op: ..."). */
  const char *(*path)(const ab_dev *d);
  /* Training paths the plan left to a measurement on the real shapes (0 or NULL: none).
   * init_models' warm-up then runs each candidate i after path_use(d, i, NULL, e): one
   * untimed batch, then epochs of 1 and of 3 batches, whose seconds go to sec[2i] and
   * sec[2i + 1]; path_use(d, -1, sec, e) chooses from them. */
  int (*paths)(const ab_dev *d);
  /* Models with active[k] == 0 have stopped: a device may leave them out of its epochs
   * from now on (their state then stays as it is and their batch losses read 0). All
   * models are active after plan. NULL: every model keeps training. */
  int (*mask)(ab_dev *d, const uint8_t *active, int K, ab_err *e);
  int (*path_use)(ab_dev *d, int i, const double *sec, ab_err *e);

  /* Frees the device and everything its plan made. */
  void (*destroy)(ab_dev *d);
} ab_ops;

/* The tables (src/ref/dev_ref.c, src/cpu/dev_cpu.c, src/cl/dev_cl.c). */
extern const ab_ops ab_ref_ops;
extern const ab_ops ab_cpu_ops;
extern const ab_ops ab_cl_ops;

/* The reference device (src/ref/). */
int ab_ref_dev_create(ab_dev **d, ab_err *e);

#endif
