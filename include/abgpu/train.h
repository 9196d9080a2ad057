/* train.h - the backend-neutral training loop with early stopping. */
#ifndef ABGPU_TRAIN_H
#define ABGPU_TRAIN_H
#include <stdint.h>
#include "abgpu/backend.h"

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
  float lr;             /* 0.001 (Adam beta 0.9/0.999, eps 1e-8, fixed) */
  float wd;             /* 0 */
  uint64_t seed;        /* initialisation and batch order */
  int keep_last;        /* 1: keep the final weights (the notebook), 0: the best epoch */
  ab_order order;       /* batch order */
  ab_stop stop;         /* stopping rule */
  ab_sched sched;       /* learning-rate schedule */
  int min_epochs;       /* no early stop before this many epochs (0: none) */
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

/* Called after every epoch of a multi-model run with the K models' stats; active[k] is 0
 * once model k has stopped early. Return non-zero to stop (e.g. on a signal). */
typedef int (*ab_many_cb)(const ab_epoch_stats *st, const uint8_t *active, int K, void *user);

/* Checkpointing: the whole run's state (weights, Adam state, best weights, batch-order
 * RNG, epoch, early-stopping state, history) in one file written atomically. */
typedef struct ab_ckpt_opts {
  const char *path;     /* checkpoint file (NULL: none) */
  int every;            /* write after every N epochs (0: only when stopped by cb) */
  const char *resume;   /* continue the run saved in this file (NULL: fresh start) */
  const char *note;     /* free text stored with the checkpoint (the CLI's flags) */
} ab_ckpt_opts;

/* Xavier-uniform weights, zero biases, for one model. */
void ab_init_params(float *params, const ab_arch *a, uint64_t seed);

/* Trains one model (K = 1) on be, which must have the splits loaded. */
int ab_train(ab_train_result *r, ab_backend *be, const ab_train_cfg *cfg, const ab_splits *s,
             ab_epoch_cb cb, void *user, ab_err *e);

/* Trains K models together: cfg[k] share arch and batch; each has its own seed, lr, wd,
 * epochs, patience and keep_last. r[K] receive the results. ck may be NULL. When cb
 * stops the run, the results are not filled and AB_EINTR is returned (after writing a
 * checkpoint when ck->path is set). */
int ab_train_many(ab_train_result *r, ab_backend *be, const ab_train_cfg *cfg, int K,
                  const ab_splits *s, const ab_ckpt_opts *ck, ab_many_cb cb, void *user,
                  ab_err *e);
void ab_train_result_free(ab_train_result *r);

/* Reads the note stored in a checkpoint (into buf, NUL-terminated). */
int ab_ckpt_read_note(const char *path, char *buf, size_t n, ab_err *e);

/* CRC32 over the three splits' network inputs and labels: identifies the prepared data. */
uint32_t ab_splits_hash(const ab_splits *s);

#endif
