/* prep.h - balance, shuffle, split, standardise. */
#ifndef ABGPU_PREP_H
#define ABGPU_PREP_H
#include "abgpu/encode.h"
#include "abgpu/table.h"

typedef enum { AB_BALANCE_RANDOM, AB_BALANCE_FIRST, AB_BALANCE_NONE } ab_balance;
int ab_balance_parse(ab_balance *out, const char *s);
const char *ab_balance_name(ab_balance b);

/* The input transforms, as one word: any of
 * - log1p (bit 0): x -> sign(x) * log(1 + |x|) on the skewed raw features (minutes,
 *   prices, minutes listened, support requests, days; not the review, review score or
 *   completion), which is log(1 + x) for the non-negative values the export holds;
 *   applied after missing-value filling, before the scaler is fitted or applied;
 * - te (bit 1): out-of-fold target encoding of the repeating columns (encode.h);
 * - ple:N (bits 8..15 = N): piecewise-linear encoding over N quantile bins (encode.h).
 * te and ple act on the standardised rows and are fitted on the training split. */
typedef uint32_t ab_transform;
#define AB_TRANSFORM_NONE 0u
#define AB_TRANSFORM_LOG1P 1u
#define AB_TRANSFORM_TE 2u
#define AB_TRANSFORM_PLE(n) ((uint32_t)(n) << 8)
#define AB_TRANSFORM_NAME_LEN 32
/* PLE bins of t (0: no PLE). */
int ab_transform_ple(ab_transform t);
/* 1 when t is a valid word (known bits, PLE bins 0 or 2..AB_PLE_MAX_BINS). */
int ab_transform_valid(ab_transform t);
/* "none" or a comma-separated list of log1p, ple:N, te (each at most once, any order). */
int ab_transform_parse(ab_transform *out, const char *s);
/* The canonical name ("none", "log1p", "log1p,ple:32,te": log1p, ple, te in that order)
 * into buf[AB_TRANSFORM_NAME_LEN]; returns buf. */
const char *ab_transform_name(ab_transform t, char *buf);
/* The name in a temporary buffer that lives until the end of the enclosing block. */
#define AB_TRANSFORM_STR(t) ab_transform_name((t), (char[AB_TRANSFORM_NAME_LEN]){0})
/* 1 when the log1p of transform t changes raw feature j (0..AB_NFEAT-1). */
int ab_transform_applies(ab_transform t, int j);
/* Applies the log1p of t to n raw rows in place. x: [n][AB_NFEAT]. */
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

/* One split: standardised float32 features, the network's inputs and int32 labels. */
typedef struct ab_split {
  size_t n;
  uint32_t *row; /* [n] the table row (0-based, file order) each came from */
  ab_ids ids;   /* [n] their customer ids */
  float *x;     /* [n][AB_NFEAT] standardised */
  int32_t *y;   /* [n] 0/1 */
  float *in;    /* [n][d] the network's inputs: x itself, or x encoded (te, ple) */
  int d;        /* inputs per row: AB_NFEAT, or the encoder's width */
} ab_split;

typedef struct ab_splits {
  ab_split train, val, test;
  float mean[AB_NFEAT], std[AB_NFEAT]; /* scaler: x' = (x - mean) / std */
  ab_encoder enc;                      /* fitted on the training split (te, ple) */
  size_t n_total, n_pos_total;         /* before balancing */
  size_t n_balanced;
} ab_splits;

/* Builds the three splits from t (t must have targets). Fails with AB_EUSAGE when
 * o->folds or o->fold is out of range. */
int ab_prep(ab_splits *s, const ab_table *t, const ab_prep_opts *o, ab_err *e);
void ab_splits_free(ab_splits *s);

/* A stratified hold-out (abgpu split): of each class of y[n], a seeded shuffle's first
 * round(frac * count) rows get test[i] = 1, the others 0, so both parts keep the share of
 * buyers. 0 < frac < 1. Returns how many rows were held out, or SIZE_MAX when out of
 * memory. */
size_t ab_holdout_pick(uint8_t *test, const uint8_t *y, size_t n, double frac, uint64_t seed);

/* Standardises n rows in place with the given scaler. */
void ab_scale_rows(float *x, size_t n, const float *mean, const float *std);

/* Writes the splits as the notebook's .npz files in dir:
 * Audiobooks_data_{train,validation,test}.npz with arrays inputs (float64 [n,d]: the
 * network's inputs), targets (int64 [n]) and ids (int64 [n]).
 * All three, or none (ab_outfile_commit_all). */
int ab_prep_write_npz(const ab_splits *s, const char *dir, ab_err *e);
/* The three files' paths in dir (each AB_PREP_NPZ_PATH bytes). */
#define AB_PREP_NPZ_PATH 4200
void ab_prep_npz_paths(char (*paths)[AB_PREP_NPZ_PATH], const char *dir);
/* Opens and writes the three files, uncommitted: the caller commits o[0..2] together (with
 * any other outputs of the command) or aborts them. */
struct ab_outfile;
int ab_prep_npz_write_to(struct ab_outfile *o, const ab_splits *s, const char *dir, ab_err *e);

#endif
