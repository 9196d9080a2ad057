/* kernels.h - the program's sources, embedded by tools/embed_kernels.cmake: the header
 * shared with the host (consts.h) and the kernels folder's .cl files. */
#ifndef ABGPU_CL_KERNELS_H
#define ABGPU_CL_KERNELS_H

typedef struct ab_kernel_source {
  const char *name;  /* file name, e.g. "consts.h", "linear_act_fwd.cl" */
  const char *src;   /* its text */
} ab_kernel_source;

/* consts.h first, then the .cl files in file-name order, ended by {NULL, NULL}. */
extern const ab_kernel_source ab_kernel_sources[];

#endif
