/* What the host devices share (host.h). */
#include "host.h"
#include <stdlib.h>
#include <string.h>
#include "abgpu/ref.h"

/* ---- memory ---- */

int ab_host_alloc(ab_dev *d, ab_mem *m, size_t bytes, ab_err *e) {
  (void)d;
  size_t n = (bytes + 63) / 64 * 64;
  m->h = aligned_alloc(64, n ? n : 64);
  m->bytes = n ? n : 64; /* > 0: owned (upload's borrowed buffers have 0) */
  return m->h ? AB_OK : ab_err_set(e, AB_ENOMEM, "out of memory for %zu bytes", bytes);
}

int ab_host_upload(ab_dev *d, ab_mem *m, const void *host, size_t bytes, ab_err *e) {
  (void)d; (void)bytes; (void)e;
  m->h = (void *)host;
  m->bytes = 0;
  return AB_OK;
}

void ab_host_release(ab_dev *d, ab_mem *m) {
  (void)d;
  if (m->bytes) free(m->h);
  m->h = NULL;
  m->bytes = 0;
}

int ab_host_write(ab_dev *d, ab_mem *m, size_t off, const void *src, size_t bytes, ab_err *e) {
  (void)d; (void)e;
  if (bytes) memcpy((char *)m->h + off, src, bytes);
  return AB_OK;
}

int ab_host_read(ab_dev *d, const ab_mem *m, size_t off, void *dst, size_t bytes, ab_err *e) {
  (void)d; (void)e;
  if (bytes) memcpy(dst, (const char *)m->h + off, bytes);
  return AB_OK;
}

int ab_host_copy(ab_dev *d, ab_mem *dst, size_t doff, const ab_mem *src, size_t soff,
                 size_t bytes, ab_err *e) {
  (void)d; (void)e;
  if (bytes) memmove((char *)dst->h + doff, (const char *)src->h + soff, bytes);
  return AB_OK;
}

int ab_host_zero(ab_dev *d, ab_mem *m, size_t bytes, ab_err *e) {
  (void)d; (void)e;
  if (bytes) memset(m->h, 0, bytes);
  return AB_OK;
}

/* ---- rows ---- */

void ab_host_scratch_free(ab_host_scratch *s) {
  free(s->x);
  free(s->y);
  memset(s, 0, sizeof *s);
}

static int grow(void **p, size_t *cap, size_t n, size_t size) {
  if (n <= *cap) return 0;
  void *g = realloc(*p, n * size);
  if (!g) return -1;
  *p = g;
  *cap = n;
  return 0;
}

/* Index of row (k, i) of R in its buffer. */
static size_t row_at(ab_rows R, int k, int i) {
  size_t r = R.off + (size_t)k * R.kstride + (size_t)i;
  return R.idx ? (size_t)((const int32_t *)R.idx->h)[r] : r;
}

const float *ab_host_rows(ab_host_scratch *s, ab_rows X, int K, int B, int IN, ab_err *e) {
  const float *x = X.x->h;
  if (!X.idx && (X.kstride == (size_t)B || K == 1)) return x + X.off * (size_t)IN;
  if (grow((void **)&s->x, &s->capx, (size_t)K * B * IN, sizeof(float))) {
    ab_err_set(e, AB_ENOMEM, "out of memory");
    return NULL;
  }
  for (int k = 0; k < K; k++)
    for (int i = 0; i < B; i++)
      memcpy(s->x + ((size_t)k * B + i) * IN, x + row_at(X, k, i) * IN,
             (size_t)IN * sizeof(float));
  return s->x;
}

const int32_t *ab_host_labels(ab_host_scratch *s, ab_rows Y, int K, int B, ab_err *e) {
  const int32_t *y = Y.x->h;
  if (grow((void **)&s->y, &s->capy, (size_t)K * B, sizeof(int32_t))) {
    ab_err_set(e, AB_ENOMEM, "out of memory");
    return NULL;
  }
  for (int k = 0; k < K; k++)
    for (int i = 0; i < B; i++) s->y[(size_t)k * B + i] = y[row_at(Y, k, i)];
  return s->y;
}

void ab_host_batch_means(float *bloss, int bslot, int bstride, const float *loss, int K, int B) {
  for (int k = 0; k < K; k++) {
    float s = 0.0f;
    for (int i = 0; i < B; i++) s += loss[(size_t)k * B + i];
    bloss[(size_t)k * bstride + bslot] = s / (float)B;
  }
}

/* ---- ops ---- */

int ab_host_eval(ab_dev *d, ab_mem *eloss, ab_mem *ecount, int slot, int nslots,
                 const ab_mem *logits, const ab_mem *labels, size_t loff, int K, int B, int C,
                 ab_err *e) {
  (void)d; (void)nslots; (void)e;
  double *ls = eloss->h;
  int64_t *cs = ecount->h;
  if (slot == 0)
    for (int k = 0; k < K; k++) { ls[k] = 0.0; cs[k] = 0; }
  ab_ref_eval(ls, cs, logits->h, (const int32_t *)labels->h + loff, K, B, C);
  return AB_OK;
}

int ab_host_eval_sum(ab_dev *d, double *loss_sum, int64_t *correct, const ab_mem *eloss,
                     const ab_mem *ecount, int nslots, int K, ab_err *e) {
  (void)d; (void)nslots; (void)e;
  memcpy(loss_sum, eloss->h, (size_t)K * sizeof *loss_sum);
  memcpy(correct, ecount->h, (size_t)K * sizeof *correct);
  return AB_OK;
}

int ab_host_prob1(ab_dev *d, ab_mem *prob, size_t poff, size_t pks, const ab_mem *logits,
                  int K, int B, ab_err *e) {
  (void)d; (void)e;
  for (int k = 0; k < K; k++)
    ab_ref_prob1((float *)prob->h + (size_t)k * pks + poff,
                 (const float *)logits->h + (size_t)k * B * 2, 1, B);
  return AB_OK;
}
