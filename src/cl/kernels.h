/* kernels.h - the kernels folder's .cl sources, embedded by tools/embed_kernels.cmake. */
#ifndef ABGPU_CL_KERNELS_H
#define ABGPU_CL_KERNELS_H

typedef struct ab_kernel_source {
  const char *name;  /* file name, e.g. "forward.cl" */
  const char *src;   /* its text */
} ab_kernel_source;

/* In file-name order, ended by {NULL, NULL}. */
extern const ab_kernel_source ab_kernel_sources[];

#endif
