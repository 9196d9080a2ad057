/* train.h - the backend-neutral training loop with early stopping. */
#ifndef ABGPU_TRAIN_H
#define ABGPU_TRAIN_H
#include <stdint.h>
#include "abgpu/backend.h"

typedef struct ab_train_cfg {
  ab_arch arch;
  int batch;            /* 100; the last partial batch is dropped */
  int epochs;           /* up to 100 */
  int patience;         /* 0: stop at the first epoch whose val loss does not improve */
  float lr;             /* 0.001 (Adam beta 0.9/0.999, eps 1e-8, fixed) */
  float wd;             /* 0 */
  uint64_t seed;        /* initialisation and batch order */
  int keep_last;        /* 1: keep the final weights (the notebook), 0: the best epoch */
} ab_train_cfg;

ab_train_cfg ab_train_cfg_default(void);

typedef struct ab_epoch_stats {
  int epoch;            /* 1-based */
  double train_loss;    /* mean of the epoch's batch losses */
  double val_loss, val_acc;
  double ms;            /* wall time of the epoch's training steps and evaluation */
} ab_epoch_stats;

/* Called after every epoch; return non-zero to stop (e.g. on a signal). */
typedef int (*ab_epoch_cb)(const ab_epoch_stats *s, void *user);

typedef struct ab_train_result {
  int epochs;           /* epochs run */
  int best_epoch;       /* epoch whose weights were kept */
  double test_loss, test_acc, val_loss, val_acc, train_loss;
  double ms_per_epoch;  /* mean over epochs */
  ab_epoch_stats *hist; /* [epochs] */
  float *params;        /* [P] the kept weights */
} ab_train_result;

/* Xavier-uniform weights, zero biases, for one model. */
void ab_init_params(float *params, const ab_arch *a, uint64_t seed);

/* Trains one model (K = 1) on be, which must have the splits loaded. */
int ab_train(ab_train_result *r, ab_backend *be, const ab_train_cfg *cfg, const ab_splits *s,
             ab_epoch_cb cb, void *user, ab_err *e);
void ab_train_result_free(ab_train_result *r);

#endif
