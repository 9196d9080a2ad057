/* Classification metrics, gains/lift by decile, prior correction and the threshold
 * chooser. Sums in double; ranks are stable (ties in row order), so every figure is
 * reproducible. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/model.h"

double ab_prior_correct(double p, double prior, double rho) {
  if (!(prior > 0 && prior < 1) || !(rho > 0 && rho < 1) || prior == rho) return p;
  double a = p * prior / rho, b = (1.0 - p) * (1.0 - prior) / (1.0 - rho);
  return a + b > 0 ? a / (a + b) : p;
}

/* ---- ranking ---- */

static int cmp_pair(const void *a, const void *b) {
  const ab_scorepair *x = a, *y = b;
  if (x->p != y->p) return x->p > y->p ? -1 : 1;
  return (x->i > y->i) - (x->i < y->i);
}

/* Sort key of p: descending p is ascending key; -0 and +0 share one (they tie). */
static uint32_t rank_key(float p) {
  uint32_t u;
  if (p == 0.0f) p = 0.0f;
  memcpy(&u, &p, sizeof u);
  u = u >> 31 ? ~u : u | 0x80000000u; /* ascending in p */
  return ~u;
}

/* Stable LSD radix sort on rank_key, 11 bits a pass: the order cmp_pair gives (ties in
 * row order, since the pairs start in row order). 0 when out of memory. */
static int radix_rank(ab_scorepair *pairs, size_t n) {
  ab_scorepair *tmp = malloc(n * sizeof *tmp);
  size_t *count = malloc(2048 * sizeof *count);
  if (!tmp || !count) { free(tmp); free(count); return 0; }
  ab_scorepair *src = pairs, *dst = tmp;
  for (int shift = 0; shift < 33; shift += 11) {
    memset(count, 0, 2048 * sizeof *count);
    for (size_t i = 0; i < n; i++) count[(rank_key(src[i].p) >> shift) & 2047]++;
    for (size_t b = 0, sum = 0; b < 2048; b++) { size_t c = count[b]; count[b] = sum; sum += c; }
    for (size_t i = 0; i < n; i++) dst[count[(rank_key(src[i].p) >> shift) & 2047]++] = src[i];
    ab_scorepair *t = src; src = dst; dst = t;
  }
  if (src != pairs) memcpy(pairs, src, n * sizeof *pairs);
  free(tmp);
  free(count);
  return 1;
}

void ab_rank(ab_scorepair *pairs, const float *prob, size_t n) {
  int nan = 0;
  for (size_t i = 0; i < n; i++) {
    pairs[i].p = prob[i];
    pairs[i].i = (uint32_t)i;
    nan |= isnan(prob[i]);
  }
  if (n < 4096 || nan || !radix_rank(pairs, n)) qsort(pairs, n, sizeof *pairs, cmp_pair);
}

static size_t count_pos(const uint8_t *y, size_t n) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) k += y[i] != 0;
  return k;
}

/* End (exclusive) of the tie group that starts at i. */
static size_t tie_end(const ab_scorepair *r, size_t i, size_t n) {
  size_t j = i + 1;
  while (j < n && r[j].p == r[i].p) j++;
  return j;
}

static double auc_ranked(const ab_scorepair *r, const uint8_t *y, size_t n) {
  double P = (double)count_pos(y, n), N = (double)n - P, tp = 0, area = 0;
  if (P == 0 || N == 0) return NAN;
  for (size_t i = 0; i < n;) {
    size_t j = tie_end(r, i, n);
    double dp = 0, dn = 0;
    for (size_t k = i; k < j; k++) *(y[r[k].i] ? &dp : &dn) += 1;
    area += dn * (tp + dp / 2); /* positives above each negative, ties counted half */
    tp += dp;
    i = j;
  }
  return area / (P * N);
}

double ab_roc_auc(const float *prob, const uint8_t *y, size_t n, ab_scorepair *scratch) {
  ab_rank(scratch, prob, n);
  return auc_ranked(scratch, y, n);
}

double ab_pr_auc_ranked(const ab_scorepair *r, const uint8_t *y, size_t n) {
  double P = (double)count_pos(y, n), tp = 0, ap = 0;
  if (P == 0) return NAN;
  for (size_t i = 0; i < n;) {
    size_t j = tie_end(r, i, n);
    double dp = 0;
    for (size_t k = i; k < j; k++) dp += y[r[k].i] != 0;
    tp += dp;
    ap += (dp / P) * (tp / (double)j);
    i = j;
  }
  return ap;
}

size_t ab_roc_curve(double *fpr, double *tpr, size_t max, const ab_scorepair *r,
                    const uint8_t *y, size_t n) {
  double P = (double)count_pos(y, n), N = (double)n - P, tp = 0, fp = 0;
  size_t k = 0, ngroups = 0;
  if (max < 2 || P == 0 || N == 0) return 0;
  for (size_t i = 0; i < n; i = tie_end(r, i, n)) ngroups++;
  size_t every = ngroups / (max - 2) + 1;
  fpr[k] = tpr[k] = 0;
  k++;
  size_t g = 0;
  for (size_t i = 0; i < n; g++) {
    size_t j = tie_end(r, i, n);
    for (size_t q = i; q < j; q++) *(y[r[q].i] ? &tp : &fp) += 1;
    i = j;
    if ((g + 1) % every == 0 && i < n && k < max - 1) {
      fpr[k] = fp / N;
      tpr[k++] = tp / P;
    }
  }
  fpr[k] = tpr[k] = 1;
  return k + 1;
}

/* ---- point metrics ---- */

static double prob_of(const float *prob, size_t i, double prior, double rho) {
  double p = prob[i];
  return prior > 0 ? ab_prior_correct(p, prior, rho) : p;
}

double ab_log_loss(const float *prob, const uint8_t *y, size_t n, double prior, double rho) {
  double s = 0;
  for (size_t i = 0; i < n; i++) {
    double p = prob_of(prob, i, prior, rho), q = y[i] ? p : 1.0 - p;
    s -= log(q > 1e-15 ? q : 1e-15);
  }
  return n ? s / (double)n : NAN;
}

double ab_brier(const float *prob, const uint8_t *y, size_t n, double prior, double rho) {
  double s = 0;
  for (size_t i = 0; i < n; i++) {
    double d = prob_of(prob, i, prior, rho) - (y[i] ? 1.0 : 0.0);
    s += d * d;
  }
  return n ? s / (double)n : NAN;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

static void confusion(ab_metrics *m, const float *prob, const uint8_t *y, size_t n, double t) {
  for (size_t i = 0; i < n; i++) {
    int pred = prob[i] >= t;
    if (y[i]) pred ? m->tp++ : m->fn++;
    else pred ? m->fp++ : m->tn++;
  }
  m->accuracy = ratio((double)(m->tp + m->tn), (double)n);
  m->precision = ratio((double)m->tp, (double)(m->tp + m->fp));
  m->recall = ratio((double)m->tp, (double)(m->tp + m->fn));
  m->f1 = ratio(2.0 * m->precision * m->recall, m->precision + m->recall);
}

int ab_metrics_compute(ab_metrics *m, const float *prob, const uint8_t *y, size_t n,
                       double threshold, double prior, double rho, ab_err *e) {
  memset(m, 0, sizeof *m);
  ab_scorepair *r = malloc((n ? n : 1) * sizeof *r);
  if (!r) return ab_err_set(e, AB_ENOMEM, "out of memory for %zu scores", n);
  m->n = n;
  m->npos = count_pos(y, n);
  m->threshold = threshold;
  confusion(m, prob, y, n, threshold);
  ab_rank(r, prob, n);
  m->roc_auc = auc_ranked(r, y, n);
  m->pr_auc = ab_pr_auc_ranked(r, y, n);
  free(r);
  m->log_loss = ab_log_loss(prob, y, n, 0, 0);
  m->brier = ab_brier(prob, y, n, 0, 0);
  m->prior = prior > 0 ? prior : NAN;
  m->log_loss_corrected = prior > 0 ? ab_log_loss(prob, y, n, prior, rho) : NAN;
  m->brier_corrected = prior > 0 ? ab_brier(prob, y, n, prior, rho) : NAN;
  return AB_OK;
}

/* ---- gains and the threshold chooser ---- */

static void gains_rows(ab_gains *g, const ab_scorepair *r, const uint8_t *y, double prior,
                       double rho) {
  size_t start = 0;
  uint64_t buyers = 0;
  for (int d = 1; d <= 10; d++) {
    ab_gains_row *w = &g->row[d - 1];
    size_t end = (size_t)((g->n * (uint64_t)d) / 10);
    double band_pos = 0, band_p = 0;
    for (size_t k = start; k < end; k++) {
      band_pos += y[r[k].i] != 0;
      band_p += prior > 0 ? ab_prior_correct(r[k].p, prior, rho) : r[k].p;
    }
    buyers += (uint64_t)band_pos;
    w->decile = d;
    w->contacted = end;
    w->buyers = buyers;
    w->contacted_share = ratio((double)end, (double)g->n);
    w->buyers_share = ratio((double)buyers, (double)g->npos);
    w->lift = ratio(w->buyers_share, w->contacted_share);
    w->band_rate = ratio(band_pos, (double)(end - start));
    w->band_prob = ratio(band_p, (double)(end - start));
    start = end;
  }
}

int ab_gains_compute(ab_gains *g, const float *prob, const uint8_t *y, size_t n, double prior,
                     double rho, ab_err *e) {
  memset(g, 0, sizeof *g);
  ab_scorepair *r = malloc((n ? n : 1) * sizeof *r);
  if (!r) return ab_err_set(e, AB_ENOMEM, "out of memory for %zu scores", n);
  g->n = n;
  g->npos = count_pos(y, n);
  g->corrected = prior > 0;
  ab_rank(r, prob, n);
  gains_rows(g, r, y, prior, rho);
  free(r);
  return AB_OK;
}

void ab_reliability_compute(ab_reliability *r, const float *prob, const uint8_t *y, size_t n,
                            double prior, double rho) {
  double sum[AB_RELIABILITY_BINS] = {0};
  memset(r, 0, sizeof *r);
  r->corrected = prior > 0;
  for (size_t i = 0; i < n; i++) {
    double p = prob_of(prob, i, prior, rho);
    /* within 1e-6 below an edge counts as on it: float 0.9 is 0.8999999762 */
    double v = p * AB_RELIABILITY_BINS + 1e-6;
    int b = v >= AB_RELIABILITY_BINS ? AB_RELIABILITY_BINS - 1 : v > 0 ? (int)v : 0;
    r->bin[b].n++;
    r->bin[b].buyers += y[i] != 0;
    sum[b] += p;
  }
  for (int b = 0; b < AB_RELIABILITY_BINS; b++) {
    double k = (double)r->bin[b].n;
    r->bin[b].mean_prob = k > 0 ? sum[b] / k : NAN;
    r->bin[b].rate = k > 0 ? (double)r->bin[b].buyers / k : NAN;
  }
}

/* Smallest contact count at a tie-group end whose recall reaches the target. */
static size_t recall_cut(const ab_scorepair *r, const uint8_t *y, size_t n, double P, double want) {
  double tp = 0;
  for (size_t i = 0; i < n;) {
    size_t j = tie_end(r, i, n);
    for (size_t k = i; k < j; k++) tp += y[r[k].i] != 0;
    if (tp >= want * P - 1e-9) return j;
    i = j;
  }
  return n;
}

int ab_choose_threshold(ab_choice *c, const float *prob, const uint8_t *y, size_t n,
                        ab_choose_mode mode, double target, ab_err *e) {
  memset(c, 0, sizeof *c);
  c->mode = mode;
  c->target = target;
  if (n == 0) return ab_err_set(e, AB_EINPUT, "no customers to choose a threshold on");
  ab_scorepair *r = malloc(n * sizeof *r);
  if (!r) return ab_err_set(e, AB_ENOMEM, "out of memory for %zu scores", n);
  ab_rank(r, prob, n);
  double P = (double)count_pos(y, n);
  size_t k = mode == AB_CHOOSE_RECALL ? recall_cut(r, y, n, P, target)
             : target >= (double)n ? n : (size_t)target;
  if (k == 0) k = 1;
  for (size_t i = 0; i < k; i++) c->tp += y[r[i].i] != 0;
  c->contacted = k;
  c->threshold = r[k - 1].p;
  c->precision = ratio((double)c->tp, (double)k);
  c->recall = ratio((double)c->tp, P);
  free(r);
  return AB_OK;
}

/* ---- figures at another share of buyers, by weighting the classes ---- */

/* Weighted sums over the rows: buyers count w1 each, the others w0. */
typedef struct wsum {
  double w1, w0, ll, ll_c, br, br_c, tp, fp, tn, fn;
} wsum;

static void wsum_rows(wsum *s, const float *prob, const uint8_t *y, size_t n, double t,
                      double prior, double rho) {
  for (size_t i = 0; i < n; i++) {
    double w = y[i] ? s->w1 : s->w0, p = prob[i], c = ab_prior_correct(p, prior, rho);
    double q = y[i] ? p : 1.0 - p, qc = y[i] ? c : 1.0 - c, o = y[i] ? 1.0 : 0.0;
    s->ll -= w * log(q > 1e-15 ? q : 1e-15);
    s->ll_c -= w * log(qc > 1e-15 ? qc : 1e-15);
    s->br += w * (p - o) * (p - o);
    s->br_c += w * (c - o) * (c - o);
    int pred = p >= t;
    *(y[i] ? (pred ? &s->tp : &s->fn) : (pred ? &s->fp : &s->tn)) += w;
  }
}

/* Weighted average precision and the lift of the top tenth of the weight. */
static void wsum_ranked(const wsum *s, const ab_scorepair *r, const uint8_t *y, size_t n,
                        double *ap, double *lift) {
  double P = s->tp + s->fn, total = P + s->fp + s->tn, tp = 0, all = 0;
  *ap = 0;
  *lift = NAN;
  for (size_t i = 0; i < n;) {
    size_t j = tie_end(r, i, n);
    double dp = 0, dn = 0;
    for (size_t k = i; k < j; k++) *(y[r[k].i] ? &dp : &dn) += 1;
    tp += dp * s->w1;
    all += dp * s->w1 + dn * s->w0;
    *ap += (dp * s->w1 / P) * (tp / all);
    if (isnan(*lift) && all >= total / 10) *lift = ratio(tp / P, all / total);
    i = j;
  }
}

int ab_metrics_at_prior(ab_metrics *m, double *lift, const float *prob, const uint8_t *y,
                        size_t n, double threshold, double prior, double rho, ab_err *e) {
  size_t P = count_pos(y, n);
  if (!(prior > 0 && prior < 1) || P == 0 || P == n)
    return ab_err_set(e, AB_EINPUT, "class weights need both classes and a share in (0, 1)");
  ab_scorepair *r = malloc(n * sizeof *r);
  if (!r) return ab_err_set(e, AB_ENOMEM, "out of memory for %zu scores", n);
  wsum s = {.w1 = prior * (double)n / (double)P, .w0 = (1 - prior) * (double)n / (double)(n - P)};
  wsum_rows(&s, prob, y, n, threshold, prior, rho);
  memset(m, 0, sizeof *m);
  m->n = n;
  m->npos = (uint64_t)llround(s.tp + s.fn);
  m->threshold = threshold;
  m->tp = (uint64_t)llround(s.tp), m->fp = (uint64_t)llround(s.fp);
  m->tn = (uint64_t)llround(s.tn), m->fn = (uint64_t)llround(s.fn);
  m->accuracy = ratio(s.tp + s.tn, (double)n);
  m->precision = ratio(s.tp, s.tp + s.fp);
  m->recall = ratio(s.tp, s.tp + s.fn);
  m->f1 = ratio(2.0 * m->precision * m->recall, m->precision + m->recall);
  ab_rank(r, prob, n);
  m->roc_auc = auc_ranked(r, y, n); /* class weights leave it unchanged */
  wsum_ranked(&s, r, y, n, &m->pr_auc, lift);
  free(r);
  m->log_loss = s.ll / (double)n, m->brier = s.br / (double)n;
  m->prior = prior;
  m->log_loss_corrected = s.ll_c / (double)n, m->brier_corrected = s.br_c / (double)n;
  return AB_OK;
}
