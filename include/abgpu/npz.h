/* npz.h - NumPy .npz archives (a zip, stored, of .npy v1.0 arrays) written in one go. */
#ifndef ABGPU_NPZ_H
#define ABGPU_NPZ_H
#include <stddef.h>
#include "abgpu/err.h"

/* One array: name (".npy" is appended), NumPy dtype descr ("<f4", "<f8", "<i4", "<i8",
 * "<U32"), 0..2 dimensions, C order, little-endian data of `bytes` bytes. */
typedef struct ab_npy_array {
  const char *name;
  const char *descr;
  int ndim;
  size_t shape[2];
  const void *data;
  size_t bytes;
} ab_npy_array;

/* Writes n arrays as one .npz file, atomically (temp file + rename). */
int ab_npz_write(const char *path, const ab_npy_array *arrays, int n, ab_err *e);
/* Writes the archive into an open output (the caller commits it, e.g. with others). */
struct ab_outfile;
int ab_npz_write_to(struct ab_outfile *o, const ab_npy_array *arrays, int n, ab_err *e);

#endif
