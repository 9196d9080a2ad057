/* The reference's whole backward pass against finite differences along random
 * directions (as kann does). Each op by hand: test_op_OP.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/ref.h"
#include "abgpu/rng.h"
#include "abgpu/train.h"

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
