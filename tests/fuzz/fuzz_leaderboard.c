/* libFuzzer target: the leaderboard reader (sweep --resume, sweep merge) must refuse or
 * accept any bytes without crashing, in one line when it refuses; an accepted leaderboard
 * holds only figures a run can produce (issue 17 item 7), writes and reads back to the
 * same rows, and the file reader (line by line through a fixed buffer) agrees with the
 * in-memory one. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "abgpu/sweep.h"

static void check_rows(const ab_leaderboard *lb) {
  for (size_t i = 0; i < lb->n; i++) {
    const ab_lb_row *r = &lb->row[i];
    if (r->status != AB_ROW_OK) continue;
    if (!isfinite(r->val_loss) || r->val_loss < 0) abort();
    if (!(r->val_acc >= 0 && r->val_acc <= 1)) abort();
    if (!isnan(r->val_auc) && !(r->val_auc >= 0 && r->val_auc <= 1)) abort();
    if (!(r->epochs_run >= 1 && r->epochs_run <= r->cfg.epochs)) abort();
    if (!(r->best_epoch >= 0 && r->best_epoch <= r->epochs_run)) abort();
  }
}

static void round_trip(const ab_leaderboard *lb) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  if (!f) return;
  ab_lb_write_csv_stream(lb, f);
  fclose(f);
  ab_leaderboard back;
  ab_err e;
  ab_lb_init(&back);
  if (ab_lb_parse_csv(&back, text, len, "back.csv", &e) != AB_OK || back.n != lb->n) abort();
  for (size_t i = 0; i < lb->n; i++)
    if (ab_lb_find(&back, &lb->row[i].cfg) < 0) abort();
  ab_lb_free(&back);
  free(text);
}

/* The same bytes through ab_lb_read_csv: accepted or refused alike, the same rows. */
static void file_parity(const uint8_t *data, size_t size, int rc, size_t n) {
  static char path[64];
  if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_leaderboard.%ld.csv", (long)getpid());
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(data, 1, size, f);
  fclose(f);
  ab_leaderboard lb;
  ab_err e;
  ab_lb_init(&lb);
  int rc2 = ab_lb_read_csv(&lb, path, &e);
  if ((rc2 == AB_OK) != (rc == AB_OK) || (rc == AB_OK && lb.n != n)) abort();
  ab_lb_free(&lb);
  unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ab_leaderboard lb;
  ab_err e;
  ab_lb_init(&lb);
  int rc = ab_lb_parse_csv(&lb, (const char *)data, size, "fuzz.csv", &e);
  if (rc != AB_OK && strchr(e.msg, '\n')) abort(); /* an error is one line */
  if (rc == AB_OK) {
    check_rows(&lb);
    round_trip(&lb);
  }
  file_parity(data, size, rc, lb.n);
  ab_lb_free(&lb);
  return 0;
}
