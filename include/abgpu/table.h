/* table.h - a customer table read from CSV: ids, ten float32 features, target. */
#ifndef ABGPU_TABLE_H
#define ABGPU_TABLE_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "abgpu/err.h"

#define AB_NFEAT 10

/* Feature names in column order (index 0..9), and the id and target names. */
extern const char *const ab_feature_names[AB_NFEAT];
/* The plain label of a feature name ("Minutes listened" for minutes_listened) for text
 * and reports; a name that is not one of ab_feature_names is its own label. */
const char *ab_feature_label(const char *name);
extern const char *const ab_id_name;
extern const char *const ab_target_name;

/* What to do with an empty field (a missing value). */
typedef enum { AB_MISSING_ERROR, AB_MISSING_MEAN, AB_MISSING_MEDIAN, AB_MISSING_ZERO } ab_missing;

/* Parses "error|mean|median|zero"; returns 0 or -1 when unknown. */
int ab_missing_parse(ab_missing *out, const char *s);
const char *ab_missing_name(ab_missing m);

/* Customer ids as text, kept exactly as the file gives them (a quoted field without its
 * quotes), back to back in one buffer. */
typedef struct ab_ids {
  size_t n;          /* ids */
  char *text;        /* each id followed by a NUL */
  size_t len, cap;   /* bytes of text used and allocated */
  uint64_t *off;     /* [n] where id i starts in text */
  size_t ncap;       /* entries allocated in off */
} ab_ids;

/* Id i (0-based), NUL-terminated. */
static inline const char *ab_ids_get(const ab_ids *ids, size_t i) { return ids->text + ids->off[i]; }
/* Appends the len bytes at s (no NUL among them). */
int ab_ids_push(ab_ids *ids, const char *s, size_t len, ab_err *e);
/* Makes room for n more ids of `bytes` bytes in all, without reallocating on the way. */
int ab_ids_reserve(ab_ids *ids, size_t n, size_t bytes, ab_err *e);
/* Appends the ids "first", "first+1", ..., n of them (tables made in memory). */
int ab_ids_number(ab_ids *ids, uint64_t first, size_t n, ab_err *e);
/* Keeps the first n ids. */
void ab_ids_truncate(ab_ids *ids, size_t n);
void ab_ids_free(ab_ids *ids);
/* 1 when some id occurs twice, with *first < *second their rows (the earliest second
 * occurrence in file order); 0 when all differ; -1 when out of memory. */
int ab_ids_find_duplicate(const ab_ids *ids, size_t *first, size_t *second);
/* *common = how many of ids' entries (counted with repeats) occur in ref, compared as
 * text. */
int ab_ids_count_common(const ab_ids *ids, const ab_ids *ref, uint64_t *common, ab_err *e);

typedef struct ab_table {
  size_t n;          /* rows */
  ab_ids ids;        /* [n] customer ids, as text */
  float *x;          /* [n][AB_NFEAT] raw (unscaled) features, row-major */
  uint8_t *y;        /* [n] targets 0/1, or NULL when the file has no target column */
  float fill[AB_NFEAT];      /* value used for missing fields per feature */
  size_t nmissing[AB_NFEAT]; /* how many fields were missing per feature */
  ab_missing missing;        /* the policy that produced fill[] */
} ab_table;

/* ---- the file's format (docs/manual.md, "Input") ---- */

typedef enum { AB_HEADER_AUTO = 0, AB_HEADER_YES = 1, AB_HEADER_NO = 2 } ab_header;

/* How to read an export. All zero: detect everything (the default). */
typedef struct ab_csv_format {
  ab_header header;     /* auto: a first line of mostly non-numbers is a header */
  char sep;             /* ',', ';', '\t' or '|'; 0: detected from the first lines */
  char decimal;         /* '.' or ','; 0: ',' when the separator is not a comma and the
                           first lines hold values like 19,73, else '.' */
  const char *columns;  /* "role=NAME|INDEX,...": explicit mapping (wins), or NULL */
  const char *ignore;   /* "NAME|INDEX,...": columns skipped without a note, or NULL */
  /* Notes (warning 0: what was detected, what is ignored) and warnings (1: columns taken
   * by position), one line each without "\n", delivered once a file was read without
   * error. May be NULL. */
  void (*note)(void *user, int warning, const char *msg);
  void *note_user;
} ab_csv_format;

/* Parses a --header, --sep or --decimal value into f; returns 0, or -1 when invalid.
 * --sep takes , ; | tab \t or a TAB character, --decimal . or , (and "auto" each). */
int ab_csv_header_parse(ab_csv_format *f, const char *s);
int ab_csv_sep_parse(ab_csv_format *f, const char *s);
int ab_csv_decimal_parse(ab_csv_format *f, const char *s);

typedef struct ab_csv_opts {
  ab_missing missing;   /* default AB_MISSING_ERROR */
  int require_target;   /* 1: a file without target column is an error */
  int check_classes;    /* 1: both classes must occur (training data) */
  int check_ids;        /* 1: duplicate customer ids are an error */
  ab_csv_format fmt;    /* default: all detected */
} ab_csv_opts;

/* Defaults for training data: missing=error, target required, classes and ids checked. */
ab_csv_opts ab_csv_opts_default(void);

/* Reads a whole CSV file into t. Errors: "FILE:LINE:COL: what was expected". */
int ab_csv_read(ab_table *t, const char *path, const ab_csv_opts *o, ab_err *e);

/* Reads from an open stream (not closed); `name` is used in messages. */
int ab_csv_read_stream(ab_table *t, FILE *f, const char *name, const ab_csv_opts *o, ab_err *e);

/* ---- streaming reader (for predict on files larger than memory) ---- */
typedef struct ab_csv_reader ab_csv_reader;

/* Opens path ("-" = stdin), detects its format (fmt may be NULL: all detected) and reads
 * the header if there is one. allow_missing: 0 makes an empty feature field an error
 * naming the --missing flag; 1 returns it as NaN. */
int ab_csv_reader_open(ab_csv_reader **r, const char *path, const ab_csv_format *fmt,
                       int allow_missing, ab_err *e);
/* The same over an open stream, which the reader does not close. */
int ab_csv_reader_open_stream(ab_csv_reader **r, FILE *f, const char *name,
                              const ab_csv_format *fmt, int allow_missing, ab_err *e);
/* 1 when the file has a target column. */
int ab_csv_reader_has_target(const ab_csv_reader *r);
/* The target's 1-based column in the file (after --columns and --ignore); 0 when none. */
int ab_csv_reader_target_col(const ab_csv_reader *r);
/* The separator in use (given or detected). */
char ab_csv_reader_sep(const ab_csv_reader *r);
/* Reads up to cap rows: ids appended to ids, features to x, targets to y (y may be NULL
 * to ignore the target). Missing fields become NaN when allowed. Sets *got (0 at end of
 * file). */
int ab_csv_reader_next(ab_csv_reader *r, ab_ids *ids, float *x, uint8_t *y, size_t cap,
                       size_t *got, ab_err *e);
/* Hands the notes gathered while reading to fmt->note (once; call after a good read). */
void ab_csv_reader_notes(ab_csv_reader *r);
/* Bytes consumed so far (for progress and MB/s). */
uint64_t ab_csv_reader_bytes(const ab_csv_reader *r);
/* Size of the file in bytes, or 0 when unknown (a pipe). */
uint64_t ab_csv_reader_file_size(const ab_csv_reader *r);
/* Line number of the last row read (1-based) and the file's name, for messages. */
uint64_t ab_csv_reader_line(const ab_csv_reader *r);
const char *ab_csv_reader_name(const ab_csv_reader *r);
/* Line number (1-based) where data row `row` (0-based) starts, blank lines and quoted
 * line breaks accounted for. */
uint64_t ab_csv_reader_row_line(const ab_csv_reader *r, uint64_t row);
void ab_csv_reader_close(ab_csv_reader *r);

/* Allocates a table of n rows (y allocated when with_target), with ids "1".."n". */
int ab_table_alloc(ab_table *t, size_t n, int with_target, ab_err *e);
void ab_table_free(ab_table *t);

/* Writes the text s as one CSV field: as it is, or quoted (quotes doubled) when it holds a
 * comma, quote, line break or blank at either end. Returns 0, or -1 on a write error. */
int ab_csv_put_field(FILE *f, const char *s);

/* Writes t as CSV (no header, LF, 12 or 11 columns) atomically (temp file + rename); an id
 * holding a comma, quote or line break is quoted. */
int ab_table_write_csv(const ab_table *t, const char *path, ab_err *e);

#endif
