/* abgpu: the command line. main only dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>
#include "abgpu/version.h"
#include "cli.h"

static const cli_command commands[] = {
    {"train", cmd_train, "train a model on a CSV file (or synthetic data) and report test accuracy"},
    {"split", cmd_split, "hold out a stratified share of an export as two CSV files (train, test)"},
    {"prep", cmd_prep, "balance, shuffle, split and standardise a CSV into the notebook's .npz files"},
    {"synth", cmd_synth, "write synthetic customers calibrated from the real data's statistics"},
    {"bench", cmd_bench, "train the same network on every backend side by side; CSV reader speed"},
    {"devices", cmd_devices, "list the backends: cpu and every OpenCL device"},
    {"eval", cmd_eval, "measure a saved model on labelled customers: metrics, gains, lift"},
    {"predict", cmd_predict, "score customers with a saved model (streams files of any size)"},
    {"importance", cmd_importance, "rank the features that bring customers back (permutation)"},
    {"export", cmd_export, "write a model's weights and scaler as NumPy arrays (.npz)"},
    {"info", cmd_info, "show what a model file holds: network, preparation, configuration"},
    {"sweep", cmd_sweep, "search hyperparameters: many models per launch, ranked on validation"},
    {"completion", cmd_completion, "print a bash completion script (abgpu completion bash)"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

const cli_command *cli_commands(size_t *n) {
  *n = NCOMMANDS;
  return commands;
}

static void usage(FILE *f) {
  fprintf(f, "abgpu %s - which audiobook customers will buy again\n\n"
             "usage: abgpu COMMAND [FLAGS]    (abgpu COMMAND --help for its flags)\n\n"
             "commands:\n", ab_version());
  for (size_t i = 0; i < NCOMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(f, "\nflags:\n"
             "  --version         print the version (libabgpu's ab_version()) and exit\n"
             "  -h, --help        this text\n"
             "\nenvironment:\n"
             "  ABGPU_DEVICE      default for --device (cpu or an OpenCL device index)\n"
             "  ABGPU_KERNEL_DIR  read kernels/*.cl from this folder instead of the embedded copy\n"
             "\nexit status:\n"
             "  0        success\n"
             "  1        internal error (out of memory, a bug)\n"
             "  2        usage or data error (bad flag, bad CSV or model file: FILE:LINE:COL)\n"
             "  3        device error (OpenCL, no such device)\n"
             "  4        an output cannot be written (no folder, read-only, the same file as\n"
             "           an input, disk full); outputs are checked before any work\n"
             "  130/143  interrupted by SIGINT/SIGTERM (temporary files removed)\n"
             "\n--json prints one JSON object on stdout, --json-out FILE writes it to a file\n"
             "(every command); --out - sends data to stdout and every other line to stderr.\n");
}

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("abgpu %s\n", ab_version());
    return 0;
  }
  cli_signals_immediate(); /* temporaries are removed on SIGINT/SIGTERM in every command */
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "abgpu: unknown command '%s'\n\n", argv[1]);
  usage(stderr);
  return 2;
}
