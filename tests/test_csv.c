/* CSV reader (rows below are made up, in the export's layout): the real layout, headers, target-less files, missing values, and every
 * kind of bad input with its FILE:LINE:COL message and exit status 2. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "abgpu/table.h"
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

Test(csv, reads_crlf_rows_as_in_the_export) {
  ab_table t;
  ab_err e = {0};
  cr_assert_eq(read_text(&t, ROW1 "\r\n" ROW2 "\r\n" ROW3 "\r\n", AB_MISSING_ERROR, &e), 0, "%s", e.msg);
  cr_assert_eq(t.n, 3);
  cr_assert_eq(t.id[0], 995);
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
  cr_assert_eq(t.id[1], 1177);
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
  cr_assert_eq(t.id[0], 7);
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
  ab_err e = {0};
  ab_csv_opts o = ab_csv_opts_default();
  cr_assert_eq(ab_csv_read(&t, path, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(t.n, 60000);
  cr_assert_eq(t.id[59999], 60000);
  cr_assert_eq(t.x[59999 * AB_NFEAT], 59999.0f);
  ab_table_free(&t);
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
    {"oneclass", ROW1 "\n" ROW3 "\n", "oneclass.csv:2:12: all 2 targets are 0"},
    {"dupid", ROW1 "\n" ROW2 "\n995,1,1,1,1,0,8.91,0,0,0,0,1\n",
     "dupid.csv:3:1: duplicate customer id 995"},
    {"missing", ROW1 "\n1177,2150,2150,5.34,5.34,0,,0,0,0,0,1\n",
     "missing.csv:2:28: missing value in column 7 (review_10); use --missing"},
    {"negative", ROW1 "\n1177,-5,2150,5.34,5.34,0,8.91,0,0,0,0,1\n",
     "negative.csv:2:6: expected a number in [0, inf] in column 2 (book_length_overall)"},
    {"completion", ROW1 "\n1177,2150,2150,5.34,5.34,0,8.91,1.5,0,0,0,1\n",
     "completion.csv:2:33: expected a number in [0, 1] in column 8 (completion)"},
    {"header_only", "id,book_length_overall,book_length_avg,price_overall,price_avg,review,"
     "review_10,completion,minutes_listened,support_requests,last_visited_minus_purchase,targets\n",
     "header_only.csv:1:1: the file has a header but no customer rows"},
    {"semicolons", "995;1610;1610;19.75;19.75;1;10;0.98;1577.8;4;91;0\n",
     "semicolons.csv:1:1: expected 12 comma-separated columns"},
    {"id_text", "abc," "1610,1610,19.75,19.75,1,10,0.98,1577.8,4,91,0\n" ROW2 "\n",
     "id_text.csv:1:1: unknown column 'abc'"},
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
