/* sweep.h - hyperparameter sweeps (docs/sweep.md): the search space and its
 * configurations (every combination, or a seeded random sample), launch groups of
 * configurations that train together in one ab_train_many call, the leaderboard file
 * (read, write, merge, rank), and the training of one launch, honest by construction:
 * a launch never sees the test split.
 *
 * A sweep is identified by its data (hash), split percentages, split seed and folds
 * (ab_sweep_id): every configuration is trained and ranked on the same splits. A
 * configuration's own seed drives only its initialisation and batch order. */
#ifndef ABGPU_SWEEP_H
#define ABGPU_SWEEP_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "abgpu/backend.h"
#include "abgpu/model.h"
#include "abgpu/prep.h"
#include "abgpu/table.h"
#include "abgpu/train.h"

#define AB_SPACE_MAX_VALUES 256     /* values of one dimension */
#define AB_SPACE_VALUE_LEN 64       /* characters of one value, terminator included */
#define AB_SWEEP_MAX_CONFIGS 1000000 /* configurations one sweep may expand to */
#define AB_SWEEP_KEY_LEN 400        /* ab_sweep_key() output, terminator included */

/* The dimensions, in the order of a configuration's key and of the grid (the last one
 * varies fastest). */
typedef enum {
  AB_DIM_HIDDEN = 0, AB_DIM_ACT, AB_DIM_LR, AB_DIM_BATCH, AB_DIM_WD, AB_DIM_EPOCHS,
  AB_DIM_PATIENCE, AB_DIM_TRANSFORM, AB_DIM_BALANCE, AB_DIM_ORDER, AB_DIM_SCHED,
  AB_DIM_MIN_EPOCHS, AB_DIM_DROPOUT, AB_DIM_SEED, AB_NDIM
} ab_dim;
const char *ab_dim_name(ab_dim d);

/* ---- the search space (sweep.c) ---- */

/* Values per dimension, each stored in canonical form ("1e-3" becomes "0.001", "016"
 * becomes "16", "-0" becomes "0"), so that one configuration has one key. A value that is
 * the same as an earlier one of its dimension is dropped and said so in `note`. A
 * dimension with no values takes train's default. */
typedef struct ab_space {
  int nval[AB_NDIM];
  char (*val[AB_NDIM])[AB_SPACE_VALUE_LEN]; /* [nval[d]] */
  char note[512];  /* "" or "FILE:LINE: lr: '1e-1' is 0.1 again, dropped; ..." */
} ab_space;

void ab_space_init(ab_space *sp);
void ab_space_free(ab_space *sp);
/* Parses a space file's text: one `name = values` per line, values separated by
 * whitespace (and, for the dimensions whose values hold no comma, by commas), `#` starts
 * a comment. A dimension given twice is an error. Errors: AB_EINPUT "NAME:LINE: ...". */
int ab_space_parse(ab_space *sp, const char *text, size_t n, const char *name, ab_err *e);
/* Reads and parses a space file. */
int ab_space_load(ab_space *sp, const char *path, ab_err *e);
/* One `name=values` from the command line (--set); replaces that dimension. */
int ab_space_set(ab_space *sp, const char *assignment, ab_err *e);
/* Configurations in the grid (UINT64_MAX when that overflows): every combination of
 * values, less those whose act does not fit their hidden layers (act relu,sigmoid with
 * three hidden layers, say), which are left out. 0 when none fits. */
uint64_t ab_space_size(const ab_space *sp);

/* ---- configurations (sweep.c) ---- */

typedef struct ab_sweep_cfg {
  char hidden[AB_SPACE_VALUE_LEN], act[AB_SPACE_VALUE_LEN]; /* "100,100", "relu,sigmoid" */
  float lr, wd;
  int batch, epochs, patience;
  ab_transform transform;
  ab_balance balance;
  ab_order order;
  ab_sched sched;
  int min_epochs;
  float dropout;
  uint64_t seed;
} ab_sweep_cfg;

/* Train's defaults (ab_recipe_default: hidden 100,100, act relu,sigmoid, lr 0.001, batch
 * 100, wd 0, epochs 100, patience 20, transform log1p,ple:32,te, balance none, batch
 * order shuffle, no schedule, min epochs 0, dropout 0, seed 1). */
ab_sweep_cfg ab_sweep_cfg_default(void);
/* Every configuration of the grid (random_n == 0), or random_n distinct ones drawn with
 * the seeded generator (all of them when random_n >= the grid), in grid order. A hidden
 * and act that never fit each other are an error (AB_EUSAGE, the first misfit's
 * message). *out: malloc'd [*n]. */
int ab_space_expand(ab_sweep_cfg **out, size_t *n, const ab_space *sp, size_t random_n,
                    uint64_t seed, ab_err *e);
/* "hidden=100,100 act=relu lr=0.001 batch=100 wd=0 epochs=100 patience=10
 * transform=log1p balance=first batch_order=shuffle lr_schedule=none min_epochs=0 dropout=0 seed=1":
 * identifies a configuration. */
void ab_sweep_key(const ab_sweep_cfg *c, char *buf, size_t n);
/* train's flags for c, without --seed: "--hidden 100,100 --act relu ...". */
void ab_sweep_flags(const ab_sweep_cfg *c, char *buf, size_t n);
/* The training configuration of c (layers parsed, keep_last 0). */
int ab_sweep_train_cfg(ab_train_cfg *out, const ab_sweep_cfg *c, ab_err *e);
/* 1 when a and b train on the same prepared data (transform and balance). */
int ab_sweep_same_data(const ab_sweep_cfg *a, const ab_sweep_cfg *b);
/* 1 when a and b can train in one launch (same data, layers, activations and batch). */
int ab_sweep_same_launch(const ab_sweep_cfg *a, const ab_sweep_cfg *b);

/* ---- launches (sweep.c) ---- */

/* Configurations cfg[order[first .. first+n-1]] train together. */
typedef struct ab_launch {
  size_t first, n;
} ab_launch;

/* Groups n configurations into launches of at most `parallel` compatible ones: grouped
 * by data, then by shape, in order of first appearance; within a group sorted by epochs
 * and patience (models of one launch run until the longest stops), then cut into
 * near-equal launches. order: [n], *launches: malloc'd [*nl]. */
int ab_sweep_group(size_t *order, ab_launch **launches, size_t *nl, const ab_sweep_cfg *cfg,
                   size_t n, int parallel, ab_err *e);

/* ---- the work queue (sweep_queue.c) ---- */

/* A launch's estimated work, for ordering only: models x the longest epochs x
 * parameters per model (early stopping and the data's size are not known before). */
double ab_sweep_launch_cost(const ab_sweep_cfg *c, size_t n);
/* Reorders launches l[0..nl-1] (as ab_sweep_group made them over cfg and order) largest
 * first by ab_sweep_launch_cost; equal costs keep their order. */
void ab_sweep_order_largest_first(ab_launch *l, size_t nl, const size_t *order,
                                  const ab_sweep_cfg *cfg);

/* ---- the leaderboard (sweep_lb.c) ---- */

/* What every row of one sweep shares: it was trained and ranked on these splits. */
typedef struct ab_sweep_id {
  uint64_t data_hash;  /* ab_model_data_hash of the table */
  int split[3];
  uint64_t seed;       /* the split seed (the sweep's --seed) */
  int folds;           /* 0: one validation split; k: k-fold cross-validation */
} ab_sweep_id;

typedef enum { AB_RANK_LOSS = 0, AB_RANK_ACC = 1, AB_RANK_AUC = 2 } ab_rank_by;
int ab_rank_by_parse(ab_rank_by *out, const char *s);  /* "loss", "acc", "auc" */
const char *ab_rank_by_name(ab_rank_by r);

typedef enum { AB_ROW_OK = 0, AB_ROW_DIVERGED = 1 } ab_row_status;

/* One configuration's validation figures: over the one validation split, or mean and
 * sample sd over the folds (sd 0 without folds). */
typedef struct ab_lb_row {
  ab_sweep_cfg cfg;
  ab_row_status status;
  double val_loss, val_loss_sd, val_acc, val_acc_sd, val_auc, val_auc_sd;
  double epochs_run, best_epoch;   /* means over folds */
  ab_sweep_id id;
  int launch_models;               /* models in the launch it trained in */
  double seconds;                  /* that launch's wall time (all folds) */
  char device[128];              /* the backend's name */
} ab_lb_row;

typedef struct ab_leaderboard {
  size_t n, cap;
  ab_lb_row *row;
  size_t *index, icap;  /* hash of the rows' keys (row + 1, 0 = empty slot) */
} ab_leaderboard;

void ab_lb_init(ab_leaderboard *lb);
void ab_lb_free(ab_leaderboard *lb);
/* Appends a copy of r, its figures rounded as the CSV stores them (so a leaderboard
 * ranks the same in memory and after a round trip). */
int ab_lb_add(ab_leaderboard *lb, const ab_lb_row *r, ab_err *e);
/* Index of the row with c's key, or -1. */
long ab_lb_find(const ab_leaderboard *lb, const ab_sweep_cfg *c);
/* Sorts best first: finished rows by the metric (ties: lower loss, then the key), then
 * diverged rows by key. */
void ab_lb_sort(ab_leaderboard *lb, ab_rank_by by);
/* The CSV file (header line, one row per configuration, docs/sweep.md), atomic. */
int ab_lb_write_csv(const ab_leaderboard *lb, const char *path, ab_err *e);
int ab_lb_write_csv_stream(const ab_leaderboard *lb, FILE *f);
/* Appends the rows of a leaderboard CSV file to lb. Errors: AB_EINPUT "FILE:LINE: ...". */
int ab_lb_read_csv(ab_leaderboard *lb, const char *path, ab_err *e);
int ab_lb_parse_csv(ab_leaderboard *lb, const char *text, size_t n, const char *name,
                    ab_err *e);
/* Appends src's rows to dst: a configuration already in dst is kept as it is (counted in
 * *dups, may be NULL); rows of another sweep (ab_sweep_id) are an error naming `what`. */
int ab_lb_merge(ab_leaderboard *dst, const ab_leaderboard *src, const char *what,
                size_t *dups, ab_err *e);
/* The rows as a JSON array. */
void ab_lb_write_json_rows(const ab_leaderboard *lb, FILE *f);
/* A configuration as a JSON object. */
void ab_sweep_json_cfg(FILE *f, const ab_sweep_cfg *c);
/* 1 when a and b are the same sweep's rows. */
int ab_sweep_id_eq(const ab_sweep_id *a, const ab_sweep_id *b);

/* Mean and sample standard deviation (n - 1; 0 when n < 2). */
void ab_mean_sd(const double *x, int n, double *mean, double *sd);

/* ---- training (sweep_run.c) ---- */

/* What launches need: the backend, the table, the sweep, and the data loaded now. */
typedef struct ab_sweep_ctx {
  ab_backend *be;
  const ab_table *t;
  ab_sweep_id id;
  ab_many_cb cb;       /* called after every epoch of every launch (may be NULL) */
  void *user;
  int loaded;          /* 1: s holds (and the backend has) the data below */
  ab_transform transform;
  ab_balance balance;
  int fold;            /* -1: the standard split, else that fold */
  int with_test;       /* 1: the backend has the test split, 0: validation in its place */
  ab_splits s;         /* the prepared splits */
  ab_splits view;      /* what the backend was given (it keeps the pointer) */
} ab_sweep_ctx;

void ab_sweep_ctx_init(ab_sweep_ctx *x, ab_backend *be, const ab_table *t, const ab_sweep_id *id);
void ab_sweep_ctx_free(ab_sweep_ctx *x);
/* The prep options of configuration c in this sweep (split seed id.seed), fold f (-1:
 * no folds). */
ab_prep_opts ab_sweep_prep_opts(const ab_sweep_ctx *x, const ab_sweep_cfg *c, int f);

/* Trains K configurations that share a launch (ab_sweep_same_launch) on the validation
 * split, or on every fold, and fills rows[K] (figures, status, id; launch_models and
 * seconds; not device). The backend is given the validation split in place of the test
 * split, so no launch ever sees test rows. A model whose loss becomes NaN or Inf is
 * marked diverged and the others are trained again without it. */
int ab_sweep_launch(ab_sweep_ctx *x, ab_lb_row *rows, const ab_sweep_cfg *c, int K, ab_err *e);

/* Trains c on the standard split (no folds) and makes the model: record, network,
 * validation and test metrics (m->val, m->test). data: the --data text recorded. */
int ab_sweep_fit(ab_sweep_ctx *x, ab_model *m, const ab_sweep_cfg *c, const char *data,
                 ab_err *e);
/* Makes ens an ensemble of the n models (same data, so the same transform and scaler:
 * ab_sweep_same_data), the first one's record, and measures it on the standard split's
 * validation and test rows. */
int ab_sweep_ensemble(ab_sweep_ctx *x, ab_model *ens, const ab_model *members, int n, ab_err *e);

#endif
