/* Sweeps, part 3: training. A launch trains K compatible configurations together with
 * ab_train_many on the validation split (or on each fold) and records validation
 * figures; the backend is given the validation rows in place of the test rows, so the
 * test split never reaches a launch. The finalists are then fitted one by one on the
 * standard split and measured on its test rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "abgpu/sweep.h"

void ab_sweep_ctx_init(ab_sweep_ctx *x, ab_backend *be, const ab_table *t, const ab_sweep_id *id) {
  memset(x, 0, sizeof *x);
  x->be = be;
  x->t = t;
  x->id = *id;
  x->fold = -1;
}

void ab_sweep_ctx_free(ab_sweep_ctx *x) {
  if (x->loaded) ab_splits_free(&x->s);
  x->loaded = 0;
}

ab_prep_opts ab_sweep_prep_opts(const ab_sweep_ctx *x, const ab_sweep_cfg *c, int f) {
  ab_prep_opts o = ab_prep_opts_default();
  o.balance = c->balance;
  o.transform = c->transform;
  o.seed = x->id.seed;
  memcpy(o.split, x->id.split, sizeof o.split);
  o.folds = f >= 0 ? x->id.folds : 0;
  o.fold = f >= 0 ? f : 0;
  return o;
}

/* Makes the backend hold c's data for fold f (-1: the standard split), with the test
 * split or with the validation rows in its place. */
static int load(ab_sweep_ctx *x, const ab_sweep_cfg *c, int f, int with_test, ab_err *e) {
  if (x->loaded && x->transform == c->transform && x->balance == c->balance && x->fold == f &&
      x->with_test == with_test)
    return AB_OK;
  ab_sweep_ctx_free(x);
  ab_prep_opts o = ab_sweep_prep_opts(x, c, f);
  int rc = ab_prep(&x->s, x->t, &o, e);
  if (rc) return rc;
  x->loaded = 1;
  x->transform = c->transform;
  x->balance = c->balance;
  x->fold = f;
  x->with_test = with_test;
  x->view = x->s;
  if (!with_test) x->view.test = x->s.val;
  rc = ab_backend_load_data(x->be, &x->view, e);
  if (rc) ab_sweep_ctx_free(x);
  return rc;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Per configuration and fold: [K][nf] figures; div[K]. */
typedef struct fold_stats {
  int nf;
  double *loss, *acc, *auc, *epochs, *best;
  uint8_t *div;
} fold_stats;

/* Validation ROC AUC of the n models the backend holds now. */
static int val_aucs(ab_sweep_ctx *x, double *auc, int n, ab_err *e) {
  size_t nv = x->s.val.n;
  float *prob = malloc((size_t)n * nv * sizeof *prob);
  uint8_t *y = malloc(nv);
  ab_scorepair *pairs = malloc(nv * sizeof *pairs);
  int rc = prob && y && pairs ? AB_OK : ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) rc = ab_backend_predict(x->be, AB_SPLIT_VAL, prob, e);
  for (size_t i = 0; i < nv && !rc; i++) y[i] = x->s.val.y[i] != 0;
  for (int k = 0; k < n && !rc; k++) auc[k] = ab_roc_auc(prob + (size_t)k * nv, y, nv, pairs);
  free(prob);
  free(y);
  free(pairs);
  return rc;
}

static int train_set(ab_sweep_ctx *x, const ab_sweep_cfg *c, const int *which, int n, int f,
                     fold_stats *st, ab_err *e);

/* A launch with a diverged model: each half again, until the diverged one is alone. */
static int bisect(ab_sweep_ctx *x, const ab_sweep_cfg *c, const int *which, int n, int f,
                  fold_stats *st, ab_err *e) {
  if (n == 1) {
    st->div[which[0]] = 1;
    return AB_OK;
  }
  int rc = train_set(x, c, which, n / 2, f, st, e);
  return rc ? rc : train_set(x, c, which + n / 2, n - n / 2, f, st, e);
}

/* Records the n results and validation AUCs at fold f. */
static int record(ab_sweep_ctx *x, const ab_train_result *r, const int *which, int n, int f,
                  fold_stats *st, ab_err *e) {
  double *auc = malloc((size_t)n * sizeof *auc);
  int rc = auc ? val_aucs(x, auc, n, e) : ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int i = 0; i < n && !rc; i++) {
    size_t at = (size_t)which[i] * st->nf + f;
    st->loss[at] = r[i].val_loss;
    st->acc[at] = r[i].val_acc;
    st->auc[at] = auc[i];
    st->epochs[at] = r[i].epochs;
    st->best[at] = r[i].best_epoch;
  }
  free(auc);
  return rc;
}

/* Trains configurations c[which[0..n-1]] together on the loaded data (fold f). */
static int train_set(ab_sweep_ctx *x, const ab_sweep_cfg *c, const int *which, int n, int f,
                     fold_stats *st, ab_err *e) {
  ab_train_cfg *tc = calloc((size_t)n, sizeof *tc);
  ab_train_result *r = calloc((size_t)n, sizeof *r);
  int rc = tc && r ? AB_OK : ab_err_set(e, AB_ENOMEM, "out of memory for %d models", n);
  for (int i = 0; i < n && !rc; i++) {
    rc = ab_sweep_train_cfg(&tc[i], &c[which[i]], e);
    tc[i].arch.dims[0] = x->view.train.d; /* the encodings' width */
  }
  if (!rc) rc = ab_train_many(r, x->be, tc, n, &x->view, NULL, x->cb, x->user, e);
  if (rc == AB_EDIVERGED) {
    ab_err_clear(e);
    rc = bisect(x, c, which, n, f, st, e);
  } else if (!rc) {
    rc = record(x, r, which, n, f, st, e);
  }
  for (int i = 0; i < n && r; i++) ab_train_result_free(&r[i]);
  free(tc);
  free(r);
  return rc;
}

static int stats_alloc(fold_stats *st, int K, int nf) {
  size_t m = (size_t)K * nf;
  st->nf = nf;
  st->loss = calloc(m, sizeof(double));
  st->acc = calloc(m, sizeof(double));
  st->auc = calloc(m, sizeof(double));
  st->epochs = calloc(m, sizeof(double));
  st->best = calloc(m, sizeof(double));
  st->div = calloc((size_t)K, 1);
  return st->loss && st->acc && st->auc && st->epochs && st->best && st->div ? 0 : -1;
}

static void stats_free(fold_stats *st) {
  free(st->loss); free(st->acc); free(st->auc); free(st->epochs); free(st->best); free(st->div);
}

static void fill_row(ab_lb_row *row, const ab_sweep_ctx *x, const ab_sweep_cfg *c,
                     const fold_stats *st, int k, int K, double secs) {
  const double *at = st->loss + (size_t)k * st->nf;
  double sd;
  memset(row, 0, sizeof *row);
  row->cfg = *c;
  row->id = x->id;
  row->launch_models = K;
  row->seconds = secs;
  row->status = st->div[k] ? AB_ROW_DIVERGED : AB_ROW_OK;
  if (st->div[k]) {
    row->val_loss = row->val_acc = row->val_auc = row->val_loss_sd = row->val_acc_sd =
        row->val_auc_sd = row->epochs_run = row->best_epoch = NAN;
    return;
  }
  ab_mean_sd(at, st->nf, &row->val_loss, &row->val_loss_sd);
  ab_mean_sd(st->acc + (size_t)k * st->nf, st->nf, &row->val_acc, &row->val_acc_sd);
  ab_mean_sd(st->auc + (size_t)k * st->nf, st->nf, &row->val_auc, &row->val_auc_sd);
  ab_mean_sd(st->epochs + (size_t)k * st->nf, st->nf, &row->epochs_run, &sd);
  ab_mean_sd(st->best + (size_t)k * st->nf, st->nf, &row->best_epoch, &sd);
}

int ab_sweep_launch(ab_sweep_ctx *x, ab_lb_row *rows, const ab_sweep_cfg *c, int K, ab_err *e) {
  for (int k = 1; k < K; k++)
    if (!ab_sweep_same_launch(&c[0], &c[k]))
      return ab_err_set(e, AB_EUSAGE, "configurations of one launch need the same data and shape");
  int nf = x->id.folds >= 2 ? x->id.folds : 1, rc = AB_OK;
  fold_stats st = {0};
  int *which = malloc((size_t)K * sizeof *which);
  if (!which || stats_alloc(&st, K, nf)) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int k = 0; k < K && !rc; k++) which[k] = k;
  double t0 = now_s();
  for (int f = 0; f < nf && !rc; f++) {
    int nd = 0; /* models still finite: a diverged one is not trained on later folds */
    for (int k = 0; k < K; k++)
      if (!st.div[k]) which[nd++] = k;
    rc = load(x, &c[0], x->id.folds >= 2 ? f : -1, 0, e);
    if (!rc && nd) rc = train_set(x, c, which, nd, f, &st, e);
  }
  for (int k = 0; k < K && !rc; k++) fill_row(&rows[k], x, &c[k], &st, k, K, now_s() - t0);
  stats_free(&st);
  free(which);
  return rc;
}

/* ---- finalists ---- */

static int split_metrics(ab_metrics *mt, const ab_model *m, const ab_split *sp, ab_err *e) {
  float *prob = malloc((sp->n ? sp->n : 1) * sizeof *prob);
  uint8_t *y = malloc(sp->n ? sp->n : 1);
  int rc = prob && y ? ab_model_score_split(prob, y, m, sp, e)
                     : ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) rc = ab_metrics_compute(mt, prob, y, sp->n, 0.5, 0, 0, e);
  free(prob);
  free(y);
  return rc;
}

/* The model's validation and test metrics on the standard split of its data. */
static int measure(ab_sweep_ctx *x, ab_model *m, ab_err *e) {
  ab_sweep_cfg c = ab_sweep_cfg_default();
  c.transform = m->prep.transform;
  c.balance = m->prep.balance;
  int rc = load(x, &c, -1, 1, e);
  if (!rc) rc = split_metrics(&m->val, m, &x->s.val, e);
  if (!rc) rc = split_metrics(&m->test, m, &x->s.test, e);
  return rc;
}

int ab_sweep_fit(ab_sweep_ctx *x, ab_model *m, const ab_sweep_cfg *c, const char *data,
                 ab_err *e) {
  ab_train_cfg tc;
  ab_train_result r = {0};
  ab_model_init(m);
  int rc = ab_sweep_train_cfg(&tc, c, e);
  if (!rc) rc = load(x, c, -1, 1, e);
  tc.arch.dims[0] = x->view.train.d;
  if (!rc) rc = ab_train_many(&r, x->be, &tc, 1, &x->view, NULL, x->cb, x->user, e);
  ab_prep_opts o = ab_sweep_prep_opts(x, c, -1);
  if (!rc) {
    ab_model_set_data(m, x->t, data);
    rc = ab_model_set_training(m, &tc, &o, &r, &x->s, x->be->name, e);
  }
  if (!rc) rc = measure(x, m, e);
  ab_train_result_free(&r);
  if (rc) ab_model_free(m);
  return rc;
}

int ab_sweep_ensemble(ab_sweep_ctx *x, ab_model *ens, const ab_model *members, int n, ab_err *e) {
  int total = 0;
  for (int i = 0; i < n; i++) {
    total += members[i].nnets;
    if (memcmp(members[i].mean, members[0].mean, sizeof members[0].mean) ||
        memcmp(members[i].std, members[0].std, sizeof members[0].std) ||
        members[i].prep.transform != members[0].prep.transform)
      return ab_err_set(e, AB_EUSAGE, "ensemble members must share their data (transform, "
                        "balance and scaler)");
  }
  if (n < 1 || total > AB_MODEL_MAX_NETS)
    return ab_err_set(e, AB_EUSAGE, "an ensemble has 1..%d networks, not %d", AB_MODEL_MAX_NETS, total);
  ab_net *nets = malloc((size_t)total * sizeof *nets);
  if (!nets) return ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int i = 0, k = 0; i < n; i++)
    for (int j = 0; j < members[i].nnets; j++) nets[k++] = members[i].nets[j];
  *ens = members[0];
  ens->nets = NULL; /* the copy must not own members[0]'s networks or encoder */
  ens->nnets = 0;
  int rc = ab_encoder_copy(&ens->enc, &members[0].enc, e);
  if (!rc) rc = ab_model_set_ensemble(ens, nets, total, e);
  free(nets);
  if (!rc) rc = measure(x, ens, e);
  return rc;
}
