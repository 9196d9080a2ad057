/* libFuzzer target: the model loader must refuse or accept any bytes without reading out
 * of bounds; an accepted model must also score a row. Odd-sized inputs get their CRC and
 * length fields repaired first, so mutations reach the parser behind the checksum. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "abgpu/model.h"

static void repair(uint8_t *d, size_t n) {
  if (n < 32) return;
  uint64_t len = n;
  memcpy(d + 16, &len, 8);
  uint32_t crc = ab_crc32(0, d + 16, n - 16);
  memcpy(d + 12, &crc, 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *d = malloc(size ? size : 1);
  if (!d) return 0;
  memcpy(d, data, size);
  if (size % 2) repair(d, size);
  ab_model m;
  ab_err e;
  if (ab_model_decode(&m, d, size, "fuzz.abm", &e) == AB_OK) {
    float x[AB_NFEAT] = {100, 100, 5, 5, 1, 9, 0.5f, 50, 0, 3}, p;
    ab_model_prepare(&m, x, 1, NULL);
    ab_model_forward(&m, x, 1, &p, &e);
    ab_model_free(&m);
  }
  free(d);
  return 0;
}
