/* backend.h - the seam between the training loop and where it runs.
 *
 * The loop never knows the device. A backend is an op table (ops.h) and a device; the
 * code here (src/train/backend.c) keeps the uploaded splits and K models' state on that
 * device as named slots, and runs whole epochs and evaluation passes: through a device's
 * whole-pass override where it has one, else through the one generic batch step
 * (src/train/step.c) and evaluation pass (src/train/pass.c) over the ops. Only a few
 * scalars cross back per epoch. Devices: the reference (src/ref/, plain C), the fast
 * CPU path (src/cpu/) and OpenCL (src/cl/ + kernels/). */
#ifndef ABGPU_BACKEND_H
#define ABGPU_BACKEND_H
#include <stdint.h>
#include "abgpu/arch.h"
#include "abgpu/ops.h"
#include "abgpu/prep.h"

typedef enum { AB_SPLIT_TRAIN = 0, AB_SPLIT_VAL = 1, AB_SPLIT_TEST = 2 } ab_split_id;

/* Per-model optimiser settings. */
typedef struct ab_hyper {
  float lr, wd;            /* learning rate, AdamW decoupled weight decay (0 = Adam) */
} ab_hyper;

typedef struct ab_backend {
  const ab_ops *ops;
  ab_dev *dev;
  char name[128];          /* "cpu-ref", "cpu (avx2, 2 threads)", "opencl:0 NAME" */
  int loaded;              /* load_data done */
  ab_data data;
  ab_models m;             /* m.K == 0: no models yet */
  int pending;             /* batches of the epoch started and not yet finished */
} ab_backend;

/* A backend over a device of `ops` (takes dev: ab_backend_free destroys it). */
int ab_backend_open(ab_backend **be, const ab_ops *ops, ab_dev *dev, const char *name,
                    ab_err *e);
/* The reference backend (src/ref/). The CPU and OpenCL ones: cpu.h, cl.h. */
int ab_backend_ref_create(ab_backend **be, ab_err *e);
void ab_backend_free(ab_backend *be);

/* Uploads the three splits once. A host device (ref, cpu) reads s->*.in and s->*.y in
 * place: the caller keeps them alive until the backend is freed or loads other data;
 * OpenCL copies them. Models set up before are dropped. */
int ab_backend_load_data(ab_backend *be, const ab_splits *s, ab_err *e);
/* Sets up K models of arch with initial params [K][P] (into the params and best slots)
 * and hyper [K]; Adam state zero, step count 0. */
int ab_backend_init_models(ab_backend *be, const ab_arch *a, int K, int batch,
                           const float *params, const ab_hyper *hyper, ab_err *e);
/* Replaces the K models' optimiser settings (a learning-rate schedule); the slots and
 * the step count are kept. */
int ab_backend_set_hyper(ab_backend *be, const ab_hyper *hyper, ab_err *e);
/* Model k trains with dropout rate p[k] (0 <= p < 1; 0: none) on its hidden layers'
 * outputs, masks drawn from seed[k] (ref.h: ab_ref_dropout); until init_models sets
 * up other models. While any rate is > 0, epochs run the generic step: the devices'
 * whole-epoch overrides do not apply dropout. Evaluation never does. */
int ab_backend_set_dropout(ab_backend *be, const float *p, const uint64_t *seed, ab_err *e);
/* Runs nbatches steps; order [K][nbatches*batch] indexes train rows (checked).
 * loss_sum[k] = sum of the per-batch mean losses (before each step's update). */
int ab_backend_train_epoch(ab_backend *be, const int32_t *order, int nbatches,
                           double *loss_sum, ab_err *e);
/* Tells the device which models still train (active[k] != 0); it may leave the others
 * out of its launches (docs/opencl.md): their parameters, Adam state and batch losses
 * are then not updated. Every model trains again after init_models. */
int ab_backend_set_active(ab_backend *be, const uint8_t *active, ab_err *e);
/* train_epoch in two halves, for a host with other work meanwhile: start checks the
 * order, sends it without waiting (the caller keeps it unchanged until finish) and
 * queues the steps; finish waits for them and reads loss_sum back. */
int ab_backend_train_start(ab_backend *be, const int32_t *order, int nbatches, ab_err *e);
int ab_backend_train_finish(ab_backend *be, double *loss_sum, ab_err *e);
/* Loss sum and correct count of every model over a whole split, with the params slot. */
int ab_backend_evaluate(ab_backend *be, ab_split_id split, double *loss_sum,
                        int64_t *correct, ab_err *e);
/* Probability of class 1 for every row of a split: prob [K][n]. */
int ab_backend_predict(ab_backend *be, ab_split_id split, float *prob, ab_err *e);

/* The state slots. copy: dst = src for the models with keep[k] != 0 (keep NULL: all);
 * read/write: the whole slot, [K][P] floats of host memory. */
int ab_backend_slot_copy(ab_backend *be, ab_slot dst, ab_slot src, const uint8_t *keep,
                         ab_err *e);
int ab_backend_slot_read(ab_backend *be, ab_slot s, float *host, ab_err *e);
int ab_backend_slot_write(ab_backend *be, ab_slot s, const float *host, ab_err *e);
/* Adam steps taken (the step count of the next step's bias correction is this + 1). */
int64_t ab_backend_steps(const ab_backend *be);
void ab_backend_set_steps(ab_backend *be, int64_t t);

/* How the current models train, in words: "reference: ...", "threaded-epoch: ...",
 * "per-op: ...", "fused-step: ...", "fused-epoch: ...". */
const char *ab_backend_path(const ab_backend *be);

/* The forward slot: class-1 probabilities of n host rows x [n][a->dims[0]] through one
 * network (params [P] in arch.h's layout), on this backend, independent of its training
 * models; see predictor.h for whole models. */
int ab_backend_forward(ab_backend *be, const ab_arch *a, const float *params, const float *x,
                       size_t n, float *prob, ab_err *e);

#endif
