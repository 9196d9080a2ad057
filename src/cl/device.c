/* Platform and device discovery: one global device index across all platforms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cl/engine.h"

#define AB_CL_MAX_PLATFORMS 16

/* Platforms present; *n = 0 (not an error) when the ICD loader finds none. */
static int get_platforms(cl_platform_id *p, cl_uint *n, ab_err *e) {
  cl_int rc = clGetPlatformIDs(AB_CL_MAX_PLATFORMS, p, n);
  if (rc == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (rc == CL_SUCCESS && *n == 0)) {
    *n = 0;
    return AB_OK;
  }
  AB_CL_CHECK(e, rc);
  if (*n > AB_CL_MAX_PLATFORMS) *n = AB_CL_MAX_PLATFORMS;
  return AB_OK;
}

static const char *type_name(cl_device_type t) {
  if (t & CL_DEVICE_TYPE_GPU) return "GPU";
  if (t & CL_DEVICE_TYPE_CPU) return "CPU";
  if (t & CL_DEVICE_TYPE_ACCELERATOR) return "ACCELERATOR";
  return "OTHER";
}

static int fill_info(ab_cl_device_info *d, cl_platform_id p, cl_device_id dev, ab_err *e) {
  cl_device_type t;
  cl_uint cu;
  cl_ulong mem;
  AB_CL_CHECK(e, clGetPlatformInfo(p, CL_PLATFORM_NAME, sizeof d->platform, d->platform, NULL));
  AB_CL_CHECK(e, clGetDeviceInfo(dev, CL_DEVICE_NAME, sizeof d->name, d->name, NULL));
  AB_CL_CHECK(e, clGetDeviceInfo(dev, CL_DEVICE_OPENCL_C_VERSION, sizeof d->c_version,
                                 d->c_version, NULL));
  AB_CL_CHECK(e, clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof t, &t, NULL));
  AB_CL_CHECK(e, clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL));
  AB_CL_CHECK(e, clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL));
  AB_CL_CHECK(e, clGetDeviceInfo(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof d->max_wg,
                                 &d->max_wg, NULL));
  d->platform[sizeof d->platform - 1] = d->name[sizeof d->name - 1] = '\0';
  d->c_version[sizeof d->c_version - 1] = '\0';
  snprintf(d->type, sizeof d->type, "%s", type_name(t));
  d->compute_units = cu;
  d->global_mem = mem;
  return AB_OK;
}

/* Devices of platform p, or 0 when it has none. */
static int platform_devices(cl_platform_id p, cl_device_id **dev, cl_uint *n, ab_err *e) {
  *dev = NULL;
  cl_int rc = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, 0, NULL, n);
  if (rc == CL_DEVICE_NOT_FOUND || (rc == CL_SUCCESS && *n == 0)) {
    *n = 0;
    return AB_OK;
  }
  AB_CL_CHECK(e, rc);
  *dev = malloc(*n * sizeof **dev);
  if (!*dev) return ab_err_set(e, AB_ENOMEM, "out of memory");
  rc = clGetDeviceIDs(p, CL_DEVICE_TYPE_ALL, *n, *dev, NULL);
  if (rc != CL_SUCCESS) { free(*dev); *dev = NULL; }
  AB_CL_CHECK(e, rc);
  return AB_OK;
}

/* Calls fn for every device in global index order; stops at the first non-zero. */
typedef int (*dev_fn)(void *user, int index, cl_platform_id p, cl_device_id d, ab_err *e);
static int for_each_device(dev_fn fn, void *user, int *nplatforms, ab_err *e) {
  cl_platform_id plat[AB_CL_MAX_PLATFORMS];
  cl_uint np = 0;
  int rc = get_platforms(plat, &np, e), index = 0;
  if (nplatforms) *nplatforms = (int)np;
  for (cl_uint i = 0; !rc && i < np; i++) {
    cl_device_id *dev;
    cl_uint nd;
    rc = platform_devices(plat[i], &dev, &nd, e);
    for (cl_uint j = 0; !rc && j < nd; j++) rc = fn(user, index++, plat[i], dev[j], e);
    free(dev);
  }
  return rc;
}

static int add_info(void *user, int index, cl_platform_id p, cl_device_id d, ab_err *e) {
  ab_cl_devices *l = user;
  ab_cl_device_info *grown = realloc(l->dev, (size_t)(l->n + 1) * sizeof *grown);
  if (!grown) return ab_err_set(e, AB_ENOMEM, "out of memory");
  l->dev = grown;
  memset(&l->dev[l->n], 0, sizeof l->dev[l->n]);
  l->dev[l->n].index = index;
  int rc = fill_info(&l->dev[l->n], p, d, e);
  if (!rc) l->n++;
  return rc;
}

int ab_cl_devices_list(ab_cl_devices *d, ab_err *e) {
  memset(d, 0, sizeof *d);
  int rc = for_each_device(add_info, d, &d->nplatforms, e);
  if (rc) ab_cl_devices_free(d);
  return rc;
}

void ab_cl_devices_free(ab_cl_devices *d) {
  free(d->dev);
  memset(d, 0, sizeof *d);
}

typedef struct find_req {
  int want;
  cl_device_id dev;
  int found;
} find_req;

static int match(void *user, int index, cl_platform_id p, cl_device_id d, ab_err *e) {
  (void)p; (void)e;
  find_req *r = user;
  if (index == r->want) { r->dev = d; r->found = 1; }
  return AB_OK;
}

/* The device with global index `index` (internal: used by ab_cl_ctx_open). */
int ab_cl_device_find(cl_device_id *dev, ab_cl_device_info *info, int index, ab_err *e) {
  ab_cl_devices all;
  int rc = ab_cl_devices_list(&all, e);
  if (rc) return rc;
  find_req r = {index, NULL, 0};
  if (all.nplatforms == 0)
    rc = ab_err_set(e, AB_EDEVICE, "no OpenCL platform found (no ICD installed, e.g. "
                    "pocl-opencl-icd); use --device cpu");
  else if (index < 0 || index >= all.n)
    rc = ab_err_set(e, AB_EUSAGE, "--device %d: no such OpenCL device (%d found; "
                    "see abgpu devices)", index, all.n);
  else
    rc = for_each_device(match, &r, NULL, e);
  if (!rc && r.found) {
    *info = all.dev[index];
    *dev = r.dev;
  }
  ab_cl_devices_free(&all);
  return rc;
}

const char *ab_cl_devices_header(void) {
  return "DEVICE  TYPE         CU  MEMORY     MAX-WG  OPENCL-C          PLATFORM / NAME";
}

void ab_cl_device_line(const ab_cl_device_info *d, char *buf, size_t n) {
  snprintf(buf, n, "%-7d %-11s %3u  %6.1f GiB %6zu  %-17s %s / %s", d->index, d->type,
           d->compute_units, (double)d->global_mem / (1024.0 * 1024.0 * 1024.0), d->max_wg,
           d->c_version, d->platform, d->name);
}

int ab_cl_device_is_gpu(const ab_cl_device_info *d) { return strcmp(d->type, "GPU") == 0; }

int ab_cl_gpu_pick(const ab_cl_devices *d, int local_rank, int *ngpu, int *ordinal) {
  int n = 0;
  for (int i = 0; i < d->n; i++) n += ab_cl_device_is_gpu(&d->dev[i]);
  if (ngpu) *ngpu = n;
  if (n == 0) return -1;
  int want = (local_rank < 0 ? 0 : local_rank) % n;
  if (ordinal) *ordinal = want;
  for (int i = 0, k = 0; i < d->n; i++)
    if (ab_cl_device_is_gpu(&d->dev[i]) && k++ == want) return d->dev[i].index;
  return -1;
}
