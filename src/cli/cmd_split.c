/* abgpu split: a stratified hold-out of a labelled export, written as two CSV files that
 * keep the input's lines byte for byte (header, ids, separators, quotes), in file order. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "abgpu/json.h"
#include "abgpu/prep.h"
#include "cli.h"

#define DEFAULT_HOLDOUT 0.2
#define DEFAULT_SEED 1
#define CHUNK 65536

static void split_help(void) {
  printf("usage: abgpu split --data F --out-train A.csv --out-test B.csv [FLAGS]\n\n"
         "Holds out a random share of a labelled export, stratified by the target (each\n"
         "part keeps the file's share of buyers), and writes the two parts as CSV files:\n"
         "every line copied byte for byte (header in both, ids, separators, quotes kept), in\n"
         "file order, each file written atomically. Train on A, measure on B.\n\n"
         "  --data F          labelled CSV export (required; a file, not synth: or -)\n"
         "  --out-train A     the rest (required)\n"
         "  --out-test B      the held-out customers (required)\n"
         "  --holdout P       share held out: 20%%, or a fraction such as 0.2 (default: 20%%)\n"
         "  --seed S          seeds the choice (default: %d)\n"
         "  --json            one JSON object on stdout: the files, their customers and buyers\n"
         "  --json-out F      the same object into file F (the text still on stdout)\n"
         "%s"
         "  -h, --help        this text\n", DEFAULT_SEED, cli_csv_help());
}

typedef struct split_args {
  const char *data, *train, *test;
  double holdout;
  uint64_t seed;
  ab_csv_format fmt;
  cli_json json;
} split_args;

static int parse_holdout(double *out, const char *v) {
  char *end;
  double x = strtod(v, &end);
  if (end == v) return -1;
  if (*end == '%' && !end[1]) x /= 100;
  else if (*end) return -1;
  if (!(x > 0 && x < 1)) return -1;
  *out = x;
  return 0;
}

static int split_value(split_args *a, const char *name, const char *v) {
  if (!strcmp(name, "--data")) a->data = v;
  else if (!strcmp(name, "--out-train")) a->train = v;
  else if (!strcmp(name, "--out-test")) a->test = v;
  else if (!strcmp(name, "--holdout")) return parse_holdout(&a->holdout, v);
  else if (!strcmp(name, "--seed")) return cli_u64(&a->seed, v);
  return 0;
}

static int split_parse(split_args *a, int argc, char **argv) {
  static const char *const names[] = {"--data", "--out-train", "--out-test", "--holdout", "--seed"};
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    int m = cli_csv_flag(argc, argv, &i, &a->fmt, "split");
    if (m == 2) return 2;
    for (size_t k = 0; k < sizeof names / sizeof names[0] && !m; k++)
      if ((m = cli_opt(argc, argv, &i, names[k], &v)) < 0)
        return cli_no_value("split", argc, argv, i);
      else if (m && split_value(a, names[k], v))
        return cli_usage_error("split", "%s: invalid value '%s'", names[k], v);
    if (m) continue;
    if ((m = cli_json_flag(&a->json, argc, argv, &i)) < 0)
      return cli_no_value("split", argc, argv, i);
    if (m) continue;
    if (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h")) { split_help(); return -1; }
    return cli_usage_error("split", "unknown flag '%s'", argv[i]);
  }
  if (!a->data || !a->train || !a->test)
    return cli_usage_error("split", "--data, --out-train and --out-test are required");
  if (!strcmp(a->data, "-") || !strncmp(a->data, "synth:", 6))
    return cli_usage_error("split", "--data %s: split copies a file's lines; give a file", a->data);
  return 0;
}

/* ---- the rows: their targets and first lines, through the reader ---- */

typedef struct rows {
  size_t n;
  uint8_t *y;
  uint64_t *line;  /* [n + 1] each row's first line (1-based); then the line after the last */
} rows;

static int rows_grow(rows *r, size_t cap) {
  uint8_t *y = realloc(r->y, cap);
  if (y) r->y = y;
  uint64_t *l = y ? realloc(r->line, (cap + 1) * sizeof *l) : NULL;
  if (l) r->line = l;
  return y && l ? 0 : -1;
}

static int read_chunks(rows *out, ab_csv_reader *r, float *x, ab_err *e) {
  size_t cap = 0, got;
  int rc;
  do {
    if (out->n + CHUNK > cap && rows_grow(out, cap = cap ? 2 * cap : 4 * CHUNK))
      return ab_err_set(e, AB_ENOMEM, "out of memory at %zu rows", out->n);
    ab_ids ids = {0};
    rc = ab_csv_reader_next(r, &ids, x, out->y + out->n, CHUNK, &got, e);
    ab_ids_free(&ids);
    for (size_t i = 0; i < got; i++) out->line[out->n + i] = ab_csv_reader_row_line(r, out->n + i);
    out->n += got;
  } while (!rc && got > 0);
  if (!rc) out->line[out->n] = UINT64_MAX; /* the last row runs to the end of the file */
  return rc;
}

static int read_rows(rows *out, const split_args *a, ab_err *e) {
  ab_csv_reader *r;
  int rc = ab_csv_reader_open(&r, a->data, &a->fmt, 1, e);
  if (rc) return rc;
  float *x = malloc(CHUNK * AB_NFEAT * sizeof *x);
  if (!ab_csv_reader_has_target(r))
    rc = ab_err_set(e, AB_EINPUT, "%s:1:1: the file has no target column; split needs it to "
                    "keep the share of buyers", a->data);
  else if (!x) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) rc = read_chunks(out, r, x, e);
  if (!rc && out->n < 2)
    rc = ab_err_set(e, AB_EINPUT, "%s: %zu customer rows; split needs at least 2", a->data, out->n);
  if (!rc) ab_csv_reader_notes(r);
  free(x);
  ab_csv_reader_close(r);
  return rc;
}

/* ---- the bytes: the file, its line starts, and the two outputs ---- */

typedef struct text {
  char *b;
  size_t n;
  size_t *start;   /* [lines + 1] offset of each line; then n */
  size_t lines;
  const char *eol; /* the first line's ending, for a last line that has none */
} text;

static int read_text(text *t, const char *path, ab_err *e) {
  FILE *f = fopen(path, "rb");
  if (!f) return ab_err_set(e, AB_EIO, "%s: cannot open: %s", path, strerror(errno));
  size_t cap = 1 << 20, k;
  t->b = malloc(cap);
  while (t->b && (k = fread(t->b + t->n, 1, cap - t->n, f)) > 0)
    if ((t->n += k) == cap) {
      char *b = realloc(t->b, cap *= 2);
      if (!b) { free(t->b); t->b = NULL; }
      t->b = b;
    }
  int bad = ferror(f);
  fclose(f);
  if (!t->b) return ab_err_set(e, AB_ENOMEM, "out of memory reading %s", path);
  if (bad) return ab_err_set(e, AB_EIO, "%s: read error", path);
  return AB_OK;
}

static int index_lines(text *t, ab_err *e) {
  size_t k = 1;
  for (size_t i = 0; i < t->n; i++) k += t->b[i] == '\n';
  if (!(t->start = malloc((k + 1) * sizeof *t->start))) return ab_err_set(e, AB_ENOMEM, "out of memory");
  t->lines = 0;
  t->start[t->lines++] = 0;
  for (size_t i = 0; i < t->n; i++)
    if (t->b[i] == '\n') t->start[t->lines++] = i + 1;
  t->start[t->lines] = t->n;
  const char *nl = memchr(t->b, '\n', t->n);
  t->eol = nl && nl > t->b && nl[-1] == '\r' ? "\r\n" : "\n";
  return AB_OK;
}

static size_t line_off(const text *t, uint64_t line) {
  return line - 1 < t->lines ? t->start[line - 1] : t->n;
}

/* Row i's bytes, with a line ending when the file's last line had none. */
static void put_row(FILE *f, const text *t, const rows *r, size_t i) {
  size_t a = line_off(t, r->line[i]), b = line_off(t, r->line[i + 1]);
  fwrite(t->b + a, 1, b - a, f);
  if (b > a && t->b[b - 1] != '\n') fputs(t->eol, f);
}

/* The lines before the first row (header, byte-order mark) go to both files. */
static void put_part(FILE *f, const text *t, const rows *r, const uint8_t *test, int want) {
  fwrite(t->b, 1, line_off(t, r->line[0]), f);
  for (size_t i = 0; i < r->n; i++)
    if (test[i] == want) put_row(f, t, r, i);
}

/* ---- the run ---- */

typedef struct counts { size_t rows[2], buyers[2]; } counts;

static void print_json(FILE *f, const split_args *a, const counts *c) {
  char b[32];
  fprintf(f, "{\"data\": ");
  ab_json_str(f, a->data);
  fprintf(f, ", \"holdout\": %s, \"seed\": %llu", ab_json_num(b, a->holdout),
          (unsigned long long)a->seed);
  const char *name[2] = {"train", "test"}, *path[2] = {a->train, a->test};
  for (int k = 0; k < 2; k++) {
    fprintf(f, ", \"%s\": {\"path\": ", name[k]);
    ab_json_str(f, path[k]);
    fprintf(f, ", \"customers\": %zu, \"buyers\": %zu}", c->rows[k], c->buyers[k]);
  }
  fprintf(f, "}\n");
}

static int write_parts(split_args *a, const text *t, const rows *r, const uint8_t *test,
                       ab_err *e) {
  ab_outfile o[2];
  int rc = ab_outfile_open(&o[0], a->train, e);
  if (!rc && (rc = ab_outfile_open(&o[1], a->test, e))) ab_outfile_abort(&o[0]);
  if (rc) return rc;
  put_part(o[0].f, t, r, test, 0);
  put_part(o[1].f, t, r, test, 1);
  counts c = {{0, 0}, {0, 0}};
  for (size_t i = 0; i < r->n; i++) {
    c.rows[test[i]]++;
    c.buyers[test[i]] += r->y[i] != 0;
  }
  FILE *jf = cli_json_stream(&a->json);
  if (jf) print_json(jf, a, &c);
  if (!a->json.to_stdout)
    printf("split %s (%zu customers, %zu buyers): %s %zu customers (%zu buyers), %s %zu "
           "(%zu buyers), seed %llu\n", a->data, r->n, c.buyers[0] + c.buyers[1], a->train,
           c.rows[0], c.buyers[0], a->test, c.rows[1], c.buyers[1], (unsigned long long)a->seed);
  ab_outfile *outs[2] = {&o[0], &o[1]};
  return cli_commit(outs, 2, &a->json, e);
}

static int split_run(split_args *a, ab_err *e) {
  rows r = {0};
  text t = {0};
  uint8_t *test = NULL;
  int rc = read_rows(&r, a, e);
  if (!rc) rc = read_text(&t, a->data, e);
  if (!rc) rc = index_lines(&t, e);
  if (!rc && !(test = malloc(r.n))) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc && ab_holdout_pick(test, r.y, r.n, a->holdout, a->seed) == SIZE_MAX)
    rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) rc = write_parts(a, &t, &r, test, e);
  free(test);
  free(r.y);
  free(r.line);
  free(t.b);
  free(t.start);
  return rc;
}

int cmd_split(int argc, char **argv) {
  split_args a = {NULL, NULL, NULL, DEFAULT_HOLDOUT, DEFAULT_SEED, {0}, {0}};
  cli_csv_init(&a.fmt);
  int rc = split_parse(&a, argc, argv);
  if (rc) return rc < 0 ? 0 : rc;
  ab_path_use outs[4] = {{"--out-train", a.train}, {"--out-test", a.test},
                         {"--json", a.json.to_stdout ? "-" : NULL}, {"--json-out", a.json.path}};
  ab_path_use in[1] = {{"--data", a.data}};
  if ((rc = cli_check_outputs(outs, 4, in, 1))) return rc;
  ab_err e = {0};
  rc = split_run(&a, &e);
  cli_json_free(&a.json);
  return rc ? cli_fail(&e) : 0;
}
