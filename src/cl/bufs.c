/* The buffer struct: creation for data and models, one release for all. */
#include <stdlib.h>
#include <string.h>
#include "cl/backend_cl.h"

static void release(cl_mem *m) {
  if (*m) clReleaseMemObject(*m);
  *m = NULL;
}

void ab_cl_bufs_free_models(ab_cl_bufs *b) {
  cl_mem *list[] = {&b->params, &b->best, &b->m, &b->v, &b->grad, &b->lr, &b->wd,
                    &b->dA, &b->dB, &b->loss, &b->order, &b->bloss, &b->ploss,
                    &b->pcorrect, &b->prob};
  for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) release(list[i]);
  for (int l = 0; l <= AB_MAX_LAYERS; l++) release(&b->act[l]);
}

void ab_cl_bufs_free(ab_cl_bufs *b) {
  ab_cl_bufs_free_models(b);
  for (int s = 0; s < 3; s++) { release(&b->x[s]); release(&b->y[s]); }
  release(&b->iota);
}

/* A buffer of `bytes` (at least 1 float), filled from host when given. */
static int create(cl_mem *out, ab_cl_ctx *c, size_t bytes, const void *host, ab_err *e) {
  cl_int err;
  if (bytes < sizeof(float)) bytes = sizeof(float);
  cl_mem_flags f = host ? CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR : CL_MEM_READ_WRITE;
  *out = clCreateBuffer(c->context, f, bytes, (void *)host, &err);
  AB_CL_CHECK_ERR(e, err, "clCreateBuffer");
  return AB_OK;
}

int ab_cl_zero(ab_cl_ctx *c, cl_mem buf, size_t n, ab_err *e) {
  if (!n) return AB_OK;
  float *z = calloc(n ? n : 1, sizeof(float));
  if (!z) return ab_err_set(e, AB_ENOMEM, "out of memory");
  cl_int rc = clEnqueueWriteBuffer(c->queue, buf, CL_TRUE, 0, n * sizeof(float), z, 0, NULL,
                                   NULL);
  free(z);
  AB_CL_CHECK(e, rc);
  return AB_OK;
}

static int upload_split(ab_cl_backend *cb, int id, const ab_split *sp, ab_err *e) {
  int rc = create(&cb->b.x[id], cb->ctx, sp->n * (size_t)sp->d * sizeof(float), sp->in, e);
  if (!rc) rc = create(&cb->b.y[id], cb->ctx, sp->n * sizeof(int32_t), sp->y, e);
  cb->n[id] = sp->n;
  if (sp->n > cb->maxn) cb->maxn = sp->n;
  return rc;
}

int ab_cl_bufs_data(ab_cl_backend *cb, const ab_splits *s, ab_err *e) {
  const ab_split *sp[3] = {&s->train, &s->val, &s->test};
  ab_cl_bufs_free(&cb->b);
  cb->maxn = 0;
  int rc = AB_OK;
  for (int i = 0; i < 3 && !rc; i++) rc = upload_split(cb, i, sp[i], e);
  int32_t *iota = rc ? NULL : malloc((cb->maxn ? cb->maxn : 1) * sizeof(int32_t));
  if (!rc && !iota) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  for (size_t i = 0; !rc && i < cb->maxn; i++) iota[i] = (int32_t)i;
  if (!rc) rc = create(&cb->b.iota, cb->ctx, cb->maxn * sizeof(int32_t), iota, e);
  free(iota);
  return rc;
}

/* Creates the buffers sized from cb's arch, K, B and R. */
int ab_cl_bufs_models(ab_cl_backend *cb, ab_err *e) {
  ab_cl_bufs *b = &cb->b;
  ab_cl_ctx *c = cb->ctx;
  size_t K = (size_t)cb->K, kp = K * cb->P * sizeof(float), f = sizeof(float);
  size_t kb = K * cb->B, md = (size_t)ab_arch_maxdim(&cb->a);
  size_t train = cb->n[AB_SPLIT_TRAIN];
  int rc = AB_OK;
  cl_mem *kps[] = {&b->params, &b->best, &b->m, &b->v, &b->grad};
  for (size_t i = 0; i < 5 && !rc; i++) rc = create(kps[i], c, kp, NULL, e);
  if (!rc) rc = create(&b->lr, c, K * f, NULL, e);
  if (!rc) rc = create(&b->wd, c, K * f, NULL, e);
  for (int l = 0; l <= cb->a.nlayers && !rc; l++)
    rc = create(&b->act[l], c, K * cb->R * cb->a.dims[l] * f, NULL, e);
  if (!rc) rc = create(&b->dA, c, kb * md * f, NULL, e);
  if (!rc) rc = create(&b->dB, c, kb * md * f, NULL, e);
  if (!rc) rc = create(&b->loss, c, kb * f, NULL, e);
  if (!rc) rc = create(&b->order, c, K * train * sizeof(int32_t), NULL, e);
  if (!rc) rc = create(&b->bloss, c, K * cb->maxbatches * f, NULL, e);
  if (!rc) rc = create(&b->ploss, c, K * cb->maxslots * f, NULL, e);
  if (!rc) rc = create(&b->pcorrect, c, K * cb->maxslots * sizeof(cl_int), NULL, e);
  if (!rc) rc = create(&b->prob, c, K * cb->maxn * f, NULL, e);
  return rc;
}
