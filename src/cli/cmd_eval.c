/* abgpu eval: a saved model on labelled customers: metrics, gains/lift, prior-corrected
 * probabilities, a threshold chooser, and an optional HTML report. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "abgpu/predictor.h"
#include "abgpu/report.h"
#include "abgpu/rng.h"
#include "cli.h"

#define DEFAULT_THRESHOLD 0.5
#define REPORT_IMP_ROWS 20000 /* rows sampled for the report's permutation importance */
#define REPORT_IMP_REPEATS 5

typedef struct eval_args {
  const char *model, *data, *report, *device, *train_data;
  ab_csv_format fmt;  /* the input-format flags */
  int threads;
  float threshold, prior, recall;
  int mode;           /* -1 no chooser, else ab_choose_mode */
  uint64_t budget, seed;
  cli_json json;
} eval_args;

static void eval_help(void) {
  printf("usage: abgpu eval --model M --data F [FLAGS]\n\n"
         "Scores labelled customers with a saved model and reports how good it is: accuracy,\n"
         "precision, recall, F1 (at a threshold on the raw probability), ROC AUC, PR AUC,\n"
         "log loss and Brier score (raw and corrected to the real share of buyers),\n"
         "cumulative gains and lift by decile, and a reliability table: mean predicted\n"
         "against observed buy rate in bins of 0.1 of the corrected probability (a chart in\n"
         "--report). The operating point (--budget, --target-recall, else --threshold) in a\n"
         "sentence, with the confusion matrix there; the report marks it on the ROC and gains\n"
         "charts. Warns when the file is the model's training data (the same hash): figures\n"
         "on it are optimistic.\n\n"
         "  --model M           model file from `abgpu train --out` (required)\n"
         "  --data F            CSV with the target column (required)\n"
         "  --threshold T       contact customers with raw probability >= T (default: %g)\n"
         "  --prior P           real share of buyers for corrected probabilities\n"
         "                      (default: the training file's share, stored in the model)\n"
         "  --target-recall R   choose the threshold that reaches recall R (0..1)\n"
         "  --budget N          choose the threshold that contacts the top N customers\n"
         "  --train-data F      the model's training file: warn when evaluated customers'\n"
         "                      ids are in it (default: the file the model names, when it\n"
         "                      is still there with the model's data hash)\n"
         "  --report FILE       also write an HTML report (ROC, gains, confusion, importance)\n"
         "  --seed S            seeds the report's permutation importance (default: 1)\n"
         CLI_DEVICE_HELP
         "  --json              one JSON object on stdout instead of text\n"
         "  --json-out F        the same object into file F (the text still on stdout)\n"
         "%s"
         "  -h, --help          this text\n", DEFAULT_THRESHOLD, cli_csv_help());
}

static int eval_value(eval_args *a, const char *name, const char *v) {
  if (!strcmp(name, "--model")) a->model = v;
  else if (!strcmp(name, "--data")) a->data = v;
  else if (!strcmp(name, "--report")) a->report = v;
  else if (!strcmp(name, "--device")) a->device = v;
  else if (!strcmp(name, "--train-data")) a->train_data = v;
  else if (!strcmp(name, "--threads")) return cli_int(&a->threads, v, 1, 4096);
  else if (!strcmp(name, "--threshold")) return cli_float(&a->threshold, v, 0, 1);
  else if (!strcmp(name, "--prior")) return cli_float(&a->prior, v, 1e-6, 1 - 1e-6);
  else if (!strcmp(name, "--seed")) return cli_u64(&a->seed, v);
  else if (!strcmp(name, "--target-recall")) {
    a->mode = a->mode == AB_CHOOSE_BUDGET ? 9 : AB_CHOOSE_RECALL;
    return cli_float(&a->recall, v, 1e-9, 1);
  } else if (!strcmp(name, "--budget")) {
    a->mode = a->mode == AB_CHOOSE_RECALL ? 9 : AB_CHOOSE_BUDGET;
    return cli_u64(&a->budget, v) || a->budget == 0 ? -1 : 0;
  }
  return 0;
}

static int eval_parse(eval_args *a, int argc, char **argv) {
  static const char *const names[] = {"--model", "--data", "--report", "--threshold", "--prior",
                                      "--seed", "--target-recall", "--budget", "--device",
                                      "--threads", "--train-data"};
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    int m = cli_csv_flag(argc, argv, &i, &a->fmt, "eval");
    if (m == 2) return 2;
    for (size_t k = 0; k < sizeof names / sizeof names[0] && !m; k++)
      if ((m = cli_opt(argc, argv, &i, names[k], &v)) < 0)
        return cli_no_value("eval", argc, argv, i);
      else if (m && eval_value(a, names[k], v))
        return cli_usage_error("eval", "%s: invalid value '%s'", names[k], v);
    if (m) continue;
    if ((m = cli_json_flag(&a->json, argc, argv, &i)) < 0)
      return cli_no_value("eval", argc, argv, i);
    else if (m) continue;
    else if (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h")) { eval_help(); return -1; }
    else return cli_usage_error("eval", "unknown flag '%s'", argv[i]);
  }
  if (a->mode == 9) return cli_usage_error("eval", "give --target-recall or --budget, not both");
  if (!a->model || !a->data) return cli_usage_error("eval", "--model and --data are required");
  return 0;
}

/* What eval computed, for the text, the JSON and the report. */
typedef struct eval_out {
  ab_model m;
  ab_scored s;
  ab_metrics mt;
  ab_gains g;
  ab_reliability rel;
  ab_choice c;
  ab_importance imp;
  double prior;
  uint64_t overlap;          /* evaluated customers whose id is in overlap_file */
  const char *overlap_file;  /* NULL: not checked */
  cli_scoring sc;     /* the backend of --device and the model's predictor on it */
} eval_out;

static int check_classes(const ab_scored *s, const char *path, ab_err *e) {
  size_t pos = 0;
  for (size_t i = 0; i < s->n; i++) pos += s->y[i];
  if (pos == 0 || pos == s->n)
    return ab_err_set(e, AB_EINPUT, "%s: all %zu targets are %d; evaluation needs customers "
                      "of both classes", path, s->n, pos ? 1 : 0);
  return AB_OK;
}

/* Importance for the report on at most REPORT_IMP_ROWS rows (a seeded sample). */
static int report_importance(eval_out *o, uint64_t seed, ab_err *e) {
  size_t n = o->s.n, k = n < REPORT_IMP_ROWS ? n : REPORT_IMP_ROWS;
  uint32_t *idx = malloc(n * sizeof *idx);
  float *x = malloc(k * AB_NFEAT * sizeof *x);
  uint8_t *y = malloc(k);
  int rc = !idx || !x || !y ? ab_err_set(e, AB_ENOMEM, "out of memory") : AB_OK;
  if (!rc) {
    ab_rng r;
    ab_rng_seed(&r, seed, 8);
    for (uint32_t i = 0; i < n; i++) idx[i] = i;
    if (k < n) ab_rng_shuffle_u32(&r, idx, (uint32_t)n);
    for (size_t i = 0; i < k; i++) {
      memcpy(x + i * AB_NFEAT, o->s.x + (size_t)idx[i] * AB_NFEAT, AB_NFEAT * sizeof *x);
      y[i] = o->s.y[idx[i]];
    }
    ab_importance_opts io = {REPORT_IMP_REPEATS, seed, ab_predictor_scorer_encoded(o->sc.p), NULL, NULL,
                             NULL, 0};
    rc = ab_importance_run(&o->imp, &o->m, x, y, k, &io, e);
  }
  free(idx); free(x); free(y);
  return rc;
}

/* Evaluated customers whose id is in the training file: --train-data, else the file the
 * model names when it is still there with the model's data hash (else not checked). */
static int id_overlap(eval_out *o, const eval_args *a, ab_err *e) {
  const char *path = a->train_data ? a->train_data : o->m.data;
  if (!a->train_data && (!strncmp(path, "synth:", 6) || access(path, R_OK))) return AB_OK;
  if (!a->train_data && o->s.data_hash == o->m.data_hash) return AB_OK; /* already warned */
  ab_scored t;
  ab_err quiet = {0};
  memset(&t, 0, sizeof t);
  int rc = ab_model_score_file(&t, &o->m, path, a->train_data ? &a->fmt : NULL, 0,
                               ab_predictor_scorer(o->sc.p), a->train_data ? e : &quiet);
  if (!rc && (a->train_data || t.data_hash == o->m.data_hash)) {
    rc = ab_ids_count_common(&o->s.ids, &t.ids, &o->overlap, e);
    o->overlap_file = path;
  }
  ab_scored_free(&t);
  return a->train_data ? rc : rc == AB_ENOMEM ? rc : AB_OK;
}

static void warn_overlap(const eval_out *o) {
  if (!o->overlap_file || !o->overlap) return;
  fprintf(stderr, "abgpu: warning: %llu of the %zu evaluated customers (%.1f%%) have ids in %s, "
          "the model's training file: their figures are optimistic\n",
          (unsigned long long)o->overlap, o->s.n, 100.0 * (double)o->overlap / (double)o->s.n,
          o->overlap_file);
}

static int eval_compute(eval_out *o, const eval_args *a, ab_err *e) {
  cli_backend_opts bo = {.threads = a->threads};
  int rc = ab_model_load(&o->m, a->model, e);
  if (!rc) rc = cli_scoring_open(&o->sc, &o->m, a->device, &bo, e);
  if (!rc)
    rc = ab_model_score_file(&o->s, &o->m, a->data, &a->fmt, 1, ab_predictor_scorer(o->sc.p), e);
  if (!rc) rc = check_classes(&o->s, a->data, e);
  if (rc) return rc;
  cli_warn_training_data(&o->m, &o->s, a->data);
  if ((rc = id_overlap(o, a, e))) return rc;
  warn_overlap(o);
  o->prior = a->prior > 0 ? a->prior : o->m.prior;
  double rho = o->m.train_ratio;
  rc = ab_metrics_compute(&o->mt, o->s.prob, o->s.y, o->s.n, a->threshold, o->prior, rho, e);
  if (!rc) rc = ab_gains_compute(&o->g, o->s.prob, o->s.y, o->s.n, o->prior, rho, e);
  if (!rc) ab_reliability_compute(&o->rel, o->s.prob, o->s.y, o->s.n, o->prior, rho);
  if (!rc && a->mode >= 0)
    rc = ab_choose_threshold(&o->c, o->s.prob, o->s.y, o->s.n, (ab_choose_mode)a->mode,
                             a->mode == AB_CHOOSE_RECALL ? a->recall : (double)a->budget, e);
  if (!rc && a->report) rc = report_importance(o, a->seed, e);
  return rc;
}

static void print_json(FILE *f, const eval_out *o, const eval_args *a) {
  char b[32];
  fprintf(f, "{\"model\": ");
  ab_json_str(f, a->model);
  fprintf(f, ", \"data\": ");
  ab_json_str(f, a->data);
  fprintf(f, ", \"prior_source\": \"%s\", \"train_ratio\": %s, \"threshold_applies_to\": \"raw\", ",
         a->prior > 0 ? "flag" : "model", ab_json_num(b, o->m.train_ratio));
  ab_json_metrics(f, &o->mt);
  fprintf(f, ", \"threshold_corrected\": %s, \"filled_fields\": %llu, \"gains\": ",
         ab_json_num(b, ab_prior_correct(a->threshold, o->prior, o->m.train_ratio)),
         (unsigned long long)cli_sum_filled(o->s.nfilled));
  ab_json_gains(f, &o->g);
  fprintf(f, ", \"reliability\": ");
  ab_json_reliability(f, &o->rel);
  fprintf(f, ", \"calibration\": "); /* every figure above is of its probabilities */
  ab_json_calibration(f, &o->m.calib);
  if (a->mode >= 0) {
    fprintf(f, ", \"choice\": ");
    ab_json_choice(f, &o->c, &o->m, o->prior);
  }
  fprintf(f, ", \"train_id_overlap\": ");
  if (o->overlap_file) fprintf(f, "%llu", (unsigned long long)o->overlap);
  else fprintf(f, "null");
  fprintf(f, ", \"train_id_overlap_file\": ");
  if (o->overlap_file) ab_json_str(f, o->overlap_file);
  else fprintf(f, "null");
  ab_op_point op = ab_op_point_of(&o->mt, a->mode >= 0 ? &o->c : NULL);
  fprintf(f, ", \"operating_point\": ");
  ab_json_op_point(f, &op);
  if (a->report) {
    fprintf(f, ", \"importance\": ");
    ab_json_importance(f, &o->imp, &o->m);
  }
  fprintf(f, "}\n");
}

static void print_confusion(FILE *f, const ab_op_point *m) {
  fprintf(f, "  confusion matrix     predicted buy  predicted not\n"
         "    actual buy    %15llu %14llu\n    actual not    %15llu %14llu\n",
         (unsigned long long)m->tp, (unsigned long long)m->fn, (unsigned long long)m->fp,
         (unsigned long long)m->tn);
}

static void print_gains(FILE *f, const ab_gains *g) {
  fprintf(f, "gains by decile (customers ranked by score, highest first):\n"
         "  contact   customers  buyers reached  share of buyers   lift  buy rate  corrected p\n");
  for (int d = 0; d < 10; d++) {
    const ab_gains_row *w = &g->row[d];
    fprintf(f, "  top %3d%%  %10llu  %14llu  %14.1f%%  %5.2f  %7.1f%%  %10.1f%%\n", 10 * w->decile,
           (unsigned long long)w->contacted, (unsigned long long)w->buyers,
           100 * w->buyers_share, w->lift, 100 * w->band_rate, 100 * w->band_prob);
  }
}

static void print_reliability(FILE *f, const ab_reliability *r) {
  fprintf(f, "reliability (customers by %s probability; calibrated: mean predicted = observed):\n"
          "  predicted    customers  buyers  mean predicted  observed buy rate\n",
          r->corrected ? "prior-corrected" : "raw");
  for (int b = 0; b < AB_RELIABILITY_BINS; b++) {
    const ab_reliability_bin *w = &r->bin[b];
    fprintf(f, "  %3d-%3d%%  %11llu  %6llu", 10 * b, 10 * (b + 1), (unsigned long long)w->n,
            (unsigned long long)w->buyers);
    if (w->n) fprintf(f, "  %13.1f%%  %16.1f%%\n", 100 * w->mean_prob, 100 * w->rate);
    else fprintf(f, "  %14s  %17s\n", "-", "-");
  }
}

static void print_choice(FILE *f, const eval_out *o) {
  const ab_choice *c = &o->c;
  if (c->mode == AB_CHOOSE_RECALL) fprintf(f, "threshold for recall %.1f%%: ", 100 * c->target);
  else fprintf(f, "threshold for a budget of %.0f customers: ", c->target);
  fprintf(f, "raw probability >= %.4f (prior-corrected %.4f): contact %llu customers, "
         "precision %.1f%%, recall %.1f%%\n", c->threshold,
         ab_prior_correct(c->threshold, o->prior, o->m.train_ratio),
         (unsigned long long)c->contacted, 100 * c->precision, 100 * c->recall);
}

static void print_text(FILE *f, const eval_out *o, const eval_args *a) {
  const ab_metrics *m = &o->mt;
  fprintf(f, "%s on %s: %llu customers, %llu buy again (%.1f%%)\n", a->model, a->data,
         (unsigned long long)m->n, (unsigned long long)m->npos, 100.0 * (double)m->npos / (double)m->n);
  fprintf(f, "probabilities: raw = the network's output%s%s (trained at %.1f%% buyers); "
         "corrected = mapped to %.1f%% buyers (%s)\n", o->m.calib.kind ? ", calibrated " : "",
         o->m.calib.kind ? ab_calib_name(o->m.calib.kind) : "", 100 * o->m.train_ratio,
         100 * o->prior, a->prior > 0 ? "--prior" : "the training file's share");
  fprintf(f, "ranking (same for raw and corrected): ROC AUC %.4f, PR AUC %.4f, top-decile lift %.2f\n",
         m->roc_auc, m->pr_auc, o->g.row[0].lift);
  fprintf(f, "at threshold %.2f on the raw probability (corrected %.4f): accuracy %.2f%%, "
         "precision %.2f%%, recall %.2f%%, F1 %.4f\n", m->threshold,
         ab_prior_correct(m->threshold, o->prior, o->m.train_ratio), 100 * m->accuracy,
         100 * m->precision, 100 * m->recall, m->f1);
  fprintf(f, "log loss %.4f raw, %.4f corrected; Brier score %.4f raw, %.4f corrected\n",
         m->log_loss, m->log_loss_corrected, m->brier, m->brier_corrected);
  print_gains(f, &o->g);
  print_reliability(f, &o->rel);
  if (a->mode >= 0) print_choice(f, o);
  ab_op_point op = ab_op_point_of(m, a->mode >= 0 ? &o->c : NULL);
  char sent[200];
  ab_op_sentence(sent, sizeof sent, &op);
  fprintf(f, "operating point (%s, raw probability >= %.4f): %s\n",
          a->mode < 0 ? "--threshold" : a->mode == AB_CHOOSE_BUDGET ? "--budget" : "--target-recall",
          op.threshold, sent);
  print_confusion(f, &op);
}

static int write_outputs(eval_out *o, eval_args *a, ab_err *e) {
  char when[32];
  ab_report r = {"Evaluation report", a->data, a->model, &o->m, NULL, 0, &o->mt, &o->g,
                 &o->imp, a->mode >= 0 ? &o->c : NULL, o->s.prob, o->s.y, o->s.n,
                 cli_now_utc(when, sizeof when), 1, o->s.data_hash, o->overlap,
                 o->overlap_file, NULL, 0};
  ab_outfile rep;
  int rc = a->report ? ab_outfile_open(&rep, a->report, e) : AB_OK;
  if (!rc && a->report && (rc = ab_report_print(rep.f, &r, e))) ab_outfile_abort(&rep);
  if (rc) return rc;
  FILE *jf = cli_json_stream(&a->json);
  if (jf) print_json(jf, o, a);
  /* text on stdout unless --json has it; on stderr when the report goes to stdout */
  if (!a->json.to_stdout) print_text(a->report && !strcmp(a->report, "-") ? stderr : stdout, o, a);
  ab_outfile *outs[1] = {&rep};
  return cli_commit(outs, a->report ? 1 : 0, &a->json, e);
}

int cmd_eval(int argc, char **argv) {
  eval_args a = {0};
  a.threshold = DEFAULT_THRESHOLD;
  a.mode = -1;
  a.seed = 1;
  cli_csv_init(&a.fmt);
  int rc = eval_parse(&a, argc, argv);
  if (rc) return rc < 0 ? 0 : rc;
  ab_path_use out[3] = {{"--report", a.report}, {"--json", a.json.to_stdout ? "-" : NULL},
                        {"--json-out", a.json.path}};
  ab_path_use in[2] = {{"--model", a.model}, {"--data", a.data}};
  if ((rc = cli_check_outputs(out, 3, in, 2))) return rc;
  eval_out o;
  memset(&o, 0, sizeof o);
  ab_err e = {0};
  rc = eval_compute(&o, &a, &e);
  if (!rc) cli_note_filled(o.s.nfilled, &o.m);
  if (!rc) rc = write_outputs(&o, &a, &e);
  cli_scoring_close(&o.sc);
  ab_scored_free(&o.s);
  ab_model_free(&o.m);
  cli_json_free(&a.json);
  return rc ? cli_fail(&e) : 0;
}
