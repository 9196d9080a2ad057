#include "abgpu/fileio.h"
#include <errno.h>
#include <string.h>
#include <unistd.h>

uint32_t ab_crc32(uint32_t crc, const void *data, size_t n) {
  static uint32_t table[256];
  if (!table[1])
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

int ab_outfile_open(ab_outfile *o, const char *path, ab_err *e) {
  memset(o, 0, sizeof *o);
  if (strlen(path) >= sizeof o->path) return ab_err_set(e, AB_EUSAGE, "path too long: %s", path);
  strcpy(o->path, path);
  if (strcmp(path, "-") == 0) { o->f = stdout; return AB_OK; }
  snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", path, (long)getpid());
  o->f = fopen(o->tmp, "wb");
  if (!o->f) return ab_err_set(e, AB_EIO, "%s: cannot write: %s", path, strerror(errno));
  return AB_OK;
}

int ab_outfile_commit(ab_outfile *o, ab_err *e) {
  if (o->f == stdout) return fflush(stdout) ? ab_err_set(e, AB_EIO, "stdout: write failed") : AB_OK;
  int bad = ferror(o->f);
  bad |= fclose(o->f) != 0;
  o->f = NULL;
  if (bad || rename(o->tmp, o->path) != 0) {
    int rc = ab_err_set(e, AB_EIO, "%s: write failed: %s", o->path, strerror(errno));
    unlink(o->tmp);
    return rc;
  }
  return AB_OK;
}

void ab_outfile_abort(ab_outfile *o) {
  if (!o->f) return;
  if (o->f != stdout) {
    fclose(o->f);
    unlink(o->tmp);
  }
  o->f = NULL;
}
