/* Calibration of a model's probabilities on a labelled set (the validation split):
 * Platt scaling, p' = sigmoid(a*logit(p) + b) with a and b fitted by Newton's method on
 * the log loss, and isotonic regression by pool-adjacent-violators. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/model.h"

#define PLATT_CLIP 1e-7   /* probabilities are clipped to [c, 1-c] before the logit */
#define PLATT_ITERS 100

static double logit(double p) {
  p = p < PLATT_CLIP ? PLATT_CLIP : p > 1 - PLATT_CLIP ? 1 - PLATT_CLIP : p;
  return log(p / (1 - p));
}

double ab_platt_apply(double p, double a, double b) {
  return 1.0 / (1.0 + exp(-(a * logit(p) + b)));
}

/* Mean log loss at (a, b); the gradient and Hessian of the sum when g, h are given. */
static double platt_loss(const float *prob, const uint8_t *y, size_t n, double a, double b,
                         double g[2], double h[3]) {
  double s = 0;
  if (g) g[0] = g[1] = h[0] = h[1] = h[2] = 0;
  for (size_t i = 0; i < n; i++) {
    double z = logit(prob[i]), t = a * z + b, q = 1.0 / (1.0 + exp(-t)), d = q - y[i];
    s += t > 0 ? log1p(exp(-t)) + (y[i] ? 0 : t) : log1p(exp(t)) - (y[i] ? t : 0);
    if (!g) continue;
    double w = q * (1 - q);
    g[0] += d * z, g[1] += d;
    h[0] += w * z * z, h[1] += w * z, h[2] += w;
  }
  return s / (double)n;
}

/* 1 when one class's clipped logits all lie at or above the other's (no finite fit), 2
 * when they are all equal. */
static int separated(const float *prob, const uint8_t *y, size_t n) {
  double lo[2] = {INFINITY, INFINITY}, hi[2] = {-INFINITY, -INFINITY};
  for (size_t i = 0; i < n; i++) {
    double z = logit(prob[i]);
    int c = y[i] != 0;
    lo[c] = z < lo[c] ? z : lo[c];
    hi[c] = z > hi[c] ? z : hi[c];
  }
  if (fmax(hi[0], hi[1]) == fmin(lo[0], lo[1])) return 2;
  return hi[0] <= lo[1] || hi[1] <= lo[0];
}

int ab_platt_fit(double *a, double *b, const float *prob, const uint8_t *y, size_t n,
                 ab_err *e) {
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) pos += y[i] != 0;
  *a = 1, *b = 0;
  if (pos == 0 || pos == n)
    return ab_err_set(e, AB_EINPUT, "calibration needs buyers and non-buyers (%zu of %zu)", pos, n);
  int sep = separated(prob, y, n);
  if (sep == 2)
    return ab_err_set(e, AB_EINPUT, "calibration: the probabilities do not vary enough to fit");
  if (sep)
    return ab_err_set(e, AB_EINPUT, "calibration: the model separates the %zu customers "
                      "completely (every buyer's probability on one side of every "
                      "non-buyer's), so Platt scaling has no finite slope; use isotonic or none", n);
  double g[2], h[3], loss = platt_loss(prob, y, n, *a, *b, g, h);
  for (int it = 0; it < PLATT_ITERS; it++) {
    double det = h[0] * h[2] - h[1] * h[1];
    if (!(det > 1e-12 * h[0] * h[2]))
      return ab_err_set(e, AB_EINPUT, "calibration: the probabilities do not vary enough to fit");
    double da = (h[2] * g[0] - h[1] * g[1]) / det, db = (h[0] * g[1] - h[1] * g[0]) / det;
    double step = 1, next = INFINITY;
    while (step > 1e-10 && !((next = platt_loss(prob, y, n, *a - step * da, *b - step * db,
                                                NULL, NULL)) <= loss))
      step /= 2; /* halve until the loss does not rise */
    if (step <= 1e-10) break;
    *a -= step * da, *b -= step * db;
    int done = fabs(step * da) < 1e-12 && fabs(step * db) < 1e-12;
    loss = platt_loss(prob, y, n, *a, *b, g, h);
    if (done) break;
  }
  if (!isfinite(*a) || !isfinite(*b) || *a <= 0)
    return ab_err_set(e, AB_EINPUT, "calibration: the fit reverses or loses the ranking "
                      "(a = %g); the model is not calibrated", *a);
  return AB_OK;
}

/* ---- isotonic regression ---- */

typedef struct iso_block { float lo, hi; uint64_t k, pos; } iso_block; /* p range, rows, buyers */

static int cmp_pair(const void *a, const void *b) {
  const ab_scorepair *x = a, *y = b;
  return (x->p > y->p) - (x->p < y->p);
}

/* Rows sorted ascending into blocks of equal probability; returns the count. */
static size_t tie_blocks(iso_block *bl, ab_scorepair *r, const float *prob, const uint8_t *y,
                         size_t n) {
  for (size_t i = 0; i < n; i++) r[i] = (ab_scorepair){prob[i], (uint32_t)i};
  qsort(r, n, sizeof *r, cmp_pair);
  size_t nb = 0;
  for (size_t i = 0; i < n; i++) {
    if (!nb || r[i].p != r[i - 1].p) bl[nb++] = (iso_block){r[i].p, r[i].p, 0, 0};
    bl[nb - 1].k++, bl[nb - 1].pos += y[r[i].i] != 0;
  }
  return nb;
}

/* Pool adjacent violators in place: merge a block into the one before while the earlier
 * one's buy rate is not below it (compared exactly, as integers), so the rates rise
 * strictly. Returns the blocks left. */
static size_t pav(iso_block *bl, size_t nb) {
  size_t top = 0;
  for (size_t i = 0; i < nb; i++) {
    bl[top++] = bl[i];
    while (top > 1 && bl[top - 2].pos * bl[top - 1].k >= bl[top - 1].pos * bl[top - 2].k) {
      iso_block *p = &bl[top - 2], *q = &bl[top - 1];
      p->hi = q->hi, p->k += q->k, p->pos += q->pos;
      top--;
    }
  }
  return top;
}

int ab_iso_fit(ab_calib *c, const float *prob, const uint8_t *y, size_t n, ab_err *e) {
  memset(c, 0, sizeof *c);
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) pos += y[i] != 0;
  if (pos == 0 || pos == n)
    return ab_err_set(e, AB_EINPUT, "calibration needs buyers and non-buyers (%zu of %zu)", pos, n);
  iso_block *bl = malloc(n * sizeof *bl);
  ab_scorepair *r = malloc(n * sizeof *r);
  if (!bl || !r) {
    free(bl), free(r);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  size_t nb = pav(bl, tie_blocks(bl, r, prob, y, n)), np = 0;
  free(r);
  for (size_t i = 0; i < nb; i++) np += 1 + (bl[i].lo < bl[i].hi);
  int rc = AB_OK;
  if (nb < 2)
    rc = ab_err_set(e, AB_EINPUT, "calibration: isotonic regression pools all %zu customers "
                    "into one block (the model does not rank them), a constant map", n);
  else if (np > AB_CALIB_MAX_POINTS)
    rc = ab_err_set(e, AB_EINPUT, "calibration: %zu isotonic breakpoints, more than %u", np,
                    AB_CALIB_MAX_POINTS);
  else if (!(c->x = malloc(np * sizeof *c->x)) || !(c->y = malloc(np * sizeof *c->y)))
    rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  for (size_t i = 0, k = 0; i < nb && !rc; i++) { /* a block: its lowest and highest p */
    double rate = (double)bl[i].pos / (double)bl[i].k;
    c->x[k] = bl[i].lo, c->y[k++] = rate;
    if (bl[i].lo < bl[i].hi) c->x[k] = bl[i].hi, c->y[k++] = rate;
  }
  free(bl);
  if (rc) {
    ab_calib_free(c);
    return rc;
  }
  c->kind = AB_CALIB_ISOTONIC;
  c->n = (uint32_t)np;
  return AB_OK;
}

/* Linear interpolation in the breakpoints, the end values beyond them. */
static double iso_apply(const ab_calib *c, double p) {
  const double *x = c->x, *y = c->y;
  if (p <= x[0]) return y[0];
  if (p >= x[c->n - 1]) return y[c->n - 1];
  size_t lo = 0, hi = c->n - 1; /* x[lo] < p < x[hi] */
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (x[mid] <= p) lo = mid;
    else hi = mid;
  }
  double t = (p - x[lo]) / (x[hi] - x[lo]);
  return y[lo] + t * (y[hi] - y[lo]);
}

double ab_calib_apply(const ab_calib *c, double p) {
  if (isnan(p) || c->kind == AB_CALIB_NONE) return p;
  return c->kind == AB_CALIB_PLATT ? ab_platt_apply(p, c->a, c->b) : iso_apply(c, p);
}

void ab_calib_apply_n(const ab_calib *c, float *prob, size_t n) {
  if (c->kind == AB_CALIB_NONE) return;
  for (size_t i = 0; i < n; i++) prob[i] = (float)ab_calib_apply(c, prob[i]);
}

int ab_calib_fit(ab_calib *c, ab_calib_kind k, const float *prob, const uint8_t *y, size_t n,
                 ab_err *e) {
  memset(c, 0, sizeof *c);
  int rc = AB_OK;
  if (k == AB_CALIB_PLATT && !(rc = ab_platt_fit(&c->a, &c->b, prob, y, n, e)))
    c->kind = AB_CALIB_PLATT;
  else if (k == AB_CALIB_ISOTONIC) rc = ab_iso_fit(c, prob, y, n, e);
  float *q = rc || !n ? NULL : malloc(n * sizeof *q);
  if (!rc && n && !q) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  if (rc) {
    ab_calib_free(c);
    return rc;
  }
  if (n) memcpy(q, prob, n * sizeof *q);
  ab_calib_apply_n(c, q, n);
  c->val_log_loss[0] = ab_log_loss(prob, y, n, 0, 0);
  c->val_brier[0] = ab_brier(prob, y, n, 0, 0);
  c->val_log_loss[1] = ab_log_loss(q, y, n, 0, 0);
  c->val_brier[1] = ab_brier(q, y, n, 0, 0);
  free(q);
  return AB_OK;
}

void ab_calib_free(ab_calib *c) {
  free(c->x);
  free(c->y);
  memset(c, 0, sizeof *c);
}

const char *ab_calib_name(ab_calib_kind k) {
  return k == AB_CALIB_PLATT ? "platt" : k == AB_CALIB_ISOTONIC ? "isotonic" : "none";
}

int ab_calib_parse(ab_calib_kind *k, const char *s) {
  static const ab_calib_kind all[] = {AB_CALIB_NONE, AB_CALIB_PLATT, AB_CALIB_ISOTONIC};
  for (int i = 0; i < 3; i++)
    if (!strcmp(s, ab_calib_name(all[i]))) { *k = all[i]; return 0; }
  return -1;
}
