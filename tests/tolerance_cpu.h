/* tolerance_cpu.h - the margins test_cpu.c allows between the fast CPU path and the
 * reference, with the reason for each. It reuses the OpenCL tests' definitions
 * (tolerance.h): the fast path differs from the reference in the same ways a kernel may
 * (rounding of sums and of exp), so the same bounds apply. This file only adds what is
 * specific to the CPU path; it is separate because tolerance.h belongs to the OpenCL
 * tests and its comments describe them.
 *
 * Where the fast path rounds differently:
 * - AVX2 kernels sum every output in the reference's order, but with fused multiply-add
 *   (one rounding per term instead of two), except the dot columns (src/cpu/kern.h: 16
 *   interleaved chains and a fixed tree, no term in more than n additions). Either way
 *   the result is within gamma_{n+1} * S of the exact sum (S = sum of |terms|; the bound
 *   holds for every order), so it differs from the reference's by at most AB_TOL_DOT(n, S).
 * - AVX2 sigmoid and tanh use a polynomial exp (Cephes expf, ~1 ulp) instead of libm:
 *   a few ulp of the result, inside AB_TOL_FN (16 ulp); below z = -88 the sigmoid may
 *   return ~6e-39 where libm's overflowing exp gives 0 (AB_TOL_FN_ABS covers it).
 * Where it does not (tolerance 0, compared bit for bit):
 * - the generic kernels (any CPU): no fma and libm, in the reference's order;
 * - Adam, the activation derivatives, db (a plain sum: fma(1, x, s) rounds like s + x),
 *   the softmax cross-entropy op (ab_cpu_softmax_xent) and the loss sums, on every ISA;
 *   (the threaded epoch's 2-class loss, xent2, is within AB_TOL_CPU_XENT_* below on
 *   AVX2 and AVX-512;)
 * - the whole generic backend against the reference backend;
 * - the fast backend against itself with any thread count (each output element is
 *   computed by the same instructions whichever thread computes it). */
#ifndef ABGPU_TOLERANCE_CPU_H
#define ABGPU_TOLERANCE_CPU_H
#include "tolerance.h"

/* Backend against the reference backend after a few steps (AVX2 only). The ops are
 * checked to their own bounds above; here the question is whether the backend wires
 * them right (buffers, layers, the transposed W copy, threads). Through three layers the
 * fma differences compound to ~1e-6 relative of a layer's largest value (measured);
 * a wiring mistake gives O(1). Gradients (read through Adam's m after one step with
 * lr = 0), losses, parameters and probabilities are compared relative to the largest
 * magnitude in their layer or split: */
#define AB_TOL_CPU_WIRING_REL 1e-4

/* 2-class softmax cross-entropy of the AVX2 and AVX-512 kernels (src/cpu/kern.h xent2,
 * the threaded epoch's loss) against the reference's libm. Its exp and log are within
 * 1 ulp of expf and logf (measured on every float of their ranges: tools/cpu_xent_ulp.c);
 * the rest are the reference's operations. With t = exp(min - max) <= 1, s = 1 + t in
 * [1, 2] differs by at most eps t + ulp(s) <= 2 eps, so log(s) (< 1) by 2 eps plus the
 * two functions' rounding (1 ulp + 1/2 ulp, < eps): 3 eps; the loss (log(s) + max) - z[lab]
 * carries that plus one ulp of each add's result (|log(s) + max| <= 1 + zmax, |loss| <=
 * 1 + 2 zmax): eps (5 + 3 zmax), zmax the larger |logit|. A probability e/s differs by
 * at most 3.5 eps (e's ulp, s's difference, its own rounding), 4.5 eps after - onehot,
 * and the / B adds one ulp of the result (<= eps / B): 6 eps / B, bound below. Measured
 * over 12M random rows: 1.42 eps (1 + zmax) and 1.56 eps / B. Rows with a non-finite
 * logit are the reference's bits (compared exactly). */
#define AB_TOL_CPU_XENT_LOSS(zmax) (FLT_EPSILON * (5.0 + 3.0 * (zmax)))
#define AB_TOL_CPU_XENT_D(B) (6.0 * FLT_EPSILON / (B))

#endif
