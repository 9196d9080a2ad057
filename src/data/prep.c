/* Prep: balance by undersampling, seeded shuffle, split, standardise.
 * Default: balance random -> shuffle -> split -> fit scaler on train -> scale all.
 * --seed-compat (the notebook): balance first -> fit scaler on all -> shuffle -> split. */
#include "abgpu/prep.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/rng.h"

/* RNG streams of prep (train.c uses 1 and 2). */
enum { STREAM_BALANCE = 3, STREAM_SHUFFLE = 4 };

static const char *const balance_names[] = {"random", "first", "none"};

int ab_balance_parse(ab_balance *out, const char *s) {
  for (int i = 0; i < 3; i++)
    if (strcmp(s, balance_names[i]) == 0) { *out = (ab_balance)i; return 0; }
  return -1;
}

const char *ab_balance_name(ab_balance b) { return (unsigned)b < 3 ? balance_names[b] : "?"; }

ab_prep_opts ab_prep_opts_default(void) {
  ab_prep_opts o = {AB_BALANCE_RANDOM, 1, {80, 10, 10}, 0};
  return o;
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
  sp->id = malloc((n ? n : 1) * sizeof *sp->id);
  sp->x = malloc((n ? n : 1) * AB_NFEAT * sizeof *sp->x);
  sp->y = malloc((n ? n : 1) * sizeof *sp->y);
  if (!sp->id || !sp->x || !sp->y) return -1;
  for (size_t i = 0; i < n; i++) {
    sp->id[i] = t->id[rows[i]];
    sp->y[i] = t->y[rows[i]];
    memcpy(sp->x + i * AB_NFEAT, t->x + (size_t)rows[i] * AB_NFEAT, AB_NFEAT * sizeof(float));
  }
  ab_scale_rows(sp->x, n, s->mean, s->std);
  return 0;
}

int ab_prep(ab_splits *s, const ab_table *t, const ab_prep_opts *o, ab_err *e) {
  memset(s, 0, sizeof *s);
  if (!t->y) return ab_err_set(e, AB_EINPUT, "training data needs a target column");
  ab_prep_opts opt = *o;
  if (opt.compat) opt.balance = AB_BALANCE_FIRST;
  size_t n;
  uint32_t *rows = balance_rows(t, &opt, &n);
  if (!rows) return ab_err_set(e, AB_ENOMEM, "out of memory");
  s->n_total = t->n;
  for (size_t i = 0; i < t->n; i++) s->n_pos_total += t->y[i];
  s->n_balanced = n;
  if (opt.compat) fit_scaler(s->mean, s->std, t, rows, n);
  ab_rng r;
  ab_rng_seed(&r, opt.seed, STREAM_SHUFFLE);
  ab_rng_shuffle_u32(&r, rows, (uint32_t)n);
  size_t ntr = n * (size_t)opt.split[0] / 100, nva = n * (size_t)opt.split[1] / 100;
  if (!opt.compat) fit_scaler(s->mean, s->std, t, rows, ntr);
  int bad = fill_split(&s->train, t, rows, ntr, s) ||
            fill_split(&s->val, t, rows + ntr, nva, s) ||
            fill_split(&s->test, t, rows + ntr + nva, n - ntr - nva, s);
  free(rows);
  if (bad) {
    ab_splits_free(s);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  return AB_OK;
}

static void split_free(ab_split *sp) {
  free(sp->id); free(sp->x); free(sp->y);
  memset(sp, 0, sizeof *sp);
}

void ab_splits_free(ab_splits *s) {
  split_free(&s->train);
  split_free(&s->val);
  split_free(&s->test);
}
