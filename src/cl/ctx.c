/* The context struct: context, queue, program (built once), kernels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl/engine.h"
#include "cl/kernels.h"

static const char *const kernel_names[AB_K_COUNT] = {
    "ab_gather", "ab_linear_act_fwd", "ab_linear_act_fwd_bias", "ab_softmax_xent",
    "ab_linear_act_bwd_dz", "ab_linear_act_bwd_dw", "ab_linear_act_bwd_dx", "ab_adam_step",
    "ab_eval", "ab_prob1", "ab_fused_train", "ab_fused_eval", "ab_dropout",
    "ab_linear_act_fwd_tiled", "ab_linear_act_bwd_dw_tiled", "ab_linear_act_bwd_dw_sum",
    "ab_linear_act_bwd_dx_tiled", "ab_softmax_xent_split", "ab_softmax_xent_sum"};

void ab_cl_ctx_free(ab_cl_ctx *c) {
  if (!c) return;
  for (int i = 0; i < 2; i++)
    if (c->part[i]) clReleaseMemObject(c->part[i]);
  for (int i = AB_K_COUNT - 1; i >= 0; i--)
    if (c->k[i]) clReleaseKernel(c->k[i]);
  if (c->program) clReleaseProgram(c->program);
  if (c->queue) clReleaseCommandQueue(c->queue);
  if (c->context) clReleaseContext(c->context);
  ab_cl_usage_close(c);
  free(c);
}

int ab_cl_finish(ab_cl_ctx *c, ab_err *e) {
  AB_CL_CHECK(e, clFinish(c->queue));
  return AB_OK;
}

/* Reads dir/name into a new string; *out stays NULL when optional and the file is absent. */
static int read_file(char **out, const char *dir, const char *name, int optional, ab_err *e) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f && optional) return AB_OK;
  if (!f) return ab_err_set(e, AB_EIO, "ABGPU_KERNEL_DIR: cannot open %s", path);
  char *s = NULL;
  size_t n = 0, cap = 0, got;
  do {
    if (n + 4096 + 1 > cap) {
      char *g = realloc(s, cap = 2 * cap + 4096 + 1);
      if (!g) { free(s); fclose(f); return ab_err_set(e, AB_ENOMEM, "out of memory"); }
      s = g;
    }
    n += got = fread(s + n, 1, 4096, f);
  } while (got > 0);
  int bad = ferror(f);
  fclose(f);
  if (bad) { free(s); return ab_err_set(e, AB_EIO, "cannot read %s", path); }
  s[n] = '\0';
  *out = s;
  return AB_OK;
}

/* Build order of a source: the shared header, common.cl, then the rest by name. */
static int build_pass(const char *name) {
  return strcmp(name, "consts.h") == 0 ? 0 : strcmp(name, "common.cl") == 0 ? 1 : 2;
}

/* Source texts in build order. Texts are the embedded ones, or copies read from
 * $ABGPU_KERNEL_DIR (owned[i] set); consts.h is read from there only when present. */
static int load_sources(const char **src, char **owned, int max, int *n, ab_err *e) {
  const char *dir = getenv("ABGPU_KERNEL_DIR");
  int m = 0, rc = AB_OK;
  for (int pass = 0; pass < 3; pass++)
    for (const ab_kernel_source *s = ab_kernel_sources; s->name && !rc; s++) {
      if (build_pass(s->name) != pass) continue;
      if (m == max) { rc = ab_err_set(e, AB_EDEVICE, "more than %d kernel files", max); break; }
      owned[m] = NULL;
      if (dir && *dir) rc = read_file(&owned[m], dir, s->name, pass == 0, e);
      src[m] = owned[m] ? owned[m] : s->src;
      m += !rc;
    }
  *n = m;
  return rc;
}

/* Vector width: asked for, else the preferred float width of a CPU (its SIMD lanes),
 * else 1 (a GPU's lanes are its work-items). Always 1, 2, 4, 8 or 16. */
static int vector_width(ab_cl_ctx *c, const ab_cl_opts *o) {
  cl_uint pref = 1;
  if (o && o->vec > 0) pref = (cl_uint)o->vec;
  else if (c->is_cpu)
    clGetDeviceInfo(c->device, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, sizeof pref, &pref, NULL);
  int v = 1;
  while (v * 2 <= (int)pref && v < 16) v *= 2;
  return v;
}

static void build_options(ab_cl_ctx *c, const ab_cl_opts *o) {
  cl_device_fp_config fp = 0;
  clGetDeviceInfo(c->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL);
  int cl11 = strstr(c->info.c_version, "OpenCL C 1.1") != NULL;
  c->vec = vector_width(c, o);
  snprintf(c->options, sizeof c->options,
           "-cl-std=%s -DAB_VEC=%d -DAB_ROWS=%d -DAB_FR=%d -DAB_FN=%d -DAB_TM=%d -DAB_TN=%d "
           "-DAB_TK=%d -DAB_FMA=%d%s",
           cl11 ? "CL1.1" : "CL1.2", c->vec, AB_CL_ROWS, AB_CL_FROWS, AB_CL_FVECS, AB_CL_TM,
           AB_CL_TN, AB_CL_TK,
           getenv("ABGPU_CL_FMA") ? atoi(getenv("ABGPU_CL_FMA")) : (fp & CL_FP_FMA) != 0,
           (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) ? " -cl-fp32-correctly-rounded-divide-sqrt"
                                                        : "");
}

/* Passes the full build log to the log callback and a shortened one into e. */
static int build_failed(ab_cl_ctx *c, cl_int rc, const ab_cl_opts *o, ab_err *e) {
  size_t n = 0;
  clGetProgramBuildInfo(c->program, c->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &n);
  char *log = malloc(n + 1);
  if (log && clGetProgramBuildInfo(c->program, c->device, CL_PROGRAM_BUILD_LOG, n, log, NULL))
    n = 0;
  if (log) log[n] = '\0';
  const char *text = log ? log : "(no memory for the build log)";
  if (o && o->log) {
    o->log(o->log_user, "kernel build log:");
    o->log(o->log_user, text);
  }
  ab_err_set(e, AB_EDEVICE, "building the kernels for %s failed: %s (%d); options: %s; "
             "log%s:\n%.600s%s", c->info.name, ab_cl_errname(rc), (int)rc, c->options,
             o && o->log ? " (printed in full above)" : "", text,
             strlen(text) > 600 ? "\n[... log truncated]" : "");
  free(log);
  return AB_EDEVICE;
}

static int build_program(ab_cl_ctx *c, const ab_cl_opts *o, ab_err *e) {
  const char *src[64];
  char *owned[64];
  int n = 0;
  cl_int err;
  int rc = load_sources(src, owned, 64, &n, e);
  if (!rc) {
    c->program = clCreateProgramWithSource(c->context, (cl_uint)n, src, NULL, &err);
    if (err) rc = ab_cl_fail(e, err, "clCreateProgramWithSource", __FILE__, __LINE__);
  }
  for (int i = 0; i < n; i++) free(owned[i]);
  if (rc) return rc;
  build_options(c, o);
  if (o && o->verbose && o->log) {
    char msg[1024];
    snprintf(msg, sizeof msg, "opencl: building kernels (%s) for %s with options: %s",
             getenv("ABGPU_KERNEL_DIR") ? "from $ABGPU_KERNEL_DIR" : "embedded", c->info.name,
             c->options);
    o->log(o->log_user, msg);
  }
  err = clBuildProgram(c->program, 1, &c->device, c->options, NULL, NULL);
  return err ? build_failed(c, err, o, e) : AB_OK;
}

static int create_kernels(ab_cl_ctx *c, ab_err *e) {
  for (int i = 0; i < AB_K_COUNT; i++) {
    cl_int err;
    c->k[i] = clCreateKernel(c->program, kernel_names[i], &err);
    AB_CL_CHECK_ERR(e, err, "clCreateKernel");
    AB_CL_CHECK(e, clGetKernelWorkGroupInfo(c->k[i], c->device, CL_KERNEL_WORK_GROUP_SIZE,
                                            sizeof c->kwg[i], &c->kwg[i], NULL));
    AB_CL_CHECK(e, clGetKernelWorkGroupInfo(c->k[i], c->device, CL_KERNEL_LOCAL_MEM_SIZE,
                                            sizeof c->klocal[i], &c->klocal[i], NULL));
  }
  return AB_OK;
}

static int open_queue(ab_cl_ctx *c, int index, ab_err *e) {
  cl_int err;
  int rc = ab_cl_device_find(&c->device, &c->info, index, e);
  if (rc) return rc;
  c->is_cpu = strcmp(c->info.type, "CPU") == 0;
  c->context = clCreateContext(NULL, 1, &c->device, NULL, NULL, &err);
  AB_CL_CHECK_ERR(e, err, "clCreateContext");
  c->queue = clCreateCommandQueue(c->context, c->device, 0, &err);
  AB_CL_CHECK_ERR(e, err, "clCreateCommandQueue");
  return AB_OK;
}

/* Split or ordered per-op kernels: asked for, else $ABGPU_CL_SPLIT, else split on GPUs. */
static int choose_split(ab_cl_ctx *c, const ab_cl_opts *o, ab_err *e) {
  ab_cl_split s = o ? o->split : AB_CL_SPLIT_AUTO;
  const char *env = getenv("ABGPU_CL_SPLIT");
  if (s < AB_CL_SPLIT_AUTO || s > AB_CL_SPLIT_ON)
    return ab_err_set(e, AB_EUSAGE, "unknown per-op kernel form %d", (int)s);
  if (s == AB_CL_SPLIT_AUTO && env && *env) {
    if (strcmp(env, "0") && strcmp(env, "1"))
      return ab_err_set(e, AB_EUSAGE, "ABGPU_CL_SPLIT=%s: expected 0 or 1", env);
    s = env[0] == '1' ? AB_CL_SPLIT_ON : AB_CL_SPLIT_ORDERED;
  }
  c->split = s == AB_CL_SPLIT_AUTO ? !c->is_cpu : s == AB_CL_SPLIT_ON;
  unsigned two = 2 * c->info.compute_units;
  c->groups = two > AB_CL_MIN_GROUPS ? (int)two : AB_CL_MIN_GROUPS;
  return AB_OK;
}

int ab_cl_ctx_open(ab_cl_ctx **out, int index, const ab_cl_opts *o, ab_err *e) {
  ab_cl_ctx *c = calloc(1, sizeof *c);
  if (!c) return ab_err_set(e, AB_ENOMEM, "out of memory");
  int rc = open_queue(c, index, e);
  if (!rc) rc = ab_cl_usage_open(c, e);
  if (!rc) rc = choose_split(c, o, e);
  if (!rc) rc = build_program(c, o, e);
  if (!rc) rc = create_kernels(c, e);
  if (rc) { ab_cl_ctx_free(c); return rc; }
  *out = c;
  return AB_OK;
}
