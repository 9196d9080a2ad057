/* backend_cl.h - private to src/cl/: the OpenCL backend's state, shared by the vtable
 * (backend_cl.c), the buffers (bufs.c), the step sequences (step.c) and CLBlast. */
#ifndef ABGPU_CL_BACKEND_CL_H
#define ABGPU_CL_BACKEND_CL_H
#include "abgpu/backend.h"
#include "cl/engine.h"

/* Owns every device buffer of a backend; ab_cl_bufs_free releases them all. */
typedef struct ab_cl_bufs {
  /* data, from load_data */
  cl_mem x[3], y[3];        /* per split: network inputs [n][d], labels [n] */
  cl_mem iota;              /* 0, 1, ..., maxn-1: whole-split rows as an index */
  /* models, from init_models */
  cl_mem params, best, m, v, grad;  /* [K][P] */
  cl_mem lr, wd;            /* [K] */
  cl_mem act[AB_MAX_LAYERS + 1];    /* [K][R][dims[l]]; act[0] holds gathered inputs */
  cl_mem dA, dB;            /* [K][B][maxdim] gradient ping-pong */
  cl_mem loss;              /* [K][B] per-row training losses */
  cl_mem order;             /* [K][train n] the epoch's batch order */
  cl_mem bloss;             /* [K][maxbatches] per-batch mean losses */
  cl_mem ploss, pcorrect;   /* [K][maxslots] evaluation partials per row chunk */
  cl_mem prob;              /* [K][maxn] predictions */
} ab_cl_bufs;

/* The fused path (fused.c, kernels/fused.cl): the plan for the current models and its
 * buffers. mode AB_CL_FUSED_OFF: the per-op path runs. */
typedef struct ab_cl_fplan {
  ab_cl_fused want;         /* asked for: auto, off, step, epoch */
  ab_cl_fused mode;         /* chosen by init_models: off (per-op), step, epoch */
  int seg;                  /* batches per launch (epoch: all, unless the epoch is long) */
  size_t local_cap;         /* local memory the fused kernels may use (0: the device's) */
  size_t wg_want;           /* work-items per group asked for (0: the device's choice) */
  size_t launch_rows;       /* rows per launch at most (0: LAUNCH_MAX_ROWS of fused.c) */
  size_t wg;                /* work-items per group */
  int rt, ert;              /* rows per tile: training, evaluation */
  int pp, ss;               /* padded W+b floats, training scratch floats, per model */
  size_t lbytes, elbytes;   /* local memory per work-group: training, evaluation */
  int egroups, eslots;      /* evaluation work-groups per model; chunks of the largest split */
  cl_mem meta, emeta;       /* the arch tables (int) for training and evaluation */
  cl_mem scratch, escratch; /* [K][ss], [K][egroups][pp] */
  cl_mem steps;             /* [maxbatches][2] Adam's c1, c2 per batch of the epoch */
  cl_mem part;              /* [K][eslots][2] evaluation loss sums and correct counts */
  float *hsteps;            /* host staging for steps */
  char why[384];            /* the reason for mode, in words */
} ab_cl_fplan;

typedef struct ab_cl_backend {
  ab_cl_ctx *ctx;
  ab_cl_bufs b;
  ab_cl_fplan f;
  ab_cl_gemm gemm;
  int verbose;
  ab_cl_log_fn log;         /* from the options; may be NULL */
  void *log_user;
  int loaded;               /* load_data done */
  size_t n[3];              /* rows per split */
  size_t maxn;              /* largest split */
  ab_arch a;
  int K, B, R;              /* models, batch, rows per evaluation chunk (>= B) */
  int P;                    /* parameters per model */
  int maxbatches, maxslots;
  int64_t t;                /* Adam steps taken */
} ab_cl_backend;

int ab_cl_bufs_data(ab_cl_backend *cb, const ab_splits *s, ab_err *e);
int ab_cl_bufs_models(ab_cl_backend *cb, ab_err *e);
void ab_cl_bufs_free_models(ab_cl_bufs *b);
void ab_cl_bufs_free(ab_cl_bufs *b);
/* Writes n floats of zeros at the start of buf (fresh buffers are not zeroed). */
int ab_cl_zero(ab_cl_ctx *c, cl_mem buf, size_t n, ab_err *e);

/* One training step on batch b of the uploaded order (nb batches per model). */
int ab_cl_train_step(ab_cl_backend *cb, ab_cl_rows rows, int bslot, ab_err *e);
/* Forward pass of n rows given by rows; logits land in act[nlayers]. */
int ab_cl_forward(ab_cl_backend *cb, ab_cl_rows rows, int n, ab_err *e);

/* The fused path (fused.c). plan: decides f.mode for the current models and creates its
 * buffers (an error only when a forced mode cannot run); free: releases them. */
int ab_cl_fused_plan(ab_cl_backend *cb, ab_err *e);
void ab_cl_fused_free(ab_cl_fplan *f);
/* Batches [b0, b0+nb) of the uploaded order (per-model stride ostride) from split x, y;
 * Adam's step count runs from cb->t (advanced by the caller). */
int ab_cl_fused_train(ab_cl_backend *cb, cl_mem order, int ostride, int b0, int nb,
                      ab_err *e);
/* Writes c1, c2 for batches 0..nb-1 of the next epoch (steps cb->t + 1 ...). */
int ab_cl_fused_steps(ab_cl_backend *cb, int nb, ab_err *e);
/* Evaluation (part) or, predict != 0, class-1 probabilities (b.prob) of split id. */
int ab_cl_fused_eval(ab_cl_backend *cb, int id, int predict, ab_err *e);

/* CLBlast GEMMs (clblast.c); without CLBlast they return AB_EDEVICE. */
int ab_cl_blas_forward(ab_cl_backend *cb, ab_cl_rows rows, int n, ab_err *e);
int ab_cl_blas_backward(ab_cl_backend *cb, ab_cl_rows rows, ab_err *e);

#endif
