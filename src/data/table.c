/* The customer table: allocation, whole-file loading with checks, missing-value filling
 * and atomic CSV writing. The --data resolver (file or synth:N) is source.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "abgpu/table.h"

const char *const ab_feature_names[AB_NFEAT] = {
    "book_length_overall", "book_length_avg",  "price_overall",    "price_avg",
    "review",              "review_10",        "completion",       "minutes_listened",
    "support_requests",    "last_visited_minus_purchase"};
static const char *const feature_labels[AB_NFEAT] = {
    "Book length (min, total)", "Book length (min, average)", "Price (total)",
    "Price (average)",          "Left a review",              "Review score (of 10)",
    "Completion (share listened)", "Minutes listened",        "Support requests",
    "Days to last visit"};

const char *ab_feature_label(const char *name) {
  for (int j = 0; j < AB_NFEAT; j++)
    if (strcmp(name, ab_feature_names[j]) == 0) return feature_labels[j];
  return name;
}

const char *const ab_id_name = "id";
const char *const ab_target_name = "targets";

static const char *const missing_names[] = {"error", "mean", "median", "zero"};

int ab_missing_parse(ab_missing *out, const char *s) {
  for (int i = 0; i < 4; i++)
    if (strcmp(s, missing_names[i]) == 0) { *out = (ab_missing)i; return 0; }
  return -1;
}

const char *ab_missing_name(ab_missing m) { return (unsigned)m < 4 ? missing_names[m] : "?"; }

ab_csv_opts ab_csv_opts_default(void) {
  ab_csv_opts o;
  memset(&o, 0, sizeof o);
  o.missing = AB_MISSING_ERROR;
  o.require_target = o.check_classes = o.check_ids = 1;
  return o;
}

int ab_table_alloc(ab_table *t, size_t n, int with_target, ab_err *e) {
  memset(t, 0, sizeof *t);
  size_t m = n ? n : 1;
  t->x = malloc(m * AB_NFEAT * sizeof *t->x);
  t->y = with_target ? malloc(m) : NULL;
  if (!t->x || (with_target && !t->y)) {
    ab_table_free(t);
    return ab_err_set(e, AB_ENOMEM, "out of memory for %zu customers", n);
  }
  int rc = ab_ids_number(&t->ids, 1, n, e);
  if (rc) {
    ab_table_free(t);
    return rc;
  }
  t->n = n;
  return AB_OK;
}

void ab_table_free(ab_table *t) {
  ab_ids_free(&t->ids);
  free(t->x);
  free(t->y);
  memset(t, 0, sizeof *t);
}

/* Resizes the table's arrays to nc rows (t->n rows are kept). */
static int table_resize(ab_table *t, size_t nc, ab_err *e) {
  if (nc == 0) nc = 1;
  float *x = realloc(t->x, nc * AB_NFEAT * sizeof *x);
  if (x) t->x = x;
  uint8_t *y = x && t->y ? realloc(t->y, nc) : NULL;
  if (y) t->y = y;
  if (!x || (t->y && !y)) return ab_err_set(e, AB_ENOMEM, "out of memory at %zu rows", t->n);
  return AB_OK;
}

/* Next capacity: after the first chunk, the file's size over the bytes per row so far
 * (plus 5%), so a large file is allocated about once instead of doubling twice its size. */
static size_t next_cap(const ab_table *t, ab_csv_reader *r, size_t cap) {
  uint64_t size = ab_csv_reader_file_size(r), used = ab_csv_reader_bytes(r);
  if (t->n > 0 && size > used) {
    size_t want = t->n + (size_t)((double)(size - used) / ((double)used / (double)t->n) * 1.05) + 4096;
    if (want > cap) return want;
  }
  return cap ? cap * 2 : 16384;
}

static int check_ids(const ab_table *t, ab_csv_reader *r, ab_err *e) {
  size_t first, second;
  int d = ab_ids_find_duplicate(&t->ids, &first, &second);
  if (d < 0) return ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!d) return AB_OK;
  char id[48];
  const char *s = ab_ids_get(&t->ids, second);
  size_t k = 0;
  for (; s[k] && k < 40; k++) id[k] = s[k] >= 0x20 && s[k] < 0x7f ? s[k] : '?';
  id[k] = '\0';
  return ab_err_set(e, AB_EINPUT, "%s:%llu:1: duplicate customer id %s (first on line %llu); "
                    "expected every id once", ab_csv_reader_name(r),
                    (unsigned long long)ab_csv_reader_row_line(r, second), id,
                    (unsigned long long)ab_csv_reader_row_line(r, first));
}

static int read_rows(ab_table *t, ab_csv_reader *r, const ab_csv_opts *o, ab_err *e) {
  size_t cap = 0, got = 0;
  int rc = AB_OK;
  do {
    if (t->n + 4096 > cap) {
      cap = next_cap(t, r, cap);
      if ((rc = table_resize(t, cap, e))) break;
    }
    rc = ab_csv_reader_next(r, &t->ids, t->x + t->n * AB_NFEAT, t->y ? t->y + t->n : NULL,
                            4096, &got, e);
    t->n += got;
  } while (!rc && got > 0);
  if (!rc && cap > t->n + 4096) rc = table_resize(t, t->n, e); /* give back the slack */
  return rc || !o->check_ids ? rc : check_ids(t, r, e);
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Median of feature j's present values (sorts a copy of the column). */
static int column_median(float *out, const ab_table *t, int j, ab_err *e) {
  float *v = malloc((t->n ? t->n : 1) * sizeof *v);
  if (!v) return ab_err_set(e, AB_ENOMEM, "out of memory");
  size_t k = 0;
  for (size_t i = 0; i < t->n; i++)
    if (!isnan(t->x[i * AB_NFEAT + j])) v[k++] = t->x[i * AB_NFEAT + j];
  qsort(v, k, sizeof *v, cmp_float);
  *out = k == 0 ? 0.0f : k % 2 ? v[k / 2] : 0.5f * (v[k / 2 - 1] + v[k / 2]);
  free(v);
  return AB_OK;
}

/* Counts missing fields and computes the fill values (kept for scoring later even when
 * nothing is missing here), then fills. One row-major pass for counts and sums; none
 * under --missing error (fill values 0), where the reader let no empty field through. */
static int fill_missing(ab_table *t, ab_missing m, ab_err *e) {
  double sum[AB_NFEAT] = {0};
  t->missing = m;
  memset(t->nmissing, 0, sizeof t->nmissing);
  memset(t->fill, 0, sizeof t->fill);
  if (m == AB_MISSING_ERROR) return AB_OK; /* the reader refused every empty field */
  for (size_t i = 0; i < t->n; i++)
    for (int j = 0; j < AB_NFEAT; j++) {
      float x = t->x[i * AB_NFEAT + j];
      if (isnan(x)) t->nmissing[j]++;
      else sum[j] += x;
    }
  for (int j = 0; j < AB_NFEAT; j++) {
    size_t k = t->n - t->nmissing[j];
    t->fill[j] = m == AB_MISSING_MEAN && k ? (float)(sum[j] / (double)k) : 0.0f;
    if (m == AB_MISSING_MEDIAN) {
      int rc = column_median(&t->fill[j], t, j, e);
      if (rc) return rc;
    }
    if (!t->nmissing[j]) continue;
    for (size_t i = 0; i < t->n; i++)
      if (isnan(t->x[i * AB_NFEAT + j])) t->x[i * AB_NFEAT + j] = t->fill[j];
  }
  return AB_OK;
}

static int check_classes(const ab_table *t, ab_csv_reader *r, ab_err *e) {
  size_t pos = 0;
  for (size_t i = 0; i < t->n; i++) pos += t->y[i];
  if (pos == 0 || pos == t->n)
    return ab_err_set(e, AB_EINPUT, "%s:%llu:1: all %zu targets in column %d (%s) are %d; "
                      "training needs customers of both classes (0 and 1)", ab_csv_reader_name(r),
                      (unsigned long long)ab_csv_reader_line(r), t->n,
                      ab_csv_reader_target_col(r), ab_target_name, pos ? 1 : 0);
  return AB_OK;
}

static int read_table(ab_table *t, ab_csv_reader *r, const ab_csv_opts *o, ab_err *e) {
  int has_target = ab_csv_reader_has_target(r);
  if (o->require_target && !has_target)
    return ab_err_set(e, AB_EINPUT, "%s:1:1: the file has no target column; expected 12 "
                      "columns (id, 10 features, target) for training or evaluation",
                      ab_csv_reader_name(r));
  if (has_target && !(t->y = malloc(1))) return ab_err_set(e, AB_ENOMEM, "out of memory");
  int rc = read_rows(t, r, o, e);
  if (!rc && t->n == 0)
    rc = ab_err_set(e, AB_EINPUT, "%s:%llu:1: the file has a header but no customer rows",
                    ab_csv_reader_name(r), (unsigned long long)ab_csv_reader_line(r));
  if (!rc) rc = fill_missing(t, o->missing, e);
  if (!rc && o->check_classes && t->y) rc = check_classes(t, r, e);
  if (!rc) ab_csv_reader_notes(r);
  return rc;
}

static int read_from(ab_table *t, ab_csv_reader *r, const ab_csv_opts *o, ab_err *e) {
  int rc = read_table(t, r, o, e);
  ab_csv_reader_close(r);
  if (rc) ab_table_free(t);
  return rc;
}

int ab_csv_read_stream(ab_table *t, FILE *f, const char *name, const ab_csv_opts *o, ab_err *e) {
  memset(t, 0, sizeof *t);
  ab_csv_reader *r;
  int rc = ab_csv_reader_open_stream(&r, f, name, &o->fmt, o->missing != AB_MISSING_ERROR, e);
  return rc ? rc : read_from(t, r, o, e);
}

int ab_csv_read(ab_table *t, const char *path, const ab_csv_opts *o, ab_err *e) {
  memset(t, 0, sizeof *t);
  ab_csv_reader *r;
  int rc = ab_csv_reader_open(&r, path, &o->fmt, o->missing != AB_MISSING_ERROR, e);
  return rc ? rc : read_from(t, r, o, e);
}

/* Writes a number compactly: integers without decimals, others with up to 6 significant
 * decimals (%.9g would show float noise; features are float32). */
static int put_num(char *dst, double v) {
  if (v == floor(v) && fabs(v) < 1e15) return sprintf(dst, "%.0f", v);
  return sprintf(dst, "%.7g", v);
}

int ab_csv_put_field(FILE *f, const char *s) {
  if (!s[strcspn(s, ",\"\r\n")] && s[0] != ' ' && (!*s || s[strlen(s) - 1] != ' '))
    return fputs(s, f) < 0 ? -1 : 0;
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  return fputc('"', f) == EOF ? -1 : 0;
}

int ab_table_write_csv(const ab_table *t, const char *path, ab_err *e) {
  ab_outfile o;
  int rc = ab_outfile_open(&o, path, e);
  if (rc) return rc;
  char line[1024];
  for (size_t i = 0; i < t->n; i++) {
    ab_csv_put_field(o.f, ab_ids_get(&t->ids, i));
    int k = 0;
    for (int j = 0; j < AB_NFEAT; j++) {
      line[k++] = ',';
      k += put_num(line + k, t->x[i * AB_NFEAT + j]);
    }
    if (t->y) k += sprintf(line + k, ",%d", t->y[i]);
    line[k++] = '\n';
    fwrite(line, 1, (size_t)k, o.f);
  }
  return ab_outfile_commit(&o, e);
}
