/* What the export looks like: its encoding (a UTF-8 byte-order mark is skipped, UTF-16 is
 * refused), separator and decimal mark (detected from the first lines unless given),
 * whether the first line is a header, and which column is the id, each feature and the
 * target: by --columns, by name (normalised, with synonyms), or by position. */
#include <stdlib.h>
#include <string.h>
#include "data/csv_int.h"
#include "data/num.h"

#define NSAMPLE 20       /* records looked at to detect the separator and decimal mark */
#define KEYLEN 96
#define MAXWORDS 12

static const char seps[4] = {',', ';', '\t', '|'};

/* ---- encoding ---- */

/* 1 when the first bytes have a NUL in every other place: UTF-16 without a mark. */
static int looks_utf16(const unsigned char *b, size_t n) {
  size_t k = n < 64 ? n & ~(size_t)1 : 64, z[2] = {0, 0};
  for (size_t i = 0; i < k; i++) z[i % 2] += b[i] == 0;
  return k >= 4 && ((z[0] == 0 && z[1] >= k / 2 * 9 / 10) || (z[1] == 0 && z[0] >= k / 2 * 9 / 10));
}

static int check_encoding(ab_csv_reader *r, ab_err *e) {
  const unsigned char *b = (const unsigned char *)r->buf;
  size_t n = r->len;
  int bom16 = n >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF));
  int bom32 = n >= 4 && b[0] == 0 && b[1] == 0 && b[2] == 0xFE && b[3] == 0xFF;
  if (bom16 || bom32 || looks_utf16(b, n))
    return ab_err_set(e, AB_EINPUT, "%s:1:1: the file is UTF-%d text (%s); expected UTF-8 or "
                      "ASCII: save it as \"CSV UTF-8\" or plain CSV", r->name,
                      bom32 || (bom16 && n >= 4 && b[2] == 0 && b[3] == 0) ? 32 : 16,
                      bom16 || bom32 ? "it starts with a byte-order mark" : "every other byte is NUL");
  if (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) {
    r->pos = 3; /* Excel's "CSV UTF-8": the mark is not part of the first field */
    r->consumed = 3;
  }
  return AB_OK;
}

/* ---- separator and decimal mark ---- */

/* The next sample record in [*p, end) by quote parity; 0 when none is complete. */
static int next_sample(const char **p, const char *end, int eof, const char **s, const char **t) {
  for (;;) {
    const char *q = *p;
    int inq = 0;
    for (; q < end && (inq || *q != '\n'); q++) inq ^= *q == '"';
    if (q >= end && !eof) return 0;
    if (q == *p && q >= end) return 0;
    *s = *p;
    *t = q > *p && q[-1] == '\r' ? q - 1 : q;
    *p = q < end ? q + 1 : q;
    if (*t > *s) return 1; /* blank lines are skipped */
  }
}

/* "19,73" (with mark ',') or "19.73" ('.'): digits, the mark, digits, maybe quoted. */
static int decimal_like(const char *s, const char *t, char mark) {
  while (s < t && *s == ' ') s++;
  while (t > s && t[-1] == ' ') t--;
  if (t - s >= 2 && *s == '"' && t[-1] == '"') { s++; t--; }
  if (s < t && *s == '-') s++;
  const char *m = memchr(s, mark, (size_t)(t - s));
  if (!m || m == s || m + 1 == t) return 0;
  for (const char *q = s; q < t; q++)
    if (q != m && (*q < '0' || *q > '9')) return 0;
  return 1;
}

typedef struct sample {
  int n;
  int count[NSAMPLE][4];   /* fields per record for each separator */
  int dec_comma[4], dec_dot[4]; /* fields like 19,73 and 19.73 for each separator */
} sample;

static void sample_record(sample *sm, const char *s, const char *t) {
  for (int k = 0; k < 4; k++) {
    int nf = 1, inq = 0;
    const char *f = s;
    for (const char *q = s; q <= t; q++) {
      if (q < t && *q == '"') inq ^= 1;
      if (q < t && (inq || *q != seps[k])) continue;
      sm->dec_comma[k] += seps[k] != ',' && decimal_like(f, q, ',');
      sm->dec_dot[k] += decimal_like(f, q, '.');
      if (q < t) nf++;
      f = q + 1;
    }
    sm->count[sm->n][k] = nf;
  }
  sm->n++;
}

/* A separator that gives every sampled record the same number (>= 2) of fields; of
 * several, the one giving most, except that ',' loses to a separator whose fields hold
 * decimal commas. None: the one giving the first record most fields. */
static char choose_sep(const sample *sm) {
  int ok[4], best = -1;
  for (int k = 0; k < 4; k++) {
    ok[k] = sm->n > 0 && sm->count[0][k] >= 2;
    for (int i = 1; i < sm->n; i++) ok[k] &= sm->count[i][k] == sm->count[0][k];
  }
  for (int k = 1; k < 4; k++)
    if (ok[k] && sm->dec_comma[k] > 0) ok[0] = 0;
  for (int k = 0; k < 4; k++)
    if (ok[k] && (best < 0 || sm->count[0][k] > sm->count[0][best])) best = k;
  if (best >= 0) return seps[best];
  for (int k = 0; k < 4 && sm->n > 0; k++)
    if (sm->count[0][k] >= 2 && (best < 0 || sm->count[0][k] > sm->count[0][best])) best = k;
  return best >= 0 ? seps[best] : ',';
}

static void detect_format(ab_csv_reader *r) {
  sample sm;
  memset(&sm, 0, sizeof sm);
  const char *p = r->buf + r->pos, *end = r->buf + r->len, *s, *t;
  while (sm.n < NSAMPLE && next_sample(&p, end, r->eof, &s, &t)) sample_record(&sm, s, t);
  r->sep = r->fmt.sep ? r->fmt.sep : choose_sep(&sm);
  int k = 0;
  while (k < 3 && seps[k] != r->sep) k++;
  r->dec = r->fmt.decimal ? r->fmt.decimal
           : r->sep != ',' && sm.dec_comma[k] > 0 && sm.dec_dot[k] == 0 ? ',' : '.';
  r->fast = r->dec != r->sep;
  r->quotes = memchr(r->buf + r->pos, '"', r->len - r->pos) != NULL;
  for (int c = 0; c < 256; c++) r->stop[c] = c < 0x20 || c == '"' || c == (unsigned char)r->sep;
  int guessed_sep = !r->fmt.sep && r->sep != ',', guessed_dec = !r->fmt.decimal && r->dec == ',';
  if (guessed_sep || guessed_dec)
    csv_add_note(r, 0, "%s: read as %s with %s (detected; --sep and --decimal set them)", r->name,
                 csv_sep_words(r->sep), r->dec == ',' ? "decimal commas" : "decimal points");
}

/* ---- column names ---- */

/* Words that mean the same in a column name (after lower-casing and dropping a plural s). */
static const char *const word_map[][2] = {
    {"min", "minute"},      {"length", "minute"},  {"duration", "minute"},  {"len", "minute"},
    {"average", "avg"},     {"mean", "avg"},       {"av", "avg"},           {"total", "overall"},
    {"sum", "overall"},     {"all", "overall"},    {"tot", "overall"},      {"paid", "price"},
    {"spent", "price"},     {"spend", "price"},    {"spending", "price"},   {"cost", "price"},
    {"revenue", "price"},   {"money", "price"},    {"amount", "price"},     {"listened", "listen"},
    {"listening", "listen"}, {"visited", "visit"}, {"req", "request"},      {"ticket", "request"},
    {"contact", "request"}, {"completed", "completion"}, {"complete", "completion"},
    {"finished", "completion"}, {"completeness", "completion"}, {"rating", "score"},
    {"star", "score"},      {"bought", "buy"},     {"label", "target"},     {"class", "target"},
    {"outcome", "target"},  {"cust", "customer"},  {"client", "customer"},  {"user", "customer"},
    {"account", "customer"},
};

/* Words that say nothing about which column it is. */
static const char *const stop_words[] = {
    "the", "of", "in", "per", "out", "to", "and", "a", "an", "by", "for", "between", "since",
    "from", "after", "with", "has", "is", "did", "was", "will", "number", "no", "nr", "num",
    "count", "yes", "eur", "usd", "gbp", "euro", "dollar", "rate", "ratio", "share", "pct",
    "percent"};

/* Accepted names per role (0 id, 1..10 features, 11 target), compared by name_key. */
static const char *const role_names[CSV_NROLES][8] = {
    {"id", "customer id", "customer", "customerid", NULL},
    {"book length overall", "book minutes overall", "minutes bought overall", "length overall", NULL},
    {"book length avg", "book minutes avg", "minutes bought avg", "length avg", NULL},
    {"price overall", "price total", NULL},
    {"price avg", NULL},
    {"review", "left review", "reviewed", "review given", NULL},
    {"review 10", "review score", "score", "score out of 10", NULL},
    {"completion", NULL},
    {"minutes listened", "listened", "listening time", "time listened", NULL},
    {"support requests", "support", "requests", NULL},
    {"last visited minus purchase", "last visited minus purchase date", "days since purchase",
     "days between purchase and last visit", "last visit minus purchase", "recency", NULL},
    {"targets", "buys again", "repurchase", "repurchased", "converted", "y", NULL},
};

static const char *canonical_word(const char *w) {
  for (size_t i = 0; i < sizeof stop_words / sizeof stop_words[0]; i++)
    if (strcmp(w, stop_words[i]) == 0) return "";
  for (size_t i = 0; i < sizeof word_map / sizeof word_map[0]; i++)
    if (strcmp(w, word_map[i][0]) == 0) return word_map[i][1];
  return w;
}

static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_word(unsigned char c) { return is_alpha(c) || is_digit(c) || c >= 0x80; }

/* The next word of s: a run of letters (split before an upper-case letter that follows a
 * lower-case one) or of digits; lower-cased, without a plural s. 0 at the end. */
static int next_word(const char **s, const char *end, char w[32]) {
  const char *p = *s;
  while (p < end && !is_word((unsigned char)*p)) p++;
  if (p >= end) return 0;
  int k = 0, digits = is_digit((unsigned char)*p);
  for (; p < end && is_word((unsigned char)*p) && is_digit((unsigned char)*p) == digits; p++) {
    if (k > 0 && *p >= 'A' && *p <= 'Z' && p[-1] >= 'a' && p[-1] <= 'z') break;
    if (k < 31) w[k++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
  }
  w[k] = '\0';
  if (k >= 4 && w[k - 1] == 's' && w[k - 2] != 's') w[k - 1] = '\0';
  *s = p;
  return 1;
}

/* A column name as a key: its words made canonical, sorted, each once. "Minutes
 * listened", "listened_minutes" and "MinutesListened" all give "listen minute". */
static void name_key(char *dst, const char *s, size_t n) {
  char words[MAXWORDS][32], w[32];
  int nw = 0;
  const char *end = s + n;
  while (nw < MAXWORDS && next_word(&s, end, w)) {
    const char *c = canonical_word(w);
    int dup = !*c;
    for (int i = 0; i < nw && !dup; i++) dup = strcmp(words[i], c) == 0;
    if (dup) continue;
    int i = nw++;
    for (; i > 0 && strcmp(words[i - 1], c) > 0; i--) memcpy(words[i], words[i - 1], 32);
    snprintf(words[i], 32, "%s", c);
  }
  size_t k = 0;
  dst[0] = '\0';
  for (int i = 0; i < nw && k + 33 < KEYLEN; i++)
    k += (size_t)snprintf(dst + k, KEYLEN - k, "%s%s", i ? " " : "", words[i]);
}

/* The role slot (0 id, 1..10 features, 11 target) a name means, or -1. */
static int slot_of(const char *key) {
  if (!*key) return -1;
  char k[KEYLEN];
  for (int c = 0; c < CSV_NROLES; c++)
    for (int a = 0; a < 8 && role_names[c][a]; a++) {
      name_key(k, role_names[c][a], strlen(role_names[c][a]));
      if (strcmp(k, key) == 0) return c;
    }
  return -1;
}

int csv_name_slot(const char *name, size_t n) {
  char k[KEYLEN];
  name_key(k, name, n);
  return slot_of(k);
}

const char *csv_role_alias(int slot, int i) {
  return slot >= 0 && slot < CSV_NROLES && i >= 0 && i < 8 ? role_names[slot][i] : NULL;
}

static const char *slot_name(int slot) {
  return slot == 0 ? ab_id_name : slot == CSV_NROLES - 1 ? ab_target_name : ab_feature_names[slot - 1];
}

/* ---- the column map ---- */

enum { UNSET = -1, IGNORED = -2 };              /* map.slot values besides 0..11 */
enum { BY_FLAG = 1, BY_NAME = 2, BY_POSITION = 3 };

typedef struct colmap {
  int ncols, header;
  int slot[CSV_MAX_FIELDS];
  int how[CSV_MAX_FIELDS];
  int col_of[CSV_NROLES];   /* column of each slot, -1 when none */
  char (*key)[KEYLEN];      /* [ncols] normalised header names */
} colmap;

/* 'name' of column c for messages, or "column 3" without a header. */
static void col_label(char *dst, size_t cap, const ab_csv_reader *r, const colmap *m, int c) {
  char p[48];
  if (!m->header) { snprintf(dst, cap, "column %d", c + 1); return; }
  csv_printable(p, r->field[c].s, r->field[c].n);
  snprintf(dst, cap, "'%s'", p);
}

/* "'id', 'Total length', ..." (the first 12 names) for messages. */
static void header_names(char *dst, size_t cap, const ab_csv_reader *r, const colmap *m) {
  size_t k = 0;
  dst[0] = '\0';
  for (int c = 0; c < m->ncols && c < 12 && k + 60 < cap; c++) {
    char l[64];
    col_label(l, sizeof l, r, m, c);
    k += (size_t)snprintf(dst + k, cap - k, "%s%s", c ? ", " : "", l);
  }
  if (m->ncols > 12 && k + 8 < cap) snprintf(dst + k, cap - k, ", ...");
}

static int assign(colmap *m, int c, int slot, int how) {
  m->slot[c] = slot;
  m->how[c] = how;
  if (slot >= 0) m->col_of[slot] = c;
  return AB_OK;
}

/* The column an item of --columns or --ignore names: a 1-based index, or a header name
 * compared by name_key. -1 when there is none. */
static int find_column(const ab_csv_reader *r, const colmap *m, const char *s, size_t n) {
  size_t d = 0;
  while (d < n && is_digit((unsigned char)s[d])) d++;
  if (d == n && n > 0 && n < 6) {
    int i = atoi(s);
    (void)r;
    return i >= 1 && i <= m->ncols ? i - 1 : -1;
  }
  if (!m->header) return -1;
  char k[KEYLEN];
  name_key(k, s, n);
  for (int c = 0; c < m->ncols; c++)
    if (*k && strcmp(k, m->key[c]) == 0) return c;
  return -1;
}

static int no_such_column(const ab_csv_reader *r, const colmap *m, const char *flag,
                          const char *item, size_t n, ab_err *e) {
  char names[800];
  header_names(names, sizeof names, r, m);
  return ab_err_set(e, AB_EINPUT, "%s:1:1: %s '%.*s': %s (the file's columns: %s)", r->name,
                    flag, (int)(n < 200 ? n : 200), item,
                    m->header ? "no column of that name or number"
                              : "no column of that number (names need a header line)", names);
}

/* Calls fn for each comma-separated item of list (blanks around items trimmed). */
static int each_item(const char *list, int (*fn)(void *, const char *, size_t, ab_err *),
                     void *user, ab_err *e) {
  for (const char *p = list; p && *p;) {
    size_t len = strcspn(p, ",");
    const char *s = p, *t = p + len;
    while (s < t && *s == ' ') s++;
    while (t > s && t[-1] == ' ') t--;
    int rc = t > s ? fn(user, s, (size_t)(t - s), e) : AB_OK;
    if (rc) return rc;
    p += len + (p[len] == ',');
  }
  return AB_OK;
}

typedef struct map_ctx { ab_csv_reader *r; colmap *m; } map_ctx;

static int ignore_item(void *u, const char *s, size_t n, ab_err *e) {
  map_ctx *x = u;
  int c = find_column(x->r, x->m, s, n);
  if (c < 0) return no_such_column(x->r, x->m, "--ignore", s, n, e);
  return assign(x->m, c, IGNORED, BY_FLAG);
}

static int columns_item(void *u, const char *s, size_t n, ab_err *e) {
  map_ctx *x = u;
  const char *eq = memchr(s, '=', n);
  char k[KEYLEN];
  if (eq) name_key(k, s, (size_t)(eq - s));
  int slot = eq ? slot_of(k) : -1;
  if (slot < 0)
    return ab_err_set(e, AB_EUSAGE, "--columns '%.*s': expected ROLE=NAME or ROLE=NUMBER, ROLE "
                      "one of id, %s, ..., %s, %s", (int)(n < 200 ? n : 200), s,
                      ab_feature_names[0], ab_feature_names[AB_NFEAT - 1], ab_target_name);
  int c = find_column(x->r, x->m, eq + 1, (size_t)(s + n - eq - 1));
  if (c < 0) return no_such_column(x->r, x->m, "--columns", s, n, e);
  if (x->m->col_of[slot] >= 0 || x->m->slot[c] != UNSET)
    return ab_err_set(e, AB_EUSAGE, "--columns '%.*s': %s", (int)(n < 200 ? n : 200), s,
                      x->m->col_of[slot] >= 0 ? "that role is given twice"
                                              : "that column is given two roles (or ignored)");
  return assign(x->m, c, slot, BY_FLAG);
}

static int by_name(ab_csv_reader *r, colmap *m, ab_err *e) {
  for (int c = 0; c < m->ncols; c++) {
    int slot = m->slot[c] == UNSET ? slot_of(m->key[c]) : -1;
    if (slot < 0) continue;
    int other = m->col_of[slot];
    if (other >= 0 && m->how[other] == BY_FLAG) continue; /* --columns wins: an extra column */
    if (other >= 0) {
      char name[48];
      csv_printable(name, r->field[c].s, r->field[c].n);
      return ab_err_set(e, AB_EINPUT, "%s:%llu:%u: column '%s' appears twice (columns %d and "
                        "%d both mean %s); --ignore one of them", r->name,
                        (unsigned long long)r->rec_line + r->field[c].line, r->field[c].col, name,
                        other + 1, c + 1, slot_name(slot));
    }
    assign(m, c, slot, BY_NAME);
  }
  return AB_OK;
}

/* Columns by position among the columns not ignored, when there are 11 or 12 of those and
 * every column already mapped sits at its own place. */
static void by_position(ab_csv_reader *r, colmap *m) {
  int rank[CSV_MAX_FIELDS], k = 0, unset = 0;
  for (int c = 0; c < m->ncols; c++) rank[c] = m->slot[c] == IGNORED ? -1 : k++;
  if (k != CSV_NROLES && k != CSV_NROLES - 1) return;
  for (int c = 0; c < m->ncols; c++) {
    if (m->slot[c] >= 0 && m->slot[c] != rank[c]) return;
    unset += m->slot[c] == UNSET;
  }
  if (!unset) return;
  char list[900];
  size_t n = 0;
  for (int c = 0; c < m->ncols; c++) {
    if (m->slot[c] != UNSET) continue;
    assign(m, c, rank[c], BY_POSITION);
    char l[64];
    col_label(l, sizeof l, r, m, c);
    if (n + 120 < sizeof list)
      n += (size_t)snprintf(list + n, sizeof list - n, "%scolumn %d %s -> %s", n ? ", " : "",
                            c + 1, l, slot_name(rank[c]));
  }
  if (m->header)
    csv_add_note(r, 1, "%s: column names not recognised, so columns were taken by position: %s "
                 "(--columns ROLE=NAME states them)", r->name, list);
}

static void note_extra(ab_csv_reader *r, const colmap *m) {
  char list[800], names[600];
  size_t n = 0, k = 0;
  int count = 0;
  names[0] = '\0';
  for (int c = 0; c < m->ncols; c++) {
    if (m->slot[c] != UNSET) continue;
    char l[64], p[48];
    col_label(l, sizeof l, r, m, c);
    if (n + 80 < sizeof list)
      n += (size_t)snprintf(list + n, sizeof list - n, "%s%s%s", count ? ", " : "", l,
                            m->header ? "" : "");
    if (m->header) csv_printable(p, r->field[c].s, r->field[c].n);
    else snprintf(p, sizeof p, "%d", c + 1);
    if (k + 50 < sizeof names) k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", count ? "," : "", p);
    count++;
  }
  if (count)
    csv_add_note(r, 0, "%s: ignoring %d column%s that %s not an input: %s (--ignore %s says so "
                 "and silences this)", r->name, count, count > 1 ? "s" : "",
                 count > 1 ? "are" : "is", list, names);
}

/* A required role without a column. Without a header or --columns (or with a header of
 * too few columns, none recognised: not this separator, or not a CSV) the column count is
 * what is wrong. */
static int missing_role(ab_csv_reader *r, const colmap *m, int slot, int any_flag, ab_err *e) {
  int known = any_flag;
  for (int s = 0; s < CSV_NROLES; s++) known |= m->col_of[s] >= 0;
  if ((!m->header && !any_flag) || (!known && m->ncols < CSV_NROLES - 1))
    return ab_err_set(e, AB_EINPUT, "%s:%llu:1: expected 12 %s columns (id, 10 features, "
                      "target) or 11 (without target), found %s%d; other layouts need a header "
                      "line or --columns", r->name, (unsigned long long)r->rec_line,
                      csv_sep_words(r->sep), m->ncols > CSV_MAX_FIELDS ? "more than " : "",
                      m->ncols > CSV_MAX_FIELDS ? CSV_MAX_FIELDS : m->ncols);
  char names[800];
  header_names(names, sizeof names, r, m);
  return ab_err_set(e, AB_EINPUT, "%s:%llu:1: no column for %s (the file's columns: %s); "
                    "expected one, or --columns %s=NAME", r->name, (unsigned long long)r->rec_line,
                    slot_name(slot), names, slot_name(slot));
}

/* Sets the reader's roles from the map. */
static void apply_map(ab_csv_reader *r, const colmap *m) {
  r->ncols = m->ncols;
  for (int c = 0; c < m->ncols; c++) {
    int s = m->slot[c];
    r->role[c] = s < 0 ? ROLE_SKIP : s == 0 ? ROLE_ID : s == CSV_NROLES - 1 ? ROLE_TARGET : s - 1;
  }
  r->id_col = m->col_of[0];
  r->target_col = m->col_of[CSV_NROLES - 1];
  r->has_target = r->target_col >= 0;
  int ok = (m->ncols == CSV_NROLES || m->ncols == CSV_NROLES - 1);
  for (int c = 0; c < m->ncols && ok; c++) ok = m->slot[c] == c;
  r->ordered = ok;
}

static int build_map(ab_csv_reader *r, colmap *m, ab_err *e) {
  map_ctx x = {r, m};
  for (int c = 0; c < m->ncols; c++) m->slot[c] = UNSET, m->how[c] = 0;
  for (int s = 0; s < CSV_NROLES; s++) m->col_of[s] = -1;
  for (int c = 0; c < m->ncols && m->header; c++) name_key(m->key[c], r->field[c].s, r->field[c].n);
  int rc = each_item(r->fmt.ignore, ignore_item, &x, e);
  if (!rc) rc = each_item(r->fmt.columns, columns_item, &x, e);
  int any_flag = 0;
  for (int s = 0; s < CSV_NROLES; s++) any_flag |= m->col_of[s] >= 0;
  if (!rc && m->header) rc = by_name(r, m, e);
  if (rc) return rc;
  by_position(r, m);
  for (int s = 0; s < CSV_NROLES - 1; s++)
    if (m->col_of[s] < 0) return missing_role(r, m, s, any_flag, e);
  note_extra(r, m);
  apply_map(r, m);
  return AB_OK;
}

/* ---- header ---- */

/* A header: more fields that are names than numbers (ids may be text, so the first field
 * alone does not decide). */
static int is_header(const ab_csv_reader *r, int nf) {
  if (r->fmt.header != AB_HEADER_AUTO) return r->fmt.header == AB_HEADER_YES;
  int names = 0, numbers = 0;
  for (int c = 0; c < nf && c < CSV_MAX_FIELDS; c++) {
    const char *s = r->field[c].s, *t = s + r->field[c].n;
    while (s < t && (*s == ' ' || *s == '\t')) s++;
    while (t > s && (t[-1] == ' ' || t[-1] == '\t')) t--;
    double v;
    if (s == t) continue;
    if (ab_num_parse(s, t, r->dec, &v) == AB_NUM_OK) numbers++;
    else names++;
  }
  return names > numbers;
}

/* The first record that is not blank; 0 when the file has none. */
static int first_record(ab_csv_reader *r, char **rec, size_t *n, ab_err *e) {
  int got;
  do {
    if ((got = csv_next_record(r, rec, n, e)) < 0) return got;
  } while (got && *n == 0);
  return got;
}

static int read_layout(ab_csv_reader *r, char *rec, size_t n, ab_err *e) {
  if (!(r->pending = malloc(n + 1))) return ab_err_set(e, AB_ENOMEM, "out of memory");
  memcpy(r->pending, rec, n + 1);
  r->pending_n = n;
  r->pending_line = r->rec_line;
  r->pending_breaks = r->rec_breaks;
  int nf, rc = csv_split(r, rec, n, r->rec_line, &nf, e);
  if (rc) return rc;
  colmap m;
  m.ncols = nf;
  m.header = is_header(r, nf);
  if (nf > CSV_MAX_FIELDS)
    return ab_err_set(e, AB_EINPUT, "%s:%llu:1: more than %d %s columns; expected 12 (id, 10 "
                      "features, target) and maybe a few more", r->name,
                      (unsigned long long)r->rec_line, CSV_MAX_FIELDS, csv_sep_words(r->sep));
  if (!(m.key = malloc((size_t)nf * sizeof *m.key))) return ab_err_set(e, AB_ENOMEM, "out of memory");
  rc = build_map(r, &m, e);
  free(m.key);
  if (!rc && m.header) { free(r->pending); r->pending = NULL; }
  return rc;
}

int csv_detect_layout(ab_csv_reader *r, ab_err *e) {
  int rc = csv_refill(r, e);
  if (!rc) rc = check_encoding(r, e);
  if (rc) return rc;
  detect_format(r);
  char *rec;
  size_t n;
  int got = first_record(r, &rec, &n, e);
  if (got < 0) return -got;
  if (!got) return ab_err_set(e, AB_EINPUT, "%s:1:1: the file is empty; expected customer "
                              "rows of 12 numbers (id, 10 features, target)", r->name);
  return read_layout(r, rec, n, e);
}

/* ---- flag values ---- */

int ab_csv_header_parse(ab_csv_format *f, const char *s) {
  static const char *const names[] = {"auto", "yes", "no"};
  for (int i = 0; i < 3; i++)
    if (strcmp(s, names[i]) == 0) { f->header = (ab_header)i; return 0; }
  return -1;
}

int ab_csv_sep_parse(ab_csv_format *f, const char *s) {
  if (strcmp(s, "auto") == 0) { f->sep = 0; return 0; }
  if (strcmp(s, "tab") == 0 || strcmp(s, "\\t") == 0) { f->sep = '\t'; return 0; }
  if (strlen(s) == 1 && strchr(",;|\t", s[0])) { f->sep = s[0]; return 0; }
  return -1;
}

int ab_csv_decimal_parse(ab_csv_format *f, const char *s) {
  if (strcmp(s, "auto") == 0) { f->decimal = 0; return 0; }
  if (strcmp(s, ".") == 0 || strcmp(s, ",") == 0) { f->decimal = s[0]; return 0; }
  return -1;
}
