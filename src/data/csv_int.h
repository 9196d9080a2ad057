/* csv_int.h - the CSV reader's state, shared by csv.c (records, fields, rows) and
 * csv_layout.c (encoding, separator, decimal mark, header and column mapping). Internal. */
#ifndef ABGPU_DATA_CSV_INT_H
#define ABGPU_DATA_CSV_INT_H
#include <stdint.h>
#include <stdio.h>
#include "abgpu/table.h"

#define CSV_BUF (1u << 17)   /* 128 KiB: fits L2 and faults in few pages; > CSV_MAX_LINE */
#define CSV_MAX_LINE 65536   /* longest record, quoted line breaks included */
#define CSV_MAX_FIELDS 256
#define CSV_NROLES (AB_NFEAT + 2)
#define CSV_MAX_NOTES 4

/* Column roles: >= 0 a feature index, else one of these. */
enum { ROLE_ID = -1, ROLE_TARGET = -2, ROLE_SKIP = -3 };

/* One field of a record: its text (quotes removed, "" unescaped, blanks around an
 * unquoted field trimmed) and where it began, for messages. */
typedef struct csv_field {
  char *s;
  size_t n;
  uint32_t line;  /* line breaks before it within the record */
  uint32_t col;   /* 1-based character column of its first byte on that line */
  int quoted;
} csv_field;

typedef struct csv_note {
  int warning;
  char msg[1024];
} csv_note;

struct ab_csv_reader {
  FILE *f;
  int own;                  /* fclose on close */
  const char *name;
  char *buf;                /* CSV_BUF + 1 */
  size_t pos, len;          /* unread bytes are buf[pos, len) */
  size_t nl_end;            /* after the buffer's last '\n' (0: to be found again) */
  int eof;
  uint64_t line, consumed;  /* lines and bytes consumed */
  uint64_t rec_line;        /* line where the record last cut began */
  uint32_t rec_breaks;      /* quoted line breaks inside it */
  ab_csv_format fmt;
  char sep, dec;            /* separator and decimal mark in use */
  int fast;                 /* the fast paths may be tried (dec != sep) */
  int quotes;               /* the first buffer holds a '"': fast paths take plain quotes */
  uint8_t stop[256];        /* 1 for the separator, '"' and bytes below 0x20 */
  int ncols, has_target, allow_missing;
  int ordered;              /* id, 10 features, [target]: nothing else, in that order */
  int role[CSV_MAX_FIELDS]; /* file column -> role */
  int id_col, target_col;   /* their columns (target_col -1 when none) */
  char *pending;            /* first data record, read while detecting the layout */
  size_t pending_n;
  uint64_t pending_line;
  uint32_t pending_breaks;
  uint64_t first_row_line;  /* line of row 0 */
  uint64_t rows;            /* rows returned so far */
  uint64_t *skip_at;        /* row index before which each extra line was skipped */
  size_t nskip, skip_cap;
  csv_note note[CSV_MAX_NOTES];
  int nnotes;
  csv_field field[CSV_MAX_FIELDS];
};

/* csv.c */
/* Fills the buffer from the file after moving the unread bytes to its start. */
int csv_refill(ab_csv_reader *r, ab_err *e);
/* Cuts the next record (a line, or more where a quoted field holds line breaks) out of the
 * buffer, NUL-terminated in place without its line end. 1, 0 at end of file, or -code. */
int csv_next_record(ab_csv_reader *r, char **rec, size_t *n, ab_err *e);
/* Splits a record into r->field (modifying it in place); *nf is CSV_MAX_FIELDS + 1 when
 * there are more. line0: the line where the record began, for messages. */
int csv_split(ab_csv_reader *r, char *rec, size_t n, uint64_t line0, int *nf, ab_err *e);
/* "comma-separated", "semicolon-separated", ... */
const char *csv_sep_words(char sep);
/* Up to 40 bytes of s for a message, non-printable bytes shown as '?'. */
void csv_printable(char *dst, const char *s, size_t n);

/* csv_layout.c */
/* Checks the encoding, detects separator and decimal mark, reads the header if any and
 * maps the columns to roles (the first data record is left in r->pending). */
int csv_detect_layout(ab_csv_reader *r, ab_err *e);
void csv_add_note(ab_csv_reader *r, int warning, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The role a column name means: 0 id, 1..10 the features, 11 the target; -1 none. */
int csv_name_slot(const char *name, size_t n);
/* The i-th accepted name of role `slot`, or NULL after the last (for tests). */
const char *csv_role_alias(int slot, int i);

#endif
