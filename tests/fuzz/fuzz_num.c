/* libFuzzer target: the CSV reader's number parser against strtod. Whenever the parser
 * takes a string, strtod must read all of it to the same double (bit for bit), or overflow
 * where the parser reports a range error; a string of digits, one '.', signs and an
 * exponent that strtod reads whole to a finite value must be taken. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "data/num.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char s[512];
  if (size >= sizeof s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  if (strlen(s) != size) return 0;
  double got;
  int rc = ab_num_parse(s, s + size, '.', &got);
  char *end;
  errno = 0;
  double want = strtod(s, &end);
  int whole = size > 0 && end == s + size;
  int plain = size > 0 && strspn(s, "0123456789.eE+-") == size;
  if (rc == AB_NUM_OK && (!whole || memcmp(&got, &want, sizeof got) != 0)) abort();
  if (rc == AB_NUM_RANGE && !(whole && isinf(want))) abort();
  if (rc == AB_NUM_SYNTAX && whole && plain && isfinite(want)) abort();
  return 0;
}
