/* abgpu synth: write synthetic customers to a CSV file. */
#include <stdio.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "abgpu/json.h"
#include "abgpu/synth.h"
#include "cli.h"

static void synth_help(void) {
  printf("usage: abgpu synth --rows N --out FILE [--seed S]\n\n"
         "Writes N synthetic customers in the export's 12-column layout (no header), with\n"
         "distributions calibrated from statistics of the real data (see docs/synth.md).\n\n"
         "  --rows N          number of customers (required)\n"
         "  --out FILE        output CSV, written atomically (required; - for stdout)\n"
         "  --seed S          generator seed (default: %u)\n"
         "  --json            one JSON object on stdout: the file and its rows (needs --out\n"
         "                    FILE, since the rows would share stdout)\n"
         "  --json-out F      the same object into file F\n"
         "  -h, --help        this text\n", AB_SYNTH_DEFAULT_SEED);
}

static int synth_run(const char *out, uint64_t rows, uint64_t seed, cli_json *j, ab_err *e) {
  ab_outfile o;
  int rc = ab_outfile_open(&o, out, e);
  if (!rc && (rc = ab_synth_write_to(&o, (size_t)rows, seed, e))) ab_outfile_abort(&o);
  FILE *jf = rc ? NULL : cli_json_stream(j);
  if (jf) {
    fprintf(jf, "{\"out\": ");
    ab_json_str(jf, out);
    fprintf(jf, ", \"customers\": %llu, \"seed\": %llu}\n", (unsigned long long)rows,
            (unsigned long long)seed);
  }
  ab_outfile *outs[1] = {&o};
  if (!rc) rc = cli_commit(outs, 1, j, e);
  if (!rc && strcmp(out, "-") != 0)
    fprintf(stderr, "wrote %llu customers to %s\n", (unsigned long long)rows, out);
  return rc;
}

int cmd_synth(int argc, char **argv) {
  const char *out = NULL, *v;
  uint64_t rows = 0, seed = AB_SYNTH_DEFAULT_SEED;
  cli_json j = {0};
  for (int i = 1; i < argc; i++) {
    int m;
    if ((m = cli_json_flag(&j, argc, argv, &i))) m = m > 0 ? 1 : -1;
    else if ((m = cli_opt(argc, argv, &i, "--out", &v))) out = v;
    else if ((m = cli_opt(argc, argv, &i, "--rows", &v)) > 0) m = cli_u64(&rows, v) || !rows ? -2 : 1;
    else if ((m = cli_opt(argc, argv, &i, "--seed", &v)) > 0) m = cli_u64(&seed, v) ? -2 : 1;
    else if (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h")) { synth_help(); return 0; }
    else return cli_usage_error("synth", "unknown flag '%s'", argv[i]);
    if (m == -1) return cli_no_value("synth", argc, argv, i);
    if (m == -2) return cli_usage_error("synth", "%s: invalid value '%s'", argv[i - 1], v);
  }
  if (!out || !rows) return cli_usage_error("synth", "--rows and --out are required");
  ab_path_use outs[3] = {{"--out", out}, {"--json", j.to_stdout ? "-" : NULL},
                         {"--json-out", j.path}};
  int rc = cli_check_outputs(outs, 3, NULL, 0);
  if (rc) return rc;
  ab_err e = {0};
  rc = synth_run(out, rows, seed, &j, &e);
  cli_json_free(&j);
  return rc ? cli_fail(&e) : 0;
}
