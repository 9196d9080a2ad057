/* tolerance.h - every margin the OpenCL tests allow between a kernel and its ab_ref_*
 * twin, with the reason for it. A result passes when
 *     |got - want| <= bound
 * where the bound is built from the terms below. eps = FLT_EPSILON = 2^-23, u = eps/2
 * is float32's unit roundoff.
 *
 * The own kernels sum every output in the reference's order (kernels/common.cl), with
 * one fma per term where the device has fma in hardware (AB_FMA) and a multiply and an
 * add elsewhere; the bounds exist for the parts that may legally differ: fma's single
 * rounding where the reference rounds twice (covered by the dot-product bound below),
 * exp/log/tanh/divide/sqrt rounding on any OpenCL device, and a different summation
 * order (CLBlast, a vendor compiler that reassociates). */
#ifndef ABGPU_TOLERANCE_H
#define ABGPU_TOLERANCE_H
#include <float.h>
#include <math.h>

/* Dot products and sums (forward z = b + x.w, dW = X^T dZ, db, dX = dZ W^T).
 * A sum of n products computed in any order differs from the exact value by at most
 * gamma_{n+1} * S with gamma_m = m*u / (1 - m*u) and S = sum of |terms| (Higham,
 * "Accuracy and Stability of Numerical Algorithms", 3.1). Two such results (kernel and
 * reference) differ by at most twice that. The tests compute S per output by running the
 * reference op on |inputs|, so the bound scales with the data: rows of large values get
 * a large margin, near-cancelling sums only the margin their terms justify. The typical
 * error of a random-order sum is ~sqrt(n)*u*S; the worst-case n*u*S is used so that a
 * correct reordering (e.g. CLBlast's tiles) can never fail. */
#define AB_TOL_DOT(n, S) (2.0 * ((double)(n) + 1.0) * (FLT_EPSILON / 2) * (S) * 1.01)

/* Functions with OpenCL-specified accuracy: exp, log 3 ulp; tanh 5 ulp; single divide
 * 2.5 ulp and sqrt 3 ulp unless the device offers correctly rounded ones (the engine asks
 * for them when it can). The reference (glibc) is within 1 ulp. A sigmoid (exp, add,
 * divide) or a softmax probability stacks about three of these, so 16 ulp of the result
 * covers every composition used here with room to spare. */
#define AB_TOL_FN_ULPS 16.0
#define AB_TOL_FN(v) (AB_TOL_FN_ULPS * FLT_EPSILON * fabs((double)(v)))

/* Values that cancel towards zero (softmax - onehot, 1 - y^2, loss of a confident row)
 * lose relative accuracy: their error is that of the operands they came from, about
 * AB_TOL_FN of magnitude 1 (probabilities are at most 1), divided by B for dlogits. */
#define AB_TOL_FN_ABS(scale) (AB_TOL_FN_ULPS * FLT_EPSILON * (double)(scale))

/* Activation after a dot product: relu, sigmoid and tanh are 1-Lipschitz (sigmoid
 * 1/4), so the error of z carries over at most unchanged, plus the function's own. */
#define AB_TOL_ACT(n, S, y) (AB_TOL_DOT(n, S) + AB_TOL_FN(y) + AB_TOL_FN_ABS(1e-6))

/* Adam: m, v, p are a few multiplies and adds of values of like sign, then one divide
 * and one square root: each result within a few ulp. The parameter's error is bounded
 * relative to |p| plus the size of its update (lr-sized), which carries the divide and
 * sqrt rounding. */
#define AB_TOL_ADAM(want, update) (AB_TOL_FN(want) + AB_TOL_FN(update) + 1e-30)

/* Evaluation: the kernel adds float losses in a tree per work-group, the reference in
 * double row by row. Float summation of B non-negative terms: gamma_B relative, plus
 * each row's loss carrying AB_TOL_FN of its terms. Correct counts must match exactly:
 * both sides see the same logits, so the argmax is the same. */
#define AB_TOL_EVAL(B, sum_abs) ((((double)(B) + 1.0) * (FLT_EPSILON / 2) * 1.01 + \
                                  AB_TOL_FN_ULPS * FLT_EPSILON) * (sum_abs) + 1e-6)

/* Training parity (test_cl_train.c): 5 epochs of the same batches on the device and the
 * reference. Per-step results agree to a few ulp (above) and stay that small through
 * training on this problem: 5e-8 relative observed on PoCL, with the own kernels and
 * with CLBlast. 1e-4 relative on the epoch losses (and on the relative L2 distance of
 * parameters and Adam state) leaves room for devices whose exp/log/tanh round
 * differently, and still catches a real bug (a wrong gradient moves the loss by more
 * than 1e-3 within an epoch). */
#define AB_TOL_TRAIN_LOSS_REL 1e-4
/* The fused paths (kernels/fused.cl, test_cl_fused.c) compute every sum in the same order
 * as the per-op kernels and the reference, without fma, so the margins above apply
 * unchanged: on PoCL a fused training step equals the per-op one bit for bit (same
 * losses, parameters and Adam state), and differs from the reference only through
 * exp/log/tanh rounding. Their evaluation adds the float row losses of each chunk of up
 * to 128 rows in row order (the per-op ab_eval: a tree over up to 1024 rows), then the
 * chunks in double on the host: AB_TOL_EVAL with B = the chunk's rows. Observed on PoCL:
 * 5.5e-8 to 2.2e-7 relative on the epoch losses after 5 epochs, 0 of 2,000 predictions
 * different. */

/* The split per-op kernels (GPUs; the kernels ab_*_tiled, ab_*_split and ab_*_sum): the
 * forward and dX tiles sum each output in the reference's order (bit-identical to the
 * ordered kernels); dW and db of a small layer are summed per chunk of the batch, then
 * over the chunks in order, and the batch loss in a tree per group of 64 rows, then over
 * the groups: other summation orders, which AB_TOL_DOT and AB_TOL_EVAL bound for any
 * order, so they need no margin of their own. Training on them is held to
 * AB_TOL_TRAIN_LOSS_REL (test_cl_train.c: parity_split_kernels; observed on PoCL after 5
 * epochs: 1.0e-7 relative on the epoch losses, 1.2e-7 relative L2 on Adam's m with K = 3), and it is not
 * bit-identical to the fused paths, whose comparisons use the ordered kernels. */

/* Final predictions: a row may flip only when its probability sits within rounding of
 * 0.5. At most 1 row in 1000 may differ. */
#define AB_TOL_PRED_FLIPS_PER_1000 1

/* Scoring a saved model on another device (predictor.h; eval, predict, importance
 * --device): every row goes through the same ops as in training, forward only, so the
 * per-op bounds above apply to its logits. Through the 10-100-100-2 net they compound to
 * ~1e-7 of a probability (observed: at most 1e-6, the printed precision, on the real
 * export against the reference, on the fast CPU path and on PoCL). A probability may
 * differ by AB_TOL_SCORE_ABS; rank figures (ROC AUC, PR AUC, importance's AUC drops)
 * change only where two probabilities within that distance swap places, which moves
 * the AUC by far less than AB_TOL_SCORE_AUC on these sizes (observed: 0, bit for bit,
 * on the real export); counts at a threshold follow AB_TOL_PRED_FLIPS_PER_1000. A wiring
 * mistake (wrong weights, scaler, encoding or layer) moves probabilities by 1e-2 and
 * more. A calibrator (train --calibrate) is applied to the network's probability on the
 * host, the same code on every device: it carries the difference over multiplied by its
 * slope (observed: at most 3.9e-7 for isotonic and Platt models on synthetic data, on
 * the fast CPU path and on PoCL), within the same margin. */
#define AB_TOL_SCORE_ABS 1e-5
#define AB_TOL_SCORE_AUC 1e-4

#endif
