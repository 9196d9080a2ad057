/* libFuzzer target: the sweep's space parser must return an error or a space for any
 * bytes, never crash, hang or read out of bounds; a parsed space must expand (a small
 * random sample) and its configurations must print and parse back as leaderboard rows. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include "abgpu/sweep.h"

static void expand(const ab_space *sp) {
  ab_sweep_cfg *c;
  size_t n;
  ab_err e;
  if (ab_space_expand(&c, &n, sp, 8, 1, &e) != AB_OK) return;
  ab_leaderboard lb;
  ab_lb_init(&lb);
  for (size_t i = 0; i < n; i++) {
    ab_lb_row r;
    memset(&r, 0, sizeof r);
    r.cfg = c[i];
    r.id.split[0] = 80, r.id.split[1] = 10, r.id.split[2] = 10;
    if (ab_lb_find(&lb, &c[i]) < 0) ab_lb_add(&lb, &r, &e);
  }
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (f) {
    ab_lb_write_csv_stream(&lb, f);
    fclose(f);
    ab_leaderboard back;
    ab_lb_init(&back);
    if (ab_lb_parse_csv(&back, text, len, "fuzz.csv", &e) != AB_OK || back.n != lb.n) abort();
    ab_lb_free(&back);
  }
  free(text);
  ab_lb_free(&lb);
  free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ab_space sp;
  ab_err e;
  ab_space_init(&sp);
  if (ab_space_parse(&sp, (const char *)data, size, "fuzz.txt", &e) == AB_OK) {
    (void)ab_space_size(&sp);
    expand(&sp);
  } else if (strchr(e.msg, '\n')) {
    abort(); /* an error is one line */
  }
  ab_space_free(&sp);
  return 0;
}
