/* The backend: the splits and K models' state on a device, kept through its op table
 * (backend.h). Epochs and evaluation passes go to the device's override when it has
 * one for the current plan, else to the generic step (step.c) and pass (pass.c). */
#include "abgpu/backend.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "abgpu/cl.h"
#include "abgpu/cpu.h"
#include "abgpu/ref.h"
#include "pass.h"

int ab_backend_open(ab_backend **out, const ab_ops *ops, ab_dev *dev, const char *name,
                    ab_err *e) {
  ab_backend *be = calloc(1, sizeof *be);
  if (!be) {
    ops->destroy(dev);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  be->ops = ops;
  be->dev = dev;
  snprintf(be->name, sizeof be->name, "%s", name);
  *out = be;
  return AB_OK;
}

int ab_backend_ref_create(ab_backend **be, ab_err *e) {
  ab_dev *d;
  int rc = ab_ref_dev_create(&d, e);
  return rc ? rc : ab_backend_open(be, &ab_ref_ops, d, "cpu-ref", e);
}

int ab_backend_cpu_create(ab_backend **be, const ab_cpu_opts *o, ab_err *e) {
  ab_dev *d;
  char name[128];
  int rc = ab_cpu_dev_create(&d, o, name, sizeof name, e);
  return rc ? rc : ab_backend_open(be, &ab_cpu_ops, d, name, e);
}

int ab_backend_cl_create(ab_backend **be, int device, const ab_cl_opts *o, ab_err *e) {
  ab_dev *d;
  char name[128];
  int rc = ab_cl_dev_create(&d, device, o, name, sizeof name, e);
  return rc ? rc : ab_backend_open(be, &ab_cl_ops, d, name, e);
}

/* Every ab_mem of the models, for allocation and release in one loop. */
static int model_mems(ab_models *m, ab_mem **list) {
  int n = 0;
  for (int s = 0; s < AB_NSLOTS; s++) list[n++] = &m->slot[s];
  ab_mem *rest[] = {&m->grad, &m->lr, &m->wd, &m->dA, &m->dB, &m->loss, &m->order,
                    &m->bloss, &m->eloss, &m->ecount, &m->prob, &m->dropc};
  for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) list[n++] = rest[i];
  for (int l = 0; l <= AB_MAX_LAYERS; l++) list[n++] = &m->act[l];
  for (int l = 0; l <= AB_MAX_LAYERS; l++) list[n++] = &m->drop[l];
  return n;
}

static void free_models(ab_backend *be) {
  ab_mem *list[64];
  int n = model_mems(&be->m, list);
  for (int i = 0; i < n; i++) be->ops->release(be->dev, list[i]);
  memset(&be->m, 0, sizeof be->m);
}

static void free_data(ab_backend *be) {
  for (int s = 0; s < 3; s++) {
    be->ops->release(be->dev, &be->data.x[s]);
    be->ops->release(be->dev, &be->data.y[s]);
  }
  memset(&be->data, 0, sizeof be->data);
  be->loaded = 0;
}

void ab_backend_free(ab_backend *be) {
  if (!be) return;
  free_models(be);
  free_data(be);
  be->ops->destroy(be->dev);
  free(be);
}

static const ab_split *split_of(const ab_splits *s, int id) {
  return id == AB_SPLIT_TRAIN ? &s->train : id == AB_SPLIT_VAL ? &s->val : &s->test;
}

int ab_backend_load_data(ab_backend *be, const ab_splits *s, ab_err *e) {
  free_models(be);
  free_data(be);
  int d = s->train.d, rc = AB_OK;
  for (int i = 0; i < 3 && !rc; i++) {
    const ab_split *sp = split_of(s, i);
    if (sp->d != d) return ab_err_set(e, AB_EUSAGE, "the splits have different input widths");
    if (sp->n > (size_t)INT32_MAX / (size_t)(d > 0 ? d : 1))
      return ab_err_set(e, AB_EINPUT, "split too large: %zu rows", sp->n);
    rc = be->ops->upload(be->dev, &be->data.x[i], sp->in, sp->n * (size_t)d * sizeof(float), e);
    if (!rc) rc = be->ops->upload(be->dev, &be->data.y[i], sp->y, sp->n * sizeof(int32_t), e);
    be->data.n[i] = sp->n;
    if (sp->n > be->data.maxn) be->data.maxn = sp->n;
  }
  be->data.d = d;
  if (rc) free_data(be);
  else be->loaded = 1;
  return rc;
}

/* Sizes of the models' buffers from arch, K, batch and the data. */
static void set_sizes(ab_models *m, const ab_data *data, const ab_ops *ops, const ab_arch *a,
                      int K, int batch) {
  m->a = *a;
  m->K = K;
  m->B = batch;
  m->P = ab_arch_nparams(a);
  size_t rows = data->maxn < (size_t)ops->eval_rows ? (data->maxn ? data->maxn : 1)
                                                      : (size_t)ops->eval_rows;
  m->R = (int)rows > batch ? (int)rows : batch;
  m->maxbatches = (int)(data->n[AB_SPLIT_TRAIN] / (size_t)batch);
  if (m->maxbatches < 1) m->maxbatches = 1;
  m->maxslots = (int)((data->maxn + m->R - 1) / m->R);
  if (m->maxslots < 1) m->maxslots = 1;
}

static int alloc_models(ab_backend *be, ab_err *e) {
  ab_models *m = &be->m;
  size_t K = (size_t)m->K, f = sizeof(float), kp = K * m->P * f, kb = K * m->B;
  size_t md = (size_t)ab_arch_maxdim(&m->a), rows = be->data.n[AB_SPLIT_TRAIN];
  int rc = AB_OK;
  for (int s = 0; s < AB_NSLOTS && !rc; s++) rc = be->ops->alloc(be->dev, &m->slot[s], kp, e);
  struct { ab_mem *m; size_t bytes; } want[] = {
      {&m->grad, kp}, {&m->lr, K * f}, {&m->wd, K * f}, {&m->dA, kb * md * f},
      {&m->dB, kb * md * f}, {&m->loss, kb * f}, {&m->order, K * rows * sizeof(int32_t)},
      {&m->bloss, K * m->maxbatches * f}, {&m->eloss, K * m->maxslots * 8},
      {&m->ecount, K * m->maxslots * 8}, {&m->prob, K * be->data.maxn * f}};
  for (size_t i = 0; i < sizeof want / sizeof want[0] && !rc; i++)
    rc = be->ops->alloc(be->dev, want[i].m, want[i].bytes, e);
  for (int l = 0; l <= m->a.nlayers && !rc; l++)
    rc = be->ops->alloc(be->dev, &m->act[l], K * m->R * m->a.dims[l] * f, e);
  return rc;
}

/* Params (and best) from host, Adam state zeroed, step count 0. */
static int reset_state(ab_backend *be, const float *params, ab_err *e) {
  int rc = ab_backend_slot_write(be, AB_SLOT_PARAMS, params, e);
  if (!rc) rc = ab_backend_slot_write(be, AB_SLOT_BEST, params, e);
  size_t bytes = (size_t)be->m.K * be->m.P * sizeof(float);
  if (!rc) rc = be->ops->zero(be->dev, &be->m.slot[AB_SLOT_ADAM_M], bytes, e);
  if (!rc) rc = be->ops->zero(be->dev, &be->m.slot[AB_SLOT_ADAM_V], bytes, e);
  be->m.t = 0;
  return rc;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Epoch seconds of path i: 1 and n3 batches, each the best of its runs so far. */
static int time_path(ab_backend *be, int i, const int32_t *order, double *loss, int n3,
                     double *sec, ab_err *e) {
  int rc = be->ops->path_use(be->dev, i, NULL, e);
  for (int j = 0; j < 2 && !rc; j++) {
    double t0 = now_s();
    rc = ab_backend_train_epoch(be, order, j == 0 ? 1 : n3, loss, e);
    double t = now_s() - t0;
    if (t < sec[j]) sec[j] = t;
  }
  return rc;
}

/* Times the device's candidate paths (ops->paths): each one batch untimed (a runtime's
 * compilation), then, twice in turn (the best of two, against a busy machine), epochs of
 * 1 and of min(3, maxbatches) batches (train_epoch ends by reading the losses back, so
 * it waits for the device); a candidate whose batch is slower than two of the first's
 * 3-batch epochs is timed no more. The device chooses; the state is reset after. */
static int measure_paths(ab_backend *be, const int32_t *order, double *loss, ab_err *e) {
  int np = be->ops->paths ? be->ops->paths(be->dev) : 0, rc = AB_OK;
  int n3 = be->m.maxbatches < 3 ? be->m.maxbatches : 3, slow[4] = {0};
  double sec[8];
  if (np < 2) return AB_OK;
  if (np > 4) np = 4;
  for (int i = 0; i < 8; i++) sec[i] = 1e30;
  for (int i = 0; i < np && !rc; i++) {
    rc = be->ops->path_use(be->dev, i, NULL, e);
    if (!rc) rc = ab_backend_train_epoch(be, order, 1, loss, e);
  }
  for (int rep = 0; rep < 2 && !rc; rep++)
    for (int i = 0; i < np && !rc; i++) {
      if (slow[i]) continue;
      rc = time_path(be, i, order, loss, n3, sec + 2 * i, e);
      if (i > 0 && sec[2 * i] > 2.0 * sec[1]) { /* 3 of its batches stand for its epoch */
        slow[i] = 1;
        sec[2 * i + 1] = sec[2 * i] * n3;
      }
    }
  return rc ? rc : be->ops->path_use(be->dev, -1, sec, e);
}

/* One batch and one evaluation with the real shapes (ops->warm_up), before the state is
 * reset: a runtime compiling per launch shape does it here, not in a timed epoch; and
 * the timing of the device's candidate paths, when its plan asks for one. */
static int warm_up(ab_backend *be, ab_err *e) {
  if (!be->ops->warm_up || be->data.n[AB_SPLIT_TRAIN] < (size_t)be->m.B) return AB_OK;
  size_t n = 3 * (size_t)be->m.K * be->m.B; /* room for the 3-batch timing epoch */
  int32_t *order = malloc(n * sizeof *order);
  double *loss = malloc(3 * (size_t)be->m.K * sizeof *loss); /* K per epoch */
  int64_t *correct = malloc((size_t)be->m.K * sizeof *correct);
  int rc = order && loss && correct ? AB_OK : ab_err_set(e, AB_ENOMEM, "out of memory");
  for (size_t i = 0; i < n && !rc; i++) order[i] = (int32_t)(i % (size_t)be->m.B);
  if (!rc) rc = measure_paths(be, order, loss, e);
  if (!rc) rc = ab_backend_train_epoch(be, order, 1, loss, e);
  if (!rc && be->data.n[AB_SPLIT_VAL]) rc = ab_backend_evaluate(be, AB_SPLIT_VAL, loss, correct, e);
  free(order);
  free(loss);
  free(correct);
  return rc;
}

int ab_backend_init_models(ab_backend *be, const ab_arch *a, int K, int batch,
                           const float *params, const ab_hyper *hyper, ab_err *e) {
  if (!be->loaded) return ab_err_set(e, AB_EUSAGE, "%s: load_data first", be->name);
  if (K < 1 || batch < 1) return ab_err_set(e, AB_EUSAGE, "need K >= 1 and batch >= 1");
  if (a->dims[0] != be->data.d)
    return ab_err_set(e, AB_EUSAGE, "the network takes %d inputs, the data has %d",
                      a->dims[0], be->data.d);
  free_models(be);
  set_sizes(&be->m, &be->data, be->ops, a, K, batch);
  int rc = alloc_models(be, e);
  if (!rc) rc = ab_backend_set_hyper(be, hyper, e);
  if (!rc && be->ops->plan) rc = be->ops->plan(be->dev, &be->m, &be->data, e);
  if (!rc) rc = reset_state(be, params, e);
  if (!rc) rc = warm_up(be, e);
  if (!rc) rc = reset_state(be, params, e);
  if (rc) free_models(be);
  return rc;
}

static int check_models(const ab_backend *be, ab_err *e) {
  if (!be->m.K) return ab_err_set(e, AB_EUSAGE, "%s: init_models was not called", be->name);
  return AB_OK;
}

/* The dropout buffers (hidden activations after dropout, the constants), once. */
static int alloc_dropout(ab_backend *be, ab_err *e) {
  ab_models *m = &be->m;
  size_t kb = (size_t)m->K * m->B * sizeof(float);
  int rc = m->dropc.h ? AB_OK
                      : be->ops->alloc(be->dev, &m->dropc, (size_t)m->K * AB_DROP_NC * 4, e);
  for (int h = 1; h < m->a.nlayers && !rc; h++)
    if (!m->drop[h].h) rc = be->ops->alloc(be->dev, &m->drop[h], kb * m->a.dims[h], e);
  return rc;
}

int ab_backend_set_dropout(ab_backend *be, const float *p, const uint64_t *seed, ab_err *e) {
  int rc = check_models(be, e), K = be->m.K, any = 0;
  for (int k = 0; k < K && !rc; k++) {
    if (!(p[k] >= 0.0f && p[k] < 1.0f))
      return ab_err_set(e, AB_EUSAGE, "dropout %g: expected 0 <= p < 1", (double)p[k]);
    any |= p[k] > 0.0f;
  }
  if (rc) return rc;
  be->m.dropout = any;
  if (!any) return AB_OK;
  uint32_t *c = malloc((size_t)K * AB_DROP_NC * sizeof *c);
  rc = c ? alloc_dropout(be, e) : ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int k = 0; k < K && !rc; k++)
    ab_dropout_consts(c + (size_t)k * AB_DROP_NC, p[k], seed[k]);
  if (!rc) rc = be->ops->write(be->dev, &be->m.dropc, 0, c, (size_t)K * AB_DROP_NC * 4, e);
  free(c);
  return rc;
}

int ab_backend_set_hyper(ab_backend *be, const ab_hyper *hyper, ab_err *e) {
  int rc = check_models(be, e), K = be->m.K;
  float *h = rc ? NULL : malloc(2 * (size_t)K * sizeof *h);
  if (!rc && !h) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int k = 0; k < K && !rc; k++) { h[k] = hyper[k].lr; h[K + k] = hyper[k].wd; }
  if (!rc) rc = be->ops->write(be->dev, &be->m.lr, 0, h, (size_t)K * sizeof *h, e);
  if (!rc) rc = be->ops->write(be->dev, &be->m.wd, 0, h + K, (size_t)K * sizeof *h, e);
  free(h);
  return rc;
}

/* The batch count fits the training split and every row index is a training row (the
 * ops read rows through these indices unchecked). */
static int check_order(const ab_backend *be, const int32_t *order, int nbatches, ab_err *e) {
  size_t per_model = (size_t)nbatches * be->m.B, n = be->data.n[AB_SPLIT_TRAIN];
  if (nbatches < 1 || nbatches > be->m.maxbatches || per_model > n)
    return ab_err_set(e, AB_EUSAGE, "train_epoch: %d batches of %d do not fit %zu rows",
                      nbatches, be->m.B, n);
  for (size_t i = 0; i < (size_t)be->m.K * per_model; i++)
    if (order[i] < 0 || (size_t)order[i] >= n)
      return ab_err_set(e, AB_EUSAGE, "train_epoch: order[%zu] = %d is not a training row "
                        "(0..%zu)", i, (int)order[i], n - 1);
  return AB_OK;
}

/* loss_sum[k] = the epoch's batch mean losses of model k added in batch order. */
static int read_losses(ab_backend *be, int nbatches, double *loss_sum, ab_err *e) {
  size_t n = (size_t)be->m.K * be->m.maxbatches;
  float *bl = malloc(n * sizeof *bl);
  int rc = bl ? be->ops->read(be->dev, &be->m.bloss, 0, bl, n * sizeof *bl, e)
              : ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int k = 0; k < be->m.K && !rc; k++) {
    loss_sum[k] = 0.0;
    for (int b = 0; b < nbatches; b++) loss_sum[k] += bl[(size_t)k * be->m.maxbatches + b];
  }
  free(bl);
  return rc;
}

int ab_backend_train_start(ab_backend *be, const int32_t *order, int nbatches, ab_err *e) {
  int rc = check_models(be, e), ran = 0;
  if (!rc && be->pending) rc = ab_err_set(e, AB_EUSAGE, "train_start: an epoch is running");
  if (!rc) rc = check_order(be, order, nbatches, e);
  size_t bytes = (size_t)be->m.K * nbatches * be->m.B * sizeof(int32_t);
  int (*send)(ab_dev *, ab_mem *, size_t, const void *, size_t, ab_err *) =
      be->ops->write_async ? be->ops->write_async : be->ops->write;
  if (!rc) rc = send(be->dev, &be->m.order, 0, order, bytes, e);
  if (!rc && be->ops->epoch && !be->m.dropout)
    rc = be->ops->epoch(be->dev, &be->m, nbatches, &ran, e);
  if (!rc && ran) be->m.t += nbatches;
  for (int b = 0; b < nbatches && !rc && !ran; b++) rc = ab_step(be, b, nbatches, e);
  if (!rc) be->pending = nbatches;
  return rc;
}

int ab_backend_set_active(ab_backend *be, const uint8_t *active, ab_err *e) {
  int rc = check_models(be, e);
  return rc || !be->ops->mask ? rc : be->ops->mask(be->dev, active, be->m.K, e);
}

int ab_backend_train_finish(ab_backend *be, double *loss_sum, ab_err *e) {
  int nb = be->pending;
  if (!nb) return ab_err_set(e, AB_EUSAGE, "train_finish: no epoch was started");
  be->pending = 0;
  return read_losses(be, nb, loss_sum, e);
}

int ab_backend_train_epoch(ab_backend *be, const int32_t *order, int nbatches,
                           double *loss_sum, ab_err *e) {
  int rc = ab_backend_train_start(be, order, nbatches, e);
  return rc ? rc : ab_backend_train_finish(be, loss_sum, e);
}

int ab_backend_evaluate(ab_backend *be, ab_split_id split, double *loss_sum,
                        int64_t *correct, ab_err *e) {
  int rc = check_models(be, e), ran = 0;
  if (!rc && be->ops->eval_split)
    rc = be->ops->eval_split(be->dev, &be->m, split, loss_sum, correct, 0, &ran, e);
  return rc || ran ? rc : ab_pass(be, split, loss_sum, correct, 0, e);
}

int ab_backend_predict(ab_backend *be, ab_split_id split, float *prob, ab_err *e) {
  int rc = check_models(be, e), ran = 0;
  if (!rc && be->ops->eval_split)
    rc = be->ops->eval_split(be->dev, &be->m, split, NULL, NULL, 1, &ran, e);
  if (!rc && !ran) rc = ab_pass(be, split, NULL, NULL, 1, e);
  size_t bytes = (size_t)be->m.K * be->data.n[split] * sizeof(float);
  return rc || !bytes ? rc : be->ops->read(be->dev, &be->m.prob, 0, prob, bytes, e);
}

int ab_backend_slot_copy(ab_backend *be, ab_slot dst, ab_slot src, const uint8_t *keep,
                         ab_err *e) {
  int rc = check_models(be, e);
  size_t bytes = be->m.P * sizeof(float);
  if (!rc && !keep)
    return be->ops->copy(be->dev, &be->m.slot[dst], 0, &be->m.slot[src], 0,
                         (size_t)be->m.K * bytes, e);
  for (int k = 0; k < be->m.K && !rc; k++)
    if (keep[k])
      rc = be->ops->copy(be->dev, &be->m.slot[dst], k * bytes, &be->m.slot[src], k * bytes,
                         bytes, e);
  return rc;
}

int ab_backend_slot_read(ab_backend *be, ab_slot s, float *host, ab_err *e) {
  int rc = check_models(be, e);
  return rc ? rc : be->ops->read(be->dev, &be->m.slot[s], 0, host,
                                 (size_t)be->m.K * be->m.P * sizeof(float), e);
}

int ab_backend_slot_write(ab_backend *be, ab_slot s, const float *host, ab_err *e) {
  int rc = check_models(be, e);
  return rc ? rc : be->ops->write(be->dev, &be->m.slot[s], 0, host,
                                  (size_t)be->m.K * be->m.P * sizeof(float), e);
}

int64_t ab_backend_steps(const ab_backend *be) { return be->m.t; }

void ab_backend_set_steps(ab_backend *be, int64_t t) { be->m.t = t; }

const char *ab_backend_path(const ab_backend *be) {
  if (be->m.dropout && be->ops->epoch)
    return "per-op: dropout is on, so every batch runs the generic step (the whole-epoch "
           "override does not apply dropout)";
  return be->ops->path ? be->ops->path(be->dev) : be->ops->name;
}
