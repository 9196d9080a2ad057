/* fileio.h - CRC32 and atomic file writing (temp file + rename), shared by every writer. */
#ifndef ABGPU_FILEIO_H
#define ABGPU_FILEIO_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "abgpu/err.h"

/* CRC-32 (IEEE 802.3, the zip/PNG polynomial). Start with crc = 0; chain calls. */
uint32_t ab_crc32(uint32_t crc, const void *data, size_t n);

/* An output file written to "PATH.tmp.PID" and renamed into place on commit. */
typedef struct ab_outfile {
  FILE *f;
  char path[4096], tmp[4200];
} ab_outfile;

/* Opens the temp file for path ("-" writes to stdout directly). */
int ab_outfile_open(ab_outfile *o, const char *path, ab_err *e);
/* Flushes, closes and renames into place; on any error removes the temp file. */
int ab_outfile_commit(ab_outfile *o, ab_err *e);
/* Closes and removes the temp file (the destination is left untouched). */
void ab_outfile_abort(ab_outfile *o);

#endif
