/* Sweeps, part 2: the leaderboard. One CSV row per configuration with its validation
 * figures; written atomically, read back with line-numbered errors, merged across shards,
 * ranked. Figures are stored rounded to 8 significant digits and rounded the same way in
 * memory, so ranking a leaderboard and ranking its file agree exactly. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "abgpu/json.h"
#include "abgpu/sweep.h"
#include "sweep_int.h"

/* Columns: rank, the AB_NDIM dimensions, status (COL_STATUS), 8 figures (COL_FIG), the
 * sweep's 7 (COL_SWEEP). */
#define COL_STATUS (1 + AB_NDIM)
#define COL_FIG (COL_STATUS + 1)
#define COL_SWEEP (COL_FIG + 8)
#define NCOLS (COL_SWEEP + 7)
static const char *const HEADER =
    "rank,hidden,act,lr,batch,wd,epochs,patience,transform,balance,batch_order,lr_schedule,"
    "min_epochs,dropout,seed,status,"
    "val_loss,val_loss_sd,val_acc,val_acc_sd,val_auc,val_auc_sd,epochs_run,best_epoch,"
    "folds,split,split_seed,data_hash,launch_models,seconds,device";

static const char *const rank_names[] = {"loss", "acc", "auc"};

int ab_rank_by_parse(ab_rank_by *out, const char *s) {
  for (int i = 0; i < 3; i++)
    if (strcmp(s, rank_names[i]) == 0) { *out = (ab_rank_by)i; return 0; }
  return -1;
}

const char *ab_rank_by_name(ab_rank_by r) { return (unsigned)r < 3 ? rank_names[r] : "?"; }

void ab_mean_sd(const double *x, int n, double *mean, double *sd) {
  double s = 0, ss = 0;
  for (int i = 0; i < n; i++) s += x[i];
  double m = n > 0 ? s / n : NAN;
  for (int i = 0; i < n; i++) ss += (x[i] - m) * (x[i] - m);
  *mean = m;
  *sd = n > 1 ? sqrt(ss / (n - 1)) : 0.0;
}

int ab_sweep_id_eq(const ab_sweep_id *a, const ab_sweep_id *b) {
  return a->data_hash == b->data_hash && a->seed == b->seed && a->folds == b->folds &&
         memcmp(a->split, b->split, sizeof a->split) == 0;
}

/* ---- the rows and their key index ---- */

void ab_lb_init(ab_leaderboard *lb) { memset(lb, 0, sizeof *lb); }

void ab_lb_free(ab_leaderboard *lb) {
  free(lb->row);
  free(lb->index);
  memset(lb, 0, sizeof *lb);
}

static uint64_t key_hash(const ab_sweep_cfg *c) {
  char key[AB_SWEEP_KEY_LEN];
  ab_sweep_key(c, key, sizeof key);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char *p = key; *p; p++) h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
  return h;
}

static int same_key(const ab_sweep_cfg *a, const ab_sweep_cfg *b) {
  char x[AB_SWEEP_KEY_LEN], y[AB_SWEEP_KEY_LEN];
  ab_sweep_key(a, x, sizeof x);
  ab_sweep_key(b, y, sizeof y);
  return strcmp(x, y) == 0;
}

static void index_put(ab_leaderboard *lb, size_t i) {
  size_t mask = lb->icap - 1, h = (size_t)key_hash(&lb->row[i].cfg) & mask;
  while (lb->index[h]) h = (h + 1) & mask;
  lb->index[h] = i + 1;
}

/* Rebuilds the index with room for cap rows. */
static int reindex(ab_leaderboard *lb, size_t cap) {
  size_t icap = 16;
  while (icap < 2 * cap) icap *= 2;
  size_t *idx = calloc(icap, sizeof *idx);
  if (!idx) return -1;
  free(lb->index);
  lb->index = idx;
  lb->icap = icap;
  for (size_t i = 0; i < lb->n; i++) index_put(lb, i);
  return 0;
}

long ab_lb_find(const ab_leaderboard *lb, const ab_sweep_cfg *c) {
  if (!lb->icap) return -1;
  size_t mask = lb->icap - 1, h = (size_t)key_hash(c) & mask;
  for (; lb->index[h]; h = (h + 1) & mask)
    if (same_key(&lb->row[lb->index[h] - 1].cfg, c)) return (long)(lb->index[h] - 1);
  return -1;
}

static double round8(double v) {
  if (!isfinite(v)) return v;
  char b[40];
  snprintf(b, sizeof b, "%.8g", v);
  return strtod(b, NULL);
}

static void round_row(ab_lb_row *r) {
  double *v[8] = {&r->val_loss, &r->val_loss_sd, &r->val_acc, &r->val_acc_sd, &r->val_auc,
                  &r->val_auc_sd, &r->epochs_run, &r->best_epoch};
  for (int i = 0; i < 8; i++) *v[i] = round8(*v[i]);
  r->seconds = round(r->seconds * 1000) / 1000;
  for (char *p = r->device; *p; p++)
    if (*p == '"' || *p == '\n' || *p == '\r') *p = '\'';
}

int ab_lb_add(ab_leaderboard *lb, const ab_lb_row *r, ab_err *e) {
  if (lb->n == lb->cap) {
    size_t cap = lb->cap ? lb->cap * 2 : 64;
    ab_lb_row *p = realloc(lb->row, cap * sizeof *p);
    if (!p) return ab_err_set(e, AB_ENOMEM, "out of memory");
    lb->row = p;
    lb->cap = cap;
    if (reindex(lb, cap)) return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  lb->row[lb->n] = *r;
  round_row(&lb->row[lb->n]);
  index_put(lb, lb->n++);
  return AB_OK;
}

/* ---- ranking ---- */

typedef struct sortrec {
  int status;
  double primary, loss;   /* primary: smaller is better */
  char key[AB_SWEEP_KEY_LEN];
  size_t i;
} sortrec;

static int cmp_dbl(double a, double b) {
  if (isnan(a) || isnan(b)) return isnan(a) - isnan(b); /* NaN last */
  return (a > b) - (a < b);
}

static int cmp_rec(const void *a, const void *b) {
  const sortrec *x = a, *y = b;
  if (x->status != y->status) return x->status - y->status;
  int c = x->status ? 0 : cmp_dbl(x->primary, y->primary);
  if (!c && !x->status) c = cmp_dbl(x->loss, y->loss);
  return c ? c : strcmp(x->key, y->key);
}

void ab_lb_sort(ab_leaderboard *lb, ab_rank_by by) {
  if (lb->n == 0) return; /* nothing to order (and lb->row may be NULL) */
  sortrec *s = malloc((lb->n ? lb->n : 1) * sizeof *s);
  ab_lb_row *rows = malloc((lb->n ? lb->n : 1) * sizeof *rows);
  if (!s || !rows) { free(s); free(rows); return; } /* unsorted, never corrupted */
  for (size_t i = 0; i < lb->n; i++) {
    const ab_lb_row *r = &lb->row[i];
    s[i].status = r->status != AB_ROW_OK;
    s[i].primary = by == AB_RANK_LOSS ? r->val_loss : by == AB_RANK_ACC ? -r->val_acc : -r->val_auc;
    s[i].loss = r->val_loss;
    ab_sweep_key(&r->cfg, s[i].key, sizeof s[i].key);
    s[i].i = i;
  }
  qsort(s, lb->n, sizeof *s, cmp_rec);
  for (size_t i = 0; i < lb->n; i++) rows[i] = lb->row[s[i].i];
  memcpy(lb->row, rows, lb->n * sizeof *rows);
  free(s);
  free(rows);
  memset(lb->index, 0, lb->icap * sizeof *lb->index);
  for (size_t i = 0; i < lb->n; i++) index_put(lb, i);
}

/* ---- CSV ---- */

static void put_row(FILE *f, size_t rank, const ab_lb_row *r) {
  const ab_sweep_cfg *c = &r->cfg;
  fprintf(f, "%zu,\"%s\",\"%s\",%g,%d,%g,%d,%d,\"%s\",%s,%s,%s,%d,%g,%llu,%s,", rank,
          c->hidden, c->act, (double)c->lr, c->batch, (double)c->wd, c->epochs, c->patience,
          AB_TRANSFORM_STR(c->transform), ab_balance_name(c->balance), ab_order_name(c->order),
          ab_sched_name(c->sched), c->min_epochs, (double)c->dropout, (unsigned long long)c->seed,
          r->status == AB_ROW_OK ? "ok" : "diverged");
  fprintf(f, "%.8g,%.8g,%.8g,%.8g,%.8g,%.8g,%.8g,%.8g,", r->val_loss, r->val_loss_sd, r->val_acc,
          r->val_acc_sd, r->val_auc, r->val_auc_sd, r->epochs_run, r->best_epoch);
  fprintf(f, "%d,\"%d,%d,%d\",%llu,%016llx,%d,%.3f,\"%s\"\n", r->id.folds, r->id.split[0],
          r->id.split[1], r->id.split[2], (unsigned long long)r->id.seed,
          (unsigned long long)r->id.data_hash, r->launch_models, r->seconds, r->device);
}

int ab_lb_write_csv_stream(const ab_leaderboard *lb, FILE *f) {
  fprintf(f, "%s\n", HEADER);
  for (size_t i = 0; i < lb->n; i++) put_row(f, i + 1, &lb->row[i]);
  return ferror(f) ? -1 : 0;
}

int ab_lb_write_csv(const ab_leaderboard *lb, const char *path, ab_err *e) {
  ab_outfile o;
  int rc = ab_outfile_open(&o, path, e);
  if (rc) return rc;
  ab_lb_write_csv_stream(lb, o.f); /* a write error shows on commit, with the file's name */
  return ab_outfile_commit(&o, e);
}

/* Splits a line into NCOLS fields (quoted fields may hold commas). Returns the count, or
 * -1 for a bad quote. */
static int split_csv(char *line, char **f) {
  int n = 0;
  char *p = line;
  for (;;) {
    if (n == NCOLS + 1) return n;
    if (*p == '"') {
      char *q = strchr(p + 1, '"');
      if (!q || (q[1] != ',' && q[1] != '\0')) return -1;
      f[n++] = p + 1;
      *q = '\0';
      p = q + 1;
    } else {
      f[n++] = p;
      p += strcspn(p, ",");
    }
    if (*p != ',') return n;
    *p++ = '\0';
  }
}

/* Column c of the row: its dimension's canonical value into the config. */
static int get_dim(ab_sweep_cfg *c, ab_dim d, const char *v) {
  char out[AB_SPACE_VALUE_LEN];
  const char *why;
  if (ab_sweep_canon(d, out, v, &why)) return -1;
  ab_sweep_cfg_set(c, d, out);
  return 0;
}

static int get_num(double *out, const char *v) {
  char *end;
  errno = 0;
  *out = strtod(v, &end);
  return end == v || *end || errno == ERANGE ? -1 : 0;
}

static int get_figures(ab_lb_row *r, char **f) {
  double *v[8] = {&r->val_loss, &r->val_loss_sd, &r->val_acc, &r->val_acc_sd, &r->val_auc,
                  &r->val_auc_sd, &r->epochs_run, &r->best_epoch};
  for (int i = 0; i < 8; i++)
    if (get_num(v[i], f[COL_FIG + i])) return COL_FIG + i;
  return 0;
}

/* The sweep columns (folds .. device); returns 0 or the bad column. */
static int get_sweep(ab_lb_row *r, char **f0) {
  char **f = f0 + COL_SWEEP, *end;
  long folds = strtol(f[0], &end, 10);
  if (*end || end == f[0] || folds < 0 || folds > 100) return COL_SWEEP;
  r->id.folds = (int)folds;
  if (ab_split_parse(r->id.split, f[1])) return COL_SWEEP + 1;
  char seed[AB_SPACE_VALUE_LEN];
  const char *why;
  if (ab_sweep_canon(AB_DIM_SEED, seed, f[2], &why)) return COL_SWEEP + 2;
  r->id.seed = strtoull(seed, NULL, 10);
  errno = 0;
  r->id.data_hash = strtoull(f[3], &end, 16);
  if (*end || end == f[3] || strlen(f[3]) != 16 || errno) return COL_SWEEP + 3;
  long k = strtol(f[4], &end, 10);
  if (*end || end == f[4] || k < 0 || k > (1L << 30)) return COL_SWEEP + 4;
  r->launch_models = (int)k;
  if (get_num(&r->seconds, f[5])) return COL_SWEEP + 5;
  snprintf(r->device, sizeof r->device, "%s", f[6]);
  return 0;
}

/* Parses one data line into r; returns 0 or the (0-based) bad column, -1 for the count. */
static int get_row(ab_lb_row *r, char *line) {
  char *f[NCOLS + 1];
  if (split_csv(line, f) != NCOLS) return -1;
  memset(r, 0, sizeof *r);
  r->cfg = ab_sweep_cfg_default();
  for (int d = 0; d < AB_NDIM; d++) /* the columns follow the dimensions' order */
    if (get_dim(&r->cfg, (ab_dim)d, f[1 + d])) return 1 + d;
  const char *st = f[COL_STATUS];
  if (strcmp(st, "ok") && strcmp(st, "diverged")) return COL_STATUS;
  r->status = strcmp(st, "ok") == 0 ? AB_ROW_OK : AB_ROW_DIVERGED;
  int bad = get_figures(r, f);
  return bad ? bad : get_sweep(r, f);
}

/* A figure's column (0-based) and the range it must lie in. NaN is allowed where the
 * writer leaves one: every figure of a diverged row, and an AUC (one class in validation). */
typedef struct fig_rule { int col; double lo, hi; const char *want; } fig_rule;

/* 0 when r's figures are possible, else the bad column, its value in *val and what was
 * expected in *want. */
static int check_figures(const ab_lb_row *r, double *val, const char **want) {
  double ep = r->cfg.epochs;
  const fig_rule rules[8] = {
      {COL_FIG, 0, INFINITY, "a finite loss >= 0"}, {COL_FIG + 1, 0, INFINITY, "a finite sd >= 0"},
      {COL_FIG + 2, 0, 1, "an accuracy in [0, 1]"}, {COL_FIG + 3, 0, 1, "a finite sd >= 0"},
      {COL_FIG + 4, 0, 1, "a ROC AUC in [0, 1]"}, {COL_FIG + 5, 0, 1, "a finite sd >= 0"},
      {COL_FIG + 6, 1, ep, "an epoch count within the configuration's epochs"},
      {COL_FIG + 7, 0, ep, "an epoch within the configuration's epochs"}};
  const double v[8] = {r->val_loss, r->val_loss_sd, r->val_acc, r->val_acc_sd, r->val_auc,
                       r->val_auc_sd, r->epochs_run, r->best_epoch};
  for (int i = 0; i < 8; i++) {
    int nan_ok = r->status == AB_ROW_DIVERGED || i == 4 || i == 5; /* 4, 5: the AUC */
    if (isnan(v[i]) ? nan_ok : isfinite(v[i]) && v[i] >= rules[i].lo && v[i] <= rules[i].hi)
      continue;
    *want = rules[i].want;
    *val = v[i];
    return rules[i].col;
  }
  if (r->status == AB_ROW_OK && r->best_epoch > r->epochs_run) {
    *want = "a best epoch no later than epochs_run";
    *val = r->best_epoch;
    return COL_FIG + 7;
  }
  *want = "a time >= 0 in seconds";
  *val = r->seconds;
  return isfinite(r->seconds) && r->seconds >= 0 ? 0 : COL_SWEEP + 5;
}

static const char *col_name(int c) {
  static char names[NCOLS][24];
  if (!names[0][0]) {
    const char *p = HEADER;
    for (int i = 0; i < NCOLS; i++) {
      size_t len = strcspn(p, ",");
      snprintf(names[i], sizeof names[i], "%.*s", (int)len, p);
      p += len + 1;
    }
  }
  return c >= 0 && c < NCOLS ? names[c] : "?";
}

static int parse_line(ab_leaderboard *lb, char *line, const char *name, int lineno, ab_err *e) {
  ab_lb_row r;
  int bad = get_row(&r, line);
  if (bad < 0)
    return ab_err_set(e, AB_EINPUT, "%s:%d: expected %d comma-separated columns (%s)", name,
                      lineno, NCOLS, "see docs/sweep.md");
  if (bad > 0)
    return ab_err_set(e, AB_EINPUT, "%s:%d: column %d (%s) is not valid", name, lineno, bad + 1,
                      col_name(bad));
  const char *want;
  double val;
  if ((bad = check_figures(&r, &val, &want)) > 0)
    return ab_err_set(e, AB_EINPUT, "%s:%d: column %d (%s) is %.8g, expected %s; the row is "
                      "refused (an edited or damaged leaderboard?)", name, lineno, bad + 1,
                      col_name(bad), val, want);
  if (ab_lb_find(lb, &r.cfg) >= 0)
    return ab_err_set(e, AB_EINPUT, "%s:%d: the same configuration appears twice", name, lineno);
  return ab_lb_add(lb, &r, e);
}

#define LB_LINE 8192

/* One line (without its '\n') of a leaderboard file. */
static int lb_line(ab_leaderboard *lb, const char *text, size_t len, const char *name,
                   int lineno, ab_err *e) {
  char line[LB_LINE];
  if (len >= sizeof line || memchr(text, '\0', len))
    return ab_err_set(e, AB_EINPUT, "%s:%d: line too long or holds a NUL byte", name, lineno);
  memcpy(line, text, len);
  line[len && text[len - 1] == '\r' ? len - 1 : len] = '\0';
  if (lineno == 1 && strcmp(line, HEADER) != 0)
    return ab_err_set(e, AB_EINPUT, "%s:1: not an abgpu sweep leaderboard (the first line "
                      "should be the header %.40s...)", name, HEADER);
  return lineno > 1 && line[0] ? parse_line(lb, line, name, lineno, e) : AB_OK;
}

int ab_lb_parse_csv(ab_leaderboard *lb, const char *text, size_t n, const char *name,
                    ab_err *e) {
  size_t i = 0;
  int lineno = 0, rc = AB_OK;
  while (i < n && !rc) {
    size_t len = 0;
    while (i + len < n && text[i + len] != '\n') len++;
    rc = lb_line(lb, text + i, len, name, ++lineno, e);
    i += len + 1;
  }
  if (!rc && lineno == 0)
    rc = ab_err_set(e, AB_EINPUT, "%s:1: empty file, not an abgpu sweep leaderboard", name);
  return rc;
}

/* Reads line by line through a fixed buffer: memory stays bounded whatever the file. */
int ab_lb_read_csv(ab_leaderboard *lb, const char *path, ab_err *e) {
  FILE *f;
  uint64_t size;
  int rc = ab_infile_open(&f, &size, path, "a sweep leaderboard (CSV file)", e);
  if (rc) return rc;
  char *buf = malloc(LB_LINE);
  size_t have = 0;
  int lineno = 0, eof = 0;
  if (!buf) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  while (!rc && !(eof && have == 0)) {
    if (!eof && have < LB_LINE) {
      size_t got = fread(buf + have, 1, LB_LINE - have, f);
      have += got;
      eof = got == 0;
      if (ferror(f)) { rc = ab_err_set(e, AB_EIO, "%s: read error", path); break; }
    }
    char *nl = memchr(buf, '\n', have);
    if (!nl && !eof && have < LB_LINE) continue; /* more to read before the line ends */
    size_t len = nl ? (size_t)(nl - buf) : have;
    rc = lb_line(lb, buf, len, path, ++lineno, e);
    size_t used = nl ? len + 1 : have;
    memmove(buf, buf + used, have - used);
    have -= used;
  }
  if (!rc && lineno == 0)
    rc = ab_err_set(e, AB_EINPUT, "%s:1: empty file, not an abgpu sweep leaderboard", path);
  free(buf);
  fclose(f);
  return rc;
}

int ab_lb_merge(ab_leaderboard *dst, const ab_leaderboard *src, const char *what,
                size_t *dups, ab_err *e) {
  for (size_t i = 0; i < src->n; i++) {
    const ab_lb_row *r = &src->row[i];
    const ab_sweep_id *ref = dst->n ? &dst->row[0].id : &src->row[0].id;
    if (!ab_sweep_id_eq(&r->id, ref))
      return ab_err_set(e, AB_EINPUT, "%s: rows of another sweep (data hash %016llx, split "
                        "seed %llu, folds %d; expected %016llx, %llu, %d): only leaderboards "
                        "of the same data, split and folds can be merged", what,
                        (unsigned long long)r->id.data_hash, (unsigned long long)r->id.seed,
                        r->id.folds, (unsigned long long)ref->data_hash,
                        (unsigned long long)ref->seed, ref->folds);
    if (ab_lb_find(dst, &r->cfg) >= 0) {
      if (dups) (*dups)++;
      continue;
    }
    int rc = ab_lb_add(dst, r, e);
    if (rc) return rc;
  }
  return AB_OK;
}

/* ---- JSON ---- */

static void json_num(FILE *f, double v) {
  if (isfinite(v)) fprintf(f, "%.8g", v);
  else fprintf(f, "null");
}

void ab_sweep_json_cfg(FILE *f, const ab_sweep_cfg *c) {
  fprintf(f, "{\"hidden\": ");
  ab_json_str(f, c->hidden);
  fprintf(f, ", \"act\": ");
  ab_json_str(f, c->act);
  fprintf(f, ", \"lr\": %g, \"batch\": %d, \"wd\": %g, \"epochs\": %d, \"patience\": %d, "
          "\"transform\": \"%s\", \"balance\": \"%s\", \"batch_order\": \"%s\", "
          "\"lr_schedule\": \"%s\", \"min_epochs\": %d, \"dropout\": %g, \"seed\": %llu}",
          (double)c->lr, c->batch, (double)c->wd, c->epochs, c->patience,
          AB_TRANSFORM_STR(c->transform), ab_balance_name(c->balance), ab_order_name(c->order),
          ab_sched_name(c->sched), c->min_epochs, (double)c->dropout, (unsigned long long)c->seed);
}

static void json_row(FILE *f, size_t rank, const ab_lb_row *r) {
  fprintf(f, "{\"rank\": %zu, \"status\": \"%s\", \"config\": ", rank,
          r->status == AB_ROW_OK ? "ok" : "diverged");
  ab_sweep_json_cfg(f, &r->cfg);
  double v[6] = {r->val_loss, r->val_loss_sd, r->val_acc, r->val_acc_sd, r->val_auc, r->val_auc_sd};
  const char *k[6] = {"loss", "loss_sd", "accuracy", "accuracy_sd", "roc_auc", "roc_auc_sd"};
  fprintf(f, ", \"validation\": {");
  for (int i = 0; i < 6; i++) {
    fprintf(f, "%s\"%s\": ", i ? ", " : "", k[i]);
    json_num(f, v[i]);
  }
  fprintf(f, "}, \"folds\": %d, \"epochs_run\": ", r->id.folds);
  json_num(f, r->epochs_run);
  fprintf(f, ", \"best_epoch\": ");
  json_num(f, r->best_epoch);
  fprintf(f, ", \"launch_models\": %d, \"seconds\": %.3f, \"device\": ", r->launch_models, r->seconds);
  ab_json_str(f, r->device);
  fprintf(f, "}");
}

void ab_lb_write_json_rows(const ab_leaderboard *lb, FILE *f) {
  fprintf(f, "[");
  for (size_t i = 0; i < lb->n; i++) {
    fprintf(f, "%s\n    ", i ? "," : "");
    json_row(f, i + 1, &lb->row[i]);
  }
  fprintf(f, "%s]", lb->n ? "\n  " : "");
}
