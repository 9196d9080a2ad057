/* testop.h - what the per-op tests (test_op_OP.c: the reference, the fast CPU path and
 * the OpenCL kernels of one op) share: the awkward sizes, output buffers pre-filled with
 * a sentinel and followed by a canary region, the comparison with a per-element
 * tolerance, the CPU instruction sets, and OpenCL buffers. */
#ifndef ABGPU_TESTOP_H
#define ABGPU_TESTOP_H
#include <stddef.h>
#include <stdint.h>
#include "abgpu/cpu.h"
#include "cl/engine.h"

#define TO_CANARY 37
#define TO_SENTINEL (-1234.5f)
#define TO_SENTINEL_I 0x5A5A5A5A

/* Rows 1, 7, 93, 100, 257; widths 1, 3, 10, 100, 129; K = 1 and 3. */
#define TO_NROWS 5
#define TO_NWIDTHS 5
extern const int TO_ROWS[TO_NROWS], TO_WIDTHS[TO_NWIDTHS], TO_KS[2];
/* The CPU kernels' widths: the above plus 20 and 50, which end in the AVX-512 kernels'
 * masked 2- and 4-vector tiles (100 ends in a 3-vector one, 129 in a 1-vector one). */
#define TO_CPU_NWIDTHS 7
extern const int TO_CPU_WIDTHS[TO_CPU_NWIDTHS];

/* n elements of 4 bytes plus the canary, all the sentinel (int32 when is_int). */
float *to_out_buf(size_t n, int is_int);

/* Running figures of one op's cases, printed at the end. */
typedef struct to_stats {
  const char *name;  /* "ab_linear_act_fwd", "linear_act_fwd avx2", ... */
  int cases;
  double max_abs, max_rel, max_ratio, max_tol;
} to_stats;
/* One line on stderr: who ("cl", "cpu") and the figures. */
void to_stats_print(const char *who, const to_stats *s);

/* got and want hold n + TO_CANARY elements. Where want holds the sentinel (a gap the op
 * must not write, and the canary), got must be bitwise the same; elsewhere got must be
 * written, finite and within tol[i] of want[i] (bitwise equal when tol is NULL).
 * is_int compares int32 elements exactly. On failure prints the first differences with
 * index and both values and fails the test. */
void to_expect_close(to_stats *st, const char *buf, const char *shape, const float *got,
                     const float *want, const double *tol, size_t n, int is_int);

/* The CPU instruction sets to test: generic always, AVX2 and AVX-512 when this CPU has
 * them; one it lacks is named on stderr as skipped. */
int to_isas(ab_cpu_isa out[3]);
/* tol for AVX2 and AVX-512; NULL (bit-exact) for the generic kernels. */
double *to_tol_or_null(ab_cpu_isa isa, double *tol);
/* "op avx2", "op avx512" or "op generic" into buf. */
const char *to_label(char *buf, size_t n, const char *op, ab_cpu_isa isa);

/* OpenCL device for the tests with GEMM vector width vec (0: the device's choice, 8 on
 * PoCL; 1: the one-float-per-work-item variant GPUs get); skips without a device (fails
 * in CI). */
ab_cl_ctx *to_cl_open(int vec);
/* Device buffers, tracked and released together by to_cl_release_all. */
cl_mem to_cl_in(ab_cl_ctx *c, const void *host, size_t bytes);
/* n elements plus the canary, all the sentinel. */
cl_mem to_cl_out(ab_cl_ctx *c, size_t n, int is_int);
/* n elements plus the canary, read back (malloc'd). */
float *to_cl_get(ab_cl_ctx *c, cl_mem m, size_t n);
void to_cl_release_all(void);

#endif
