/* abgpu prep: write the notebook's three .npz files. */
#include <stdio.h>
#include "abgpu/json.h"
#include "abgpu/prep.h"
#include "abgpu/source.h"
#include "cli.h"

static void prep_help(void) {
  ab_prep_opts p = ab_prep_opts_default();
  printf("usage: abgpu prep --data F --out DIR [FLAGS]\n\n"
         "Balances, shuffles, splits and standardises F and writes the notebook's files\n"
         "DIR/Audiobooks_data_{train,validation,test}.npz (arrays inputs float64 [n,10],\n"
         "targets int64 [n]). All three are written, or none.\n\n"
         "  --data F          CSV export, or synth:N[:SEED] (required)\n"
         "  --out DIR         existing output folder (required)\n"
         "  --seed S          seeds balancing and shuffling (default: %llu)\n"
         "  --balance M       random, first or none (default: %s)\n"
         "  --split A,B,C     train,validation,test percentages (default: %d,%d,%d)\n"
         "  --missing M       empty fields: error, mean, median or zero (default: error)\n"
         "  --transform T     input transforms: none, or a list of log1p (of the skewed\n"
         "                    minute, price, listening, support and days features, before\n"
         "                    scaling), ple:N and te (encodings fitted on the training split;\n"
         "                    `inputs` then holds the network's encoded inputs) (default: %s)\n"
         "%s"
         "  --seed-compat     the notebook's recipe: --balance first, scaler fitted on all rows\n"
         "  --json            one JSON object on stdout: the files and their rows\n"
         "  --json-out F      the same object into file F\n"
         "  -h, --help        this text\n",
         (unsigned long long)p.seed, ab_balance_name(p.balance), p.split[0], p.split[1], p.split[2],
         AB_TRANSFORM_STR(p.transform), cli_csv_help());
}

static void print_json(FILE *f, const char (*paths)[AB_PREP_NPZ_PATH], const ab_splits *s,
                       const char *data) {
  const size_t rows[3] = {s->train.n, s->val.n, s->test.n};
  fprintf(f, "{\"data\": ");
  ab_json_str(f, data);
  fprintf(f, ", \"customers\": %zu, \"balanced\": %zu, \"files\": [", s->n_total, s->n_balanced);
  for (int i = 0; i < 3; i++) {
    fprintf(f, "%s{\"path\": ", i ? ", " : "");
    ab_json_str(f, paths[i]);
    fprintf(f, ", \"rows\": %zu}", rows[i]);
  }
  fprintf(f, "]}\n");
}

/* The three files and the JSON file land together, or none of them. */
static int prep_write(const ab_splits *s, const char *data, const char *out, cli_json *j,
                      ab_err *e) {
  ab_outfile o[3];
  char paths[3][AB_PREP_NPZ_PATH];
  ab_prep_npz_paths(paths, out);
  int rc = ab_prep_npz_write_to(o, s, out, e);
  if (rc) return rc;
  FILE *jf = cli_json_stream(j);
  if (jf) print_json(jf, (const char (*)[AB_PREP_NPZ_PATH])paths, s, data);
  ab_outfile *all[3] = {&o[0], &o[1], &o[2]};
  if ((rc = cli_commit(all, 3, j, e))) return rc;
  fprintf(j->to_stdout ? stderr : stdout, "wrote %s/Audiobooks_data_{train,validation,test}.npz: "
          "%zu, %zu, %zu rows\n", out, s->train.n, s->val.n, s->test.n);
  return AB_OK;
}

int cmd_prep(int argc, char **argv) {
  const char *data = NULL, *out = NULL, *v;
  ab_prep_opts p = ab_prep_opts_default();
  ab_csv_opts co = ab_csv_opts_default();
  cli_json j = {0};
  cli_csv_init(&co.fmt);
  for (int i = 1; i < argc; i++) {
    int m = cli_csv_flag(argc, argv, &i, &co.fmt, "prep");
    if (m == 2) return 2;
    if (m) continue;
    if ((m = cli_json_flag(&j, argc, argv, &i))) m = m > 0 ? 1 : -1;
    else if ((m = cli_opt(argc, argv, &i, "--data", &v))) data = v;
    else if ((m = cli_opt(argc, argv, &i, "--out", &v))) out = v;
    else if ((m = cli_opt(argc, argv, &i, "--seed", &v)) > 0) m = cli_u64(&p.seed, v) ? -2 : 1;
    else if ((m = cli_opt(argc, argv, &i, "--balance", &v)) > 0) m = ab_balance_parse(&p.balance, v) ? -2 : 1;
    else if ((m = cli_opt(argc, argv, &i, "--split", &v)) > 0) m = ab_split_parse(p.split, v) ? -2 : 1;
    else if ((m = cli_opt(argc, argv, &i, "--missing", &v)) > 0) m = ab_missing_parse(&co.missing, v) ? -2 : 1;
    else if ((m = cli_opt(argc, argv, &i, "--transform", &v)) > 0) m = ab_transform_parse(&p.transform, v) ? -2 : 1;
    else if (cli_switch(argv, i, "--seed-compat")) { p.compat = 1; m = 1; }
    else if (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h")) { prep_help(); return 0; }
    else return cli_usage_error("prep", "unknown flag '%s'", argv[i]);
    if (m == -1) return cli_no_value("prep", argc, argv, i);
    if (m == -2) return cli_usage_error("prep", "%s: invalid value '%s'", argv[i - 1], v);
  }
  if (!data || !out) return cli_usage_error("prep", "--data and --out are required");
  char paths[3][AB_PREP_NPZ_PATH];
  ab_prep_npz_paths(paths, out);
  ab_path_use outs[5] = {{"--out", paths[0]}, {"--out", paths[1]}, {"--out", paths[2]},
                         {"--json", j.to_stdout ? "-" : NULL}, {"--json-out", j.path}};
  ab_path_use in[1] = {{"--data", data}};
  int rc = cli_check_outputs(outs, 5, in, 1);
  if (rc) return rc;
  ab_table t;
  ab_splits s;
  ab_err e = {0};
  if (ab_table_load(&t, data, &co, &e)) return cli_fail(&e);
  rc = ab_prep(&s, &t, &p, &e);
  ab_table_free(&t);
  if (rc) return cli_fail(&e);
  rc = prep_write(&s, data, out, &j, &e);
  ab_splits_free(&s);
  cli_json_free(&j);
  return rc ? cli_fail(&e) : 0;
}
