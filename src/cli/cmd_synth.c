/* abgpu synth: write synthetic customers to a CSV file. */
#include <stdio.h>
#include "abgpu/synth.h"
#include "cli.h"

static void synth_help(void) {
  printf("usage: abgpu synth --rows N --out FILE [--seed S]\n\n"
         "Writes N synthetic customers in the export's 12-column layout (no header), with\n"
         "distributions calibrated from statistics of the real data (see docs/synth.md).\n\n"
         "  --rows N          number of customers (required)\n"
         "  --out FILE        output CSV, written atomically (required; - for stdout)\n"
         "  --seed S          generator seed (default: %u)\n"
         "  -h, --help        this text\n", AB_SYNTH_DEFAULT_SEED);
}

int cmd_synth(int argc, char **argv) {
  const char *out = NULL, *v;
  uint64_t rows = 0, seed = AB_SYNTH_DEFAULT_SEED;
  for (int i = 1; i < argc; i++) {
    int m;
    if ((m = cli_opt(argc, argv, &i, "--out", &v))) out = v;
    else if ((m = cli_opt(argc, argv, &i, "--rows", &v)) > 0) m = cli_u64(&rows, v) || !rows ? -2 : 1;
    else if ((m = cli_opt(argc, argv, &i, "--seed", &v)) > 0) m = cli_u64(&seed, v) ? -2 : 1;
    else if (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h")) { synth_help(); return 0; }
    else return cli_usage_error("synth", "unknown flag '%s'", argv[i]);
    if (m == -1) return cli_usage_error("synth", "%s needs a value", argv[i]);
    if (m == -2) return cli_usage_error("synth", "%s: invalid value '%s'", argv[i - 1], v);
  }
  if (!out || !rows) return cli_usage_error("synth", "--rows and --out are required");
  ab_err e = {0};
  if (ab_synth_write_csv(out, (size_t)rows, seed, &e)) return cli_fail(&e);
  if (out[0] != '-' || out[1]) fprintf(stderr, "wrote %llu customers to %s\n", (unsigned long long)rows, out);
  return 0;
}
