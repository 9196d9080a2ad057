/* Real exports as they come (issue 15): the same synthetic customers written as 28
 * export variants (separators, decimal commas, a byte-order mark, quotes, text ids, extra
 * columns, other header names, other column orders, CRLF and LF). Each must read to the
 * plain file's floats and targets bit for bit, give the same prepared splits, keep its
 * ids as written, say what it detected in one note, and train through the CLI. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/prep.h"
#include "abgpu/synth.h"
#include "abgpu/table.h"
#include "testutil.h"

#define NROWS 1200
#define MAXCOL 16

enum { IDS_NUM, IDS_CODE, IDS_UUID, IDS_NAME, IDS_QUOTE };
enum { H_NONE, H_CANON, H_COURSE, H_SYNONYMS, H_UNKNOWN };
enum { Q_NONE, Q_ALL, Q_TEXT };
enum { X_NONE, X_THREE, X_NOTES };

typedef struct variant {
  const char *name;
  char sep;
  int dec_comma, bom, crlf, quote, ids, header, extra, reorder, zeros;
  const char *flags;  /* CLI flags; the same given to the library below */
  const char *columns, *ignore;
  char decimal;
  ab_header hmode;
  const char *want_note; /* a note or warning that must be given (NULL: none at all) */
} variant;

static const variant V[] = {
    {"lf_plain", ',', 0, 0, 0, Q_NONE, IDS_NUM, H_NONE, X_NONE, 0, 0, "", NULL, NULL, 0, 0, NULL},
    {"crlf", ',', 0, 0, 1, Q_NONE, IDS_NUM, H_NONE, X_NONE, 0, 0, "", NULL, NULL, 0, 0, NULL},
    {"canonical_header", ',', 0, 0, 0, Q_NONE, IDS_NUM, H_CANON, X_NONE, 0, 0, "", NULL, NULL, 0, 0, NULL},
    {"course_header_crlf", ',', 0, 0, 1, Q_NONE, IDS_NUM, H_COURSE, X_NONE, 0, 0, "", NULL, NULL, 0, 0, NULL},
    {"excel_utf8_bom", ',', 0, 1, 1, Q_NONE, IDS_NUM, H_CANON, X_NONE, 0, 0, "", NULL, NULL, 0, 0, NULL},
    {"semicolon_decimal_comma", ';', 1, 0, 0, Q_NONE, IDS_NUM, H_NONE, X_NONE, 0, 0, "", NULL, NULL, 0, 0,
     "read as semicolon-separated with decimal commas"},
    {"semicolon_comma_bom_header_crlf", ';', 1, 1, 1, Q_NONE, IDS_NUM, H_COURSE, X_NONE, 0, 0, "", NULL,
     NULL, 0, 0, "semicolon-separated with decimal commas"},
    {"semicolon_quoted_text_ids", ';', 1, 1, 1, Q_ALL, IDS_CODE, H_CANON, X_NONE, 0, 0, "", NULL, NULL, 0,
     0, "semicolon-separated"},
    {"semicolon_decimal_point", ';', 0, 0, 1, Q_NONE, IDS_NUM, H_CANON, X_NONE, 0, 0, "", NULL, NULL, 0, 0,
     "semicolon-separated with decimal points"},
    {"tab_header", '\t', 0, 0, 0, Q_NONE, IDS_NUM, H_CANON, X_NONE, 0, 0, "", NULL, NULL, 0, 0,
     "tab-separated"},
    {"tab_decimal_comma", '\t', 1, 0, 1, Q_NONE, IDS_CODE, H_NONE, X_NONE, 0, 0, "", NULL, NULL, 0, 0,
     "tab-separated with decimal commas"},
    {"pipe", '|', 0, 0, 0, Q_NONE, IDS_NUM, H_SYNONYMS, X_NONE, 0, 0, "", NULL, NULL, 0, 0, "'|'-separated"},
    {"all_quoted", ',', 0, 0, 1, Q_ALL, IDS_NUM, H_CANON, X_NONE, 0, 0, "", NULL, NULL, 0, 0, NULL},
    {"comma_decimal_comma_quoted", ',', 1, 0, 0, Q_ALL, IDS_NUM, H_NONE, X_NONE, 0, 0, "--decimal ,", NULL,
     NULL, ',', 0, NULL},
    {"text_ids", ',', 0, 0, 0, Q_NONE, IDS_CODE, H_NONE, X_NONE, 0, 0, "", NULL, NULL, 0, 0, NULL},
    {"uuid_ids_quoted", ',', 0, 0, 1, Q_TEXT, IDS_UUID, H_CANON, X_NONE, 0, 0, "", NULL, NULL, 0, 0, NULL},
    {"name_ids_with_commas", ',', 0, 0, 0, Q_NONE, IDS_NAME, H_CANON, X_NONE, 0, 0, "", NULL, NULL, 0, 0, NULL},
    {"ids_with_quotes", ';', 0, 0, 0, Q_NONE, IDS_QUOTE, H_NONE, X_NONE, 0, 0, "", NULL, NULL, 0, 0,
     "semicolon-separated"},
    {"extra_columns", ',', 0, 0, 0, Q_TEXT, IDS_NUM, H_CANON, X_THREE, 0, 0, "", NULL, NULL, 0, 0,
     "ignoring 3 columns that are not an input: 'Segment', 'E-mail', 'Signup date'"},
    {"extra_columns_ignored", ',', 0, 0, 1, Q_TEXT, IDS_CODE, H_SYNONYMS, X_THREE, 0, 0,
     "--ignore 'Segment,E-mail,signup_date'", NULL, "Segment,E-mail,signup_date", 0, 0, NULL},
    {"notes_with_line_breaks", ',', 0, 0, 1, Q_TEXT, IDS_NUM, H_CANON, X_NOTES, 0, 0, "--ignore notes",
     NULL, "notes", 0, 0, NULL},
    {"unknown_names_by_position", ',', 0, 0, 0, Q_NONE, IDS_CODE, H_UNKNOWN, X_NONE, 0, 0, "", NULL,
     NULL, 0, 0, "column 1 'Kunde' -> id, column 4 'Paid' -> price_overall"},
    {"unknown_names_mapped", ';', 1, 1, 1, Q_ALL, IDS_CODE, H_UNKNOWN, X_THREE, 0, 0,
     "--columns id=Kunde,price_overall=Paid,completion=Done,last_visited_minus_purchase=11 "
     "--ignore 14,15,Segment",
     "id=Kunde,price_overall=Paid,completion=Done,last_visited_minus_purchase=11", "14,15,Segment", 0,
     0, "semicolon-separated"},
    {"reordered", ',', 0, 0, 0, Q_NONE, IDS_NUM, H_CANON, X_NONE, 1, 0, "", NULL, NULL, 0, 0, NULL},
    {"reordered_synonyms_extra_crlf", ',', 0, 0, 1, Q_TEXT, IDS_UUID, H_SYNONYMS, X_THREE, 1, 0,
     "--ignore Segment,E-mail,'Signup date'", NULL, "Segment,E-mail,Signup date", 0, 0, NULL},
    {"everything", ';', 1, 1, 1, Q_ALL, IDS_NAME, H_COURSE, X_NOTES, 1, 1, "", NULL, NULL, 0, 0,
     "ignoring 1 column that is not an input: 'Notes'"},
    {"leading_and_trailing_zeros", ',', 0, 0, 0, Q_NONE, IDS_NUM, H_NONE, X_NONE, 0, 1, "", NULL, NULL, 0,
     0, NULL},
    {"header_forced", '\t', 1, 0, 0, Q_NONE, IDS_NUM, H_UNKNOWN, X_NONE, 0, 0, "--header yes --sep tab",
     NULL, NULL, 0, AB_HEADER_YES, "taken by position"},
};
#define NV ((int)(sizeof V / sizeof V[0]))

static const char *const HEAD[5][12] = {
    {0},
    {"id", "book_length_overall", "book_length_avg", "price_overall", "price_avg", "review",
     "review_10", "completion", "minutes_listened", "support_requests",
     "last_visited_minus_purchase", "targets"},
    {"ID", "Book_length(mins)_overall", "Book_length(mins)_avg", "Price_overall", "Price_avg",
     "Review", "Review10/10", "Completion", "Minutes_listened", "Support_Request",
     "Last_visited_minus_Purchase_date", "Targets"},
    {"Customer ID", "Total book length", "Average book length", "Total price", "Average price",
     "Left a review", "Review score", "Completion rate", "listened_minutes",
     "Number of support requests", "Days since purchase", "buys_again"},
    {"Kunde", "Total length", "Avg length", "Paid", "Avg paid", "Reviewed", "Score", "Done",
     "Listened", "Tickets", "Days", "Converted"},
};
static const char *const EXTRA_HEAD[3] = {"Segment", "E-mail", "Signup date"};

static char plain_path[512];
static char fields[NROWS][12][32]; /* the plain file's fields as text */

static void load_plain(void) {
  snprintf(plain_path, sizeof plain_path, "%s/plain.csv", tu_tmpdir());
  ab_err e;
  cr_assert_eq(ab_synth_write_csv(plain_path, NROWS, 11, &e), 0, "%s", e.msg);
  FILE *f = fopen(plain_path, "r");
  char line[512];
  for (int i = 0; i < NROWS && fgets(line, sizeof line, f); i++) {
    line[strcspn(line, "\n")] = '\0';
    char *s = line;
    for (int c = 0; c < 12; c++) {
      size_t k = strcspn(s, ",");
      snprintf(fields[i][c], 32, "%.*s", (int)k, s);
      s += k + 1;
    }
  }
  fclose(f);
}

static void id_text(char *dst, size_t n, const variant *v, int row) {
  int x = atoi(fields[row][0]);
  switch (v->ids) {
    case IDS_CODE: snprintf(dst, n, "C-%05d", x); break;
    case IDS_UUID: snprintf(dst, n, "%08x-%04x-4%03x-8%03x-%012x", x * 2654435761u, x & 0xffff,
                            x % 4096, (x * 7) % 4096, x * 40503u); break;
    case IDS_NAME: snprintf(dst, n, "Smith, J. %d", x); break;
    case IDS_QUOTE: snprintf(dst, n, "C\"%d", x); break;
    default: snprintf(dst, n, "%s", fields[row][0]);
  }
}

/* Writes one field, quoted when the variant quotes it or when it must be. */
static void put(FILE *f, const variant *v, const char *s, int text, int first) {
  if (!first) fputc(v->sep, f);
  int must = strchr(s, v->sep) || strchr(s, '"') || strchr(s, '\n');
  if (!(must || v->quote == Q_ALL || (v->quote == Q_TEXT && text))) { fputs(s, f); return; }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

/* Column order: logical columns 0..11 (id, features, target) and 12.. (extras). */
static int column_order(const variant *v, int *order) {
  int nx = v->extra == X_THREE ? 3 : v->extra == X_NOTES ? 1 : 0, n = 0;
  static const int reordered[12] = {11, 5, 6, 0, 1, 2, 3, 4, 7, 8, 9, 10};
  for (int c = 0; c < 12; c++) {
    order[n++] = v->reorder ? reordered[c] : c;
    if (v->reorder && c == 2 && nx) order[n++] = 12; /* an extra in the middle */
  }
  for (int k = v->reorder && nx ? 1 : 0; k < nx; k++) order[n++] = 12 + k;
  return n;
}

static void number_text(char *dst, const variant *v, const char *s) {
  char t[40];
  snprintf(t, sizeof t, v->zeros ? (strchr(s, '.') ? "00%s0" : "00%s") : "%s", s);
  if (v->dec_comma)
    for (char *p = t; *p; p++) *p = *p == '.' ? ',' : *p;
  strcpy(dst, t);
}

static void cell(char *dst, size_t n, const variant *v, int row, int col) {
  if (col == 0) id_text(dst, n, v, row);
  else if (col < 12) number_text(dst, v, fields[row][col]);
  else if (v->extra == X_NOTES) snprintf(dst, n, row % 3 ? "ok" : "called twice,\nno answer; \"later\"");
  else if (col == 12) snprintf(dst, n, row % 2 ? "Gold" : "Silver");
  else if (col == 13) snprintf(dst, n, "user%d@example.com", row);
  else snprintf(dst, n, "2024-01-%02d", row % 28 + 1);
}

static void write_variant(const char *path, const variant *v) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  int order[MAXCOL], n = column_order(v, order);
  const char *eol = v->crlf ? "\r\n" : "\n";
  if (v->bom) fputs("\xEF\xBB\xBF", f);
  if (v->header != H_NONE) {
    for (int c = 0; c < n; c++) {
      int k = order[c];
      const char *name = k < 12 ? HEAD[v->header][k] : v->extra == X_NOTES ? "Notes" : EXTRA_HEAD[k - 12];
      put(f, v, name, 1, c == 0);
    }
    fputs(eol, f);
  }
  for (int i = 0; i < NROWS; i++) {
    for (int c = 0; c < n; c++) {
      char s[96];
      cell(s, sizeof s, v, i, order[c]);
      put(f, v, s, order[c] == 0 || order[c] >= 12, c == 0);
    }
    fputs(eol, f);
  }
  fclose(f);
}

static char notes[4096];
static int nnotes;

static void on_note(void *user, int warning, const char *msg) {
  (void)user;
  size_t k = strlen(notes);
  snprintf(notes + k, sizeof notes - k, "%s: %s\n", warning ? "warning" : "note", msg);
  nnotes++;
}

static ab_csv_opts opts_of(const variant *v) {
  ab_csv_opts o = ab_csv_opts_default();
  o.fmt.columns = v->columns;
  o.fmt.ignore = v->ignore;
  o.fmt.decimal = v->decimal;
  o.fmt.header = v->hmode;
  o.fmt.note = on_note;
  return o;
}

static void same_splits(const ab_table *a, const ab_table *b, const char *name) {
  ab_splits sa, sb;
  ab_err e;
  ab_prep_opts o = ab_prep_opts_default();
  cr_assert_eq(ab_prep(&sa, a, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_prep(&sb, b, &o, &e), 0, "%s", e.msg);
  const ab_split *x[3] = {&sa.train, &sa.val, &sa.test}, *y[3] = {&sb.train, &sb.val, &sb.test};
  for (int k = 0; k < 3; k++) {
    cr_assert_eq(x[k]->n, y[k]->n, "%s: split %d sizes", name, k);
    cr_assert_eq(memcmp(x[k]->x, y[k]->x, x[k]->n * AB_NFEAT * sizeof(float)), 0,
                 "%s: split %d floats differ", name, k);
    cr_assert_eq(memcmp(x[k]->y, y[k]->y, x[k]->n * sizeof(int32_t)), 0, "%s: targets", name);
    cr_assert_eq(memcmp(x[k]->row, y[k]->row, x[k]->n * sizeof(uint32_t)), 0, "%s: rows", name);
  }
  cr_assert_eq(memcmp(sa.mean, sb.mean, sizeof sa.mean), 0, "%s: scaler", name);
  cr_assert_eq(memcmp(sa.std, sb.std, sizeof sa.std), 0, "%s: scaler", name);
  ab_splits_free(&sa);
  ab_splits_free(&sb);
}

static void check_variant(const variant *v, const ab_table *plain, const char *path) {
  ab_table t;
  ab_err e = {0};
  ab_csv_opts o = opts_of(v);
  notes[0] = '\0';
  nnotes = 0;
  cr_assert_eq(ab_csv_read(&t, path, &o, &e), 0, "%s: %s", v->name, e.msg);
  cr_assert_eq(t.n, plain->n, "%s: %zu rows", v->name, t.n);
  cr_assert_eq(memcmp(t.x, plain->x, t.n * AB_NFEAT * sizeof(float)), 0, "%s: floats differ", v->name);
  cr_assert_eq(memcmp(t.y, plain->y, t.n), 0, "%s: targets differ", v->name);
  for (size_t i = 0; i < t.n; i++) {
    char want[96];
    id_text(want, sizeof want, v, (int)i);
    cr_assert_str_eq(ab_ids_get(&t.ids, i), want, "%s: row %zu id", v->name, i);
  }
  if (v->want_note) cr_assert(strstr(notes, v->want_note), "%s: no note '%s' in:\n%s", v->name, v->want_note, notes);
  else cr_assert_eq(nnotes, 0, "%s: unexpected notes:\n%s", v->name, notes);
  cr_assert_leq(nnotes, 2, "%s: more than one note per subject:\n%s", v->name, notes);
  same_splits(&t, plain, v->name);
  ab_table_free(&t);
}

Test(formats, every_variant_reads_to_the_plain_files_floats) {
  load_plain();
  ab_table plain;
  ab_err e = {0};
  ab_csv_opts o = ab_csv_opts_default();
  cr_assert_eq(ab_csv_read(&plain, plain_path, &o, &e), 0, "%s", e.msg);
  cr_assert_geq(NV, 20);
  for (int k = 0; k < NV; k++) {
    char path[600];
    snprintf(path, sizeof path, "%s/%s.csv", tu_tmpdir(), V[k].name);
    write_variant(path, &V[k]);
    check_variant(&V[k], &plain, path);
  }
  cr_log_info("formats: %d export variants read to the plain file's floats", NV);
  ab_table_free(&plain);
}

/* Through the CLI as a user runs it: each variant trains, and prep writes the plain file's
 * npz (byte for byte where the ids are the plain file's numbers). */
Test(formats, every_variant_trains_and_preps_like_the_plain_file, .timeout = 300) {
  load_plain();
  static tu_run r;
  char dir[600];
  snprintf(dir, sizeof dir, "%s/npz_plain", tu_tmpdir());
  tu_sh(&r, "mkdir -p %s && %s prep --data %s --out %s", dir, ABGPU_BIN, plain_path, dir);
  cr_assert_eq(r.status, 0, "%s", r.out);
  for (int k = 0; k < NV; k++) {
    const variant *v = &V[k];
    char path[600], out[700];
    snprintf(path, sizeof path, "%s/%s.csv", tu_tmpdir(), v->name);
    write_variant(path, v);
    tu_sh(&r, "%s train --data %s %s --epochs 1 --quiet", ABGPU_BIN, path, v->flags);
    cr_expect_eq(r.status, 0, "%s: train exit %d: %s", v->name, r.status, r.out);
    snprintf(out, sizeof out, "%s/npz_%s", tu_tmpdir(), v->name);
    tu_sh(&r, "mkdir -p %s && %s prep --data %s %s --out %s 2>&1 >/dev/null", out, ABGPU_BIN, path,
          v->flags, out);
    cr_expect_eq(r.status, 0, "%s: prep exit %d: %s", v->name, r.status, r.out);
    if (v->ids != IDS_NUM) continue;
    tu_sh(&r, "for s in train validation test; do cmp %s/Audiobooks_data_$s.npz "
          "%s/Audiobooks_data_$s.npz || exit 1; done", dir, out);
    cr_expect_eq(r.status, 0, "%s: npz differs from the plain file's: %s", v->name, r.out);
  }
}

/* predict writes every id back as the file gave it, in file order (quoted where needed). */
Test(formats, predict_writes_text_ids_back_unchanged) {
  load_plain();
  static tu_run r;
  char model[600], path[600];
  snprintf(model, sizeof model, "%s/m.abm", tu_tmpdir());
  tu_sh(&r, "%s train --data %s --epochs 2 --quiet --out %s", ABGPU_BIN, plain_path, model);
  cr_assert_eq(r.status, 0, "%s", r.out);
  const int kinds[] = {V[16].ids, V[15].ids, V[17].ids};
  const variant *vs[] = {&V[16], &V[15], &V[17]};
  for (int k = 0; k < 3; k++) {
    snprintf(path, sizeof path, "%s/p%d.csv", tu_tmpdir(), k);
    write_variant(path, vs[k]);
    tu_sh(&r, "%s predict --model %s --data %s --out %s.out && cat %s.out", ABGPU_BIN, model, path,
          path, path);
    cr_assert_eq(r.status, 0, "%s", r.out);
    const char *p = strstr(r.out, "customer_id,probability,will_buy\n");
    cr_assert_not_null(p, "%s", r.out);
    p += strlen("customer_id,probability,will_buy\n");
    for (int i = 0; i < NROWS; i++) {
      char id[96], want[200];
      id_text(id, sizeof id, vs[k], i);
      FILE *m = fmemopen(want, sizeof want, "w");
      ab_csv_put_field(m, id);
      fputc(',', m);
      fclose(m);
      cr_assert(strncmp(p, want, strlen(want)) == 0, "kind %d row %d: want %s got %.60s", kinds[k],
                i, want, p);
      p = strchr(p + strlen(want), '\n') + 1;
    }
    cr_assert_eq(*p, '\0');
  }
}

/* Every command that reads a customer file takes the same format flags, lists them in its
 * --help with their defaults, and reads a shop export with them. */
Test(formats, every_reading_command_takes_the_format_flags, .timeout = 120) {
  load_plain();
  static tu_run r;
  static const char *const cmds[] = {"train", "eval", "predict", "importance", "prep", "sweep",
                                     "bench", "split"};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    tu_sh(&r, "%s %s --help", ABGPU_BIN, cmds[i]);
    cr_assert_eq(r.status, 0, "%s", r.out);
    static const char *const flags[] = {"--header H", "(default: auto", "--sep S", "--decimal D",
                                        "--columns LIST", "--ignore LIST", "(default: none)"};
    for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
      cr_expect(strstr(r.out, flags[k]), "%s --help lacks '%s'", cmds[i], flags[k]);
  }
  const variant *v = &V[22]; /* unknown names mapped by --columns, ';', decimal commas, BOM */
  cr_assert_str_eq(v->name, "unknown_names_mapped");
  char path[600], model[600];
  snprintf(path, sizeof path, "%s/%s.csv", tu_tmpdir(), v->name);
  snprintf(model, sizeof model, "%s/flags.abm", tu_tmpdir());
  write_variant(path, v);
  tu_sh(&r, "%s train --data %s %s --epochs 2 --quiet --out %s", ABGPU_BIN, path, v->flags, model);
  cr_assert_eq(r.status, 0, "%s", r.out);
  static const char *const uses[] = {"eval --model %s", "predict --model %s --out /dev/null",
                                     "importance --repeats 1 --model %s"};
  for (size_t i = 0; i < 3; i++) {
    char cmd[700];
    snprintf(cmd, sizeof cmd, uses[i], model);
    tu_sh(&r, "%s %s --data %s %s", ABGPU_BIN, cmd, path, v->flags);
    cr_expect_eq(r.status, 0, "%s: %s", cmd, r.out);
    tu_sh(&r, "%s %s --data %s", ABGPU_BIN, cmd, path); /* without them: the mapping is missing */
    cr_expect_eq(r.status, 2, "%s without the flags: %s", cmd, r.out);
  }
  /* split copies the export's lines: the header in both parts, every row in one */
  tu_sh(&r, "cd %s && %s split --data %s %s --out-train fa.csv --out-test fb.csv && "
            "echo $(( $(wc -l < fa.csv) + $(wc -l < fb.csv) - $(wc -l < %s) ))", tu_tmpdir(),
        ABGPU_BIN, path, v->flags, path);
  cr_expect_eq(r.status, 0, "split: %s", r.out);
  cr_expect(strstr(r.out, "\n1\n"), "split: the parts' lines are not the header twice and "
            "every row once: %s", r.out);
  tu_sh(&r, "cd %s && %s split --data %s --out-train fa.csv --out-test fb.csv", tu_tmpdir(),
        ABGPU_BIN, path);
  cr_expect_eq(r.status, 2, "split without the flags: %s", r.out);
  tu_sh(&r, "cd %s && %s sweep --data %s %s --set epochs=1 --set hidden=8 --finalists 1 --quiet "
        "--leaderboard sw.csv", tu_tmpdir(), ABGPU_BIN, path, v->flags);
  cr_expect_eq(r.status, 0, "sweep: %s", r.out);
  tu_sh(&r, "%s bench --data %s %s --backends cpu --epochs 1", ABGPU_BIN, path, v->flags);
  cr_expect_eq(r.status, 0, "bench: %s", r.out);
  cr_expect(strstr(r.out, "csv reader: ") && strstr(r.out, "every field quoted: "), "%s", r.out);
}
