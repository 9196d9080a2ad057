/* train.h - the backend-neutral training loop with early stopping (its configuration
 * and result types: config.h). */
#ifndef ABGPU_TRAIN_H
#define ABGPU_TRAIN_H
#include <stdint.h>
#include "abgpu/backend.h"
#include "abgpu/config.h"

/* Called after every epoch; return non-zero to stop (e.g. on a signal). */
typedef int (*ab_epoch_cb)(const ab_epoch_stats *s, void *user);

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

/* abgpu train's default recipe, chosen by measurement on validation figures
 * (docs/manual.md, "Choosing the default"): the notebook's network and optimiser
 * (ab_train_cfg_default) with patience 20 (best epoch kept), the inputs log1p, ple:32
 * and te, and no balancing (every customer kept); prep's other defaults. --seed-compat
 * uses the notebook's instead. */
#define AB_RECIPE_PATIENCE 20
#define AB_RECIPE_TRANSFORM (AB_TRANSFORM_LOG1P | AB_TRANSFORM_PLE(32) | AB_TRANSFORM_TE)
#define AB_RECIPE_BALANCE AB_BALANCE_NONE
void ab_recipe_default(ab_train_cfg *c, ab_prep_opts *p);

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

/* Reads the note stored in a checkpoint (into buf, NUL-terminated). */
int ab_ckpt_read_note(const char *path, char *buf, size_t n, ab_err *e);

/* CRC32 over the three splits' network inputs and labels: identifies the prepared data. */
uint32_t ab_splits_hash(const ab_splits *s);

#endif
