/* The op gather (rows of a batch through an index; ref.h): the OpenCL kernel
 * (kernels/gather.cl, the CLBlast path's) against the reference, bit for bit, sentinel
 * and canary as in test_op_linear_act_fwd.c. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/ref.h"
#include "abgpu/rng.h"
#include "testbuf.h"
#include "testop.h"
#include "testutil.h"
#include "tolerance_cpu.h"

static ab_rng rng;

Test(gather, opencl) {
  ab_cl_ctx *c = to_cl_open(0);
  to_stats st = {"ab_gather", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 11, 1);
  const int N = 300, off = 5;
  for (int ri = 0; ri < TO_NROWS; ri++)
    for (int wi = 0; wi < TO_NWIDTHS; wi++)
      for (int ki = 0; ki < 2; ki++) {
        int B = TO_ROWS[ri], IN = TO_WIDTHS[wi], K = TO_KS[ki];
        size_t nx = (size_t)K * B * IN, ny = (size_t)K * B;
        float *data = tu_rand_buf(&rng, (size_t)N * IN, -2, 2);
        int32_t *lab = malloc(N * sizeof(int32_t)), *idx = malloc((off + ny) * sizeof(int32_t));
        for (int i = 0; i < N; i++) lab[i] = (int32_t)ab_rng_below(&rng, 7);
        for (size_t i = 0; i < off + ny; i++) idx[i] = (int32_t)ab_rng_below(&rng, N);
        float *wx = to_out_buf(nx, 0), *wy = to_out_buf(ny, 1);
        ab_ref_gather(wx, (int32_t *)wy, data, lab, idx + off, K, B, IN);
        cl_mem X = to_cl_out(c, nx, 0), Y = to_cl_out(c, ny, 1);
        ab_cl_rows rows = {to_cl_in(c, data, (size_t)N * IN * 4), to_cl_in(c, idx, (off + ny) * 4),
                           off, B};
        ab_err e;
        cr_assert_eq(ab_cl_gather(c, X, Y, to_cl_in(c, lab, N * 4), rows, K, B, IN, &e), 0, "%s",
                     e.msg);
        char shape[96];
        snprintf(shape, sizeof shape, "K=%d B=%d IN=%d", K, B, IN);
        float *gx = to_cl_get(c, X, nx), *gy = to_cl_get(c, Y, ny);
        to_expect_close(&st, "X", shape, gx, wx, NULL, nx, 0);
        to_expect_close(&st, "Y", shape, gy, wy, NULL, ny, 1);
        st.cases++;
        free(data); free(lab); free(idx); free(wx); free(wy); free(gx); free(gy);
        to_cl_release_all();
      }
  to_stats_print("cl", &st);
  ab_cl_ctx_free(c);
}
