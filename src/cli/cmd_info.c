/* abgpu info: what a model file holds (architecture, preparation, training configuration,
 * metrics, data and its hash, version), as text or as train --json's "config". */
#include <stdio.h>
#include <string.h>
#include "abgpu/report.h"
#include "cli.h"

static void info_help(void) {
  printf("usage: abgpu info MODEL [FLAGS]   (or --model MODEL)\n\n"
         "Shows what a model file holds: the networks, the preparation (transform,\n"
         "balancing, split, missing values), the training configuration (lr, batch, wd,\n"
         "epochs, patience, seed, ...), the training data with its hash and the splits'\n"
         "sizes, the abgpu version that wrote it, its validation and test metrics and\n"
         "its calibration (train --calibrate).\n\n"
         "  --model M         the model file (or as the first argument)\n"
         "  --json            one JSON object on stdout: {\"model\", \"config\" (the same as\n"
         "                    train --json's), \"calibration\", \"val_metrics\",\n"
         "                    \"test_metrics\"}\n"
         "  --json-out F      the same object into file F (the text still on stdout)\n"
         "  -h, --help        this text\n");
}

static void print_metrics(const char *what, const ab_metrics *t) {
  printf("%-14s %llu customers: accuracy %.2f%%, ROC AUC %.4f, log loss %.4f\n", what,
         (unsigned long long)t->n, 100 * t->accuracy, t->roc_auc, t->log_loss);
}

static void print_text(const ab_model *m, const char *path) {
  char arch[128];
  ab_arch_describe(&m->cfg.arch, arch, sizeof arch);
  const ab_train_cfg *c = &m->cfg;
  const ab_prep_opts *p = &m->prep;
  if (m->kind == AB_MODEL_ENSEMBLE)
    printf("%s: abgpu %s model, an ensemble of %d networks %s\n", path, m->version, m->nnets,
           arch);
  else printf("%s: abgpu %s model, one network %s\n", path, m->version, arch);
  printf("preparation    transform %s, balance %s%s, split %d/%d/%d (seed %llu), missing %s\n",
         AB_TRANSFORM_STR(p->transform), ab_balance_name(p->balance),
         p->compat ? " (the notebook's recipe)" : "", p->split[0], p->split[1], p->split[2],
         (unsigned long long)p->seed, ab_missing_name(m->missing));
  printf("training       lr %g, batch %d, wd %g, dropout %g, epochs %d, patience %d, seed %llu, "
         "order %s, stop %s, schedule %s; ran %d epochs, kept epoch %d, on %s\n", c->lr,
         c->batch, c->wd, c->dropout, c->epochs, c->patience, (unsigned long long)c->seed,
         ab_order_name(c->order), ab_stop_name(c->stop), ab_sched_name(c->sched), m->epochs_run,
         m->best_epoch, m->device);
  printf("data           %s: %llu customers, %.1f%% buyers, hash %016llx; train %llu, "
         "validation %llu, test %llu\n", m->data, (unsigned long long)m->n_total,
         100 * m->prior, (unsigned long long)m->data_hash, (unsigned long long)m->n_train,
         (unsigned long long)m->n_val, (unsigned long long)m->n_test);
  print_metrics("validation", &m->val);
  print_metrics("test", &m->test);
  const ab_calib *k = &m->calib;
  printf("calibration    %s", ab_calib_name(k->kind));
  if (k->kind == AB_CALIB_PLATT) printf(", p' = sigmoid(%.6g*logit(p) + %.6g)", k->a, k->b);
  if (k->kind == AB_CALIB_ISOTONIC) printf(", %u breakpoints from p %.4f to %.4f", k->n, k->x[0],
                                           k->x[k->n - 1]);
  if (k->kind != AB_CALIB_NONE)
    printf("; validation log loss %.4f -> %.4f, Brier %.4f -> %.4f (metrics above: calibrated)",
           k->val_log_loss[0], k->val_log_loss[1], k->val_brier[0], k->val_brier[1]);
  printf("\n");
}

static void print_json(FILE *f, const ab_model *m, const char *path) {
  fprintf(f, "{\"model\": ");
  ab_json_str(f, path);
  fprintf(f, ", \"config\": ");
  ab_json_model_config(f, m);
  fprintf(f, ", \"calibration\": ");
  ab_json_calibration(f, &m->calib);
  fprintf(f, ", \"val_metrics\": {");
  ab_json_metrics(f, &m->val);
  fprintf(f, "}, \"test_metrics\": {");
  ab_json_metrics(f, &m->test);
  fprintf(f, "}}\n");
}

static int info_parse(int argc, char **argv, const char **model, cli_json *j) {
  for (int i = 1; i < argc; i++) {
    const char *v;
    int m;
    if ((m = cli_opt(argc, argv, &i, "--model", &v)) > 0) *model = v;
    else if (m == 0 && (m = cli_json_flag(j, argc, argv, &i)) > 0) continue;
    else if (m == 0 && (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h"))) {
      info_help();
      return -1;
    } else if (m == 0 && argv[i][0] != '-' && !*model) *model = argv[i];
    else if (m == 0) return cli_usage_error("info", "unknown flag '%s'", argv[i]);
    if (m < 0) return cli_no_value("info", argc, argv, i);
  }
  if (!*model) return cli_usage_error("info", "a model file is required");
  return 0;
}

int cmd_info(int argc, char **argv) {
  const char *model = NULL;
  cli_json j = {0};
  int rc = info_parse(argc, argv, &model, &j);
  if (rc) return rc < 0 ? 0 : rc;
  ab_path_use outs[2] = {{"--json", j.to_stdout ? "-" : NULL}, {"--json-out", j.path}};
  ab_path_use in[1] = {{"--model", model}};
  if ((rc = cli_check_outputs(outs, 2, in, 1))) return rc;
  ab_model m;
  ab_err e = {0};
  rc = ab_model_load(&m, model, &e);
  if (!rc) {
    FILE *jf = cli_json_stream(&j);
    if (jf) print_json(jf, &m, model);
    if (!j.to_stdout) print_text(&m, model);
    rc = cli_commit(NULL, 0, &j, &e);
    ab_model_free(&m);
  }
  cli_json_free(&j);
  return rc ? cli_fail(&e) : 0;
}
