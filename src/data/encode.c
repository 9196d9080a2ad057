/* Input encodings fitted on the training split (encode.h): piecewise-linear encoding over
 * quantile bins, and out-of-fold target encoding with prior smoothing. */
#include "abgpu/encode.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/rng.h"

/* RNG stream of the target-encoding folds (train.c uses 1-2, prep.c 3-4). */
enum { STREAM_TE_FOLDS = 5 };

/* book_length_avg, price_avg, review_10, support_requests, last_visited_minus_purchase */
static const uint8_t te_mask[AB_NFEAT] = {0, 1, 0, 1, 0, 1, 0, 0, 1, 1};

int ab_te_applies(int j) { return j >= 0 && j < AB_NFEAT && te_mask[j]; }

void ab_encoder_init(ab_encoder *enc) { memset(enc, 0, sizeof *enc); enc->width = AB_NFEAT; }

void ab_encoder_free(ab_encoder *enc) {
  for (int j = 0; j < AB_NFEAT; j++) free(enc->edges[j]);
  for (int c = 0; c < enc->nte; c++) { free(enc->te[c].value); free(enc->te[c].rate); }
  ab_encoder_init(enc);
}

int ab_encoder_active(const ab_encoder *enc) { return enc->ple > 0 || enc->nte > 0; }

void ab_encoder_set_width(ab_encoder *enc) {
  int w = 0;
  for (int j = 0; j < AB_NFEAT; j++) w += enc->nedges[j] >= 2 ? enc->nedges[j] - 1 : 1;
  enc->width = w + enc->nte;
}

static void *dup(const void *p, size_t n) {
  void *q = malloc(n ? n : 1);
  if (q && n) memcpy(q, p, n);
  return q;
}

int ab_encoder_copy(ab_encoder *dst, const ab_encoder *src, ab_err *e) {
  *dst = *src;
  int bad = 0;
  for (int j = 0; j < AB_NFEAT; j++) {
    dst->edges[j] = src->edges[j] ? dup(src->edges[j], (size_t)src->nedges[j] * sizeof(float)) : NULL;
    bad |= src->edges[j] && !dst->edges[j];
  }
  for (int c = 0; c < src->nte; c++) {
    dst->te[c].value = dup(src->te[c].value, src->te[c].n * sizeof(float));
    dst->te[c].rate = dup(src->te[c].rate, src->te[c].n * sizeof(float));
    bad |= !dst->te[c].value || !dst->te[c].rate;
  }
  if (!bad) return AB_OK;
  ab_encoder_free(dst);
  return ab_err_set(e, AB_ENOMEM, "out of memory");
}

/* ---- piecewise-linear encoding ---- */

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Edges of feature j: the i/bins quantiles (i = 0..bins) of the sorted column, repeats
 * dropped. col: [n] scratch. */
static int ple_edges(ab_encoder *enc, int j, float *col, const float *x, size_t n, int bins) {
  for (size_t i = 0; i < n; i++) col[i] = x[i * AB_NFEAT + j];
  qsort(col, n, sizeof *col, cmp_float);
  float *ed = malloc(((size_t)bins + 1) * sizeof *ed);
  if (!ed) return -1;
  int k = 0;
  for (int i = 0; i <= bins; i++) {
    float q = col[(size_t)((double)i * (double)(n - 1) / bins + 0.5)];
    if (k == 0 || q > ed[k - 1]) ed[k++] = q;
  }
  enc->nedges[j] = k;
  enc->edges[j] = ed;
  return 0;
}

/* Bin t of T over [lo, hi]: 0 below, 1 above, linear between; the first bin extends
 * below its edge and the last above (Gorishniy et al. 2022, eq. 3). */
static float *ple_value(float *out, const float *ed, int nedges, float v) {
  int T = nedges - 1;
  for (int t = 0; t < T; t++) { /* every bin clamped to [0, 1]: a loop the compiler vectorizes */
    float z = (v - ed[t]) / (ed[t + 1] - ed[t]);
    z = z < 0 ? 0 : z;
    out[t] = z > 1 ? 1 : z;
  }
  /* then the ends: the first bin has no lower bound, the last no upper one */
  float first = (v - ed[0]) / (ed[1] - ed[0]), last = (v - ed[T - 1]) / (ed[T] - ed[T - 1]);
  out[0] = T > 1 && first > 1 ? 1 : first;
  if (T > 1) out[T - 1] = last < 0 ? 0 : last;
  return out + T;
}

/* ---- target encoding ---- */

/* Index of v in the ascending value[n], or -1. */
static long find_value(const float *value, uint32_t n, float v) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (value[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && value[lo] == v ? (long)lo : -1;
}

/* The rate of v: of the nearest training value when within AB_TE_MATCH of it (a value
 * recomputed elsewhere, e.g. in float64, may differ in its last bits), else the prior. */
static float te_lookup(const ab_te_col *c, float v) {
  uint32_t lo = 0, hi = c->n;
  while (lo < hi) { /* first value >= v */
    uint32_t mid = lo + (hi - lo) / 2;
    if (c->value[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  long best = -1;
  float gap = 0;
  for (uint32_t i = lo ? lo - 1 : 0; i <= lo && i < c->n; i++) {
    float d = fabsf(c->value[i] - v);
    if (best < 0 || d < gap) { best = (long)i; gap = d; }
  }
  int hit = best >= 0 && gap <= AB_TE_MATCH * (1.0f + fabsf(c->value[best]));
  return hit ? c->rate[best] : c->prior;
}

static float smooth(double pos, double cnt, double prior) {
  return (float)((pos + AB_TE_PSEUDO * prior) / (cnt + AB_TE_PSEUDO));
}

/* Per-value counts over folds: cnt/pos [nvalues][AB_TE_FOLDS]. */
typedef struct te_counts { double *cnt, *pos; long *id; } te_counts;

/* The distinct values of column j (col: [n] scratch, sorted) and each row's value id. */
static int te_values(ab_te_col *c, te_counts *k, float *col, const float *x, size_t n, int j) {
  for (size_t i = 0; i < n; i++) col[i] = x[i * AB_NFEAT + j];
  qsort(col, n, sizeof *col, cmp_float);
  uint32_t u = 0;
  for (size_t i = 0; i < n; i++)
    if (u == 0 || col[i] > col[u - 1]) col[u++] = col[i];
  if (u > AB_TE_MAX_VALUES) return -2;
  c->n = u;
  c->value = dup(col, u * sizeof(float));
  c->rate = malloc((u ? u : 1) * sizeof(float));
  k->cnt = calloc((size_t)u * AB_TE_FOLDS + 1, sizeof *k->cnt);
  k->pos = calloc((size_t)u * AB_TE_FOLDS + 1, sizeof *k->pos);
  k->id = malloc((n ? n : 1) * sizeof *k->id);
  if (!c->value || !c->rate || !k->cnt || !k->pos || !k->id) return -1;
  for (size_t i = 0; i < n; i++) k->id[i] = find_value(c->value, u, x[i * AB_NFEAT + j]);
  return 0;
}

/* Fits column j: full-training rates, and each training row's out-of-fold rate in oof[n]. */
static int te_fit(ab_te_col *c, float *oof, float *col, const float *x, const int32_t *y,
                  const uint8_t *fold, size_t n, int j, double prior) {
  te_counts k = {0};
  c->feat = j;
  c->prior = (float)prior;
  int rc = te_values(c, &k, col, x, n, j);
  for (size_t i = 0; i < n && !rc; i++) {
    k.cnt[k.id[i] * AB_TE_FOLDS + fold[i]] += 1;
    k.pos[k.id[i] * AB_TE_FOLDS + fold[i]] += y[i] != 0;
  }
  for (uint32_t v = 0; v < c->n && !rc; v++) {
    double cn = 0, ps = 0;
    for (int f = 0; f < AB_TE_FOLDS; f++) { cn += k.cnt[v * AB_TE_FOLDS + f]; ps += k.pos[v * AB_TE_FOLDS + f]; }
    c->rate[v] = smooth(ps, cn, prior);
    for (int f = 0; f < AB_TE_FOLDS; f++) { /* the totals without fold f, kept in place */
      k.cnt[v * AB_TE_FOLDS + f] = cn - k.cnt[v * AB_TE_FOLDS + f];
      k.pos[v * AB_TE_FOLDS + f] = ps - k.pos[v * AB_TE_FOLDS + f];
    }
  }
  double s = 0, ss = 0;
  for (size_t i = 0; i < n && !rc; i++) {
    size_t at = (size_t)k.id[i] * AB_TE_FOLDS + fold[i];
    oof[i] = smooth(k.pos[at], k.cnt[at], prior);
    s += oof[i];
  }
  double mu = n ? s / (double)n : 0;
  for (size_t i = 0; i < n && !rc; i++) ss += (oof[i] - mu) * (oof[i] - mu);
  double sd = n ? sqrt(ss / (double)n) : 0;
  c->mean = (float)mu;
  c->std = sd > 0 ? (float)sd : 1.0f;
  free(k.cnt); free(k.pos); free(k.id);
  return rc;
}

/* Fold of each training row: a seeded permutation dealt round-robin. */
static uint8_t *te_folds(size_t n, uint64_t seed) {
  uint32_t *perm = malloc((n ? n : 1) * sizeof *perm);
  uint8_t *fold = malloc(n ? n : 1);
  if (!perm || !fold) { free(perm); free(fold); return NULL; }
  for (uint32_t i = 0; i < n; i++) perm[i] = i;
  ab_rng r;
  ab_rng_seed(&r, seed, STREAM_TE_FOLDS);
  ab_rng_shuffle_u32(&r, perm, (uint32_t)n);
  for (size_t i = 0; i < n; i++) fold[perm[i]] = (uint8_t)(i % AB_TE_FOLDS);
  free(perm);
  return fold;
}

/* ---- rows ---- */

/* One prepared row's PLE (or pass-through) columns; returns the next output slot. */
static float *encode_ple(const ab_encoder *enc, float *o, const float *row) {
  for (int j = 0; j < AB_NFEAT; j++) {
    if (enc->nedges[j] >= 2) o = ple_value(o, enc->edges[j], enc->nedges[j], row[j]);
    else *o++ = row[j];
  }
  return o;
}

void ab_encode_rows(const ab_encoder *enc, float *out, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const float *row = x + i * AB_NFEAT;
    float *o = encode_ple(enc, out + i * (size_t)enc->width, row);
    for (int c = 0; c < enc->nte; c++) {
      const ab_te_col *t = &enc->te[c];
      *o++ = (te_lookup(t, row[t->feat]) - t->mean) / t->std;
    }
  }
}

/* Where feature j's columns start among the PLE (or pass-through) columns. */
static int ple_offset(const ab_encoder *enc, int j) {
  int o = 0;
  for (int q = 0; q < j; q++) o += enc->nedges[q] >= 2 ? enc->nedges[q] - 1 : 1;
  return o;
}

int ab_encode_feature(const ab_encoder *enc, int j, float v, int *cols, float *out) {
  int o = ple_offset(enc, j), n = enc->nedges[j] >= 2 ? enc->nedges[j] - 1 : 1, te = o;
  if (enc->nedges[j] >= 2) ple_value(out, enc->edges[j], enc->nedges[j], v);
  else out[0] = v;
  for (int c = 0; c < n; c++) cols[c] = o + c;
  for (int q = j; q < AB_NFEAT; q++) te += enc->nedges[q] >= 2 ? enc->nedges[q] - 1 : 1;
  for (int c = 0; c < enc->nte; c++, te++)
    if (enc->te[c].feat == j) {
      cols[n] = te;
      out[n++] = (te_lookup(&enc->te[c], v) - enc->te[c].mean) / enc->te[c].std;
    }
  return n;
}

static int fit_tables(ab_encoder *enc, float *oof, float *col, const float *x, const int32_t *y,
                      size_t n, int ple, int te, uint64_t seed, ab_err *e) {
  for (int j = 0; j < AB_NFEAT && ple; j++)
    if (ple_edges(enc, j, col, x, n, ple)) return ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!te) return AB_OK;
  uint8_t *fold = te_folds(n, seed);
  double pos = 0;
  for (size_t i = 0; i < n; i++) pos += y[i] != 0;
  int rc = fold ? AB_OK : ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int j = 0; j < AB_NFEAT && !rc; j++) {
    if (!te_mask[j]) continue;
    int c = enc->nte++;
    int bad = te_fit(&enc->te[c], oof + (size_t)c * n, col, x, y, fold, n, j, pos / (double)n);
    if (bad) rc = ab_err_set(e, bad == -2 ? AB_EINPUT : AB_ENOMEM, bad == -2 ?
                             "target encoding: more than %u distinct values in one column" :
                             "out of memory", AB_TE_MAX_VALUES);
  }
  free(fold);
  return rc;
}

/* The training rows: PLE as for any row, TE from the out-of-fold rates. */
static void encode_train(const ab_encoder *enc, float *out, const float *x, const float *oof,
                         size_t n) {
  for (size_t i = 0; i < n; i++) {
    float *o = encode_ple(enc, out + i * (size_t)enc->width, x + i * AB_NFEAT);
    for (int c = 0; c < enc->nte; c++)
      *o++ = (oof[(size_t)c * n + i] - enc->te[c].mean) / enc->te[c].std;
  }
}

int ab_encoder_fit(ab_encoder *enc, float **out, const float *x, const int32_t *y, size_t n,
                   int ple, int te, uint64_t seed, ab_err *e) {
  ab_encoder_init(enc);
  *out = NULL;
  if (ple && (ple < 2 || ple > AB_PLE_MAX_BINS))
    return ab_err_set(e, AB_EUSAGE, "ple:%d: expected 2..%d bins", ple, AB_PLE_MAX_BINS);
  if (n == 0) return ab_err_set(e, AB_EINPUT, "encodings need training rows");
  enc->ple = ple;
  float *col = malloc(n * sizeof *col), *oof = malloc(n * AB_NFEAT * sizeof *oof);
  int rc = col && oof ? fit_tables(enc, oof, col, x, y, n, ple, te, seed, e)
                      : ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) {
    ab_encoder_set_width(enc);
    if (!(*out = malloc(n * (size_t)enc->width * sizeof **out)))
      rc = ab_err_set(e, AB_ENOMEM, "out of memory");
    else encode_train(enc, *out, x, oof, n);
  }
  free(col);
  free(oof);
  if (rc) ab_encoder_free(enc);
  return rc;
}
