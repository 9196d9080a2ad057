/* cl.h - the OpenCL engine: device discovery and the OpenCL training backend.
 *
 * Devices carry one global index across platforms (platform order, then device
 * order within the platform), the number `--device N` takes. Kernels are embedded
 * at build time; $ABGPU_KERNEL_DIR makes the engine read them from that folder. */
#ifndef ABGPU_CL_H
#define ABGPU_CL_H
#include <stddef.h>
#include <stdint.h>
#include "abgpu/ops.h"

typedef struct ab_backend ab_backend; /* backend.h */

/* One OpenCL device as `abgpu devices` lists it. */
typedef struct ab_cl_device_info {
  int index;               /* global index across platforms */
  char platform[128];      /* platform name */
  char name[128];          /* device name */
  char type[16];           /* "GPU", "CPU", "ACCELERATOR", ... */
  char c_version[64];      /* CL_DEVICE_OPENCL_C_VERSION */
  unsigned compute_units;
  uint64_t global_mem;     /* bytes */
  size_t max_wg;           /* CL_DEVICE_MAX_WORK_GROUP_SIZE */
} ab_cl_device_info;

typedef struct ab_cl_devices {
  int nplatforms;          /* 0: no OpenCL platform (no ICD installed) */
  int n;                   /* devices over all platforms */
  ab_cl_device_info *dev;  /* [n] */
} ab_cl_devices;

/* Enumerates every device of every platform. No platform is not an error:
 * nplatforms = 0 and n = 0. */
int ab_cl_devices_list(ab_cl_devices *d, ab_err *e);
void ab_cl_devices_free(ab_cl_devices *d);
/* One line describing a device (for `abgpu devices`); ab_cl_devices_header()
 * gives the matching column titles. */
void ab_cl_device_line(const ab_cl_device_info *d, char *buf, size_t n);
const char *ab_cl_devices_header(void);

/* 1 when d is a GPU (CL_DEVICE_TYPE_GPU). PoCL's CPU device is of type CPU: not one. */
int ab_cl_device_is_gpu(const ab_cl_device_info *d);
/* `--device gpu`: the global index of the GPU that local rank `local_rank` takes, the
 * (local_rank mod n)-th of the n GPUs in d, in index order; -1 when d has none. *ngpu
 * (may be NULL) gets n, *ordinal (may be NULL) the GPU's position among them. */
int ab_cl_gpu_pick(const ab_cl_devices *d, int local_rank, int *ngpu, int *ordinal);

/* Name of an OpenCL status code: "CL_OUT_OF_RESOURCES" for -5. */
const char *ab_cl_errname(int code);

/* Which GEMMs the training step uses. */
typedef enum { AB_CL_GEMM_OWN = 0, AB_CL_GEMM_CLBLAST = 1 } ab_cl_gemm;
/* 1 when this build links CLBlast (--gemm clblast is available). */
int ab_cl_have_clblast(void);

/* Receives what a user may want to see: build options (when verbose) and the full
 * build log of a failed program build. The library never prints. */
typedef void (*ab_cl_log_fn)(void *user, const char *text);

/* The training path (docs/opencl.md): per-op kernels (10 launches per batch for the
 * seed net), or the fused kernels with a whole training step (STEP) or a whole epoch
 * (EPOCH) per launch, one work-group per model. AUTO: the fused epoch when its
 * preconditions hold (local memory, work-group size, scratch size) and it is measured
 * faster than per-op on the real shapes (cached per device), else per-op. */
typedef enum {
  AB_CL_FUSED_AUTO = 0, AB_CL_FUSED_OFF = 1, AB_CL_FUSED_STEP = 2, AB_CL_FUSED_EPOCH = 3
} ab_cl_fused;
/* "auto", "off", "step", "epoch"; returns 0, or -1 for anything else. */
int ab_cl_fused_parse(ab_cl_fused *out, const char *s);
/* "auto", "per-op", "fused-step", "fused-epoch". */
const char *ab_cl_fused_name(ab_cl_fused f);

/* How the models train (decided when models are set up): AUTO (or $ABGPU_CL_FUSED when
 * set), OFF, or STEP/EPOCH (setting up models fails when their preconditions do not
 * hold). */
typedef struct ab_cl_fused_opts {
  ab_cl_fused path;
  size_t local;            /* bytes of local memory the fused kernels may use; 0: the
                            * device's (tests set a GPU-sized budget) */
  size_t wg;               /* work-items per group; 0: 1 on a CPU, up to 256 on a GPU */
  size_t launch_rows;      /* AUTO and EPOCH: rows (all models) per launch at most, a
                            * longer epoch takes several launches; 0: 262,144 for AUTO
                            * (and its time limit), one launch for EPOCH */
} ab_cl_fused_opts;

/* The per-op kernels (docs/opencl.md): SPLIT spreads each batch over many work-groups
 * (local-memory tiles, two-stage sums of dW, db and the batch loss: within the
 * tolerances of the reference, not bit-identical); ORDERED sums every output in the
 * reference's order in few work-groups. AUTO: $ABGPU_CL_SPLIT (0 or 1) when set, else
 * SPLIT on GPUs and ORDERED on CPU devices. */
typedef enum { AB_CL_SPLIT_AUTO = 0, AB_CL_SPLIT_ORDERED = 1, AB_CL_SPLIT_ON = 2 } ab_cl_split;

typedef struct ab_cl_opts {
  ab_cl_gemm gemm;
  int verbose;             /* 1: report build options and the training path through log */
  int vec;                 /* vector width of the GEMM kernels (1, 2, 4, 8, 16);
                            * 0: the device's preferred float width on a CPU, 1 on a GPU */
  ab_cl_log_fn log;        /* may be NULL */
  void *log_user;
  ab_cl_fused_opts fused;  /* the training path; zero: AUTO or $ABGPU_CL_FUSED */
  ab_cl_split split;       /* the per-op kernels; zero: AUTO */
} ab_cl_opts;

/* The OpenCL backend over device `device` (global index): the OpenCL device's op table
 * (ab_cl_ops) with the fused whole-pass overrides. Builds the kernels once.
 * be->name is "opencl:N DEVICE NAME"; ab_backend_path() tells the training path. */
int ab_backend_cl_create(ab_backend **be, int device, const ab_cl_opts *o, ab_err *e);
/* The device alone; name gets the backend's name. */
int ab_cl_dev_create(ab_dev **d, int device, const ab_cl_opts *o, char *name, size_t n,
                     ab_err *e);

#endif
