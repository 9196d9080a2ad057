/* Sweeps, part 1: the search space (parsing and canonical values), its configurations
 * (grid or seeded random sample) and their grouping into launches. */
#include "abgpu/sweep.h"
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/rng.h"
#include "sweep_int.h"

/* RNG stream of the random sample (train.c uses 1-2, prep.c 3-4, importance.c 7). */
enum { STREAM_SAMPLE = 11 };

static const char *const dim_names[AB_NDIM] = {"hidden", "act", "lr", "batch", "wd", "epochs",
                                                "patience", "transform", "balance", "batch_order",
                                                "lr_schedule", "min_epochs", "dropout", "seed"};

const char *ab_dim_name(ab_dim d) { return (unsigned)d < AB_NDIM ? dim_names[d] : "?"; }

void ab_space_init(ab_space *sp) { memset(sp, 0, sizeof *sp); }

void ab_space_free(ab_space *sp) {
  for (int d = 0; d < AB_NDIM; d++) free(sp->val[d]);
  memset(sp, 0, sizeof *sp);
}

/* ---- canonical values: each returns 0, or -1 with *why set to what was expected ---- */

static int canon_list(char *out, const char *tok, int widths, const char **why) {
  char buf[AB_SPACE_VALUE_LEN * 2] = "";
  const char *p = tok;
  int n = 0;
  *why = widths ? "a list of layer widths 1..4096 such as 100,100 (at most 7 layers)"
                : "a list of activations relu, sigmoid, tanh such as relu,sigmoid";
  while (*p) {
    size_t len = strcspn(p, ",");
    char item[32];
    if (len == 0 || len >= sizeof item || ++n > AB_MAX_LAYERS - 1) return -1;
    memcpy(item, p, len);
    item[len] = '\0';
    char *end;
    long w = strtol(item, &end, 10);
    ab_act a;
    if (widths ? (*end || w < 1 || w > 4096) : (ab_act_parse(&a, item) || a == AB_ACT_IDENTITY))
      return -1;
    size_t at = strlen(buf); /* a width as a plain number: 16, +16 and 016 are one key */
    if (widths) snprintf(buf + at, sizeof buf - at, "%s%ld", n > 1 ? "," : "", w);
    else snprintf(buf + at, sizeof buf - at, "%s%s", n > 1 ? "," : "", item);
    p += len + (p[len] == ',');
    if (p[-1] == ',' && !*p) return -1;
  }
  if (n == 0 || strlen(buf) >= AB_SPACE_VALUE_LEN) return -1;
  memcpy(out, buf, strlen(buf) + 1);
  return 0;
}

/* A float in [lo, hi], as train's flags take it (cli_float), kept with %g. */
static int canon_float(char *out, const char *tok, double lo, double hi) {
  char *end;
  errno = 0;
  double v = strtod(tok, &end);
  if (errno || end == tok || *end || !isfinite(v) || v < lo || v > hi) return -1;
  if (v == 0) v = 0; /* -0 is 0: one key, and no "--wd -0" */
  snprintf(out, AB_SPACE_VALUE_LEN, "%g", (double)(float)v);
  return 0;
}

static int canon_int(char *out, const char *tok, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(tok, &end, 10);
  if (errno || end == tok || *end || v < lo || v > hi) return -1;
  snprintf(out, AB_SPACE_VALUE_LEN, "%ld", v);
  return 0;
}

static int canon_u64(char *out, const char *tok) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(tok, &end, 10);
  if (errno || end == tok || *end || *tok == '-' || *tok == '+') return -1;
  snprintf(out, AB_SPACE_VALUE_LEN, "%llu", v);
  return 0;
}

static int canon_name(char *out, const char *tok, int ok) {
  if (!ok) return -1;
  snprintf(out, AB_SPACE_VALUE_LEN, "%s", tok);
  return 0;
}

/* A transform list in its canonical order ("te,log1p" is "log1p,te"). */
static int canon_transform(char *out, const char *tok) {
  ab_transform t;
  if (ab_transform_parse(&t, tok)) return -1;
  snprintf(out, AB_SPACE_VALUE_LEN, "%s", AB_TRANSFORM_STR(t));
  return 0;
}

int ab_sweep_canon(ab_dim d, char *out, const char *tok, const char **why) {
  ab_balance b;
  ab_order o;
  ab_sched s;
  switch (d) {
    case AB_DIM_HIDDEN: return canon_list(out, tok, 1, why);
    case AB_DIM_ACT: return canon_list(out, tok, 0, why);
    case AB_DIM_LR: *why = "a learning rate in [1e-9, 10]"; return canon_float(out, tok, 1e-9, 10);
    case AB_DIM_WD: *why = "a weight decay in [0, 10]"; return canon_float(out, tok, 0, 10);
    case AB_DIM_BATCH: *why = "a batch size 1..1048576"; return canon_int(out, tok, 1, 1 << 20);
    case AB_DIM_EPOCHS: *why = "an epoch count 1..1000000"; return canon_int(out, tok, 1, 1000000);
    case AB_DIM_PATIENCE: *why = "a patience 0..1000000"; return canon_int(out, tok, 0, 1000000);
    case AB_DIM_TRANSFORM:
      *why = "none or a list of log1p, ple:N (N = 2..255), te such as log1p,ple:32,te";
      return canon_transform(out, tok);
    case AB_DIM_BALANCE: *why = "random, first or none"; return canon_name(out, tok, !ab_balance_parse(&b, tok));
    case AB_DIM_ORDER: *why = "shuffle or fixed"; return canon_name(out, tok, !ab_order_parse(&o, tok));
    case AB_DIM_SCHED: *why = "none, plateau or cosine"; return canon_name(out, tok, !ab_sched_parse(&s, tok));
    case AB_DIM_MIN_EPOCHS: *why = "an epoch count 0..1000000"; return canon_int(out, tok, 0, 1000000);
    case AB_DIM_DROPOUT: *why = "a dropout rate in [0, 0.99]"; return canon_float(out, tok, 0, 0.99);
    case AB_DIM_SEED: *why = "a seed 0..18446744073709551615"; return canon_u64(out, tok);
    default: *why = "?"; return -1;
  }
}

/* ---- parsing ---- */

static long find_dim(const char *name) {
  for (int d = 0; d < AB_NDIM; d++)
    if (strcmp(name, dim_names[d]) == 0) return d;
  return -1;
}

/* Where a message points: "NAME:LINE: " or "NAME: " when line is 0. */
static void where(char *buf, size_t n, const char *name, int line) {
  if (line > 0) snprintf(buf, n, "%s:%d: ", name, line);
  else snprintf(buf, n, "%s: ", name);
}

/* Notes a value dropped as the same as an earlier one (ab_space.note, truncated). */
static void note_dup(ab_space *sp, const char *at, ab_dim d, const char *tok, const char *val) {
  size_t k = strlen(sp->note);
  if (k + 1 >= sizeof sp->note) return;
  int w = snprintf(sp->note + k, sizeof sp->note - k, "%s%s%s: '%.40s' is %s again, dropped",
                   k ? "; " : "", at, dim_names[d], tok, val);
  if (w < 0 || (size_t)w >= sizeof sp->note - k) strcpy(sp->note + sizeof sp->note - 4, "...");
}

/* Splits values into tokens (whitespace; commas too unless the values are lists) and
 * stores their canonical forms as dimension d. */
static int set_values(ab_space *sp, ab_dim d, char *vals, const char *at, ab_err *e) {
  const char *seps = d == AB_DIM_HIDDEN || d == AB_DIM_ACT || d == AB_DIM_TRANSFORM ? " \t" : " \t,";
  char (*v)[AB_SPACE_VALUE_LEN] = calloc(AB_SPACE_MAX_VALUES, sizeof *v);
  if (!v) return ab_err_set(e, AB_ENOMEM, "out of memory");
  int n = 0, rc = AB_OK;
  for (char *save = NULL, *tok = strtok_r(vals, seps, &save); tok && !rc;
       tok = strtok_r(NULL, seps, &save)) {
    const char *why;
    if (n == AB_SPACE_MAX_VALUES)
      rc = ab_err_set(e, AB_EINPUT, "%s%s: more than %d values", at, dim_names[d], AB_SPACE_MAX_VALUES);
    else if (ab_sweep_canon(d, v[n], tok, &why))
      rc = ab_err_set(e, AB_EINPUT, "%s%s: '%.80s' is not %s", at, dim_names[d], tok, why);
    int dup = 0;
    for (int i = 0; i < n && !rc && !dup; i++) dup = strcmp(v[i], v[n]) == 0;
    if (dup) note_dup(sp, at, d, tok, v[n]);
    else n++;
  }
  if (!rc && n == 0) rc = ab_err_set(e, AB_EINPUT, "%s%s: no values after '='", at, dim_names[d]);
  if (rc) { free(v); return rc; }
  free(sp->val[d]);
  sp->val[d] = v;
  sp->nval[d] = n;
  return AB_OK;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) s++;
  size_t n = strlen(s);
  while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = '\0';
  return s;
}

/* One line "name = values" (comment already removed, not empty). *dim gets the dimension. */
static int parse_line(ab_space *sp, char *line, const char *at, int *dim, ab_err *e) {
  char *eq = strchr(line, '=');
  if (!eq)
    return ab_err_set(e, AB_EINPUT, "%sexpected 'name = values', found '%.80s'", at, line);
  *eq = '\0';
  char *name = trim(line);
  long d = find_dim(name);
  if (d < 0)
    return ab_err_set(e, AB_EINPUT, "%sunknown dimension '%.40s' (expected hidden, act, lr, batch, "
                      "wd, epochs, patience, transform, balance, batch_order, lr_schedule, "
                      "min_epochs, dropout or seed)", at, name);
  *dim = (int)d;
  return set_values(sp, (ab_dim)d, eq + 1, at, e);
}

int ab_space_parse(ab_space *sp, const char *text, size_t n, const char *name, ab_err *e) {
  int seen[AB_NDIM] = {0}, lineno = 0, rc = AB_OK;
  size_t i = 0;
  while (i < n && !rc) {
    size_t len = 0;
    while (i + len < n && text[i + len] != '\n') len++;
    lineno++;
    char line[4096], at[300];
    where(at, sizeof at, name, lineno);
    if (len >= sizeof line || memchr(text + i, '\0', len))
      return ab_err_set(e, AB_EINPUT, "%sline too long or holds a NUL byte", at);
    memcpy(line, text + i, len);
    line[len] = '\0';
    i += len + 1;
    char *hash = strchr(line, '#');
    if (hash) *hash = '\0';
    char *s = trim(line);
    int d = -1;
    if (!*s) continue;
    if (!(rc = parse_line(sp, s, at, &d, e)) && seen[d])
      rc = ab_err_set(e, AB_EINPUT, "%s%s given twice (first on line %d)", at, dim_names[d], seen[d]);
    if (d >= 0) seen[d] = lineno;
  }
  return rc;
}

int ab_space_load(ab_space *sp, const char *path, ab_err *e) {
  FILE *f = fopen(path, "rb");
  if (!f) return ab_err_set(e, AB_EIO, "%s: cannot open: %s", path, strerror(errno));
  char *buf = malloc(1 << 20);
  size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
  int rc = AB_OK;
  if (!buf) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  else if (ferror(f)) rc = ab_err_set(e, AB_EIO, "%s: read error", path);
  else if (n == 1 << 20) rc = ab_err_set(e, AB_EINPUT, "%s: larger than 1 MiB; not a space file", path);
  fclose(f);
  if (!rc) rc = ab_space_parse(sp, buf, n, path, e);
  free(buf);
  return rc;
}

int ab_space_set(ab_space *sp, const char *assignment, ab_err *e) {
  char line[4096];
  if (strlen(assignment) >= sizeof line)
    return ab_err_set(e, AB_EUSAGE, "--set: value too long");
  snprintf(line, sizeof line, "%s", assignment);
  int d;
  int rc = parse_line(sp, trim(line), "--set: ", &d, e);
  if (rc == AB_EINPUT) rc = AB_EUSAGE;
  if (rc && e) e->code = rc;
  return rc;
}

/* ---- configurations ---- */

ab_sweep_cfg ab_sweep_cfg_default(void) {
  ab_sweep_cfg c;
  memset(&c, 0, sizeof c);
  ab_train_cfg t;
  ab_prep_opts p;
  ab_recipe_default(&t, &p); /* train's defaults */
  snprintf(c.hidden, sizeof c.hidden, "100,100");
  snprintf(c.act, sizeof c.act, "relu,sigmoid");
  c.lr = t.lr;
  c.wd = t.wd;
  c.batch = t.batch;
  c.epochs = t.epochs;
  c.patience = t.patience;
  c.transform = p.transform;
  c.balance = p.balance;
  c.order = t.order;
  c.sched = t.sched;
  c.min_epochs = t.min_epochs;
  c.dropout = t.dropout;
  c.seed = t.seed;
  return c;
}

void ab_sweep_cfg_set(ab_sweep_cfg *c, ab_dim d, const char *v) {
  switch (d) {
    case AB_DIM_HIDDEN: snprintf(c->hidden, sizeof c->hidden, "%s", v); break;
    case AB_DIM_ACT: snprintf(c->act, sizeof c->act, "%s", v); break;
    case AB_DIM_LR: c->lr = strtof(v, NULL); break;
    case AB_DIM_WD: c->wd = strtof(v, NULL); break;
    case AB_DIM_BATCH: c->batch = atoi(v); break;
    case AB_DIM_EPOCHS: c->epochs = atoi(v); break;
    case AB_DIM_PATIENCE: c->patience = atoi(v); break;
    case AB_DIM_TRANSFORM: ab_transform_parse(&c->transform, v); break;
    case AB_DIM_BALANCE: ab_balance_parse(&c->balance, v); break;
    case AB_DIM_ORDER: ab_order_parse(&c->order, v); break;
    case AB_DIM_SCHED: ab_sched_parse(&c->sched, v); break;
    case AB_DIM_MIN_EPOCHS: c->min_epochs = atoi(v); break;
    case AB_DIM_DROPOUT: c->dropout = strtof(v, NULL); break;
    case AB_DIM_SEED: c->seed = strtoull(v, NULL, 10); break;
    default: break;
  }
}

int ab_sweep_train_cfg(ab_train_cfg *out, const ab_sweep_cfg *c, ab_err *e) {
  *out = ab_train_cfg_default();
  ab_err why = {0};
  if (ab_arch_parse(&out->arch, AB_NFEAT, c->hidden, c->act, &why))
    return ab_err_set(e, AB_EUSAGE, "configuration hidden=%s act=%s: %s", c->hidden, c->act,
                      why.msg);
  out->batch = c->batch;
  out->epochs = c->epochs;
  out->patience = c->patience;
  out->lr = c->lr;
  out->wd = c->wd;
  out->seed = c->seed;
  out->keep_last = 0;
  out->order = c->order;
  out->sched = c->sched;
  out->min_epochs = c->min_epochs > c->epochs ? c->epochs : c->min_epochs;
  out->dropout = c->dropout;
  return AB_OK;
}

/* The (hidden, act) value pairs whose layers fit each other, hidden slowest; an index
 * of -1 means the dimension was not given. Without an act dimension, two hidden layers
 * get train's relu,sigmoid (the notebook) and other depths relu. */
typedef struct shapes {
  int n;
  int (*p)[2];
} shapes;

static void shape_cfg(ab_sweep_cfg *c, const ab_space *sp, int h, int a) {
  if (h >= 0) ab_sweep_cfg_set(c, AB_DIM_HIDDEN, sp->val[AB_DIM_HIDDEN][h]);
  if (a >= 0) { ab_sweep_cfg_set(c, AB_DIM_ACT, sp->val[AB_DIM_ACT][a]); return; }
  int commas = 0;
  for (const char *q = c->hidden; *q; q++) commas += *q == ',';
  if (commas != 1) snprintf(c->act, sizeof c->act, "relu");
}

static int shapes_find(shapes *sh, const ab_space *sp, ab_err *e) {
  int nh = sp->nval[AB_DIM_HIDDEN] ? sp->nval[AB_DIM_HIDDEN] : 1;
  int na = sp->nval[AB_DIM_ACT] ? sp->nval[AB_DIM_ACT] : 1, rc = AB_OK;
  sh->n = 0;
  if (!(sh->p = malloc((size_t)nh * na * sizeof *sh->p))) return ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int h = 0; h < nh; h++)
    for (int a = 0; a < na; a++) {
      ab_sweep_cfg c = ab_sweep_cfg_default();
      ab_train_cfg t;
      shape_cfg(&c, sp, sp->nval[AB_DIM_HIDDEN] ? h : -1, sp->nval[AB_DIM_ACT] ? a : -1);
      int bad = ab_sweep_train_cfg(&t, &c, sh->n || rc ? NULL : e);
      if (bad && !sh->n && !rc) rc = bad; /* the first error, kept for "none fits" */
      if (bad) continue;
      sh->p[sh->n][0] = sp->nval[AB_DIM_HIDDEN] ? h : -1;
      sh->p[sh->n++][1] = sp->nval[AB_DIM_ACT] ? a : -1;
    }
  if (sh->n) { ab_err_clear(e); return AB_OK; }
  free(sh->p);
  sh->p = NULL;
  return rc;
}

/* Combinations for a number of shapes (UINT64_MAX when that overflows). */
static uint64_t grid_size(const ab_space *sp, int nshapes) {
  uint64_t n = (uint64_t)nshapes;
  for (int d = AB_DIM_LR; d < AB_NDIM; d++) {
    uint64_t k = sp->nval[d] ? (uint64_t)sp->nval[d] : 1;
    if (n > UINT64_MAX / k) return UINT64_MAX;
    n *= k;
  }
  return n;
}

uint64_t ab_space_size(const ab_space *sp) {
  shapes sh;
  if (shapes_find(&sh, sp, NULL)) return 0;
  free(sh.p);
  return grid_size(sp, sh.n);
}

/* Grid point idx: mixed radix, the last dimension fastest, the shape slowest. */
static void cfg_at(ab_sweep_cfg *c, const ab_space *sp, const shapes *sh, uint64_t idx) {
  *c = ab_sweep_cfg_default();
  for (int d = AB_NDIM - 1; d >= AB_DIM_LR; d--) {
    if (!sp->nval[d]) continue;
    ab_sweep_cfg_set(c, (ab_dim)d, sp->val[d][idx % (uint64_t)sp->nval[d]]);
    idx /= (uint64_t)sp->nval[d];
  }
  shape_cfg(c, sp, sh->p[idx][0], sh->p[idx][1]);
}

/* Uniform in [0, bound) for a 64-bit bound. */
static uint64_t below64(ab_rng *r, uint64_t bound) {
  if (bound <= UINT32_MAX) return ab_rng_below(r, (uint32_t)bound);
  uint64_t lim = UINT64_MAX - UINT64_MAX % bound, v;
  do v = (uint64_t)ab_rng_u32(r) << 32 | ab_rng_u32(r);
  while (v >= lim);
  return v % bound;
}

/* Open-addressing set of grid indices (+1, 0 marks empty). Returns 1 when added. */
static int set_add(uint64_t *tab, size_t mask, uint64_t v) {
  size_t h = (size_t)((v + 1) * 0x9E3779B97F4A7C15ULL) & mask;
  while (tab[h] && tab[h] != v + 1) h = (h + 1) & mask;
  if (tab[h]) return 0;
  tab[h] = v + 1;
  return 1;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* Floyd's algorithm: k distinct indices of [0, total), sorted. */
static int sample(uint64_t *idx, size_t k, uint64_t total, uint64_t seed) {
  size_t cap = 16;
  while (cap < 2 * k) cap *= 2;
  uint64_t *tab = calloc(cap, sizeof *tab);
  if (!tab) return -1;
  ab_rng r;
  ab_rng_seed(&r, seed, STREAM_SAMPLE);
  size_t n = 0;
  for (uint64_t j = total - k; j < total; j++) {
    uint64_t t = below64(&r, j + 1);
    idx[n++] = set_add(tab, cap - 1, t) ? t : (set_add(tab, cap - 1, j), j);
  }
  free(tab);
  qsort(idx, k, sizeof *idx, cmp_u64);
  return 0;
}

int ab_space_expand(ab_sweep_cfg **out, size_t *n, const ab_space *sp, size_t random_n,
                    uint64_t seed, ab_err *e) {
  *out = NULL;
  *n = 0;
  shapes sh;
  int rc = shapes_find(&sh, sp, e);
  if (rc) return rc;
  uint64_t total = grid_size(sp, sh.n);
  if (random_n == 0 && total > AB_SWEEP_MAX_CONFIGS)
    rc = ab_err_set(e, AB_EUSAGE, "the grid has %.3g configurations, more than %d; use "
                    "--random N", (double)total, AB_SWEEP_MAX_CONFIGS);
  else if (random_n > AB_SWEEP_MAX_CONFIGS)
    rc = ab_err_set(e, AB_EUSAGE, "--random %zu: at most %d", random_n, AB_SWEEP_MAX_CONFIGS);
  size_t k = random_n == 0 || random_n >= total ? (size_t)total : random_n;
  uint64_t *idx = rc ? NULL : malloc(k * sizeof *idx);
  ab_sweep_cfg *c = rc ? NULL : malloc(k * sizeof *c);
  if (!rc && (!idx || !c)) rc = ab_err_set(e, AB_ENOMEM, "out of memory for %zu configurations", k);
  if (!rc && k < total && sample(idx, k, total, seed))
    rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  for (size_t i = 0; i < k && !rc; i++) cfg_at(&c[i], sp, &sh, k < total ? idx[i] : i);
  free(idx);
  free(sh.p);
  if (rc) { free(c); return rc; }
  *out = c;
  *n = k;
  return AB_OK;
}

void ab_sweep_key(const ab_sweep_cfg *c, char *buf, size_t n) {
  snprintf(buf, n, "hidden=%s act=%s lr=%g batch=%d wd=%g epochs=%d patience=%d transform=%s "
           "balance=%s batch_order=%s lr_schedule=%s min_epochs=%d dropout=%g seed=%llu", c->hidden,
           c->act, (double)c->lr, c->batch, (double)c->wd, c->epochs, c->patience,
           AB_TRANSFORM_STR(c->transform), ab_balance_name(c->balance), ab_order_name(c->order),
           ab_sched_name(c->sched), c->min_epochs, (double)c->dropout, (unsigned long long)c->seed);
}

void ab_sweep_flags(const ab_sweep_cfg *c, char *buf, size_t n) {
  char drop[48] = ""; /* only when set: train's default is none */
  if (c->dropout > 0) snprintf(drop, sizeof drop, " --dropout %g", (double)c->dropout);
  snprintf(buf, n, "--hidden %s --act %s --lr %g --batch %d --wd %g --epochs %d --patience %d "
           "--transform %s --balance %s --batch-order %s --lr-schedule %s --min-epochs %d%s",
           c->hidden, c->act, (double)c->lr, c->batch, (double)c->wd, c->epochs, c->patience,
           AB_TRANSFORM_STR(c->transform), ab_balance_name(c->balance), ab_order_name(c->order),
           ab_sched_name(c->sched), c->min_epochs > c->epochs ? c->epochs : c->min_epochs, drop);
}

int ab_sweep_same_data(const ab_sweep_cfg *a, const ab_sweep_cfg *b) {
  return a->transform == b->transform && a->balance == b->balance;
}

int ab_sweep_same_launch(const ab_sweep_cfg *a, const ab_sweep_cfg *b) {
  return ab_sweep_same_data(a, b) && a->batch == b->batch && strcmp(a->hidden, b->hidden) == 0 &&
         strcmp(a->act, b->act) == 0;
}

/* ---- launches ---- */

typedef struct gkey {
  size_t data, group, epochs, patience, idx;
} gkey;

static int cmp_gkey(const void *a, const void *b) {
  const gkey *x = a, *y = b;
  size_t u[5] = {x->data, x->group, x->epochs, x->patience, x->idx};
  size_t v[5] = {y->data, y->group, y->epochs, y->patience, y->idx};
  for (int i = 0; i < 5; i++)
    if (u[i] != v[i]) return u[i] < v[i] ? -1 : 1;
  return 0;
}

/* First-appearance numbering of data and groups. rep: [n] scratch. */
static void number_groups(gkey *k, size_t *rep, const ab_sweep_cfg *c, size_t n) {
  size_t ng = 0, nd = 0;
  for (size_t i = 0; i < n; i++) {
    size_t g = 0, d = SIZE_MAX;
    while (g < ng && !ab_sweep_same_launch(&c[rep[g]], &c[i])) g++;
    for (size_t h = 0; h < ng && d == SIZE_MAX; h++)
      if (ab_sweep_same_data(&c[rep[h]], &c[i])) d = k[rep[h]].data;
    if (g == ng) rep[ng++] = i;
    gkey x = {d == SIZE_MAX ? nd++ : d, g, (size_t)c[i].epochs, (size_t)c[i].patience, i};
    k[i] = x;
  }
}

/* Cuts each run of equal (data, group) into near-equal launches of <= parallel. */
static size_t cut(ab_launch *l, const gkey *k, size_t n, size_t parallel) {
  size_t nl = 0;
  for (size_t a = 0; a < n;) {
    size_t b = a;
    while (b < n && k[b].group == k[a].group) b++;
    size_t m = b - a, parts = (m + parallel - 1) / parallel, at = a;
    for (size_t p = 0; p < parts; p++) {
      size_t len = m / parts + (p < m % parts);
      l[nl].first = at;
      l[nl++].n = len;
      at += len;
    }
    a = b;
  }
  return nl;
}

int ab_sweep_group(size_t *order, ab_launch **launches, size_t *nl, const ab_sweep_cfg *cfg,
                   size_t n, int parallel, ab_err *e) {
  *launches = NULL;
  *nl = 0;
  if (parallel < 1) return ab_err_set(e, AB_EUSAGE, "--parallel must be at least 1");
  gkey *k = malloc((n ? n : 1) * sizeof *k);
  size_t *rep = malloc((n ? n : 1) * sizeof *rep);
  ab_launch *l = malloc((n ? n : 1) * sizeof *l);
  if (!k || !rep || !l) {
    free(k); free(rep); free(l);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  number_groups(k, rep, cfg, n);
  qsort(k, n, sizeof *k, cmp_gkey);
  for (size_t i = 0; i < n; i++) order[i] = k[i].idx;
  *nl = cut(l, k, n, (size_t)parallel);
  *launches = l;
  free(k);
  free(rep);
  return AB_OK;
}
