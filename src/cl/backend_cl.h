/* backend_cl.h - private to src/cl/: the OpenCL backend's state, shared by the vtable
 * (backend_cl.c), the buffers (bufs.c), the step sequences (step.c) and CLBlast. */
#ifndef ABGPU_CL_BACKEND_CL_H
#define ABGPU_CL_BACKEND_CL_H
#include "abgpu/backend.h"
#include "cl/engine.h"

/* Owns every device buffer of a backend; ab_cl_bufs_free releases them all. */
typedef struct ab_cl_bufs {
  /* data, from load_data */
  cl_mem x[3], y[3];        /* per split: features [n][AB_NFEAT], labels [n] */
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

typedef struct ab_cl_backend {
  ab_cl_ctx *ctx;
  ab_cl_bufs b;
  ab_cl_gemm gemm;
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

/* CLBlast GEMMs (clblast.c); without CLBlast they return AB_EDEVICE. */
int ab_cl_blas_forward(ab_cl_backend *cb, ab_cl_rows rows, int n, ab_err *e);
int ab_cl_blas_backward(ab_cl_backend *cb, ab_cl_rows rows, ab_err *e);

#endif
