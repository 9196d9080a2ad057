/* Shared by the per-op tests (testop.h). */
#include "testop.h"
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

const int TO_ROWS[TO_NROWS] = {1, 7, 93, 100, 257};
const int TO_WIDTHS[TO_NWIDTHS] = {1, 3, 10, 100, 129};
const int TO_CPU_WIDTHS[TO_CPU_NWIDTHS] = {1, 3, 10, 20, 50, 100, 129};
const int TO_KS[2] = {1, 3};

float *to_out_buf(size_t n, int is_int) {
  float *h = malloc((n + TO_CANARY) * sizeof(float));
  for (size_t i = 0; i < n + TO_CANARY; i++) {
    if (is_int) ((int32_t *)h)[i] = TO_SENTINEL_I;
    else h[i] = TO_SENTINEL;
  }
  return h;
}

void to_stats_print(const char *who, const to_stats *s) {
  fprintf(stderr, "%s %-24s %5d cases  max |err| %.3g  max rel err %.3g  max err/tolerance "
          "%.3g  (largest tolerance used %.3g)\n", who, s->name, s->cases, s->max_abs,
          s->max_rel, s->max_ratio, s->max_tol);
}

static int same_bits(const float *a, const float *b) { return memcmp(a, b, sizeof(float)) == 0; }

/* Whether element i passes; updates the figures. */
static int close_at(to_stats *st, const float *got, const float *want, const double *tol,
                    size_t i, size_t n, int is_int) {
  if (is_int || i >= n || same_bits(&want[i], &(float){TO_SENTINEL}) || !tol)
    return same_bits(&got[i], &want[i]);
  double err = fabs((double)got[i] - want[i]);
  if (isfinite(err)) {
    if (err > st->max_abs) st->max_abs = err;
    if (want[i] != 0 && err / fabs(want[i]) > st->max_rel) st->max_rel = err / fabs(want[i]);
    if (tol[i] > 0 && err / tol[i] > st->max_ratio) st->max_ratio = err / tol[i];
    if (tol[i] > st->max_tol) st->max_tol = tol[i];
  }
  return isfinite(got[i]) && !same_bits(&got[i], &(float){TO_SENTINEL}) && err <= tol[i];
}

static void show_bad(const float *got, const float *want, const double *tol, size_t first,
                     size_t n, int is_int) {
  for (size_t i = first, shown = 0; i < n + TO_CANARY && shown < 5; i++) {
    if (same_bits(&got[i], &want[i])) continue;
    if (is_int)
      fprintf(stderr, "  [%zu]%s got %d want %d\n", i, i >= n ? " (canary)" : "",
              ((const int32_t *)got)[i], ((const int32_t *)want)[i]);
    else
      fprintf(stderr, "  [%zu]%s got %.9g want %.9g tolerance %.3g\n", i,
              i >= n ? " (canary)" : "", got[i], want[i], tol && i < n ? tol[i] : 0.0);
    shown++;
  }
}

void to_expect_close(to_stats *st, const char *buf, const char *shape, const float *got,
                     const float *want, const double *tol, size_t n, int is_int) {
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < n + TO_CANARY; i++)
    if (!close_at(st, got, want, tol, i, n, is_int) && bad++ == 0) first = i;
  if (!bad) return;
  show_bad(got, want, tol, first, n, is_int);
  cr_assert_fail("%s: output %s, %s: %zu of %zu elements wrong (first at index %zu; see "
                 "above); max |err| %.3g, max rel err %.3g", st->name, buf, shape, bad,
                 n + TO_CANARY, first, st->max_abs, st->max_rel);
}

int to_isas(ab_cpu_isa out[3]) {
  static const ab_cpu_isa fast[2] = {AB_CPU_ISA_AVX2, AB_CPU_ISA_AVX512};
  int n = 0;
  out[n++] = AB_CPU_ISA_GENERIC;
  for (int i = 0; i < 2; i++) {
    if (ab_cpu_isa_resolve(fast[i]) == fast[i]) out[n++] = fast[i];
    else fprintf(stderr, "cpu: SKIPPED the %s kernels: this CPU (or this build) cannot run "
                 "them\n", ab_cpu_isa_name(fast[i]));
  }
  return n;
}

double *to_tol_or_null(ab_cpu_isa isa, double *tol) {
  return isa == AB_CPU_ISA_GENERIC ? NULL : tol;
}

const char *to_label(char *buf, size_t n, const char *op, ab_cpu_isa isa) {
  snprintf(buf, n, "%s %s", op, ab_cpu_isa_name(isa));
  return buf;
}

ab_cl_ctx *to_cl_open(int vec) {
  int dev = tu_cl_device_or_skip("OpenCL kernel tests");
  ab_err e;
  ab_cl_ctx *c = NULL;
  ab_cl_opts o = {AB_CL_GEMM_OWN, 0, vec, NULL, NULL, {0}, AB_CL_SPLIT_AUTO};
  cr_assert_eq(ab_cl_ctx_open(&c, dev, &o, &e), AB_OK, "opening device %d: %s", dev, e.msg);
  fprintf(stderr, "cl AB_VEC=%d\n", c->vec);
  return c;
}

static cl_mem arena[32];
static int narena;

static cl_mem track(cl_mem m) {
  cr_assert(narena < 32);
  return arena[narena++] = m;
}

void to_cl_release_all(void) {
  while (narena) clReleaseMemObject(arena[--narena]);
}

cl_mem to_cl_in(ab_cl_ctx *c, const void *host, size_t bytes) {
  cl_int err;
  cl_mem m = clCreateBuffer(c->context, CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, bytes,
                            (void *)host, &err);
  cr_assert_eq(err, CL_SUCCESS, "clCreateBuffer: %s", ab_cl_errname(err));
  return track(m);
}

cl_mem to_cl_out(ab_cl_ctx *c, size_t n, int is_int) {
  float *h = to_out_buf(n, is_int);
  cl_mem m = to_cl_in(c, h, (n + TO_CANARY) * sizeof(float));
  free(h);
  return m;
}

float *to_cl_get(ab_cl_ctx *c, cl_mem m, size_t n) {
  float *h = malloc((n + TO_CANARY) * sizeof(float));
  cl_int err = clEnqueueReadBuffer(c->queue, m, CL_TRUE, 0, (n + TO_CANARY) * sizeof(float),
                                   h, 0, NULL, NULL);
  cr_assert_eq(err, CL_SUCCESS, "clEnqueueReadBuffer: %s", ab_cl_errname(err));
  return h;
}
