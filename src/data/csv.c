/* Streaming CSV reader for customer exports: 11 or 12 numeric columns, optional header,
 * CRLF or LF. Every error names FILE:LINE:COL and what was expected. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "abgpu/table.h"

#define BUF_SIZE (1u << 17) /* 128 KiB: fits L2 and faults in few pages; > MAX_LINE */
#define MAX_LINE 65536
#define MAX_FIELDS 64
#define NCOLS (AB_NFEAT + 2)
#define MAX_ID 9.0e15 /* ids are integers that a double holds exactly */

enum { ROLE_ID = -1, ROLE_TARGET = -2 }; /* roles >= 0 are feature indices */

struct ab_csv_reader {
  FILE *f;
  int own;                  /* fclose on close */
  const char *name;
  char *buf;                /* BUF_SIZE + 1 */
  size_t pos, len;          /* unread bytes are buf[pos, len) */
  size_t nl_end;            /* after the buffer's last '\n' (0: to be found again) */
  int eof;
  uint64_t line, consumed;
  int ncols, has_target, allow_missing;
  int ordered;              /* columns in the export's order: id, 10 features, [target] */
  int role[MAX_FIELDS];     /* file column -> ROLE_ID, ROLE_TARGET or feature index */
  char *pending;            /* first data line, read while detecting the layout */
  size_t pending_n;
  uint64_t pending_line;
  uint64_t first_row_line;  /* line of row 0 */
  uint64_t rows;            /* rows returned so far */
  uint64_t *blank_at;       /* row index before which each blank line was skipped */
  size_t nblank, blank_cap;
};

/* Valid range of each feature (the export's meaning: minutes, prices, 0/1, 0..10, 0..1). */
static const double feat_lo[AB_NFEAT] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
static const double feat_hi[AB_NFEAT] = {INFINITY, INFINITY, INFINITY, INFINITY, 1, 10, 1,
                                        INFINITY, INFINITY, INFINITY};

/* Next line without its end ("\n" or "\r\n"), NUL-terminated in place. 0 at EOF. */
static int next_line(ab_csv_reader *r, char **line, size_t *n, ab_err *e) {
  for (;;) {
    char *start = r->buf + r->pos, *nl = memchr(start, '\n', r->len - r->pos);
    if (nl || (r->eof && r->pos < r->len)) {
      size_t k = nl ? (size_t)(nl - start) : r->len - r->pos;
      r->pos += k + (nl ? 1 : 0);
      r->consumed += k + (nl ? 1 : 0);
      r->line++;
      if (k > 0 && start[k - 1] == '\r') k--;
      start[k] = '\0';
      *line = start;
      *n = k;
      return 1;
    }
    if (r->eof) return 0;
    if (r->len - r->pos >= MAX_LINE)
      return -ab_err_set(e, AB_EINPUT, "%s:%llu:1: line longer than %d characters; "
                         "expected one customer per line", r->name,
                         (unsigned long long)r->line + 1, MAX_LINE);
    memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
    r->nl_end = 0;
    size_t got = fread(r->buf + r->len, 1, BUF_SIZE - r->len, r->f);
    if (got == 0) {
      if (ferror(r->f)) return -ab_err_set(e, AB_EIO, "%s: read error", r->name);
      r->eof = 1;
    }
    r->len += got;
    r->buf[r->len] = '\0';
  }
}

static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Parses a decimal number [+-]digits[.digits][(e|E)[+-]digits] spanning [p, end).
 * Returns 0 on success. No NaN, no Inf, no hex. */
static int parse_num(const char *p, const char *end, double *out) {
  int neg = 0, nd = 0, exp10 = 0;
  uint64_t mant = 0;
  if (p < end && (*p == '-' || *p == '+')) neg = *p++ == '-';
  const char *digits = p;
  for (; p < end && (unsigned)(*p - '0') < 10; p++, nd++)
    if (nd < 19) mant = mant * 10 + (uint64_t)(*p - '0'); else exp10++;
  if (p < end && *p == '.') {
    for (p++; p < end && (unsigned)(*p - '0') < 10; p++, nd++)
      if (nd < 19) { mant = mant * 10 + (uint64_t)(*p - '0'); exp10--; }
  }
  if (nd == 0 || (p - digits == 1 && *digits == '.')) return -1;
  if (p < end && (*p == 'e' || *p == 'E')) {
    int eneg = 0, ev = 0, ed = 0;
    if (++p < end && (*p == '-' || *p == '+')) eneg = *p++ == '-';
    for (; p < end && (unsigned)(*p - '0') < 10; p++, ed++) if (ev < 10000) ev = ev * 10 + (*p - '0');
    if (ed == 0) return -1;
    exp10 += eneg ? -ev : ev;
  }
  if (p != end) return -1;
  double v = (double)mant;
  if (exp10 < 0) v = exp10 >= -22 ? v / pow10_tab[-exp10] : v * pow(10.0, exp10);
  else if (exp10 > 0) v = exp10 <= 22 ? v * pow10_tab[exp10] : v * pow(10.0, exp10);
  if (!isfinite(v)) return -1;
  *out = neg ? -v : v;
  return 0;
}

/* Splits line into fields: start offsets and ends, trimming blanks. */
static int split_fields(char *line, size_t n, char **fs, char **fe) {
  int nf = 0;
  char *p = line, *end = line + n;
  for (;;) {
    char *c = memchr(p, ',', (size_t)(end - p));
    char *q = c ? c : end, *s = p;
    if (nf == MAX_FIELDS) return MAX_FIELDS + 1;
    while (s < q && (*s == ' ' || *s == '\t')) s++;
    while (q > s && (q[-1] == ' ' || q[-1] == '\t')) q--;
    fs[nf] = s; fe[nf] = q; nf++;
    if (!c) return nf;
    p = c + 1;
  }
}

/* Lower-case alphanumerics only: "Book_length(mins)_overall" -> "booklengthminsoverall". */
static void normalize(char *dst, size_t cap, const char *s, const char *end) {
  size_t k = 0;
  for (; s < end && k + 1 < cap; s++) {
    char c = *s;
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) dst[k++] = c;
  }
  dst[k] = '\0';
}

/* Accepted header names per role, normalised. Index 0 = id, 1..10 features, 11 target. */
static const char *const aliases[NCOLS][4] = {
    {"id", "customerid", "customer", NULL},
    {"booklengthoverall", "booklengthminsoverall", "bookminutesoverall", NULL},
    {"booklengthavg", "booklengthminsavg", "bookminutesavg", "bookminutesaverage"},
    {"priceoverall", NULL},
    {"priceavg", "priceaverage", NULL},
    {"review", NULL},
    {"review10", "review1010", "reviewscore", "reviewoutof10"},
    {"completion", NULL},
    {"minuteslistened", NULL},
    {"supportrequests", "supportrequest", NULL},
    {"lastvisitedminuspurchase", "lastvisitedminuspurchasedate", "dayssincepurchase", NULL},
    {"targets", "target", NULL},
};

static int role_of(const char *norm) {
  for (int c = 0; c < NCOLS; c++)
    for (int a = 0; a < 4 && aliases[c][a]; a++)
      if (strcmp(norm, aliases[c][a]) == 0) return c == 0 ? ROLE_ID : c == NCOLS - 1 ? ROLE_TARGET : c - 1;
  return -100;
}

/* Up to 40 bytes of a field for a message, non-printable bytes shown as '?'. */
static void printable(char *dst, const char *s, const char *end) {
  int k = 0;
  for (; s < end && k < 40; s++) dst[k++] = *s >= 0x20 && *s < 0x7f ? *s : '?';
  dst[k] = '\0';
}

static int header_error(ab_csv_reader *r, const char *line, const char *s, const char *end,
                        const char *fmt, ab_err *e) {
  char name[48];
  printable(name, s, end);
  char what[160];
  snprintf(what, sizeof what, fmt, name);
  return ab_err_set(e, AB_EINPUT, "%s:%llu:%d: %s", r->name, (unsigned long long)r->line,
                    (int)(s - line) + 1, what);
}

static int read_header(ab_csv_reader *r, char **fs, char **fe, int nf, const char *line,
                       ab_err *e) {
  int seen[NCOLS] = {0};
  for (int i = 0; i < nf; i++) {
    char norm[128];
    normalize(norm, sizeof norm, fs[i], fe[i]);
    int role = role_of(norm), slot = role == ROLE_ID ? 0 : role == ROLE_TARGET ? NCOLS - 1 : role + 1;
    if (role == -100)
      return header_error(r, line, fs[i], fe[i], "unknown column '%s'; expected the columns id, "
                          "book_length_overall, ..., last_visited_minus_purchase, targets", e);
    if (seen[slot]++) return header_error(r, line, fs[i], fe[i], "column '%s' appears twice", e);
    r->role[i] = role;
  }
  for (int c = 0; c < NCOLS - 1; c++)
    if (!seen[c])
      return ab_err_set(e, AB_EINPUT, "%s:%llu:1: the header has no column '%s'", r->name,
                        (unsigned long long)r->line, c == 0 ? ab_id_name : ab_feature_names[c - 1]);
  r->ncols = nf;
  r->has_target = seen[NCOLS - 1];
  return AB_OK;
}

static int set_layout(ab_csv_reader *r, int nf, ab_err *e) {
  if (nf != NCOLS && nf != NCOLS - 1)
    return ab_err_set(e, AB_EINPUT, "%s:%llu:1: expected 12 comma-separated columns (id, 10 "
                      "features, target) or 11 (without target), found %s%d", r->name,
                      (unsigned long long)r->line, nf > MAX_FIELDS ? "more than " : "",
                      nf > MAX_FIELDS ? MAX_FIELDS : nf);
  r->ncols = nf;
  r->has_target = nf == NCOLS;
  r->role[0] = ROLE_ID;
  for (int j = 0; j < AB_NFEAT; j++) r->role[j + 1] = j;
  if (r->has_target) r->role[NCOLS - 1] = ROLE_TARGET;
  return AB_OK;
}

static int is_ordered(const ab_csv_reader *r) {
  int ok = r->role[0] == ROLE_ID && (r->ncols == NCOLS - 1 || r->role[NCOLS - 1] == ROLE_TARGET);
  for (int j = 0; j < AB_NFEAT; j++) ok &= r->role[j + 1] == j;
  return ok;
}

/* Reads the first non-blank line: a header (first field not a number), or data, which is
 * kept in r->pending to be parsed as the first row. */
static int detect_layout(ab_csv_reader *r, ab_err *e) {
  char *line, *fs[MAX_FIELDS], *fe[MAX_FIELDS];
  size_t n;
  int got;
  do {
    if ((got = next_line(r, &line, &n, e)) < 0) return -got;
  } while (got && n == 0);
  if (!got) return ab_err_set(e, AB_EINPUT, "%s:1:1: the file is empty; expected customer "
                              "rows of 12 numbers (id, 10 features, target)", r->name);
  if (n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
    return ab_err_set(e, AB_EINPUT, "%s:%llu:1: the file starts with a UTF-8 byte-order mark; "
                      "expected plain comma-separated numbers (save it without BOM)", r->name,
                      (unsigned long long)r->line);
  if (!(r->pending = malloc(n + 1))) return ab_err_set(e, AB_ENOMEM, "out of memory");
  memcpy(r->pending, line, n + 1);
  r->pending_n = n;
  r->pending_line = r->line;
  char *copy = r->pending;
  int nf = split_fields(copy, n, fs, fe);
  double v;
  int header = nf > 1 && nf <= MAX_FIELDS && parse_num(fs[0], fe[0], &v) != 0;
  int rc = header ? read_header(r, fs, fe, nf, copy, e) : set_layout(r, nf, e);
  r->ordered = !rc && is_ordered(r);
  if (header || rc) { free(r->pending); r->pending = NULL; }
  return rc;
}

static int field_error(ab_csv_reader *r, const char *line, const char *s, const char *end,
                       int col, const char *what, ab_err *e) {
  int role = r->role[col];
  const char *name = role >= 0 && role < AB_NFEAT ? ab_feature_names[role]
                     : role == ROLE_ID ? ab_id_name : ab_target_name;
  char found[48];
  printable(found, s, end);
  return ab_err_set(e, AB_EINPUT, "%s:%llu:%d: %s in column %d (%s), found '%s'", r->name,
                    (unsigned long long)r->line, (int)(s - line) + 1, what, col + 1, name, found);
}

static int parse_feature(ab_csv_reader *r, const char *line, char *s, char *end, int col,
                         float *x, ab_err *e) {
  int j = r->role[col];
  double v;
  if (s == end) {
    if (r->allow_missing) { x[j] = NAN; return AB_OK; }
    return ab_err_set(e, AB_EINPUT, "%s:%llu:%d: missing value in column %d (%s); "
                      "use --missing mean|median|zero to fill it", r->name,
                      (unsigned long long)r->line, (int)(s - line) + 1, col + 1, ab_feature_names[j]);
  }
  if (parse_num(s, end, &v)) return field_error(r, line, s, end, col, "expected a number", e);
  if (v < feat_lo[j] || v > feat_hi[j]) {
    char what[96];
    snprintf(what, sizeof what, "expected a number in [%g, %g]", feat_lo[j], feat_hi[j]);
    return field_error(r, line, s, end, col, what, e);
  }
  x[j] = (float)v;
  return AB_OK;
}

static int parse_id_target(ab_csv_reader *r, const char *line, char *s, char *end, int col,
                           int64_t *id, uint8_t *y, ab_err *e) {
  double v;
  if (parse_num(s, end, &v)) {
    const char *what = r->role[col] == ROLE_ID ? "expected a customer id (an integer)"
                                                : "expected a target of 0 or 1";
    return field_error(r, line, s, end, col, what, e);
  }
  if (r->role[col] == ROLE_ID) {
    if (v != floor(v) || fabs(v) > MAX_ID)
      return field_error(r, line, s, end, col, "expected a customer id (an integer)", e);
    *id = (int64_t)v;
    return AB_OK;
  }
  if (v != 0.0 && v != 1.0) return field_error(r, line, s, end, col, "expected a target of 0 or 1", e);
  if (y) *y = (uint8_t)v;
  return AB_OK;
}

/* The general path: trims blanks and quotes, accepts exponents, reports every error. */
static int parse_row_slow(ab_csv_reader *r, char *line, size_t n, int64_t *id, float *x,
                          uint8_t *y, ab_err *e) {
  char *fs[MAX_FIELDS], *fe[MAX_FIELDS];
  if (memchr(line, '\0', n))
    return ab_err_set(e, AB_EINPUT, "%s:%llu:%d: unexpected NUL byte; expected text", r->name,
                      (unsigned long long)r->line, (int)((char *)memchr(line, '\0', n) - line) + 1);
  int nf = split_fields(line, n, fs, fe);
  if (nf != r->ncols)
    return ab_err_set(e, AB_EINPUT, "%s:%llu:1: expected %d comma-separated columns, found %s%d",
                      r->name, (unsigned long long)r->line, r->ncols,
                      nf > MAX_FIELDS ? "more than " : "", nf > MAX_FIELDS ? MAX_FIELDS : nf);
  for (int c = 0; c < nf; c++) {
    int rc = r->role[c] >= 0 ? parse_feature(r, line, fs[c], fe[c], c, x, e)
                             : parse_id_target(r, line, fs[c], fe[c], c, id, y, e);
    if (rc) return rc;
  }
  return AB_OK;
}

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

/* Stores one row's values by column role, checking each column's range. */
static int store_row(const ab_csv_reader *r, const double *v, int64_t *id, float *x, uint8_t *y) {
  int bad = 0;
  for (int c = 0; c < r->ncols; c++) {
    int role = r->role[c];
    if (role >= 0) {
      bad |= !(v[c] >= feat_lo[role] && v[c] <= feat_hi[role]);
      x[role] = (float)v[c];
    } else if (role == ROLE_ID) {
      bad |= v[c] != floor(v[c]) || fabs(v[c]) > MAX_ID;
      *id = (int64_t)v[c];
    } else {
      bad |= v[c] != 0.0 && v[c] != 1.0;
      if (y) *y = (uint8_t)v[c];
    }
  }
  return bad ? -1 : 0;
}

/* store_row for the export's own column order (id, features, [target]) and the values of
 * fast_fields: never negative (it takes no sign), below 1e18, so only the upper bounds and
 * the id's fraction need checking. */
static int store_row_ordered(int ncols, const double *v, int64_t *id, float *x, uint8_t *y) {
  int bad = v[0] > MAX_ID || (double)(int64_t)v[0] != v[0];
  for (int j = 0; j < AB_NFEAT; j++) {
    bad |= v[j + 1] > feat_hi[j];
    x[j] = (float)v[j + 1];
  }
  *id = (int64_t)v[0];
  if (ncols == NCOLS) {
    bad |= v[NCOLS - 1] != 0.0 && v[NCOLS - 1] != 1.0;
    if (y) *y = (uint8_t)v[NCOLS - 1];
  }
  return bad ? -1 : 0;
}

/* The fast path for a row: ncols fields, each digits[.digits] of 1 to 18 digits (no sign,
 * no blank), separated by commas. Values are computed as parse_num computes them
 * (mantissa / 10^frac in double). Returns the position after the last field, where the
 * caller checks for the line's end, or NULL when a field does not take this path (the
 * general parser then reads the line and reports what is wrong). */
static inline const char *fast_fields(const char *p, int ncols, double *v) {
  for (int c = 0;; p++) {
    const char *s = p;
    uint64_t m = 0;
    p = scan_digits(p, &m);
    long nd = p - s, frac = 0;
    if (*p == '.') {
      const char *f = p + 1;
      p = scan_digits(f, &m);
      frac = p - f;
      nd += frac;
    }
    if ((unsigned long)nd - 1 > 17) return NULL; /* no digit, or more than 18 */
    double x = (double)(int64_t)m;               /* m < 1e18 */
    v[c] = frac ? x / pow10_tab[frac] : x;
    if (++c == ncols) return p;
    if (*p != ',') return NULL;
  }
}

static int store_fast(const ab_csv_reader *r, const double *v, int64_t *id, float *x,
                      uint8_t *y) {
  return r->ordered ? store_row_ordered(r->ncols, v, id, x, y) : store_row(r, v, id, x, y);
}

/* One pass over a NUL-terminated line; 0 on success, -1 to fall back. */
static int parse_row_fast(const ab_csv_reader *r, const char *p, const char *end, int64_t *id,
                          float *x, uint8_t *y) {
  double v[MAX_FIELDS];
  p = fast_fields(p, r->ncols, v);
  if (p != end) return -1; /* also a NUL or '\r' inside the line, which stops short of end */
  return store_fast(r, v, id, x, y);
}

/* The fast path straight from the buffer, for a line that ends before r->nl_end: on
 * success stores the row and returns the position after its "\n" or "\r\n"; NULL to
 * take the line through next_line and parse_row instead. */
static const char *parse_row_direct(const ab_csv_reader *r, const char *p, int64_t *id,
                                    float *x, uint8_t *y) {
  double v[MAX_FIELDS];
  if (!(p = fast_fields(p, r->ncols, v))) return NULL;
  p += *p == '\r';
  if (*p != '\n' || store_fast(r, v, id, x, y)) return NULL;
  return p + 1;
}

static int parse_row(ab_csv_reader *r, char *line, size_t n, int64_t *id, float *x, uint8_t *y,
                     ab_err *e) {
  if (parse_row_fast(r, line, line + n, id, x, y) == 0) return AB_OK;
  return parse_row_slow(r, line, n, id, x, y, e);
}

int ab_csv_reader_open_stream(ab_csv_reader **out, FILE *f, const char *name, int allow_missing,
                              ab_err *e) {
  ab_csv_reader *r = calloc(1, sizeof *r);
  if (!r || !(r->buf = malloc(BUF_SIZE + 1))) {
    free(r);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  r->name = name;
  r->allow_missing = allow_missing;
  r->f = f;
  int rc = detect_layout(r, e);
  if (rc) { ab_csv_reader_close(r); return rc; }
  *out = r;
  return AB_OK;
}

int ab_csv_reader_open(ab_csv_reader **out, const char *path, int allow_missing, ab_err *e) {
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) return ab_err_set(e, AB_EIO, "%s: cannot open: %s", path, strerror(errno));
  int rc = ab_csv_reader_open_stream(out, f, path, allow_missing, e);
  if (rc) {
    if (f != stdin) fclose(f);
    return rc;
  }
  (*out)->own = f != stdin;
  return AB_OK;
}

/* Reads the next line straight from the buffer when it is complete there and takes the
 * fast path: 1 when row `row` was stored, 0 to read it through next_line. */
static int direct_row(ab_csv_reader *r, int64_t *id, float *x, uint8_t *y, uint64_t row) {
  if (r->pos >= r->nl_end) {
    size_t i = r->len;
    while (i > r->pos && r->buf[i - 1] != '\n') i--; /* the last line is short: a few steps */
    r->nl_end = i > r->pos ? i : 0;
    if (!r->nl_end) return 0;
  }
  const char *p = r->buf + r->pos, *next = parse_row_direct(r, p, id, x, y);
  if (!next) return 0;
  r->pos += (size_t)(next - p);
  r->consumed += (uint64_t)(next - p);
  r->line++;
  if (row == 0) r->first_row_line = r->line;
  return 1;
}

/* Remembers a skipped blank line so that row numbers map back to line numbers. */
static int record_blank(ab_csv_reader *r, uint64_t row) {
  if (row == 0) return 0; /* before the first row: counted in first_row_line */
  if (r->nblank == r->blank_cap) {
    size_t c = r->blank_cap ? 2 * r->blank_cap : 16;
    uint64_t *p = realloc(r->blank_at, c * sizeof *p);
    if (!p) return -1;
    r->blank_at = p;
    r->blank_cap = c;
  }
  r->blank_at[r->nblank++] = row;
  return 0;
}

int ab_csv_reader_next(ab_csv_reader *r, int64_t *id, float *x, uint8_t *y, size_t cap,
                       size_t *got, ab_err *e) {
  size_t k = 0;
  if (r->pending && cap > 0) {
    uint64_t save = r->line;
    r->line = r->first_row_line = r->pending_line;
    int rc = parse_row(r, r->pending, r->pending_n, id, x, y, e);
    r->line = save;
    free(r->pending);
    r->pending = NULL;
    if (rc) return rc;
    k = 1;
  }
  while (k < cap) {
    if (direct_row(r, id + k, x + k * AB_NFEAT, y ? y + k : NULL, r->rows + k)) {
      k++;
      continue;
    }
    char *line;
    size_t n;
    int st = next_line(r, &line, &n, e);
    if (st < 0) return -st;
    if (st == 0) break;
    if (n == 0) {
      if (record_blank(r, r->rows + k)) return ab_err_set(e, AB_ENOMEM, "out of memory");
      continue;
    }
    if (r->rows + k == 0) r->first_row_line = r->line;
    int rc = parse_row(r, line, n, id + k, x + k * AB_NFEAT, y ? y + k : NULL, e);
    if (rc) return rc;
    k++;
  }
  r->rows += k;
  *got = k;
  return AB_OK;
}

uint64_t ab_csv_reader_row_line(const ab_csv_reader *r, uint64_t row) {
  uint64_t line = r->first_row_line + row;
  for (size_t i = 0; i < r->nblank && r->blank_at[i] <= row; i++) line++;
  return line;
}

int ab_csv_reader_has_target(const ab_csv_reader *r) { return r->has_target; }
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
  free(r->blank_at);
  free(r->buf);
  free(r);
}
