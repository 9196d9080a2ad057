/* tolerance_cpu.h - the margins test_cpu.c allows between the fast CPU path and the
 * reference, with the reason for each. It reuses the OpenCL tests' definitions
 * (tolerance.h): the fast path differs from the reference in the same ways a kernel may
 * (rounding of sums and of exp), so the same bounds apply. This file only adds what is
 * specific to the CPU path; it is separate because tolerance.h belongs to the OpenCL
 * tests and its comments describe them.
 *
 * Where the fast path rounds differently:
 * - AVX2 kernels sum every output in the reference's order, but with fused multiply-add
 *   (one rounding per term instead of two). Both results are within gamma_{n+1} * S of
 *   the exact sum (S = sum of |terms|), so they differ by at most AB_TOL_DOT(n, S).
 * - AVX2 sigmoid and tanh use a polynomial exp (Cephes expf, ~1 ulp) instead of libm:
 *   a few ulp of the result, inside AB_TOL_FN (16 ulp); below z = -88 the sigmoid may
 *   return ~6e-39 where libm's overflowing exp gives 0 (AB_TOL_FN_ABS covers it).
 * Where it does not (tolerance 0, compared bit for bit):
 * - the generic kernels (any CPU): no fma and libm, in the reference's order;
 * - Adam, the activation derivatives, db (a plain sum: fma(1, x, s) rounds like s + x),
 *   softmax cross-entropy and the loss sums, on every ISA;
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

#endif
