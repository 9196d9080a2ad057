/* Backend choice for every subcommand: --device, then $ABGPU_DEVICE, then cpu. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/cl.h"
#include "abgpu/cpu.h"
#include "abgpu/predictor.h"
#include "cli.h"

static void log_stderr(void *user, const char *text) {
  (void)user;
  fprintf(stderr, "abgpu: %s\n", text);
}

/* Prints the device list on stderr (after a bad --device). */
static void list_devices_stderr(const ab_cl_devices *d) {
  fprintf(stderr, "available devices:\n%s\ncpu     fast CPU path\nref     reference (plain C)\n"
          "gpu     the GPUs of this node, one per local rank\n",
          ab_cl_devices_header());
  for (int i = 0; i < d->n; i++) {
    char line[512];
    ab_cl_device_line(&d->dev[i], line, sizeof line);
    fprintf(stderr, "%s\n", line);
  }
}

/* Checks that OpenCL device `index` exists; lists the devices when it does not. */
static int check_index(int index, ab_err *e) {
  ab_cl_devices d;
  int rc = ab_cl_devices_list(&d, e);
  if (rc) return rc;
  if (d.nplatforms == 0)
    rc = ab_err_set(e, AB_EDEVICE, "--device %d: no OpenCL platform found (no ICD installed, "
                    "e.g. pocl-opencl-icd); use --device cpu", index);
  else if (index >= d.n) {
    list_devices_stderr(&d);
    rc = ab_err_set(e, AB_EUSAGE, "--device %d: no such OpenCL device (%d found; see the "
                    "list above)", index, d.n);
  }
  ab_cl_devices_free(&d);
  return rc;
}

static int parse_gemm(ab_cl_gemm *g, const char *s, ab_err *e) {
  *g = AB_CL_GEMM_OWN;
  if (!s || !*s || strcmp(s, "own") == 0) return AB_OK;
  if (strcmp(s, "clblast") == 0) { *g = AB_CL_GEMM_CLBLAST; return AB_OK; }
  return ab_err_set(e, AB_EUSAGE, "--gemm %s: expected own or clblast", s);
}

int cli_backend_flags_check(const char *spec, const cli_backend_opts *o, ab_err *e) {
  if (!spec || !*spec) spec = getenv("ABGPU_DEVICE");
  int cpu = !spec || !*spec || strcmp(spec, "cpu") == 0, ref = spec && strcmp(spec, "ref") == 0;
  if (o && o->threads > 0 && !cpu)
    return ab_err_set(e, AB_EUSAGE, "--threads applies to --device cpu only, not to --device %s",
                      spec);
  if (o && o->gemm && (cpu || ref))
    return ab_err_set(e, AB_EUSAGE, "--gemm applies to OpenCL devices only, not to --device %s",
                      cpu ? "cpu" : "ref");
  return AB_OK;
}

int cli_local_rank(const char **from) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID",
                                     "MPI_LOCALRANKID"};
  for (int i = 0; i < 3; i++) {
    const char *v = getenv(vars[i]);
    int r;
    if (v && !cli_int(&r, v, 0, 1 << 20)) {
      if (from) *from = vars[i];
      return r;
    }
  }
  if (from) *from = NULL;
  return 0;
}

int cli_gpu_index(int *index, int lr, int *ngpu, int *ordinal, ab_err *e) {
  ab_cl_devices d;
  int rc = ab_cl_devices_list(&d, e);
  if (rc) return rc;
  *index = ab_cl_gpu_pick(&d, lr, ngpu, ordinal);
  if (*index < 0) {
    if (d.n) list_devices_stderr(&d);
    rc = ab_err_set(e, AB_EDEVICE, "--device gpu: no OpenCL GPU on this node (%d OpenCL "
                    "device%s, none of type GPU; PoCL's CPU device is not one): use --device "
                    "cpu, or an index from abgpu devices", d.n, d.n == 1 ? "" : "s");
  }
  ab_cl_devices_free(&d);
  return rc;
}

/* "gpu": this node's GPU for o's local rank, as an index spec in buf. */
static int resolve_gpu(char *buf, size_t n, const cli_backend_opts *o, ab_err *e) {
  int lr = o && o->have_local_rank ? o->local_rank : cli_local_rank(NULL), idx, ng, k;
  int rc = cli_gpu_index(&idx, lr, &ng, &k, e);
  if (rc) return rc;
  snprintf(buf, n, "%d", idx);
  if (o && o->verbose)
    fprintf(stderr, "abgpu: --device gpu: local rank %d takes GPU %d of %d, device %d\n", lr,
            k + 1, ng, idx);
  return AB_OK;
}

int cli_cpu_isa(ab_cpu_isa *isa, ab_err *e) {
  const char *v = getenv("ABGPU_CPU_ISA");
  *isa = AB_CPU_ISA_AUTO;
  if (!v || !*v) return AB_OK;
  if (ab_cpu_isa_parse(v, isa))
    return ab_err_set(e, AB_EUSAGE, "ABGPU_CPU_ISA=%s: expected auto, generic, avx2 or avx512", v);
  if (ab_cpu_isa_resolve(*isa) != *isa)
    return ab_err_set(e, AB_EUSAGE, "ABGPU_CPU_ISA=%s: this CPU (or this build) cannot run the "
                      "%s kernels; it runs %s", v, v,
                      ab_cpu_isa_name(ab_cpu_isa_resolve(AB_CPU_ISA_AUTO)));
  return AB_OK;
}

int cli_backend_open(ab_backend **be, const char *spec, const cli_backend_opts *o, ab_err *e) {
  int rc = cli_backend_flags_check(spec, o, e);
  if (rc) return rc;
  char gpu[32];
  if (!spec || !*spec) spec = getenv("ABGPU_DEVICE");
  if (spec && strcmp(spec, "gpu") == 0) {
    if ((rc = resolve_gpu(gpu, sizeof gpu, o, e))) return rc;
    spec = gpu;
  }
  if (spec && strcmp(spec, "ref") == 0) return ab_backend_ref_create(be, e);
  if (!spec || !*spec || strcmp(spec, "cpu") == 0) {
    ab_cpu_opts c = {o ? o->threads : 0, AB_CPU_ISA_AUTO, 0, o ? o->exact_threads : 0};
    int rc = cli_cpu_isa(&c.isa, e);
    if (!rc) rc = ab_backend_cpu_create(be, &c, e);
    if (!rc && o && o->verbose) fprintf(stderr, "abgpu: backend %s\n", (*be)->name);
    return rc;
  }
  int index;
  if (cli_int(&index, spec, 0, 1 << 20) != 0)
    return ab_err_set(e, AB_EUSAGE, "--device %s: expected cpu, ref, gpu or an OpenCL device "
                      "index (see abgpu devices)", spec);
  ab_cl_opts co = {AB_CL_GEMM_OWN, o ? o->verbose : 0, 0, log_stderr, NULL, {0}, AB_CL_SPLIT_AUTO};
  rc = parse_gemm(&co.gemm, o ? o->gemm : NULL, e);
  if (!rc) rc = check_index(index, e);
  if (!rc) rc = ab_backend_cl_create(be, index, &co, e);
  if (!rc && o && o->verbose) fprintf(stderr, "abgpu: backend %s\n", (*be)->name);
  return rc;
}

int cli_scoring_open(cli_scoring *s, const ab_model *m, const char *device,
                     const cli_backend_opts *o, ab_err *e) {
  s->be = NULL;
  s->p = NULL;
  int rc = cli_backend_open(&s->be, device, o, e);
  if (!rc) rc = ab_predictor_open(&s->p, s->be, m, e);
  if (rc) cli_scoring_close(s);
  return rc;
}

int cli_device_is_cpu(const char *spec) {
  if (!spec || !*spec) spec = getenv("ABGPU_DEVICE");
  return !spec || !*spec || strcmp(spec, "cpu") == 0;
}

int cli_scorers_open(cli_scorers *c, const ab_model *m, const char *device,
                     const cli_backend_opts *o, ab_err *e) {
  int rc = cli_backend_flags_check(device, o, e);
  if (rc) return rc;
  int cpu = cli_device_is_cpu(device), n = !cpu ? 1 : o && o->threads > 0 ? o->threads : ab_cpu_count();
  if (n > AB_IMPORTANCE_MAX_SCORERS) n = AB_IMPORTANCE_MAX_SCORERS;
  cli_backend_opts one = o ? *o : (cli_backend_opts){0};
  if (cpu) one.threads = 1;
  c->n = 0;
  c->s = calloc((size_t)n, sizeof *c->s);
  c->sc = calloc((size_t)n, sizeof *c->sc);
  if (!c->s || !c->sc) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int t = 0; t < n && !rc; t++) {
    rc = cli_scoring_open(&c->s[t], m, device, &one, e);
    if (!rc) c->sc[c->n++] = ab_predictor_scorer_encoded(c->s[t].p);
  }
  if (rc) cli_scorers_close(c);
  return rc;
}

void cli_scorers_close(cli_scorers *c) {
  for (int t = 0; t < c->n; t++) cli_scoring_close(&c->s[t]);
  free(c->s);
  free(c->sc);
  c->s = NULL;
  c->sc = NULL;
  c->n = 0;
}

void cli_scoring_close(cli_scoring *s) {
  ab_predictor_free(s->p);
  ab_backend_free(s->be);
  s->p = NULL;
  s->be = NULL;
}
