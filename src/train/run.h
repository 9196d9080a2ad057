/* run.h - the state of a training run that a checkpoint saves (private to src/train). */
#ifndef ABGPU_TRAIN_RUN_H
#define ABGPU_TRAIN_RUN_H
#include "abgpu/rng.h"
#include "abgpu/train.h"

/* Early stopping and batch order of one model. */
typedef struct ab_track {
  ab_rng rng;             /* batch order stream */
  double best_val;
  int best_epoch, bad_epochs, active;
  int last_epoch;         /* the last epoch it trained while active */
  int since_cut, cuts;    /* reduce-on-plateau: epochs since a better loss or a cut; cuts */
} ab_track;

typedef struct ab_run {
  int K, epoch, max_epochs; /* epochs completed; the largest cfg[k].epochs */
  size_t P;
  ab_track *track;          /* [K] */
  ab_epoch_stats *hist;     /* [K][max_epochs] */
  double total_ms;
} ab_run;

/* Writes run, cfg and the backend's full state to path atomically. */
int ab_ckpt_write(const char *path, const ab_run *run, const ab_train_cfg *cfg,
                  ab_backend *be, uint32_t data_hash, const char *note, ab_err *e);
/* Restores run (allocated by the caller for the same K and epochs) and the backend's
 * state; checks that cfg and the data match the checkpoint. */
int ab_ckpt_read(const char *path, ab_run *run, const ab_train_cfg *cfg, ab_backend *be,
                 uint32_t data_hash, ab_err *e);

#endif
