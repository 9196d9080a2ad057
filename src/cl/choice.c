/* The automatic choice between the fused path and the per-op path: both are timed on the
 * real shapes during init_models' warm-up (ops.h: paths, path_use), each fitted to
 * a + b * batches seconds per epoch, and the one estimated faster for the models' epoch
 * is taken. The fits are cached per device, under $XDG_CACHE_HOME/abgpu (else
 * ~/.cache/abgpu), one line per network shape and launch geometry, so a shape is
 * measured once per device. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "cl/backend_cl.h"

/* The cache folder, created when missing; 0 when it cannot be named. */
static int cache_dir(char *buf, size_t n) {
  const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  int w = x && *x ? snprintf(buf, n, "%s", x)
          : home && *home ? snprintf(buf, n, "%s/.cache", home) : -1;
  if (w < 0 || (size_t)w + 8 >= n) return 0;
  mkdir(buf, 0755); /* exists already, mostly */
  strcat(buf, "/abgpu");
  return mkdir(buf, 0755) == 0 || errno == EEXIST;
}

/* dir/opencl-TYPE-NAME.paths, the device's words reduced to [A-Za-z0-9._-]. */
static int cache_file(const ab_cl_ctx *c, char *buf, size_t n) {
  if (!cache_dir(buf, n)) return 0;
  size_t len = strlen(buf);
  int w = snprintf(buf + len, n - len, "/opencl-%s-%s.paths", c->info.type, c->info.name);
  if (w < 0 || (size_t)w >= n - len) return 0;
  for (char *p = buf + len + 1; *p; p++)
    if (!(((*p | 32) >= 'a' && (*p | 32) <= 'z') || (*p >= '0' && *p <= '9') ||
          *p == '.' || *p == '-'))
      *p = '_';
  return 1;
}

/* What the timings depend on: the net, the models, the batch and both paths' geometry. */
static void make_key(const ab_cl_backend *cb, char *key, size_t n) {
  const ab_cl_fplan *f = &cb->f;
  const ab_cl_ctx *c = cb->ctx;
  int w = snprintf(key, n, "net=");
  for (int l = 0; l <= cb->a.nlayers && w > 0 && (size_t)w < n; l++)
    w += snprintf(key + w, n - w, "%s%d", l ? "," : "", cb->a.dims[l]);
  for (int l = 0; l < cb->a.nlayers && w > 0 && (size_t)w < n; l++)
    w += snprintf(key + w, n - w, "%s%d", l ? "," : ";act=", (int)cb->a.act[l]);
  if (w > 0 && (size_t)w < n)
    snprintf(key + w, n - w, ";K=%d;B=%d;cu=%u;vec=%d;split=%d;wg=%zu;rt=%d;seg=%d", cb->K,
             cb->B, c->info.compute_units, c->vec, c->split, f->wg, f->rt, f->seg);
}

/* The last line for key in the cache: coef = per-op a, b, fused a, b (seconds). */
static int cache_get(const char *file, const char *key, double coef[4]) {
  FILE *fp = fopen(file, "r");
  if (!fp) return 0;
  char line[512], k[384];
  int found = 0;
  double v[4];
  while (fgets(line, sizeof line, fp))
    if (sscanf(line, "%383s %lf %lf %lf %lf", k, &v[0], &v[1], &v[2], &v[3]) == 5 &&
        strcmp(k, key) == 0) {
      memcpy(coef, v, sizeof v);
      found = 1;
    }
  fclose(fp);
  return found;
}

/* Appends one line; 0 when the cache cannot be written (the choice stands anyway). */
static int cache_put(const char *file, const char *key, const double coef[4]) {
  FILE *fp = fopen(file, "a");
  if (!fp) return 0;
  fprintf(fp, "%s %.6g %.6g %.6g %.6g\n", key, coef[0], coef[1], coef[2], coef[3]);
  return fclose(fp) == 0;
}

/* a + b * n through (1, s1) and (n3, s3); a noisy pair (b or a below 0) falls back to
 * the longer epoch's time per batch. */
static void fit(double s1, double s3, int n3, double *a, double *b) {
  *b = n3 > 1 ? (s3 - s1) / (n3 - 1) : s1 < s3 ? s1 : s3;
  *a = n3 > 1 ? s1 - *b : 0.0;
  if (*b < 0 || *a < 0) { *a = 0.0; *b = s3 / n3; }
}

/* Takes the path estimated faster for an epoch of the models' batches; source says where
 * the figures come from. */
static void decide(ab_cl_backend *cb, const double coef[4], const char *source) {
  ab_cl_fplan *f = &cb->f;
  int nb = cb->maxbatches;
  double op = 1e3 * (coef[0] + coef[1] * nb), fu = 1e3 * (coef[2] + coef[3] * nb);
  const char *kern = cb->ctx->split ? "split" : "ordered";
  char fused[sizeof f->why];
  snprintf(fused, sizeof fused, "%s", f->why);
  if (op < fu) {
    ab_cl_fused_free(f); /* mode: per-op */
    snprintf(f->why, sizeof f->why, "per-op: the %s kernels are estimated at %.3g ms per "
             "epoch of %d batches against %.3g ms for %s (%s)", kern, op, nb, fu,
             ab_cl_fused_name(f->fused_mode), source);
    return;
  }
  f->mode = f->fused_mode;
  snprintf(f->why, sizeof f->why, "%.700s; estimated %.3g ms per epoch of %d batches "
           "against %.3g ms per-op (%s)", fused, fu, nb, op, source);
}

void ab_cl_choice_start(ab_cl_backend *cb) {
  ab_cl_fplan *f = &cb->f;
  double coef[4];
  char file[1024], key[384];
  f->fused_mode = f->mode;
  f->measure = 0;
  make_key(cb, key, sizeof key);
  int have = cache_file(cb->ctx, file, sizeof file);
  if (have && cache_get(file, key, coef)) {
    char src[1100];
    snprintf(src, sizeof src, "from the cache %s", file);
    decide(cb, coef, src);
    return;
  }
  f->measure = 1; /* init_models' warm-up times both, then ab_cl_choice_use(-1) */
}

int ab_cl_choice_paths(const ab_cl_backend *cb) { return cb->f.measure ? 2 : 0; }

int ab_cl_choice_use(ab_cl_backend *cb, int i, const double *sec) {
  ab_cl_fplan *f = &cb->f;
  if (i >= 0) {
    f->mode = i == 0 ? AB_CL_FUSED_OFF : f->fused_mode;
    return 0;
  }
  int n3 = cb->maxbatches < 3 ? cb->maxbatches : 3;
  double coef[4];
  fit(sec[0], sec[1], n3, &coef[0], &coef[1]);
  fit(sec[2], sec[3], n3, &coef[2], &coef[3]);
  char file[1024], key[384], src[1200];
  make_key(cb, key, sizeof key);
  int saved = cache_file(cb->ctx, file, sizeof file) && cache_put(file, key, coef);
  snprintf(src, sizeof src, "measured on epochs of 1 and %d batches; %s%s", n3,
           saved ? "cached in " : "not cached", saved ? file : "");
  f->measure = 0;
  decide(cb, coef, src);
  return 1;
}
