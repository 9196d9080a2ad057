/* backend.h - the seam between the training loop and where it runs.
 *
 * The loop never knows the device. A backend holds the uploaded splits, K models'
 * parameters and Adam state, and runs whole epochs of batches; only a few scalars
 * cross back per epoch. Implementations: the reference (src/ref/, plain C), the fast
 * CPU path (src/cpu/) and OpenCL (src/cl/ + kernels/). */
#ifndef ABGPU_BACKEND_H
#define ABGPU_BACKEND_H
#include <stdint.h>
#include "abgpu/arch.h"
#include "abgpu/prep.h"

typedef enum { AB_SPLIT_TRAIN = 0, AB_SPLIT_VAL = 1, AB_SPLIT_TEST = 2 } ab_split_id;

/* Per-model optimiser settings. */
typedef struct ab_hyper {
  float lr, wd;            /* learning rate, AdamW decoupled weight decay (0 = Adam) */
} ab_hyper;

typedef struct ab_backend ab_backend;

typedef struct ab_backend_vt {
  /* Uploads the three splits once. */
  int (*load_data)(ab_backend *be, const ab_splits *s, ab_err *e);
  /* Sets up K models of arch with initial params [K][P] and hyper [K]; Adam state zero. */
  int (*init_models)(ab_backend *be, const ab_arch *a, int K, int batch,
                     const float *params, const ab_hyper *hyper, ab_err *e);
  /* Replaces the K models' optimiser settings (a learning-rate schedule); Adam state
   * and weights are kept. */
  int (*set_hyper)(ab_backend *be, const ab_hyper *hyper, ab_err *e);
  /* Runs nbatches steps; order [K][nbatches*batch] indexes train rows.
   * loss_sum[k] = sum of the per-batch mean losses (before each step's update). */
  int (*train_epoch)(ab_backend *be, const int32_t *order, int nbatches,
                     double *loss_sum, ab_err *e);
  /* Loss sum and correct count of every model over a whole split. */
  int (*evaluate)(ab_backend *be, ab_split_id split, double *loss_sum, int64_t *correct,
                  ab_err *e);
  /* Probability of class 1 for every row of a split: prob [K][n]. */
  int (*predict)(ab_backend *be, ab_split_id split, float *prob, ab_err *e);
  /* Copies current parameters of models with keep[k] != 0 to the "best" slot. */
  int (*snapshot)(ab_backend *be, const uint8_t *keep, ab_err *e);
  /* Makes the "best" slot current (for final evaluation). */
  int (*restore)(ab_backend *be, ab_err *e);
  /* Reads [K][P] params, and optionally Adam m, v (NULL to skip), and step count. */
  int (*get_state)(ab_backend *be, float *params, float *m, float *v, int64_t *t, ab_err *e);
  /* Writes the full optimiser state (for resume). */
  int (*set_state)(ab_backend *be, const float *params, const float *m, const float *v,
                   int64_t t, ab_err *e);
  void (*destroy)(ab_backend *be);
} ab_backend_vt;

struct ab_backend {
  const ab_backend_vt *vt;
  char name[128];   /* "cpu-ref", "cpu", "opencl:0 (pocl cpu ...)" */
  void *impl;
};

/* The reference backend (src/ref/). */
int ab_backend_ref_create(ab_backend **be, ab_err *e);
void ab_backend_free(ab_backend *be);

#endif
