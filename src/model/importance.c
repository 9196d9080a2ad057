/* Permutation importance: how much the ROC AUC drops when one feature's column is
 * shuffled across customers (Breiman 2001; Fisher, Rudin & Dominici 2019). The column
 * is shuffled in the prepared (filled, standardised) matrix, which is the same as
 * shuffling the raw column: both steps act on each value alone.
 *
 * The shuffles are drawn as they always were (one PCG32 stream, feature by feature, each
 * feature's repeats in turn); then a feature's repeats are scored together, chunk by
 * chunk, and only the rows whose value a shuffle changed go to the scorer: a row that
 * got its own value back keeps its unshuffled probability, which is what scoring it
 * again gives (rows are scored independently). With several scorers, one thread each
 * takes chunks (and then repeats, for their AUC) in turn; every chunk and repeat writes
 * only its own results, so the figures do not depend on the number of threads.
 * When the scorers take encoded rows, the rows are encoded once and a changed row is its
 * row's encoding with the shuffled feature's columns encoded anew: the same bits as
 * encoding the changed row whole, for less work.
 *
 * Partial dependence (Friedman 2001) then sets one column to each of ten values in every
 * sampled row and averages the prior-corrected probabilities: one item per feature and
 * value, each summed in row order, so these too are the same on any number of threads. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/model.h"
#include "abgpu/rng.h"

/* RNG stream of importance (train.c uses 1-2, prep.c 3-4). */
enum { STREAM_IMPORTANCE = 7 };
#define CHUNK_ROWS 32768 /* rows per chunk: the changed rows of all repeats are scored at once */
#define MAX_THREADS AB_IMPORTANCE_MAX_SCORERS
#define ENC_ROWS 2048    /* encoded rows per call of an encoded scorer */
_Static_assert(AB_PD_ROWS <= CHUNK_ROWS, "a partial-dependence point fits in one chunk");

/* One thread's scratch: a chunk's changed rows and their scores, and its scorer. */
typedef struct scratch {
  struct work *w;
  ab_scorer sc;
  float *rows;       /* [R * CHUNK_ROWS][AB_NFEAT] changed rows of a chunk */
  float *rprob;      /* [R * CHUNK_ROWS] probabilities of the distinct rows */
  float *cprob;      /* [R * CHUNK_ROWS] probabilities of the changed rows */
  size_t *where;     /* [R * CHUNK_ROWS] repeat * n + row of each changed row */
  uint32_t *map;     /* [R * CHUNK_ROWS] each changed row's distinct row */
  uint32_t *table;   /* [tcap] hash table of distinct rows (UINT32_MAX: empty) */
  size_t tcap;
  ab_scorepair *pairs; /* [n] for the AUC */
  uint32_t *src;     /* [R * CHUNK_ROWS] encoded: each changed row's unshuffled row */
  float *erows;      /* [ENC_ROWS][width] encoded: a batch of changed rows' inputs */
  int rc;
  ab_err err;
} scratch;

typedef struct work {
  int R, T;
  size_t n;
  const ab_model *m;
  const float *xs;
  const uint8_t *y;
  int j;             /* the feature being shuffled */
  float *base;       /* [n] unshuffled probabilities */
  float *col;        /* [R][n] the shuffled column of each repeat */
  float *prob;       /* [R][n] probabilities with the column shuffled */
  double *auc;       /* [R] ROC AUC of each repeat */
  uint32_t *perm;    /* [n] */
  float *xe;         /* [n][width] the rows encoded once (NULL: scorers take prepared rows) */
  int width;
  scratch *s;        /* [T] */
  float pdx[AB_NFEAT][AB_PD_POINTS]; /* partial-dependence points, prepared */
  size_t pd_rows;    /* rows averaged at each point */
  double *pd_prob;   /* [AB_NFEAT * AB_PD_POINTS] the results */
  pthread_mutex_t mu;
  size_t next, items; /* the next item to hand out, and how many there are */
  int failed;
  void (*item)(struct work *w, scratch *s, size_t i);
} work;

static void scratch_free(scratch *s) {
  free(s->rows); free(s->rprob); free(s->cprob); free(s->where); free(s->map);
  free(s->table); free(s->pairs); free(s->src); free(s->erows);
}

static int scratch_alloc(scratch *s, size_t n, int R, int width) {
  size_t m = n ? n : 1, c = (size_t)R * (n < CHUNK_ROWS ? m : CHUNK_ROWS);
  s->rows = malloc(c * AB_NFEAT * sizeof *s->rows);
  s->rprob = malloc(c * sizeof *s->rprob);
  s->cprob = malloc(c * sizeof *s->cprob);
  s->where = malloc(c * sizeof *s->where);
  s->map = malloc(c * sizeof *s->map);
  for (s->tcap = 1024; s->tcap < 2 * c; s->tcap *= 2) {}
  s->table = malloc(s->tcap * sizeof *s->table);
  s->pairs = malloc(m * sizeof *s->pairs);
  if (s->sc.encoded) {
    s->src = malloc(c * sizeof *s->src);
    s->erows = malloc((size_t)ENC_ROWS * width * sizeof *s->erows);
    if (!s->src || !s->erows) return -1;
  }
  return s->rows && s->rprob && s->cprob && s->where && s->map && s->table && s->pairs ? 0 : -1;
}

static void work_free(work *w) {
  free(w->base); free(w->col); free(w->prob); free(w->auc); free(w->perm); free(w->xe);
  for (int t = 0; t < w->T && w->s; t++) scratch_free(&w->s[t]);
  free(w->s);
}

static int work_alloc(work *w, size_t n, int R, const ab_scorer *sc, int T) {
  size_t m = n ? n : 1;
  w->R = R;
  w->n = n;
  w->base = malloc(m * sizeof *w->base);
  w->col = malloc((size_t)R * m * sizeof *w->col);
  w->prob = malloc((size_t)R * m * sizeof *w->prob);
  w->auc = malloc((size_t)R * sizeof *w->auc);
  w->perm = malloc(m * sizeof *w->perm);
  w->s = calloc((size_t)T, sizeof *w->s);
  if (!w->base || !w->col || !w->prob || !w->auc || !w->perm || !w->s) return -1;
  w->T = T;
  for (int t = 0; t < T; t++) {
    w->s[t].w = w;
    w->s[t].sc = sc[t];
    if (scratch_alloc(&w->s[t], n, R, w->m->enc.width)) return -1;
  }
  return 0;
}

/* The encoded rows, when every scorer takes them and they fit in memory (else w->xe
 * stays NULL: prepared rows are scored). */
static void encoded_alloc(work *w) {
  for (int t = 0; t < w->T; t++)
    if (!w->s[t].sc.encoded) return;
  w->width = w->m->enc.width;
  if (w->n && w->n <= SIZE_MAX / sizeof(float) / (size_t)w->width)
    w->xe = malloc(w->n * (size_t)w->width * sizeof *w->xe);
}

/* ---- items in parallel: T threads (the caller one of them) take items in turn ---- */

static void *worker(void *arg) {
  scratch *s = arg;
  work *w = s->w;
  for (;;) {
    pthread_mutex_lock(&w->mu);
    size_t i = w->failed ? w->items : w->next++;
    pthread_mutex_unlock(&w->mu);
    if (i >= w->items) return NULL;
    w->item(w, s, i);
    if (s->rc) {
      pthread_mutex_lock(&w->mu);
      w->failed = 1;
      pthread_mutex_unlock(&w->mu);
    }
  }
}

/* ---- distinct rows: each scored once ---- */

static uint64_t row_hash(const float *r) {
  uint64_t h = 0x9e3779b97f4a7c15u;
  uint32_t u[AB_NFEAT];
  memcpy(u, r, sizeof u);
  for (int j = 0; j < AB_NFEAT; j++) h = (h ^ u[j]) * 0x100000001b3u;
  return h ^ (h >> 29);
}

/* Moves the distinct rows of rows [k] to its front (the first of equal rows, by bits),
 * and src[i] with them when src is not NULL, and sets map[i] to row i's place there;
 * returns how many there are. */
static size_t distinct_rows(scratch *w, float *rows, uint32_t *src, size_t k) {
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
      if (src) src[u] = src[i];
      w->table[h] = (uint32_t)u++;
    }
    w->map[i] = w->table[h];
  }
  return u;
}

/* Scores k rows (rows is reordered) into out[k], each distinct row once. */
static int score_rows(scratch *s, const ab_model *m, float *rows, size_t k, float *out) {
  size_t u = distinct_rows(s, rows, NULL, k);
  int rc = u ? ab_scorer_run(s->sc, m, rows, u, s->rprob, &s->err) : AB_OK;
  for (size_t i = 0; i < k && !rc; i++) out[i] = s->rprob[s->map[i]];
  return rc;
}

/* Runs w->item on items 0..n-1 over the threads; the first failure (by thread) in e. */
static int run_items(work *w, size_t n, void (*item)(work *, scratch *, size_t), ab_err *e) {
  pthread_t th[MAX_THREADS];
  int started = 0;
  w->item = item;
  w->next = 0;
  w->items = n;
  for (int t = 1; t < w->T; t++, started++)
    if (pthread_create(&th[t], NULL, worker, &w->s[t])) break;
  worker(&w->s[0]);
  for (int t = 1; t <= started; t++) pthread_join(th[t], NULL);
  for (int t = 0; t < w->T; t++)
    if (w->s[t].rc) { *e = w->s[t].err; return w->s[t].rc; }
  return AB_OK;
}

static size_t nchunks(const work *w) { return (w->n + CHUNK_ROWS - 1) / CHUNK_ROWS; }

/* Item i of the unshuffled probabilities: rows of chunk i. */
static void base_chunk(work *w, scratch *s, size_t i) {
  size_t i0 = i * CHUNK_ROWS, k = w->n - i0 < CHUNK_ROWS ? w->n - i0 : CHUNK_ROWS;
  memcpy(s->rows, w->xs + i0 * AB_NFEAT, k * AB_NFEAT * sizeof *s->rows);
  s->rc = score_rows(s, w->m, s->rows, k, w->base + i0);
  if (w->xe) ab_encode_rows(&w->m->enc, w->xe + i0 * w->width, w->xs + i0 * AB_NFEAT, k);
}

/* The R shuffled copies of column j, drawn in turn from rng. */
static void shuffle_columns(work *w, int j, ab_rng *rng) {
  for (int r = 0; r < w->R; r++) {
    for (uint32_t i = 0; i < w->n; i++) w->perm[i] = i;
    ab_rng_shuffle_u32(rng, w->perm, (uint32_t)w->n);
    float *col = w->col + (size_t)r * w->n;
    for (size_t i = 0; i < w->n; i++) col[i] = w->xs[(size_t)w->perm[i] * AB_NFEAT + j];
  }
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* Scores the u distinct changed rows of s (column j shuffled; src: their unshuffled
 * rows) from the encoded rows, ENC_ROWS at a time: each its row's encoding with
 * feature j's columns encoded anew (the bits ab_encode_rows gives), into s->rprob. */
static int score_encoded(work *w, scratch *s, size_t u) {
  int j = w->j, cols[AB_ENC_FEAT_COLS], rc = AB_OK;
  float v[AB_ENC_FEAT_COLS];
  size_t W = (size_t)w->width;
  for (size_t q0 = 0; q0 < u && !rc; q0 += ENC_ROWS) {
    size_t b = u - q0 < ENC_ROWS ? u - q0 : ENC_ROWS;
    for (size_t q = 0; q < b; q++) {
      float *o = s->erows + q * W;
      memcpy(o, w->xe + (size_t)s->src[q0 + q] * W, W * sizeof *o);
      int nc = ab_encode_feature(&w->m->enc, j, s->rows[(q0 + q) * AB_NFEAT + j], cols, v);
      for (int c = 0; c < nc; c++) o[cols[c]] = v[c];
    }
    rc = s->sc.encoded(s->sc.user, s->erows, b, s->rprob + q0, &s->err);
  }
  return rc;
}

/* The k changed rows of s (rows, src, where) scored, each distinct row once. */
static int score_changed(work *w, scratch *s, size_t k) {
  if (!w->xe) return score_rows(s, w->m, s->rows, k, s->cprob);
  size_t u = distinct_rows(s, s->rows, s->src, k);
  int rc = score_encoded(w, s, u);
  for (size_t i = 0; i < k && !rc; i++) s->cprob[i] = s->rprob[s->map[i]];
  return rc;
}

/* Item c of a feature: rows of chunk c in every repeat, the changed ones scored in one
 * call, the others copied. */
static void shuffled_chunk(work *w, scratch *s, size_t c) {
  size_t i0 = c * CHUNK_ROWS, i1 = w->n - i0 < CHUNK_ROWS ? w->n : i0 + CHUNK_ROWS, k = 0;
  const float *xs = w->xs;
  int j = w->j;
  for (size_t i = i0; i < i1; i++) /* a row's repeats together: its encoding stays hot */
    for (int r = 0; r < w->R; r++) {
      float v = w->col[(size_t)r * w->n + i];
      w->prob[(size_t)r * w->n + i] = w->base[i];
      if (same_bits(v, xs[i * AB_NFEAT + j])) continue;
      memcpy(s->rows + k * AB_NFEAT, xs + i * AB_NFEAT, AB_NFEAT * sizeof *s->rows);
      s->rows[k * AB_NFEAT + j] = v;
      if (s->src) s->src[k] = (uint32_t)i;
      s->where[k++] = (size_t)r * w->n + i;
    }
  s->rc = k ? score_changed(w, s, k) : AB_OK;
  for (size_t q = 0; q < k && !s->rc; q++) w->prob[s->where[q]] = s->cprob[q];
}

/* Item r of a feature: the ROC AUC of repeat r. */
static void repeat_auc(work *w, scratch *s, size_t r) {
  w->auc[r] = ab_roc_auc(w->prob + r * w->n, w->y, w->n, s->pairs);
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

static int feature_drop(ab_importance *imp, work *w, int j, ab_rng *rng, ab_err *e) {
  shuffle_columns(w, j, rng);
  w->j = j;
  int rc = run_items(w, nchunks(w), shuffled_chunk, e);
  if (!rc) rc = run_items(w, (size_t)w->R, repeat_auc, e);
  double s = 0, ss = 0;
  for (int r = 0; r < w->R && !rc; r++) { /* in repeat order: the same sums on any T */
    double d = imp->base_auc - w->auc[r];
    s += d;
    ss += d * d;
  }
  int R = w->R;
  imp->mean[j] = s / R;
  imp->sd[j] = R > 1 ? sqrt(fmax(0.0, (ss - s * s / R) / (R - 1))) : 0.0;
  return rc;
}

/* ---- partial dependence ---- */

/* Each column's prepared value at quantiles 1/20, 3/20, ..., 19/20 into w->pdx: the
 * value of ascending rank q is the one ab_rank (descending) puts at n - 1 - q. */
static void pd_grid(work *w) {
  ab_scorepair *pairs = w->s[0].pairs;
  for (int j = 0; j < AB_NFEAT; j++) {
    for (size_t i = 0; i < w->n; i++) w->col[i] = w->xs[i * AB_NFEAT + j];
    ab_rank(pairs, w->col, w->n);
    for (int k = 0; k < AB_PD_POINTS; k++)
      w->pdx[j][k] = pairs[w->n - 1 - (2 * (size_t)k + 1) * w->n / (2 * AB_PD_POINTS)].p;
  }
}

/* A prepared value of feature j back in the file's units (scaler and log1p undone), to
 * the 6 significant digits a float holds; what scaling left of a zero is zero. */
static double raw_value(const ab_model *m, int j, float v) {
  double x = (double)v * m->std[j] + m->mean[j];
  if (fabs(x) < 1e-6 * (fabs(m->mean[j]) + m->std[j])) return 0;
  if (ab_transform_applies(m->prep.transform, j)) x = x < 0 ? -expm1(-x) : expm1(x);
  char b[32];
  snprintf(b, sizeof b, "%.6g", x);
  return strtod(b, NULL);
}

/* Item i: feature i / AB_PD_POINTS set to its point i % AB_PD_POINTS in every sampled
 * row (rows evenly spaced through the data), the mean prior-corrected probability. */
static void pd_point(work *w, scratch *s, size_t i) {
  int j = (int)(i / AB_PD_POINTS), k = (int)(i % AB_PD_POINTS);
  size_t rows = w->pd_rows;
  for (size_t q = 0; q < rows; q++) {
    memcpy(s->rows + q * AB_NFEAT, w->xs + q * w->n / rows * AB_NFEAT, AB_NFEAT * sizeof *s->rows);
    s->rows[q * AB_NFEAT + j] = w->pdx[j][k];
  }
  s->rc = score_rows(s, w->m, s->rows, rows, s->cprob);
  double sum = 0;
  for (size_t q = 0; q < rows && !s->rc; q++)
    sum += ab_prior_correct(s->cprob[q], w->m->prior, w->m->train_ratio);
  w->pd_prob[i] = sum / (double)rows;
}

static int partial_dependence(ab_importance *imp, work *w, ab_err *e) {
  pd_grid(w);
  for (int j = 0; j < AB_NFEAT; j++)
    for (int k = 0; k < AB_PD_POINTS; k++) imp->pd_value[j][k] = raw_value(w->m, j, w->pdx[j][k]);
  w->pd_rows = imp->pd_rows = w->n < AB_PD_ROWS ? w->n : AB_PD_ROWS;
  w->pd_prob = &imp->pd_prob[0][0];
  return run_items(w, (size_t)AB_NFEAT * AB_PD_POINTS, pd_point, e);
}

static int check_opts(const ab_importance_opts *o, size_t n, ab_err *e) {
  if (o->repeats < 1) return ab_err_set(e, AB_EUSAGE, "--repeats must be at least 1");
  if (n > UINT32_MAX) return ab_err_set(e, AB_EINPUT, "too many rows for importance: %zu", n);
  if (o->nscorers < 0 || o->nscorers > MAX_THREADS)
    return ab_err_set(e, AB_EUSAGE, "importance takes 1 to %d scorers, not %d", MAX_THREADS,
                      o->nscorers);
  return AB_OK;
}

static int run_features(ab_importance *imp, work *w, const ab_importance_opts *o, ab_err *e) {
  int rc = run_items(w, nchunks(w), base_chunk, e);
  if (!rc) imp->base_auc = ab_roc_auc(w->base, w->y, w->n, w->s[0].pairs);
  if (!rc && isnan(imp->base_auc))
    rc = ab_err_set(e, AB_EINPUT, "importance needs customers of both classes (buyers and "
                    "non-buyers) in the data");
  ab_rng rng;
  ab_rng_seed(&rng, o->seed, STREAM_IMPORTANCE);
  for (int j = 0; j < AB_NFEAT && !rc; j++) {
    rc = feature_drop(imp, w, j, &rng, e);
    if (!rc && o->progress) o->progress(o->user, j + 1, AB_NFEAT, w->m->feature_names[j]);
  }
  if (!rc) rank_features(imp);
  if (!rc) rc = partial_dependence(imp, w, e);
  return rc;
}

int ab_importance_run(ab_importance *imp, const ab_model *m, const float *xs,
                      const uint8_t *y, size_t n, const ab_importance_opts *o, ab_err *e) {
  memset(imp, 0, sizeof *imp);
  imp->repeats = o->repeats;
  imp->seed = o->seed;
  imp->rows = n;
  int rc = check_opts(o, n, e);
  if (rc) return rc;
  work w = {.m = m, .xs = xs, .y = y};
  const ab_scorer *sc = o->nscorers ? o->scorers : &o->scorer;
  if (work_alloc(&w, n, o->repeats, sc, o->nscorers ? o->nscorers : 1)) {
    work_free(&w);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  encoded_alloc(&w);
  pthread_mutex_init(&w.mu, NULL);
  rc = run_features(imp, &w, o, e);
  pthread_mutex_destroy(&w.mu);
  work_free(&w);
  return rc;
}

int ab_importance_compute(ab_importance *imp, const ab_model *m, const float *xs,
                          const uint8_t *y, size_t n, int repeats, uint64_t seed, ab_err *e) {
  ab_importance_opts o = {repeats, seed, {NULL, NULL, NULL}, NULL, NULL, NULL, 0};
  return ab_importance_run(imp, m, xs, y, n, &o, e);
}
