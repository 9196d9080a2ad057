/* abgpu train: data -> prep -> backend -> training loop -> test accuracy. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/cpu.h"
#include "abgpu/model.h"
#include "abgpu/predictor.h"
#include "abgpu/prep.h"
#include "abgpu/report.h"
#include "abgpu/source.h"
#include "abgpu/synth.h"
#include "abgpu/train.h"
#include "cli.h"

#define DEFAULT_DATA "synth:14084"
#define IMPORTANCE_ROWS 20000 /* test rows used for the permutation importance */
#define IMPORTANCE_REPEATS 5

typedef struct train_args {
  const char *data, *device, *hidden, *act, *gemm, *out, *report, *ckpt, *resume;
  ab_train_cfg cfg;
  ab_prep_opts prep;
  ab_csv_opts csv;             /* csv.fmt: the input-format flags */
  int quiet, verbose, compat, balance_set, threads, ckpt_every;
  cli_json json;
  int ensemble;             /* networks trained (seeds S, S+1, ...) and saved as one model */
  ab_calib_kind calibrate;  /* fitted on the validation split after training */
  char note[4096];          /* the flags, stored in checkpoints for --resume */
} train_args;

static void train_help(void) {
  ab_train_cfg c;
  ab_prep_opts p;
  ab_recipe_default(&c, &p);
  printf("usage: abgpu train [FLAGS]\n\n"
         "Trains the repurchase model and prints one line per epoch and the test accuracy.\n"
         "The defaults are the recipe chosen by measurement (docs/manual.md): the notebook's\n"
         "network and optimiser, patience %d with the best epoch kept, inputs %s,\n"
         "balance %s.\n\n"
         "  --data F          CSV export, or synth:N[:SEED] for N synthetic customers\n"
         "                    (default: %s, seed %u)\n"
         "  --device D        cpu (fast CPU path), ref (plain C reference), gpu (this node's\n"
         "                    GPU for its local rank) or an OpenCL device index from\n"
         "                    `abgpu devices` (default: $ABGPU_DEVICE, else cpu)\n"
         "  --threads N       threads of the cpu device, at most (default: all cores, %d\n"
         "                    here; it uses as many as pay, docs/cpu.md)\n"
         "  --gemm G          OpenCL GEMM path: own or clblast (default: own)\n"
         "  --hidden W,W      hidden layer widths (default: 100,100)\n"
         "  --act A,A         hidden activations: relu, sigmoid, tanh (default: relu,sigmoid)\n"
         "  --lr X            Adam learning rate (default: %g; beta 0.9/0.999, eps 1e-8)\n"
         "  --batch N         batch size; the last partial batch is dropped (default: %d)\n"
         "  --wd X            AdamW decoupled weight decay, 0 = plain Adam (default: %g)\n"
         "  --dropout P       inverted dropout on the hidden layers' outputs in training,\n"
         "                    0 <= P < 1 (off at evaluation and prediction; with it every\n"
         "                    batch runs the per-op step) (default: %g)\n"
         "  --epochs N        at most N epochs (default: %d)\n"
         "  --patience N      stop after N epochs without a better validation loss\n"
         "                    (default: %d; 0 = stop at the first that is not better)\n"
         "  --min-epochs N    never stop early before epoch N (default: %d)\n"
         "  --stop R          best (patience counts epochs since the best validation\n"
         "                    loss) or rise (stop at the first epoch whose validation loss\n"
         "                    is above the previous one's, the notebook) (default: %s)\n"
         "  --batch-order O   shuffle (a new batch order every epoch) or fixed (the\n"
         "                    training split in its shuffled order, the same every epoch,\n"
         "                    as the notebook) (default: %s)\n"
         "  --lr-schedule S   none, plateau (halve the rate after %d epochs without a\n"
         "                    better validation loss, at most %d times) or cosine (down to\n"
         "                    0 at the --epochs limit) (default: %s)\n"
         "  --seed S          seeds balancing, shuffling, initialisation, batch order (default: %llu)\n"
         "  --balance M       random (seeded undersampling), first (the notebook: first N\n"
         "                    zeros in file order) or none (default: %s)\n"
         "  --split A,B,C     train,validation,test percentages (default: %d,%d,%d)\n"
         "  --transform T     input transforms: none, or a list of log1p (of the skewed\n"
         "                    minute, price, listening, support and days features), ple:N\n"
         "                    (piecewise-linear encoding over N quantile bins, 2..255) and\n"
         "                    te (out-of-fold target encoding of the repeating columns),\n"
         "                    e.g. log1p,ple:32,te; fitted on the training split and kept\n"
         "                    in the model (default: %s)\n"
         "  --ensemble N      train N networks (seeds S, S+1, ... for initialisation and\n"
         "                    batch order, one split) and save their average as one model\n"
         "                    (default: 1)\n"
         "  --missing M       empty fields: error, mean, median or zero (default: error)\n"
         "  --calibrate C     none, platt (sigmoid of a*logit(p)+b) or isotonic\n"
         "                    (pool-adjacent-violators, interpolated): fitted after training\n"
         "                    on the validation split's probabilities (at its share of\n"
         "                    buyers), kept in the model and applied to every probability\n"
         "                    it gives: predict, eval, importance, export (default: none)\n"
         "%s"
         "  --seed-compat     the notebook's recipe: --balance first, scaler fitted on all\n"
         "                    balanced rows, --transform none, --batch-order fixed, --stop\n"
         "                    rise, keep the last epoch's weights (flags given with it\n"
         "                    apply on top)\n"
         "  --quiet           no per-epoch lines\n"
         "  --json            one JSON object with the results on stdout at the end (the\n"
         "                    other lines go to stderr)\n"
         "  --json-out F      the same object into file F\n"
         "  --verbose         backend details (OpenCL build options, the cpu device's\n"
         "                    kernels and threads) on stderr\n"
         "  --out FILE        save the model (.abm: weights, scaler, fills, config,\n"
         "                    metrics) for eval, predict, importance, export; - for stdout,\n"
         "                    the other lines then go to stderr (default: none)\n"
         "  --report FILE     write an HTML report: curves, ROC, gains, confusion matrix,\n"
         "                    importance, configuration (default: none)\n"
         "  --checkpoint F    checkpoint file: weights, Adam and RNG state, epoch, early\n"
         "                    stopping (default: FILE.ckpt for --out FILE, else\n"
         "                    abgpu-train.ckpt); written atomically on SIGINT/SIGTERM, which\n"
         "                    stop after the current epoch (exit 130/143; a second signal\n"
         "                    stops at once); removed when the run completes\n"
         "  --checkpoint-every N  also write it after every N epochs (default: 0 = only\n"
         "                    when interrupted)\n"
         "  --resume F        continue the run saved in checkpoint F with the flags it was\n"
         "                    started with (flags given here are applied on top); the\n"
         "                    result equals the uninterrupted run's\n"
         "  -h, --help        this text\n",
         c.patience, AB_TRANSFORM_STR(p.transform), ab_balance_name(p.balance),
         DEFAULT_DATA, AB_SYNTH_DEFAULT_SEED, ab_cpu_count(), c.lr, c.batch, c.wd,
         (double)c.dropout, c.epochs,
         c.patience, c.min_epochs, ab_stop_name(c.stop),
         ab_order_name(c.order), AB_PLATEAU_WAIT, AB_PLATEAU_CUTS, ab_sched_name(c.sched),
         (unsigned long long)c.seed, ab_balance_name(p.balance), p.split[0], p.split[1],
         p.split[2], AB_TRANSFORM_STR(p.transform), cli_csv_help());
}

/* Parses one flag with a value; returns 0 handled, 1 not this kind, 2 error (printed). */
static int train_value_flag(train_args *a, int argc, char **argv, int *i) {
  static const char *const names[] = {"--data", "--device", "--hidden", "--act", "--lr",
                                      "--batch", "--epochs", "--patience", "--seed",
                                      "--balance", "--split", "--missing", "--gemm", "--out",
                                      "--report", "--threads", "--wd", "--transform", "--checkpoint",
                                      "--checkpoint-every", "--resume", "--batch-order",
                                      "--lr-schedule", "--min-epochs", "--stop", "--ensemble",
                                      "--dropout", "--calibrate"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    const char *v;
    int m = cli_opt(argc, argv, i, names[k], &v);
    if (m == 0) continue;
    if (m < 0) return cli_no_value("train", argc, argv, *i);
    int bad = 0;
    switch (k) {
      case 0: a->data = v; break;
      case 1: a->device = v; break;
      case 2: a->hidden = v; break;
      case 3: a->act = v; break;
      case 4: bad = cli_float(&a->cfg.lr, v, 1e-9, 10); break;
      case 5: bad = cli_int(&a->cfg.batch, v, 1, 1 << 20); break;
      case 6: bad = cli_int(&a->cfg.epochs, v, 1, 1000000); break;
      case 7: bad = cli_int(&a->cfg.patience, v, 0, 1000000); break;
      case 8: bad = cli_u64(&a->cfg.seed, v); break;
      case 9: bad = ab_balance_parse(&a->prep.balance, v); a->balance_set = 1; break;
      case 10: bad = ab_split_parse(a->prep.split, v); break;
      case 11: bad = ab_missing_parse(&a->csv.missing, v); break;
      case 12: a->gemm = v; bad = strcmp(v, "own") && strcmp(v, "clblast"); break;
      case 13: a->out = v; break;
      case 14: a->report = v; break;
      case 15: bad = cli_threads(&a->threads, v); break;
      case 16: bad = cli_float(&a->cfg.wd, v, 0, 10); break;
      case 17: bad = ab_transform_parse(&a->prep.transform, v); break;
      case 18: a->ckpt = v; break;
      case 19: bad = cli_int(&a->ckpt_every, v, 0, 1000000); break;
      case 20: a->resume = v; break;
      case 21: bad = ab_order_parse(&a->cfg.order, v); break;
      case 22: bad = ab_sched_parse(&a->cfg.sched, v); break;
      case 23: bad = cli_int(&a->cfg.min_epochs, v, 0, 1000000); break;
      case 24: bad = ab_stop_parse(&a->cfg.stop, v); break;
      case 25: bad = cli_int(&a->ensemble, v, 1, AB_MODEL_MAX_NETS); break;
      case 26: bad = cli_float(&a->cfg.dropout, v, 0, 0.99); break;
      case 27:
        if (ab_calib_parse(&a->calibrate, v))
          return cli_usage_error("train", "--calibrate: '%s' is not none, platt or isotonic", v);
        break;
    }
    if (bad) return cli_usage_error("train", "%s: invalid value '%s'", names[k], v);
    return 0;
  }
  return 1;
}

static int train_parse(train_args *a, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    int c = cli_csv_flag(argc, argv, &i, &a->csv.fmt, "train");
    if (c == 2) return 2;
    if (c) continue;
    int r = train_value_flag(a, argc, argv, &i);
    if (r == 0) continue;
    if (r == 2) return 2;
    if ((r = cli_json_flag(&a->json, argc, argv, &i)) < 0)
      return cli_no_value("train", argc, argv, i);
    else if (r > 0) continue;
    else if (cli_switch(argv, i, "--quiet")) a->quiet = 1;
    else if (cli_switch(argv, i, "--verbose")) a->verbose = 1;
    else if (cli_switch(argv, i, "--seed-compat")) a->compat = 1;
    else if (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h")) { train_help(); return -1; }
    else return cli_usage_error("train", "unknown flag '%s'", argv[i]);
  }
  if (a->compat && a->balance_set && a->prep.balance != AB_BALANCE_FIRST)
    return cli_usage_error("train", "--seed-compat uses --balance first");
  return 0;
}

typedef struct epoch_out { FILE *f; int epochs, quiet; } epoch_out;

/* One line per epoch: the model's figures, or with --ensemble the first network's and
 * how many are still training. */
static int print_epoch(const ab_epoch_stats *s, const uint8_t *active, int K, void *user) {
  epoch_out *o = user;
  int left = 0;
  for (int k = 0; k < K; k++) left += active[k];
  if (!o->quiet)
    fprintf(o->f, "epoch %3d/%d  train loss %.4f  val loss %.4f  val accuracy %.2f%%  %.1f ms",
            s->epoch, o->epochs, s->train_loss, s->val_loss, 100.0 * s->val_acc, s->ms);
  if (!o->quiet) fprintf(o->f, K > 1 ? "  (network 1; %d of %d still training)\n" : "\n", left, K);
  fflush(o->f); /* progress shows as it happens, also through a pipe or file */
  return cli_stop_signal != 0; /* SIGINT/SIGTERM: stop after this epoch, with a checkpoint */
}

/* What train adds after the loop for --out, --report and --json: the model with its
 * validation and test metrics, the test split's scores, gains and permutation importance,
 * scored on the device train ran on, as eval and importance score there: the splits by a
 * predictor on train's backend; importance on the cpu device by one single-threaded
 * scorer per thread (cli_scorers, as `abgpu importance`), elsewhere by that predictor. */
typedef struct train_extra {
  ab_model m;
  ab_predictor *p;    /* the model on train's backend, while it scores */
  cli_scorers many;   /* cpu: importance's scorers, while it runs (none elsewhere) */
  float *prob;        /* test split, raw probabilities */
  uint8_t *y;
  ab_gains g;
  ab_importance imp;
  int have_imp;       /* 0 when the test rows used hold one class only */
  int balanced;       /* the classes were balanced: the splits are not the real mix */
  ab_metrics nat;     /* balanced: the test split's figures at the real share (estimated) */
  double nat_lift;
} train_extra;

static void print_json_extra(FILE *f, const train_args *a, const train_extra *x) {
  char b1[32], b2[32];
  fprintf(f, ", \"model\": ");
  if (a->out) ab_json_str(f, a->out);
  else fprintf(f, "null");
  fprintf(f, ", \"prior\": %s, \"train_ratio\": %s, \"data_hash\": \"%016llx\", \"test_metrics\": {",
          ab_json_num(b1, x->m.prior), ab_json_num(b2, x->m.train_ratio),
          (unsigned long long)x->m.data_hash);
  ab_json_metrics(f, &x->m.test);
  if (x->balanced) {
    char b3[32];
    fprintf(f, "}, \"test_lift_natural_estimate\": %s, \"test_metrics_natural_estimate\": {",
            ab_json_num(b3, x->nat_lift));
    ab_json_metrics(f, &x->nat);
  }
  fprintf(f, "}, \"val_metrics\": {");
  ab_json_metrics(f, &x->m.val);
  fprintf(f, "}, \"test_gains\": ");
  ab_json_gains(f, &x->g);
  fprintf(f, ", \"importance\": ");
  if (x->have_imp) ab_json_importance(f, &x->imp, &x->m);
  else fprintf(f, "null");
}

/* With --ensemble: each network's epochs and its own test accuracy. */
static void print_json_members(FILE *f, const ab_train_result *r, int K) {
  char b[2][32];
  fprintf(f, ", \"ensemble\": %d, \"members\": [", K);
  for (int k = 0; k < K; k++)
    fprintf(f, "%s{\"epochs\": %d, \"best_epoch\": %d, \"test_accuracy\": %s, \"val_loss\": %s}",
            k ? ", " : "", r[k].epochs, r[k].best_epoch, ab_json_num(b[0], r[k].test_acc),
            ab_json_num(b[1], r[k].val_loss));
  fprintf(f, "]");
}

static void print_json_history(FILE *f, const ab_train_result *r) {
  char b[4][32];
  fprintf(f, ", \"history\": [");
  for (int i = 0; i < r->epochs; i++)
    fprintf(f, "%s{\"epoch\": %d, \"train_loss\": %s, \"val_loss\": %s, \"val_accuracy\": %s, "
            "\"ms\": %s}", i ? ", " : "", r->hist[i].epoch, ab_json_num(b[0], r->hist[i].train_loss),
            ab_json_num(b[1], r->hist[i].val_loss), ab_json_num(b[2], r->hist[i].val_acc),
            ab_json_fixed(b[3], r->hist[i].ms, 4));
  fprintf(f, "]");
}

/* The run's figures; with --ensemble the averaged model's (x->m), history of network 1. */
static void print_json(FILE *f, const train_args *a, const ab_backend *be, const ab_splits *s,
                       const ab_train_result *r, const train_extra *x) {
  char arch[128], b[6][32];
  ab_arch_describe(&a->cfg.arch, arch, sizeof arch);
  int K = a->ensemble, mx = K > 1 || x->m.calib.kind != AB_CALIB_NONE; /* the model's */
  fprintf(f, "{\"test_accuracy\": %s, \"test_loss\": %s, \"val_accuracy\": %s, "
          "\"val_loss\": %s, \"train_loss\": %s, \"epochs\": %d, \"best_epoch\": %d, "
          "\"ms_per_epoch\": %s, \"device\": ",
          ab_json_num(b[0], mx ? x->m.test.accuracy : r->test_acc),
          ab_json_num(b[1], mx ? x->m.test.log_loss : r->test_loss),
          ab_json_num(b[2], mx ? x->m.val.accuracy : r->val_acc),
          ab_json_num(b[3], mx ? x->m.val.log_loss : r->val_loss),
          ab_json_num(b[4], r->train_loss), r->epochs, r->best_epoch,
          ab_json_fixed(b[5], r->ms_per_epoch, 4));
  ab_json_str(f, be->name);
  fprintf(f, ", \"seed\": %llu, \"data\": ", (unsigned long long)a->cfg.seed);
  ab_json_str(f, a->data);
  fprintf(f, ", \"rows\": %zu, \"train_rows\": %zu, \"val_rows\": %zu, \"test_rows\": %zu, "
          "\"inputs\": %d, \"transform\": ", s->n_total, s->train.n, s->val.n, s->test.n,
          s->train.d);
  ab_json_str(f, AB_TRANSFORM_STR(a->prep.transform));
  fprintf(f, ", \"arch\": ");
  ab_json_str(f, arch);
  fprintf(f, ", \"balance\": ");
  ab_json_str(f, ab_balance_name(a->compat ? AB_BALANCE_FIRST : a->prep.balance));
  fprintf(f, ", \"seed_compat\": %s, \"config\": ", a->compat ? "true" : "false");
  ab_json_model_config(f, &x->m);
  fprintf(f, ", \"calibration\": ");
  ab_json_calibration(f, &x->m.calib);
  print_json_history(f, r);
  if (K > 1) print_json_members(f, r, K);
  print_json_extra(f, a, x);
  fprintf(f, "}\n");
}

static void print_summary(FILE *f, const ab_splits *s, const ab_train_result *r, int K) {
  for (int k = 0; k < K; k++) {
    if (K > 1) fprintf(f, "network %d: ", k + 1);
    fprintf(f, "best epoch %d of %d, %.1f ms/epoch\n", r[k].best_epoch, r[k].epochs, r[k].ms_per_epoch);
  }
  if (K == 1)
    fprintf(f, "test accuracy %.2f%% (%.0f of %zu customers), test loss %.4f\n",
            100.0 * r->test_acc, r->test_acc * (double)s->test.n, s->test.n, r->test_loss);
}

/* The averaged model's figures, once it exists (--ensemble). */
static void print_ensemble(FILE *f, const ab_model *m, int K) {
  fprintf(f, "ensemble of %d networks: test accuracy %.2f%% (%llu of %llu customers), test "
          "loss %.4f, test ROC AUC %.4f\n", K, 100.0 * m->test.accuracy,
          (unsigned long long)(m->test.tp + m->test.tn), (unsigned long long)m->test.n,
          m->test.log_loss, m->test.roc_auc);
}

/* At the file's share of buyers (--balance none) the corrected figures are eval's (the
 * correction is the identity there); a balanced split gets raw figures only. */
static int split_metrics(ab_metrics *mt, train_extra *x, const ab_split *sp, ab_err *e) {
  for (size_t i = 0; i < sp->n; i++) x->y[i] = sp->y[i] != 0;
  int rc = ab_predictor_run(x->p, sp->x, sp->n, x->prob, e);
  double prior = x->balanced ? 0 : x->m.prior;
  return rc ? rc : ab_metrics_compute(mt, x->prob, x->y, sp->n, 0.5, prior, x->m.train_ratio, e);
}

/* Permutation importance on the first k test rows (x->y): on the cpu device with the
 * scorers of `abgpu importance --device cpu --threads`, elsewhere with x->p. */
static int test_importance(train_extra *x, const train_args *a, const ab_splits *s, size_t k,
                           ab_err *e) {
  ab_importance_opts o = {IMPORTANCE_REPEATS, a->cfg.seed, ab_predictor_scorer_encoded(x->p),
                          NULL, NULL, NULL, 0};
  if (cli_device_is_cpu(a->device)) {
    cli_backend_opts bo = {.threads = a->threads};
    int rc = cli_scorers_open(&x->many, &x->m, a->device, &bo, e);
    if (rc) return rc;
    o.scorers = x->many.sc;
    o.nscorers = x->many.n;
  }
  int rc = ab_importance_run(&x->imp, &x->m, s->test.x, x->y, k, &o, e);
  cli_scorers_close(&x->many);
  return rc;
}

/* --calibrate: the finished model's probabilities of the validation split (x->p, the
 * figures' scorer, before the model has a calibrator) against its labels; the calibrator
 * goes into the model, so every figure after it (x->p reads it) is calibrated. */
static int calibrate(train_extra *x, ab_calib_kind k, const ab_split *val, FILE *info,
                     ab_err *e) {
  for (size_t i = 0; i < val->n; i++) x->y[i] = val->y[i] != 0;
  int rc = ab_predictor_run(x->p, val->x, val->n, x->prob, e);
  if (!rc && (rc = ab_calib_fit(&x->m.calib, k, x->prob, x->y, val->n, e))) {
    char why[sizeof e->msg];
    snprintf(why, sizeof why, "%s", e->msg);
    ab_err_set(e, rc, "--calibrate %s on the validation split: %s; no model written",
               ab_calib_name(k), why);
  }
  if (rc) return rc;
  const ab_calib *c = &x->m.calib;
  fprintf(info, "calibration %s", ab_calib_name(k));
  if (k == AB_CALIB_PLATT) fprintf(info, " (a %.4f, b %.4f)", c->a, c->b);
  else fprintf(info, " (%u breakpoints)", c->n);
  fprintf(info, " on the validation split (%zu customers): log loss %.4f -> %.4f, Brier %.4f -> "
          "%.4f\n", val->n, c->val_log_loss[0], c->val_log_loss[1], c->val_brier[0],
          c->val_brier[1]);
  return AB_OK;
}

/* Validation and test metrics (after --calibrate's fit); leaves the test split's scores in
 * x->prob, x->y. */
static int extra_metrics(train_extra *x, const train_args *a, ab_backend *be,
                         const ab_splits *s, FILE *info, ab_err *e) {
  size_t n = s->val.n > s->test.n ? s->val.n : s->test.n, k = s->test.n, pos = 0;
  x->prob = malloc((n ? n : 1) * sizeof *x->prob);
  x->y = malloc(n ? n : 1);
  if (!x->prob || !x->y) return ab_err_set(e, AB_ENOMEM, "out of memory");
  int rc = ab_predictor_open(&x->p, be, &x->m, e);
  if (!rc && a->calibrate != AB_CALIB_NONE) rc = calibrate(x, a->calibrate, &s->val, info, e);
  if (!rc) rc = split_metrics(&x->m.val, x, &s->val, e);
  if (!rc) rc = split_metrics(&x->m.test, x, &s->test, e);
  if (!rc && x->balanced)
    rc = ab_metrics_at_prior(&x->nat, &x->nat_lift, x->prob, x->y, s->test.n, 0.5, x->m.prior,
                             x->m.train_ratio, e);
  if (!rc)
    rc = ab_gains_compute(&x->g, x->prob, x->y, s->test.n, x->balanced ? 0 : x->m.prior,
                          x->m.train_ratio, e);
  if (k > IMPORTANCE_ROWS) k = IMPORTANCE_ROWS;
  for (size_t i = 0; i < k; i++) pos += x->y[i];
  x->have_imp = pos > 0 && pos < k;
  if (!rc && x->have_imp)
    rc = test_importance(x, a, s, k, e);
  ab_predictor_free(x->p);
  x->p = NULL;
  return rc;
}

/* The model, the report and --json-out's file, committed together: all land or none. */
static int train_outputs(train_extra *x, train_args *a, const ab_splits *s,
                         const ab_train_result *r, FILE *info, ab_err *e) {
  char when[32];
  int balanced = x->balanced;
  ab_report rep = {"Training report", balanced ? "the test split (balanced)" : "the test split "
                   "(at the file's share of buyers)", a->out, &x->m, r->hist, r->epochs,
                   &x->m.test, &x->g, x->have_imp ? &x->imp : NULL, NULL, x->prob, x->y,
                   s->test.n, cli_now_utc(when, sizeof when), 0, 0, 0, NULL,
                   balanced ? &x->nat : NULL, x->nat_lift};
  ab_outfile o[2];
  ab_outfile *all[2];
  int n = 0, rc = AB_OK;
  uint8_t *buf = NULL;
  size_t len = 0;
  if (a->out && !(rc = ab_model_encode(&x->m, &buf, &len, e)) &&
      !(rc = ab_outfile_open(&o[n], a->out, e))) {
    ab_outfile_write(&o[n], buf, len);
    all[n] = &o[n], n++;
  }
  free(buf);
  if (!rc && a->report && !(rc = ab_outfile_open(&o[n], a->report, e))) {
    all[n] = &o[n], n++;
    rc = ab_report_print(o[n - 1].f, &rep, e);
  }
  if (rc) {
    for (int i = 0; i < n; i++) ab_outfile_abort(all[i]);
    return rc;
  }
  if ((rc = cli_commit(all, n, &a->json, e))) return rc;
  if (a->out) fprintf(info, "model saved to %s\n", a->out);
  if (a->report) fprintf(info, "report written to %s\n", a->report);
  return AB_OK;
}

/* The model: network 1, or the average of the K networks. */
static int make_model(ab_model *m, const train_args *a, const ab_backend *be, const ab_splits *s,
                      const ab_train_result *r, ab_err *e) {
  int rc = ab_model_set_training(m, &a->cfg, &a->prep, r, s, be->name, e);
  if (rc || a->ensemble == 1) return rc;
  ab_net *nets = malloc((size_t)a->ensemble * sizeof *nets);
  if (!nets) return ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int k = 0; k < a->ensemble; k++) nets[k] = (ab_net){a->cfg.arch, r[k].params};
  rc = ab_model_set_ensemble(m, nets, a->ensemble, e);
  free(nets);
  return rc;
}

static int train_finish(train_extra *x, train_args *a, ab_backend *be,
                        const ab_splits *s, const ab_train_result *r, FILE *info, ab_err *e) {
  int rc = make_model(&x->m, a, be, s, r, e);
  x->balanced = x->m.prep.compat || x->m.prep.balance != AB_BALANCE_NONE;
  if (!rc) rc = extra_metrics(x, a, be, s, info, e);
  if (!rc && a->ensemble > 1) print_ensemble(info, &x->m, a->ensemble);
  FILE *jf = rc ? NULL : cli_json_stream(&a->json);
  if (jf) print_json(jf, a, be, s, r, x);
  return rc ? rc : train_outputs(x, a, s, r, info, e);
}

static void train_extra_free(train_extra *x) {
  ab_model_free(&x->m);
  free(x->prob);
  free(x->y);
}

/* The K networks' configurations: the same but for the seed (initialisation, batch order). */
static ab_train_cfg *member_cfgs(const train_args *a) {
  ab_train_cfg *c = malloc((size_t)a->ensemble * sizeof *c);
  for (int k = 0; c && k < a->ensemble; k++) {
    c[k] = a->cfg;
    c[k].seed = a->cfg.seed + (uint64_t)k;
  }
  return c;
}

/* After the run it belongs to has completed, its checkpoint goes (and dead processes'
 * temporaries of it): one that this run wrote or resumed from. */
static void remove_checkpoint(const train_args *a, const ab_train_result *r, FILE *info) {
  int ours = a->resume || (a->ckpt_every > 0 && r->epochs >= a->ckpt_every);
  ab_outfile_clean_stale(a->ckpt);
  if (ours && remove(a->ckpt) == 0) fprintf(info, "checkpoint %s removed: the run is complete\n", a->ckpt);
}

static int train_loop(train_args *a, ab_backend *be, const ab_splits *s, ab_train_result *r,
                      const ab_train_cfg *cfg, FILE *info, ab_err *e) {
  fprintf(info, "device %s; %zu customers (%zu buy again), %zu after balancing: "
          "train %zu, validation %zu, test %zu\n", be->name, s->n_total, s->n_pos_total,
          s->n_balanced, s->train.n, s->val.n, s->test.n);
  epoch_out eo = {info, a->cfg.epochs, a->quiet};
  ab_ckpt_opts ck = {a->ckpt, a->ckpt_every, a->resume, a->note};
  if (a->resume) fprintf(info, "resuming from %s\n", a->resume);
  cli_signals_defer(); /* a signal stops after the epoch, with a checkpoint */
  int rc = ab_train_many(r, be, cfg, a->ensemble, s, &ck, print_epoch, &eo, e);
  cli_signals_immediate();
  if (rc == AB_EINTR)
    fprintf(stderr, "abgpu: %s; checkpoint written to %s; continue with: abgpu train --resume %s\n",
            cli_stop_signal == SIGTERM ? "terminated (SIGTERM)" : "interrupted (SIGINT)", a->ckpt,
            a->ckpt);
  return rc;
}

static int train_run(train_args *a, FILE *info) {
  ab_table t;
  ab_splits s;
  ab_backend *be = NULL;
  ab_train_result *r = calloc((size_t)a->ensemble, sizeof *r);
  ab_train_cfg *cfg = member_cfgs(a);
  train_extra x = {0};
  ab_err e = {0};
  ab_model_init(&x.m);
  if (!r || !cfg) { free(r); free(cfg); return cli_fail(&(ab_err){AB_ENOMEM, "out of memory"}); }
  if (ab_table_load(&t, a->data, &a->csv, &e)) { free(r); free(cfg); return cli_fail(&e); }
  ab_model_set_data(&x.m, &t, a->data); /* hash and fill values: the table is freed next */
  int rc = ab_prep(&s, &t, &a->prep, &e);
  ab_table_free(&t);
  if (rc) { free(r); free(cfg); return cli_fail(&e); }
  a->cfg.arch.dims[0] = s.train.d; /* the network's inputs: 10 features, or their encoding */
  for (int k = 0; k < a->ensemble; k++) cfg[k].arch = a->cfg.arch;
  cli_backend_opts bo = {a->verbose, a->gemm, a->threads, 0, 0, 0};
  if (!(rc = cli_backend_open(&be, a->device, &bo, &e)) && !(rc = ab_backend_load_data(be, &s, &e)))
    rc = train_loop(a, be, &s, r, cfg, info, &e);
  if (be && a->verbose) fprintf(stderr, "abgpu: training path: %s\n", ab_backend_path(be));
  if (!rc) {
    print_summary(info, &s, r, a->ensemble);
    if (a->out || a->report || a->json.to_stdout || a->json.path || a->ensemble > 1 ||
        a->calibrate != AB_CALIB_NONE)
      rc = train_finish(&x, a, be, &s, r, info, &e);
  }
  if (!rc) remove_checkpoint(a, r, info);
  train_extra_free(&x);
  for (int k = 0; k < a->ensemble; k++) ab_train_result_free(&r[k]);
  free(r);
  free(cfg);
  ab_backend_free(be);
  ab_splits_free(&s);
  cli_json_free(&a->json);
  if (rc == AB_EINTR) return 128 + (cli_stop_signal ? (int)cli_stop_signal : SIGINT);
  return rc ? cli_fail(&e) : 0;
}

/* The flags (without --resume), kept in checkpoints: one per line, a backslash and a
 * newline inside a flag written as \\ and \n (a file name may hold either). Returns -1
 * when they do not fit. */
static int make_note(char *note, size_t n, int argc, char **argv) {
  size_t k = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--resume") == 0) { i++; continue; }
    if (strncmp(argv[i], "--resume=", 9) == 0) continue;
    if (k && k < n) note[k++] = '\n';
    for (const char *p = argv[i]; *p && k + 2 < n; p++) {
      if (*p == '\\' || *p == '\n') note[k++] = '\\';
      note[k++] = *p == '\n' ? 'n' : *p;
    }
    if (k + 2 >= n) return -1;
  }
  note[k] = '\0';
  return 0;
}

/* Undoes make_note's escapes in place. */
static void unescape(char *s) {
  char *w = s;
  for (const char *p = s; *p; p++) {
    if (*p == '\\' && (p[1] == '\\' || p[1] == 'n')) { *w++ = p[1] == 'n' ? '\n' : '\\'; p++; }
    else *w++ = *p;
  }
  *w = '\0';
}

/* With --resume F: the checkpoint's flags first, then the ones given now. */
static int resume_args(int *argc, char ***argv, char *buf, size_t n) {
  const char *path = NULL;
  for (int i = 1; i < *argc; i++) {
    if (strcmp((*argv)[i], "--resume") == 0 && i + 1 < *argc) path = (*argv)[i + 1];
    else if (strncmp((*argv)[i], "--resume=", 9) == 0) path = (*argv)[i] + 9;
  }
  if (!path) return 0;
  ab_err e = {0};
  if (ab_ckpt_read_note(path, buf, n, &e)) return cli_fail(&e);
  static char *args[512];
  int k = 0;
  args[k++] = (*argv)[0];
  for (char *t = buf; t && *t && k < 400; ) {
    char *nl = strchr(t, '\n');
    if (nl) *nl = '\0';
    unescape(t);
    args[k++] = t;
    t = nl ? nl + 1 : NULL;
  }
  for (int i = 1; i < *argc && k < 511; i++) args[k++] = (*argv)[i];
  args[k] = NULL;
  *argc = k;
  *argv = args;
  return 0;
}

static void default_checkpoint(train_args *a) {
  static char path[4096];
  if (a->ckpt) return;
  if (a->resume) a->ckpt = a->resume;
  else if (a->out && strcmp(a->out, "-") != 0) {
    snprintf(path, sizeof path, "%s.ckpt", a->out);
    a->ckpt = path;
  } else a->ckpt = "abgpu-train.ckpt";
}

static int is_stdout(const char *path) { return path && strcmp(path, "-") == 0; }

/* Every output before any work. The checkpoint is checked when named (--checkpoint,
 * --checkpoint-every, or FILE.ckpt beside --out), and is no input when resuming from it. */
static int check_outputs(const train_args *a, int named_ckpt) {
  const char *ckpt = named_ckpt && !(a->resume && strcmp(a->ckpt, a->resume) == 0) ? a->ckpt : NULL;
  if (is_stdout(a->ckpt)) return cli_usage_error("train", "--checkpoint -: a checkpoint needs a file");
  ab_path_use out[5] = {{"--out", a->out}, {"--report", a->report},
                        {"--json", a->json.to_stdout ? "-" : NULL}, {"--json-out", a->json.path},
                        {"--checkpoint", ckpt}};
  ab_path_use in[2] = {{"--data", a->data}, {"--resume", a->resume}};
  return cli_check_outputs(out, 5, in, 2);
}

static int has_switch(int argc, char **argv, const char *name) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

int cmd_train(int argc, char **argv) {
  train_args a = {0};
  static char saved[8192];
  int rc = resume_args(&argc, &argv, saved, sizeof saved);
  if (rc) return rc;
  a.compat = has_switch(argc, argv, "--seed-compat");
  if (a.compat) { /* the notebook's recipe; flags given with it apply on top */
    a.cfg = ab_train_cfg_default();
    a.prep = ab_prep_opts_default();
    a.cfg.order = AB_ORDER_FIXED;
    a.cfg.stop = AB_STOP_RISE;
  } else {
    ab_recipe_default(&a.cfg, &a.prep);
  }
  a.csv = ab_csv_opts_default();
  cli_csv_init(&a.csv.fmt);
  a.hidden = "100,100";
  a.act = "relu,sigmoid";
  a.ensemble = 1;
  if ((rc = train_parse(&a, argc, argv))) return rc < 0 ? 0 : rc;
  if (make_note(a.note, sizeof a.note, argc, argv))
    return cli_usage_error("train", "the flags are too long to store in a checkpoint (%zu "
                           "bytes at most)", sizeof a.note - 1);
  int named_ckpt = a.ckpt || a.ckpt_every > 0 || (a.out && !is_stdout(a.out));
  default_checkpoint(&a);
  ab_err e = {0};
  if (ab_arch_parse(&a.cfg.arch, AB_NFEAT, a.hidden, a.act, &e))
    return cli_usage_error("train", "%s", e.msg);
  cli_backend_opts bo = {a.verbose, a.gemm, a.threads, 0, 0, 0};
  if (cli_backend_flags_check(a.device, &bo, &e)) return cli_usage_error("train", "%s", e.msg);
  if ((rc = check_outputs(&a, named_ckpt))) return rc;
  a.prep.seed = a.cfg.seed;
  a.prep.compat = a.cfg.keep_last = a.compat;
  /* when stdout carries data (the model, the JSON, a report), every other line goes to stderr */
  FILE *info = a.json.to_stdout || is_stdout(a.out) || is_stdout(a.report) ? stderr : stdout;
  if (!a.data) {
    a.data = DEFAULT_DATA;
    fprintf(info, "no --data given: training on %s, synthetic customers (seed %u) "
            "calibrated from the real export's statistics\n", DEFAULT_DATA, AB_SYNTH_DEFAULT_SEED);
  }
  return train_run(&a, info);
}
