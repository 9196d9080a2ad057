/* Reference ops against hand-computed values, and the whole backward pass against
 * finite differences along random directions (as kann does). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/ref.h"
#include "abgpu/rng.h"
#include "abgpu/train.h"

Test(ref, linear_act_fwd_by_hand) {
  /* X = [1 2; 3 4], W = [1 -1 0; 2 0.5 -3], b = [0.5 0 1] */
  float X[4] = {1, 2, 3, 4}, W[6] = {1, -1, 0, 2, 0.5f, -3}, b[3] = {0.5f, 0, 1}, Y[6];
  ab_ref_linear_act_fwd(Y, X, W, b, AB_ACT_IDENTITY, 1, 2, 2, 3, 0);
  float want[6] = {5.5f, 0, -5, 11.5f, -1, -11};
  for (int i = 0; i < 6; i++) cr_assert_float_eq(Y[i], want[i], 1e-6, "Y[%d]=%g", i, Y[i]);
  ab_ref_linear_act_fwd(Y, X, W, b, AB_ACT_RELU, 1, 2, 2, 3, 0);
  cr_assert_eq(Y[1], 0.0f);
  cr_assert_eq(Y[2], 0.0f);
  cr_assert_float_eq(Y[3], 11.5f, 1e-6);
  ab_ref_linear_act_fwd(Y, X, W, b, AB_ACT_SIGMOID, 1, 2, 2, 3, 0);
  cr_assert_float_eq(Y[1], 0.5f, 1e-7);
  cr_assert_float_eq(Y[0], 1.0f / (1.0f + expf(-5.5f)), 1e-7);
  ab_ref_linear_act_fwd(Y, X, W, b, AB_ACT_TANH, 1, 2, 2, 3, 0);
  cr_assert_float_eq(Y[4], tanhf(-1.0f), 1e-7);
}

Test(ref, model_dimension_uses_each_models_weights) {
  /* two models with pstride 4: W = [w], b = [b] for a 1->1 layer, padded */
  float X[2] = {2, 2}, P[8] = {3, 1, 0, 0, -1, 5, 0, 0}, Y[2];
  ab_ref_linear_act_fwd(Y, X, P, P + 1, AB_ACT_IDENTITY, 2, 1, 1, 1, 4);
  cr_assert_float_eq(Y[0], 7.0f, 1e-7);
  cr_assert_float_eq(Y[1], 3.0f, 1e-7);
}

Test(ref, softmax_xent_by_hand) {
  float z[4] = {0, 0, 2, 0}, loss[2], d[4];
  int32_t lab[2] = {1, 0};
  ab_ref_softmax_xent(loss, d, z, lab, 1, 2, 2);
  cr_assert_float_eq(loss[0], logf(2.0f), 1e-6);
  cr_assert_float_eq(loss[1], logf(1.0f + expf(-2.0f)), 1e-6);
  /* dlogits = (softmax - onehot) / B */
  cr_assert_float_eq(d[0], 0.25f, 1e-7);
  cr_assert_float_eq(d[1], -0.25f, 1e-7);
  float p0 = 1.0f / (1.0f + expf(-2.0f));
  cr_assert_float_eq(d[2], (p0 - 1.0f) / 2, 1e-7);
  cr_assert_float_eq(d[3], (1.0f - p0) / 2, 1e-7);
  /* large logits do not overflow */
  float big[2] = {1000, -1000};
  int32_t l1 = 1;
  ab_ref_softmax_xent(loss, d, big, &l1, 1, 1, 2);
  cr_assert_float_eq(loss[0], 2000.0f, 1e-3);
}

Test(ref, adam_first_step_by_hand) {
  /* at t = 1 with bias correction, the step is lr * g / (|g| + eps) = lr * sign(g) */
  float p[3] = {1, 1, 1}, m[3] = {0}, v[3] = {0}, g[3] = {0.5f, -2, 0}, lr = 0.1f, wd = 0;
  ab_ref_adam_step(p, m, v, g, &lr, &wd, 0.9f, 0.999f, 1e-8f, 1, 1, 3);
  cr_assert_float_eq(p[0], 0.9f, 1e-6);
  cr_assert_float_eq(p[1], 1.1f, 1e-6);
  cr_assert_float_eq(p[2], 1.0f, 1e-7);
  cr_assert_float_eq(m[1], -0.2f, 1e-7);
  cr_assert_float_eq(v[1], 0.004f, 1e-7);
  /* AdamW: decoupled decay p -= lr * wd * p */
  float q = 2, mq = 0, vq = 0, gq = 0, wdq = 0.5f;
  ab_ref_adam_step(&q, &mq, &vq, &gq, &lr, &wdq, 0.9f, 0.999f, 1e-8f, 1, 1, 1);
  cr_assert_float_eq(q, 2.0f - 0.1f * 0.5f * 2.0f, 1e-6);
}

Test(ref, eval_counts_and_losses) {
  float z[6] = {1, 0, 0, 3, 2, 2};
  int32_t lab[3] = {0, 0, 1};
  double loss = 0;
  int64_t correct = 0;
  ab_ref_eval(&loss, &correct, z, lab, 1, 3, 2);
  cr_assert_eq(correct, 1); /* row 3 is a tie: argmax takes the first class */
  double want = log(1 + exp(-1.0)) + log(1 + exp(3.0)) + log(2.0);
  cr_assert_float_eq(loss, want, 1e-5);
}

/* Mean batch loss of a net for parameters p (forward only). */
typedef struct net {
  ab_arch a;
  int B;
  float *X, *act[AB_MAX_LAYERS + 1], *loss;
  int32_t *lab;
} net;

static double net_loss(net *n, const float *p) {
  size_t P = ab_arch_nparams(&n->a);
  (void)P;
  memcpy(n->act[0], n->X, (size_t)n->B * n->a.dims[0] * sizeof(float));
  for (int l = 0; l < n->a.nlayers; l++)
    ab_ref_linear_act_fwd(n->act[l + 1], n->act[l], p + ab_arch_w_off(&n->a, l),
                          p + ab_arch_b_off(&n->a, l), n->a.act[l], 1, n->B, n->a.dims[l],
                          n->a.dims[l + 1], 0);
  ab_ref_softmax_xent(n->loss, NULL, n->act[n->a.nlayers], n->lab, 1, n->B, 2);
  double s = 0;
  for (int i = 0; i < n->B; i++) s += n->loss[i];
  return s / n->B;
}

static void net_grad(net *n, const float *p, float *g) {
  net_loss(n, p);
  int L = n->a.nlayers, md = ab_arch_maxdim(&n->a);
  float *dA = malloc((size_t)n->B * md * sizeof(float)), *dB = malloc((size_t)n->B * md * sizeof(float));
  ab_ref_softmax_xent(n->loss, dA, n->act[L], n->lab, 1, n->B, 2);
  for (int l = L - 1; l >= 0; l--) {
    ab_ref_linear_act_bwd(l ? dB : NULL, g + ab_arch_w_off(&n->a, l), g + ab_arch_b_off(&n->a, l),
                          dA, dA, n->act[l], n->act[l + 1], p + ab_arch_w_off(&n->a, l),
                          n->a.act[l], 1, n->B, n->a.dims[l], n->a.dims[l + 1], 0);
    float *t = dA; dA = dB; dB = t;
  }
  free(dA);
  free(dB);
}

/* Central differences along random unit directions u: (L(p+hu) - L(p-hu)) / 2h vs g.u.
 * The losses are float32 (rounding ~6e-8 x L ~ 5e-8), so with h = 1e-2 the difference
 * quotient carries ~5e-6 absolute noise against directional derivatives of ~0.05-1:
 * below 1e-4 relative. Truncation is O(h^2 |L'''|), and with a unit u each weight moves
 * by ~h/sqrt(P), so a ReLU kink is crossed only by a pre-activation within ~1e-3 of zero.
 * Tolerance: 2e-3 relative. */
static void gradient_check(const char *hidden, const char *acts) {
  net n = {0};
  ab_err e;
  cr_assert_eq(ab_arch_parse(&n.a, 10, hidden, acts, &e), 0, "%s", e.msg);
  n.B = 7;
  size_t P = ab_arch_nparams(&n.a);
  float *p = malloc(P * sizeof(float)), *g = malloc(P * sizeof(float)), *q = malloc(P * sizeof(float));
  float *u = malloc(P * sizeof(float));
  n.X = malloc(70 * sizeof(float));
  n.lab = malloc(7 * sizeof(int32_t));
  n.loss = malloc(7 * sizeof(float));
  for (int l = 0; l <= n.a.nlayers; l++) n.act[l] = malloc(7 * n.a.dims[l] * sizeof(float));
  ab_rng r;
  ab_rng_seed(&r, 42, 7);
  for (int i = 0; i < 70; i++) n.X[i] = (float)ab_rng_normal(&r);
  for (int i = 0; i < 7; i++) n.lab[i] = (int32_t)ab_rng_below(&r, 2);
  ab_init_params(p, &n.a, 11);
  for (size_t i = 0; i < P; i++) p[i] += 0.1f * (float)ab_rng_normal(&r); /* non-zero biases */
  net_grad(&n, p, g);
  for (int trial = 0; trial < 5; trial++) {
    double gu = 0, h = 1e-2;
    double norm = 0;
    for (size_t i = 0; i < P; i++) { u[i] = (float)ab_rng_normal(&r); norm += (double)u[i] * u[i]; }
    for (size_t i = 0; i < P; i++) { u[i] = (float)(u[i] / sqrt(norm)); gu += (double)g[i] * u[i]; }
    for (size_t i = 0; i < P; i++) q[i] = p[i] + (float)(h * u[i]);
    double lp = net_loss(&n, q);
    for (size_t i = 0; i < P; i++) q[i] = p[i] - (float)(h * u[i]);
    double lm = net_loss(&n, q), num = (lp - lm) / (2 * h);
    double rel = fabs(num - gu) / fmax(fabs(gu), 1e-3);
    cr_expect(rel < 2e-3, "%s %s trial %d: numeric %.6g analytic %.6g rel %.3g (tol 2e-3)",
              hidden, acts, trial, num, gu, rel);
  }
  for (int l = 0; l <= n.a.nlayers; l++) free(n.act[l]);
  free(p); free(g); free(q); free(u); free(n.X); free(n.lab); free(n.loss);
}

Test(ref, gradient_matches_finite_differences) {
  gradient_check("100,100", "relu,sigmoid");
  gradient_check("13,5", "tanh");
  gradient_check("9", "sigmoid");
  gradient_check("", "");
}
