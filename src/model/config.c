/* The training configuration's defaults and names, and the result's free (config.h). */
#include "abgpu/config.h"
#include <stdlib.h>
#include <string.h>
#include "abgpu/table.h"

ab_train_cfg ab_train_cfg_default(void) {
  ab_train_cfg c;
  memset(&c, 0, sizeof c);
  ab_err e;
  ab_arch_parse(&c.arch, AB_NFEAT, "100,100", "relu,sigmoid", &e);
  c.batch = 100;
  c.epochs = 100;
  c.patience = 0;
  c.lr = 0.001f;
  c.wd = 0.0f;
  c.seed = 1;
  return c;
}

static const char *const order_names[] = {"shuffle", "fixed"};
static const char *const stop_names[] = {"best", "rise"};
static const char *const sched_names[] = {"none", "plateau", "cosine"};

static int name_index(const char *const *names, int n, const char *s) {
  for (int i = 0; i < n; i++)
    if (strcmp(s, names[i]) == 0) return i;
  return -1;
}

int ab_order_parse(ab_order *out, const char *s) {
  int i = name_index(order_names, 2, s);
  if (i >= 0) *out = (ab_order)i;
  return i < 0 ? -1 : 0;
}

const char *ab_order_name(ab_order o) { return (unsigned)o < 2 ? order_names[o] : "?"; }

int ab_stop_parse(ab_stop *out, const char *s) {
  int i = name_index(stop_names, 2, s);
  if (i >= 0) *out = (ab_stop)i;
  return i < 0 ? -1 : 0;
}

const char *ab_stop_name(ab_stop s) { return (unsigned)s < 2 ? stop_names[s] : "?"; }

int ab_sched_parse(ab_sched *out, const char *s) {
  int i = name_index(sched_names, 3, s);
  if (i >= 0) *out = (ab_sched)i;
  return i < 0 ? -1 : 0;
}

const char *ab_sched_name(ab_sched s) { return (unsigned)s < 3 ? sched_names[s] : "?"; }

void ab_train_result_free(ab_train_result *r) {
  free(r->hist);
  free(r->params);
  memset(r, 0, sizeof *r);
}
