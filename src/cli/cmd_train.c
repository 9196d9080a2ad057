/* abgpu train: data -> prep -> backend -> training loop -> test accuracy. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/cpu.h"
#include "abgpu/model.h"
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
  int quiet, json, verbose, compat, balance_set, order_set, stop_set, threads, ckpt_every;
  int ensemble;             /* networks trained (seeds S, S+1, ...) and saved as one model */
  char note[4096];          /* the flags, stored in checkpoints for --resume */
} train_args;

static void train_help(void) {
  ab_train_cfg c = ab_train_cfg_default();
  ab_prep_opts p = ab_prep_opts_default();
  printf("usage: abgpu train [FLAGS]\n\n"
         "Trains the repurchase model and prints one line per epoch and the test accuracy.\n\n"
         "  --data F          CSV export, or synth:N[:SEED] for N synthetic customers\n"
         "                    (default: %s, seed %u)\n"
         "  --device D        cpu (fast CPU path), ref (plain C reference) or an OpenCL\n"
         "                    device index from `abgpu devices` (default: $ABGPU_DEVICE,\n"
         "                    else cpu)\n"
         "  --threads N       threads of the cpu device (default: all cores, %d here)\n"
         "  --gemm G          OpenCL GEMM path: own or clblast (default: own)\n"
         "  --hidden W,W      hidden layer widths (default: 100,100)\n"
         "  --act A,A         hidden activations: relu, sigmoid, tanh (default: relu,sigmoid)\n"
         "  --lr X            Adam learning rate (default: %g; beta 0.9/0.999, eps 1e-8)\n"
         "  --batch N         batch size; the last partial batch is dropped (default: %d)\n"
         "  --wd X            AdamW decoupled weight decay, 0 = plain Adam (default: %g)\n"
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
         "%s"
         "  --seed-compat     the notebook's recipe: --balance first, scaler fitted on all\n"
         "                    balanced rows, --batch-order fixed, --stop rise, keep the\n"
         "                    last epoch's weights\n"
         "  --quiet           no per-epoch lines\n"
         "  --json            one JSON object with the results on stdout at the end\n"
         "  --verbose         backend details (e.g. OpenCL build options) on stderr\n"
         "  --out FILE        save the model (.abm: weights, scaler, fills, config,\n"
         "                    metrics) for eval, predict, importance, export (default: none)\n"
         "  --report FILE     write an HTML report: curves, ROC, gains, confusion matrix,\n"
         "                    importance, configuration (default: none)\n"
         "  --checkpoint F    checkpoint file: weights, Adam and RNG state, epoch, early\n"
         "                    stopping (default: FILE.ckpt for --out FILE, else\n"
         "                    abgpu-train.ckpt); written atomically on SIGINT/SIGTERM, which\n"
         "                    stop after the current epoch (exit 130/143)\n"
         "  --checkpoint-every N  also write it after every N epochs (default: 0 = only\n"
         "                    when interrupted)\n"
         "  --resume F        continue the run saved in checkpoint F with the flags it was\n"
         "                    started with (flags given here are applied on top); the\n"
         "                    result equals the uninterrupted run's\n"
         "  -h, --help        this text\n",
         DEFAULT_DATA, AB_SYNTH_DEFAULT_SEED, ab_cpu_count(), c.lr, c.batch, c.wd, c.epochs,
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
                                      "--lr-schedule", "--min-epochs", "--stop", "--ensemble"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    const char *v;
    int m = cli_opt(argc, argv, i, names[k], &v);
    if (m == 0) continue;
    if (m < 0) return cli_usage_error("train", "%s needs a value", names[k]);
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
      case 15: bad = cli_int(&a->threads, v, 1, 4096); break;
      case 16: bad = cli_float(&a->cfg.wd, v, 0, 10); break;
      case 17: bad = ab_transform_parse(&a->prep.transform, v); break;
      case 18: a->ckpt = v; break;
      case 19: bad = cli_int(&a->ckpt_every, v, 0, 1000000); break;
      case 20: a->resume = v; break;
      case 21: bad = ab_order_parse(&a->cfg.order, v); a->order_set = 1; break;
      case 22: bad = ab_sched_parse(&a->cfg.sched, v); break;
      case 23: bad = cli_int(&a->cfg.min_epochs, v, 0, 1000000); break;
      case 24: bad = ab_stop_parse(&a->cfg.stop, v); a->stop_set = 1; break;
      case 25: bad = cli_int(&a->ensemble, v, 1, AB_MODEL_MAX_NETS); break;
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
    if (cli_switch(argv, i, "--quiet")) a->quiet = 1;
    else if (cli_switch(argv, i, "--json")) a->json = 1;
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

/* SIGINT/SIGTERM: the loop finishes the current epoch, then stops with a checkpoint.
 * SA_RESETHAND: a second signal ends the process at once. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig) { stop_signal = sig; }

static void catch_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

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
  return stop_signal != 0;
}

/* What train adds after the loop for --out, --report and --json: the model with its
 * validation and test metrics, the test split's scores, gains and permutation importance. */
typedef struct train_extra {
  ab_model m;
  float *prob;        /* test split, raw probabilities */
  uint8_t *y;
  ab_gains g;
  ab_importance imp;
  int have_imp;       /* 0 when the test rows used hold one class only */
} train_extra;

static void print_json_extra(const train_args *a, const train_extra *x) {
  char b1[32], b2[32];
  printf(", \"model\": ");
  if (a->out) ab_json_str(stdout, a->out);
  else printf("null");
  printf(", \"prior\": %s, \"train_ratio\": %s, \"data_hash\": \"%016llx\", \"test_metrics\": {",
         ab_json_num(b1, x->m.prior), ab_json_num(b2, x->m.train_ratio),
         (unsigned long long)x->m.data_hash);
  ab_json_metrics(stdout, &x->m.test);
  printf("}, \"val_metrics\": {");
  ab_json_metrics(stdout, &x->m.val);
  printf("}, \"test_gains\": ");
  ab_json_gains(stdout, &x->g);
  printf(", \"importance\": ");
  if (x->have_imp) ab_json_importance(stdout, &x->imp, &x->m);
  else printf("null");
}

/* With --ensemble: each network's epochs and its own test accuracy. */
static void print_json_members(const ab_train_result *r, int K) {
  printf(", \"ensemble\": %d, \"members\": [", K);
  for (int k = 0; k < K; k++)
    printf("%s{\"epochs\": %d, \"best_epoch\": %d, \"test_accuracy\": %.6f, \"val_loss\": %.6f}",
           k ? ", " : "", r[k].epochs, r[k].best_epoch, r[k].test_acc, r[k].val_loss);
  printf("]");
}

/* The run's figures; with --ensemble the averaged model's (x->m), history of network 1. */
static void print_json(const train_args *a, const ab_backend *be, const ab_splits *s,
                       const ab_train_result *r, const train_extra *x) {
  char arch[128];
  ab_arch_describe(&a->cfg.arch, arch, sizeof arch);
  int K = a->ensemble;
  printf("{\"test_accuracy\": %.6f, \"test_loss\": %.6f, \"val_accuracy\": %.6f, "
         "\"val_loss\": %.6f, \"train_loss\": %.6f, \"epochs\": %d, \"best_epoch\": %d, "
         "\"ms_per_epoch\": %.4f, \"device\": \"%s\", \"seed\": %llu, \"data\": \"%s\", "
         "\"rows\": %zu, \"train_rows\": %zu, \"val_rows\": %zu, \"test_rows\": %zu, "
         "\"inputs\": %d, \"transform\": \"%s\", "
         "\"arch\": \"%s\", \"balance\": \"%s\", \"seed_compat\": %s, \"history\": [",
         K > 1 ? x->m.test.accuracy : r->test_acc, K > 1 ? x->m.test.log_loss : r->test_loss,
         K > 1 ? x->m.val.accuracy : r->val_acc, K > 1 ? x->m.val.log_loss : r->val_loss,
         r->train_loss, r->epochs, r->best_epoch, r->ms_per_epoch, be->name,
         (unsigned long long)a->cfg.seed, a->data, s->n_total, s->train.n, s->val.n, s->test.n,
         s->train.d, AB_TRANSFORM_STR(a->prep.transform), arch,
         ab_balance_name(a->compat ? AB_BALANCE_FIRST : a->prep.balance),
         a->compat ? "true" : "false");
  for (int i = 0; i < r->epochs; i++)
    printf("%s{\"epoch\": %d, \"train_loss\": %.6f, \"val_loss\": %.6f, \"val_accuracy\": %.6f, "
           "\"ms\": %.4f}", i ? ", " : "", r->hist[i].epoch, r->hist[i].train_loss,
           r->hist[i].val_loss, r->hist[i].val_acc, r->hist[i].ms);
  printf("]");
  if (K > 1) print_json_members(r, K);
  print_json_extra(a, x);
  printf("}\n");
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

static int split_metrics(ab_metrics *mt, train_extra *x, const ab_split *sp, ab_err *e) {
  int rc = ab_model_score_split(x->prob, x->y, &x->m, sp, e);
  return rc ? rc : ab_metrics_compute(mt, x->prob, x->y, sp->n, 0.5, 0, 0, e);
}

/* Validation and test metrics; leaves the test split's scores in x->prob, x->y. */
static int extra_metrics(train_extra *x, const ab_splits *s, uint64_t seed, ab_err *e) {
  size_t n = s->val.n > s->test.n ? s->val.n : s->test.n, k = s->test.n, pos = 0;
  x->prob = malloc((n ? n : 1) * sizeof *x->prob);
  x->y = malloc(n ? n : 1);
  if (!x->prob || !x->y) return ab_err_set(e, AB_ENOMEM, "out of memory");
  int rc = split_metrics(&x->m.val, x, &s->val, e);
  if (!rc) rc = split_metrics(&x->m.test, x, &s->test, e);
  if (!rc) rc = ab_gains_compute(&x->g, x->prob, x->y, s->test.n, 0, 0, e);
  if (k > IMPORTANCE_ROWS) k = IMPORTANCE_ROWS;
  for (size_t i = 0; i < k; i++) pos += x->y[i];
  x->have_imp = pos > 0 && pos < k;
  if (!rc && x->have_imp)
    rc = ab_importance_compute(&x->imp, &x->m, s->test.x, x->y, k, IMPORTANCE_REPEATS, seed, e);
  return rc;
}

static int train_report(const train_extra *x, const train_args *a, const ab_splits *s,
                        const ab_train_result *r, ab_err *e) {
  ab_report rep = {"Training report", "the test split (balanced)", a->out, &x->m, r->hist,
                   r->epochs, &x->m.test, &x->g, x->have_imp ? &x->imp : NULL, NULL, x->prob,
                   x->y, s->test.n};
  return ab_report_write(a->report, &rep, e);
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

static int train_finish(train_extra *x, const train_args *a, const ab_backend *be,
                        const ab_splits *s, const ab_train_result *r, FILE *info, ab_err *e) {
  int rc = make_model(&x->m, a, be, s, r, e);
  if (!rc) rc = extra_metrics(x, s, a->cfg.seed, e);
  if (!rc && a->ensemble > 1) print_ensemble(info, &x->m, a->ensemble);
  if (!rc && a->out && !(rc = ab_model_save(&x->m, a->out, e)))
    fprintf(info, "model saved to %s\n", a->out);
  if (!rc && a->report && !(rc = train_report(x, a, s, r, e)))
    fprintf(info, "report written to %s\n", a->report);
  return rc;
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
  cli_backend_opts bo = {a->verbose, a->gemm, a->threads};
  if (!(rc = cli_backend_open(&be, a->device, &bo, &e)) && !(rc = be->vt->load_data(be, &s, &e))) {
    fprintf(info, "device %s; %zu customers (%zu buy again), %zu after balancing: "
            "train %zu, validation %zu, test %zu\n", be->name, s.n_total, s.n_pos_total,
            s.n_balanced, s.train.n, s.val.n, s.test.n);
    epoch_out eo = {info, a->cfg.epochs, a->quiet};
    ab_ckpt_opts ck = {a->ckpt, a->ckpt_every, a->resume, a->note};
    if (a->resume) fprintf(info, "resuming from %s\n", a->resume);
    catch_signals();
    rc = ab_train_many(r, be, cfg, a->ensemble, &s, &ck, print_epoch, &eo, &e);
  }
  if (rc == AB_EINTR) {
    fprintf(stderr, "abgpu: %s; checkpoint written to %s; continue with: abgpu train --resume %s\n",
            stop_signal == SIGTERM ? "terminated (SIGTERM)" : "interrupted (SIGINT)", a->ckpt, a->ckpt);
    rc = 0;
    e.code = 128 + (stop_signal ? stop_signal : SIGINT);
  }
  if (!rc && e.code < 128) {
    print_summary(info, &s, r, a->ensemble);
    if (a->out || a->report || a->json || a->ensemble > 1)
      rc = train_finish(&x, a, be, &s, r, info, &e);
  }
  if (!rc && a->json && e.code < 128) print_json(a, be, &s, r, &x);
  train_extra_free(&x);
  for (int k = 0; k < a->ensemble; k++) ab_train_result_free(&r[k]);
  free(r);
  free(cfg);
  ab_backend_free(be);
  ab_splits_free(&s);
  return rc ? cli_fail(&e) : e.code >= 128 ? e.code : 0;
}

/* The flags joined by '\n' (without --resume), kept in checkpoints. */
static void make_note(char *note, size_t n, int argc, char **argv) {
  size_t k = 0;
  note[0] = '\0';
  for (int i = 1; i < argc && k < n; i++) {
    if (strcmp(argv[i], "--resume") == 0) { i++; continue; }
    if (strncmp(argv[i], "--resume=", 9) == 0) continue;
    k += (size_t)snprintf(note + k, n - k, "%s%s", k ? "\n" : "", argv[i]);
  }
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
  else if (a->out) { snprintf(path, sizeof path, "%s.ckpt", a->out); a->ckpt = path; }
  else a->ckpt = "abgpu-train.ckpt";
}

int cmd_train(int argc, char **argv) {
  train_args a = {0};
  static char saved[8192];
  if (resume_args(&argc, &argv, saved, sizeof saved)) return 2;
  a.cfg = ab_train_cfg_default();
  a.prep = ab_prep_opts_default();
  a.csv = ab_csv_opts_default();
  cli_csv_init(&a.csv.fmt);
  a.hidden = "100,100";
  a.act = "relu,sigmoid";
  a.ensemble = 1;
  int rc = train_parse(&a, argc, argv);
  if (rc) return rc < 0 ? 0 : rc;
  make_note(a.note, sizeof a.note, argc, argv);
  default_checkpoint(&a);
  ab_err e = {0};
  if (ab_arch_parse(&a.cfg.arch, AB_NFEAT, a.hidden, a.act, &e))
    return cli_usage_error("train", "%s", e.msg);
  a.prep.seed = a.cfg.seed;
  a.prep.compat = a.cfg.keep_last = a.compat;
  if (a.compat && !a.order_set) a.cfg.order = AB_ORDER_FIXED;
  if (a.compat && !a.stop_set) a.cfg.stop = AB_STOP_RISE;
  FILE *info = a.json ? stderr : stdout;
  if (!a.data) {
    a.data = DEFAULT_DATA;
    fprintf(info, "no --data given: training on %s, synthetic customers (seed %u) "
            "calibrated from the real export's statistics\n", DEFAULT_DATA, AB_SYNTH_DEFAULT_SEED);
  }
  return train_run(&a, info);
}
