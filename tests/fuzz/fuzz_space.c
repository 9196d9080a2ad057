/* libFuzzer target: the sweep's space parser must return an error or a space for any
 * bytes, never crash, hang or read out of bounds; a parsed space holds canonical values
 * only (each its own canonical form, none twice in a dimension, no "-0": one key per
 * configuration, issue 17 item 8), must expand (a small random sample) and its
 * configurations must print and parse back as leaderboard rows. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include "abgpu/sweep.h"
#include "train/sweep_int.h"

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
    r.epochs_run = r.best_epoch = 1; /* figures a run can produce (the reader checks them) */
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

static void check_canonical(const ab_space *sp) {
  for (int d = 0; d < AB_NDIM; d++)
    for (int i = 0; i < sp->nval[d]; i++) {
      char again[AB_SPACE_VALUE_LEN];
      const char *why;
      if (ab_sweep_canon((ab_dim)d, again, sp->val[d][i], &why) || strcmp(again, sp->val[d][i]))
        abort();
      if (strncmp(sp->val[d][i], "-0", 2) == 0) abort();
      for (int k = 0; k < i; k++)
        if (strcmp(sp->val[d][k], sp->val[d][i]) == 0) abort();
    }
  if (memchr(sp->note, '\0', sizeof sp->note) == NULL) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ab_space sp;
  ab_err e;
  ab_space_init(&sp);
  if (ab_space_parse(&sp, (const char *)data, size, "fuzz.txt", &e) == AB_OK) {
    (void)ab_space_size(&sp);
    check_canonical(&sp);
    expand(&sp);
  } else if (strchr(e.msg, '\n')) {
    abort(); /* an error is one line */
  }
  ab_space_free(&sp);
  return 0;
}
