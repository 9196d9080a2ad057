/* Permutation importance: how much the ROC AUC drops when one feature's column is
 * shuffled across customers (Breiman 2001; Fisher, Rudin & Dominici 2019). The column
 * is shuffled in the prepared (filled, standardised) matrix, which is the same as
 * shuffling the raw column: both steps act on each value alone.
 *
 * The shuffles are drawn as they always were (one PCG32 stream, feature by feature, each
 * feature's repeats in turn); then a feature's repeats are scored together, chunk by
 * chunk, and only the rows whose value a shuffle changed go to the scorer: a row that
 * got its own value back keeps its unshuffled probability, which is what scoring it
 * again gives (rows are scored independently). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/model.h"
#include "abgpu/rng.h"

/* RNG stream of importance (train.c uses 1-2, prep.c 3-4). */
enum { STREAM_IMPORTANCE = 7 };
#define CHUNK_ROWS 131072 /* rows per chunk: the changed rows of all repeats are scored at once */

typedef struct work {
  int R;
  size_t n;
  float *base;       /* [n] unshuffled probabilities */
  float *col;        /* [R][n] the shuffled column of each repeat */
  float *prob;       /* [R][n] probabilities with the column shuffled */
  uint32_t *perm;    /* [n] */
  float *rows;       /* [R * CHUNK_ROWS][AB_NFEAT] changed rows of a chunk */
  float *rprob;      /* [R * CHUNK_ROWS] probabilities of the distinct rows */
  float *cprob;      /* [R * CHUNK_ROWS] probabilities of the changed rows */
  size_t *where;     /* [R * CHUNK_ROWS] repeat * n + row of each changed row */
  uint32_t *map;     /* [R * CHUNK_ROWS] each changed row's distinct row */
  uint32_t *table;   /* [tcap] hash table of distinct rows (UINT32_MAX: empty) */
  size_t tcap;
  ab_scorepair *pairs;
} work;

static void work_free(work *w) {
  free(w->base); free(w->col); free(w->prob); free(w->perm); free(w->rows);
  free(w->rprob); free(w->cprob); free(w->where); free(w->map); free(w->table);
  free(w->pairs);
}

static int work_alloc(work *w, size_t n, int R) {
  size_t m = n ? n : 1, c = (size_t)R * (n < CHUNK_ROWS ? m : CHUNK_ROWS);
  w->R = R;
  w->n = n;
  w->base = malloc(m * sizeof *w->base);
  w->col = malloc((size_t)R * m * sizeof *w->col);
  w->prob = malloc((size_t)R * m * sizeof *w->prob);
  w->perm = malloc(m * sizeof *w->perm);
  w->rows = malloc(c * AB_NFEAT * sizeof *w->rows);
  w->rprob = malloc(c * sizeof *w->rprob);
  w->cprob = malloc(c * sizeof *w->cprob);
  w->where = malloc(c * sizeof *w->where);
  w->map = malloc(c * sizeof *w->map);
  for (w->tcap = 1024; w->tcap < 2 * c; w->tcap *= 2) {}
  w->table = malloc(w->tcap * sizeof *w->table);
  w->pairs = malloc(m * sizeof *w->pairs);
  return w->base && w->col && w->prob && w->perm && w->rows && w->rprob && w->cprob &&
         w->where && w->map && w->table && w->pairs ? 0 : -1;
}

static uint64_t row_hash(const float *r) {
  uint64_t h = 0x9e3779b97f4a7c15u;
  uint32_t u[AB_NFEAT];
  memcpy(u, r, sizeof u);
  for (int j = 0; j < AB_NFEAT; j++) h = (h ^ u[j]) * 0x100000001b3u;
  return h ^ (h >> 29);
}

/* Moves the distinct rows of rows [k] to its front (the first of equal rows, by bits)
 * and sets map[i] to row i's place there; returns how many there are. */
static size_t distinct_rows(work *w, float *rows, size_t k) {
  size_t u = 0, mask = w->tcap - 1;
  memset(w->table, 0xff, w->tcap * sizeof *w->table);
  for (size_t i = 0; i < k; i++) {
    const float *r = rows + i * AB_NFEAT;
    size_t h = (size_t)row_hash(r) & mask;
    while (w->table[h] != UINT32_MAX &&
           memcmp(rows + (size_t)w->table[h] * AB_NFEAT, r, AB_NFEAT * sizeof *r) != 0)
      h = (h + 1) & mask;
    if (w->table[h] == UINT32_MAX) {
      if (u != i) memcpy(rows + u * AB_NFEAT, r, AB_NFEAT * sizeof *r);
      w->table[h] = (uint32_t)u++;
    }
    w->map[i] = w->table[h];
  }
  return u;
}

/* Scores k rows (rows is reordered) into out[k], each distinct row once. */
static int score_rows(work *w, ab_scorer sc, const ab_model *m, float *rows, size_t k,
                      float *out, ab_err *e) {
  size_t u = distinct_rows(w, rows, k);
  int rc = u ? ab_scorer_run(sc, m, rows, u, w->rprob, e) : AB_OK;
  for (size_t i = 0; i < k && !rc; i++) out[i] = w->rprob[w->map[i]];
  return rc;
}

/* The unshuffled probabilities, chunk by chunk. */
static int score_base(work *w, ab_scorer sc, const ab_model *m, const float *xs, ab_err *e) {
  size_t c = (size_t)w->R * CHUNK_ROWS;
  int rc = AB_OK;
  for (size_t i0 = 0; i0 < w->n && !rc; i0 += c) {
    size_t k = w->n - i0 < c ? w->n - i0 : c;
    memcpy(w->rows, xs + i0 * AB_NFEAT, k * AB_NFEAT * sizeof *w->rows);
    rc = score_rows(w, sc, m, w->rows, k, w->base + i0, e);
  }
  return rc;
}

/* The R shuffled copies of column j, drawn in turn from rng. */
static void shuffle_columns(work *w, const float *xs, int j, ab_rng *rng) {
  for (int r = 0; r < w->R; r++) {
    for (uint32_t i = 0; i < w->n; i++) w->perm[i] = i;
    ab_rng_shuffle_u32(rng, w->perm, (uint32_t)w->n);
    float *col = w->col + (size_t)r * w->n;
    for (size_t i = 0; i < w->n; i++) col[i] = xs[(size_t)w->perm[i] * AB_NFEAT + j];
  }
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Rows [i0, i1) of every repeat: changed rows scored in one call, the others copied. */
static int score_chunk(work *w, ab_scorer sc, const ab_model *m, const float *xs, int j,
                       size_t i0, size_t i1, ab_err *e) {
  size_t k = 0;
  for (int r = 0; r < w->R; r++)
    for (size_t i = i0; i < i1; i++) {
      float v = w->col[(size_t)r * w->n + i];
      w->prob[(size_t)r * w->n + i] = w->base[i];
      if (same_bits(v, xs[i * AB_NFEAT + j])) continue;
      memcpy(w->rows + k * AB_NFEAT, xs + i * AB_NFEAT, AB_NFEAT * sizeof *w->rows);
      w->rows[k * AB_NFEAT + j] = v;
      w->where[k++] = (size_t)r * w->n + i;
    }
  int rc = k ? score_rows(w, sc, m, w->rows, k, w->cprob, e) : AB_OK;
  for (size_t q = 0; q < k && !rc; q++) w->prob[w->where[q]] = w->cprob[q];
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

static int feature_drop(ab_importance *imp, work *w, const ab_importance_opts *o,
                        const ab_model *m, const float *xs, const uint8_t *y, int j,
                        ab_rng *rng, ab_err *e) {
  shuffle_columns(w, xs, j, rng);
  int rc = AB_OK;
  for (size_t i0 = 0; i0 < w->n && !rc; i0 += CHUNK_ROWS)
    rc = score_chunk(w, o->scorer, m, xs, j, i0, w->n - i0 < CHUNK_ROWS ? w->n : i0 + CHUNK_ROWS,
                     e);
  double s = 0, ss = 0;
  for (int r = 0; r < w->R && !rc; r++) {
    double d = imp->base_auc - ab_roc_auc(w->prob + (size_t)r * w->n, y, w->n, w->pairs);
    s += d;
    ss += d * d;
  }
  int R = w->R;
  imp->mean[j] = s / R;
  imp->sd[j] = R > 1 ? sqrt(fmax(0.0, (ss - s * s / R) / (R - 1))) : 0.0;
  return rc;
}

int ab_importance_run(ab_importance *imp, const ab_model *m, const float *xs,
                      const uint8_t *y, size_t n, const ab_importance_opts *o, ab_err *e) {
  memset(imp, 0, sizeof *imp);
  imp->repeats = o->repeats;
  imp->seed = o->seed;
  imp->rows = n;
  if (o->repeats < 1) return ab_err_set(e, AB_EUSAGE, "--repeats must be at least 1");
  if (n > UINT32_MAX) return ab_err_set(e, AB_EINPUT, "too many rows for importance: %zu", n);
  work w = {0};
  int rc = work_alloc(&w, n, o->repeats) ? ab_err_set(e, AB_ENOMEM, "out of memory") : AB_OK;
  if (!rc) rc = score_base(&w, o->scorer, m, xs, e);
  if (!rc) imp->base_auc = ab_roc_auc(w.base, y, n, w.pairs);
  if (!rc && isnan(imp->base_auc))
    rc = ab_err_set(e, AB_EINPUT, "importance needs customers of both classes (buyers and "
                    "non-buyers) in the data");
  ab_rng rng;
  ab_rng_seed(&rng, o->seed, STREAM_IMPORTANCE);
  for (int j = 0; j < AB_NFEAT && !rc; j++) {
    rc = feature_drop(imp, &w, o, m, xs, y, j, &rng, e);
    if (!rc && o->progress) o->progress(o->user, j + 1, AB_NFEAT, m->feature_names[j]);
  }
  if (!rc) rank_features(imp);
  work_free(&w);
  return rc;
}

int ab_importance_compute(ab_importance *imp, const ab_model *m, const float *xs,
                          const uint8_t *y, size_t n, int repeats, uint64_t seed, ab_err *e) {
  ab_importance_opts o = {repeats, seed, {NULL, NULL}, NULL, NULL};
  return ab_importance_run(imp, m, xs, y, n, &o, e);
}
