/* Scoring raw customer rows with a model: fill empty fields with the model's values,
 * apply its input transform (log1p), standardise with its scaler, encode (te, ple) with
 * the tables fitted at training time, and run the network forward in blocks of rows.
 * Never uses statistics of the file being scored.
 *
 * ab_model_forward (any scorer left NULL) uses the reference ops (ref.h):
 * bit-reproducible on every machine. eval, predict, importance and train's figures after
 * training use a backend's predictor (predictor.h): the device of --device. Both apply
 * the model's calibrator (if any) to the networks' mean, the one place a probability
 * leaves the model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/model.h"
#include "abgpu/ref.h"

#define FWD_BLOCK 256 /* rows per forward block: activations stay in cache */

void ab_model_prepare(const ab_model *m, float *x, size_t n, uint64_t *nfilled) {
  for (size_t i = 0; i < n; i++) {
    float *row = &x[i * AB_NFEAT];
    for (int j = 0; j < AB_NFEAT; j++)
      if (isnan(row[j])) {
        row[j] = m->fill[j];
        if (nfilled) nfilled[j]++;
      }
    ab_transform_rows(row, 1, m->prep.transform);
    for (int j = 0; j < AB_NFEAT; j++) row[j] = (row[j] - m->mean[j]) / m->std[j];
  }
}

/* One block of B rows through one network: prob[i] = P(class 1). a, b: scratch
 * [FWD_BLOCK][maxdim]. */
static void forward_block(const ab_net *net, const float *x, int B, float *a, float *b,
                          float *prob) {
  const ab_arch *ar = &net->arch;
  size_t P = ab_arch_nparams(ar);
  const float *in = x;
  for (int l = 0; l < ar->nlayers; l++) {
    float *out = l % 2 ? b : a;
    const float *W = net->params + ab_arch_w_off(ar, l), *bias = net->params + ab_arch_b_off(ar, l);
    ab_ref_linear_act_fwd(out, in, W, bias, ar->act[l], 1, B, ar->dims[l], ar->dims[l + 1], P);
    in = out;
  }
  ab_ref_prob1(prob, in, 1, B);
}

/* Network inputs of one block: the prepared rows, or their encoding in enc [B][width]. */
static const float *block_inputs(const ab_model *m, const float *xs, int B, float *enc) {
  if (!ab_encoder_active(&m->enc)) return xs;
  ab_encode_rows(&m->enc, enc, xs, (size_t)B);
  return enc;
}

int ab_model_forward(const ab_model *m, const float *xs, size_t n, float *prob, ab_err *e) {
  int maxdim = 0, active = ab_encoder_active(&m->enc);
  for (int k = 0; k < m->nnets; k++) {
    int d = ab_arch_maxdim(&m->nets[k].arch);
    maxdim = d > maxdim ? d : maxdim;
  }
  float *a = malloc((size_t)FWD_BLOCK * maxdim * 2 * sizeof *a), *p = malloc(FWD_BLOCK * sizeof *p);
  float *enc = active ? malloc((size_t)FWD_BLOCK * m->enc.width * sizeof *enc) : NULL;
  if (!a || !p || (active && !enc) || m->nnets < 1) {
    free(a); free(p); free(enc);
    return ab_err_set(e, m->nnets < 1 ? AB_EINPUT : AB_ENOMEM,
                      m->nnets < 1 ? "the model has no network" : "out of memory");
  }
  for (size_t i0 = 0; i0 < n; i0 += FWD_BLOCK) {
    int B = (int)(n - i0 < FWD_BLOCK ? n - i0 : FWD_BLOCK);
    const float *in = block_inputs(m, xs + i0 * AB_NFEAT, B, enc);
    for (int i = 0; i < B; i++) prob[i0 + i] = 0.0f;
    for (int k = 0; k < m->nnets; k++) {
      forward_block(&m->nets[k], in, B, a, a + (size_t)FWD_BLOCK * maxdim, p);
      for (int i = 0; i < B; i++) prob[i0 + i] += m->nnets == 1 ? p[i] : p[i] / (float)m->nnets;
    }
    ab_calib_apply_n(&m->calib, prob + i0, (size_t)B);
  }
  free(a);
  free(p);
  free(enc);
  return AB_OK;
}

int ab_scorer_run(ab_scorer sc, const ab_model *m, const float *xs, size_t n, float *prob,
                  ab_err *e) {
  return sc.fn ? sc.fn(sc.user, xs, n, prob, e) : ab_model_forward(m, xs, n, prob, e);
}

int ab_model_score_split(float *prob, uint8_t *y, const ab_model *m, const ab_split *sp,
                         ab_err *e) {
  for (size_t i = 0; i < sp->n; i++) y[i] = sp->y[i] != 0;
  return ab_model_forward(m, sp->x, sp->n, prob, e);
}

/* ---- whole files ---- */

/* A non-finite probability means a row's values lie so far outside the training data
 * that the network overflows: that row is refused (its line named), never scored NaN. */
static int check_finite(const float *prob, size_t n, ab_csv_reader *r, uint64_t row0,
                        ab_err *e) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(prob[i]))
      return ab_err_set(e, AB_EINPUT, "%s:%llu:1: this customer's values lie too far outside "
                        "the model's training data for a finite probability; expected values "
                        "near those it was trained on", ab_csv_reader_name(r),
                        (unsigned long long)ab_csv_reader_row_line(r, row0 + i));
  return AB_OK;
}

static int scored_grow(ab_scored *s, size_t cap, int with_y) {
  float *x = realloc(s->x, cap * AB_NFEAT * sizeof *x);
  if (x) s->x = x;
  uint8_t *y = x && with_y ? realloc(s->y, cap) : NULL;
  if (y) s->y = y;
  return !x || (with_y && !y) ? -1 : 0;
}

static int read_scored(ab_scored *s, ab_csv_reader *r, ab_err *e) {
  size_t cap = 0, got = 0;
  int with_y = ab_csv_reader_has_target(r), rc = AB_OK;
  do {
    if (s->n + 65536 > cap) {
      cap = cap ? cap * 2 : 131072;
      if (scored_grow(s, cap, with_y)) return ab_err_set(e, AB_ENOMEM, "out of memory at %zu rows", s->n);
    }
    rc = ab_csv_reader_next(r, &s->ids, s->x + s->n * AB_NFEAT, with_y ? s->y + s->n : NULL,
                            65536, &got, e);
    s->n += got;
  } while (!rc && got > 0);
  return rc;
}

int ab_model_score_file(ab_scored *s, const ab_model *m, const char *path,
                        const ab_csv_format *fmt, int need_target, ab_scorer sc, ab_err *e) {
  memset(s, 0, sizeof *s);
  ab_csv_reader *r;
  int rc = ab_csv_reader_open(&r, path, fmt, 1, e);
  if (rc) return rc;
  if (need_target && !ab_csv_reader_has_target(r))
    rc = ab_err_set(e, AB_EINPUT, "%s:1:1: the file has no target column; expected 12 columns "
                    "(id, 10 features, target) to evaluate", path);
  if (!rc) rc = read_scored(s, r, e);
  if (!rc && s->n == 0)
    rc = ab_err_set(e, AB_EINPUT, "%s:%llu:1: no customer rows", path,
                    (unsigned long long)ab_csv_reader_line(r));
  if (!rc) s->data_hash = ab_model_rows_hash(&s->ids, s->x, s->y, s->n, m->fill);
  if (!rc) ab_model_prepare(m, s->x, s->n, s->nfilled);
  if (!rc && !(s->prob = malloc(s->n * sizeof *s->prob)))
    rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) rc = ab_scorer_run(sc, m, s->x, s->n, s->prob, e);
  if (!rc) rc = check_finite(s->prob, s->n, r, 0, e);
  if (!rc) ab_csv_reader_notes(r);
  ab_csv_reader_close(r);
  if (rc) ab_scored_free(s);
  return rc;
}

void ab_scored_free(ab_scored *s) {
  ab_ids_free(&s->ids);
  free(s->x);
  free(s->y);
  free(s->prob);
  memset(s, 0, sizeof *s);
}

/* ---- streaming ---- */

typedef struct chunk { ab_ids ids; float *x, *prob; } chunk;

int ab_predict_stream(const ab_model *m, ab_scorer sc, const char *path,
                      const ab_csv_format *fmt, size_t cap,
                      ab_predict_fn fn, void *user, uint64_t *nfilled, ab_err *e) {
  ab_csv_reader *r;
  int rc = ab_csv_reader_open(&r, path, fmt, 1, e);
  if (rc) return rc;
  if (cap == 0) cap = 65536;
  chunk c = {{0}, malloc(cap * AB_NFEAT * sizeof *c.x), malloc(cap * sizeof *c.prob)};
  if (!c.x || !c.prob) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  size_t got = 0;
  uint64_t row0 = 0;
  while (!rc) {
    ab_ids_truncate(&c.ids, 0);
    if ((rc = ab_csv_reader_next(r, &c.ids, c.x, NULL, cap, &got, e)) || got == 0) break;
    ab_model_prepare(m, c.x, got, nfilled);
    if (!(rc = ab_scorer_run(sc, m, c.x, got, c.prob, e)))
      rc = check_finite(c.prob, got, r, row0, e);
    if (!rc) rc = fn(user, &c.ids, c.prob, got, e);
    row0 += got;
  }
  if (!rc && row0 == 0) /* as eval says it: a header alone is not customers to score */
    rc = ab_err_set(e, AB_EINPUT, "%s:%llu:1: no customer rows", path,
                    (unsigned long long)ab_csv_reader_line(r));
  if (!rc) ab_csv_reader_notes(r);
  ab_ids_free(&c.ids);
  free(c.x);
  free(c.prob);
  ab_csv_reader_close(r);
  return rc;
}
