/* Platt scaling: p' = sigmoid(a*logit(p) + b), a and b fitted by Newton's method on the
 * log loss of a labelled set (the validation split). */
#include <math.h>
#include "abgpu/model.h"

#define PLATT_CLIP 1e-7   /* probabilities are clipped to [c, 1-c] before the logit */
#define PLATT_ITERS 100

static double logit(double p) {
  p = p < PLATT_CLIP ? PLATT_CLIP : p > 1 - PLATT_CLIP ? 1 - PLATT_CLIP : p;
  return log(p / (1 - p));
}

double ab_platt_apply(double p, double a, double b) {
  return 1.0 / (1.0 + exp(-(a * logit(p) + b)));
}

/* Mean log loss at (a, b); the gradient and Hessian of the sum when g, h are given. */
static double platt_loss(const float *prob, const uint8_t *y, size_t n, double a, double b,
                         double g[2], double h[3]) {
  double s = 0;
  if (g) g[0] = g[1] = h[0] = h[1] = h[2] = 0;
  for (size_t i = 0; i < n; i++) {
    double z = logit(prob[i]), t = a * z + b, q = 1.0 / (1.0 + exp(-t)), d = q - y[i];
    s += t > 0 ? log1p(exp(-t)) + (y[i] ? 0 : t) : log1p(exp(t)) - (y[i] ? t : 0);
    if (!g) continue;
    double w = q * (1 - q);
    g[0] += d * z, g[1] += d;
    h[0] += w * z * z, h[1] += w * z, h[2] += w;
  }
  return s / (double)n;
}

int ab_platt_fit(double *a, double *b, const float *prob, const uint8_t *y, size_t n,
                 ab_err *e) {
  size_t pos = 0;
  for (size_t i = 0; i < n; i++) pos += y[i] != 0;
  *a = 1, *b = 0;
  if (pos == 0 || pos == n)
    return ab_err_set(e, AB_EINPUT, "calibration needs buyers and non-buyers (%zu of %zu)", pos, n);
  double g[2], h[3], loss = platt_loss(prob, y, n, *a, *b, g, h);
  for (int it = 0; it < PLATT_ITERS; it++) {
    double det = h[0] * h[2] - h[1] * h[1];
    if (!(det > 1e-12 * h[0] * h[2]))
      return ab_err_set(e, AB_EINPUT, "calibration: the probabilities do not vary enough to fit");
    double da = (h[2] * g[0] - h[1] * g[1]) / det, db = (h[0] * g[1] - h[1] * g[0]) / det;
    double step = 1, next = INFINITY;
    while (step > 1e-10 && !((next = platt_loss(prob, y, n, *a - step * da, *b - step * db,
                                                NULL, NULL)) <= loss))
      step /= 2; /* halve until the loss does not rise */
    if (step <= 1e-10) break;
    *a -= step * da, *b -= step * db;
    int done = fabs(step * da) < 1e-12 && fabs(step * db) < 1e-12;
    loss = platt_loss(prob, y, n, *a, *b, g, h);
    if (done) break;
  }
  if (!isfinite(*a) || !isfinite(*b) || *a <= 0)
    return ab_err_set(e, AB_EINPUT, "calibration: the fit reverses or loses the ranking "
                      "(a = %g); the model is not calibrated", *a);
  return AB_OK;
}
