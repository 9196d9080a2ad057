/* The op dropout (ref.h: ab_ref_dropout): the fast CPU version and the OpenCL kernel
 * (kernels/dropout.cl) against the reference, bit for bit (the mask is integer hashing
 * and the kept values one float multiply, exact on every IEEE device), with sentinel and
 * canary as in test_op_linear_act_fwd.c; the mask's rate and independence; the gradient
 * of a training step with dropout against finite differences; and training with dropout
 * on every backend (the whole-epoch overrides stand aside), evaluation without it; the
 * sweep's dropout dimension. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/cpu.h"
#include "abgpu/ref.h"
#include "abgpu/rng.h"
#include "abgpu/sweep.h"
#include "abgpu/train.h"
#include "testbuf.h"
#include "testop.h"
#include "testutil.h"
#include "tolerance.h"

static ab_rng rng;

/* Constants of K models: rates 0.1, 0.5, 0.3, ... and seeds 5, 6, ... */
static uint32_t *consts(int K) {
  static const float rates[3] = {0.1f, 0.5f, 0.3f};
  uint32_t *c = malloc((size_t)K * AB_DROP_NC * sizeof *c);
  for (int k = 0; k < K; k++) ab_dropout_consts(c + k * AB_DROP_NC, rates[k % 3], 5 + k);
  return c;
}

/* want: the reference's output of n elements followed by the canary (the sentinel). */
static float *reference(const float *X, const uint32_t *c, uint32_t salt, int K, int B, int N) {
  size_t n = (size_t)K * B * N;
  float *want = to_out_buf(n, 0);
  ab_ref_dropout(want, X, c, salt, K, B, N);
  return want;
}

Test(dropout, cpu_is_the_reference_bit_for_bit) {
  to_stats st = {"dropout cpu", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 23, 1);
  for (int ri = 0; ri < TO_NROWS; ri++)
    for (int wi = 0; wi < TO_NWIDTHS; wi++)
      for (int ki = 0; ki < 2; ki++) {
        int K = TO_KS[ki], B = TO_ROWS[ri], N = TO_WIDTHS[wi];
        size_t n = (size_t)K * B * N;
        float *X = tu_rand_buf(&rng, n, -3, 3), *got = to_out_buf(n, 0);
        uint32_t *c = consts(K), salt = ab_dropout_salt(1 + wi, 17 + ri);
        float *want = reference(X, c, salt, K, B, N);
        char shape[64];
        snprintf(shape, sizeof shape, "K=%d B=%d N=%d", K, B, N);
        ab_cpu_dropout(got, X, c, salt, K, B, N);
        to_expect_close(&st, "Y", shape, got, want, NULL, n, 0);
        memcpy(got, X, n * sizeof *got); /* in place: Y = X */
        ab_cpu_dropout(got, got, c, salt, K, B, N);
        to_expect_close(&st, "Y (in place)", shape, got, want, NULL, n, 0);
        st.cases += 2;
        free(X); free(got); free(c); free(want);
      }
  to_stats_print("cpu", &st);
}

Test(dropout, opencl_is_the_reference_bit_for_bit) {
  ab_cl_ctx *cl = to_cl_open(0);
  to_stats st = {"ab_dropout", 0, 0, 0, 0, 0};
  ab_rng_seed(&rng, 29, 1);
  for (int ri = 0; ri < TO_NROWS; ri++)
    for (int wi = 0; wi < TO_NWIDTHS; wi++)
      for (int ki = 0; ki < 2; ki++) {
        int K = TO_KS[ki], B = TO_ROWS[ri], N = TO_WIDTHS[wi];
        size_t n = (size_t)K * B * N;
        float *X = tu_rand_buf(&rng, n, -3, 3);
        uint32_t *c = consts(K), salt = ab_dropout_salt(2 + wi, 1000 + ri);
        float *want = reference(X, c, salt, K, B, N);
        char shape[64];
        snprintf(shape, sizeof shape, "K=%d B=%d N=%d", K, B, N);
        cl_mem Y = to_cl_out(cl, n, 0), Xd = to_cl_in(cl, X, n * sizeof *X);
        cl_mem C = to_cl_in(cl, c, (size_t)K * AB_DROP_NC * sizeof *c);
        ab_err e;
        cr_assert_eq(ab_cl_dropout(cl, Y, Xd, C, salt, K, B, N, &e), 0, "%s", e.msg);
        float *got = to_cl_get(cl, Y, n);
        to_expect_close(&st, "Y", shape, got, want, NULL, n, 0);
        free(got);
        float *inp = to_out_buf(n, 0); /* in place, canary after it */
        memcpy(inp, X, n * sizeof *X);
        cl_mem Z = to_cl_in(cl, inp, (n + TO_CANARY) * sizeof *inp);
        cr_assert_eq(ab_cl_dropout(cl, Z, Z, C, salt, K, B, N, &e), 0, "%s", e.msg);
        got = to_cl_get(cl, Z, n);
        to_expect_close(&st, "Y (in place)", shape, got, want, NULL, n, 0);
        st.cases += 2;
        free(X); free(c); free(want); free(got); free(inp);
        to_cl_release_all();
      }
  to_stats_print("cl", &st);
  ab_cl_ctx_free(cl);
}

/* Fraction of zeros in the mask of model k (rate p) over B rows of N ones. */
static double dropped(const uint32_t *c, uint32_t salt, int K, int k, int B, int N, float *Y) {
  size_t n = (size_t)K * B * N, zeros = 0;
  float *X = malloc(n * sizeof *X);
  for (size_t i = 0; i < n; i++) X[i] = 1.0f;
  ab_ref_dropout(Y, X, c, salt, K, B, N);
  for (size_t i = (size_t)k * B * N; i < (size_t)(k + 1) * B * N; i++) zeros += Y[i] == 0.0f;
  free(X);
  return (double)zeros / ((double)B * N);
}

Test(dropout, mask_rate_scale_and_independence) {
  enum { B = 400, N = 100 };
  size_t n = (size_t)2 * B * N;
  float *Y1 = malloc(n * sizeof *Y1), *Y2 = malloc(n * sizeof *Y2);
  uint32_t c[2 * AB_DROP_NC];
  ab_dropout_consts(c, 0.3f, 11);
  ab_dropout_consts(c + AB_DROP_NC, 0.3f, 11); /* the same model in another slot */
  double f = dropped(c, ab_dropout_salt(1, 1), 2, 0, B, N, Y1);
  double sd = sqrt(0.3 * 0.7 / (B * N));
  cr_expect(fabs(f - 0.3) < 6 * sd, "dropped %.4f of the units, expected 0.3 +- %.4f", f, 6 * sd);
  cr_expect(memcmp(Y1, Y1 + B * N, (size_t)B * N * sizeof *Y1) == 0,
            "a model's mask must not depend on its slot k");
  for (size_t i = 0; i < (size_t)B * N; i++)
    cr_assert(Y1[i] == 0.0f || Y1[i] == 1.0f / 0.7f, "kept unit %zu is %g, not 1/(1-p)", i, Y1[i]);
  /* another step, layer or seed: another mask (agreement ~ 0.3^2 + 0.7^2 = 0.58) */
  uint32_t other[3][2] = {{1, 2}, {2, 1}, {1, 1}};
  for (int t = 0; t < 3; t++) {
    uint32_t c2[2 * AB_DROP_NC];
    ab_dropout_consts(c2, 0.3f, t == 2 ? 12 : 11);
    ab_dropout_consts(c2 + AB_DROP_NC, 0.3f, 11);
    dropped(c2, ab_dropout_salt((int)other[t][0], other[t][1]), 2, 0, B, N, Y2);
    size_t same = 0;
    for (size_t i = 0; i < (size_t)B * N; i++) same += (Y1[i] == 0.0f) == (Y2[i] == 0.0f);
    double agree = (double)same / (B * N);
    cr_expect(fabs(agree - 0.58) < 0.02, "case %d: masks agree on %.3f of the units, expected "
              "0.58 (independent)", t, agree);
  }
  free(Y1);
  free(Y2);
}

/* ---- the gradient of one step with dropout, against finite differences ---- */

enum { GB = 20 };

/* Double-precision loss of one batch: rows x [GB][10], labels y, masks M[h] [GB][dims[h]]
 * (0 or 1/(1-p), from the op on ones), params p. */
static double batch_loss(const ab_arch *a, const double *p, const float *x, const int32_t *y,
                         float *const *M) {
  double in[GB * 64], out[GB * 64];
  int w = a->dims[0];
  for (int i = 0; i < GB * w; i++) in[i] = x[i];
  for (int l = 0; l < a->nlayers; l++) {
    int IN = a->dims[l], OUT = a->dims[l + 1];
    const double *W = p + ab_arch_w_off(a, l), *b = p + ab_arch_b_off(a, l);
    for (int i = 0; i < GB; i++)
      for (int j = 0; j < OUT; j++) {
        double z = b[j];
        for (int c = 0; c < IN; c++) z += in[i * IN + c] * W[c * OUT + j];
        if (a->act[l] == AB_ACT_SIGMOID) z = 1 / (1 + exp(-z));
        else if (a->act[l] == AB_ACT_TANH) z = tanh(z);
        else if (a->act[l] == AB_ACT_RELU) z = z > 0 ? z : 0;
        out[i * OUT + j] = l + 1 < a->nlayers ? z * M[l + 1][i * OUT + j] : z;
      }
    memcpy(in, out, sizeof in);
  }
  double s = 0;
  for (int i = 0; i < GB; i++) {
    double z0 = in[2 * i], z1 = in[2 * i + 1], mx = fmax(z0, z1);
    double lse = mx + log(exp(z0 - mx) + exp(z1 - mx));
    s += lse - in[2 * i + y[i]];
  }
  return s / GB;
}

Test(dropout, step_gradient_matches_finite_differences) {
  ab_splits s;
  tu_learnable_splits(&s, 400);
  ab_arch a;
  ab_err e;
  cr_assert_eq(ab_arch_parse(&a, AB_NFEAT, "9,6", "sigmoid,tanh", &e), 0, "%s", e.msg);
  size_t P = ab_arch_nparams(&a);
  float *p = malloc(P * sizeof *p);
  ab_init_params(p, &a, 4);
  ab_backend *be = tu_open_ref(&s);
  ab_hyper hp = {1e-3f, 0.0f};
  float rate = 0.4f;
  uint64_t seed = 9;
  cr_assert_eq(ab_backend_init_models(be, &a, 1, GB, p, &hp, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_set_dropout(be, &rate, &seed, &e), 0, "%s", e.msg);
  int32_t order[GB];
  for (int i = 0; i < GB; i++) order[i] = i;
  double loss;
  cr_assert_eq(ab_backend_train_epoch(be, order, 1, &loss, &e), 0, "%s", e.msg);
  const float *g = be->m.grad.h; /* step 1's gradient, at p */
  uint32_t c[AB_DROP_NC];
  ab_dropout_consts(c, rate, seed);
  float *M[AB_MAX_LAYERS + 1] = {0}, ones[GB * 9];
  for (int i = 0; i < GB * 9; i++) ones[i] = 1.0f;
  for (int h = 1; h < a.nlayers; h++) {
    M[h] = malloc((size_t)GB * a.dims[h] * sizeof(float));
    ab_ref_dropout(M[h], ones, c, ab_dropout_salt(h, 1), 1, GB, a.dims[h]);
  }
  double *pd = malloc(P * sizeof *pd), worst = 0;
  for (size_t i = 0; i < P; i++) pd[i] = p[i];
  cr_expect(fabs(batch_loss(&a, pd, s.train.in, s.train.y, M) - loss) < 1e-5,
            "the step's batch loss %.7f is not the masked network's", loss);
  for (size_t i = 0; i < P; i++) {
    double h = 1e-4, keep = pd[i];
    pd[i] = keep + h;
    double up = batch_loss(&a, pd, s.train.in, s.train.y, M);
    pd[i] = keep - h;
    double down = batch_loss(&a, pd, s.train.in, s.train.y, M);
    pd[i] = keep;
    double fd = (up - down) / (2 * h), err = fabs(fd - g[i]);
    worst = fmax(worst, err);
    /* float gradient (~1e-7 relative) against a double central difference (~1e-8) */
    cr_expect(err <= 1e-5 + 1e-3 * fabs(fd), "parameter %zu: gradient %.8g, finite "
              "difference %.8g", i, (double)g[i], fd);
  }
  fprintf(stderr, "dropout gradient: %zu parameters, max |gradient - finite difference| %.3g\n",
          P, worst);
  for (int h = 1; h < a.nlayers; h++) free(M[h]);
  free(pd);
  free(p);
  ab_backend_free(be);
  ab_splits_free(&s);
}

/* ---- training with dropout on every backend ---- */

static ab_train_cfg dropout_cfg(void) {
  ab_train_cfg cfg = ab_train_cfg_default();
  cfg.epochs = 5;
  cfg.patience = 1000;
  cfg.seed = 3;
  cfg.dropout = 0.3f;
  return cfg;
}

/* Test log loss of r's weights through the forward slot of a fresh reference backend,
 * which knows nothing of dropout. */
static double test_loss_without_dropout(const ab_train_result *r, const ab_train_cfg *cfg,
                                        const ab_splits *s) {
  ab_backend *be = tu_open_ref(s);
  float *prob = malloc(s->test.n * sizeof *prob);
  ab_err e;
  cr_assert_eq(ab_backend_forward(be, &cfg->arch, r->params, s->test.in, s->test.n, prob, &e),
               0, "%s", e.msg);
  double sum = 0;
  for (size_t i = 0; i < s->test.n; i++)
    sum -= log(s->test.y[i] ? (double)prob[i] : 1.0 - prob[i]);
  free(prob);
  ab_backend_free(be);
  return sum / (double)s->test.n;
}

static void train_against_ref(const char *label, ab_backend *bd, const ab_splits *s) {
  ab_train_cfg cfg = dropout_cfg(), off = cfg;
  off.dropout = 0.0f;
  ab_backend *br = tu_open_ref(s);
  ab_train_result rd, rr, r0;
  ab_err e;
  cr_assert_eq(ab_train(&rd, bd, &cfg, s, NULL, NULL, &e), 0, "%s", e.msg);
  cr_expect(strncmp(ab_backend_path(bd), "per-op: dropout", 15) == 0 ||
            strncmp(ab_backend_path(bd), "reference", 9) == 0, "%s: path '%s'", label,
            ab_backend_path(bd));
  cr_assert_eq(ab_train(&rr, br, &cfg, s, NULL, NULL, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_train(&r0, br, &off, s, NULL, NULL, &e), 0, "%s", e.msg);
  double worst = 0;
  for (int i = 0; i < 5; i++) {
    tu_expect_loss(label, "train loss (dropout 0.3)", i + 1, rd.hist[i].train_loss,
                   rr.hist[i].train_loss);
    tu_expect_loss(label, "validation loss (dropout 0.3)", i + 1, rd.hist[i].val_loss,
                   rr.hist[i].val_loss);
    worst = fmax(worst, tu_rel_diff(rd.hist[i].train_loss, rr.hist[i].train_loss));
  }
  cr_expect(tu_rel_diff(rr.hist[0].train_loss, r0.hist[0].train_loss) > 1e-3,
            "dropout 0.3 must change the training loss (%.6f vs %.6f without)",
            rr.hist[0].train_loss, r0.hist[0].train_loss);
  cr_expect(rd.hist[4].train_loss < rd.hist[0].train_loss, "training must make progress");
  double plain = test_loss_without_dropout(&rd, &cfg, s);
  cr_expect(fabs(plain - rd.test_loss) <= 1e-4 * (1 + plain), "%s: test loss %.7f, without "
            "dropout %.7f: evaluation must not drop units", label, rd.test_loss, plain);
  fprintf(stderr, "%s with dropout 0.3: 5 epochs, worst relative train loss difference %.3g "
          "(allowed %.3g); path: %s\n", label, worst, AB_TOL_TRAIN_LOSS_REL, ab_backend_path(bd));
  ab_train_result_free(&rd);
  ab_train_result_free(&rr);
  ab_train_result_free(&r0);
  ab_backend_free(br);
}

Test(dropout_train, cpu_and_reference_agree_and_eval_is_plain) {
  ab_splits s;
  tu_learnable_splits(&s, 2000);
  ab_backend *bd;
  ab_err e;
  cr_assert_eq(ab_backend_cpu_create(&bd, NULL, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_load_data(bd, &s, &e), 0, "%s", e.msg);
  train_against_ref("cpu", bd, &s);
  ab_backend_free(bd);
  ab_splits_free(&s);
}

Test(dropout_train, opencl_and_reference_agree) {
  int dev = tu_cl_device_or_skip("OpenCL dropout training");
  ab_splits s;
  tu_learnable_splits(&s, 2000);
  ab_backend *bd;
  ab_err e;
  ab_cl_opts o = {AB_CL_GEMM_OWN, 0, 0, NULL, NULL, {AB_CL_FUSED_EPOCH, 0, 0, 0}, AB_CL_SPLIT_AUTO};
  cr_assert_eq(ab_backend_cl_create(&bd, dev, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_load_data(bd, &s, &e), 0, "%s", e.msg);
  train_against_ref("opencl", bd, &s);
  ab_backend_free(bd);
  ab_splits_free(&s);
}

/* ---- the sweep's dropout dimension ---- */

Test(dropout_sweep, dimension_keys_flags_and_train_config) {
  ab_space sp;
  ab_space_init(&sp);
  ab_err e;
  const char *text = "hidden = 8\ndropout = 0 0.20 .2 0.5\n";
  cr_assert_eq(ab_space_parse(&sp, text, strlen(text), "sp.txt", &e), 0, "%s", e.msg);
  cr_assert_eq(sp.nval[AB_DIM_DROPOUT], 3, "0.20 and .2 are one value");
  cr_assert(strstr(sp.note, "dropout: '.2' is 0.2 again"), "%s", sp.note);
  ab_sweep_cfg *c;
  size_t n;
  cr_assert_eq(ab_space_expand(&c, &n, &sp, 0, 1, &e), 0, "%s", e.msg);
  cr_assert_eq(n, 3);
  char key[AB_SWEEP_KEY_LEN], flags[1024];
  ab_sweep_key(&c[1], key, sizeof key);
  cr_assert(strstr(key, " dropout=0.2 seed=1"), "%s", key);
  ab_sweep_flags(&c[1], flags, sizeof flags);
  cr_assert(strstr(flags, " --dropout 0.2"), "%s", flags);
  ab_sweep_flags(&c[0], flags, sizeof flags);
  cr_assert(!strstr(flags, "--dropout"), "no flag for train's default: %s", flags);
  ab_train_cfg t;
  cr_assert_eq(ab_sweep_train_cfg(&t, &c[2], &e), 0, "%s", e.msg);
  cr_assert_eq(t.dropout, 0.5f);
  cr_assert(ab_sweep_same_launch(&c[0], &c[2]), "rates may share a launch");
  text = "dropout = 1\n";
  cr_assert_eq(ab_space_parse(&sp, text, strlen(text), "sp.txt", &e), AB_EINPUT);
  cr_assert(strstr(e.msg, "dropout: '1' is not a dropout rate in [0, 0.99]"), "%s", e.msg);
  free(c);
  ab_space_free(&sp);
}

/* Rates 0 and 0.3 in one launch: both train, the leaderboard keeps them apart (the
 * dropout column), and a resume finds both already there. */
Test(dropout_sweep, trains_in_one_launch_and_round_trips) {
  static tu_run r;
  const char *d = tu_tmpdir();
  const char *sets = "--set hidden=8 --set act=relu --set epochs=3 --set dropout=0,0.3 "
                     "--finalists 2 --device ref";
  tu_sh(&r, "cd %s && %s sweep --data synth:1500:3 %s --leaderboard sw.csv --json-out sw.json "
            "--quiet && %s sweep --data synth:1500:3 %s --leaderboard sw.csv --resume && "
            "grep -c ',none,0,0.3,1,ok,' sw.csv", d, ABGPU_BIN, sets, ABGPU_BIN, sets);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "0 to train here (2 already in sw.csv)"), "%s", r.out);
  cr_assert(strstr(r.out, "\n1\n"), "one row with dropout 0.3: %s", r.out);
}
