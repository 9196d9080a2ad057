/* What `abgpu sweep` shows and writes: the progress line, the validation leaderboard, the
 * finalists' test figures (apart, and said to be test figures), and the JSON file. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "abgpu/fileio.h"
#include "abgpu/report.h"
#include "cli.h"
#include "sweep_cli.h"

double sweep_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* "1h02m", "3m05s", "12s" */
static const char *hms(char *buf, size_t n, double s) {
  long t = s > 0 && isfinite(s) ? (long)(s + 0.5) : 0;
  if (t >= 3600) snprintf(buf, n, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else if (t >= 60) snprintf(buf, n, "%ldm%02lds", t / 60, t % 60);
  else snprintf(buf, n, "%lds", t);
  return buf;
}

/* "validation loss 0.3012 (accuracy 82.10%)" of the best row so far. */
static void best_text(char *buf, size_t n, const ab_leaderboard *lb, ab_rank_by rank) {
  if (!lb->n || lb->row[0].status != AB_ROW_OK) { snprintf(buf, n, "none yet"); return; }
  const ab_lb_row *r = &lb->row[0];
  if (rank == AB_RANK_LOSS)
    snprintf(buf, n, "validation loss %.4f (accuracy %.2f%%)", r->val_loss, 100 * r->val_acc);
  else if (rank == AB_RANK_ACC)
    snprintf(buf, n, "validation accuracy %.2f%%", 100 * r->val_acc);
  else
    snprintf(buf, n, "validation ROC AUC %.4f", r->val_auc);
}

static void progress_line(sweep_progress *p) {
  char best[128], el[32], eta[32];
  double t = sweep_now() - p->t0;
  best_text(best, sizeof best, p->lb, p->rank);
  double left = p->done ? t / (double)p->done * (double)(p->total - p->done) : NAN;
  fprintf(stderr, "\r\033[Ksweep %zu/%zu configurations, launch %zu/%zu epoch %d, best %s, "
          "%s elapsed, ETA %s", p->done, p->total, p->launch, p->nlaunch, p->epoch, best,
          hms(el, sizeof el, t), p->done ? hms(eta, sizeof eta, left) : "?");
  fflush(stderr);
  p->last = sweep_now();
}

int sweep_epoch_cb(const ab_epoch_stats *st, const uint8_t *active, int K, void *user) {
  (void)active;
  sweep_progress *p = user;
  p->epoch = K > 0 ? st[0].epoch : 0;
  if (p->tty && sweep_now() - p->last > 0.2) progress_line(p);
  return 0; /* a signal stops the sweep between launches, not inside one */
}

void sweep_progress_launch(sweep_progress *p, const ab_sweep_cfg *c, int K, double secs) {
  p->done += (size_t)K;
  if (p->tty) { progress_line(p); return; }
  if (p->quiet) return;
  char best[128];
  best_text(best, sizeof best, p->lb, p->rank);
  char on[32] = "";
  if (p->from >= 0) snprintf(on, sizeof on, " on rank %d", p->from);
  fprintf(stderr, "launch %zu/%zu%s: %d models (hidden %s, act %s, batch %d, transform %s, "
          "balance %s) in %.2f s; %zu/%zu done; best %s\n", p->launch, p->nlaunch, on, K,
          c->hidden, c->act, c->batch, AB_TRANSFORM_STR(c->transform),
          ab_balance_name(c->balance), secs, p->done, p->total, best);
}

void sweep_progress_end(sweep_progress *p) {
  if (p->tty && p->last > 0) fprintf(stderr, "\n");
}

/* "0.3012" or "0.3012±0.0081" */
static const char *pm(char *buf, size_t n, double v, double sd, int folds, double scale, int dec) {
  if (!isfinite(v)) snprintf(buf, n, "-");
  else if (folds >= 2) snprintf(buf, n, "%.*f±%.*f", dec, scale * v, dec, scale * sd);
  else snprintf(buf, n, "%.*f", dec, scale * v);
  return buf;
}

void sweep_print_leaderboard(FILE *f, const ab_leaderboard *lb, ab_rank_by rank, int top) {
  int folds = lb->row[0].id.folds;
  fprintf(f, "validation leaderboard, ranked by validation %s%s (%zu configurations%s):\n",
          rank == AB_RANK_LOSS ? "loss" : rank == AB_RANK_ACC ? "accuracy" : "ROC AUC",
          folds >= 2 ? " (mean±sd over folds)" : "", lb->n,
          lb->n > (size_t)top ? ", the top ones" : "");
  fprintf(f, "%5s %-17s %-17s %-17s %7s  %s\n", "rank", "val loss", "val accuracy %",
          "val ROC AUC", "epochs", "configuration");
  for (size_t i = 0; i < lb->n && i < (size_t)top; i++) {
    const ab_lb_row *r = &lb->row[i];
    char a[40], b[40], c[40], ep[24], key[AB_SWEEP_KEY_LEN];
    ab_sweep_key(&r->cfg, key, sizeof key);
    pm(ep, sizeof ep, r->epochs_run, 0, 0, 1, 1);
    fprintf(f, "%5zu %-17s %-17s %-17s %7s  %s%s\n", i + 1,
            pm(a, sizeof a, r->val_loss, r->val_loss_sd, folds, 1, 4),
            pm(b, sizeof b, r->val_acc, r->val_acc_sd, folds, 100, 2),
            pm(c, sizeof c, r->val_auc, r->val_auc_sd, folds, 1, 4), ep, key,
            r->status == AB_ROW_OK ? "" : " (diverged)");
  }
}

void sweep_train_command(char *buf, size_t n, const sweep_args *a, const ab_sweep_cfg *c) {
  char flags[512], split[64] = "";
  ab_sweep_flags(c, flags, sizeof flags);
  if (a->split[0] != 80 || a->split[1] != 10 || a->split[2] != 10)
    snprintf(split, sizeof split, " --split %d,%d,%d", a->split[0], a->split[1], a->split[2]);
  snprintf(buf, n, "abgpu train --data ");
  cli_shell_word(buf, n, a->data);
  cli_csv_flags_text(buf, n, &a->csv.fmt, a->csv.missing);
  size_t k = strlen(buf);
  snprintf(buf + k, n - k, " %s%s --seed %llu", flags, split, (unsigned long long)c->seed);
}

static void print_model_line(FILE *f, const char *what, const ab_model *m) {
  fprintf(f, "%-22s %8.2f %9.4f %8.2f %9.4f %9.4f\n", what, 100 * m->val.accuracy,
          m->val.roc_auc, 100 * m->test.accuracy, m->test.roc_auc, m->test.log_loss);
}

void sweep_print_final(FILE *f, const sweep_args *a, const ab_leaderboard *lb,
                       const sweep_final *fin) {
  if (fin->nfin == 0) { fprintf(f, "no configuration finished: nothing to measure on test\n"); return; }
  fprintf(f, "\nfinalists, chosen on validation, then measured once on the test split "
          "(%zu customers)%s:\n", fin->test_rows,
          a->folds >= 2 ? "; retrained on the standard split" : "");
  fprintf(f, "%-22s %8s %9s %8s %9s %9s\n", "", "val acc%", "val AUC", "TEST acc%", "TEST AUC",
          "TEST loss");
  for (int i = 0; i < fin->nfin; i++) {
    char what[32];
    snprintf(what, sizeof what, "validation rank %d", i + 1);
    print_model_line(f, what, &fin->fits[i].m);
  }
  if (fin->nens) {
    char what[32];
    snprintf(what, sizeof what, "ensemble of top %d", fin->nens);
    print_model_line(f, what, &fin->ens);
  }
  char cmd[1024];
  sweep_train_command(cmd, sizeof cmd, a, &lb->row[0].cfg);
  fprintf(f, "\nthe winner (validation rank 1) as a train command%s:\n%s\n",
          lb->row[0].cfg.seed != a->seed ? " (train's --seed also sets the split, so this "
          "trains on another split than the sweep's)" : "", cmd);
}

/* ---- JSON ---- */

static void json_model(FILE *f, const ab_model *m) {
  fprintf(f, "\"validation\": {");
  ab_json_metrics(f, &m->val);
  fprintf(f, "}, \"test\": {");
  ab_json_metrics(f, &m->test);
  fprintf(f, "}");
}

static void json_final(FILE *f, const sweep_args *a, const ab_leaderboard *lb,
                       const sweep_final *fin) {
  fprintf(f, ",\n  \"finalists\": [");
  for (int i = 0; i < fin->nfin; i++) {
    char cmd[1024];
    sweep_train_command(cmd, sizeof cmd, a, &lb->row[i].cfg);
    fprintf(f, "%s\n    {\"rank\": %d, \"config\": ", i ? "," : "", i + 1);
    ab_sweep_json_cfg(f, &lb->row[i].cfg);
    fprintf(f, ", \"command\": ");
    ab_json_str(f, cmd);
    fprintf(f, ", ");
    json_model(f, &fin->fits[i].m);
    fprintf(f, "}");
  }
  fprintf(f, "\n  ],\n  \"best_model\": ");
  if (a->out && fin->nfin) ab_json_str(f, a->out);
  else fprintf(f, "null");
  fprintf(f, ",\n  \"ensemble\": ");
  if (!fin->nens) { fprintf(f, "null"); return; }
  fprintf(f, "{\"model\": ");
  ab_json_str(f, a->ensemble_out);
  fprintf(f, ", \"members\": [");
  for (int i = 0; i < fin->nens; i++) fprintf(f, "%s%zu", i ? ", " : "", fin->ens_rows[i] + 1);
  fprintf(f, "], ");
  json_model(f, &fin->ens);
  fprintf(f, "}");
}

static void json_head(FILE *f, const sweep_args *a, const ab_leaderboard *lb, const char *device,
                      double secs) {
  fprintf(f, "{\n  \"sweep\": {\"data\": ");
  ab_json_str(f, a->data);
  fprintf(f, ", \"data_hash\": \"%016llx\", \"split\": [%d, %d, %d], \"seed\": %llu, "
          "\"folds\": %d, \"rank_by\": \"validation %s\", \"configurations\": %zu, \"device\": ",
          lb->n ? (unsigned long long)lb->row[0].id.data_hash : 0ULL, a->split[0], a->split[1],
          a->split[2], (unsigned long long)a->seed, a->folds, ab_rank_by_name(a->rank), lb->n);
  ab_json_str(f, device);
  fprintf(f, ", \"seconds\": %.3f},\n  \"leaderboard\": ", secs);
  ab_lb_write_json_rows(lb, f);
}

void sweep_print_json(FILE *f, const sweep_args *a, const ab_leaderboard *lb,
                      const sweep_final *fin, const char *device, double secs) {
  json_head(f, a, lb, device, secs);
  if (fin) json_final(f, a, lb, fin);
  fprintf(f, "\n}\n");
}
