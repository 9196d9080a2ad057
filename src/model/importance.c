/* Permutation importance: how much the ROC AUC drops when one feature's column is
 * shuffled across customers (Breiman 2001; Fisher, Rudin & Dominici 2019). The column
 * is shuffled in the prepared (filled, standardised) matrix, which is the same as
 * shuffling the raw column: both steps act on each value alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/model.h"
#include "abgpu/rng.h"

/* RNG stream of importance (train.c uses 1-2, prep.c 3-4). */
enum { STREAM_IMPORTANCE = 7 };

typedef struct work {
  float *x, *prob, *col;
  uint32_t *perm;
  ab_scorepair *pairs;
} work;

static void work_free(work *w) {
  free(w->x); free(w->prob); free(w->col); free(w->perm); free(w->pairs);
}

static int work_alloc(work *w, const float *xs, size_t n) {
  size_t m = n ? n : 1;
  w->x = malloc(m * AB_NFEAT * sizeof *w->x);
  w->prob = malloc(m * sizeof *w->prob);
  w->col = malloc(m * sizeof *w->col);
  w->perm = malloc(m * sizeof *w->perm);
  w->pairs = malloc(m * sizeof *w->pairs);
  if (!w->x || !w->prob || !w->col || !w->perm || !w->pairs) return -1;
  memcpy(w->x, xs, n * AB_NFEAT * sizeof *w->x);
  return 0;
}

/* ROC AUC with column j shuffled by a fresh permutation; restores the column. */
static int shuffled_auc(double *auc, work *w, const ab_model *m, const uint8_t *y, size_t n,
                        int j, ab_rng *rng, ab_err *e) {
  for (uint32_t i = 0; i < n; i++) {
    w->perm[i] = i;
    w->col[i] = w->x[(size_t)i * AB_NFEAT + j];
  }
  ab_rng_shuffle_u32(rng, w->perm, (uint32_t)n);
  for (size_t i = 0; i < n; i++) w->x[i * AB_NFEAT + j] = w->col[w->perm[i]];
  int rc = ab_model_forward(m, w->x, n, w->prob, e);
  for (size_t i = 0; i < n; i++) w->x[i * AB_NFEAT + j] = w->col[i];
  if (!rc) *auc = ab_roc_auc(w->prob, y, n, w->pairs);
  return rc;
}

static void rank_features(ab_importance *imp) {
  for (int j = 0; j < AB_NFEAT; j++) imp->rank[j] = j;
  for (int a = 1; a < AB_NFEAT; a++) /* insertion sort: stable, ten items */
    for (int b = a; b > 0 && imp->mean[imp->rank[b]] > imp->mean[imp->rank[b - 1]]; b--) {
      int t = imp->rank[b];
      imp->rank[b] = imp->rank[b - 1];
      imp->rank[b - 1] = t;
    }
}

static int feature_drop(ab_importance *imp, work *w, const ab_model *m, const uint8_t *y,
                        size_t n, int j, ab_rng *rng, ab_err *e) {
  double s = 0, ss = 0;
  for (int k = 0; k < imp->repeats; k++) {
    double auc;
    int rc = shuffled_auc(&auc, w, m, y, n, j, rng, e);
    if (rc) return rc;
    double d = imp->base_auc - auc;
    s += d;
    ss += d * d;
  }
  int R = imp->repeats;
  imp->mean[j] = s / R;
  imp->sd[j] = R > 1 ? sqrt(fmax(0.0, (ss - s * s / R) / (R - 1))) : 0.0;
  return AB_OK;
}

int ab_importance_compute(ab_importance *imp, const ab_model *m, const float *xs,
                          const uint8_t *y, size_t n, int repeats, uint64_t seed, ab_err *e) {
  memset(imp, 0, sizeof *imp);
  imp->repeats = repeats;
  imp->seed = seed;
  imp->rows = n;
  if (repeats < 1) return ab_err_set(e, AB_EUSAGE, "--repeats must be at least 1");
  if (n > UINT32_MAX) return ab_err_set(e, AB_EINPUT, "too many rows for importance: %zu", n);
  work w = {0};
  int rc = work_alloc(&w, xs, n) ? ab_err_set(e, AB_ENOMEM, "out of memory") : AB_OK;
  if (!rc) rc = ab_model_forward(m, w.x, n, w.prob, e);
  if (!rc) imp->base_auc = ab_roc_auc(w.prob, y, n, w.pairs);
  if (!rc && isnan(imp->base_auc))
    rc = ab_err_set(e, AB_EINPUT, "importance needs customers of both classes (buyers and "
                    "non-buyers) in the data");
  ab_rng rng;
  ab_rng_seed(&rng, seed, STREAM_IMPORTANCE);
  for (int j = 0; j < AB_NFEAT && !rc; j++) rc = feature_drop(imp, &w, m, y, n, j, &rng, e);
  if (!rc) rank_features(imp);
  work_free(&w);
  return rc;
}
