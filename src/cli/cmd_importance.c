/* abgpu importance: which features bring customers back, by permutation importance
 * (the drop in ROC AUC when one feature is shuffled) on labelled held-out data. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "abgpu/predictor.h"
#include "abgpu/report.h"
#include "cli.h"

#define DEFAULT_REPEATS 5
#define DEFAULT_SEED 1
#define PROGRESS_ROWS 100000 /* progress lines on stderr from this many rows (or a tty) */

static void importance_help(void) {
  printf("usage: abgpu importance --model M --data F [FLAGS]\n\n"
         "Permutation importance on labelled customers the model has not seen: for each\n"
         "feature, shuffle its column R times and measure the drop in ROC AUC (mean and\n"
         "standard deviation), ranked from the most to the least important. The repeats of a\n"
         "feature are scored together on the device, in chunks that the --threads of the cpu\n"
         "device share (the figures are the same for any number of them); progress goes to\n"
         "stderr for large files (%d rows or more) or a terminal. Warns when the file is\n"
         "the model's training data (the same hash). Then the direction of effect (partial\n"
         "dependence): each feature set to the middle of each tenth of its values in every\n"
         "customer (up to %d, evenly spaced), the mean predicted probability of buying at\n"
         "the real buyer share (in --json: pd_values and pd_probability, ten each).\n\n"
         "  --model M         model file from `abgpu train --out` (required)\n"
         "  --data F          CSV with the target column (required)\n"
         "  --repeats R       shuffles per feature (default: %d)\n"
         "  --seed S          seeds the shuffles (default: %d)\n"
         CLI_DEVICE_HELP
         "  --quiet           no progress lines\n"
         "  --json            one JSON object on stdout instead of text\n"
         "  --json-out F      the same object into file F (the text still on stdout)\n"
         "%s"
         "  -h, --help        this text\n", PROGRESS_ROWS, AB_PD_ROWS, DEFAULT_REPEATS, DEFAULT_SEED,
         cli_csv_help());
}

typedef struct imp_args {
  const char *model, *data, *device;
  int repeats, threads, quiet;
  uint64_t seed;
  ab_csv_format fmt;  /* the input-format flags */
  cli_json json;
} imp_args;

static int imp_parse(imp_args *a, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *v;
    int m = cli_csv_flag(argc, argv, &i, &a->fmt, "importance");
    if (m == 2) return 2;
    if (m) continue;
    if ((m = cli_opt(argc, argv, &i, "--model", &v)) > 0) a->model = v;
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--data", &v)) > 0) a->data = v;
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--repeats", &v)) > 0)
      m = cli_int(&a->repeats, v, 1, 10000) ? -2 : 1;
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--seed", &v)) > 0) m = cli_u64(&a->seed, v) ? -2 : 1;
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--device", &v)) > 0) a->device = v;
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--threads", &v)) > 0)
      m = cli_int(&a->threads, v, 1, 4096) ? -2 : 1;
    else if (m == 0 && cli_switch(argv, i, "--quiet")) { a->quiet = 1; m = 1; }
    else if (m == 0 && (m = cli_json_flag(&a->json, argc, argv, &i)) > 0) continue;
    else if (m == 0 && (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h"))) {
      importance_help();
      return -1;
    } else if (m == 0) return cli_usage_error("importance", "unknown flag '%s'", argv[i]);
    if (m == -1) return cli_no_value("importance", argc, argv, i);
    if (m == -2) return cli_usage_error("importance", "%s: invalid value '%s'", argv[i - 1], v);
  }
  if (!a->model || !a->data) return cli_usage_error("importance", "--model and --data are required");
  return 0;
}

#define PD_FLAT 0.005 /* a change in mean probability below this is "little change" */

/* One line per feature, in rank order: the mean probability at its lowest and highest
 * point, those points, and what that says. */
static void print_direction(const ab_importance *imp, const ab_model *m) {
  printf("direction of effect (partial dependence on %zu customers): the mean probability of\n"
         "buying%s with the feature set to the middle of its lowest tenth -> highest tenth:\n",
         imp->pd_rows, m->prior > 0 && m->prior < 1 ? " at the real buyer share" : "");
  for (int r = 0; r < AB_NFEAT; r++) {
    int j = imp->rank[r];
    const char *label = ab_feature_label(m->feature_names[j]);
    double lo = imp->pd_prob[j][0], hi = imp->pd_prob[j][AB_PD_POINTS - 1];
    char at[64];
    snprintf(at, sizeof at, "(%.4g to %.4g)", imp->pd_value[j][0],
             imp->pd_value[j][AB_PD_POINTS - 1]);
    printf("  %-32s %5.1f%% -> %5.1f%%  %-20s ", label, 100 * lo, 100 * hi, at);
    if (fabs(hi - lo) < PD_FLAT) printf("little change with %s\n", label);
    else printf("more %s: %s likely to buy\n", label, hi > lo ? "more" : "less");
  }
}

static void print_text(const ab_importance *imp, const ab_model *m, const imp_args *a) {
  printf("permutation importance on %s (%zu customers, %d repeats, seed %llu): drop in ROC AUC "
         "from %.4f when the feature is shuffled\n", a->data, imp->rows, imp->repeats,
         (unsigned long long)imp->seed, imp->base_auc);
  printf("  rank  feature                          mean drop        sd\n");
  for (int r = 0; r < AB_NFEAT; r++) {
    int j = imp->rank[r];
    printf("  %4d  %-32s %+9.4f %9.4f\n", r + 1, ab_feature_label(m->feature_names[j]),
           imp->mean[j], imp->sd[j]);
  }
  print_direction(imp, m);
}

/* Progress on stderr: one line per feature, with the time so far. */
typedef struct progress { double t0; } progress;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void on_feature(void *user, int done, int total, const char *feature) {
  progress *p = user;
  fprintf(stderr, "abgpu: importance: %d/%d features done (%s), %.1f s\n", done, total,
          feature, now_s() - p->t0);
}

/* The file scored on the device (all its threads), then the shuffles on one scorer per
 * thread (cli_scorers). */
static int run(const imp_args *a, ab_model *m, ab_scored *s, ab_importance *imp, ab_err *e) {
  cli_scoring sc;
  cli_scorers many = {0};
  cli_backend_opts bo = {.threads = a->threads};
  progress pr = {now_s()};
  int rc = cli_scoring_open(&sc, m, a->device, &bo, e);
  if (!rc) rc = ab_model_score_file(s, m, a->data, &a->fmt, 1, ab_predictor_scorer(sc.p), e);
  if (!rc) cli_warn_training_data(m, s, a->data);
  if (!rc) rc = cli_scorers_open(&many, m, a->device, &bo, e);
  int show = !a->quiet && !rc && (s->n >= PROGRESS_ROWS || isatty(STDERR_FILENO));
  if (show)
    fprintf(stderr, "abgpu: importance on %zu customers, %d repeats per feature, on %s, "
            "%d thread%s\n", s->n, a->repeats, sc.be->name, many.n, many.n == 1 ? "" : "s");
  cli_scoring_close(&sc);
  ab_importance_opts o = {a->repeats, a->seed, {0}, show ? on_feature : NULL, &pr,
                          many.sc, many.n};
  if (!rc) rc = ab_importance_run(imp, m, s->x, s->y, s->n, &o, e);
  cli_scorers_close(&many);
  return rc;
}

int cmd_importance(int argc, char **argv) {
  imp_args a = {NULL, NULL, NULL, DEFAULT_REPEATS, 0, 0, DEFAULT_SEED, {0}, {0}};
  cli_csv_init(&a.fmt);
  int rc = imp_parse(&a, argc, argv);
  if (rc) return rc < 0 ? 0 : rc;
  ab_path_use outs[2] = {{"--json", a.json.to_stdout ? "-" : NULL}, {"--json-out", a.json.path}};
  ab_path_use in[2] = {{"--model", a.model}, {"--data", a.data}};
  if ((rc = cli_check_outputs(outs, 2, in, 2))) return rc;
  ab_model m;
  ab_scored s = {0};
  ab_importance imp;
  ab_err e = {0};
  rc = ab_model_load(&m, a.model, &e);
  if (!rc) rc = run(&a, &m, &s, &imp, &e);
  if (!rc) {
    cli_note_filled(s.nfilled, &m);
    FILE *jf = cli_json_stream(&a.json);
    if (jf) {
      ab_json_importance(jf, &imp, &m);
      fputc('\n', jf);
    }
    if (!a.json.to_stdout) print_text(&imp, &m, &a);
    rc = cli_commit(NULL, 0, &a.json, &e);
  }
  cli_json_free(&a.json);
  ab_scored_free(&s);
  ab_model_free(&m);
  return rc ? cli_fail(&e) : 0;
}
