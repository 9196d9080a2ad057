/* backend_cl.h - private to src/cl/: the OpenCL device behind the op table (dev_cl.c),
 * shared with its fused whole-pass overrides (fused.c) and the CLBlast GEMMs. */
#ifndef ABGPU_CL_BACKEND_CL_H
#define ABGPU_CL_BACKEND_CL_H
#include "abgpu/ops.h"
#include "cl/engine.h"

/* An ab_mem's OpenCL buffer. */
#define AB_CLM(m) ((cl_mem)(m)->h)

/* The fused path (fused.c, kernels/fused.cl): the plan for the current models and its
 * buffers. mode AB_CL_FUSED_OFF: the per-op path (the generic step) runs. */
typedef struct ab_cl_fplan {
  ab_cl_fused want;         /* asked for: auto, off, step, epoch */
  ab_cl_fused mode;         /* chosen by the plan: off (per-op), step, epoch */
  ab_cl_fused fused_mode;   /* AUTO: the fused mode that competes with per-op */
  int measure;              /* AUTO: 1 until the warm-up has timed both paths */
  int seg;                  /* batches per launch (epoch: all, unless the epoch is long) */
  size_t local_cap;         /* local memory the fused kernels may use (0: the device's) */
  size_t wg_want;           /* work-items per group asked for (0: the device's choice) */
  size_t launch_rows;       /* rows per launch at most (0: LAUNCH_MAX_ROWS of fused.c) */
  size_t wg;                /* work-items per group */
  int rt, ert;              /* rows per tile: training, evaluation */
  int pp, ss;               /* padded W+b floats, training scratch floats, per model */
  size_t lbytes, elbytes;   /* local memory per work-group: training, evaluation */
  int egroups, eslots;      /* evaluation work-groups per model; chunks of the largest split */
  size_t eval_max;          /* rows of the largest split one fused evaluation launch takes
                             * (AUTO: by estimated run time); longer ones run per-op */
  cl_mem meta, emeta;       /* the arch tables (int) for training and evaluation */
  cl_mem scratch, escratch; /* [K][ss], [K][egroups][pp] */
  cl_mem steps;             /* [maxbatches][2] Adam's c1, c2 per batch of the epoch */
  cl_mem part;              /* [K][eslots][2] evaluation loss sums and correct counts */
  cl_mem active;            /* [K] int: 0 for a model whose training stopped (masked) */
  float *hsteps;            /* host staging for steps */
  char why[1536];           /* the reason for mode, in words */
} ab_cl_fplan;

typedef struct ab_dev ab_cl_backend;
struct ab_dev {
  ab_cl_ctx *ctx;
  ab_cl_fplan f;
  ab_cl_gemm gemm;
  int verbose;
  ab_cl_log_fn log;         /* from the options; may be NULL */
  void *log_user;
  cl_mem iota;              /* 0, 1, ..., niota-1: rows in place as an index */
  size_t niota;
  cl_mem gather;            /* CLBlast: rows gathered for its GEMMs */
  size_t ngather;
  /* the models and data of the last plan (owned by src/train/backend.c) */
  ab_models *m;
  const ab_data *data;
  ab_arch a;
  int K, B, P, maxbatches;
  size_t n[3], maxn;
};

/* Writes n floats of zeros at the start of buf (fresh buffers are not zeroed). */
int ab_cl_zero(ab_cl_ctx *c, cl_mem buf, size_t n, ab_err *e);

/* The fused path (fused.c). plan: decides f.mode for cb's models and creates its
 * buffers (an error only when a forced mode cannot run); free: releases them. */
int ab_cl_fused_plan(ab_cl_backend *cb, ab_err *e);
void ab_cl_fused_free(ab_cl_fplan *f);
/* Batches [b0, b0+nb) of the uploaded order (per-model stride ostride); Adam's step
 * count runs from cb->m->t (advanced by the caller). */
int ab_cl_fused_train(ab_cl_backend *cb, int ostride, int b0, int nb, ab_err *e);
/* Writes c1, c2 for batches 0..nb-1 of the next epoch (steps cb->m->t + 1 ...). */
int ab_cl_fused_steps(ab_cl_backend *cb, int nb, ab_err *e);
/* Evaluation (part) or, predict != 0, class-1 probabilities (m->prob) of split id. */
int ab_cl_fused_eval(ab_cl_backend *cb, int id, int predict, ab_err *e);

/* The automatic choice (choice.c). start: after an AUTO plan that fits the fused path,
 * decides from the device's cache, else leaves both paths to be timed (paths: 2);
 * use: i >= 0 runs candidate i (0 per-op, 1 fused) next, i = -1 decides from sec (as
 * ops.h path_use) and caches the fit; returns 1 when it decided. */
void ab_cl_choice_start(ab_cl_backend *cb);
int ab_cl_choice_paths(const ab_cl_backend *cb);
int ab_cl_choice_use(ab_cl_backend *cb, int i, const double *sec);

/* CLBlast GEMMs (clblast.c); without CLBlast they return AB_EDEVICE. Y = act(X W + b)
 * with X [K][B][IN] dense; dX = dZ W^T; G's dW = X^T dZ (db: the own kernel). */
int ab_cl_blas_fwd(ab_cl_backend *cb, cl_mem Y, cl_mem X, cl_mem P, size_t woff, int K,
                   int B, int IN, int OUT, size_t pstride, ab_err *e);
int ab_cl_blas_dx(ab_cl_backend *cb, cl_mem dX, cl_mem dZ, cl_mem P, size_t woff, int K,
                  int B, int IN, int OUT, size_t pstride, ab_err *e);
int ab_cl_blas_dw(ab_cl_backend *cb, cl_mem G, size_t woff, cl_mem X, cl_mem dZ, int K, int B,
                  int IN, int OUT, size_t pstride, ab_err *e);

#endif
