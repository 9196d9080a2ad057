/* The --data resolver: a CSV file (csv.c, table.c) or synth:N[:SEED] (synth.c). */
#include "abgpu/source.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/synth.h"

/* "synth:N[:SEED]" -> n, seed. Returns 1 when spec is synthetic, -1 when malformed. */
static int parse_synth(const char *spec, size_t *n, uint64_t *seed) {
  if (strncmp(spec, "synth:", 6) != 0) return 0;
  char *end;
  errno = 0;
  unsigned long long v = strtoull(spec + 6, &end, 10);
  if (errno || end == spec + 6 || v == 0 || v > 2000000000ULL) return -1;
  *n = (size_t)v;
  *seed = AB_SYNTH_DEFAULT_SEED;
  if (*end == ':') {
    const char *s = end + 1;
    *seed = strtoull(s, &end, 10);
    if (end == s) return -1;
  }
  return *end ? -1 : 1;
}

int ab_table_load(ab_table *t, const char *spec, const ab_csv_opts *o, ab_err *e) {
  size_t n;
  uint64_t seed;
  int s = parse_synth(spec, &n, &seed);
  if (s < 0)
    return ab_err_set(e, AB_EUSAGE, "--data %s: expected synth:N or synth:N:SEED with N >= 1",
                      spec);
  if (s == 0) return ab_csv_read(t, spec, o, e);
  int rc = ab_synth_generate(t, n, seed, e);
  if (!rc) t->missing = o->missing;
  return rc;
}
