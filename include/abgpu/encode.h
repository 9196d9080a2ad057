/* encode.h - input encodings fitted on the training split, between the scaler and the
 * network: piecewise-linear encoding (PLE) of each feature over quantile bins (Gorishniy,
 * Rubachev & Babenko, "On Embeddings for Numerical Features in Tabular Deep Learning",
 * 2022) and out-of-fold target encoding (TE) of the columns whose exact values repeat.
 *
 * The encoder maps a prepared row (filled, transformed, standardised: [AB_NFEAT]) to the
 * network's inputs ([width]): for each feature in column order its PLE bins (or the
 * standardised value itself when PLE is off or the feature has a single value), then one
 * column per target-encoded feature. Each value is encoded on its own, so shuffling a
 * prepared column shuffles its encoded columns. */
#ifndef ABGPU_ENCODE_H
#define ABGPU_ENCODE_H
#include <stddef.h>
#include <stdint.h>
#include "abgpu/err.h"
#include "abgpu/table.h"

#define AB_PLE_MAX_BINS 255     /* ple:N takes N in 2..255 */
#define AB_TE_FOLDS 5           /* out-of-fold target encoding of the training rows */
#define AB_TE_PSEUDO 10.0       /* prior weight: pseudo-rows at the training buy rate */
#define AB_TE_MAX_VALUES (1u << 20) /* distinct values of one encoded column */
#define AB_TE_MATCH 1e-6f       /* a value matches a training value within 1e-6 (1 + |v|) */
#define AB_ENC_MAX_WIDTH 4096   /* network inputs, as the widest layer the model allows */

/* 1 for the features target encoding acts on: book_length_avg, price_avg, review_10,
 * support_requests, last_visited_minus_purchase (the columns whose exact values repeat
 * most and whose buy rate is not monotone in the value). */
int ab_te_applies(int j);

/* One target-encoded column: the smoothed buy rate of each training value, then
 * standardised with the mean and sd of the training rows' out-of-fold rates. */
typedef struct ab_te_col {
  int feat;             /* feature index 0..AB_NFEAT-1 */
  uint32_t n;           /* distinct training values */
  float *value;         /* [n] ascending (prepared, i.e. standardised, values) */
  float *rate;          /* [n] smoothed buy rate of the training rows holding it */
  float prior;          /* rate of a value not seen in training: the training buy rate */
  float mean, std;      /* x' = (rate - mean) / std */
} ab_te_col;

typedef struct ab_encoder {
  int ple;                   /* bins asked for (0: no PLE) */
  int nedges[AB_NFEAT];      /* PLE: edges of feature j (bins = nedges - 1); < 2: pass through */
  float *edges[AB_NFEAT];    /* [nedges[j]] strictly ascending */
  int nte;                   /* target-encoded columns */
  ab_te_col te[AB_NFEAT];
  int width;                 /* network inputs */
} ab_encoder;

void ab_encoder_init(ab_encoder *enc);
void ab_encoder_free(ab_encoder *enc);
/* 1 when the encoder changes the rows (PLE or TE); 0: the inputs are the prepared rows. */
int ab_encoder_active(const ab_encoder *enc);
int ab_encoder_copy(ab_encoder *dst, const ab_encoder *src, ab_err *e);
/* Recomputes width from the edges and TE columns. */
void ab_encoder_set_width(ab_encoder *enc);

/* Fits PLE with `ple` quantile bins (0: none) and, when te, target encoding, on n
 * prepared training rows x [n][AB_NFEAT] with labels y. Writes the training rows'
 * encoding to out [n][width] (target encoding out of fold: AB_TE_FOLDS folds dealt by a
 * permutation seeded by seed); out is malloc'd. */
int ab_encoder_fit(ab_encoder *enc, float **out, const float *x, const int32_t *y, size_t n,
                   int ple, int te, uint64_t seed, ab_err *e);
/* Encodes n prepared rows x [n][AB_NFEAT] into out [n][width] with the fitted tables
 * (a value target encoding has not seen gets the prior). */
void ab_encode_rows(const ab_encoder *enc, float *out, const float *x, size_t n);

/* The columns of feature j alone, for value v: their indices among the width into cols
 * and their values into out (at most AB_ENC_FEAT_COLS each, in the order
 * ab_encode_rows writes them); returns how many. */
#define AB_ENC_FEAT_COLS (AB_PLE_MAX_BINS + 1)
int ab_encode_feature(const ab_encoder *enc, int j, float v, int *cols, float *out);

#endif
