/* The reference ops: plain loops, fixed summation order, float32 arithmetic
 * (double only where a reduction over a whole split needs it). See ref.h. */
#include "abgpu/ref.h"
#include <math.h>

float ab_act_apply(ab_act a, float z) {
  switch (a) {
    case AB_ACT_RELU: return z > 0.0f ? z : 0.0f;
    case AB_ACT_SIGMOID: return 1.0f / (1.0f + expf(-z));
    case AB_ACT_TANH: return tanhf(z);
    default: return z;
  }
}

float ab_act_grad_from_y(ab_act a, float y) {
  switch (a) {
    case AB_ACT_RELU: return y > 0.0f ? 1.0f : 0.0f;
    case AB_ACT_SIGMOID: return y * (1.0f - y);
    case AB_ACT_TANH: return 1.0f - y * y;
    default: return 1.0f;
  }
}

void ab_ref_gather(float *X, int32_t *Y, const float *data, const int32_t *labels,
                   const int32_t *idx, int K, int B, int IN) {
  for (int k = 0; k < K; k++)
    for (int i = 0; i < B; i++) {
      int32_t r = idx[k * B + i];
      for (int j = 0; j < IN; j++) X[((size_t)k * B + i) * IN + j] = data[(size_t)r * IN + j];
      if (Y) Y[k * B + i] = labels[r];
    }
}

void ab_ref_linear_act_fwd(float *Y, const float *X, const float *W, const float *b,
                           ab_act act, int K, int B, int IN, int OUT, size_t pstride) {
  for (int k = 0; k < K; k++) {
    const float *Wk = W + k * pstride, *bk = b + k * pstride;
    for (int i = 0; i < B; i++) {
      const float *x = X + ((size_t)k * B + i) * IN;
      float *y = Y + ((size_t)k * B + i) * OUT;
      /* z[j] = b[j] + sum_c x[c] W[c][j], summed in order c = 0..IN-1 */
      for (int j = 0; j < OUT; j++) y[j] = bk[j];
      for (int c = 0; c < IN; c++)
        for (int j = 0; j < OUT; j++) y[j] += x[c] * Wk[(size_t)c * OUT + j];
      for (int j = 0; j < OUT; j++) y[j] = ab_act_apply(act, y[j]);
    }
  }
}

float ab_ref_lse_row(const float *z, int C, float *e, float *sum, int *best) {
  float mx = z[0];
  int b = 0;
  for (int c = 1; c < C; c++)
    if (z[c] > mx) { mx = z[c]; b = c; }
  float s = 0.0f;
  for (int c = 0; c < C; c++) {
    float x = expf(z[c] - mx);
    if (e) e[c] = x;
    s += x;
  }
  *sum = s;
  if (best) *best = b;
  return logf(s) + mx;
}

void ab_ref_softmax_xent(float *loss, float *dlogits, const float *logits,
                         const int32_t *labels, int K, int B, int C) {
  for (int k = 0; k < K; k++)
    for (int i = 0; i < B; i++) {
      const float *z = logits + ((size_t)k * B + i) * C;
      float *d = dlogits ? dlogits + ((size_t)k * B + i) * C : NULL, sum;
      int lab = labels[k * B + i];
      loss[k * B + i] = ab_ref_lse_row(z, C, d, &sum, NULL) - z[lab];
      if (!d) continue;
      for (int c = 0; c < C; c++) d[c] = (d[c] / sum - (c == lab ? 1.0f : 0.0f)) / (float)B;
    }
}

void ab_ref_linear_act_bwd(float *dX, float *dW, float *db, float *dZ, const float *dY,
                           const float *X, const float *Y, const float *W, ab_act act,
                           int K, int B, int IN, int OUT, size_t pstride) {
  size_t nz = (size_t)K * B * OUT;
  for (size_t i = 0; i < nz; i++) dZ[i] = dY[i] * ab_act_grad_from_y(act, Y[i]);
  for (int k = 0; k < K; k++) {
    const float *Xk = X + (size_t)k * B * IN, *Zk = dZ + (size_t)k * B * OUT;
    float *dWk = dW + k * pstride, *dbk = db + k * pstride;
    /* dW[c][j] = sum_i X[i][c] dZ[i][j], summed in order i = 0..B-1 */
    for (size_t c = 0; c < (size_t)IN * OUT; c++) dWk[c] = 0.0f;
    for (int i = 0; i < B; i++)
      for (int c = 0; c < IN; c++)
        for (int j = 0; j < OUT; j++)
          dWk[(size_t)c * OUT + j] += Xk[(size_t)i * IN + c] * Zk[(size_t)i * OUT + j];
    for (int j = 0; j < OUT; j++) {
      float s = 0.0f;
      for (int i = 0; i < B; i++) s += Zk[(size_t)i * OUT + j];
      dbk[j] = s;
    }
    if (!dX) continue;
    const float *Wk = W + k * pstride;
    for (int i = 0; i < B; i++)
      for (int c = 0; c < IN; c++) {
        float s = 0.0f;
        for (int j = 0; j < OUT; j++) s += Zk[(size_t)i * OUT + j] * Wk[(size_t)c * OUT + j];
        dX[((size_t)k * B + i) * IN + c] = s;
      }
  }
}

void ab_ref_adam_step(float *p, float *m, float *v, const float *g, const float *lr,
                      const float *wd, float beta1, float beta2, float eps, int t,
                      int K, size_t n) {
  float c1 = 1.0f - powf(beta1, (float)t), c2 = 1.0f - powf(beta2, (float)t);
  for (int k = 0; k < K; k++) {
    float step = lr[k] / c1, decay = lr[k] * wd[k];
    for (size_t i = (size_t)k * n; i < (size_t)(k + 1) * n; i++) {
      m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
      v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
      p[i] -= step * m[i] / (sqrtf(v[i] / c2) + eps) + decay * p[i];
    }
  }
}

float ab_ref_eval_row(const float *z, int lab, int C, int *correct) {
  float sum;
  int best;
  float lse = ab_ref_lse_row(z, C, NULL, &sum, &best);
  *correct = best == lab;
  return lse - z[lab];
}

void ab_ref_eval(double *loss_sum, int64_t *correct, const float *logits,
                 const int32_t *labels, int K, int B, int C) {
  for (int k = 0; k < K; k++)
    for (int i = 0; i < B; i++) {
      int ok;
      loss_sum[k] += (double)ab_ref_eval_row(logits + ((size_t)k * B + i) * C, labels[i], C, &ok);
      correct[k] += ok;
    }
}

void ab_ref_prob1(float *prob, const float *logits, int K, int B) {
  for (size_t i = 0; i < (size_t)K * B; i++)
    prob[i] = 1.0f / (1.0f + expf(logits[2 * i] - logits[2 * i + 1]));
}
