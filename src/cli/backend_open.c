/* Backend choice for every subcommand: --device, then $ABGPU_DEVICE, then cpu. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/cl.h"
#include "abgpu/cpu.h"
#include "cli.h"

static void log_stderr(void *user, const char *text) {
  (void)user;
  fprintf(stderr, "abgpu: %s\n", text);
}

/* Prints the device list on stderr (after a bad --device). */
static void list_devices_stderr(const ab_cl_devices *d) {
  fprintf(stderr, "available devices:\n%s\ncpu     fast CPU path\nref     reference (plain C)\n",
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

int cli_backend_open(ab_backend **be, const char *spec, const cli_backend_opts *o, ab_err *e) {
  int rc = cli_backend_flags_check(spec, o, e);
  if (rc) return rc;
  if (!spec || !*spec) spec = getenv("ABGPU_DEVICE");
  if (spec && strcmp(spec, "ref") == 0) return ab_backend_ref_create(be, e);
  if (!spec || !*spec || strcmp(spec, "cpu") == 0) {
    ab_cpu_opts c = {o ? o->threads : 0, AB_CPU_ISA_AUTO};
    int rc = ab_backend_cpu_create(be, &c, e);
    if (!rc && o && o->verbose) fprintf(stderr, "abgpu: backend %s\n", (*be)->name);
    return rc;
  }
  int index;
  if (cli_int(&index, spec, 0, 1 << 20) != 0)
    return ab_err_set(e, AB_EUSAGE, "--device %s: expected cpu, ref or an OpenCL device index "
                      "(see abgpu devices)", spec);
  ab_cl_opts co = {AB_CL_GEMM_OWN, o ? o->verbose : 0, 0, log_stderr, NULL};
  rc = parse_gemm(&co.gemm, o ? o->gemm : NULL, e);
  if (!rc) rc = check_index(index, e);
  if (!rc) rc = ab_backend_cl_create(be, index, &co, e);
  if (!rc && o && o->verbose) fprintf(stderr, "abgpu: backend %s\n", (*be)->name);
  return rc;
}
