/* Input encodings (PLE, out-of-fold target encoding), the transform list, the batch
 * order and stopping rule of --seed-compat, learning-rate schedules, --ensemble, and the
 * model file's encoding section. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/encode.h"
#include "abgpu/model.h"
#include "abgpu/prep.h"
#include "abgpu/train.h"
#include "testutil.h"

static ab_err E;

Test(transform, lists_parse_to_one_canonical_name) {
  ab_transform t;
  char buf[AB_TRANSFORM_NAME_LEN];
  cr_assert_eq(ab_transform_parse(&t, "te,ple:32,log1p"), 0);
  cr_assert_str_eq(ab_transform_name(t, buf), "log1p,ple:32,te");
  cr_assert_eq(ab_transform_ple(t), 32);
  cr_assert(ab_transform_applies(t, 0) && !ab_transform_applies(t, 6));
  cr_assert_eq(ab_transform_parse(&t, "none"), 0);
  cr_assert_str_eq(ab_transform_name(t, buf), "none");
  const char *bad[] = {"", "log1p,", ",te", "te,te", "ple:1", "ple:256", "ple:", "ple:8,ple:9",
                       "sqrt", "none,te", "ple:x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    cr_expect_neq(ab_transform_parse(&t, bad[i]), 0, "accepted '%s'", bad[i]);
}

/* n rows whose feature 1 takes 4 values with buy rates 0, 1/3, 2/3, 1 (by row), the
 * others a ramp: x [n][10] as prepared rows. */
static void rows(float *x, int32_t *y, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (int j = 0; j < AB_NFEAT; j++) x[i * AB_NFEAT + j] = (float)i / (float)n + (float)j;
    int v = (int)(i % 4);
    x[i * AB_NFEAT + 1] = (float)v;
    y[i] = (int32_t)((i / 4) % 3 < (size_t)v);
  }
}

Test(encode, ple_bins_are_quantiles_and_encode_piecewise_linearly) {
  enum { N = 1000 };
  static float x[N * AB_NFEAT];
  static int32_t y[N];
  rows(x, y, N);
  ab_encoder enc;
  float *tr;
  cr_assert_eq(ab_encoder_fit(&enc, &tr, x, y, N, 4, 0, 1, &E), 0, "%s", E.msg);
  cr_assert_eq(enc.nedges[0], 5, "a ramp has 4 bins");
  cr_assert_eq(enc.nedges[1], 4, "four values give three bins (repeated edges dropped)");
  cr_assert_eq(enc.width, 9 * 4 + 3);
  cr_assert_float_eq(enc.edges[0][0], 0.0f, 1e-6);
  cr_assert_float_eq(enc.edges[0][2], 0.5f, 2e-3, "the median");
  float row[AB_NFEAT], out[64];
  memcpy(row, x, sizeof row);
  float q = enc.edges[0][1], h = enc.edges[0][2];
  row[0] = 0.5f * (q + h); /* half way through bin 2 */
  ab_encode_rows(&enc, out, row, 1);
  cr_assert_float_eq(out[0], 1.0f, 1e-6);
  cr_assert_float_eq(out[1], 0.5f, 1e-5);
  cr_assert_float_eq(out[2], 0.0f, 1e-6);
  row[0] = -1.0f; /* below the first edge: the first bin extends, the others are 0 */
  ab_encode_rows(&enc, out, row, 1);
  cr_assert_lt(out[0], 0.0f);
  cr_assert_float_eq(out[1], 0.0f, 1e-6);
  free(tr);
  ab_encoder_free(&enc);
}

Test(encode, target_encoding_is_out_of_fold_smoothed_and_unseen_gets_the_prior) {
  enum { N = 1200 };
  static float x[N * AB_NFEAT];
  static int32_t y[N];
  rows(x, y, N);
  ab_encoder enc;
  float *tr;
  cr_assert_eq(ab_encoder_fit(&enc, &tr, x, y, N, 0, 1, 3, &E), 0, "%s", E.msg);
  cr_assert_eq(enc.nte, 5);
  cr_assert_eq(enc.te[0].feat, 1, "book_length_avg is the first target-encoded column");
  const ab_te_col *c = &enc.te[0];
  cr_assert_eq(c->n, 4);
  double prior = 0;
  for (size_t i = 0; i < N; i++) prior += y[i];
  prior /= N;
  cr_assert_float_eq(c->prior, prior, 1e-6);
  for (uint32_t v = 0; v < 4; v++) { /* (buyers + 10 prior) / (rows + 10) */
    double want = (N / 4.0 * v / 3.0 + AB_TE_PSEUDO * prior) / (N / 4.0 + AB_TE_PSEUDO);
    cr_expect_float_eq(c->rate[v], want, 1e-5, "value %u: %g, expected %g", v, c->rate[v], want);
  }
  /* a training row's encoding leaves its own fold out: it differs from the full rate */
  int differs = 0;
  for (size_t i = 0; i < N; i++) {
    int v = (int)x[i * AB_NFEAT + 1];
    float full = (c->rate[v] - c->mean) / c->std, got = tr[i * enc.width + AB_NFEAT];
    differs += fabsf(full - got) > 1e-4f;
  }
  cr_assert_gt(differs, N / 2, "only %d of %d training rows out of fold", differs, N);
  float row[AB_NFEAT], out[32];
  memcpy(row, x, sizeof row);
  row[1] = 2.5f; /* not a training value */
  ab_encode_rows(&enc, out, row, 1);
  cr_assert_float_eq(out[AB_NFEAT], (c->prior - c->mean) / c->std, 1e-6);
  row[1] = 3.0f + 2e-6f; /* the same value recomputed with other rounding still matches */
  ab_encode_rows(&enc, out, row, 1);
  cr_assert_float_eq(out[AB_NFEAT], (c->rate[3] - c->mean) / c->std, 1e-6);
  free(tr);
  ab_encoder_free(&enc);
}

/* A model with encodings saves and loads bit for bit, and its damaged copies are refused. */
Test(encode, model_with_encodings_round_trips) {
  static tu_run r;
  char path[600], back[600];
  snprintf(path, sizeof path, "%s/enc.abm", tu_tmpdir());
  snprintf(back, sizeof back, "%s/enc2.abm", tu_tmpdir());
  tu_sh(&r, "%s train --data synth:3000:4 --epochs 3 --transform log1p,ple:16,te --lr-schedule "
            "cosine --batch-order fixed --min-epochs 2 --quiet --out %s", ABGPU_BIN, path);
  cr_assert_eq(r.status, 0, "%s", r.out);
  ab_model m;
  cr_assert_eq(ab_model_load(&m, path, &E), 0, "%s", E.msg);
  cr_assert_eq(ab_transform_ple(m.prep.transform), 16);
  cr_assert_eq(m.enc.nte, 5);
  cr_assert_eq(m.nets[0].arch.dims[0], m.enc.width);
  cr_assert_gt(m.enc.width, 5 * AB_NFEAT);
  cr_assert_eq(m.cfg.order, AB_ORDER_FIXED);
  cr_assert_eq(m.cfg.sched, AB_SCHED_COSINE);
  cr_assert_eq(m.cfg.min_epochs, 2);
  cr_assert_eq(ab_model_save(&m, back, &E), 0, "%s", E.msg);
  tu_sh(&r, "cmp %s %s && %s eval --model %s --data synth:500:9 | head -1", path, back, ABGPU_BIN, back);
  cr_assert_eq(r.status, 0, "%s", r.out);
  uint8_t *buf;
  size_t n;
  cr_assert_eq(ab_model_encode(&m, &buf, &n, &E), 0);
  /* every 97th byte overwritten: refused or loaded cleanly (ASan/valgrind see the rest) */
  for (size_t at = 32; at < n; at += 97) {
    uint8_t keep = buf[at];
    buf[at] ^= 0x5A;
    ab_model d;
    if (ab_model_decode(&d, buf, n, "x.abm", &E) == 0) ab_model_free(&d);
    buf[at] = keep;
  }
  free(buf);
  ab_model_free(&m);
}

Test(encode, every_command_applies_the_encodings) {
  static tu_run r;
  char m[600];
  snprintf(m, sizeof m, "%s/all.abm", tu_tmpdir());
  tu_sh(&r, "cd %s && %s train --data synth:3000:4 --epochs 3 --transform log1p,ple:8,te --quiet "
            "--json --out %s > t.json && %s synth --rows 300 --seed 3 --out c.csv > /dev/null && "
            "%s eval --model %s --data c.csv > /dev/null && %s predict --model %s --data c.csv "
            "--out p.csv && %s importance --model %s --data c.csv > /dev/null && %s export "
            "--model %s --out w.npz 2> /dev/null && wc -l < p.csv",
        tu_tmpdir(), ABGPU_BIN, m, ABGPU_BIN, ABGPU_BIN, m, ABGPU_BIN, m, ABGPU_BIN, m, ABGPU_BIN, m);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "301"), "%s", r.out);
}

/* --seed-compat walks the training split in one order every epoch and stops at the
 * first rise; so does --batch-order fixed --stop rise, and shuffling changes the run. */
Test(train_recipe, seed_compat_is_fixed_order_and_stop_on_rise) {
  static tu_run a, b, c;
  const char *base = "%s train --data synth:3000:5 --seed 3 --epochs 60 --quiet --json %s 2>/dev/null";
  cr_assert_eq(tu_sh(&a, base, ABGPU_BIN, "--seed-compat"), 0, "%s", a.out);
  cr_assert_eq(tu_sh(&b, base, ABGPU_BIN, "--seed-compat --batch-order fixed --stop rise"), 0);
  cr_assert_eq(tu_sh(&c, base, ABGPU_BIN, "--seed-compat --batch-order shuffle"), 0);
  cr_assert_eq(tu_json_num(a.out, "test_loss"), tu_json_num(b.out, "test_loss"));
  cr_assert_neq(tu_json_num(a.out, "test_loss"), tu_json_num(c.out, "test_loss"));
  /* stop on rise: the last epoch's validation loss is above the one before */
  int ep = (int)tu_json_num(a.out, "epochs");
  cr_assert_eq(tu_json_num(a.out, "best_epoch"), ep, "the last epoch's weights are kept");
  if (ep < 60) {
    const char *h = strstr(a.out, "\"history\"");
    double v[2] = {0, 0};
    for (int i = 0; i < ep; i++) {
      h = strstr(h + 1, "\"val_loss\": ");
      v[0] = v[1];
      v[1] = atof(h + 12);
    }
    cr_assert_gt(v[1], v[0], "stopped at epoch %d without a rise", ep);
  }
}

Test(train_recipe, min_epochs_and_schedules_change_the_run_as_documented) {
  static tu_run a, b, c, d;
  const char *base = "%s train --data synth:3000:5 --seed 2 --epochs 30 --quiet --json %s 2>/dev/null";
  cr_assert_eq(tu_sh(&a, base, ABGPU_BIN, "--min-epochs 25"), 0, "%s", a.out);
  cr_assert_geq(tu_json_num(a.out, "epochs"), 25);
  cr_assert_eq(tu_sh(&b, base, ABGPU_BIN, "--patience 30"), 0);
  cr_assert_eq(tu_sh(&c, base, ABGPU_BIN, "--patience 30 --lr-schedule cosine"), 0);
  cr_assert_eq(tu_sh(&d, base, ABGPU_BIN, "--patience 30 --lr-schedule plateau"), 0, "%s", d.out);
  cr_assert_eq(tu_json_num(b.out, "epochs"), 30);
  cr_assert_neq(tu_json_num(b.out, "val_loss"), tu_json_num(c.out, "val_loss"));
  cr_assert_eq(tu_sh(&a, "%s train --min-epochs 200 --epochs 100", ABGPU_BIN), 2, "%s", a.out);
  cr_assert(strstr(a.out, "--min-epochs 200"), "%s", a.out);
}

/* --ensemble N: N networks of one configuration (seeds S..S+N-1) saved as one model,
 * whose figures are the averaged model's. */
Test(train_recipe, ensemble_saves_one_model_of_n_networks) {
  static tu_run r;
  char m[600];
  snprintf(m, sizeof m, "%s/ens3.abm", tu_tmpdir());
  tu_sh(&r, "%s train --data synth:3000:5 --epochs 4 --ensemble 3 --json --quiet --out %s 2>/dev/null",
        ABGPU_BIN, m);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert_eq(tu_json_num(r.out, "ensemble"), 3);
  ab_model x;
  cr_assert_eq(ab_model_load(&x, m, &E), 0, "%s", E.msg);
  cr_assert_eq(x.kind, AB_MODEL_ENSEMBLE);
  cr_assert_eq(x.nnets, 3);
  cr_assert_float_eq(x.test.accuracy, tu_json_num(r.out, "test_accuracy"), 1e-6);
  cr_assert(memcmp(x.nets[0].params, x.nets[1].params, 16) != 0, "members share their seed");
  ab_model_free(&x);
}

/* The sweep's new dimensions: transform lists, batch_order, lr_schedule, min_epochs
 * train, round-trip through the leaderboard (transform quoted) and resume to nothing. */
Test(encode, sweep_searches_encodings_order_and_schedules) {
  static tu_run r;
  const char *d = tu_tmpdir();
  const char *sets = "--set hidden=8 --set act=relu --set epochs=3 --set 'transform=none "
                     "log1p,ple:4,te' --set batch_order=shuffle,fixed --set lr_schedule=none,"
                     "cosine --set min_epochs=2 --finalists 1";
  tu_sh(&r, "cd %s && %s sweep --data synth:1500:3 %s --leaderboard sw.csv --quiet && "
            "grep -c 'log1p,ple:4,te' sw.csv && %s sweep --data synth:1500:3 %s --leaderboard "
            "sw.csv --resume", d, ABGPU_BIN, sets, ABGPU_BIN, sets);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "\n4\n") || strncmp(r.out, "4\n", 2) == 0, "4 rows with the encodings: %s", r.out);
  cr_assert(strstr(r.out, "0 to train here (8 already in sw.csv)"), "%s", r.out);
}
