/* abgpu predict: score customers with a saved model, streaming the file in chunks:
 * customer_id,probability,will_buy per row in file order, or a sorted targeting list. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "abgpu/json.h"
#include "abgpu/model.h"
#include "abgpu/predictor.h"
#include "cli.h"

#define DEFAULT_THRESHOLD 0.5
#define CHUNK_ROWS 65536

typedef struct predict_args {
  const char *model, *data, *out, *device;
  ab_csv_format fmt;  /* the input-format flags */
  int threads;
  float threshold, prior;
  int sort, prior_model;
  double top;         /* rows (top_pct 0) or percent (top_pct 1); 0 = all */
  int top_pct;
  const char *top_flag; /* --top or --budget, whichever was given (one of them) */
  cli_json json;
} predict_args;

static void predict_help(void) {
  printf("usage: abgpu predict --model M --data F [FLAGS]\n\n"
         "Scores customers with a saved model, streaming the file (any size): writes\n"
         "customer_id,probability,will_buy per customer, in file order. The target column,\n"
         "if present, is ignored. Empty fields get the model's fill values; features are\n"
         "standardised with the model's scaler (never statistics of this file).\n\n"
         "  --model M         model file from `abgpu train --out` (required)\n"
         "  --data F          CSV of customers, with or without target; - for stdin (required)\n"
         "  --out FILE        output CSV, written atomically; - for stdout (default: -)\n"
         "  --threshold T     will_buy = 1 when the raw probability (the network's output,\n"
         "                    calibrated if train --calibrate made the model; as in eval)\n"
         "                    >= T, also when --prior corrects the one written (default: %g)\n"
         "  --sort            most likely buyers first (ties in file order)\n"
         "  --top N|P%%        only the N (or P percent, rounded up) most likely; implies --sort\n"
         "  --budget N        contact N customers: the same as --top N\n"
         "  --prior P|model   write probabilities corrected to a real share of buyers P, or\n"
         "                    the training file's share with `model` (default: raw, the\n"
         "                    network's output at its training ratio)\n"
         "  --json            one JSON object on stdout: what was scored and written (needs\n"
         "                    --out FILE, since the scores would share stdout)\n"
         "  --json-out F      the same object into file F\n"
         CLI_DEVICE_HELP
         "%s"
         "  -h, --help        this text\n", DEFAULT_THRESHOLD, cli_csv_help());
}

static int parse_top(predict_args *a, const char *flag, const char *v) {
  if (a->top_flag) return -3; /* --top and --budget are one setting */
  a->top_flag = flag;
  char *end;
  double x = strtod(v, &end);
  a->top_pct = *end == '%';
  if (a->top_pct && !strcmp(flag, "--budget")) return -1;
  if (end == v || (*end && strcmp(end, "%") != 0) || !(x > 0)) return -1;
  if (a->top_pct ? x > 100 : x != (double)(uint64_t)x) return -1;
  a->top = x;
  a->sort = 1;
  return 0;
}

static int predict_value(predict_args *a, const char *name, const char *v) {
  if (!strcmp(name, "--model")) a->model = v;
  else if (!strcmp(name, "--data")) a->data = v;
  else if (!strcmp(name, "--out")) a->out = v;
  else if (!strcmp(name, "--device")) a->device = v;
  else if (!strcmp(name, "--threads")) return cli_int(&a->threads, v, 1, 4096);
  else if (!strcmp(name, "--threshold")) return cli_float(&a->threshold, v, 0, 1);
  else if (!strcmp(name, "--top") || !strcmp(name, "--budget")) return parse_top(a, name, v);
  else if (!strcmp(name, "--prior")) {
    a->prior_model = !strcmp(v, "model");
    return a->prior_model ? 0 : cli_float(&a->prior, v, 1e-6, 1 - 1e-6);
  }
  return 0;
}

static int predict_parse(predict_args *a, int argc, char **argv) {
  static const char *const names[] = {"--model", "--data", "--out", "--threshold", "--top",
                                      "--budget", "--prior", "--device", "--threads"};
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    int bad = 0, m = cli_csv_flag(argc, argv, &i, &a->fmt, "predict");
    if (m == 2) return 2;
    for (size_t k = 0; k < sizeof names / sizeof names[0] && !m; k++)
      if ((m = cli_opt(argc, argv, &i, names[k], &v)) < 0)
        return cli_no_value("predict", argc, argv, i);
      else if (m && (bad = predict_value(a, names[k], v)) == -3)
        return cli_usage_error("predict", "--top and --budget set the same thing: give one");
      else if (m && bad)
        return cli_usage_error("predict", "%s: invalid value '%s'", names[k], v);
    if (m) continue;
    if ((m = cli_json_flag(&a->json, argc, argv, &i)) < 0)
      return cli_no_value("predict", argc, argv, i);
    if (m) continue;
    if (cli_switch(argv, i, "--sort")) a->sort = 1;
    else if (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h")) { predict_help(); return -1; }
    else return cli_usage_error("predict", "unknown flag '%s'", argv[i]);
  }
  if (!a->model || !a->data) return cli_usage_error("predict", "--model and --data are required");
  return 0;
}

/* ---- output ---- */

typedef struct pair { float p; uint32_t seq; } pair; /* seq: the row, in s->ids */

typedef struct sink {
  FILE *f;
  const char *path;   /* for messages */
  const ab_model *m;
  double prior, threshold;
  int keep;           /* collect pairs for --sort/--top instead of writing */
  pair *pairs;
  size_t n, cap;
  ab_ids ids;         /* with keep: every row's id */
  uint64_t written;
} sink;

static double out_prob(const sink *s, float p) {
  return s->prior > 0 ? ab_prior_correct(p, s->prior, s->m->train_ratio) : p;
}

/* The id as the file gave it (quoted when it holds a comma, quote or line break), the
 * probability written (raw or corrected) and will_buy from the raw one. */
static void write_row(sink *s, const char *id, float raw) {
  ab_csv_put_field(s->f, id);
  fprintf(s->f, ",%.6f,%d\n", out_prob(s, raw), raw >= s->threshold);
  s->written++;
}

static int keep_rows(sink *s, const ab_ids *ids, const float *prob, size_t n, ab_err *e) {
  if (s->n + n > s->cap) {
    size_t c = s->cap ? s->cap : 1 << 20;
    while (c < s->n + n) c *= 2;
    pair *p = realloc(s->pairs, c * sizeof *p);
    if (!p) return ab_err_set(e, AB_ENOMEM, "out of memory keeping %zu scores for --sort", s->n + n);
    s->pairs = p;
    s->cap = c;
  }
  for (size_t i = 0; i < n; i++, s->n++) {
    int rc = ab_ids_push(&s->ids, ab_ids_get(ids, i), strlen(ab_ids_get(ids, i)), e);
    if (rc) return rc;
    s->pairs[s->n] = (pair){prob[i], (uint32_t)s->n};
  }
  return AB_OK;
}

static int on_chunk(void *user, const ab_ids *ids, const float *prob, size_t n, ab_err *e) {
  sink *s = user;
  if (s->keep) return keep_rows(s, ids, prob, n, e);
  for (size_t i = 0; i < n; i++) write_row(s, ab_ids_get(ids, i), prob[i]);
  if (ferror(s->f)) /* stop at the first failure (a full disk), naming the file */
    return ab_err_set(e, AB_EOUTPUT, "%s: write failed: %s", strcmp(s->path, "-") ? s->path
                      : "stdout", strerror(errno));
  return AB_OK;
}

static int cmp_pair(const void *a, const void *b) {
  const pair *x = a, *y = b;
  if (x->p != y->p) return x->p > y->p ? -1 : 1;
  return (x->seq > y->seq) - (x->seq < y->seq);
}

static void write_sorted(sink *s, const predict_args *a) {
  if (s->n) qsort(s->pairs, s->n, sizeof *s->pairs, cmp_pair); /* pairs is NULL when 0 */
  size_t k = s->n;
  if (a->top > 0) {
    double want = a->top_pct ? a->top / 100.0 * (double)s->n : a->top;
    size_t w = (size_t)want;
    w += (double)w < want - 1e-9;
    k = w < k ? w : k;
  }
  for (size_t i = 0; i < k; i++)
    write_row(s, ab_ids_get(&s->ids, s->pairs[i].seq), s->pairs[i].p);
}

/* ---- shared with eval and importance ---- */

uint64_t cli_sum_filled(const uint64_t *nfilled) {
  uint64_t k = 0;
  for (int j = 0; j < AB_NFEAT; j++) k += nfilled[j];
  return k;
}

void cli_note_filled(const uint64_t *nfilled, const ab_model *m) {
  if (!cli_sum_filled(nfilled)) return;
  fprintf(stderr, "abgpu: filled %llu empty fields with the model's values (--missing %s):",
          (unsigned long long)cli_sum_filled(nfilled), ab_missing_name(m->missing));
  for (int j = 0; j < AB_NFEAT; j++)
    if (nfilled[j]) fprintf(stderr, " %s %llu", m->feature_names[j], (unsigned long long)nfilled[j]);
  fputc('\n', stderr);
}

void cli_warn_training_data(const ab_model *m, const ab_scored *s, const char *path) {
  if (s->data_hash != m->data_hash) return;
  fprintf(stderr, "abgpu: warning: %s is the data this model was trained on (the same hash, "
          "%016llx): its figures are optimistic; measure on customers it has not seen\n", path,
          (unsigned long long)m->data_hash);
}

static void print_json(FILE *f, const predict_args *a, const sink *s, const uint64_t *nfilled) {
  char b[2][32];
  fprintf(f, "{\"model\": ");
  ab_json_str(f, a->model);
  fprintf(f, ", \"data\": ");
  ab_json_str(f, a->data);
  fprintf(f, ", \"out\": ");
  ab_json_str(f, a->out);
  fprintf(f, ", \"customers\": %zu, \"written\": %llu, \"sorted\": %s, \"threshold\": %s, "
          "\"threshold_on\": \"raw\", "
          "\"prior\": %s, \"filled_fields\": %llu}\n", s->keep ? s->n : (size_t)s->written,
          (unsigned long long)s->written, s->keep ? "true" : "false",
          ab_json_num(b[0], s->threshold), s->prior > 0 ? ab_json_num(b[1], s->prior) : "null",
          (unsigned long long)cli_sum_filled(nfilled));
}

static int predict_run(predict_args *a, const ab_model *m, ab_err *e) {
  ab_outfile o;
  uint64_t nfilled[AB_NFEAT] = {0};
  cli_scoring sc;
  cli_backend_opts bo = {.threads = a->threads};
  int rc = ab_outfile_open(&o, a->out, e);
  if (rc) return rc;
  if ((rc = cli_scoring_open(&sc, m, a->device, &bo, e))) {
    ab_outfile_abort(&o);
    return rc;
  }
  sink s = {o.f, a->out, m, a->prior_model ? m->prior : a->prior, a->threshold, a->sort, NULL, 0, 0, {0}, 0};
  fprintf(o.f, "customer_id,probability,will_buy\n");
  rc = ab_predict_stream(m, ab_predictor_scorer(sc.p), a->data, &a->fmt, CHUNK_ROWS, on_chunk,
                         &s, nfilled, e);
  if (!rc && s.keep) write_sorted(&s, a);
  free(s.pairs);
  ab_ids_free(&s.ids);
  cli_scoring_close(&sc);
  if (rc) {
    ab_outfile_abort(&o);
    return rc;
  }
  cli_note_filled(nfilled, m);
  FILE *jf = cli_json_stream(&a->json);
  if (jf) print_json(jf, a, &s, nfilled);
  ab_outfile *outs[1] = {&o};
  return cli_commit(outs, 1, &a->json, e);
}

int cmd_predict(int argc, char **argv) {
  predict_args a = {0};
  a.out = "-";
  a.threshold = DEFAULT_THRESHOLD;
  cli_csv_init(&a.fmt);
  int rc = predict_parse(&a, argc, argv);
  if (rc) return rc < 0 ? 0 : rc;
  ab_path_use out[3] = {{"--out", a.out}, {"--json", a.json.to_stdout ? "-" : NULL},
                        {"--json-out", a.json.path}};
  ab_path_use in[2] = {{"--model", a.model}, {"--data", a.data}};
  if ((rc = cli_check_outputs(out, 3, in, 2))) return rc;
  ab_model m;
  ab_err e = {0};
  if (ab_model_load(&m, a.model, &e)) return cli_fail(&e);
  rc = predict_run(&a, &m, &e);
  ab_model_free(&m);
  cli_json_free(&a.json);
  return rc ? cli_fail(&e) : 0;
}
