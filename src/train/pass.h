/* pass.h - private to src/train/: the one batch step, the one evaluation pass and the
 * one forward sequence, written over the op table (ops.h). */
#ifndef ABGPU_TRAIN_PASS_H
#define ABGPU_TRAIN_PASS_H
#include "abgpu/backend.h"

/* Forward through every layer of arch a for n rows of `in`, K models with parameters P
 * (pstride per model): layer l's output into out[l] ([K][n][dims[l+1]]); the logits end
 * in out[a->nlayers - 1]. */
int ab_forward_layers(const ab_ops *o, ab_dev *d, ab_mem *const *out, ab_rows in,
                      const ab_mem *P, const ab_arch *a, int K, int n, size_t pstride,
                      ab_err *e);

/* One training step of be's models on batch b of the uploaded order (nbatches per
 * model): forward, softmax cross-entropy, backward, Adam (the step count advances). */
int ab_step(ab_backend *be, int b, int nbatches, ab_err *e);

/* Evaluation of a whole split in chunks of m.R rows: loss sums and correct counts, or
 * (prob != 0) the class-1 probabilities into m.prob [K][n]. */
int ab_pass(ab_backend *be, int split, double *loss_sum, int64_t *correct, int prob,
            ab_err *e);

#endif
