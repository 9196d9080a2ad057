/* ref.h - the CPU reference ops: the specification every OpenCL kernel must match.
 *
 * Conventions (as in llm.c): outputs first, sizes last. Every op carries a leading
 * model dimension K: K independent models over the same data. Activations are
 * [K][B][width] row-major. Weights of model k are at W + k*pstride ([in][out]),
 * biases at b + k*pstride ([out]), where pstride = ab_arch_nparams().
 * Plain loops in a fixed order, so results are bit-reproducible. */
#ifndef ABGPU_REF_H
#define ABGPU_REF_H
#include <stddef.h>
#include <stdint.h>
#include "abgpu/arch.h"

/* Gathers rows of a batch. X[k][i][:] = data[idx[k][i]][:], Y[k][i] = labels[idx[k][i]].
 * X: [K][B][IN], Y: [K][B] (may be NULL), data: [N][IN], labels: [N], idx: [K][B]. */
void ab_ref_gather(float *X, int32_t *Y, const float *data, const int32_t *labels,
                   const int32_t *idx, int K, int B, int IN);

/* Y = act(X W + b). Y: [K][B][OUT], X: [K][B][IN]. */
void ab_ref_linear_act_fwd(float *Y, const float *X, const float *W, const float *b,
                           ab_act act, int K, int B, int IN, int OUT, size_t pstride);

/* Softmax cross-entropy, loss and gradient in one pass.
 * loss[k][i] = -log softmax(logits[k][i])[label], dlogits = (softmax - onehot) / B
 * (the gradient of the batch mean). loss: [K][B], dlogits: [K][B][C] (may be NULL),
 * logits: [K][B][C], labels: [K][B]. */
void ab_ref_softmax_xent(float *loss, float *dlogits, const float *logits,
                         const int32_t *labels, int K, int B, int C);

/* Backward of Y = act(X W + b).
 * dZ = dY * act'(Y); dW = X^T dZ; db = sum_i dZ; dX = dZ W^T (skipped when dX NULL).
 * dX: [K][B][IN], dW/db: at k*pstride like W/b (overwritten, not accumulated),
 * dZ: [K][B][OUT] scratch output (may alias dY), dY/Y: [K][B][OUT], X: [K][B][IN]. */
void ab_ref_linear_act_bwd(float *dX, float *dW, float *db, float *dZ, const float *dY,
                           const float *X, const float *Y, const float *W, ab_act act,
                           int K, int B, int IN, int OUT, size_t pstride);

/* Adam (AdamW when wd > 0: decoupled decay p -= lr*wd*p) over K flat buffers of n floats.
 * p, m, v, g: [K][n]; lr, wd: [K]; t: step number starting at 1 (bias correction). */
void ab_ref_adam_step(float *p, float *m, float *v, const float *g, const float *lr,
                      const float *wd, float beta1, float beta2, float eps, int t,
                      int K, size_t n);

/* Evaluation reduce: loss_sum[k] += sum_i loss(logits[k][i], labels[i]) and
 * correct[k] += #(argmax logits[k][i] == labels[i]). Labels are shared: [B].
 * loss_sum, correct: [K] (accumulated, not overwritten); logits: [K][B][C]. */
void ab_ref_eval(double *loss_sum, int64_t *correct, const float *logits,
                 const int32_t *labels, int K, int B, int C);
/* One row of ab_ref_eval: its loss, and *correct = (argmax z == lab). */
float ab_ref_eval_row(const float *z, int lab, int C, int *correct);

/* Log-sum-exp of one row of C logits, the one copy every softmax uses (softmax_xent,
 * eval, the fast CPU path): returns log(sum_c exp(z[c] - mx)) + mx, mx = max_c z[c].
 * *sum gets the sum of the exponentials; e[c] (when e is not NULL) each exp(z[c] - mx);
 * *best (when best is not NULL) the first index of the maximum. */
float ab_ref_lse_row(const float *z, int C, float *e, float *sum, int *best);

/* Softmax probability of class 1 for each row: prob: [K][B], logits: [K][B][2]. */
void ab_ref_prob1(float *prob, const float *logits, int K, int B);

/* Inverted dropout: Y[k][i][j] = X[k][i][j] * scale_k where the mask keeps (k, i, j),
 * else 0. Y, X: [K][B][N] (Y may be X); c: [K][AB_DROP_NC] per model (ab_dropout_consts),
 * salt: the call's (ab_dropout_salt). The mask is a hash of the model's seed, the step,
 * the layer, the row i of the batch and the unit j (not of k, so a model's mask is the
 * same whichever launch it trains in): h = mix(mix(key ^ salt) ^ mix(i*N + j)) with
 * mix = ab_ref_mix32, kept when h >= thr. The same call (forward on a hidden layer's
 * output, backward on the gradient reaching it) gives the same mask on every device. */
#define AB_DROP_NC 3
void ab_ref_dropout(float *Y, const float *X, const uint32_t *c, uint32_t salt, int K, int B,
                    int N);
/* Model k's constants for rate p (0 <= p < 1) and seed: c[0] = thr = p * 2^32 (a unit is
 * dropped when its hash is below it: probability p), c[1] = the bits of the float
 * scale 1/(1-p), c[2] = key, a hash of seed. */
void ab_dropout_consts(uint32_t *c, float p, uint64_t seed);
/* The salt of hidden activation h (1..L-1: the output of layer h-1) at Adam step t. */
uint32_t ab_dropout_salt(int h, int64_t t);
/* The 32-bit mixer of the mask (consts.h's AB_MIX_M1, AB_MIX_M2). */
uint32_t ab_ref_mix32(uint32_t x);
/* The same mixer inline, for callers that hash many units in a loop the compiler
 * vectorises (src/cpu/dropout.c); kernels/dropout.cl is its OpenCL twin. */
static inline uint32_t ab_ref_mix32_inline(uint32_t x) {
  x ^= x >> 16;
  x *= AB_MIX_M1;
  x ^= x >> 15;
  x *= AB_MIX_M2;
  x ^= x >> 16;
  return x;
}

/* Activation and its derivative expressed through the output y = act(z). */
float ab_act_apply(ab_act a, float z);
float ab_act_grad_from_y(ab_act a, float y);

#endif
