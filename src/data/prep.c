/* Prep: transform, balance by undersampling, seeded shuffle, split, standardise.
 * Default: balance random -> shuffle -> split -> fit scaler on train -> scale all.
 * --seed-compat (the notebook): balance first -> fit scaler on all -> shuffle -> split.
 * An input transform (log1p) acts on the raw features before anything is fitted; with
 * k folds the train and validation rows are re-dealt into stratified folds. */
#include "abgpu/prep.h"
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/rng.h"

/* RNG streams of prep (train.c uses 1 and 2). */
enum { STREAM_BALANCE = 3, STREAM_SHUFFLE = 4, STREAM_HOLDOUT = 12 };

static const char *const balance_names[] = {"random", "first", "none"};

int ab_balance_parse(ab_balance *out, const char *s) {
  for (int i = 0; i < 3; i++)
    if (strcmp(s, balance_names[i]) == 0) { *out = (ab_balance)i; return 0; }
  return -1;
}

const char *ab_balance_name(ab_balance b) { return (unsigned)b < 3 ? balance_names[b] : "?"; }

ab_prep_opts ab_prep_opts_default(void) {
  ab_prep_opts o = {AB_BALANCE_RANDOM, 1, {80, 10, 10}, 0, AB_TRANSFORM_NONE, 0, 0};
  return o;
}

int ab_transform_ple(ab_transform t) { return (int)((t >> 8) & 0xFFu); }

int ab_transform_valid(ab_transform t) {
  int ple = ab_transform_ple(t);
  return (t & ~0xFF03u) == 0 && (ple == 0 || ple >= 2);
}

/* One item of a transform list into *t; -1 when unknown or given twice. */
static int transform_item(ab_transform *t, const char *s, size_t len) {
  uint32_t bit = 0;
  if (len == 5 && strncmp(s, "log1p", 5) == 0) bit = AB_TRANSFORM_LOG1P;
  else if (len == 2 && strncmp(s, "te", 2) == 0) bit = AB_TRANSFORM_TE;
  else if (len > 4 && len < 8 && strncmp(s, "ple:", 4) == 0) {
    int n = 0;
    for (size_t i = 4; i < len; i++) {
      if (s[i] < '0' || s[i] > '9') return -1;
      n = n * 10 + (s[i] - '0');
    }
    if (n < 2 || n > AB_PLE_MAX_BINS || ab_transform_ple(*t)) return -1;
    *t |= AB_TRANSFORM_PLE(n);
    return 0;
  }
  if (!bit || (*t & bit)) return -1;
  *t |= bit;
  return 0;
}

int ab_transform_parse(ab_transform *out, const char *s) {
  if (strcmp(s, "none") == 0) { *out = AB_TRANSFORM_NONE; return 0; }
  ab_transform t = AB_TRANSFORM_NONE;
  for (const char *p = s;;) {
    size_t len = strcspn(p, ",");
    if (len == 0 || transform_item(&t, p, len)) return -1;
    if (!p[len]) break;
    p += len + 1;
  }
  *out = t;
  return 0;
}

const char *ab_transform_name(ab_transform t, char *buf) {
  int k = 0, ple = ab_transform_ple(t);
  if (!ab_transform_valid(t)) return strcpy(buf, "?");
  buf[0] = '\0';
  if (t & AB_TRANSFORM_LOG1P) k += snprintf(buf + k, AB_TRANSFORM_NAME_LEN - k, "log1p");
  if (ple) k += snprintf(buf + k, AB_TRANSFORM_NAME_LEN - k, "%sple:%d", k ? "," : "", ple);
  if (t & AB_TRANSFORM_TE) k += snprintf(buf + k, AB_TRANSFORM_NAME_LEN - k, "%ste", k ? "," : "");
  return k ? buf : strcpy(buf, "none");
}

/* log1p acts on the skewed, non-negative counts and amounts: book_length_overall,
 * book_length_avg, price_overall, price_avg, minutes_listened, support_requests,
 * last_visited_minus_purchase; not on review (0/1), review_10 (0..10), completion (0..1). */
static const uint8_t log1p_mask[AB_NFEAT] = {1, 1, 1, 1, 0, 0, 0, 1, 1, 1};

int ab_transform_applies(ab_transform t, int j) {
  return (t & AB_TRANSFORM_LOG1P) && j >= 0 && j < AB_NFEAT && log1p_mask[j];
}

void ab_transform_rows(float *x, size_t n, ab_transform t) {
  if (!(t & AB_TRANSFORM_LOG1P)) return;
  for (size_t i = 0; i < n; i++)
    for (int j = 0; j < AB_NFEAT; j++) {
      float *v = &x[i * AB_NFEAT + j];
      if (log1p_mask[j]) *v = (float)(*v < 0 ? -log1p(-(double)*v) : log1p((double)*v));
    }
}

int ab_split_parse(int out[3], const char *s) {
  int v[3], n = 0;
  const char *p = s;
  while (n < 3) {
    char *end;
    long x = strtol(p, &end, 10);
    if (end == p || x < 0 || x > 100) return -1;
    v[n++] = (int)x;
    if (*end == '\0') break;
    if (*end != ',') return -1;
    p = end + 1;
  }
  if (n != 3 || v[0] + v[1] + v[2] != 100 || v[0] == 0) return -1;
  memcpy(out, v, sizeof v);
  return 0;
}

/* Rows kept by balancing, in file order: all of the minority class and as many of the
 * majority, either the first ones in file order or a seeded random choice. */
static uint32_t *balance_rows(const ab_table *t, const ab_prep_opts *o, size_t *nkeep) {
  size_t pos = 0;
  for (size_t i = 0; i < t->n; i++) pos += t->y[i];
  uint8_t major = pos * 2 > t->n;
  size_t nmajor = major ? pos : t->n - pos;
  size_t keep_major = o->balance == AB_BALANCE_NONE ? nmajor : t->n - nmajor;
  uint8_t *take = calloc(nmajor ? nmajor : 1, 1);
  uint32_t *rows = malloc((t->n ? t->n : 1) * sizeof *rows), *perm = NULL;
  if (!take || !rows) goto fail;
  if (o->balance == AB_BALANCE_RANDOM) {
    if (!(perm = malloc(nmajor * sizeof *perm + 1))) goto fail;
    ab_rng r;
    ab_rng_seed(&r, o->seed, STREAM_BALANCE);
    for (uint32_t i = 0; i < nmajor; i++) perm[i] = i;
    ab_rng_shuffle_u32(&r, perm, (uint32_t)nmajor);
    for (size_t i = 0; i < keep_major; i++) take[perm[i]] = 1;
  } else {
    for (size_t i = 0; i < keep_major; i++) take[i] = 1;
  }
  size_t k = 0, m = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (t->y[i] != major) rows[k++] = (uint32_t)i;
    else if (take[m++]) rows[k++] = (uint32_t)i;
  }
  *nkeep = k;
  free(take);
  free(perm);
  return rows;
fail:
  free(take); free(rows); free(perm);
  return NULL;
}

/* Mean and population standard deviation (ddof 0, as sklearn's scale) over rows. */
static void fit_scaler(float *mean, float *std, const ab_table *t, const uint32_t *rows, size_t n) {
  for (int j = 0; j < AB_NFEAT; j++) {
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) s += t->x[(size_t)rows[i] * AB_NFEAT + j];
    double mu = n ? s / (double)n : 0.0;
    for (size_t i = 0; i < n; i++) {
      double d = t->x[(size_t)rows[i] * AB_NFEAT + j] - mu;
      ss += d * d;
    }
    double sd = n ? sqrt(ss / (double)n) : 0.0;
    mean[j] = (float)mu;
    std[j] = sd > 0 ? (float)sd : 1.0f; /* a constant feature is only centred */
  }
}

void ab_scale_rows(float *x, size_t n, const float *mean, const float *std) {
  for (size_t i = 0; i < n; i++)
    for (int j = 0; j < AB_NFEAT; j++) x[i * AB_NFEAT + j] = (x[i * AB_NFEAT + j] - mean[j]) / std[j];
}

static int fill_split(ab_split *sp, const ab_table *t, const uint32_t *rows, size_t n,
                      const ab_splits *s) {
  sp->n = n;
  sp->row = malloc((n ? n : 1) * sizeof *sp->row);
  sp->x = malloc((n ? n : 1) * AB_NFEAT * sizeof *sp->x);
  sp->y = malloc((n ? n : 1) * sizeof *sp->y);
  if (!sp->row || !sp->x || !sp->y || ab_ids_reserve(&sp->ids, n, n * 8, NULL)) return -1;
  for (size_t i = 0; i < n; i++) {
    const char *id = ab_ids_get(&t->ids, rows[i]);
    if (ab_ids_push(&sp->ids, id, strlen(id), NULL)) return -1;
    sp->row[i] = rows[i];
    sp->y[i] = t->y[rows[i]];
    memcpy(sp->x + i * AB_NFEAT, t->x + (size_t)rows[i] * AB_NFEAT, AB_NFEAT * sizeof(float));
  }
  ab_scale_rows(sp->x, n, s->mean, s->std);
  sp->in = sp->x;
  sp->d = AB_NFEAT;
  return 0;
}

/* Deals the pool (train and validation rows, shuffled) into k stratified folds: the
 * buyers in pool order, then the others, go to folds 0, 1, ..., k-1, 0, ... Fold f
 * becomes the validation rows, the rest the training rows, both in pool order.
 * isval: [n] scratch. */
static void deal_folds(uint32_t *out, size_t *ntr, uint8_t *isval, const uint32_t *pool,
                       size_t n, const ab_table *t, int k, int f) {
  size_t c = 0, a = 0;
  for (int cls = 1; cls >= 0; cls--)
    for (size_t i = 0; i < n; i++)
      if (t->y[pool[i]] == cls) isval[i] = (int)(c++ % (size_t)k) == f;
  for (size_t i = 0; i < n; i++)
    if (!isval[i]) out[a++] = pool[i];
  *ntr = a;
  for (size_t i = 0; i < n; i++)
    if (isval[i]) out[a++] = pool[i];
}

static int check_folds(const ab_prep_opts *o, ab_err *e) {
  if (o->folds == 0 || o->folds == 1) return AB_OK;
  if (o->folds < 0 || o->folds > 100)
    return ab_err_set(e, AB_EUSAGE, "--folds %d: expected 2..100", o->folds);
  if (o->fold < 0 || o->fold >= o->folds)
    return ab_err_set(e, AB_EUSAGE, "fold %d of %d does not exist", o->fold, o->folds);
  return AB_OK;
}

/* The table to prepare: t itself, or a copy with transformed features in *copy. */
static const ab_table *transformed(ab_table *copy, const ab_table *t, ab_transform tr) {
  if (!(tr & AB_TRANSFORM_LOG1P)) return t;
  *copy = *t;
  copy->x = malloc((t->n ? t->n : 1) * AB_NFEAT * sizeof *copy->x);
  if (!copy->x) return NULL;
  memcpy(copy->x, t->x, t->n * AB_NFEAT * sizeof *copy->x);
  ab_transform_rows(copy->x, t->n, tr);
  return copy;
}

/* Shuffles the balanced rows and splits them (re-dealing folds); fits and applies the
 * scaler. rows: [n] balanced rows in file order, reordered here. */
static int split_rows(ab_splits *s, const ab_table *t, const ab_prep_opts *opt, uint32_t *rows,
                      size_t n) {
  if (opt->compat) fit_scaler(s->mean, s->std, t, rows, n);
  ab_rng r;
  ab_rng_seed(&r, opt->seed, STREAM_SHUFFLE);
  ab_rng_shuffle_u32(&r, rows, (uint32_t)n);
  size_t ntr = n * (size_t)opt->split[0] / 100, nva = n * (size_t)opt->split[1] / 100;
  uint32_t *use = rows, *dealt = NULL;
  if (opt->folds >= 2) {
    uint8_t *isval = malloc(n ? n : 1);
    if (!isval || !(dealt = malloc((n ? n : 1) * sizeof *dealt))) { free(isval); return -1; }
    memcpy(dealt, rows, n * sizeof *dealt);
    size_t pool = ntr + nva;
    deal_folds(dealt, &ntr, isval, rows, pool, t, opt->folds, opt->fold);
    nva = pool - ntr;
    use = dealt;
    free(isval);
  }
  if (!opt->compat) fit_scaler(s->mean, s->std, t, use, ntr);
  int bad = fill_split(&s->train, t, use, ntr, s) ||
            fill_split(&s->val, t, use + ntr, nva, s) ||
            fill_split(&s->test, t, use + ntr + nva, n - ntr - nva, s);
  free(dealt);
  return bad ? -1 : 0;
}

/* The network's inputs of a split encoded with the fitted tables. */
static int encode_split(ab_split *sp, const ab_encoder *enc) {
  sp->d = enc->width;
  if (!(sp->in = malloc((sp->n ? sp->n : 1) * (size_t)enc->width * sizeof *sp->in))) return -1;
  ab_encode_rows(enc, sp->in, sp->x, sp->n);
  return 0;
}

/* te and ple: fitted on the training split (target encoding out of fold there). */
static int encode_splits(ab_splits *s, const ab_prep_opts *o, ab_err *e) {
  int ple = ab_transform_ple(o->transform), te = (o->transform & AB_TRANSFORM_TE) != 0;
  if (!ple && !te) return AB_OK;
  int rc = ab_encoder_fit(&s->enc, &s->train.in, s->train.x, s->train.y, s->train.n, ple, te,
                          o->seed, e);
  if (!rc) s->train.d = s->enc.width;
  if (!rc && (encode_split(&s->val, &s->enc) || encode_split(&s->test, &s->enc)))
    rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  return rc;
}

int ab_prep(ab_splits *s, const ab_table *t0, const ab_prep_opts *o, ab_err *e) {
  memset(s, 0, sizeof *s);
  ab_encoder_init(&s->enc);
  if (!t0->y) return ab_err_set(e, AB_EINPUT, "training data needs a target column");
  if (!ab_transform_valid(o->transform)) return ab_err_set(e, AB_EUSAGE, "unknown input transform");
  int rc = check_folds(o, e);
  if (rc) return rc;
  ab_prep_opts opt = *o;
  if (opt.compat) opt.balance = AB_BALANCE_FIRST;
  ab_table copy;
  const ab_table *t = transformed(&copy, t0, opt.transform);
  size_t n;
  uint32_t *rows = t ? balance_rows(t, &opt, &n) : NULL;
  if (!rows) {
    if (t && t != t0) free(copy.x);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  s->n_total = t->n;
  for (size_t i = 0; i < t->n; i++) s->n_pos_total += t->y[i];
  s->n_balanced = n;
  int bad = split_rows(s, t, &opt, rows, n);
  free(rows);
  if (t != t0) free(copy.x);
  rc = bad ? ab_err_set(e, AB_ENOMEM, "out of memory") : encode_splits(s, &opt, e);
  if (rc) ab_splits_free(s);
  return rc;
}

static void split_free(ab_split *sp) {
  if (sp->in != sp->x) free(sp->in);
  free(sp->row); free(sp->x); free(sp->y);
  ab_ids_free(&sp->ids);
  memset(sp, 0, sizeof *sp);
}

void ab_splits_free(ab_splits *s) {
  split_free(&s->train);
  split_free(&s->val);
  split_free(&s->test);
  ab_encoder_free(&s->enc);
}

/* One class's rows (y[i] == c) shuffled; the first round(frac * count) are held out. */
static size_t pick_class(uint8_t *test, uint32_t *idx, const uint8_t *y, size_t n, int c,
                         double frac, ab_rng *rng) {
  uint32_t k = 0;
  for (size_t i = 0; i < n; i++)
    if ((y[i] != 0) == c) idx[k++] = (uint32_t)i;
  ab_rng_shuffle_u32(rng, idx, k);
  size_t take = (size_t)llround(frac * k);
  for (size_t i = 0; i < take; i++) test[idx[i]] = 1;
  return take;
}

size_t ab_holdout_pick(uint8_t *test, const uint8_t *y, size_t n, double frac, uint64_t seed) {
  uint32_t *idx = malloc((n ? n : 1) * sizeof *idx);
  if (!idx) return SIZE_MAX;
  memset(test, 0, n);
  ab_rng rng;
  ab_rng_seed(&rng, seed, STREAM_HOLDOUT);
  size_t k = pick_class(test, idx, y, n, 0, frac, &rng);
  k += pick_class(test, idx, y, n, 1, frac, &rng);
  free(idx);
  return k;
}
