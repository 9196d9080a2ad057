/* host.h - private to the host devices (src/ref/dev_ref.c, src/cpu/dev_cpu.c): their
 * memory ops over plain host buffers, row gathers for ops whose rows come through an
 * index, and the ops they share (the evaluation reduce, prob1). */
#ifndef ABGPU_REF_HOST_H
#define ABGPU_REF_HOST_H
#include "abgpu/ops.h"

/* Memory: 64-byte aligned host buffers; upload borrows the caller's memory. */
int ab_host_alloc(ab_dev *d, ab_mem *m, size_t bytes, ab_err *e);
int ab_host_upload(ab_dev *d, ab_mem *m, const void *host, size_t bytes, ab_err *e);
void ab_host_release(ab_dev *d, ab_mem *m);
int ab_host_write(ab_dev *d, ab_mem *m, size_t off, const void *src, size_t bytes, ab_err *e);
int ab_host_read(ab_dev *d, const ab_mem *m, size_t off, void *dst, size_t bytes, ab_err *e);
int ab_host_copy(ab_dev *d, ab_mem *dst, size_t doff, const ab_mem *src, size_t soff,
                 size_t bytes, ab_err *e);
int ab_host_zero(ab_dev *d, ab_mem *m, size_t bytes, ab_err *e);

/* Gather buffers a device keeps (grown when needed, never shrunk). */
typedef struct ab_host_scratch {
  float *x;
  int32_t *y;
  size_t capx, capy;
} ab_host_scratch;
void ab_host_scratch_free(ab_host_scratch *s);

/* The rows of X as one block: row (k, i) at ((k*B + i)*IN), in place when they already
 * are (or K = 1 and they are contiguous), else gathered into s. NULL: out of memory. */
const float *ab_host_rows(ab_host_scratch *s, ab_rows X, int K, int B, int IN, ab_err *e);
/* Labels of the rows as [K][B]. */
const int32_t *ab_host_labels(ab_host_scratch *s, ab_rows Y, int K, int B, ab_err *e);
/* bloss[k*bstride + bslot] = the row losses of model k in order, in float, over B. */
void ab_host_batch_means(float *bloss, int bslot, int bstride, const float *loss, int K, int B);

/* The evaluation reduce in the reference's way (ops.h: eval, eval_sum): eloss [K]
 * doubles and ecount [K] int64, every row added in order. */
int ab_host_eval(ab_dev *d, ab_mem *eloss, ab_mem *ecount, int slot, int nslots,
                 const ab_mem *logits, const ab_mem *labels, size_t loff, int K, int B, int C,
                 ab_err *e);
int ab_host_eval_sum(ab_dev *d, double *loss_sum, int64_t *correct, const ab_mem *eloss,
                     const ab_mem *ecount, int nslots, int K, ab_err *e);
int ab_host_prob1(ab_dev *d, ab_mem *prob, size_t poff, size_t pks, const ab_mem *logits,
                  int K, int B, ab_err *e);

#endif
