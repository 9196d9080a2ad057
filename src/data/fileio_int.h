/* fileio_int.h - what fileio.c and outcheck.c share. */
#ifndef ABGPU_FILEIO_INT_H
#define ABGPU_FILEIO_INT_H
#include <stddef.h>

/* "a/b/c" -> dir "a/b", base "c"; "c" -> ".", "c"; "/c" -> "/", "c". */
void ab_path_split(const char *p, char *dir, size_t n, const char **base);
/* "a folder", "a character device", ... for a st_mode. */
const char *ab_file_kind(unsigned mode);

#endif
