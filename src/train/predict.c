/* The forward slot: a model's networks on a backend, and n host rows through them in
 * chunks, over the op table (the forward sequence of step.c, then prob1). */
#include "abgpu/predictor.h"
#include <stdlib.h>
#include <string.h>
#include "pass.h"

#define PRED_ROWS 16384 /* rows per chunk */

struct ab_predictor {
  ab_backend *be;
  const ab_model *m;
  int nnets, width, maxdim;
  ab_mem *P;               /* [nnets] each network's parameters */
  ab_mem x, act[2], prob;  /* [rows][width], [rows][maxdim] ping-pong, [rows] */
  float *enc, *p;          /* host: the encoded chunk [rows][width], one network's [rows] */
};

void ab_predictor_free(ab_predictor *p) {
  if (!p) return;
  const ab_ops *o = p->be->ops;
  for (int k = 0; k < p->nnets && p->P; k++) o->release(p->be->dev, &p->P[k]);
  o->release(p->be->dev, &p->x);
  o->release(p->be->dev, &p->act[0]);
  o->release(p->be->dev, &p->act[1]);
  o->release(p->be->dev, &p->prob);
  free(p->P);
  free(p->enc);
  free(p->p);
  free(p);
}

/* Device buffers for chunks of PRED_ROWS rows; host buffers for the encoding. */
static int alloc_chunk(ab_predictor *p, ab_err *e) {
  const ab_ops *o = p->be->ops;
  ab_dev *d = p->be->dev;
  size_t R = PRED_ROWS, f = sizeof(float);
  int rc = o->alloc(d, &p->x, R * p->width * f, e);
  if (!rc) rc = o->alloc(d, &p->act[0], R * p->maxdim * f, e);
  if (!rc) rc = o->alloc(d, &p->act[1], R * p->maxdim * f, e);
  if (!rc) rc = o->alloc(d, &p->prob, R * f, e);
  p->p = malloc(R * f);
  p->enc = ab_encoder_active(&p->m->enc) ? malloc(R * p->width * f) : NULL;
  if (!rc && (!p->p || (ab_encoder_active(&p->m->enc) && !p->enc)))
    rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  return rc;
}

int ab_predictor_open(ab_predictor **out, ab_backend *be, const ab_model *m, ab_err *e) {
  if (m->nnets < 1) return ab_err_set(e, AB_EINPUT, "the model has no network");
  ab_predictor *p = calloc(1, sizeof *p);
  if (!p) return ab_err_set(e, AB_ENOMEM, "out of memory");
  p->be = be;
  p->m = m;
  p->width = m->nets[0].arch.dims[0];
  p->P = calloc((size_t)m->nnets, sizeof *p->P);
  int rc = p->P ? AB_OK : ab_err_set(e, AB_ENOMEM, "out of memory");
  p->nnets = p->P ? m->nnets : 0;
  for (int k = 0; k < p->nnets && !rc; k++) {
    const ab_net *net = &m->nets[k];
    int md = ab_arch_maxdim(&net->arch);
    p->maxdim = md > p->maxdim ? md : p->maxdim;
    size_t bytes = ab_arch_nparams(&net->arch) * sizeof(float);
    rc = be->ops->alloc(be->dev, &p->P[k], bytes, e);
    if (!rc) rc = be->ops->write(be->dev, &p->P[k], 0, net->params, bytes, e);
  }
  if (!rc) rc = alloc_chunk(p, e);
  if (rc) { ab_predictor_free(p); return rc; }
  *out = p;
  return AB_OK;
}

/* Probabilities of one chunk of B rows (network inputs in in) into prob. */
static int run_chunk(ab_predictor *p, const float *in, int B, float *prob, ab_err *e) {
  const ab_ops *o = p->be->ops;
  ab_dev *d = p->be->dev;
  int rc = o->write(d, &p->x, 0, in, (size_t)B * p->width * sizeof(float), e);
  for (int i = 0; i < B; i++) prob[i] = 0.0f;
  for (int k = 0; k < p->nnets && !rc; k++) {
    const ab_arch *a = &p->m->nets[k].arch;
    ab_mem *out[AB_MAX_LAYERS];
    for (int l = 0; l < a->nlayers; l++) out[l] = &p->act[l % 2];
    ab_rows rows = {&p->x, NULL, 0, (size_t)B};
    rc = ab_forward_layers(o, d, out, rows, &p->P[k], a, 1, B, ab_arch_nparams(a), e);
    if (!rc) rc = o->prob1(d, &p->prob, 0, (size_t)B, out[a->nlayers - 1], 1, B, e);
    if (!rc) rc = o->read(d, &p->prob, 0, p->p, (size_t)B * sizeof(float), e);
    for (int i = 0; i < B && !rc; i++)
      prob[i] += p->nnets == 1 ? p->p[i] : p->p[i] / (float)p->nnets;
  }
  if (!rc) ab_calib_apply_n(&p->m->calib, prob, (size_t)B); /* as ab_model_forward */
  return rc;
}

int ab_predictor_run(ab_predictor *p, const float *xs, size_t n, float *prob, ab_err *e) {
  int rc = AB_OK;
  for (size_t i0 = 0; i0 < n && !rc; i0 += PRED_ROWS) {
    int B = (int)(n - i0 < PRED_ROWS ? n - i0 : PRED_ROWS);
    const float *in = xs + i0 * AB_NFEAT;
    if (p->enc) {
      ab_encode_rows(&p->m->enc, p->enc, in, (size_t)B);
      in = p->enc;
    }
    rc = run_chunk(p, in, B, prob + i0, e);
  }
  return rc;
}

int ab_predictor_run_encoded(ab_predictor *p, const float *x, size_t n, float *prob,
                             ab_err *e) {
  int rc = AB_OK;
  for (size_t i0 = 0; i0 < n && !rc; i0 += PRED_ROWS) {
    int B = (int)(n - i0 < PRED_ROWS ? n - i0 : PRED_ROWS);
    rc = run_chunk(p, x + i0 * (size_t)p->width, B, prob + i0, e);
  }
  return rc;
}

static int score(void *user, const float *xs, size_t n, float *prob, ab_err *e) {
  return ab_predictor_run(user, xs, n, prob, e);
}

static int score_encoded(void *user, const float *x, size_t n, float *prob, ab_err *e) {
  return ab_predictor_run_encoded(user, x, n, prob, e);
}

ab_scorer ab_predictor_scorer(ab_predictor *p) { return (ab_scorer){score, p, NULL}; }

ab_scorer ab_predictor_scorer_encoded(ab_predictor *p) {
  return (ab_scorer){score, p, score_encoded};
}

int ab_backend_forward(ab_backend *be, const ab_arch *a, const float *params, const float *x,
                       size_t n, float *prob, ab_err *e) {
  ab_model m;
  memset(&m, 0, sizeof m);
  ab_net net = {*a, (float *)params};
  m.nets = &net;
  m.nnets = 1;
  ab_encoder_init(&m.enc);
  ab_predictor *p;
  int rc = ab_predictor_open(&p, be, &m, e);
  if (rc) return rc;
  /* x has the network's own width: fed as chunks of rows of that width */
  size_t w = (size_t)a->dims[0];
  for (size_t i0 = 0; i0 < n && !rc; i0 += PRED_ROWS) {
    int B = (int)(n - i0 < PRED_ROWS ? n - i0 : PRED_ROWS);
    rc = run_chunk(p, x + i0 * w, B, prob + i0, e);
  }
  ab_predictor_free(p);
  return rc;
}
