/* The backend-neutral training loop: K models in lockstep over shuffled (or fixed)
 * batches, a learning-rate schedule, validation after each epoch, early stopping per
 * model, the best (or, for keep_last, the stopping epoch's) weights kept, and
 * checkpoints. */
#include "abgpu/train.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "abgpu/fileio.h"
#include "run.h"

/* RNG streams: one per purpose so that changing one use never shifts another. */
enum { STREAM_INIT = 1, STREAM_ORDER = 2 };

void ab_recipe_default(ab_train_cfg *c, ab_prep_opts *p) {
  *c = ab_train_cfg_default();
  c->patience = AB_RECIPE_PATIENCE;
  *p = ab_prep_opts_default();
  p->transform = AB_RECIPE_TRANSFORM;
  p->balance = AB_RECIPE_BALANCE;
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

uint32_t ab_splits_hash(const ab_splits *s) {
  const ab_split *sp[3] = {&s->train, &s->val, &s->test};
  uint32_t h = 0;
  for (int i = 0; i < 3; i++) {
    h = ab_crc32(h, sp[i]->in, sp[i]->n * (size_t)sp[i]->d * sizeof(float));
    h = ab_crc32(h, sp[i]->y, sp[i]->n * sizeof(int32_t));
  }
  return h;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int check_cfg(const ab_train_cfg *c, int K, const ab_splits *s, ab_err *e) {
  for (int k = 0; k < K; k++) {
    if (c[k].batch < 1) return ab_err_set(e, AB_EUSAGE, "--batch must be at least 1");
    if (c[k].epochs < 1) return ab_err_set(e, AB_EUSAGE, "--epochs must be at least 1");
    if (c[k].min_epochs < 0 || c[k].min_epochs > c[k].epochs)
      return ab_err_set(e, AB_EUSAGE, "--min-epochs %d: expected 0..--epochs (%d)",
                        c[k].min_epochs, c[k].epochs);
    if (!(c[k].dropout >= 0.0f && c[k].dropout < 1.0f))
      return ab_err_set(e, AB_EUSAGE, "--dropout %g: expected 0 <= p < 1", (double)c[k].dropout);
    if (c[k].batch != c[0].batch || memcmp(&c[k].arch, &c[0].arch, sizeof c[0].arch) != 0)
      return ab_err_set(e, AB_EUSAGE, "models trained together need the same layers and batch");
  }
  if (c[0].arch.dims[0] != s->train.d)
    return ab_err_set(e, AB_EUSAGE, "the network takes %d inputs, the prepared data has %d",
                      c[0].arch.dims[0], s->train.d);
  if (s->train.n < (size_t)c[0].batch)
    return ab_err_set(e, AB_EINPUT, "the training split has %zu rows, fewer than one batch of %d; "
                      "use more data or a smaller --batch", s->train.n, c[0].batch);
  if (s->val.n == 0 || s->test.n == 0)
    return ab_err_set(e, AB_EINPUT, "the validation and test splits must not be empty; "
                      "use more data or change --split");
  return AB_OK;
}

/* Each model's next batch order: a fresh permutation, of which nb*batch rows are used;
 * or, for a fixed order, the training rows as they are (the split is already shuffled). */
static void next_orders(int32_t *order, uint32_t *perm, ab_rng *rng, int K,
                        const ab_train_cfg *cfg, size_t n, size_t used) {
  for (int k = 0; k < K; k++) {
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    if (cfg[k].order == AB_ORDER_SHUFFLE) ab_rng_shuffle_u32(&rng[k], perm, (uint32_t)n);
    for (size_t i = 0; i < used; i++) order[(size_t)k * used + i] = (int32_t)perm[i];
  }
}

typedef struct loop_bufs {
  int32_t *order[2]; /* [K][nbatches*batch]: the epoch's, and the next one made meanwhile */
  int side, ready;   /* order[side] goes up; ready: order[1 - side] holds the next epoch's */
  int nsent;         /* models the device was last told are active */
  ab_rng *seen, *next; /* [K] the order streams the next orders started from, and ended at */
  uint32_t *perm;   /* [ntrain] */
  double *loss, *vloss;
  int64_t *correct;
  uint8_t *keep, *active;
  ab_epoch_stats *cur; /* [K] this epoch's stats, for the callback */
  ab_hyper *hyper;     /* [K] this epoch's learning rates */
} loop_bufs;

/* The orders made while the last epoch ran, when the models' streams are still where
 * they were then (a resume or anything else that moved them makes them stale). */
static int take_next(ab_run *run, loop_bufs *b) {
  int ok = b->ready;
  b->ready = 0;
  for (int k = 0; k < run->K && ok; k++)
    ok = memcmp(&run->track[k].rng, &b->seen[k], sizeof b->seen[k]) == 0;
  if (!ok) return 0;
  for (int k = 0; k < run->K; k++) run->track[k].rng = b->next[k];
  b->side = 1 - b->side;
  return 1;
}

/* The next epoch's orders into order[1 - side] from copies of the streams, which move
 * only when take_next uses them: a checkpoint after this epoch saves the streams as
 * they are, and a resumed run makes the same orders. */
static void make_next(ab_run *run, loop_bufs *b, const ab_train_cfg *cfg, size_t n,
                      size_t used) {
  for (int k = 0; k < run->K; k++) b->seen[k] = b->next[k] = run->track[k].rng;
  next_orders(b->order[1 - b->side], b->perm, b->next, run->K, cfg, n, used);
  b->ready = 1;
}

/* An epoch: its orders go up and its steps are queued, the next epoch's orders are made
 * on the host while the device runs, then the losses come back and validation runs. */
static int run_epoch(ab_run *run, ab_backend *be, loop_bufs *b, const ab_splits *s, int nb,
                     const ab_train_cfg *cfg, ab_err *e) {
  double t0 = now_ms();
  size_t used = (size_t)nb * cfg[0].batch;
  if (!take_next(run, b)) {
    for (int k = 0; k < run->K; k++) b->next[k] = run->track[k].rng;
    next_orders(b->order[b->side], b->perm, b->next, run->K, cfg, s->train.n, used);
    for (int k = 0; k < run->K; k++) run->track[k].rng = b->next[k];
  }
  int rc = ab_backend_train_start(be, b->order[b->side], nb, e);
  if (!rc) make_next(run, b, cfg, s->train.n, used);
  if (!rc) rc = ab_backend_train_finish(be, b->loss, e);
  if (!rc) rc = ab_backend_evaluate(be, AB_SPLIT_VAL, b->vloss, b->correct, e);
  if (rc) return rc;
  double ms = now_ms() - t0;
  run->total_ms += ms;
  for (int k = 0; k < run->K; k++) {
    ab_epoch_stats *st = &run->hist[(size_t)k * run->max_epochs + run->epoch];
    st->epoch = run->epoch + 1;
    st->train_loss = b->loss[k] / nb;
    st->val_loss = b->vloss[k] / (double)s->val.n;
    st->val_acc = (double)b->correct[k] / (double)s->val.n;
    st->ms = ms;
    b->cur[k] = *st;
    if (run->track[k].active && (!isfinite(st->train_loss) || !isfinite(st->val_loss)))
      return ab_err_set(e, AB_EDIVERGED, "training diverged at epoch %d (loss is %s)%s; try a "
                        "lower --lr", st->epoch, isnan(st->train_loss) || isnan(st->val_loss) ?
                        "NaN" : "Inf", run->K > 1 ? " in one of the models" : "");
  }
  run->epoch++;
  return AB_OK;
}

/* The stopping rule says stop: `patience` epochs past the best (AB_STOP_BEST), or a
 * loss above the previous epoch's (AB_STOP_RISE, the notebook's rule, patience 0). */
static int should_stop(const ab_track *t, const ab_train_cfg *c, const ab_epoch_stats *st) {
  if (st->epoch <= c->min_epochs) return 0;
  if (c->stop == AB_STOP_RISE) return st->epoch > 1 && st->val_loss > st[-1].val_loss;
  return t->bad_epochs > c->patience;
}

/* Reduce-on-plateau: halve the rate after AB_PLATEAU_WAIT epochs without a better loss. */
static void plateau(ab_track *t, const ab_train_cfg *c, int improved) {
  t->since_cut = improved ? 0 : t->since_cut + 1;
  if (c->sched == AB_SCHED_PLATEAU && t->since_cut >= AB_PLATEAU_WAIT && t->cuts < AB_PLATEAU_CUTS) {
    t->cuts++;
    t->since_cut = 0;
  }
}

/* Early stopping per model; keep[k] says whose weights to snapshot now. */
static void early_stop(ab_run *run, const ab_train_cfg *cfg, uint8_t *keep) {
  for (int k = 0; k < run->K; k++) {
    ab_track *t = &run->track[k];
    const ab_epoch_stats *st = &run->hist[(size_t)k * run->max_epochs + run->epoch - 1];
    keep[k] = 0;
    if (!t->active) continue;
    t->last_epoch = st->epoch;
    int improved = st->val_loss < t->best_val;
    if (improved) {
      t->best_val = st->val_loss;
      t->best_epoch = st->epoch;
      t->bad_epochs = 0;
      keep[k] = 1;
    } else {
      t->bad_epochs++;
    }
    plateau(t, &cfg[k], improved);
    if (should_stop(t, &cfg[k], st) || run->epoch >= cfg[k].epochs) t->active = 0;
    if (cfg[k].keep_last) keep[k] = 1; /* the last epoch it trained is the one kept */
  }
}

/* Model k's learning rate for epoch `epoch` (0-based) under its schedule. */
static float sched_lr(const ab_train_cfg *c, const ab_track *t, int epoch) {
  if (c->sched == AB_SCHED_COSINE)
    return (float)(c->lr * 0.5 * (1.0 + cos(3.14159265358979323846 * (double)epoch / (double)c->epochs)));
  if (c->sched == AB_SCHED_PLATEAU) return ldexpf(c->lr, -t->cuts);
  return c->lr;
}

/* Hands the backend this epoch's learning rates when any model has a schedule. */
static int apply_sched(ab_backend *be, const ab_run *run, const ab_train_cfg *cfg, ab_hyper *hp,
                       ab_err *e) {
  int any = 0;
  for (int k = 0; k < run->K; k++) {
    any |= cfg[k].sched != AB_SCHED_NONE;
    hp[k].lr = sched_lr(&cfg[k], &run->track[k], run->epoch);
    hp[k].wd = cfg[k].wd;
  }
  return any ? ab_backend_set_hyper(be, hp, e) : AB_OK;
}

static int count_active(const ab_run *run, uint8_t *active) {
  int n = 0;
  for (int k = 0; k < run->K; k++) n += (active[k] = (uint8_t)run->track[k].active);
  return n;
}

/* Models that stopped leave the device's launches: told when the count changes (models
 * only stop; init_models starts with all of them). */
static int mask_stopped(ab_backend *be, loop_bufs *b, int n, ab_err *e) {
  if (n == b->nsent) return AB_OK;
  b->nsent = n;
  return ab_backend_set_active(be, b->active, e);
}

static int run_alloc(ab_run *run, const ab_train_cfg *cfg, int K) {
  memset(run, 0, sizeof *run);
  run->K = K;
  run->P = ab_arch_nparams(&cfg[0].arch);
  for (int k = 0; k < K; k++)
    if (cfg[k].epochs > run->max_epochs) run->max_epochs = cfg[k].epochs;
  run->track = calloc((size_t)K, sizeof *run->track);
  run->hist = calloc((size_t)K * run->max_epochs, sizeof *run->hist);
  if (!run->track || !run->hist) return -1;
  for (int k = 0; k < K; k++) {
    ab_rng_seed(&run->track[k].rng, cfg[k].seed, STREAM_ORDER);
    run->track[k].best_val = INFINITY;
    run->track[k].active = 1;
  }
  return 0;
}

static void run_free(ab_run *run) {
  free(run->track);
  free(run->hist);
}

static int bufs_alloc(loop_bufs *b, int K, size_t ntrain, size_t used) {
  for (int i = 0; i < 2; i++) b->order[i] = malloc((size_t)K * used * sizeof *b->order[i]);
  b->seen = malloc((size_t)K * sizeof *b->seen);
  b->next = malloc((size_t)K * sizeof *b->next);
  b->perm = malloc(ntrain * sizeof *b->perm);
  b->loss = calloc((size_t)K, sizeof *b->loss);
  b->vloss = calloc((size_t)K, sizeof *b->vloss);
  b->correct = calloc((size_t)K, sizeof *b->correct);
  b->keep = calloc((size_t)K, 1);
  b->active = calloc((size_t)K, 1);
  b->cur = calloc((size_t)K, sizeof *b->cur);
  b->hyper = calloc((size_t)K, sizeof *b->hyper);
  return b->order[0] && b->order[1] && b->seen && b->next && b->perm && b->loss &&
         b->vloss && b->correct && b->keep && b->active &&
         b->cur && b->hyper ? 0 : -1;
}

static void bufs_free(loop_bufs *b) {
  free(b->order[0]); free(b->order[1]); free(b->seen); free(b->next);
  free(b->perm); free(b->loss); free(b->vloss);
  free(b->correct); free(b->keep); free(b->active); free(b->cur); free(b->hyper);
}

/* Each model's dropout rate and mask seed (its own seed), when any has dropout. */
static int start_dropout(ab_backend *be, const ab_train_cfg *cfg, int K, ab_err *e) {
  int any = 0;
  for (int k = 0; k < K; k++) any |= cfg[k].dropout > 0.0f;
  if (!any) return AB_OK;
  float *p = malloc((size_t)K * sizeof *p);
  uint64_t *seed = malloc((size_t)K * sizeof *seed);
  int rc = p && seed ? AB_OK : ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int k = 0; k < K && !rc; k++) {
    p[k] = cfg[k].dropout;
    seed[k] = cfg[k].seed;
  }
  if (!rc) rc = ab_backend_set_dropout(be, p, seed, e);
  free(p);
  free(seed);
  return rc;
}

/* Fresh start: every model's initial weights, then the backend's models. */
static int start_models(ab_backend *be, const ab_train_cfg *cfg, const ab_run *run, ab_err *e) {
  float *p = malloc((size_t)run->K * run->P * sizeof *p);
  ab_hyper *hp = malloc((size_t)run->K * sizeof *hp);
  int rc = p && hp ? AB_OK : ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int k = 0; k < run->K && !rc; k++) {
    ab_init_params(p + (size_t)k * run->P, &cfg[k].arch, cfg[k].seed);
    hp[k].lr = cfg[k].lr;
    hp[k].wd = cfg[k].wd;
  }
  if (!rc) rc = ab_backend_init_models(be, &cfg[0].arch, run->K, cfg[0].batch, p, hp, e);
  if (!rc) rc = start_dropout(be, cfg, run->K, e);
  free(p);
  free(hp);
  return rc;
}

/* Test and validation figures with the kept weights, and the weights themselves. */
static int finish(ab_train_result *r, ab_backend *be, const ab_run *run, const ab_train_cfg *cfg,
                  const ab_splits *s, loop_bufs *b, ab_err *e) {
  float *p = malloc((size_t)run->K * run->P * sizeof *p);
  int rc = p ? ab_backend_slot_copy(be, AB_SLOT_PARAMS, AB_SLOT_BEST, NULL, e)
             : ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) rc = ab_backend_evaluate(be, AB_SPLIT_TEST, b->loss, b->correct, e);
  for (int k = 0; k < run->K && !rc; k++) {
    r[k].test_loss = b->loss[k] / (double)s->test.n;
    r[k].test_acc = (double)b->correct[k] / (double)s->test.n;
  }
  if (!rc) rc = ab_backend_evaluate(be, AB_SPLIT_VAL, b->loss, b->correct, e);
  if (!rc) rc = ab_backend_slot_read(be, AB_SLOT_PARAMS, p, e);
  for (int k = 0; k < run->K && !rc; k++) {
    const ab_track *t = &run->track[k];
    ab_train_result *x = &r[k];
    x->val_loss = b->loss[k] / (double)s->val.n;
    x->val_acc = (double)b->correct[k] / (double)s->val.n;
    x->epochs = t->last_epoch;
    x->best_epoch = cfg[k].keep_last ? t->last_epoch : t->best_epoch;
    x->train_loss = run->hist[(size_t)k * run->max_epochs + x->epochs - 1].train_loss;
    x->ms_per_epoch = run->total_ms / run->epoch;
    x->hist = malloc((size_t)x->epochs * sizeof *x->hist);
    x->params = malloc(run->P * sizeof(float));
    if (!x->hist || !x->params) { rc = ab_err_set(e, AB_ENOMEM, "out of memory"); break; }
    memcpy(x->hist, run->hist + (size_t)k * run->max_epochs, (size_t)x->epochs * sizeof *x->hist);
    memcpy(x->params, p + (size_t)k * run->P, run->P * sizeof(float));
  }
  free(p);
  return rc;
}

typedef struct loop_ctx {
  ab_backend *be;
  const ab_train_cfg *cfg;
  const ab_splits *s;
  const ab_ckpt_opts *ck;
  uint32_t hash;
  ab_many_cb cb;
  void *user;
} loop_ctx;

static int save(const loop_ctx *c, const ab_run *run, ab_err *e) {
  return ab_ckpt_write(c->ck->path, run, c->cfg, c->be, c->hash, c->ck->note, e);
}

static int loop(const loop_ctx *c, ab_run *run, loop_bufs *b, ab_err *e) {
  int nb = (int)(c->s->train.n / (size_t)c->cfg[0].batch), rc = AB_OK;
  int every = c->ck && c->ck->path ? c->ck->every : 0;
  int n;
  b->nsent = run->K;
  while (!rc && (n = count_active(run, b->active)) > 0) {
    if ((rc = mask_stopped(c->be, b, n, e))) break;
    if ((rc = apply_sched(c->be, run, c->cfg, b->hyper, e))) break;
    if ((rc = run_epoch(run, c->be, b, c->s, nb, c->cfg, e))) break;
    early_stop(run, c->cfg, b->keep);
    if ((rc = ab_backend_slot_copy(c->be, AB_SLOT_BEST, AB_SLOT_PARAMS, b->keep, e))) break;
    int stop = c->cb && c->cb(b->cur, b->active, run->K, c->user);
    if (every > 0 && run->epoch % every == 0 && (rc = save(c, run, e))) break;
    if (stop) {
      rc = c->ck && c->ck->path ? save(c, run, e) : AB_OK;
      if (!rc) rc = ab_err_set(e, AB_EINTR, "stopped after epoch %d", run->epoch);
    }
  }
  return rc;
}

int ab_train_many(ab_train_result *r, ab_backend *be, const ab_train_cfg *cfg, int K,
                  const ab_splits *s, const ab_ckpt_opts *ck, ab_many_cb cb, void *user,
                  ab_err *e) {
  memset(r, 0, (size_t)K * sizeof *r);
  int rc = check_cfg(cfg, K, s, e);
  if (rc) return rc;
  ab_run run;
  loop_bufs b = {0};
  size_t used = s->train.n / (size_t)cfg[0].batch * (size_t)cfg[0].batch;
  if (run_alloc(&run, cfg, K) || bufs_alloc(&b, K, s->train.n, used))
    rc = ab_err_set(e, AB_ENOMEM, "out of memory for %d models", K);
  loop_ctx c = {be, cfg, s, ck, ab_splits_hash(s), cb, user};
  if (!rc) rc = start_models(be, cfg, &run, e);
  if (!rc && ck && ck->resume) rc = ab_ckpt_read(ck->resume, &run, cfg, be, c.hash, e);
  if (!rc) rc = loop(&c, &run, &b, e);
  if (!rc) rc = finish(r, be, &run, cfg, s, &b, e);
  run_free(&run);
  bufs_free(&b);
  return rc;
}

typedef struct one_cb { ab_epoch_cb cb; void *user; } one_cb;

static int call_one(const ab_epoch_stats *st, const uint8_t *active, int K, void *user) {
  (void)active; (void)K;
  one_cb *o = user;
  return o->cb ? o->cb(st, o->user) : 0;
}

int ab_train(ab_train_result *r, ab_backend *be, const ab_train_cfg *cfg, const ab_splits *s,
             ab_epoch_cb cb, void *user, ab_err *e) {
  one_cb o = {cb, user};
  return ab_train_many(r, be, cfg, 1, s, NULL, call_one, &o, e);
}
