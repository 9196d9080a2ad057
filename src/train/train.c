/* The backend-neutral training loop: epochs of shuffled batches, validation after each,
 * early stopping with patience, and the best-validation weights kept. */
#include "abgpu/train.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "abgpu/rng.h"

/* RNG streams: one per purpose so that changing one use never shifts another. */
enum { STREAM_INIT = 1, STREAM_ORDER = 2 };

ab_train_cfg ab_train_cfg_default(void) {
  ab_train_cfg c;
  memset(&c, 0, sizeof c);
  ab_err e;
  ab_arch_parse(&c.arch, AB_NFEAT, "100,100", "relu,sigmoid", &e);
  c.batch = 100;
  c.epochs = 100;
  c.patience = 0;
  c.lr = 0.001f;
  c.wd = 0.0f;
  c.seed = 1;
  return c;
}

void ab_init_params(float *params, const ab_arch *a, uint64_t seed) {
  ab_rng r;
  ab_rng_seed(&r, seed, STREAM_INIT);
  for (int l = 0; l < a->nlayers; l++) {
    int in = a->dims[l], out = a->dims[l + 1];
    float limit = sqrtf(6.0f / (float)(in + out));
    float *W = params + ab_arch_w_off(a, l), *b = params + ab_arch_b_off(a, l);
    for (size_t i = 0; i < (size_t)in * out; i++)
      W[i] = (float)((2.0 * ab_rng_uniform(&r) - 1.0) * limit);
    memset(b, 0, (size_t)out * sizeof(float));
  }
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* A fresh permutation of the training rows; the first nbatches*batch are used. */
static void next_order(int32_t *order, uint32_t *perm, size_t n, ab_rng *r) {
  for (uint32_t i = 0; i < n; i++) perm[i] = i;
  ab_rng_shuffle_u32(r, perm, (uint32_t)n);
  for (size_t i = 0; i < n; i++) order[i] = (int32_t)perm[i];
}

typedef struct loop_state {
  int32_t *order;
  uint32_t *perm;
  ab_rng rng;
  double best_val;
  int best_epoch, bad_epochs;
} loop_state;

static int run_epoch(ab_epoch_stats *st, ab_backend *be, loop_state *ls, const ab_splits *s,
                     int nbatches, ab_err *e) {
  double t0 = now_ms(), loss = 0, vloss = 0;
  int64_t correct = 0;
  next_order(ls->order, ls->perm, s->train.n, &ls->rng);
  int rc = be->vt->train_epoch(be, ls->order, nbatches, &loss, e);
  if (!rc) rc = be->vt->evaluate(be, AB_SPLIT_VAL, &vloss, &correct, e);
  if (rc) return rc;
  st->train_loss = loss / nbatches;
  st->val_loss = s->val.n ? vloss / (double)s->val.n : 0.0;
  st->val_acc = s->val.n ? (double)correct / (double)s->val.n : 0.0;
  st->ms = now_ms() - t0;
  if (!isfinite(st->train_loss) || !isfinite(st->val_loss))
    return ab_err_set(e, AB_EDIVERGED,
                      "training diverged at epoch %d (loss is %s); try a lower --lr",
                      st->epoch, isnan(st->train_loss) || isnan(st->val_loss) ? "NaN" : "Inf");
  return AB_OK;
}

/* Updates early-stopping state; returns 1 when training should stop. */
static int early_stop(loop_state *ls, ab_backend *be, const ab_epoch_stats *st, int patience,
                      ab_err *e, int *rc) {
  uint8_t keep = st->val_loss < ls->best_val;
  if (keep) {
    ls->best_val = st->val_loss;
    ls->best_epoch = st->epoch;
    ls->bad_epochs = 0;
    *rc = be->vt->snapshot(be, &keep, e);
    return *rc != 0;
  }
  return ++ls->bad_epochs > patience;
}

static int final_metrics(ab_train_result *r, ab_backend *be, const ab_splits *s, ab_err *e) {
  double loss = 0;
  int64_t correct = 0;
  int rc = be->vt->evaluate(be, AB_SPLIT_TEST, &loss, &correct, e);
  if (rc) return rc;
  r->test_loss = s->test.n ? loss / (double)s->test.n : 0.0;
  r->test_acc = s->test.n ? (double)correct / (double)s->test.n : 0.0;
  rc = be->vt->evaluate(be, AB_SPLIT_VAL, &loss, &correct, e);
  if (rc) return rc;
  r->val_loss = s->val.n ? loss / (double)s->val.n : 0.0;
  r->val_acc = s->val.n ? (double)correct / (double)s->val.n : 0.0;
  return be->vt->get_state(be, r->params, NULL, NULL, NULL, e);
}

static int check_cfg(const ab_train_cfg *c, const ab_splits *s, ab_err *e) {
  if (c->batch < 1) return ab_err_set(e, AB_EUSAGE, "--batch must be at least 1");
  if (c->epochs < 1) return ab_err_set(e, AB_EUSAGE, "--epochs must be at least 1");
  if (s->train.n < (size_t)c->batch)
    return ab_err_set(e, AB_EINPUT,
                      "the training split has %zu rows, fewer than one batch of %d; "
                      "use more data or a smaller --batch", s->train.n, c->batch);
  if (s->val.n == 0 || s->test.n == 0)
    return ab_err_set(e, AB_EINPUT, "the validation and test splits must not be empty; "
                      "use more data or change --split");
  return AB_OK;
}

static int train_loop(ab_train_result *r, ab_backend *be, const ab_train_cfg *cfg,
                      const ab_splits *s, loop_state *ls, ab_epoch_cb cb, void *user, ab_err *e) {
  int nbatches = (int)(s->train.n / (size_t)cfg->batch), rc = AB_OK;
  double total_ms = 0;
  for (int ep = 1; ep <= cfg->epochs; ep++) {
    ab_epoch_stats *st = &r->hist[ep - 1];
    st->epoch = ep;
    if ((rc = run_epoch(st, be, ls, s, nbatches, e))) return rc;
    r->epochs = ep;
    total_ms += st->ms;
    r->train_loss = st->train_loss;
    int stop = early_stop(ls, be, st, cfg->patience, e, &rc);
    if (rc) return rc;
    if (cb && cb(st, user)) return ab_err_set(e, AB_EINTR, "interrupted after epoch %d", ep);
    if (stop) break;
  }
  r->ms_per_epoch = total_ms / r->epochs;
  r->best_epoch = cfg->keep_last ? r->epochs : ls->best_epoch;
  if (!cfg->keep_last && (rc = be->vt->restore(be, e))) return rc;
  return final_metrics(r, be, s, e);
}

int ab_train(ab_train_result *r, ab_backend *be, const ab_train_cfg *cfg, const ab_splits *s,
             ab_epoch_cb cb, void *user, ab_err *e) {
  memset(r, 0, sizeof *r);
  int rc = check_cfg(cfg, s, e);
  if (rc) return rc;
  size_t P = ab_arch_nparams(&cfg->arch);
  loop_state ls = {0};
  ls.best_val = INFINITY;
  ab_rng_seed(&ls.rng, cfg->seed, STREAM_ORDER);
  ls.order = malloc(s->train.n * sizeof(int32_t));
  ls.perm = malloc(s->train.n * sizeof(uint32_t));
  r->hist = calloc((size_t)cfg->epochs, sizeof *r->hist);
  r->params = malloc(P * sizeof(float));
  if (!ls.order || !ls.perm || !r->hist || !r->params) {
    rc = ab_err_set(e, AB_ENOMEM, "out of memory");
    goto done;
  }
  ab_init_params(r->params, &cfg->arch, cfg->seed);
  ab_hyper hp = {cfg->lr, cfg->wd};
  rc = be->vt->init_models(be, &cfg->arch, 1, cfg->batch, r->params, &hp, e);
  if (!rc) rc = train_loop(r, be, cfg, s, &ls, cb, user, e);
done:
  free(ls.order);
  free(ls.perm);
  return rc;
}

void ab_train_result_free(ab_train_result *r) {
  free(r->hist);
  free(r->params);
  memset(r, 0, sizeof *r);
}
