/* Streaming CSV reader for customer exports: records and fields (RFC 4180 quoting), the
 * fast paths for plain rows, and the general path that reports every error as
 * FILE:LINE:COL. csv_layout.c decides the format and which column is what. */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "data/csv_int.h"
#include "data/num.h"

/* Valid range of each feature (the export's meaning: minutes, prices, 0/1, 0..10, 0..1);
 * every value must also be finite as a float32. */
static const double feat_lo[AB_NFEAT] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
static const double feat_hi[AB_NFEAT] = {INFINITY, INFINITY, INFINITY, INFINITY, 1, 10, 1,
                                        INFINITY, INFINITY, INFINITY};

static const double pow10_tab[] = {1e0, 1e1, 1e2,  1e3,  1e4,  1e5,  1e6, 1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};

const char *csv_sep_words(char sep) {
  switch (sep) {
    case ';': return "semicolon-separated";
    case '\t': return "tab-separated";
    case '|': return "'|'-separated";
    default: return "comma-separated";
  }
}

void csv_printable(char *dst, const char *s, size_t n) {
  size_t k = 0;
  for (; k < n && k < 40; k++) dst[k] = s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?';
  dst[k] = '\0';
}

void csv_add_note(ab_csv_reader *r, int warning, const char *fmt, ...) {
  if (r->nnotes == CSV_MAX_NOTES) return;
  csv_note *n = &r->note[r->nnotes++];
  n->warning = warning;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(n->msg, sizeof n->msg, fmt, ap);
  va_end(ap);
}

/* ---- records ---- */

int csv_refill(ab_csv_reader *r, ab_err *e) {
  memmove(r->buf, r->buf + r->pos, r->len - r->pos);
  r->len -= r->pos;
  r->pos = 0;
  r->nl_end = 0;
  size_t got = fread(r->buf + r->len, 1, CSV_BUF - r->len, r->f);
  if (got == 0) {
    if (ferror(r->f)) return ab_err_set(e, AB_EIO, "%s: read error", r->name);
    r->eof = 1;
  }
  r->len += got;
  r->buf[r->len] = '\0';
  return AB_OK;
}

static int is_blank(char c, char sep) { return c == ' ' || (c == '\t' && sep != '\t'); }

enum { AT_START, IN_PLAIN, IN_QUOTES, AFTER_QUOTE };

/* The '\n' ending the record at s (a '\n' inside a quoted field does not), or NULL when
 * the bytes up to end do not complete it. A quote opens a quoted field only at the start
 * of a field; elsewhere it is a character. *breaks: '\n's inside quotes; *open: where the
 * last quoted field began, when it is still open at end. */
static char *record_end(char *s, char *end, char sep, uint32_t *breaks, char **open) {
  char *nl = memchr(s, '\n', (size_t)(end - s));
  *breaks = 0;
  *open = NULL;
  if (!memchr(s, '"', (size_t)((nl ? nl : end) - s))) return nl;
  int st = AT_START;
  for (char *p = s; p < end; p++) {
    char c = *p;
    if (st == IN_QUOTES) {
      if (c == '"') st = AFTER_QUOTE;
      else if (c == '\n') ++*breaks;
      continue;
    }
    if (c == '\n') return p;
    if (c == sep) st = AT_START;
    else if (c == '"' && (st == AT_START || st == AFTER_QUOTE)) { /* AFTER_QUOTE: "" */
      if (st == AT_START) *open = p;
      st = IN_QUOTES;
    } else if (!(st == AT_START && is_blank(c, sep))) st = IN_PLAIN;
  }
  if (st != IN_QUOTES) *open = NULL;
  return NULL;
}

/* Line and column of position p of the buffer's record starting at s, which begins on
 * line line0. */
static void locate(const char *s, const char *p, uint64_t line0, uint64_t *line, int *col) {
  const char *ls = s;
  uint64_t l = line0;
  for (const char *q = s; q < p; q++)
    if (*q == '\n') { l++; ls = q + 1; }
  *line = l;
  *col = (int)(p - ls) + 1;
}

static int too_long(ab_csv_reader *r, char *open, ab_err *e) {
  if (!open)
    return ab_err_set(e, AB_EINPUT, "%s:%llu:1: line longer than %d characters; expected one "
                      "customer per line", r->name, (unsigned long long)r->line + 1, CSV_MAX_LINE);
  uint64_t line;
  int col;
  locate(r->buf + r->pos, open, r->line + 1, &line, &col);
  return ab_err_set(e, AB_EINPUT, "%s:%llu:%d: quoted field longer than %d characters; "
                    "expected a closing '\"' for the quote that opens here", r->name,
                    (unsigned long long)line, col, CSV_MAX_LINE);
}

int csv_next_record(ab_csv_reader *r, char **rec, size_t *n, ab_err *e) {
  for (;;) {
    char *start = r->buf + r->pos, *open;
    uint32_t breaks;
    char *nl = record_end(start, r->buf + r->len, r->sep, &breaks, &open);
    if (nl || (r->eof && r->pos < r->len)) {
      size_t k = nl ? (size_t)(nl - start) : r->len - r->pos;
      r->pos += k + (nl ? 1 : 0);
      r->consumed += k + (nl ? 1 : 0);
      r->rec_line = r->line + 1;
      r->rec_breaks = breaks;
      r->line += 1 + breaks;
      if (k > 0 && start[k - 1] == '\r') k--;
      start[k] = '\0';
      *rec = start;
      *n = k;
      return 1;
    }
    if (r->eof) return 0;
    if (r->len - r->pos >= CSV_MAX_LINE) return -too_long(r, open, e);
    int rc = csv_refill(r, e);
    if (rc) return -rc;
  }
}

/* ---- fields ---- */

typedef struct splitter {
  char *rec, *p, *end;
  uint32_t breaks;   /* line breaks passed */
  char *ls;          /* start of the current line */
} splitter;

static int split_error(ab_csv_reader *r, const splitter *s, const char *at, uint64_t line0,
                       const char *what, ab_err *e) {
  uint64_t line;
  int col;
  locate(s->rec, at, line0, &line, &col);
  return ab_err_set(e, AB_EINPUT, "%s:%llu:%d: %s", r->name, (unsigned long long)line, col, what);
}

/* A quoted field from the opening quote at s->p; unescapes "" in place. */
static int quoted_field(ab_csv_reader *r, splitter *s, csv_field *f, uint64_t line0, ab_err *e) {
  char *open = s->p, *q = s->p + 1, *w = q;
  f->s = q;
  for (;; q++) {
    if (q >= s->end)
      return split_error(r, s, open, line0, "unclosed quote; expected a closing '\"' for the "
                         "quoted field that opens here", e);
    if (*q == '\n') { s->breaks++; s->ls = q + 1; }
    if (*q == '"') {
      if (q + 1 < s->end && q[1] == '"') { *w++ = '"'; q++; continue; }
      break;
    }
    *w++ = *q;
  }
  f->n = (size_t)(w - f->s);
  for (q++; q < s->end && is_blank(*q, r->sep); q++) {}
  if (q < s->end && *q != r->sep) {
    char what[128], c[8];
    csv_printable(c, q, 1);
    snprintf(what, sizeof what, "expected a '%s' or the line's end after the closing quote, "
             "found '%s'", r->sep == '\t' ? "\\t" : (char[]){r->sep, 0}, c);
    return split_error(r, s, q, line0, what, e);
  }
  s->p = q;
  return AB_OK;
}

int csv_split(ab_csv_reader *r, char *rec, size_t n, uint64_t line0, int *nf, ab_err *e) {
  splitter s = {rec, rec, rec + n, 0, rec};
  int k = 0;
  for (;;) {
    if (k == CSV_MAX_FIELDS) { *nf = k + 1; return AB_OK; }
    csv_field *f = &r->field[k++];
    while (s.p < s.end && is_blank(*s.p, r->sep)) s.p++;
    f->line = s.breaks;
    f->col = (uint32_t)(s.p - s.ls) + 1;
    f->quoted = s.p < s.end && *s.p == '"';
    if (f->quoted) {
      int rc = quoted_field(r, &s, f, line0, e);
      if (rc) return rc;
    } else {
      char *c = memchr(s.p, r->sep, (size_t)(s.end - s.p)), *t = c ? c : s.end;
      f->s = s.p;
      while (t > s.p && is_blank(t[-1], r->sep)) t--;
      f->n = (size_t)(t - s.p);
      s.p = c ? c : s.end;
    }
    if (s.p >= s.end) break;
    s.p++; /* the separator */
  }
  *nf = k;
  return AB_OK;
}

/* ---- rows: the general path ---- */

static const char *role_name(int role) {
  return role >= 0 ? ab_feature_names[role] : role == ROLE_ID ? ab_id_name : ab_target_name;
}

static int field_error(ab_csv_reader *r, const csv_field *f, uint64_t line0, int c,
                       const char *what, const char *hint, ab_err *e) {
  char found[48];
  csv_printable(found, f->s, f->n);
  return ab_err_set(e, AB_EINPUT, "%s:%llu:%u: %s in column %d (%s), found '%s'%s", r->name,
                    (unsigned long long)(line0 + f->line), f->col, what, c + 1,
                    role_name(r->role[c]), found, hint);
}

/* " (for decimal commas give --decimal ,)" when the field looks like 19,73. */
static const char *comma_hint(const ab_csv_reader *r, const csv_field *f) {
  const char *c = r->dec == '.' ? memchr(f->s, ',', f->n) : NULL;
  double v;
  if (!c || ab_num_parse(f->s, f->s + f->n, ',', &v) != AB_NUM_OK) return "";
  return "; for decimal commas give --decimal ,";
}

static void trim(const char **s, const char **end) {
  while (*s < *end && (**s == ' ' || **s == '\t')) ++*s;
  while (*end > *s && ((*end)[-1] == ' ' || (*end)[-1] == '\t')) --*end;
}

static int parse_feature(ab_csv_reader *r, const csv_field *f, uint64_t line0, int c, float *x,
                         ab_err *e) {
  int j = r->role[c];
  const char *s = f->s, *end = f->s + f->n;
  trim(&s, &end);
  if (s == end) {
    if (r->allow_missing) { x[j] = NAN; return AB_OK; }
    return ab_err_set(e, AB_EINPUT, "%s:%llu:%u: missing value in column %d (%s); use "
                      "--missing mean|median|zero to fill it", r->name,
                      (unsigned long long)(line0 + f->line), f->col, c + 1, ab_feature_names[j]);
  }
  double v;
  int st = ab_num_parse(s, end, r->dec, &v);
  if (st == AB_NUM_SYNTAX) return field_error(r, f, line0, c, "expected a number", comma_hint(r, f), e);
  char what[128];
  if (st == AB_NUM_RANGE || !isfinite((float)v)) {
    snprintf(what, sizeof what, "expected a number of at most %g (the float32 range)", FLT_MAX);
    return field_error(r, f, line0, c, what, "", e);
  }
  if (!(v >= feat_lo[j] && v <= feat_hi[j])) {
    if (isinf(feat_hi[j])) snprintf(what, sizeof what, "expected a number >= %g", feat_lo[j]);
    else snprintf(what, sizeof what, "expected a number in [%g, %g]", feat_lo[j], feat_hi[j]);
    return field_error(r, f, line0, c, what, "", e);
  }
  x[j] = (float)v;
  return AB_OK;
}

static int parse_target(ab_csv_reader *r, const csv_field *f, uint64_t line0, int c, uint8_t *y,
                        ab_err *e) {
  const char *s = f->s, *end = f->s + f->n;
  double v;
  trim(&s, &end);
  if (ab_num_parse(s, end, r->dec, &v) != AB_NUM_OK || (v != 0.0 && v != 1.0))
    return field_error(r, f, line0, c, "expected a target of 0 or 1", "", e);
  if (y) *y = v == 1.0;
  return AB_OK;
}

/* The general path: every field through the splitter and the exact number parser. */
static int parse_row_slow(ab_csv_reader *r, char *rec, size_t n, uint64_t line0, ab_ids *ids,
                          float *x, uint8_t *y, ab_err *e) {
  char *nul = memchr(rec, '\0', n);
  if (nul) {
    uint64_t line;
    int col;
    locate(rec, nul, line0, &line, &col);
    return ab_err_set(e, AB_EINPUT, "%s:%llu:%d: unexpected NUL byte; expected text", r->name,
                      (unsigned long long)line, col);
  }
  int nf, rc = csv_split(r, rec, n, line0, &nf, e);
  if (rc) return rc;
  if (nf != r->ncols)
    return ab_err_set(e, AB_EINPUT, "%s:%llu:1: expected %d %s columns, found %s%d", r->name,
                      (unsigned long long)line0, r->ncols, csv_sep_words(r->sep),
                      nf > CSV_MAX_FIELDS ? "more than " : "", nf > CSV_MAX_FIELDS ? CSV_MAX_FIELDS : nf);
  for (int c = 0; c < nf && !rc; c++) {
    int role = r->role[c];
    const csv_field *f = &r->field[c];
    if (role >= 0) rc = parse_feature(r, f, line0, c, x, e);
    else if (role == ROLE_TARGET) rc = parse_target(r, f, line0, c, y, e);
    else if (role == ROLE_ID && f->n == 0)
      rc = field_error(r, f, line0, c, "expected a customer id", "", e);
  }
  if (rc) return rc;
  const csv_field *f = &r->field[r->id_col];
  return ab_ids_push(ids, f->s, f->n, e);
}

/* ---- rows: the fast paths ---- */

/* Accumulates the decimal digits at p into *m; returns the first non-digit. */
static inline const char *scan_digits(const char *p, uint64_t *m) {
  uint64_t v = *m;
  unsigned d;
  while ((d = (unsigned)(unsigned char)*p - '0') < 10) {
    v = v * 10 + d;
    p++;
  }
  *m = v;
  return p;
}

#define INLINE static inline __attribute__((always_inline))

/* digits[D digits] of 1 to 15 digits (so a mantissa below 2^53 and one exact division: the
 * value ab_num_parse gives), in plain quotes too when `quotes`; NULL for anything else. */
INLINE const char *fast_number(const char *p, char dec, const int quotes, double *out) {
  int q = quotes && *p == '"';
  p += q;
  const char *s = p;
  uint64_t m = 0;
  p = scan_digits(p, &m);
  long nd = p - s, frac = 0;
  if (*p == dec) {
    const char *f = p + 1;
    p = scan_digits(f, &m);
    frac = p - f;
    nd += frac;
  }
  if ((unsigned long)nd - 1 > 14) return NULL; /* no digit, or more than 15 */
  if (quotes && q && *p++ != '"') return NULL;
  double x = (double)(int64_t)m;
  *out = frac ? x / pow10_tab[frac] : x;
  return p;
}

/* Text up to the separator: printable bytes (UTF-8 included), no blank at either end, no
 * quote; or in plain quotes (no "" inside, no line break). NULL for anything else.
 * stop[c]: 1 for the separator, '"' and bytes below 0x20. */
INLINE const char *fast_text(const char *p, const uint8_t *stop, const char **s, size_t *n) {
  if (*p == '"') {
    const char *a = ++p;
    while ((unsigned char)*p >= 0x20 && *p != '"') p++;
    if (*p != '"') return NULL;
    *s = a;
    *n = (size_t)(p - a);
    return p + 1;
  }
  const char *a = p;
  while (!stop[(unsigned char)*p]) p++;
  if (p > a && (*a == ' ' || p[-1] == ' ')) return NULL;
  *s = a;
  *n = (size_t)(p - a);
  return p;
}

typedef struct fast_row {
  double v[CSV_MAX_FIELDS];
  const char *id;
  size_t idn;
} fast_row;

/* The export's own order: id, then ncols - 1 numbers. Returns the position after the last
 * field, where the caller checks for the line's end. */
INLINE const char *fast_ordered(const ab_csv_reader *r, const char *p, fast_row *w,
                                const int quotes) {
  const char sep = r->sep, dec = r->dec;
  const int ncols = r->ncols;
  if (!(p = fast_text(p, r->stop, &w->id, &w->idn)) || w->idn == 0 || *p != sep) return NULL;
  for (int c = 1;;) {
    if (!(p = fast_number(p + 1, dec, quotes, &w->v[c]))) return NULL;
    if (++c == ncols) return p;
    if (*p != sep) return NULL;
  }
}

/* Any column order, skipped columns included. */
static const char *fast_mapped(const ab_csv_reader *r, const char *p, fast_row *w) {
  for (int c = 0;; p++) {
    int role = r->role[c];
    if (role >= 0 || role == ROLE_TARGET) p = fast_number(p, r->dec, 1, &w->v[c]);
    else if (role == ROLE_ID) p = fast_text(p, r->stop, &w->id, &w->idn);
    else {
      const char *s;
      size_t n;
      p = fast_text(p, r->stop, &s, &n);
    }
    if (!p || (role == ROLE_ID && w->idn == 0)) return NULL;
    if (++c == r->ncols) return p;
    if (*p != r->sep) return NULL;
  }
}

/* Stores the row's values by role after the range checks; -1 to take the general path. */
static int store_fast(const ab_csv_reader *r, const fast_row *w, float *x, uint8_t *y) {
  int bad = 0;
  for (int c = 0; c < r->ncols; c++) {
    int role = r->role[c];
    double v = w->v[c];
    if (role >= 0) {
      bad |= v > feat_hi[role]; /* never negative: no sign taken; below 1e18 */
      x[role] = (float)v;
    } else if (role == ROLE_TARGET) {
      bad |= v != 0.0 && v != 1.0;
      if (y) *y = v == 1.0;
    }
  }
  return bad ? -1 : 0;
}

/* The export's order: store_fast without the role lookups. */
static int store_ordered(const ab_csv_reader *r, const fast_row *w, float *x, uint8_t *y) {
  int bad = 0;
  for (int j = 0; j < AB_NFEAT; j++) {
    bad |= w->v[j + 1] > feat_hi[j];
    x[j] = (float)w->v[j + 1];
  }
  if (r->ncols == CSV_NROLES) {
    double t = w->v[CSV_NROLES - 1];
    bad |= t != 0.0 && t != 1.0;
    if (y) *y = t == 1.0;
  }
  return bad ? -1 : 0;
}

/* The fast path for the row at p: parses and stores it and returns the position after its
 * last field, or NULL (nothing stored that counts) to take the general path. */
static inline const char *fast_row_at(const ab_csv_reader *r, const char *p, fast_row *w,
                                      float *x, uint8_t *y) {
  if (r->ordered) {
    p = r->quotes ? fast_ordered(r, p, w, 1) : fast_ordered(r, p, w, 0);
    return p && store_ordered(r, w, x, y) == 0 ? p : NULL;
  }
  p = fast_mapped(r, p, w);
  return p && store_fast(r, w, x, y) == 0 ? p : NULL;
}

/* Appends an id; the common case (room enough) inline. With `ahead` (the id begins a row
 * of the export's order in the buffer: at least 20 more bytes follow it) an id of up to
 * 16 bytes is copied as 16. */
INLINE int put_id(ab_ids *ids, const char *s, size_t n, const int ahead, ab_err *e) {
  if (!ahead || ids->n == ids->ncap || ids->len + 17 > ids->cap || n > 16)
    return ab_ids_push(ids, s, n, e);
  char *d = ids->text + ids->len;
  ids->off[ids->n++] = ids->len;
  memcpy(d, s, 16);
  d[n] = '\0';
  ids->len += n + 1;
  return AB_OK;
}

/* One record: the fast path when it takes the whole record, else the general path. */
static int parse_record(ab_csv_reader *r, char *rec, size_t n, uint64_t line0, ab_ids *ids,
                        float *x, uint8_t *y, ab_err *e) {
  fast_row w;
  if (r->fast && fast_row_at(r, rec, &w, x, y) == rec + n) return ab_ids_push(ids, w.id, w.idn, e);
  return parse_row_slow(r, rec, n, line0, ids, x, y, e);
}

/* Remembers a line skipped before row `row` (a blank line, or a quoted line break of the
 * row before) so that row numbers map back to line numbers. */
static int record_skip(ab_csv_reader *r, uint64_t row, uint32_t k) {
  if (row == 0) return 0; /* before the first row: counted in first_row_line */
  for (; k > 0; k--) {
    if (r->nskip == r->skip_cap) {
      size_t c = r->skip_cap ? 2 * r->skip_cap : 16;
      uint64_t *p = realloc(r->skip_at, c * sizeof *p);
      if (!p) return -1;
      r->skip_at = p;
      r->skip_cap = c;
    }
    r->skip_at[r->nskip++] = row;
  }
  return 0;
}

/* Reads the next line straight from the buffer when it is complete there and takes the
 * fast path: 1 when row `row` was stored, 0 to read it as a record, -code on error. */
static int direct_row(ab_csv_reader *r, ab_ids *ids, float *x, uint8_t *y, uint64_t row,
                      ab_err *e) {
  if (r->pos >= r->nl_end) {
    size_t i = r->len;
    while (i > r->pos && r->buf[i - 1] != '\n') i--; /* the last line is short: a few steps */
    r->nl_end = i > r->pos ? i : 0;
    if (!r->nl_end) return 0;
  }
  fast_row w;
  const char *p = r->buf + r->pos, *q = fast_row_at(r, p, &w, x, y);
  if (!q) return 0;
  q += *q == '\r';
  if (*q != '\n') return 0;
  int rc = r->ordered ? put_id(ids, w.id, w.idn, 1, e) : ab_ids_push(ids, w.id, w.idn, e);
  if (rc) return -rc;
  q++;
  r->pos += (size_t)(q - p);
  r->consumed += (uint64_t)(q - p);
  r->line++;
  if (row == 0) r->first_row_line = r->line;
  return 1;
}

/* The first data record, kept by csv_detect_layout. */
static int pending_row(ab_csv_reader *r, ab_ids *ids, float *x, uint8_t *y, ab_err *e) {
  r->first_row_line = r->pending_line;
  int rc = parse_record(r, r->pending, r->pending_n, r->pending_line, ids, x, y, e);
  if (!rc && record_skip(r, 1, r->pending_breaks)) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  free(r->pending);
  r->pending = NULL;
  return rc;
}

int ab_csv_reader_next(ab_csv_reader *r, ab_ids *ids, float *x, uint8_t *y, size_t cap,
                       size_t *got, ab_err *e) {
  size_t k = 0;
  *got = 0;
  int rc = ab_ids_reserve(ids, cap, cap * 8, e);
  if (rc) return rc;
  if (r->pending && cap > 0) {
    if ((rc = pending_row(r, ids, x, y, e))) return rc;
    k = 1;
  }
  while (k < cap) {
    uint64_t row = r->rows + k;
    int d = r->fast ? direct_row(r, ids, x + k * AB_NFEAT, y ? y + k : NULL, row, e) : 0;
    if (d < 0) return -d;
    if (d) { k++; continue; }
    char *rec;
    size_t n;
    int st = csv_next_record(r, &rec, &n, e);
    if (st < 0) return -st;
    if (st == 0) break;
    if (n == 0) {
      if (record_skip(r, row, 1 + r->rec_breaks)) return ab_err_set(e, AB_ENOMEM, "out of memory");
      continue;
    }
    if (row == 0) r->first_row_line = r->rec_line;
    rc = parse_record(r, rec, n, r->rec_line, ids, x + k * AB_NFEAT, y ? y + k : NULL, e);
    if (!rc && record_skip(r, row + 1, r->rec_breaks)) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
    if (rc) return rc;
    k++;
  }
  r->rows += k;
  *got = k;
  return AB_OK;
}

/* ---- opening and the rest of the API ---- */

int ab_csv_reader_open_stream(ab_csv_reader **out, FILE *f, const char *name,
                              const ab_csv_format *fmt, int allow_missing, ab_err *e) {
  ab_csv_reader *r = calloc(1, sizeof *r);
  if (!r || !(r->buf = malloc(CSV_BUF + 1))) {
    free(r);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  r->name = name;
  r->allow_missing = allow_missing;
  r->f = f;
  if (fmt) r->fmt = *fmt;
  r->buf[0] = '\0';
  int rc = csv_detect_layout(r, e);
  if (rc) { ab_csv_reader_close(r); return rc; }
  *out = r;
  return AB_OK;
}

int ab_csv_reader_open(ab_csv_reader **out, const char *path, const ab_csv_format *fmt,
                       int allow_missing, ab_err *e) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) return ab_err_set(e, AB_EIO, "%s: cannot open: %s", path, strerror(errno));
  int rc = ab_csv_reader_open_stream(out, f, path, fmt, allow_missing, e);
  if (rc) {
    if (f != stdin) fclose(f);
    return rc;
  }
  (*out)->own = f != stdin;
  return AB_OK;
}

void ab_csv_reader_notes(ab_csv_reader *r) {
  for (int i = 0; i < r->nnotes && r->fmt.note; i++)
    r->fmt.note(r->fmt.note_user, r->note[i].warning, r->note[i].msg);
  r->nnotes = 0;
}

uint64_t ab_csv_reader_row_line(const ab_csv_reader *r, uint64_t row) {
  uint64_t line = r->first_row_line + row;
  for (size_t i = 0; i < r->nskip && r->skip_at[i] <= row; i++) line++;
  return line;
}

int ab_csv_reader_has_target(const ab_csv_reader *r) { return r->has_target; }
int ab_csv_reader_target_col(const ab_csv_reader *r) { return r->has_target ? r->target_col + 1 : 0; }
char ab_csv_reader_sep(const ab_csv_reader *r) { return r->sep; }
uint64_t ab_csv_reader_bytes(const ab_csv_reader *r) { return r->consumed; }

uint64_t ab_csv_reader_file_size(const ab_csv_reader *r) {
  struct stat st;
  if (fstat(fileno(r->f), &st) != 0 || !S_ISREG(st.st_mode)) return 0;
  return (uint64_t)st.st_size;
}
uint64_t ab_csv_reader_line(const ab_csv_reader *r) { return r->line; }
const char *ab_csv_reader_name(const ab_csv_reader *r) { return r->name; }

void ab_csv_reader_close(ab_csv_reader *r) {
  if (!r) return;
  if (r->own && r->f) fclose(r->f);
  free(r->pending);
  free(r->skip_at);
  free(r->buf);
  free(r);
}
