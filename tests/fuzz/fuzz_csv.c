/* libFuzzer target: the CSV reader must return an error or a table for any bytes,
 * never crash, hang or read out of bounds. */
#include <stdio.h>
#include <stdint.h>
#include "abgpu/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *f = fmemopen((void *)data, size ? size : 1, "rb");
  if (!f) return 0;
  if (size == 0) fgetc(f); /* fmemopen needs size >= 1: read it away to get an empty file */
  ab_csv_opts o = ab_csv_opts_default();
  o.missing = size % 2 ? AB_MISSING_MEDIAN : AB_MISSING_ERROR;
  ab_table t;
  ab_err e;
  if (ab_csv_read_stream(&t, f, "fuzz.csv", &o, &e) == AB_OK) ab_table_free(&t);
  fclose(f);
  return 0;
}
