/* The input-format flags every command that reads a customer CSV takes: --header, --sep,
 * --decimal, --columns, --ignore; their help lines, and where the reader's notes go. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "abgpu/table.h"
#include "cli.h"

const char *cli_csv_help(void) {
  return ("  --header H        is the first line a header: auto, yes or no (default: auto:\n"
         "                    when most of its fields are not numbers)\n"
         "  --sep S           field separator: , ; tab | (default: auto, from the first lines)\n"
         "  --decimal D       decimal mark: . or , (default: auto: , with a separator other\n"
         "                    than a comma and values like 19,73, else .)\n"
         "  --columns LIST    ROLE=NAME or ROLE=NUMBER,... states which column is which (ROLE:\n"
         "                    id, book_length_overall, ..., targets); wins over the header's\n"
         "                    names (default: by name, else by position)\n"
         "  --ignore LIST     NAME or NUMBER,... columns to skip without a note (default: none)\n");
}

static void print_note(void *user, int warning, const char *msg) {
  (void)user;
  fprintf(stderr, "abgpu: %s: %s\n", warning ? "warning" : "note", msg);
}

void cli_csv_init(ab_csv_format *f) {
  memset(f, 0, sizeof *f);
  f->note = print_note;
}

void cli_shell_word(char *buf, size_t n, const char *s) {
  size_t k = strlen(buf);
  int plain = *s != 0;
  for (const char *p = s; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr("_./=,:@%+-", *p)) plain = 0;
  if (plain) { snprintf(buf + k, n - k, "%s", s); return; }
  if (k + 1 < n) buf[k++] = '\'';
  for (; *s && k + 5 < n; s++) {
    if (*s == '\'') { memcpy(buf + k, "'\\''", 4); k += 4; }
    else buf[k++] = *s;
  }
  if (k + 1 < n) buf[k++] = '\'';
  buf[k < n ? k : n - 1] = 0;
}

static void add_flag(char *buf, size_t n, const char *flag, const char *value) {
  size_t k = strlen(buf);
  snprintf(buf + k, n - k, " %s ", flag);
  cli_shell_word(buf, n, value);
}

void cli_csv_flags_text(char *buf, size_t n, const ab_csv_format *f, int missing) {
  static const char *const header[] = {"auto", "yes", "no"};
  char sep[2] = {f->sep, 0}, dec[2] = {f->decimal, 0};
  if (f->header != AB_HEADER_AUTO) add_flag(buf, n, "--header", header[f->header]);
  if (f->sep) add_flag(buf, n, "--sep", f->sep == '\t' ? "tab" : sep);
  if (f->decimal) add_flag(buf, n, "--decimal", dec);
  if (f->columns) add_flag(buf, n, "--columns", f->columns);
  if (f->ignore) add_flag(buf, n, "--ignore", f->ignore);
  if (missing != AB_MISSING_ERROR) add_flag(buf, n, "--missing", ab_missing_name((ab_missing)missing));
}

int cli_csv_flag(int argc, char **argv, int *i, ab_csv_format *f, const char *cmd) {
  static const char *const names[] = {"--header", "--sep", "--decimal", "--columns", "--ignore"};
  for (int k = 0; k < 5; k++) {
    const char *v;
    int m = cli_opt(argc, argv, i, names[k], &v);
    if (m == 0) continue;
    if (m < 0) return cli_no_value(cmd, argc, argv, *i);
    int bad = 0;
    switch (k) {
      case 0: bad = ab_csv_header_parse(f, v); break;
      case 1: bad = ab_csv_sep_parse(f, v); break;
      case 2: bad = ab_csv_decimal_parse(f, v); break;
      case 3: f->columns = v; break;
      case 4: f->ignore = v; break;
    }
    if (bad) return cli_usage_error(cmd, "%s: invalid value '%s'", names[k], v);
    return 1;
  }
  return 0;
}
