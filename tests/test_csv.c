/* CSV reader (rows below are made up, in the export's layout): the real layout, headers, target-less files, missing values, and every
 * kind of bad input with its FILE:LINE:COL message and exit status 2. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/table.h"
#include "data/csv_int.h"
#include "testutil.h"

#define ROW1 "995,1610,1610,19.75,19.75,1,10,0.98,1577.8,4,91,0"
#define ROW2 "1177,2150,2150,5.34,5.34,0,8.91,0,0,0,0,1"
#define ROW3 "2061,2150,2150,5.34,5.34,0,8.91,0,0,0,387,0"

static char path[512];

static const char *file_with(const char *name, const char *text) {
  snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
  cr_assert_eq(tu_write(path, text), 0);
  return path;
}

static int read_text(ab_table *t, const char *text, ab_missing m, ab_err *e) {
  ab_csv_opts o = ab_csv_opts_default();
  o.missing = m;
  return ab_csv_read(t, file_with("in.csv", text), &o, e);
}

/* Reads file with the default options; it must hold n rows. */
static void read_rows_of(ab_table *t, const char *file, size_t n) {
  ab_err e = {0};
  ab_csv_opts o = ab_csv_opts_default();
  cr_assert_eq(ab_csv_read(t, file, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(t->n, n, "%s: %zu rows, expected %zu", file, t->n, n);
}

Test(csv, reads_crlf_rows_as_in_the_export) {
  ab_table t;
  ab_err e = {0};
  cr_assert_eq(read_text(&t, ROW1 "\r\n" ROW2 "\r\n" ROW3 "\r\n", AB_MISSING_ERROR, &e), 0, "%s", e.msg);
  cr_assert_eq(t.n, 3);
  cr_assert_str_eq(ab_ids_get(&t.ids, 0), "995");
  cr_assert_float_eq(t.x[0 * AB_NFEAT + 7], 1577.8f, 1e-3);
  cr_assert_float_eq(t.x[1 * AB_NFEAT + 5], 8.91f, 1e-6);
  cr_assert_eq(t.x[2 * AB_NFEAT + 9], 387.0f);
  cr_assert_eq(t.y[0], 0);
  cr_assert_eq(t.y[1], 1);
  ab_table_free(&t);
}

Test(csv, reads_lf_without_final_newline) {
  ab_table t;
  ab_err e = {0};
  cr_assert_eq(read_text(&t, ROW1 "\n" ROW2, AB_MISSING_ERROR, &e), 0, "%s", e.msg);
  cr_assert_eq(t.n, 2);
  cr_assert_str_eq(ab_ids_get(&t.ids, 1), "1177");
  ab_table_free(&t);
}

Test(csv, header_is_detected_and_columns_matched_by_name) {
  ab_table t;
  ab_err e = {0};
  /* columns in another order, course-style names, target first */
  const char *text =
      "Targets,ID,Book_length(mins)_overall,Book_length(mins)_avg,Price_overall,Price_avg,"
      "Review,Review10/10,Completion,Minutes_listened,Support_Request,"
      "Last_visited_minus_Purchase_date\n"
      "1,7,100,50,3,1.5,1,9,0.5,50,2,30\n"
      "0,8,200,60,4,2.5,0,8.91,0.25,20,0,3\n";
  cr_assert_eq(read_text(&t, text, AB_MISSING_ERROR, &e), 0, "%s", e.msg);
  cr_assert_eq(t.n, 2);
  cr_assert_str_eq(ab_ids_get(&t.ids, 0), "7");
  cr_assert_eq(t.y[0], 1);
  cr_assert_eq(t.x[0], 100.0f);
  cr_assert_eq(t.x[9], 30.0f);
  cr_assert_eq(t.x[AB_NFEAT + 6], 0.25f);
  ab_table_free(&t);
}

Test(csv, file_without_target_reads_for_scoring) {
  ab_table t;
  ab_err e = {0};
  ab_csv_opts o = ab_csv_opts_default();
  o.require_target = 0;
  cr_assert_eq(ab_csv_read(&t, file_with("nt.csv", "5,1,1,1,1,0,8.91,0,0,0,0\n"), &o, &e), 0, "%s", e.msg);
  cr_assert_eq(t.n, 1);
  cr_assert_null(t.y);
  ab_table_free(&t);
  o = ab_csv_opts_default();
  cr_assert_neq(ab_csv_read(&t, path, &o, &e), 0);
  cr_assert(strstr(e.msg, "no target column"), "%s", e.msg);
}

Test(csv, missing_values_are_filled_and_remembered) {
  const char *text = "1,10,10,1,1,1,,0.5,5,0,1,1\n2,20,20,2,2,1,6,0.5,10,0,2,0\n"
                     "3,30,30,3,3,1,8,0.5,15,0,3,1\n4,40,40,4,4,1,10,0.5,20,0,4,0\n";
  ab_table t;
  ab_err e = {0};
  cr_assert_eq(read_text(&t, text, AB_MISSING_MEAN, &e), 0, "%s", e.msg);
  cr_assert_float_eq(t.fill[5], 8.0f, 1e-6);
  cr_assert_float_eq(t.x[5], 8.0f, 1e-6);
  cr_assert_eq(t.nmissing[5], 1);
  ab_table_free(&t);
  cr_assert_eq(read_text(&t, text, AB_MISSING_MEDIAN, &e), 0, "%s", e.msg);
  cr_assert_float_eq(t.x[5], 8.0f, 1e-6);
  ab_table_free(&t);
  cr_assert_eq(read_text(&t, text, AB_MISSING_ZERO, &e), 0, "%s", e.msg);
  cr_assert_eq(t.x[5], 0.0f);
  ab_table_free(&t);
  cr_assert_neq(read_text(&t, text, AB_MISSING_ERROR, &e), 0);
  cr_assert(strstr(e.msg, "in.csv:1:15: missing value in column 7 (review_10)"), "%s", e.msg);
  cr_assert(strstr(e.msg, "--missing"), "%s", e.msg);
}

Test(csv, many_rows_read_across_buffer_refills) {
  char line[128];
  FILE *f = fopen(file_with("big.csv", ""), "w");
  for (int i = 0; i < 60000; i++) {
    snprintf(line, sizeof line, "%d,%d,1610,19.75,19.75,1,10,0.98,1577.8,4,91,%d\r\n", i + 1, i, i % 2);
    fputs(line, f);
  }
  fclose(f);
  ab_table t;
  read_rows_of(&t, path, 60000);
  cr_assert_str_eq(ab_ids_get(&t.ids, 59999), "60000");
  cr_assert_eq(t.x[59999 * AB_NFEAT], 59999.0f);
  ab_table_free(&t);
}

/* A random number as the export might hold it: 1..18 digits, maybe a '.', maybe leading
 * zeros, maybe "5." or ".5". The value is below 1 when `unit`, below 10 when `ten`. */
static int random_number(char *dst, unsigned *seed, int unit, int ten) {
  int ni = unit || ten ? 1 : 1 + (int)(rand_r(seed) % 9), nf = (int)(rand_r(seed) % 10);
  int k = 0;
  if (rand_r(seed) % 8 == 0 && !unit && !ten) dst[k++] = '0';
  for (int i = 0; i < ni; i++) dst[k++] = (char)('0' + (unit ? 0 : rand_r(seed) % (ten ? 9 : 10)));
  if (ni == 1 && rand_r(seed) % 6 == 0) k = 0; /* ".5" */
  if (nf > 0 || rand_r(seed) % 6 == 0) dst[k++] = '.';
  for (int i = 0; i < nf; i++) dst[k++] = (char)('0' + rand_r(seed) % 10);
  if (k == 0 || (k == 1 && dst[0] == '.')) dst[k++] = '0';
  return k;
}

static void write_rows(const char *name, int nrows, int spaced, unsigned seed) {
  FILE *f = fopen(file_with(name, ""), "wb");
  char line[512];
  for (int r = 0; r < nrows; r++) {
    int k = sprintf(line, "%d", r + 1);
    for (int j = 0; j < AB_NFEAT; j++) {
      line[k++] = ',';
      if (spaced) line[k++] = ' '; /* a blank before a number: only the slow path takes it */
      k += random_number(line + k, &seed, j == 4 || j == 6, j == 5);
    }
    k += sprintf(line + k, ",%d%s", r % 2, r % 3 ? "\r\n" : "\n");
    fwrite(line, 1, (size_t)k, f);
  }
  fclose(f);
}

/* The fast paths (straight from the buffer, and per line) must give every field exactly
 * the value the general parser gives it: the same rows with a blank before each number go
 * through the general parser only. */
Test(csv, fast_and_general_parsers_agree_bit_for_bit) {
  ab_table fast, slow;
  char a[512];
  write_rows("fast.csv", 20000, 0, 42);
  snprintf(a, sizeof a, "%s", path);
  write_rows("slow.csv", 20000, 1, 42);
  read_rows_of(&fast, a, 20000);
  read_rows_of(&slow, path, 20000);
  cr_assert_eq(memcmp(fast.x, slow.x, 20000 * AB_NFEAT * sizeof(float)), 0);
  cr_assert_eq(fast.ids.len, slow.ids.len);
  cr_assert_eq(memcmp(fast.ids.text, slow.ids.text, fast.ids.len), 0);
  cr_assert_eq(memcmp(fast.y, slow.y, 20000), 0);
  ab_table_free(&fast);
  ab_table_free(&slow);
}

/* Ids in any order and of any size: a duplicate is found whatever the span of the ids
 * (the sort takes one pass per byte in which they differ). */
Test(csv, duplicate_ids_found_at_every_id_span) {
  static const long long ids[][3] = {{5, 3, 5}, {300, 44, 300}, {-7, 70000, -7},
                                     {-9000000000000000LL, 9000000000000000LL, 9000000000000000LL}};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
    char text[512];
    snprintf(text, sizeof text, "%lld,1,1,1,1,0,8,0,0,0,0,1\n%lld,1,1,1,1,0,8,0,0,0,0,0\n"
             "%lld,1,1,1,1,0,8,0,0,0,0,1\n", ids[i][0], ids[i][1], ids[i][2]);
    ab_table t;
    ab_err e = {0};
    cr_assert_neq(read_text(&t, text, AB_MISSING_ERROR, &e), 0, "ids %lld %lld %lld read", ids[i][0], ids[i][1], ids[i][2]);
    cr_assert(strstr(e.msg, "in.csv:3:1: duplicate customer id"), "%s", e.msg);
    snprintf(text, sizeof text, "%lld,1,1,1,1,0,8,0,0,0,0,1\n%lld,1,1,1,1,0,8,0,0,0,0,0\n",
             ids[i][0], ids[i][1]);
    cr_assert_eq(read_text(&t, text, AB_MISSING_ERROR, &e), 0, "%s", e.msg);
    ab_table_free(&t);
  }
}

/* Rows of every kind across many buffer refills (the buffer holds 128 KiB): fast rows,
 * rows only the general parser takes, blank lines; an error far into the file still
 * names its line. */
Test(csv, mixed_rows_across_refills_keep_line_numbers) {
  FILE *f = fopen(file_with("mixed.csv", ""), "wb");
  int line = 0;
  for (int i = 0; i < 30000; i++) {
    if (i % 997 == 0) { fputs("\r\n", f); line++; }
    if (i % 5 == 0) fprintf(f, "%d, 10, 10,1.5 , 1.5,0,8.91,0,0,0,%d,%d\n", 30000 - i, i % 7, i % 2);
    else fprintf(f, "%d,10,10,1.5,1.5,0,8.91,0,0,0,%d,%d\r\n", 30000 - i, i % 7, i % 2);
    line++;
  }
  fclose(f);
  ab_table t;
  read_rows_of(&t, path, 30000);
  for (size_t i = 0; i < t.n; i++) {
    cr_assert_eq(strtoll(ab_ids_get(&t.ids, i), NULL, 10), 30000 - (long long)i);
    cr_assert_eq(t.x[i * AB_NFEAT + 2], 1.5f);
    cr_assert_eq(t.x[i * AB_NFEAT + 9], (float)(i % 7));
  }
  ab_table_free(&t);
  f = fopen(path, "ab");
  fputs("77777,10,10,1.5,1.5,0,8.91,0,0,0,x,1\n", f);
  fclose(f);
  ab_err e = {0};
  ab_csv_opts o = ab_csv_opts_default();
  cr_assert_neq(ab_csv_read(&t, path, &o, &e), 0);
  char want[128];
  snprintf(want, sizeof want, "mixed.csv:%d:34: expected a number in column 11", line + 1);
  cr_assert(strstr(e.msg, want), "want '%s' in: %s", want, e.msg);
}

/* ---- bad input: through the CLI, exit status 2, one FILE:LINE:COL: line, no output ---- */

typedef struct bad_case {
  const char *name, *text, *expect;
} bad_case;

static const bad_case bad_cases[] = {
    {"empty", "", "empty.csv:1:1: the file is empty"},
    {"cols", ROW1 "\n1,2,3\n", "cols.csv:2:1: expected 12 comma-separated columns, found 3"},
    {"first_cols", "1,2,3\n", "first_cols.csv:1:1: expected 12 comma-separated columns"},
    {"text", ROW1 "\n1177,2150,abc,5.34,5.34,0,8.91,0,0,0,0,1\n",
     "text.csv:2:11: expected a number in column 3 (book_length_avg), found 'abc'"},
    {"nan", ROW1 "\n1177,2150,2150,nan,5.34,0,8.91,0,0,0,0,1\n", "nan.csv:2:16: expected a number"},
    {"inf", ROW1 "\n1177,2150,2150,5.34,inf,0,8.91,0,0,0,0,1\n", "inf.csv:2:21: expected a number"},
    {"target2", ROW1 "\n1177,2150,2150,5.34,5.34,0,8.91,0,0,0,0,2\n",
     "target2.csv:2:41: expected a target of 0 or 1 in column 12 (targets), found '2'"},
    {"oneclass", ROW1 "\n" ROW3 "\n", "oneclass.csv:2:1: all 2 targets in column 12 (targets) are 0"},
    {"dupid", ROW1 "\n" ROW2 "\n995,1,1,1,1,0,8.91,0,0,0,0,1\n",
     "dupid.csv:3:1: duplicate customer id 995"},
    {"missing", ROW1 "\n1177,2150,2150,5.34,5.34,0,,0,0,0,0,1\n",
     "missing.csv:2:28: missing value in column 7 (review_10); use --missing"},
    {"negative", ROW1 "\n1177,-5,2150,5.34,5.34,0,8.91,0,0,0,0,1\n",
     "negative.csv:2:6: expected a number >= 0 in column 2 (book_length_overall)"},
    {"completion", ROW1 "\n1177,2150,2150,5.34,5.34,0,8.91,1.5,0,0,0,1\n",
     "completion.csv:2:33: expected a number in [0, 1] in column 8 (completion)"},
    {"header_only", "id,book_length_overall,book_length_avg,price_overall,price_avg,review,"
     "review_10,completion,minutes_listened,support_requests,last_visited_minus_purchase,targets\n",
     "header_only.csv:1:1: the file has a header but no customer rows"},
    {"semicolons", "995;1610;1610;19.75;19.75;1;10;0.98;1577.8;4;91;0\n1;2;3\n",
     "semicolons.csv:2:1: expected 12 semicolon-separated columns, found 3"},
    {"unclosed", ROW1 "\n\"1177,2150,2150,5.34,5.34,0,8.91,0,0,0,0,1\n" ROW3 "\n",
     "unclosed.csv:2:1: unclosed quote"},
    {"range", ROW1 "\n1177,2150,2150,5.34,5.34,0,8.91,0,3.5e38,0,0,1\n",
     "range.csv:2:35: expected a number of at most 3.40282e+38 (the float32 range) in column 9"},
};

static void check_bad(const bad_case *c) {
  char in[512], out[512];
  snprintf(in, sizeof in, "%s/%s.csv", tu_tmpdir(), c->name);
  snprintf(out, sizeof out, "%s/%s.npzdir", tu_tmpdir(), c->name);
  cr_assert_eq(tu_write(in, c->text), 0);
  tu_run r;
  tu_sh(&r, "%s train --data %s --quiet --epochs 1", ABGPU_BIN, in);
  cr_expect_eq(r.status, 2, "%s: exit %d, output: %s", c->name, r.status, r.out);
  cr_expect(strstr(r.out, c->expect) != NULL, "%s: expected '%s' in: %s", c->name, c->expect, r.out);
  cr_expect(strchr(r.out, '\n') == r.out + strlen(r.out) - 1, "%s: not one line: %s", c->name, r.out);
  tu_sh(&r, "mkdir -p %s; %s prep --data %s --out %s", out, ABGPU_BIN, in, out);
  cr_expect_eq(r.status, 2, "%s: prep exit %d: %s", c->name, r.status, r.out);
  tu_sh(&r, "ls -A %s | wc -l", out);
  cr_expect_str_eq(r.out, "0\n", "%s: prep left files behind", c->name);
}

Test(csv_bad, every_bad_input_exits_2_with_file_line_col) {
  for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) check_bad(&bad_cases[i]);
}

Test(csv_bad, nonexistent_file) {
  tu_run r;
  tu_sh(&r, "%s train --data /nonexistent/x.csv --quiet", ABGPU_BIN);
  cr_assert_eq(r.status, 2);
  cr_assert(strstr(r.out, "/nonexistent/x.csv: cannot open"), "%s", r.out);
}

Test(csv_bad, nul_byte) {
  char in[512];
  snprintf(in, sizeof in, "%s/nul.csv", tu_tmpdir());
  static const char data[] = ROW1 "\n1177,2150,21\0" "50,5.34,5.34,0,8.91,0,0,0,0,1\n";
  FILE *f = fopen(in, "wb");
  fwrite(data, 1, sizeof data - 1, f);
  fclose(f);
  tu_run r;
  tu_sh(&r, "%s train --data %s --quiet", ABGPU_BIN, in);
  cr_assert_eq(r.status, 2, "%s", r.out);
  cr_assert(strstr(r.out, "nul.csv:2:13: unexpected NUL byte"), "%s", r.out);
}

/* ---- real exports (issue 15): names, quotes across lines, notes ---- */

Test(csv_names, every_accepted_name_means_its_own_role_only) {
  int n = 0;
  for (int slot = 0; slot < 12; slot++)
    for (int i = 0; csv_role_alias(slot, i); i++, n++) {
      const char *a = csv_role_alias(slot, i);
      cr_assert_eq(csv_name_slot(a, strlen(a)), slot, "'%s' means role %d, listed for %d", a,
                   csv_name_slot(a, strlen(a)), slot);
    }
  cr_assert_geq(n, 40);
  static const struct { const char *name; int slot; } forms[] = {
      {"minutes_listened", 8}, {"Minutes listened", 8}, {"listened_minutes", 8},
      {"MinutesListened", 8}, {"target", 11}, {"targets", 11}, {"buys_again", 11},
      {"Buys Again", 11}, {"Book_length(mins)_overall", 1}, {"Review10/10", 6},
      {"Support_Request", 9}, {"Last_visited_minus_Purchase_date", 10}, {"CustomerID", 0},
      {"Total price", 3}, {"Average price", 4}, {"price", -1}, {"minutes", -1},
      {"Segment", -1}, {"", -1}};
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
    cr_assert_eq(csv_name_slot(forms[i].name, strlen(forms[i].name)), forms[i].slot, "'%s'",
                 forms[i].name);
}

/* Quoted fields holding line breaks, across many buffer refills: rows read right, and an
 * error or a duplicate far into the file names the line where its row starts. */
Test(csv, quoted_line_breaks_across_refills_keep_line_numbers) {
  FILE *f = fopen(file_with("notes.csv", ""), "wb");
  int line = 1;
  fputs("id,notes,book_length_overall,book_length_avg,price_overall,price_avg,review,"
        "review_10,completion,minutes_listened,support_requests,last_visited_minus_purchase,"
        "targets\r\n", f);
  for (int i = 0; i < 20000; i++) {
    line++;
    if (i % 3 == 0) {
      fprintf(f, "\"C %d\",\"first line\r\nsecond, \"\"quoted\"\"\nthird\",10,10,1.5,1.5,0,8.91,0,0,0,%d,%d\r\n",
              i, i % 7, i % 2);
      line += 2;
    } else {
      fprintf(f, "C %d,plain,10,10,1.5,1.5,0,8.91,0,0,0,%d,%d\r\n", i, i % 7, i % 2);
    }
  }
  fclose(f);
  ab_err e = {0};
  ab_table t;
  ab_csv_opts o = ab_csv_opts_default();
  o.fmt.ignore = "notes";
  cr_assert_eq(ab_csv_read(&t, path, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(t.n, 20000);
  for (size_t i = 0; i < t.n; i++) {
    char want[32];
    snprintf(want, sizeof want, "C %zu", i);
    cr_assert_str_eq(ab_ids_get(&t.ids, i), want);
    cr_assert_eq(t.x[i * AB_NFEAT + 9], (float)(i % 7));
  }
  ab_table_free(&t);
  f = fopen(path, "ab");
  fputs("\"C 3\",x,10,10,1.5,1.5,0,8.91,0,0,0,1,1\n", f);
  fclose(f);
  cr_assert_neq(ab_csv_read(&t, path, &o, &e), 0);
  char want[128];
  snprintf(want, sizeof want, "notes.csv:%d:1: duplicate customer id C 3 (first on line 7)", line + 1);
  cr_assert(strstr(e.msg, want), "want '%s' in: %s", want, e.msg);
  f = fopen(path, "ab");
  fputs("D 1,\"a\nb\",10,10,1.5,1.5,0,8.91,0,x,0,1,1\n", f);
  fclose(f);
  cr_assert_neq(ab_csv_read(&t, path, &o, &e), 0);
  snprintf(want, sizeof want, "notes.csv:%d:27: expected a number in column 10", line + 3);
  cr_assert(strstr(e.msg, want), "want '%s' in: %s", want, e.msg);
}

/* The warning for columns taken by position and the note for extra columns come once each,
 * on stderr, after the data was read; nothing is said for a plain export. */
Test(csv, notes_once_on_stderr_and_none_for_the_export) {
  const char *unknown = "Kunde,Total length,Avg length,Paid,Avg paid,Reviewed,Score,Done,"
                        "Listened,Tickets,Days,Converted\n" ROW1 "\n" ROW2 "\n";
  static tu_run r;
  tu_sh(&r, "%s prep --data %s --out %s 2>&1 >/dev/null", ABGPU_BIN, file_with("u.csv", unknown),
        tu_tmpdir());
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strncmp(r.out, "abgpu: warning: ", 16) == 0 && strchr(r.out, '\n') == r.out + strlen(r.out) - 1,
            "not one warning line: %s", r.out);
  cr_assert(strstr(r.out, "column 1 'Kunde' -> id, column 4 'Paid' -> price_overall, column 8 "
                          "'Done' -> completion, column 11 'Days' -> last_visited_minus_purchase"),
            "%s", r.out);
  const char *extra = "id,segment,book_length_overall,book_length_avg,price_overall,price_avg,"
                      "review,review_10,completion,minutes_listened,support_requests,"
                      "last_visited_minus_purchase,targets,email\n"
                      "995,Gold,1610,1610,19.75,19.75,1,10,0.98,1577.8,4,91,0,\"a@b.c\"\n"
                      "1177,Silver,2150,2150,5.34,5.34,0,8.91,0,0,0,0,1,x@y.z\n";
  tu_sh(&r, "%s prep --data %s --out %s 2>&1 >/dev/null", ABGPU_BIN, file_with("x.csv", extra),
        tu_tmpdir());
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "abgpu: note: ") == r.out && strchr(r.out, '\n') == r.out + strlen(r.out) - 1 &&
            strstr(r.out, "ignoring 2 columns that are not an input: 'segment', 'email' (--ignore segment,email"),
            "%s", r.out);
  tu_sh(&r, "%s prep --data %s --out %s --ignore segment,email 2>&1 >/dev/null", ABGPU_BIN, path, tu_tmpdir());
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert_str_eq(r.out, "");
  tu_sh(&r, "%s prep --data %s --out %s 2>&1 >/dev/null", ABGPU_BIN,
        file_with("plain.csv", ROW1 "\r\n" ROW2 "\r\n" ROW3 "\r\n"), tu_tmpdir());
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert_str_eq(r.out, "", "a plain export gets no note");
}

/* --columns by number and name wins over the header's names; --header no reads the first
 * line as data; a mapping naming a missing column or a bad role is one clear error. */
Test(csv, explicit_columns_and_header_modes) {
  const char *text = "a,b,c,d,e,f,g,h,i,j,k,l\n" ROW1 "\n" ROW2 "\n";
  ab_table t;
  ab_err e = {0};
  ab_csv_opts o = ab_csv_opts_default();
  o.fmt.columns = "id=1,targets=L"; /* the rest by position: they sit at their places */
  cr_assert_eq(ab_csv_read(&t, file_with("c.csv", text), &o, &e), 0, "%s", e.msg);
  cr_assert_eq(t.n, 2);
  cr_assert_str_eq(ab_ids_get(&t.ids, 1), "1177");
  ab_table_free(&t);
  o.fmt.columns = "targets=1,id=12"; /* not at their places: the others are not guessed */
  cr_assert_eq(ab_csv_read(&t, path, &o, &e), AB_EINPUT);
  cr_assert(strstr(e.msg, "c.csv:1:1: no column for book_length_overall (the file's columns: 'a', 'b'"), "%s", e.msg);
  o.fmt.columns = "nonsense=3";
  cr_assert_eq(ab_csv_read(&t, path, &o, &e), AB_EUSAGE);
  cr_assert(strstr(e.msg, "--columns 'nonsense=3': expected ROLE=NAME or ROLE=NUMBER"), "%s", e.msg);
  o.fmt.columns = "id=zz";
  cr_assert_eq(ab_csv_read(&t, path, &o, &e), AB_EINPUT);
  cr_assert(strstr(e.msg, "c.csv:1:1: --columns 'id=zz': no column of that name or number"), "%s", e.msg);
  o.fmt.columns = NULL;
  o.fmt.header = AB_HEADER_NO;
  cr_assert_neq(ab_csv_read(&t, path, &o, &e), 0);
  cr_assert(strstr(e.msg, "c.csv:1:3: expected a number in column 2 (book_length_overall), found 'b'"), "%s", e.msg);
  o.fmt.header = AB_HEADER_YES;
  cr_assert_eq(ab_csv_read(&t, file_with("d.csv", ROW1 "\n" ROW2 "\n" ROW3 "\n"), &o, &e), 0, "%s", e.msg);
  cr_assert_eq(t.n, 2, "the first line was taken as a header");
  ab_table_free(&t);
  o.fmt.header = AB_HEADER_NO; /* one class, the target moved: its real column is named */
  o.fmt.columns = "targets=1,id=2,book_length_overall=3,book_length_avg=4,price_overall=5,"
                  "price_avg=6,review=7,review_10=8,completion=9,minutes_listened=10,"
                  "support_requests=11,last_visited_minus_purchase=12";
  const char *rows = "0,1,2,2,1,1,0,8,0,0,0,0\n0,2,2,2,1,1,0,8,0,0,0,0\n";
  cr_assert_eq(ab_csv_read(&t, file_with("m.csv", rows), &o, &e), AB_EINPUT);
  cr_assert(strstr(e.msg, "m.csv:2:1: all 2 targets in column 1 (targets) are 0"), "%s", e.msg);
}
