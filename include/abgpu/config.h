/* config.h - what a training run is given and what it gives back, as plain data:
 * the configuration, the per-epoch figures and the result. No backend and no loop here,
 * so that the model layer (model.h) can record a run without depending on train.h. */
#ifndef ABGPU_CONFIG_H
#define ABGPU_CONFIG_H
#include <stdint.h>
#include "abgpu/arch.h"

/* Batch order: a fresh permutation of the training rows every epoch, or the training
 * split walked in its (shuffled) order every epoch, as the notebook's reader does. */
typedef enum { AB_ORDER_SHUFFLE = 0, AB_ORDER_FIXED = 1 } ab_order;
/* When a model stops: after `patience` epochs without a validation loss below the best
 * so far, or (the notebook) at the first epoch whose loss is above the previous one's. */
typedef enum { AB_STOP_BEST = 0, AB_STOP_RISE = 1 } ab_stop;
/* Learning-rate schedule, per epoch: constant; halved after AB_PLATEAU_WAIT epochs
 * without a better validation loss (at most AB_PLATEAU_CUTS times); or cosine from lr
 * at epoch 1 down to 0 at the epoch limit. */
typedef enum { AB_SCHED_NONE = 0, AB_SCHED_PLATEAU = 1, AB_SCHED_COSINE = 2 } ab_sched;
#define AB_PLATEAU_WAIT 3
#define AB_PLATEAU_CUTS 6
int ab_order_parse(ab_order *out, const char *s);
const char *ab_order_name(ab_order o);
int ab_stop_parse(ab_stop *out, const char *s);
const char *ab_stop_name(ab_stop s);
int ab_sched_parse(ab_sched *out, const char *s);
const char *ab_sched_name(ab_sched s);

typedef struct ab_train_cfg {
  ab_arch arch;
  int batch;            /* 100; the last partial batch is dropped */
  int epochs;           /* up to 100 */
  int patience;         /* 0: stop at the first epoch whose val loss does not improve */
  float lr;             /* 0.001 (Adam beta 0.9/0.999, eps 1e-8, fixed: consts.h) */
  float wd;             /* 0 */
  uint64_t seed;        /* initialisation and batch order */
  int keep_last;        /* 1: keep the final weights (the notebook), 0: the best epoch */
  ab_order order;       /* batch order */
  ab_stop stop;         /* stopping rule */
  ab_sched sched;       /* learning-rate schedule */
  int min_epochs;       /* no early stop before this many epochs (0: none) */
  float dropout;        /* inverted dropout on the hidden layers' outputs in training,
                         * 0 <= p < 1 (0: none); never at evaluation or prediction */
} ab_train_cfg;

/* The notebook's configuration: 10-100-100-2 relu,sigmoid, batch 100, 100 epochs, ... */
ab_train_cfg ab_train_cfg_default(void);

typedef struct ab_epoch_stats {
  int epoch;            /* 1-based */
  double train_loss;    /* mean of the epoch's batch losses */
  double val_loss, val_acc;
  double ms;            /* wall time of the epoch's training steps and evaluation */
} ab_epoch_stats;

typedef struct ab_train_result {
  int epochs;           /* epochs run */
  int best_epoch;       /* epoch whose weights were kept */
  double test_loss, test_acc, val_loss, val_acc, train_loss;
  double ms_per_epoch;  /* mean over epochs */
  ab_epoch_stats *hist; /* [epochs] */
  float *params;        /* [P] the kept weights */
} ab_train_result;

void ab_train_result_free(ab_train_result *r);

#endif
