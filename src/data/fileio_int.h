/* fileio_int.h - what fileio.c and outcheck.c share. */
#ifndef ABGPU_FILEIO_INT_H
#define ABGPU_FILEIO_INT_H
#include <stddef.h>

/* "a/b/c" -> dir "a/b", base "c"; "c" -> ".", "c"; "/c" -> "/", "c". */
void ab_path_split(const char *p, char *dir, size_t n, const char **base);
/* "a folder", "a character device", ... for a st_mode. */
const char *ab_file_kind(unsigned mode);

/* The table of temporaries the signal handlers remove: registers path (before it is
 * created) and returns its slot, 1-based, 0 when the table is full; ab_live_drop(0) is a
 * no-op. */
int ab_live_take(const char *path);
void ab_live_drop(int slot);

#endif
