/* The .abm model file: round trip bit for bit, byte-identical files from identical
 * trainings, and every kind of damaged file (truncated, flipped byte, hostile counts,
 * wrong magic) refused with one line and exit 2, never a crash. */
#include <criterion/criterion.h>
#include "abgpu/version.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "abgpu/model.h"
#include "abgpu/train.h"
#include "testutil.h"

/* A model with every field set to something recognisable. */
static void make_model(ab_model *m, const char *hidden) {
  ab_err e = {0};
  ab_model_init(m);
  m->nets = calloc(1, sizeof *m->nets);
  m->nnets = 1;
  cr_assert_eq(ab_arch_parse(&m->nets[0].arch, AB_NFEAT, hidden, "relu", &e), 0, "%s", e.msg);
  size_t P = ab_arch_nparams(&m->nets[0].arch);
  m->nets[0].params = malloc(P * sizeof(float));
  ab_init_params(m->nets[0].params, &m->nets[0].arch, 42);
  m->nets[0].params[P - 1] = 0.1234567f;
  m->cfg.arch = m->nets[0].arch;
  for (int j = 0; j < AB_NFEAT; j++) {
    m->mean[j] = 1.5f * j;
    m->std[j] = 0.25f + j;
    m->fill[j] = -0.5f * j;
  }
  m->missing = AB_MISSING_MEDIAN;
  snprintf(m->device, sizeof m->device, "opencl:0 test device");
  snprintf(m->data, sizeof m->data, "/tmp/some data.csv");
  m->data_hash = 0x0123456789abcdefULL;
  m->n_total = 14084;
  m->n_pos_total = 2237;
  m->prior = 2237.0 / 14084;
  m->train_ratio = 0.5;
  m->cfg.seed = 77;
  m->epochs_run = 9;
  m->best_epoch = 8;
  m->test.roc_auc = 0.91;
  m->val.tp = 123;
}

static void write_bytes(const char *path, const uint8_t *b, size_t n) {
  FILE *f = fopen(path, "wb");
  cr_assert(f);
  cr_assert_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

static void reseal(uint8_t *b, size_t n) { /* length and CRC made consistent again */
  for (int i = 0; i < 8; i++) b[16 + i] = (uint8_t)((uint64_t)n >> (8 * i));
  uint32_t c = ab_crc32(0, b + 16, n - 16);
  for (int i = 0; i < 4; i++) b[12 + i] = (uint8_t)(c >> (8 * i));
}

Test(model, save_load_round_trip_is_bit_identical) {
  ab_model a, b;
  ab_err e = {0};
  make_model(&a, "7,5");
  char path[512];
  snprintf(path, sizeof path, "%s/rt.abm", tu_tmpdir());
  cr_assert_eq(ab_model_save(&a, path, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_model_load(&b, path, &e), 0, "%s", e.msg);
  size_t P = ab_arch_nparams(&a.nets[0].arch);
  cr_assert_eq(ab_arch_nparams(&b.nets[0].arch), P);
  cr_assert(memcmp(a.nets[0].params, b.nets[0].params, P * sizeof(float)) == 0);
  cr_assert(memcmp(a.mean, b.mean, sizeof a.mean) == 0 && memcmp(a.std, b.std, sizeof a.std) == 0);
  cr_assert(memcmp(a.fill, b.fill, sizeof a.fill) == 0);
  cr_assert(memcmp(&a.nets[0].arch, &b.nets[0].arch, sizeof a.nets[0].arch) == 0);
  cr_assert_str_eq(b.device, a.device);
  cr_assert_str_eq(b.data, a.data);
  cr_assert_str_eq(b.version, ABGPU_VERSION);
  cr_assert_str_eq(b.feature_names[9], "last_visited_minus_purchase");
  cr_assert_eq(b.data_hash, a.data_hash);
  cr_assert_eq(b.missing, AB_MISSING_MEDIAN);
  cr_assert_eq(b.cfg.seed, 77);
  cr_assert_eq(b.best_epoch, 8);
  cr_assert_eq(b.prior, a.prior);
  cr_assert_eq(b.test.roc_auc, 0.91);
  cr_assert_eq(b.val.tp, 123);
  /* and re-encoding the loaded model gives the same bytes */
  uint8_t *x, *y;
  size_t nx, ny;
  cr_assert_eq(ab_model_encode(&a, &x, &nx, &e), 0);
  cr_assert_eq(ab_model_encode(&b, &y, &ny, &e), 0);
  cr_assert_eq(nx, ny);
  cr_assert(memcmp(x, y, nx) == 0);
  free(x);
  free(y);
  ab_model_free(&a);
  ab_model_free(&b);
}

Test(model, every_truncation_and_hostile_byte_is_refused_cleanly) {
  ab_model a, b;
  ab_err e = {0};
  make_model(&a, "3");
  uint8_t *buf, *w;
  size_t n;
  cr_assert_eq(ab_model_encode(&a, &buf, &n, &e), 0);
  w = malloc(n);
  /* truncated at every length, with the header resealed so the parser itself must stop */
  for (size_t k = 0; k < n; k++) {
    memcpy(w, buf, n);
    if (k >= AB_MODEL_HEADER) reseal(w, k);
    cr_assert_eq(ab_model_decode(&b, w, k, "t.abm", &e), AB_EINPUT, "length %zu accepted", k);
    cr_assert(strchr(e.msg, '\n') == NULL);
  }
  /* every byte set to 0xFF (resealed): loads or is refused, never crashes */
  int refused = 0;
  for (size_t k = AB_MODEL_HEADER; k < n; k++) {
    memcpy(w, buf, n);
    w[k] = 0xFF;
    reseal(w, n);
    int rc = ab_model_decode(&b, w, n, "t.abm", &e);
    cr_assert(rc == AB_OK || rc == AB_EINPUT, "byte %zu: rc %d", k, rc);
    if (rc) refused++;
    else ab_model_free(&b);
  }
  cr_assert_gt(refused, 20);
  free(w);
  free(buf);
  ab_model_free(&a);
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Offset of format 2's transform field: after the header, the record (3 strings, hash,
 * 6 counts, 2 shares) and the features (count, 10 names, mean, std, fill, missing). */
static size_t transform_offset(const uint8_t *b) {
  size_t off = AB_MODEL_HEADER;
  for (int i = 0; i < 3; i++) off += 4 + le32(b + off);
  off += 8 + 6 * 8 + 2 * 8 + 4;
  for (int j = 0; j < AB_NFEAT; j++) off += 4 + le32(b + off);
  return off + 3 * AB_NFEAT * 4 + 4;
}

/* Bytes of format 4 that format 2 does not have, for a model without encodings: the
 * encoding section after the transform (version, PLE bins, 10 edge counts, TE count,
 * width), the 4 training fields after best_epoch (the 68 bytes of seed ... best_epoch
 * come between them) and format 4's dropout rate after those. */
#define ENC_NONE_BYTES (14 * 4)
#define CONFIG2_BYTES 68
#define CONFIG3_EXTRA (4 * 4 + 4)

/* A copy of the file b[n] less the 4-byte field at `at`, as format `version` (resealed;
 * n - 4 bytes): an older format that lacked that field. */
static uint8_t *without_field(const uint8_t *b, size_t n, size_t at, uint8_t version) {
  uint8_t *o = malloc(n - 4);
  memcpy(o, b, at);
  memcpy(o + at, b + at + 4, n - at - 4);
  o[8] = version;
  reseal(o, n - 4);
  return o;
}

/* Format 4's bytes of a format-5 file b[n] without calibration (format 5 = format 4 and
 * the calibration section at the end, here its kind 0 alone), into a new buffer. */
static uint8_t *as_format4(const uint8_t *b, size_t n) {
  cr_assert_eq(le32(b + 8), 5);
  cr_assert_eq(le32(b + n - 4), AB_CALIB_NONE, "the file ends with a calibration kind");
  uint8_t *o = malloc(n - 4);
  memcpy(o, b, n - 4);
  o[8] = 4;
  reseal(o, n - 4);
  return o;
}

/* Format 2's bytes of a format-4 file b[n] with no encodings, into a new buffer. */
static uint8_t *as_format2(const uint8_t *b, size_t n, size_t *n2) {
  size_t t = transform_offset(b) + 4, c = t + ENC_NONE_BYTES;
  *n2 = n - ENC_NONE_BYTES - CONFIG3_EXTRA;
  uint8_t *o = malloc(*n2);
  memcpy(o, b, t);
  memcpy(o + t, b + c, CONFIG2_BYTES);
  memcpy(o + t + CONFIG2_BYTES, b + c + CONFIG2_BYTES + CONFIG3_EXTRA,
         n - c - CONFIG2_BYTES - CONFIG3_EXTRA);
  o[8] = 2;
  reseal(o, *n2);
  return o;
}

Test(model, format_1_files_still_load_and_other_formats_are_named) {
  ab_model a, b;
  ab_err e = {0};
  make_model(&a, "6");
  uint8_t *buf5, *buf, *old, *f2;
  size_t n, n2;
  cr_assert_eq(ab_model_encode(&a, &buf5, &n, &e), 0);
  buf = as_format4(buf5, n);
  n -= 4;
  cr_assert_eq(ab_model_decode(&b, buf, n, "f4.abm", &e), AB_OK, "%s", e.msg);
  cr_assert_eq(b.calib.kind, AB_CALIB_NONE, "format 4 reads as no calibration");
  ab_model_free(&b);
  f2 = as_format2(buf, n, &n2);
  cr_assert_eq(ab_model_decode(&b, f2, n2, "f2.abm", &e), AB_OK, "%s", e.msg);
  cr_assert_eq(b.cfg.order, AB_ORDER_SHUFFLE);
  cr_assert_eq(b.enc.width, AB_NFEAT);
  cr_assert(memcmp(a.nets[0].params, b.nets[0].params, ab_arch_nparams(&a.nets[0].arch) * 4) == 0);
  ab_model_free(&b);
  /* format 1 = format 2 without the transform field */
  size_t t = transform_offset(f2);
  cr_assert_eq(le32(f2 + t), AB_TRANSFORM_NONE);
  n = n2;
  old = without_field(f2, n, t, 1);
  cr_assert_eq(ab_model_decode(&b, old, n - 4, "old.abm", &e), AB_OK, "%s", e.msg);
  cr_assert_eq(b.prep.transform, AB_TRANSFORM_NONE);
  cr_assert(memcmp(a.nets[0].params, b.nets[0].params, ab_arch_nparams(&a.nets[0].arch) * 4) == 0);
  ab_model_free(&b);
  old[24] = AB_MODEL_ENSEMBLE; /* format 1 had no ensembles */
  reseal(old, n - 4);
  cr_assert_eq(ab_model_decode(&b, old, n - 4, "old.abm", &e), AB_EINPUT);
  cr_assert(strstr(e.msg, "ensemble in model format 1"), "%s", e.msg);
  buf5[8] = 6; /* a newer format is refused by number */
  reseal(buf5, n2 + ENC_NONE_BYTES + CONFIG3_EXTRA + 4);
  cr_assert_eq(ab_model_decode(&b, buf5, n2 + ENC_NONE_BYTES + CONFIG3_EXTRA + 4, "new.abm", &e),
               AB_EINPUT);
  cr_assert(strstr(e.msg, "model format 6, this abgpu"), "%s", e.msg);
  cr_assert(strstr(e.msg, "reads formats 1..5 (a newer abgpu wrote it)"), "%s", e.msg);
  free(f2);
  free(old);
  free(buf);
  free(buf5);
  ab_model_free(&a);
}

/* Format 3 is format 4 without the dropout rate (the last training field): it loads as
 * 0; format 4 keeps the rate, and refuses one outside 0 <= p < 1. */
Test(model, format_3_loads_without_dropout_and_format_4_keeps_it) {
  ab_model a, b;
  ab_err e = {0};
  make_model(&a, "6");
  a.cfg.dropout = 0.25f;
  uint8_t *buf5, *buf, *f3;
  size_t n;
  cr_assert_eq(ab_model_encode(&a, &buf5, &n, &e), 0);
  buf = as_format4(buf5, n);
  free(buf5);
  n -= 4;
  cr_assert_eq(ab_model_decode(&b, buf, n, "f4.abm", &e), AB_OK, "%s", e.msg);
  cr_assert_eq(b.cfg.dropout, 0.25f);
  ab_model_free(&b);
  size_t at = transform_offset(buf) + 4 + ENC_NONE_BYTES + CONFIG2_BYTES + 4 * 4;
  float p;
  memcpy(&p, buf + at, 4);
  cr_assert_eq(p, 0.25f, "the dropout rate is not where docs/model-format.md puts it");
  f3 = without_field(buf, n, at, 3);
  cr_assert_eq(ab_model_decode(&b, f3, n - 4, "f3.abm", &e), AB_OK, "%s", e.msg);
  cr_assert_eq(b.cfg.dropout, 0.0f);
  cr_assert_eq(b.cfg.min_epochs, a.cfg.min_epochs);
  ab_model_free(&b);
  memcpy(buf + at, &(float){1.0f}, 4);
  reseal(buf, n);
  cr_assert_eq(ab_model_decode(&b, buf, n, "bad.abm", &e), AB_EINPUT);
  cr_assert(strstr(e.msg, "dropout rate 1"), "%s", e.msg);
  free(f3);
  free(buf);
  ab_model_free(&a);
}

/* c becomes an isotonic calibrator with the n breakpoints x, y (copied). */
static void set_isotonic(ab_calib *c, const double *x, const double *y, int n) {
  c->kind = AB_CALIB_ISOTONIC;
  c->a = c->b = 0;
  c->n = n;
  c->x = malloc((size_t)n * sizeof *x), c->y = malloc((size_t)n * sizeof *y);
  memcpy(c->x, x, (size_t)n * sizeof *x), memcpy(c->y, y, (size_t)n * sizeof *y);
}

/* Both calibrators survive save and load field for field (the doubles bit for bit), the
 * loaded model gives the same probabilities, and broken calibration fields are refused. */
Test(model, calibrators_round_trip_bit_for_bit) {
  ab_model a, b;
  ab_err e = {0};
  const double x[3] = {0.125, 0.4, 0.875}, y[3] = {0.0625, 0.5, 0.9};
  for (int k = AB_CALIB_PLATT; k <= AB_CALIB_ISOTONIC; k++) {
    make_model(&a, "4");
    ab_calib *c = &a.calib;
    c->kind = (ab_calib_kind)k;
    c->a = 0.731234567890123, c->b = -0.2718281828;
    c->val_log_loss[0] = 0.51, c->val_log_loss[1] = 0.49, c->val_brier[0] = 0.17,
    c->val_brier[1] = 0.16;
    if (k == AB_CALIB_ISOTONIC) set_isotonic(c, x, y, 3);
    uint8_t *buf;
    size_t n;
    cr_assert_eq(ab_model_encode(&a, &buf, &n, &e), 0);
    cr_assert_eq(ab_model_decode(&b, buf, n, "c.abm", &e), AB_OK, "%s", e.msg);
    const ab_calib *d = &b.calib;
    cr_assert_eq(d->kind, c->kind);
    cr_assert(memcmp(&d->a, &c->a, 8) == 0 && memcmp(&d->b, &c->b, 8) == 0);
    cr_assert(memcmp(d->val_log_loss, c->val_log_loss, 16) == 0);
    cr_assert(memcmp(d->val_brier, c->val_brier, 16) == 0);
    cr_assert_eq(d->n, c->n);
    if (k == AB_CALIB_ISOTONIC)
      cr_assert(memcmp(d->x, x, sizeof x) == 0 && memcmp(d->y, y, sizeof y) == 0);
    float xs[3 * AB_NFEAT] = {0.5f, -1, 2}, p[3], q[3];
    cr_assert_eq(ab_model_forward(&a, xs, 3, p, &e), 0);
    cr_assert_eq(ab_model_forward(&b, xs, 3, q, &e), 0);
    cr_assert(memcmp(p, q, sizeof p) == 0);
    /* the last field broken: a slope that reverses the ranking, a value table that falls */
    uint8_t *w = malloc(n);
    memcpy(w, buf, n);
    if (k == AB_CALIB_PLATT) memcpy(w + n - 16, &(double){-1.0}, 8);
    else memcpy(w + n - 8, &(double){0.1}, 8);
    reseal(w, n);
    ab_model_free(&b);
    cr_assert_eq(ab_model_decode(&b, w, n, "c.abm", &e), AB_EINPUT);
    cr_assert(strstr(e.msg, k == AB_CALIB_PLATT ? "Platt parameters" : "isotonic value 3"),
              "%s", e.msg);
    free(w);
    free(buf);
    ab_model_free(&a);
  }
}

/* A calibrated file truncated at every length is refused; every byte of its calibration
 * section set to 0xFF (resealed) loads or is refused, never crashes. */
Test(model, damaged_calibration_sections_are_refused_cleanly) {
  ab_model a, b;
  ab_err e = {0};
  make_model(&a, "3");
  set_isotonic(&a.calib, (const double[]){0.25, 0.5, 0.75}, (const double[]){0.2, 0.4, 0.6}, 3);
  uint8_t *buf, *w;
  size_t n;
  cr_assert_eq(ab_model_encode(&a, &buf, &n, &e), 0);
  size_t sec = n - (4 + 4 * 8 + 4 + 6 * 8); /* kind, figures, n, x[3], y[3] */
  cr_assert_eq(le32(buf + sec), AB_CALIB_ISOTONIC, "the section is not where expected");
  w = malloc(n);
  for (size_t k = sec; k < n; k++) {
    memcpy(w, buf, n);
    reseal(w, k);
    cr_assert_eq(ab_model_decode(&b, w, k, "t.abm", &e), AB_EINPUT, "length %zu accepted", k);
  }
  int refused = 0;
  for (size_t k = sec; k < n; k++) {
    memcpy(w, buf, n);
    w[k] = 0xFF;
    reseal(w, n);
    int rc = ab_model_decode(&b, w, n, "t.abm", &e);
    cr_assert(rc == AB_OK || rc == AB_EINPUT, "byte %zu: rc %d", k, rc);
    if (rc) refused++;
    else ab_model_free(&b);
  }
  /* the kind, n, and the top byte of every figure, x and y break a check */
  cr_expect_geq(refused, 4 + 4 + 4 + 6, "%d refused", refused);
  free(w);
  free(buf);
  ab_model_free(&a);
}

Test(model, transform_and_ensembles_round_trip) {
  ab_model a, b;
  ab_err e = {0};
  make_model(&a, "7,5");
  a.prep.transform = AB_TRANSFORM_LOG1P;
  ab_net nets[2];
  ab_model c;
  make_model(&c, "3");
  nets[0] = a.nets[0];
  nets[1] = c.nets[0];
  ab_model ens = a;
  ens.nets = NULL;
  ens.nnets = 0;
  cr_assert_eq(ab_model_set_ensemble(&ens, nets, 2, &e), AB_OK, "%s", e.msg);
  char path[512];
  snprintf(path, sizeof path, "%s/ens.abm", tu_tmpdir());
  cr_assert_eq(ab_model_save(&ens, path, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_model_load(&b, path, &e), 0, "%s", e.msg);
  cr_assert_eq(b.kind, AB_MODEL_ENSEMBLE);
  cr_assert_eq(b.nnets, 2);
  cr_assert_eq(b.nets[1].arch.dims[1], 3);
  cr_assert_eq(b.prep.transform, AB_TRANSFORM_LOG1P);
  cr_assert_eq(ab_model_set_ensemble(&ens, nets, 0, &e), AB_EUSAGE);
  ab_model_free(&b);
  ab_model_free(&ens);
  ab_model_free(&a);
  ab_model_free(&c);
}

/* ---- through the CLI: exit status 2 and exactly one line on stderr ---- */

static char model_path[512];

static void train_once(void) {
  tu_run r;
  snprintf(model_path, sizeof model_path, "%s/good.abm", tu_tmpdir());
  tu_sh(&r, "%s train --data synth:1500:3 --epochs 2 --quiet --out %s", ABGPU_BIN, model_path);
  cr_assert_eq(r.status, 0, "%s", r.out);
}

static uint8_t *read_model(size_t *n) {
  FILE *f = fopen(model_path, "rb");
  cr_assert(f);
  fseek(f, 0, SEEK_END);
  *n = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*n);
  cr_assert_eq(fread(b, 1, *n, f), *n);
  fclose(f);
  return b;
}

static void expect_refused(const char *path, const char *what) {
  tu_run r;
  const char *cmds[] = {"eval --model %s --data synth-none.csv", "predict --model %s --data -",
                        "export --model %s --out /dev/null", "info %s"};
  for (int i = 0; i < 4; i++) {
    char sub[1024];
    snprintf(sub, sizeof sub, cmds[i], path);
    tu_sh(&r, "%s %s 2>&1 >/dev/null </dev/null", ABGPU_BIN, sub);
    cr_expect_eq(r.status, 2, "%s: exit %d: %s", sub, r.status, r.out);
    size_t len = strlen(r.out);
    cr_expect(len > 0 && strchr(r.out, '\n') == r.out + len - 1, "%s: not one line: '%s'", sub, r.out);
    cr_expect(strstr(r.out, what), "%s: expected '%s' in '%s'", sub, what, r.out);
  }
}

Test(model_cli, damaged_files_exit_2_with_one_line) {
  train_once();
  size_t n;
  uint8_t *b = read_model(&n);
  char path[600];
  snprintf(path, sizeof path, "%s/truncated.abm", tu_tmpdir());
  write_bytes(path, b, n / 2);
  expect_refused(path, "truncated");
  snprintf(path, sizeof path, "%s/flipped.abm", tu_tmpdir());
  b[n / 3] ^= 0x10;
  write_bytes(path, b, n);
  expect_refused(path, "CRC-32");
  b[n / 3] ^= 0x10;
  snprintf(path, sizeof path, "%s/magic.abm", tu_tmpdir());
  b[0] = 'X';
  write_bytes(path, b, n);
  expect_refused(path, "not an abgpu model");
  b[0] = 'A';
  free(b);
}

Test(model_cli, huge_layer_count_exits_2_with_one_line) {
  train_once();
  size_t n;
  uint8_t *b = read_model(&n);
  /* the network section ends the file but for the calibration kind (4 bytes, 0): nlayers,
   * dims[nl+1], act[nl], nparams, params (10-100-100-2 on the default recipe's inputs) */
  ab_model m;
  ab_err e;
  cr_assert_eq(ab_model_decode(&m, b, n, "m.abm", &e), 0, "%s", e.msg);
  size_t P = ab_arch_nparams(&m.nets[0].arch), off = n - 4 - (4 + 4 * 4 + 4 * 3 + 8 + 4 * P);
  ab_model_free(&m);
  cr_assert_eq(b[off], 3, "layer count not where expected");
  b[off] = 0xFF; b[off + 1] = 0xFF; b[off + 2] = 0xFF; b[off + 3] = 0x7F;
  reseal(b, n);
  char path[600];
  snprintf(path, sizeof path, "%s/huge.abm", tu_tmpdir());
  write_bytes(path, b, n);
  expect_refused(path, "layer count is 2147483647");
  free(b);
}

Test(model_cli, identical_trainings_give_byte_identical_files) {
  tu_run r;
  const char *d = tu_tmpdir();
  tu_sh(&r, "%s train --data synth:1500:4 --epochs 3 --seed 5 --balance random --quiet --out %s/a.abm && "
            "%s train --data synth:1500:4 --epochs 3 --seed 5 --balance random --quiet --out %s/b.abm && "
            "cmp %s/a.abm %s/b.abm && echo SAME", ABGPU_BIN, d, ABGPU_BIN, d, d, d);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "SAME"), "%s", r.out);
  ab_model m;
  ab_err e = {0};
  char path[600];
  snprintf(path, sizeof path, "%s/a.abm", d);
  cr_assert_eq(ab_model_load(&m, path, &e), 0, "%s", e.msg);
  cr_assert_str_eq(m.data, "synth:1500:4");
  cr_assert(m.device[0], "no device recorded");
  cr_assert_eq(m.cfg.seed, 5);
  cr_assert_float_eq(m.prior, (double)m.n_pos_total / (double)m.n_total, 1e-12);
  cr_assert_float_eq(m.train_ratio, 0.5, 1e-12);
  cr_assert_gt(m.test.roc_auc, 0.5);
  ab_model_free(&m);
}

Test(model_cli, save_is_atomic_and_leaves_no_temp_file) {
  tu_run r;
  const char *d = tu_tmpdir();
  tu_sh(&r, "mkdir -p %s/atomic && %s train --data synth:1500:4 --epochs 1 --quiet "
            "--out %s/atomic/m.abm >/dev/null && ls %s/atomic", d, ABGPU_BIN, d, d);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert_str_eq(r.out, "m.abm\n");
  /* an unwritable destination fails cleanly and the old model stays */
  tu_sh(&r, "%s train --data synth:1500:4 --epochs 1 --quiet --out /nonexistent/dir/m.abm",
        ABGPU_BIN);
  cr_assert_eq(r.status, 4, "an output that cannot be written exits 4: %s", r.out);
}

/* The JSON object after "key": in text (no nested braces inside it), into buf. */
static const char *object_after(const char *text, const char *key, char *buf, size_t n) {
  const char *s = strstr(text, key);
  cr_assert(s, "no %s in %s", key, text);
  s += strlen(key);
  const char *end = strchr(s, '}');
  cr_assert(end);
  snprintf(buf, n, "%.*s", (int)(end + 1 - s), s);
  return buf;
}

/* info --json gives back what train --json printed: its "config" (every flag that made the
 * model, the data and its hash, the version) and its metrics, the same text; the text
 * form names them too. */
Test(model_cli, info_round_trips_train_json, .timeout = 60) {
  static tu_run t, i;
  char path[600];
  snprintf(path, sizeof path, "%s/info.abm", tu_tmpdir());
  static const char *const flags[] = {
      "--lr 0.003 --batch 50 --wd 0.0001 --patience 3 --split 70,15,15 --transform log1p "
      "--balance random --seed 9 --epochs 4",
      "--ensemble 2 --epochs 2 --dropout 0.1 --lr-schedule cosine --batch-order fixed",
      "--epochs 3 --calibrate isotonic", "--epochs 3 --calibrate platt --balance random"};
  for (int k = 0; k < 4; k++) {
    tu_sh(&t, "%s train --data synth:2000:5 %s --quiet --json --out %s", ABGPU_BIN, flags[k], path);
    cr_assert_eq(t.status, 0, "%s", t.out);
    tu_sh(&i, "%s info %s --json", ABGPU_BIN, path);
    cr_assert_eq(i.status, 0, "%s", i.out);
    char a[4096], b[4096];
    static const char *const keys[] = {"\"config\": ", "\"test_metrics\": {", "\"val_metrics\": {",
                                       "\"calibration\": {"};
    for (int q = 0; q < 4; q++)
      cr_assert_str_eq(object_after(i.out, keys[q], a, sizeof a),
                       object_after(t.out, keys[q], b, sizeof b), "%s after train %s", keys[q],
                       flags[k]);
    cr_assert(strstr(a, "\"version\": \"") || strstr(i.out, "\"version\": \""), "%s", i.out);
  }
  cr_assert(strstr(i.out, "\"calibration\": {\"method\": \"platt\", \"a\": "), "%s", i.out);
  tu_sh(&i, "%s info %s", ABGPU_BIN, path);
  cr_assert(strstr(i.out, "calibration    platt, p' = sigmoid("), "%s", i.out);
  tu_expect_usage(&t, "--calibrate: 'foo' is not none, platt or isotonic",
                  "%s train --data synth:300 --calibrate foo", ABGPU_BIN);
  tu_sh(&t, "%s train --help", ABGPU_BIN);
  cr_assert(strstr(t.out, "--calibrate C     none, platt"), "%s", t.out);
  snprintf(path, sizeof path, "%s/info2.abm", tu_tmpdir());
  tu_sh(&t, "%s train --data synth:2000:5 %s --quiet --out %s", ABGPU_BIN, flags[1], path);
  tu_sh(&i, "%s info %s --json", ABGPU_BIN, path);
  cr_assert(strstr(i.out, "\"kind\": \"ensemble\", \"networks\": 2"), "%s", i.out);
  cr_assert(strstr(i.out, "\"dropout\": 0.1"), "%s", i.out);
  tu_sh(&i, "%s info --model %s", ABGPU_BIN, path);
  cr_assert_eq(i.status, 0, "%s", i.out);
  cr_assert(strstr(i.out, "an ensemble of 2 networks") && strstr(i.out, "schedule cosine"),
            "%s", i.out);
}
