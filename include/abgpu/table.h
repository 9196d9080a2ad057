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
extern const char *const ab_id_name;
extern const char *const ab_target_name;

/* What to do with an empty field (a missing value). */
typedef enum { AB_MISSING_ERROR, AB_MISSING_MEAN, AB_MISSING_MEDIAN, AB_MISSING_ZERO } ab_missing;

/* Parses "error|mean|median|zero"; returns 0 or -1 when unknown. */
int ab_missing_parse(ab_missing *out, const char *s);
const char *ab_missing_name(ab_missing m);

typedef struct ab_table {
  size_t n;          /* rows */
  int64_t *id;       /* [n] customer ids */
  float *x;          /* [n][AB_NFEAT] raw (unscaled) features, row-major */
  uint8_t *y;        /* [n] targets 0/1, or NULL when the file has no target column */
  float fill[AB_NFEAT];      /* value used for missing fields per feature */
  size_t nmissing[AB_NFEAT]; /* how many fields were missing per feature */
  ab_missing missing;        /* the policy that produced fill[] */
} ab_table;

typedef struct ab_csv_opts {
  ab_missing missing;   /* default AB_MISSING_ERROR */
  int require_target;   /* 1: a file without target column is an error */
  int check_classes;    /* 1: both classes must occur (training data) */
  int check_ids;        /* 1: duplicate customer ids are an error */
} ab_csv_opts;

/* Defaults for training data: missing=error, target required, classes and ids checked. */
ab_csv_opts ab_csv_opts_default(void);

/* Reads a whole CSV file into t. Errors: "FILE:LINE:COL: what was expected". */
int ab_csv_read(ab_table *t, const char *path, const ab_csv_opts *o, ab_err *e);

/* Reads from an open stream (not closed); `name` is used in messages. */
int ab_csv_read_stream(ab_table *t, FILE *f, const char *name, const ab_csv_opts *o, ab_err *e);

/* ---- streaming reader (for predict on files larger than memory) ---- */
typedef struct ab_csv_reader ab_csv_reader;

/* Opens path ("-" = stdin) and reads the header if there is one. allow_missing: 0 makes
 * an empty feature field an error naming the --missing flag; 1 returns it as NaN. */
int ab_csv_reader_open(ab_csv_reader **r, const char *path, int allow_missing, ab_err *e);
/* The same over an open stream, which the reader does not close. */
int ab_csv_reader_open_stream(ab_csv_reader **r, FILE *f, const char *name, int allow_missing,
                              ab_err *e);
/* 1 when the file has a target column. */
int ab_csv_reader_has_target(const ab_csv_reader *r);
/* Reads up to cap rows into id/x/y (y may be NULL to ignore the target). Missing fields
 * become NaN when allowed. Sets *got (0 at end of file). */
int ab_csv_reader_next(ab_csv_reader *r, int64_t *id, float *x, uint8_t *y, size_t cap,
                       size_t *got, ab_err *e);
/* Bytes consumed so far (for progress and MB/s). */
uint64_t ab_csv_reader_bytes(const ab_csv_reader *r);
/* Size of the file in bytes, or 0 when unknown (a pipe). */
uint64_t ab_csv_reader_file_size(const ab_csv_reader *r);
/* Line number of the last row read (1-based) and the file's name, for messages. */
uint64_t ab_csv_reader_line(const ab_csv_reader *r);
const char *ab_csv_reader_name(const ab_csv_reader *r);
/* Line number (1-based) of data row `row` (0-based), blank lines accounted for. */
uint64_t ab_csv_reader_row_line(const ab_csv_reader *r, uint64_t row);
void ab_csv_reader_close(ab_csv_reader *r);

/* Allocates a table of n rows (y allocated when with_target). */
int ab_table_alloc(ab_table *t, size_t n, int with_target, ab_err *e);
void ab_table_free(ab_table *t);

/* Writes t as CSV (no header, LF, 12 or 11 columns) atomically (temp file + rename). */
int ab_table_write_csv(const ab_table *t, const char *path, ab_err *e);

#endif
