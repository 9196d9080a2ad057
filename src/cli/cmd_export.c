/* abgpu export: a model's weights, biases, scaler, fill values, input transform and
 * encodings as NumPy arrays (.npz), for Python users (docs/python.md); an ensemble's
 * networks each under their own prefix. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "abgpu/json.h"
#include "abgpu/model.h"
#include "abgpu/npz.h"
#include "cli.h"

static void export_help(void) {
  printf("usage: abgpu export --model M --out FILE [--format npz]\n\n"
         "Writes the model as NumPy arrays in one .npz file (written atomically):\n"
         "W0, b0, W1, b1, ... (float32, W as [inputs, outputs]), act (int32 per layer:\n"
         "0 identity, 1 relu, 2 sigmoid, 3 tanh), nlayers, mean, std, fill (float32 [10]),\n"
         "log1p (int32 [10]: 1 where the input transform applies), nnets, feature_names,\n"
         "prior and train_ratio; the encodings: ple_nedges (int32 [10]), pleJ (float32 edges\n"
         "of feature J, where ple_nedges[J] >= 2), nte, and when nte > 0 te_feat, te_prior,\n"
         "te_mean, te_std (per encoded column) and teC_value, teC_rate (its table); the\n"
         "calibration: calib_kind (int32: 0 none, 1 platt, 2 isotonic) and platt_ab\n"
         "(float64 [a, b]) or iso_x, iso_y (float64 breakpoints). An ensemble's networks\n"
         "are net0_W0, net0_b0, ...,\n"
         "net0_act, net0_nlayers, net1_... instead. docs/python.md scores customers with them.\n\n"
         "  --model M         model file from `abgpu train --out` or `abgpu sweep` (required)\n"
         "  --out FILE        output .npz file (required)\n"
         "  --format F        npz, the only format so far (default: npz)\n"
         "  --json            one JSON object on stdout: the file and its arrays\n"
         "  --json-out F      the same object into file F\n"
         "  -h, --help        this text\n");
}

#define NET_ARRAYS (2 * AB_MAX_LAYERS + 2)
#define ENC_ARRAYS (2 + 3 * AB_NFEAT + 4)
#define CALIB_ARRAYS 3
#define MAX_ARRAYS (AB_MODEL_MAX_NETS * NET_ARRAYS + 12 + ENC_ARRAYS + CALIB_ARRAYS)

/* Names and small arrays the npz entries point into. */
typedef struct exp_net {
  char names[NET_ARRAYS][24];
  int32_t act[AB_MAX_LAYERS], nlayers;
} exp_net;

typedef struct exp_data {
  exp_net net[AB_MODEL_MAX_NETS];
  uint32_t fnames[AB_NFEAT][32];  /* '<U32': UTF-32LE, zero-padded */
  int32_t log1p[AB_NFEAT], nnets;
  double prior, ratio;
  char enc_names[3 * AB_NFEAT][24];  /* "te%d_value" for any int: GCC checks the bound */
  int32_t nedges[AB_NFEAT], nte, te_feat[AB_NFEAT];
  float te_prior[AB_NFEAT], te_mean[AB_NFEAT], te_std[AB_NFEAT];
  int32_t calib_kind;
  double platt_ab[2];
} exp_data;

static void arr(ab_npy_array *a, const char *name, const char *descr, int ndim, size_t d0,
                size_t d1, const void *data, size_t bytes) {
  ab_npy_array x = {name, descr, ndim, {d0, d1}, data, bytes};
  *a = x;
}

/* One network's arrays; prefix "" (a single model) or "netK_" (an ensemble member). */
static int layer_arrays(ab_npy_array *a, exp_net *d, const ab_net *net, const char *prefix) {
  const ab_arch *ar = &net->arch;
  int k = 0;
  for (int l = 0; l < ar->nlayers; l++) {
    size_t in = (size_t)ar->dims[l], out = (size_t)ar->dims[l + 1];
    snprintf(d->names[2 * l], sizeof d->names[0], "%sW%d", prefix, l);
    snprintf(d->names[2 * l + 1], sizeof d->names[0], "%sb%d", prefix, l);
    arr(&a[k++], d->names[2 * l], "<f4", 2, in, out, net->params + ab_arch_w_off(ar, l),
        in * out * sizeof(float));
    arr(&a[k++], d->names[2 * l + 1], "<f4", 1, out, 0, net->params + ab_arch_b_off(ar, l),
        out * sizeof(float));
    d->act[l] = (int32_t)ar->act[l];
  }
  d->nlayers = ar->nlayers;
  snprintf(d->names[NET_ARRAYS - 2], sizeof d->names[0], "%sact", prefix);
  snprintf(d->names[NET_ARRAYS - 1], sizeof d->names[0], "%snlayers", prefix);
  arr(&a[k++], d->names[NET_ARRAYS - 2], "<i4", 1, (size_t)d->nlayers, 0, d->act,
      (size_t)d->nlayers * 4);
  arr(&a[k++], d->names[NET_ARRAYS - 1], "<i4", 0, 0, 0, &d->nlayers, 4);
  return k;
}

/* The encodings (encode.h): PLE edges per feature, target-encoding tables per column. */
static int enc_arrays(ab_npy_array *a, exp_data *d, const ab_encoder *enc) {
  int k = 0;
  for (int j = 0; j < AB_NFEAT; j++) {
    d->nedges[j] = enc->nedges[j];
    if (enc->nedges[j] < 2) continue;
    snprintf(d->enc_names[j], sizeof d->enc_names[0], "ple%d", j);
    arr(&a[k++], d->enc_names[j], "<f4", 1, (size_t)enc->nedges[j], 0, enc->edges[j],
        (size_t)enc->nedges[j] * sizeof(float));
  }
  arr(&a[k++], "ple_nedges", "<i4", 1, AB_NFEAT, 0, d->nedges, sizeof d->nedges);
  d->nte = enc->nte;
  arr(&a[k++], "nte", "<i4", 0, 0, 0, &d->nte, 4);
  for (int c = 0; c < enc->nte; c++) {
    const ab_te_col *t = &enc->te[c];
    d->te_feat[c] = t->feat;
    d->te_prior[c] = t->prior;
    d->te_mean[c] = t->mean;
    d->te_std[c] = t->std;
    char *vn = d->enc_names[AB_NFEAT + 2 * c], *rn = d->enc_names[AB_NFEAT + 2 * c + 1];
    snprintf(vn, sizeof d->enc_names[0], "te%d_value", c);
    snprintf(rn, sizeof d->enc_names[0], "te%d_rate", c);
    arr(&a[k++], vn, "<f4", 1, t->n, 0, t->value, t->n * sizeof(float));
    arr(&a[k++], rn, "<f4", 1, t->n, 0, t->rate, t->n * sizeof(float));
  }
  if (enc->nte == 0) return k;
  size_t n = (size_t)enc->nte;
  arr(&a[k++], "te_feat", "<i4", 1, n, 0, d->te_feat, n * 4);
  arr(&a[k++], "te_prior", "<f4", 1, n, 0, d->te_prior, n * 4);
  arr(&a[k++], "te_mean", "<f4", 1, n, 0, d->te_mean, n * 4);
  arr(&a[k++], "te_std", "<f4", 1, n, 0, d->te_std, n * 4);
  return k;
}

/* The calibrator: calib_kind (0 none, 1 platt, 2 isotonic), then platt_ab = [a, b] or
 * iso_x, iso_y (the breakpoints). */
static int calib_arrays(ab_npy_array *a, exp_data *d, const ab_calib *c) {
  int k = 0;
  d->calib_kind = (int32_t)c->kind;
  arr(&a[k++], "calib_kind", "<i4", 0, 0, 0, &d->calib_kind, 4);
  if (c->kind == AB_CALIB_PLATT) {
    d->platt_ab[0] = c->a, d->platt_ab[1] = c->b;
    arr(&a[k++], "platt_ab", "<f8", 1, 2, 0, d->platt_ab, sizeof d->platt_ab);
  } else if (c->kind == AB_CALIB_ISOTONIC) {
    arr(&a[k++], "iso_x", "<f8", 1, c->n, 0, c->x, c->n * sizeof(double));
    arr(&a[k++], "iso_y", "<f8", 1, c->n, 0, c->y, c->n * sizeof(double));
  }
  return k;
}

static int model_arrays(ab_npy_array *a, exp_data *d, const ab_model *m) {
  int k = 0;
  for (int i = 0; i < m->nnets; i++) {
    char prefix[16] = "";
    if (m->kind == AB_MODEL_ENSEMBLE) snprintf(prefix, sizeof prefix, "net%d_", i);
    k += layer_arrays(a + k, &d->net[i], &m->nets[i], prefix);
  }
  memset(d->fnames, 0, sizeof d->fnames);
  for (int j = 0; j < AB_NFEAT; j++) {
    for (int c = 0; c < 31 && m->feature_names[j][c]; c++)
      d->fnames[j][c] = (unsigned char)m->feature_names[j][c];
    d->log1p[j] = ab_transform_applies(m->prep.transform, j);
  }
  d->prior = m->prior;
  d->ratio = m->train_ratio;
  d->nnets = m->nnets;
  arr(&a[k++], "nnets", "<i4", 0, 0, 0, &d->nnets, 4);
  arr(&a[k++], "mean", "<f4", 1, AB_NFEAT, 0, m->mean, sizeof m->mean);
  arr(&a[k++], "std", "<f4", 1, AB_NFEAT, 0, m->std, sizeof m->std);
  arr(&a[k++], "fill", "<f4", 1, AB_NFEAT, 0, m->fill, sizeof m->fill);
  arr(&a[k++], "log1p", "<i4", 1, AB_NFEAT, 0, d->log1p, sizeof d->log1p);
  arr(&a[k++], "feature_names", "<U32", 1, AB_NFEAT, 0, d->fnames, sizeof d->fnames);
  arr(&a[k++], "prior", "<f8", 0, 0, 0, &d->prior, 8);
  arr(&a[k++], "train_ratio", "<f8", 0, 0, 0, &d->ratio, 8);
  k += enc_arrays(a + k, d, &m->enc);
  return k + calib_arrays(a + k, d, &m->calib);
}

static void print_json(FILE *f, const char *model, const char *out, const ab_npy_array *a, int n) {
  fprintf(f, "{\"model\": ");
  ab_json_str(f, model);
  fprintf(f, ", \"out\": ");
  ab_json_str(f, out);
  fprintf(f, ", \"format\": \"npz\", \"arrays\": [");
  for (int i = 0; i < n; i++) {
    fprintf(f, "%s", i ? ", " : "");
    ab_json_str(f, a[i].name);
  }
  fprintf(f, "]}\n");
}

static int export_run(const char *model, const char *out, cli_json *j, ab_err *e) {
  ab_model m;
  if (ab_model_load(&m, model, e)) return e->code;
  exp_data *d = malloc(sizeof *d);
  ab_npy_array *a = malloc(MAX_ARRAYS * sizeof *a);
  ab_outfile o;
  int n = 0, rc = d && a ? AB_OK : ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) n = model_arrays(a, d, &m);
  if (!rc && !(rc = ab_outfile_open(&o, out, e)) && (rc = ab_npz_write_to(&o, a, n, e)))
    ab_outfile_abort(&o);
  FILE *jf = rc ? NULL : cli_json_stream(j);
  if (jf) print_json(jf, model, out, a, n);
  ab_outfile *outs[1] = {&o};
  if (!rc && !(rc = cli_commit(outs, 1, j, e)) && strcmp(out, "-") != 0)
    fprintf(stderr, "wrote %s: %d arrays\n", out, n);
  free(d);
  free(a);
  ab_model_free(&m);
  return rc;
}

int cmd_export(int argc, char **argv) {
  const char *model = NULL, *out = NULL, *format = "npz", *v;
  cli_json j = {0};
  for (int i = 1; i < argc; i++) {
    int m;
    if ((m = cli_opt(argc, argv, &i, "--model", &v)) > 0) model = v;
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--out", &v)) > 0) out = v;
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--format", &v)) > 0) format = v;
    else if (m == 0 && (m = cli_json_flag(&j, argc, argv, &i)) > 0) continue;
    else if (m == 0 && (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h"))) {
      export_help();
      return 0;
    } else if (m == 0) return cli_usage_error("export", "unknown flag '%s'", argv[i]);
    if (m < 0) return cli_no_value("export", argc, argv, i);
  }
  if (!model || !out) return cli_usage_error("export", "--model and --out are required");
  if (strcmp(format, "npz") != 0)
    return cli_usage_error("export", "--format %s: only npz is supported", format);
  ab_path_use outs[3] = {{"--out", out}, {"--json", j.to_stdout ? "-" : NULL},
                         {"--json-out", j.path}};
  ab_path_use in[1] = {{"--model", model}};
  int rc = cli_check_outputs(outs, 3, in, 1);
  if (rc) return rc;
  ab_err e = {0};
  rc = export_run(model, out, &j, &e);
  cli_json_free(&j);
  return rc ? cli_fail(&e) : 0;
}
