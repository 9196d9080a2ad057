/* The model struct and its .abm file: little-endian fields in a fixed order after a
 * 32-byte header (magic, format, CRC-32 of everything after the CRC field, length).
 * docs/model-format.md lists every field. Format 5 (this one) added the calibration
 * section after the networks (formats 1 to 4 read as no calibration). Format 4 added the
 * dropout rate at the end of the training configuration (format 3 reads as 0). Format 3 added the
 * encoding section (te, ple) and the batch order, stopping rule, schedule and minimum
 * epochs; format 2 added the input transform and ensembles; formats 1 to 4 still load
 * (1 and 2: no encoding; format 1: no transform, one network). No timestamp is stored, so two identical trainings give
 * byte-identical files. */
#include "abgpu/model.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "abgpu/version.h"

void ab_model_init(ab_model *m) {
  memset(m, 0, sizeof *m);
  m->kind = AB_MODEL_SINGLE;
  snprintf(m->version, sizeof m->version, "%s", ABGPU_VERSION);
  for (int j = 0; j < AB_NFEAT; j++) {
    snprintf(m->feature_names[j], sizeof m->feature_names[j], "%s", ab_feature_names[j]);
    m->std[j] = 1.0f;
  }
  m->prior = m->train_ratio = 0.5;
  m->cfg = ab_train_cfg_default();
  m->prep = ab_prep_opts_default();
  ab_encoder_init(&m->enc);
}

static void free_nets(ab_model *m) {
  for (int i = 0; i < m->nnets && m->nets; i++) free(m->nets[i].params);
  free(m->nets);
  m->nets = NULL;
  m->nnets = 0;
}

void ab_model_free(ab_model *m) {
  free_nets(m);
  ab_encoder_free(&m->enc);
  ab_calib_free(&m->calib);
}

/* ---- training record ---- */

static uint64_t fnv(uint64_t h, const void *d, size_t n) {
  const uint8_t *p = d;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static uint64_t fnv_le(uint64_t h, uint64_t v, int bytes) {
  uint8_t b[8];
  for (int i = 0; i < bytes; i++) b[i] = (uint8_t)(v >> (8 * i));
  return fnv(h, b, (size_t)bytes);
}

/* An id into the hash: a plain integer (1-18 digits, no leading zero) as its 8-byte value,
 * as when ids were numbers (so such files keep their hash); any other as 0xFF, its length
 * and its bytes. */
static uint64_t hash_id(uint64_t h, const char *s) {
  uint64_t v = 0;
  size_t k = 0;
  for (; s[k] >= '0' && s[k] <= '9'; k++) v = v * 10 + (uint64_t)(s[k] - '0');
  if (!s[k] && k >= 1 && k <= 18 && (s[0] != '0' || k == 1)) return fnv_le(h, v, 8);
  uint8_t tag = 0xFF;
  h = fnv(h, &tag, 1);
  h = fnv_le(h, strlen(s), 8);
  return fnv(h, s, strlen(s));
}

uint64_t ab_model_rows_hash(const ab_ids *ids, const float *x, const uint8_t *y, size_t n,
                           const float *fill) {
  uint64_t h = fnv_le(0xcbf29ce484222325ULL, n, 8);
  for (size_t i = 0; i < n; i++) {
    h = hash_id(h, ab_ids_get(ids, i));
    for (int j = 0; j < AB_NFEAT; j++) {
      float v = x[i * AB_NFEAT + j];
      uint32_t u;
      if (fill && isnan(v)) v = fill[j];
      memcpy(&u, &v, 4);
      h = fnv_le(h, u, 4);
    }
    uint8_t c = y ? y[i] : 0xFF;
    h = fnv(h, &c, 1);
  }
  return h;
}

uint64_t ab_model_data_hash(const ab_table *t) {
  return ab_model_rows_hash(&t->ids, t->x, t->y, t->n, NULL);
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Column j's median (mean when out of memory) or mean. */
static float column_fill(const ab_table *t, int j, int median) {
  double s = 0;
  for (size_t i = 0; i < t->n; i++) s += t->x[i * AB_NFEAT + j];
  float *v = median && t->n ? malloc(t->n * sizeof *v) : NULL;
  if (!v) return (float)(t->n ? s / (double)t->n : 0.0);
  for (size_t i = 0; i < t->n; i++) v[i] = t->x[i * AB_NFEAT + j];
  qsort(v, t->n, sizeof *v, cmp_float);
  float m = t->n % 2 ? v[t->n / 2] : 0.5f * (v[t->n / 2 - 1] + v[t->n / 2]);
  free(v);
  return m;
}

void ab_model_set_data(ab_model *m, const ab_table *t, const char *spec) {
  m->data_hash = ab_model_data_hash(t);
  snprintf(m->data, sizeof m->data, "%s", spec ? spec : "");
  m->missing = t->missing;
  for (int j = 0; j < AB_NFEAT; j++)
    m->fill[j] = t->missing == AB_MISSING_ZERO
                     ? 0.0f : column_fill(t, j, t->missing == AB_MISSING_MEDIAN);
}

static double split_pos(const ab_split *sp) {
  double k = 0;
  for (size_t i = 0; i < sp->n; i++) k += sp->y[i] != 0;
  return k;
}

int ab_model_set_training(ab_model *m, const ab_train_cfg *c, const ab_prep_opts *p,
                          const ab_train_result *r, const ab_splits *s, const char *device,
                          ab_err *e) {
  size_t P = ab_arch_nparams(&c->arch);
  ab_model_free(m);
  m->nets = calloc(1, sizeof *m->nets);
  float *params = malloc(P * sizeof *params);
  if (!m->nets || !params || ab_encoder_copy(&m->enc, &s->enc, e)) {
    free(params);
    free_nets(m);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  memcpy(params, r->params, P * sizeof *params);
  m->kind = AB_MODEL_SINGLE;
  m->nnets = 1;
  m->nets[0].arch = c->arch;
  m->nets[0].params = params;
  m->cfg = *c;
  m->prep = *p;
  if (p->compat) m->prep.balance = AB_BALANCE_FIRST; /* what ab_prep did */
  m->epochs_run = r->epochs;
  m->best_epoch = r->best_epoch;
  snprintf(m->device, sizeof m->device, "%s", device ? device : "");
  memcpy(m->mean, s->mean, sizeof m->mean);
  memcpy(m->std, s->std, sizeof m->std);
  m->n_total = s->n_total;
  m->n_pos_total = s->n_pos_total;
  m->n_balanced = s->n_balanced;
  m->n_train = s->train.n;
  m->n_val = s->val.n;
  m->n_test = s->test.n;
  m->prior = s->n_total ? (double)s->n_pos_total / (double)s->n_total : 0.0;
  double bpos = split_pos(&s->train) + split_pos(&s->val) + split_pos(&s->test);
  m->train_ratio = s->n_balanced ? bpos / (double)s->n_balanced : 0.5;
  return AB_OK;
}

int ab_model_set_ensemble(ab_model *m, const ab_net *members, int n, ab_err *e) {
  if (n < 1 || n > AB_MODEL_MAX_NETS)
    return ab_err_set(e, AB_EUSAGE, "an ensemble has 1..%d networks, not %d", AB_MODEL_MAX_NETS, n);
  for (int i = 0; i < n; i++)
    if (members[i].arch.dims[0] != m->enc.width || members[i].arch.dims[members[i].arch.nlayers] != AB_NCLASS)
      return ab_err_set(e, AB_EUSAGE, "ensemble member %d does not map %d inputs to %d classes",
                        i + 1, m->enc.width, AB_NCLASS);
  ab_net *nets = calloc((size_t)n, sizeof *nets);
  int rc = nets ? AB_OK : ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int i = 0; i < n && !rc; i++) {
    size_t P = ab_arch_nparams(&members[i].arch);
    nets[i].arch = members[i].arch;
    if (!(nets[i].params = malloc(P * sizeof(float)))) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
    else memcpy(nets[i].params, members[i].params, P * sizeof(float));
  }
  if (rc) {
    for (int i = 0; i < n && nets; i++) free(nets[i].params);
    free(nets);
    return rc;
  }
  free_nets(m);
  m->kind = AB_MODEL_ENSEMBLE;
  m->nets = nets;
  m->nnets = n;
  m->cfg.arch = nets[0].arch;
  return AB_OK;
}

/* ---- writing ---- */

typedef struct wbuf { uint8_t *p; size_t n, cap; int bad; } wbuf;

static void put(wbuf *b, const void *d, size_t n) {
  if (b->bad) return;
  if (b->n + n > b->cap) {
    size_t c = (b->n + n) * 2 + 256;
    uint8_t *p = realloc(b->p, c);
    if (!p) { b->bad = 1; return; }
    b->p = p;
    b->cap = c;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}

static void put_u32(wbuf *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(b, x, 4);
}

static void put_u64(wbuf *b, uint64_t v) {
  put_u32(b, (uint32_t)v);
  put_u32(b, (uint32_t)(v >> 32));
}

static void put_f32(wbuf *b, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  put_u32(b, u);
}

static void put_f64(wbuf *b, double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  put_u64(b, u);
}

static void put_str(wbuf *b, const char *s) {
  size_t n = strlen(s);
  put_u32(b, (uint32_t)n);
  put(b, s, n);
}

static void put_meta(wbuf *b, const ab_model *m) {
  put_str(b, m->version);
  put_str(b, m->device);
  put_str(b, m->data);
  put_u64(b, m->data_hash);
  uint64_t counts[6] = {m->n_total, m->n_pos_total, m->n_balanced, m->n_train, m->n_val, m->n_test};
  for (int i = 0; i < 6; i++) put_u64(b, counts[i]);
  put_f64(b, m->prior);
  put_f64(b, m->train_ratio);
}

static void put_features(wbuf *b, const ab_model *m) {
  put_u32(b, AB_NFEAT);
  for (int j = 0; j < AB_NFEAT; j++) put_str(b, m->feature_names[j]);
  for (int j = 0; j < AB_NFEAT; j++) put_f32(b, m->mean[j]);
  for (int j = 0; j < AB_NFEAT; j++) put_f32(b, m->std[j]);
  for (int j = 0; j < AB_NFEAT; j++) put_f32(b, m->fill[j]);
  put_u32(b, (uint32_t)m->missing);
  put_u32(b, (uint32_t)m->prep.transform);
}

/* Format 3's encoding section: its version, the PLE edges, the TE tables, the width. */
static void put_encoding(wbuf *b, const ab_encoder *enc) {
  put_u32(b, AB_MODEL_ENC_VERSION);
  put_u32(b, (uint32_t)enc->ple);
  for (int j = 0; j < AB_NFEAT; j++) {
    put_u32(b, (uint32_t)enc->nedges[j]);
    for (int k = 0; k < enc->nedges[j]; k++) put_f32(b, enc->edges[j][k]);
  }
  put_u32(b, (uint32_t)enc->nte);
  for (int c = 0; c < enc->nte; c++) {
    const ab_te_col *t = &enc->te[c];
    put_u32(b, (uint32_t)t->feat);
    put_u32(b, t->n);
    put_f32(b, t->prior);
    put_f32(b, t->mean);
    put_f32(b, t->std);
    for (uint32_t i = 0; i < t->n; i++) put_f32(b, t->value[i]);
    for (uint32_t i = 0; i < t->n; i++) put_f32(b, t->rate[i]);
  }
  put_u32(b, (uint32_t)enc->width);
}

static void put_config(wbuf *b, const ab_model *m) {
  const ab_train_cfg *c = &m->cfg;
  put_u64(b, c->seed);
  uint32_t v[5] = {(uint32_t)c->batch, (uint32_t)c->epochs, (uint32_t)c->patience,
                   (uint32_t)c->keep_last, (uint32_t)m->prep.balance};
  for (int i = 0; i < 5; i++) put_u32(b, v[i]);
  put_f32(b, c->lr);
  put_f32(b, c->wd);
  for (int i = 0; i < 3; i++) put_u32(b, (uint32_t)m->prep.split[i]);
  put_u32(b, (uint32_t)m->prep.compat);
  put_u64(b, m->prep.seed);
  put_u32(b, (uint32_t)m->epochs_run);
  put_u32(b, (uint32_t)m->best_epoch);
  uint32_t w[4] = {(uint32_t)c->order, (uint32_t)c->stop, (uint32_t)c->sched, (uint32_t)c->min_epochs};
  for (int i = 0; i < 4; i++) put_u32(b, w[i]);
  put_f32(b, c->dropout);
}

static void put_metrics(wbuf *b, const ab_metrics *t) {
  uint64_t u[6] = {t->n, t->npos, t->tp, t->fp, t->tn, t->fn};
  double d[12] = {t->threshold, t->accuracy, t->precision, t->recall, t->f1, t->roc_auc,
                  t->pr_auc, t->log_loss, t->brier, t->prior, t->log_loss_corrected,
                  t->brier_corrected};
  for (int i = 0; i < 6; i++) put_u64(b, u[i]);
  for (int i = 0; i < 12; i++) put_f64(b, d[i]);
}

static void put_net(wbuf *b, const ab_net *net) {
  const ab_arch *a = &net->arch;
  put_u32(b, (uint32_t)a->nlayers);
  for (int l = 0; l <= a->nlayers; l++) put_u32(b, (uint32_t)a->dims[l]);
  for (int l = 0; l < a->nlayers; l++) put_u32(b, (uint32_t)a->act[l]);
  size_t P = ab_arch_nparams(a);
  put_u64(b, P);
  for (size_t i = 0; i < P; i++) put_f32(b, net->params[i]);
}

/* Format 5's calibration section: the kind; with one, its validation figures before and
 * after and its parameters (Platt: a, b; isotonic: n, then x[n], y[n]). */
static void put_calib(wbuf *b, const ab_calib *c) {
  put_u32(b, (uint32_t)c->kind);
  if (c->kind == AB_CALIB_NONE) return;
  double d[4] = {c->val_log_loss[0], c->val_log_loss[1], c->val_brier[0], c->val_brier[1]};
  for (int i = 0; i < 4; i++) put_f64(b, d[i]);
  if (c->kind == AB_CALIB_PLATT) {
    put_f64(b, c->a);
    put_f64(b, c->b);
    return;
  }
  put_u32(b, c->n);
  for (uint32_t i = 0; i < c->n; i++) put_f64(b, c->x[i]);
  for (uint32_t i = 0; i < c->n; i++) put_f64(b, c->y[i]);
}

static void patch_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int ab_model_encode(const ab_model *m, uint8_t **buf, size_t *n, ab_err *e) {
  wbuf b = {0};
  put(&b, AB_MODEL_MAGIC, 8);
  put_u32(&b, AB_MODEL_FORMAT);
  put_u32(&b, 0);               /* CRC-32, patched below */
  put_u64(&b, 0);               /* file length, patched below */
  put_u32(&b, (uint32_t)m->kind);
  put_u32(&b, 0);               /* flags, reserved */
  put_meta(&b, m);
  put_features(&b, m);
  put_encoding(&b, &m->enc);
  put_config(&b, m);
  put_metrics(&b, &m->val);
  put_metrics(&b, &m->test);
  put_u32(&b, (uint32_t)m->nnets);
  for (int i = 0; i < m->nnets; i++) put_net(&b, &m->nets[i]);
  put_calib(&b, &m->calib);
  if (b.bad) {
    free(b.p);
    return ab_err_set(e, AB_ENOMEM, "out of memory encoding the model");
  }
  patch_u32(b.p + 16, (uint32_t)b.n);
  patch_u32(b.p + 20, (uint32_t)((uint64_t)b.n >> 32));
  patch_u32(b.p + 12, ab_crc32(0, b.p + 16, b.n - 16));
  *buf = b.p;
  *n = b.n;
  return AB_OK;
}

int ab_model_save(const ab_model *m, const char *path, ab_err *e) {
  uint8_t *buf;
  size_t n;
  int rc = ab_model_encode(m, &buf, &n, e);
  if (rc) return rc;
  ab_outfile o;
  if (!(rc = ab_outfile_open(&o, path, e))) {
    ab_outfile_write(&o, buf, n);
    rc = ab_outfile_commit(&o, e);
  }
  free(buf);
  return rc;
}

/* ---- reading: a cursor that checks every read against the bytes left ---- */

typedef struct rd {
  const uint8_t *p;
  size_t n, off;
  size_t field;   /* where the field being read starts, for messages */
  const char *name;
  ab_err *e;
  int bad;
  uint32_t format;  /* the file's format (1: no transform field, single networks only) */
  ab_transform transform; /* the file's input transform, once read */
} rd;

static int need(rd *r, size_t k, const char *what) {
  if (r->bad) return -1;
  r->field = r->off;
  if (k > r->n - r->off) {
    r->bad = 1;
    ab_err_set(r->e, AB_EINPUT, "%s: corrupted model file: %s at byte %zu needs %zu bytes, "
               "%zu left", r->name, what, r->off, k, r->n - r->off);
    return -1;
  }
  return 0;
}

static void fail(rd *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(rd *r, const char *fmt, ...) {
  if (!r->bad) {
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ab_err_set(r->e, AB_EINPUT, "%s: corrupted model file: %s (byte %zu)", r->name, msg, r->field);
  }
  r->bad = 1;
}

static uint32_t get_u32(rd *r, const char *what) {
  if (need(r, 4, what)) return 0;
  const uint8_t *p = r->p + r->off;
  r->off += 4;
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(rd *r, const char *what) {
  size_t at = r->off;
  uint64_t lo = get_u32(r, what);
  lo |= (uint64_t)get_u32(r, what) << 32;
  r->field = at;
  return lo;
}

static float get_f32(rd *r, const char *what) {
  uint32_t u = get_u32(r, what);
  float f;
  memcpy(&f, &u, 4);
  return f;
}

static double get_f64(rd *r, const char *what) {
  uint64_t u = get_u64(r, what);
  double d;
  memcpy(&d, &u, 8);
  return d;
}

/* A counted string into dst[cap]; longer than cap-1 is corruption. */
static void get_str(rd *r, char *dst, size_t cap, const char *what) {
  uint32_t len = get_u32(r, what);
  dst[0] = '\0';
  if (r->bad) return;
  if (len >= cap) { fail(r, "%s is %u bytes long, at most %zu allowed", what, len, cap - 1); return; }
  if (need(r, len, what)) return;
  memcpy(dst, r->p + r->off, len);
  dst[len] = '\0';
  r->off += len;
}

/* A u32 that must lie in [lo, hi]. */
static uint32_t get_range(rd *r, uint32_t lo, uint32_t hi, const char *what) {
  uint32_t v = get_u32(r, what);
  if (!r->bad && (v < lo || v > hi)) fail(r, "%s is %u, expected %u..%u", what, v, lo, hi);
  return v;
}

static void get_meta(rd *r, ab_model *m) {
  get_str(r, m->version, sizeof m->version, "abgpu version");
  get_str(r, m->device, sizeof m->device, "device name");
  get_str(r, m->data, sizeof m->data, "data name");
  m->data_hash = get_u64(r, "data hash");
  uint64_t *counts[6] = {&m->n_total, &m->n_pos_total, &m->n_balanced, &m->n_train,
                         &m->n_val, &m->n_test};
  for (int i = 0; i < 6; i++) *counts[i] = get_u64(r, "row counts");
  m->prior = get_f64(r, "prior");
  m->train_ratio = get_f64(r, "training ratio");
  if (!r->bad && !(m->train_ratio > 0 && m->train_ratio < 1 && m->prior >= 0 && m->prior <= 1))
    fail(r, "prior %g or training ratio %g is not a share", m->prior, m->train_ratio);
}

static void get_features(rd *r, ab_model *m) {
  get_range(r, AB_NFEAT, AB_NFEAT, "feature count (this abgpu scores 10 features)");
  for (int j = 0; j < AB_NFEAT; j++) {
    get_str(r, m->feature_names[j], sizeof m->feature_names[j], "feature name");
    if (!r->bad && strcmp(m->feature_names[j], ab_feature_names[j]) != 0)
      fail(r, "feature %d is not %s, the column this abgpu scores", j + 1, ab_feature_names[j]);
  }
  for (int j = 0; j < AB_NFEAT; j++) m->mean[j] = get_f32(r, "scaler mean");
  for (int j = 0; j < AB_NFEAT; j++) m->std[j] = get_f32(r, "scaler std");
  for (int j = 0; j < AB_NFEAT; j++) m->fill[j] = get_f32(r, "fill value");
  m->missing = (ab_missing)get_range(r, 0, AB_MISSING_ZERO, "missing-value policy");
  if (r->format >= 2) {
    m->prep.transform = (ab_transform)get_u32(r, "input transform");
    if (!r->bad && (!ab_transform_valid(m->prep.transform) ||
                    (r->format == 2 && m->prep.transform > AB_TRANSFORM_LOG1P)))
      fail(r, "input transform %#x is not one this abgpu knows", m->prep.transform);
  }
  for (int j = 0; j < AB_NFEAT && !r->bad; j++)
    if (!isfinite(m->mean[j]) || !isfinite(m->fill[j]) || !(m->std[j] > 0) || !isfinite(m->std[j]))
      fail(r, "scaler or fill value of feature %d is not a finite number (std > 0)", j);
}

/* Strictly ascending finite floats (what PLE edges and TE values are). */
static void get_ascending(rd *r, float *v, uint32_t n, const char *what) {
  for (uint32_t i = 0; i < n && !r->bad; i++) {
    v[i] = get_f32(r, what);
    if (!r->bad && (!isfinite(v[i]) || (i > 0 && !(v[i] > v[i - 1]))))
      fail(r, "%s %u is not finite or not above the one before", what, i + 1);
  }
}

/* n floats for a table, after checking the bytes are there. */
static float *get_table(rd *r, uint32_t n, const char *what) {
  if (need(r, (size_t)n * 4, what)) return NULL;
  float *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) { r->bad = 1; ab_err_set(r->e, AB_ENOMEM, "out of memory"); }
  return v;
}

static void get_ple(rd *r, ab_encoder *enc) {
  enc->ple = (int)get_u32(r, "PLE bins");
  if (!r->bad && enc->ple != ab_transform_ple(r->transform))
    fail(r, "PLE bins %d do not match the input transform", enc->ple);
  for (int j = 0; j < AB_NFEAT && !r->bad; j++) {
    uint32_t k = get_u32(r, "PLE edge count");
    if (!r->bad && (enc->ple ? k < 1 || k > (uint32_t)enc->ple + 1 : k != 0))
      fail(r, "PLE edge count %u of feature %d, expected %s", k, j + 1, enc->ple ? "1..bins+1" : "0");
    if (r->bad || !k) continue;
    enc->nedges[j] = (int)k;
    if ((enc->edges[j] = get_table(r, k, "PLE edges"))) get_ascending(r, enc->edges[j], k, "PLE edge");
  }
}

static void get_te_col(rd *r, ab_te_col *t, int prev) {
  t->feat = (int)get_range(r, 0, AB_NFEAT - 1, "target-encoded feature");
  if (!r->bad && (!ab_te_applies(t->feat) || t->feat <= prev))
    fail(r, "feature %d is not target-encoded here, or out of order", t->feat + 1);
  t->n = get_range(r, 1, AB_TE_MAX_VALUES, "target-encoding value count");
  t->prior = get_f32(r, "target-encoding prior");
  t->mean = get_f32(r, "target-encoding mean");
  t->std = get_f32(r, "target-encoding sd");
  if (!r->bad && !(t->prior >= 0 && t->prior <= 1 && isfinite(t->mean) && t->std > 0 && isfinite(t->std)))
    fail(r, "target-encoding prior, mean or sd out of range");
  if (r->bad || !(t->value = get_table(r, t->n, "target-encoding values"))) return;
  get_ascending(r, t->value, t->n, "target-encoding value");
  if (r->bad || !(t->rate = get_table(r, t->n, "target-encoding rates"))) return;
  for (uint32_t i = 0; i < t->n && !r->bad; i++) {
    t->rate[i] = get_f32(r, "target-encoding rate");
    if (!r->bad && !(t->rate[i] >= 0 && t->rate[i] <= 1)) fail(r, "target-encoding rate not in [0, 1]");
  }
}

static void get_encoding(rd *r, ab_encoder *enc) {
  if (r->format < 3) return;
  uint32_t v = get_u32(r, "encoding section version");
  if (!r->bad && v != AB_MODEL_ENC_VERSION)
    fail(r, "encoding section version %u, this abgpu reads %d", v, AB_MODEL_ENC_VERSION);
  get_ple(r, enc);
  int want = 0;
  for (int j = 0; j < AB_NFEAT; j++) want += (r->transform & AB_TRANSFORM_TE) && ab_te_applies(j);
  uint32_t nte = get_u32(r, "target-encoded column count");
  if (!r->bad && nte != (uint32_t)want) fail(r, "%u target-encoded columns, expected %d", nte, want);
  for (uint32_t c = 0; c < nte && !r->bad; c++) {
    enc->nte = (int)c + 1;
    get_te_col(r, &enc->te[c], c ? enc->te[c - 1].feat : -1);
  }
  uint32_t w = get_u32(r, "input width");
  ab_encoder_set_width(enc);
  if (!r->bad && w != (uint32_t)enc->width)
    fail(r, "input width %u, the encodings make %d", w, enc->width);
}

static void get_config(rd *r, ab_model *m) {
  ab_train_cfg *c = &m->cfg;
  c->seed = get_u64(r, "seed");
  c->batch = (int)get_range(r, 1, 1u << 30, "batch size");
  c->epochs = (int)get_range(r, 1, 1u << 30, "epoch limit");
  c->patience = (int)get_range(r, 0, 1u << 30, "patience");
  c->keep_last = (int)get_range(r, 0, 1, "keep-last flag");
  m->prep.balance = (ab_balance)get_range(r, 0, AB_BALANCE_NONE, "balance mode");
  c->lr = get_f32(r, "learning rate");
  c->wd = get_f32(r, "weight decay");
  for (int i = 0; i < 3; i++) m->prep.split[i] = (int)get_range(r, 0, 100, "split percentage");
  m->prep.compat = (int)get_range(r, 0, 1, "seed-compat flag");
  m->prep.seed = get_u64(r, "prep seed");
  m->epochs_run = (int)get_range(r, 0, 1u << 30, "epochs run");
  m->best_epoch = (int)get_range(r, 0, 1u << 30, "best epoch");
  if (r->format < 3) return;
  c->order = (ab_order)get_range(r, 0, AB_ORDER_FIXED, "batch order");
  c->stop = (ab_stop)get_range(r, 0, AB_STOP_RISE, "stopping rule");
  c->sched = (ab_sched)get_range(r, 0, AB_SCHED_COSINE, "learning-rate schedule");
  c->min_epochs = (int)get_range(r, 0, 1u << 30, "minimum epochs");
  if (r->format < 4) return;
  c->dropout = get_f32(r, "dropout rate");
  if (!r->bad && !(c->dropout >= 0.0f && c->dropout < 1.0f))
    fail(r, "dropout rate %g, expected 0 <= p < 1", (double)c->dropout);
}

static void get_metrics(rd *r, ab_metrics *t) {
  uint64_t *u[6] = {&t->n, &t->npos, &t->tp, &t->fp, &t->tn, &t->fn};
  double *d[12] = {&t->threshold, &t->accuracy, &t->precision, &t->recall, &t->f1,
                   &t->roc_auc, &t->pr_auc, &t->log_loss, &t->brier, &t->prior,
                   &t->log_loss_corrected, &t->brier_corrected};
  for (int i = 0; i < 6; i++) *u[i] = get_u64(r, "metrics");
  for (int i = 0; i < 12; i++) *d[i] = get_f64(r, "metrics");
}

static void get_arch(rd *r, ab_arch *a, int width) {
  memset(a, 0, sizeof *a);
  a->nlayers = (int)get_range(r, 1, AB_MAX_LAYERS, "layer count");
  if (r->bad) return;
  for (int l = 0; l <= a->nlayers; l++)
    a->dims[l] = (int)get_range(r, 1, AB_MODEL_MAX_WIDTH, "layer width");
  for (int l = 0; l < a->nlayers; l++)
    a->act[l] = (ab_act)get_range(r, 0, AB_ACT_TANH, "activation");
  if (r->bad) return;
  if (a->dims[0] != width) fail(r, "input width is %d, expected %d", a->dims[0], width);
  else if (a->dims[a->nlayers] != AB_NCLASS)
    fail(r, "output width is %d, expected %d", a->dims[a->nlayers], AB_NCLASS);
}

static void get_net(rd *r, ab_net *net, int width) {
  get_arch(r, &net->arch, width);
  uint64_t P = get_u64(r, "parameter count");
  if (r->bad) return;
  if (P != ab_arch_nparams(&net->arch)) {
    fail(r, "parameter count %llu does not match the layers", (unsigned long long)P);
    return;
  }
  if (need(r, (size_t)P * 4, "parameters")) return;
  if (!(net->params = malloc((size_t)P * sizeof(float)))) {
    r->bad = 1;
    ab_err_set(r->e, AB_ENOMEM, "out of memory for %llu parameters", (unsigned long long)P);
    return;
  }
  for (size_t i = 0; i < P; i++) net->params[i] = get_f32(r, "parameters");
}

static void get_nets(rd *r, ab_model *m) {
  uint32_t max = m->kind == AB_MODEL_SINGLE ? 1 : AB_MODEL_MAX_NETS;
  uint32_t k = get_range(r, 1, max, "network count");
  if (r->bad) return;
  if (!(m->nets = calloc(k, sizeof *m->nets))) {
    r->bad = 1;
    ab_err_set(r->e, AB_ENOMEM, "out of memory");
    return;
  }
  m->nnets = (int)k;
  for (uint32_t i = 0; i < k && !r->bad; i++) get_net(r, &m->nets[i], m->enc.width);
  if (!r->bad) m->cfg.arch = m->nets[0].arch;
}

/* n doubles into a new table (after checking the bytes are there), each in [0, 1],
 * strictly ascending (strict) or not descending. */
static double *get_unit_table(rd *r, uint32_t n, int strict, const char *what) {
  if (need(r, (size_t)n * 8, what)) return NULL;
  double *v = malloc(n * sizeof *v);
  if (!v) { r->bad = 1; ab_err_set(r->e, AB_ENOMEM, "out of memory"); return NULL; }
  for (uint32_t i = 0; i < n && !r->bad; i++) {
    v[i] = get_f64(r, what);
    if (!r->bad && (!(v[i] >= 0 && v[i] <= 1) ||
                    (i > 0 && (strict ? !(v[i] > v[i - 1]) : !(v[i] >= v[i - 1])))))
      fail(r, "%s %u is not in [0, 1] or not %s the one before", what, i + 1,
           strict ? "above" : "at least");
  }
  return v;
}

static void get_calib(rd *r, ab_calib *c) {
  if (r->format < 5) return;
  c->kind = (ab_calib_kind)get_range(r, 0, AB_CALIB_ISOTONIC, "calibration kind");
  if (r->bad || c->kind == AB_CALIB_NONE) return;
  c->val_log_loss[0] = get_f64(r, "calibration figures");
  c->val_log_loss[1] = get_f64(r, "calibration figures");
  c->val_brier[0] = get_f64(r, "calibration figures");
  c->val_brier[1] = get_f64(r, "calibration figures");
  for (int i = 0; i < 2 && !r->bad; i++)
    if (!(c->val_log_loss[i] >= 0 && isfinite(c->val_log_loss[i]) && c->val_brier[i] >= 0 &&
          c->val_brier[i] <= 1))
      fail(r, "calibration figures are not a log loss (>= 0) and a Brier score (0..1)");
  if (c->kind == AB_CALIB_PLATT) {
    c->a = get_f64(r, "Platt slope");
    c->b = get_f64(r, "Platt intercept");
    if (!r->bad && !(c->a > 0 && isfinite(c->a) && isfinite(c->b)))
      fail(r, "Platt parameters a %g, b %g: expected a > 0, both finite", c->a, c->b);
    return;
  }
  c->n = get_range(r, 2, AB_CALIB_MAX_POINTS, "isotonic breakpoint count");
  if (r->bad || !(c->x = get_unit_table(r, c->n, 1, "isotonic breakpoint"))) return;
  c->y = get_unit_table(r, c->n, 0, "isotonic value");
}

/* Magic, format and declared length (the first 24 bytes) against the file's size. */
static int check_head(rd *r, uint64_t size, uint32_t *crc) {
  if (r->n >= 8 && size < AB_MODEL_HEADER && memcmp(r->p, AB_MODEL_MAGIC, 8) == 0)
    return ab_err_set(r->e, AB_EINPUT, "%s: truncated model file: %llu bytes, shorter than "
                      "the %d-byte header", r->name, (unsigned long long)size, AB_MODEL_HEADER);
  if (r->n < 24 || size < AB_MODEL_HEADER || memcmp(r->p, AB_MODEL_MAGIC, 8) != 0)
    return ab_err_set(r->e, AB_EINPUT, "%s: not an abgpu model file (no %s magic number)",
                      r->name, AB_MODEL_MAGIC);
  r->off = 8;
  uint32_t fmt = get_u32(r, "format");
  *crc = get_u32(r, "crc");
  uint64_t len = get_u64(r, "length");
  if (fmt < AB_MODEL_FORMAT_OLDEST || fmt > AB_MODEL_FORMAT)
    return ab_err_set(r->e, AB_EINPUT, "%s: model format %u, this abgpu %s reads formats "
                      "%d..%d%s", r->name, fmt, ABGPU_VERSION, AB_MODEL_FORMAT_OLDEST,
                      AB_MODEL_FORMAT, fmt > AB_MODEL_FORMAT ? " (a newer abgpu wrote it)" : "");
  r->format = fmt;
  if (len != size)
    return ab_err_set(r->e, AB_EINPUT, "%s: truncated or extended model file: the header "
                      "says %llu bytes, the file has %llu", r->name, (unsigned long long)len,
                      (unsigned long long)size);
  return AB_OK;
}

static int check_header(rd *r, ab_model *m) {
  uint32_t crc;
  int rc = check_head(r, r->n, &crc);
  if (rc) return rc;
  if (ab_crc32(0, r->p + 16, r->n - 16) != crc)
    return ab_err_set(r->e, AB_EINPUT, "%s: corrupted model file: CRC-32 mismatch", r->name);
  uint32_t kind = get_u32(r, "kind");
  get_u32(r, "flags");
  if (kind > AB_MODEL_ENSEMBLE)
    return ab_err_set(r->e, AB_EINPUT, "%s: unknown model kind %u", r->name, kind);
  if (kind == AB_MODEL_ENSEMBLE && r->format < 2)
    return ab_err_set(r->e, AB_EINPUT, "%s: an ensemble in model format %u, which has no "
                      "ensembles", r->name, r->format);
  m->kind = (ab_model_kind)kind;
  return AB_OK;
}

/* check_head on a file's first bytes, then its CRC read 1 MiB at a time. */
static int check_file_head(const uint8_t *head, size_t got, uint64_t size, const char *path,
                           FILE *f, ab_err *e) {
  rd r = {head, got, 0, 0, path, e, 0, 0, 0};
  uint32_t crc, c = 0;
  int rc = check_head(&r, size, &crc);
  if (rc) return rc;
  static uint8_t buf[1 << 20];
  if (fseek(f, 16, SEEK_SET) != 0) return ab_err_set(e, AB_EIO, "%s: read error", path);
  for (uint64_t left = size - 16; left > 0;) {
    size_t want = left < sizeof buf ? (size_t)left : sizeof buf;
    if (fread(buf, 1, want, f) != want) return ab_err_set(e, AB_EIO, "%s: read error", path);
    c = ab_crc32(c, buf, want);
    left -= want;
  }
  return c == crc ? AB_OK : ab_err_set(e, AB_EINPUT, "%s: corrupted model file: CRC-32 mismatch", path);
}

int ab_model_decode(ab_model *m, const uint8_t *buf, size_t n, const char *name, ab_err *e) {
  ab_model_init(m);
  rd r = {buf, n, 0, 0, name, e, 0, 0, 0};
  int rc = check_header(&r, m);
  if (rc) return rc;
  get_meta(&r, m);
  get_features(&r, m);
  r.transform = m->prep.transform;
  get_encoding(&r, &m->enc);
  get_config(&r, m);
  get_metrics(&r, &m->val);
  get_metrics(&r, &m->test);
  get_nets(&r, m);
  get_calib(&r, &m->calib);
  if (!r.bad && r.off != n) {
    r.field = r.off;
    fail(&r, "%zu bytes after the %s", n - r.off, r.format < 5 ? "last network" : "calibration");
  }
  if (r.bad) {
    ab_model_free(m);
    return e && e->code ? e->code : AB_EINPUT;
  }
  return AB_OK;
}

/* Reads a model file: the header first (magic, format, declared length against the file's
 * size), then the CRC 1 MiB at a time, and only then the whole file: a file that is not a
 * model costs no more memory than its header. */
static int read_all(uint8_t **buf, size_t *n, const char *path, ab_err *e) {
  FILE *f;
  uint64_t size;
  int rc = ab_infile_open(&f, &size, path, "a model file", e);
  if (rc) return rc;
  uint8_t head[AB_MODEL_HEADER] = {0};
  size_t got = fread(head, 1, sizeof head, f);
  if (size > AB_MODEL_MAX_BYTES)
    rc = ab_err_set(e, AB_EINPUT, "%s: %llu bytes, larger than any abgpu model (%llu)", path,
                    (unsigned long long)size, (unsigned long long)AB_MODEL_MAX_BYTES);
  else rc = check_file_head(head, got, size, path, f, e);
  if (!rc && !(*buf = malloc((size_t)size + 1)))
    rc = ab_err_set(e, AB_ENOMEM, "out of memory reading %s", path);
  else if (!rc && (fseek(f, 0, SEEK_SET) != 0 || fread(*buf, 1, (size_t)size, f) != size)) {
    rc = ab_err_set(e, AB_EIO, "%s: read error", path);
    free(*buf);
  }
  fclose(f);
  *n = (size_t)size;
  return rc;
}

int ab_model_load(ab_model *m, const char *path, ab_err *e) {
  uint8_t *buf = NULL;
  size_t n = 0;
  ab_model_init(m);
  int rc = read_all(&buf, &n, path, e);
  if (rc) return rc;
  rc = ab_model_decode(m, buf, n, path, e);
  free(buf);
  return rc;
}
