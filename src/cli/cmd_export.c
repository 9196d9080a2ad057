/* abgpu export: a model's weights, biases, scaler and fill values as NumPy arrays
 * (.npz), for Python users (docs/python.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/model.h"
#include "abgpu/npz.h"
#include "cli.h"

static void export_help(void) {
  printf("usage: abgpu export --model M --out FILE [--format npz]\n\n"
         "Writes the model as NumPy arrays in one .npz file (written atomically):\n"
         "W0, b0, W1, b1, ... (float32, W as [inputs, outputs]), act (int32 per layer:\n"
         "0 identity, 1 relu, 2 sigmoid, 3 tanh), nlayers, mean, std, fill (float32 [10]),\n"
         "feature_names, prior and train_ratio. docs/python.md scores customers with them.\n\n"
         "  --model M         model file from `abgpu train --out` (required)\n"
         "  --out FILE        output .npz file (required)\n"
         "  --format F        npz, the only format so far (default: npz)\n"
         "  -h, --help        this text\n");
}

#define MAX_ARRAYS (2 * AB_MAX_LAYERS + 10)

typedef struct exp_data {
  char names[2 * AB_MAX_LAYERS][16];
  int32_t act[AB_MAX_LAYERS], nlayers;
  uint32_t fnames[AB_NFEAT][32];  /* '<U32': UTF-32LE, zero-padded */
  double prior, ratio;
} exp_data;

static void arr(ab_npy_array *a, const char *name, const char *descr, int ndim, size_t d0,
                size_t d1, const void *data, size_t bytes) {
  ab_npy_array x = {name, descr, ndim, {d0, d1}, data, bytes};
  *a = x;
}

static int layer_arrays(ab_npy_array *a, exp_data *d, const ab_net *net) {
  const ab_arch *ar = &net->arch;
  int k = 0;
  for (int l = 0; l < ar->nlayers; l++) {
    size_t in = (size_t)ar->dims[l], out = (size_t)ar->dims[l + 1];
    snprintf(d->names[2 * l], sizeof d->names[0], "W%d", l);
    snprintf(d->names[2 * l + 1], sizeof d->names[0], "b%d", l);
    arr(&a[k++], d->names[2 * l], "<f4", 2, in, out, net->params + ab_arch_w_off(ar, l),
        in * out * sizeof(float));
    arr(&a[k++], d->names[2 * l + 1], "<f4", 1, out, 0, net->params + ab_arch_b_off(ar, l),
        out * sizeof(float));
    d->act[l] = (int32_t)ar->act[l];
  }
  d->nlayers = ar->nlayers;
  return k;
}

static int model_arrays(ab_npy_array *a, exp_data *d, const ab_model *m) {
  int k = layer_arrays(a, d, &m->nets[0]);
  memset(d->fnames, 0, sizeof d->fnames);
  for (int j = 0; j < AB_NFEAT; j++)
    for (int c = 0; c < 31 && m->feature_names[j][c]; c++)
      d->fnames[j][c] = (unsigned char)m->feature_names[j][c];
  d->prior = m->prior;
  d->ratio = m->train_ratio;
  arr(&a[k++], "act", "<i4", 1, (size_t)d->nlayers, 0, d->act, (size_t)d->nlayers * 4);
  arr(&a[k++], "nlayers", "<i4", 0, 0, 0, &d->nlayers, 4);
  arr(&a[k++], "mean", "<f4", 1, AB_NFEAT, 0, m->mean, sizeof m->mean);
  arr(&a[k++], "std", "<f4", 1, AB_NFEAT, 0, m->std, sizeof m->std);
  arr(&a[k++], "fill", "<f4", 1, AB_NFEAT, 0, m->fill, sizeof m->fill);
  arr(&a[k++], "feature_names", "<U32", 1, AB_NFEAT, 0, d->fnames, sizeof d->fnames);
  arr(&a[k++], "prior", "<f8", 0, 0, 0, &d->prior, 8);
  arr(&a[k++], "train_ratio", "<f8", 0, 0, 0, &d->ratio, 8);
  return k;
}

int cmd_export(int argc, char **argv) {
  const char *model = NULL, *out = NULL, *format = "npz", *v;
  for (int i = 1; i < argc; i++) {
    int m;
    if ((m = cli_opt(argc, argv, &i, "--model", &v)) > 0) model = v;
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--out", &v)) > 0) out = v;
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--format", &v)) > 0) format = v;
    else if (m == 0 && (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h"))) {
      export_help();
      return 0;
    } else if (m == 0) return cli_usage_error("export", "unknown flag '%s'", argv[i]);
    if (m < 0) return cli_usage_error("export", "%s needs a value", argv[i]);
  }
  if (!model || !out) return cli_usage_error("export", "--model and --out are required");
  if (strcmp(format, "npz") != 0)
    return cli_usage_error("export", "--format %s: only npz is supported", format);
  ab_model m;
  ab_err e = {0};
  if (ab_model_load(&m, model, &e)) return cli_fail(&e);
  exp_data d;
  ab_npy_array a[MAX_ARRAYS];
  int n = model_arrays(a, &d, &m);
  int rc = ab_npz_write(out, a, n, &e);
  if (!rc) fprintf(stderr, "wrote %s: %d arrays\n", out, n);
  ab_model_free(&m);
  return rc ? cli_fail(&e) : 0;
}
