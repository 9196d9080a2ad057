/* prep.h - balance, shuffle, split, standardise. */
#ifndef ABGPU_PREP_H
#define ABGPU_PREP_H
#include "abgpu/table.h"

typedef enum { AB_BALANCE_RANDOM, AB_BALANCE_FIRST, AB_BALANCE_NONE } ab_balance;
int ab_balance_parse(ab_balance *out, const char *s);
const char *ab_balance_name(ab_balance b);

/* An input transform applied to the raw features (after missing-value filling, before
 * the scaler is fitted or applied). log1p: x -> sign(x) * log(1 + |x|) on the skewed
 * features (minutes, prices, minutes listened, support requests, days; not the review,
 * review score or completion), which is log(1 + x) for the non-negative values the
 * export holds. */
typedef enum { AB_TRANSFORM_NONE = 0, AB_TRANSFORM_LOG1P = 1 } ab_transform;
int ab_transform_parse(ab_transform *out, const char *s);
const char *ab_transform_name(ab_transform t);
/* 1 when transform t changes feature j (0..AB_NFEAT-1). */
int ab_transform_applies(ab_transform t, int j);
/* Transforms n raw rows in place. x: [n][AB_NFEAT]. */
void ab_transform_rows(float *x, size_t n, ab_transform t);

typedef struct ab_prep_opts {
  ab_balance balance;  /* default random */
  uint64_t seed;       /* seeds balancing and shuffling */
  int split[3];        /* percentages train,val,test; default 80,10,10 */
  int compat;          /* 1: the notebook's recipe: balance first, scale on all rows */
  ab_transform transform; /* default none */
  /* k-fold cross-validation (folds >= 2): the train and validation rows form one pool,
   * dealt into `folds` stratified folds (each class spread evenly, seeded by seed); the
   * validation split is fold `fold` (0-based), the training split the other folds, the
   * scaler is fitted on those, and the test split is the same as without folds. */
  int folds, fold;
} ab_prep_opts;

ab_prep_opts ab_prep_opts_default(void);
/* Parses "80,10,10" (three non-negative integers summing to 100, train > 0). */
int ab_split_parse(int out[3], const char *s);

/* One split: standardised float32 features and int32 labels. */
typedef struct ab_split {
  size_t n;
  int64_t *id;  /* [n] */
  float *x;     /* [n][AB_NFEAT] standardised */
  int32_t *y;   /* [n] 0/1 */
} ab_split;

typedef struct ab_splits {
  ab_split train, val, test;
  float mean[AB_NFEAT], std[AB_NFEAT]; /* scaler: x' = (x - mean) / std */
  size_t n_total, n_pos_total;         /* before balancing */
  size_t n_balanced;
} ab_splits;

/* Builds the three splits from t (t must have targets). Fails with AB_EUSAGE when
 * o->folds or o->fold is out of range. */
int ab_prep(ab_splits *s, const ab_table *t, const ab_prep_opts *o, ab_err *e);
void ab_splits_free(ab_splits *s);

/* Standardises n rows in place with the given scaler. */
void ab_scale_rows(float *x, size_t n, const float *mean, const float *std);

/* Writes the splits as the notebook's .npz files in dir:
 * Audiobooks_data_{train,validation,test}.npz with arrays inputs (float64 [n,10])
 * and targets (int64 [n]). */
int ab_prep_write_npz(const ab_splits *s, const char *dir, ab_err *e);

#endif
