/* libFuzzer target: the CSV reader must return an error or a table for any bytes, never
 * crash, hang or read out of bounds. The first byte, when it is a control byte (< 0x08),
 * picks format flags (separator, decimal mark, header mode, --columns, --ignore) so the
 * flag paths are fuzzed too; otherwise everything is detected. */
#include <stdint.h>
#include <stdio.h>
#include "abgpu/table.h"

static void pick_format(ab_csv_format *f, unsigned b) {
  static const char seps[] = {0, ',', ';', '\t'}, decs[] = {0, '.', ','};
  static const char *const cols[] = {NULL, "id=1,targets=12", "price_avg=Paid,id=Kunde", "x"};
  f->sep = seps[b & 3];
  f->decimal = decs[(b >> 2) % 3];
  f->header = (ab_header)((b >> 4) % 3);
  f->columns = cols[(b >> 5) & 3];
  f->ignore = b & 0x40 ? "13,Segment" : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ab_csv_opts o = ab_csv_opts_default();
  if (size > 1 && data[0] < 0x08) {
    pick_format(&o.fmt, (unsigned)data[1] | (unsigned)data[0] << 8);
    data += 2;
    size -= 2;
  }
  FILE *f = fmemopen((void *)data, size ? size : 1, "rb");
  if (!f) return 0;
  if (size == 0) fgetc(f); /* fmemopen needs size >= 1: read it away to get an empty file */
  o.missing = size % 2 ? AB_MISSING_MEDIAN : AB_MISSING_ERROR;
  ab_table t;
  ab_err e;
  if (ab_csv_read_stream(&t, f, "fuzz.csv", &o, &e) == AB_OK) ab_table_free(&t);
  fclose(f);
  return 0;
}
