#include "abgpu/arch.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const act_names[] = {"identity", "relu", "sigmoid", "tanh"};

int ab_act_parse(ab_act *out, const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, act_names[i]) == 0) { *out = (ab_act)i; return 0; }
  return -1;
}

const char *ab_act_name(ab_act a) { return (unsigned)a < 4 ? act_names[a] : "?"; }

/* Splits a comma list into items; returns count or -1 when more than max. */
static int split_list(char items[][32], int max, const char *s) {
  int n = 0;
  const char *p = s;
  while (*p) {
    const char *c = strchr(p, ',');
    size_t len = c ? (size_t)(c - p) : strlen(p);
    if (n == max || len >= 32) return -1;
    memcpy(items[n], p, len);
    items[n++][len] = '\0';
    if (!c) break;
    p = c + 1;
  }
  return n;
}

static int parse_widths(ab_arch *a, const char *hidden, ab_err *e) {
  char items[AB_MAX_LAYERS][32];
  int nh = (hidden && *hidden) ? split_list(items, AB_MAX_LAYERS - 1, hidden) : 0;
  if (nh < 0)
    return ab_err_set(e, AB_EUSAGE, "--hidden: at most %d hidden layers, e.g. 100,100",
                      AB_MAX_LAYERS - 1);
  for (int i = 0; i < nh; i++) {
    char *end;
    long w = strtol(items[i], &end, 10);
    if (*end || w < 1 || w > 4096)
      return ab_err_set(e, AB_EUSAGE, "--hidden: '%s' is not a width in 1..4096", items[i]);
    a->dims[i + 1] = (int)w;
  }
  a->nlayers = nh + 1;
  return AB_OK;
}

static int parse_acts(ab_arch *a, const char *acts, ab_err *e) {
  int nh = a->nlayers - 1;
  char items[AB_MAX_LAYERS][32];
  int na = (acts && *acts) ? split_list(items, AB_MAX_LAYERS, acts) : 0;
  if (nh > 0 && na != nh && na != 1)
    return ab_err_set(e, AB_EUSAGE,
                      "--act: give one activation per hidden layer (%d) or one for all", nh);
  for (int i = 0; i < nh; i++) {
    const char *s = items[na == 1 ? 0 : i];
    if (ab_act_parse(&a->act[i], s) != 0 || a->act[i] == AB_ACT_IDENTITY)
      return ab_err_set(e, AB_EUSAGE, "--act: '%s' is not one of relu, sigmoid, tanh", s);
  }
  a->act[nh] = AB_ACT_IDENTITY;
  return AB_OK;
}

int ab_arch_parse(ab_arch *a, int nin, const char *hidden, const char *acts, ab_err *e) {
  memset(a, 0, sizeof *a);
  a->dims[0] = nin;
  int rc = parse_widths(a, hidden, e);
  if (rc) return rc;
  a->dims[a->nlayers] = AB_NCLASS;
  return parse_acts(a, acts, e);
}

size_t ab_arch_w_off(const ab_arch *a, int l) {
  size_t off = 0;
  for (int i = 0; i < l; i++) off += (size_t)a->dims[i] * a->dims[i + 1] + a->dims[i + 1];
  return off;
}

size_t ab_arch_b_off(const ab_arch *a, int l) {
  return ab_arch_w_off(a, l) + (size_t)a->dims[l] * a->dims[l + 1];
}

size_t ab_arch_nparams(const ab_arch *a) { return ab_arch_w_off(a, a->nlayers); }

int ab_arch_maxdim(const ab_arch *a) {
  int m = 0;
  for (int i = 0; i <= a->nlayers; i++)
    if (a->dims[i] > m) m = a->dims[i];
  return m;
}

double ab_arch_train_flops(const ab_arch *a) {
  double macs = 0;
  for (int l = 0; l < a->nlayers; l++) macs += (double)a->dims[l] * a->dims[l + 1];
  return 6.0 * macs; /* forward X.W, backward X^T.dZ and dZ.W^T: 3 GEMMs, 2 flops a MAC */
}

void ab_arch_describe(const ab_arch *a, char *buf, size_t n) {
  size_t k = 0;
  buf[0] = '\0';
  for (int i = 0; i <= a->nlayers && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, i ? "-%d" : "%d", a->dims[i]);
  for (int i = 0; i + 1 < a->nlayers && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "%s%s", i ? "," : " ", ab_act_name(a->act[i]));
}
