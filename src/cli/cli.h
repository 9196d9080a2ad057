/* cli.h - what the subcommands share: flag parsing, error printing, backend choice.
 * Only cli/ prints and exits. */
#ifndef ABGPU_CLI_H
#define ABGPU_CLI_H
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include "abgpu/backend.h"
#include "abgpu/cpu.h"
#include "abgpu/err.h"
#include "abgpu/fileio.h"

/* Subcommands: each returns the process exit status. */
int cmd_train(int argc, char **argv);
int cmd_prep(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_importance(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_completion(int argc, char **argv);

/* The command table (main.c): name, entry point, one-line summary. */
typedef struct cli_command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} cli_command;
const cli_command *cli_commands(size_t *n);

/* Empty fields that eval/predict/importance filled with the model's values (cmd_predict.c):
 * the total, and a one-line note on stderr when there were any. */
struct ab_model;
uint64_t cli_sum_filled(const uint64_t *nfilled);
void cli_note_filled(const uint64_t *nfilled, const struct ab_model *m);
/* One warning line on stderr when the scored file holds the very rows the model was
 * trained on (its hash is the model's data hash): figures on them are optimistic. */
struct ab_scored;
void cli_warn_training_data(const struct ab_model *m, const struct ab_scored *s,
                            const char *path);

/* The input-format flags (csv_flags.c). cli_csv_init: all detected, notes printed on
 * stderr as "abgpu: note: ..." / "abgpu: warning: ...". cli_csv_flag: 1 when argv[*i] was
 * one of them (its value taken), 0 when not, 2 after printing a usage error. */
struct ab_csv_format;
void cli_csv_init(struct ab_csv_format *f);
int cli_csv_flag(int argc, char **argv, int *i, struct ab_csv_format *f, const char *cmd);
/* The help lines of those flags. */
const char *cli_csv_help(void);
/* "YYYY-MM-DD HH:MM UTC" of now into buf; returns buf. */
const char *cli_now_utc(char *buf, size_t n);
/* Appends to buf (NUL-terminated, n bytes) those flags as given in f, and --missing when it
 * is not the default, each as " --flag VALUE" quoted for a POSIX shell: a command line
 * that reads the file as f and m do. */
void cli_csv_flags_text(char *buf, size_t n, const struct ab_csv_format *f, int missing);
/* Appends s to buf as one POSIX shell word (single-quoted unless plainly safe). */
void cli_shell_word(char *buf, size_t n, const char *s);

/* Exit statuses (docs/manual.md, `abgpu --help`). */
enum {
  CLI_EXIT_OK = 0,
  CLI_EXIT_INTERNAL = 1,  /* out of memory, a bug */
  CLI_EXIT_DATA = 2,      /* bad flags or arguments, bad data or model file */
  CLI_EXIT_DEVICE = 3,    /* OpenCL error, no device */
  CLI_EXIT_OUTPUT = 4     /* an output cannot be written (checked before any work) */
  /* 128 + signal: interrupted (130 SIGINT, 143 SIGTERM) */
};
/* The exit status for e->code. */
int cli_exit_status(const ab_err *e);
/* Prints "abgpu: MESSAGE" on stderr and returns cli_exit_status(e). */
int cli_fail(const ab_err *e);
/* Prints "abgpu CMD: MESSAGE (see abgpu CMD --help)" and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Matches argv[*i] against --name VALUE or --name=VALUE. On a match sets *val, advances *i
 * past the value and returns 1; returns -1 when the value is missing or the next argument
 * begins with "--" (a flag: `--data $EMPTY --device cpu`; a value such as -1 or - is
 * taken, and --name=--x gives one that begins with "--"), 0 on no match. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* After cli_opt's -1 for argv[i]: "CMD: --name needs a value", naming the flag that
 * followed it, if any; returns 2. */
int cli_no_value(const char *cmd, int argc, char **argv, int i);
/* 1 when argv[i] is exactly the flag `name` (a switch without value). */
int cli_switch(char **argv, int i, const char *name);

/* --threads N: 1 .. CLI_THREADS_PER_CORE x the cores (says so on stderr when larger). */
#define CLI_THREADS_PER_CORE 4
int cli_threads(int *out, const char *s);

/* Number parsing for flags; return 0 on success, -1 when s is not a valid value. */
int cli_int(int *out, const char *s, long lo, long hi);
int cli_float(float *out, const char *s, double lo, double hi);
int cli_u64(uint64_t *out, const char *s);

/* Options for opening a backend. */
typedef struct cli_backend_opts {
  int verbose;        /* print program build options etc. on stderr */
  const char *gemm;   /* "own" (default) or "clblast" */
  int threads;        /* threads of the cpu backend, at most; 0 = all cores */
  int have_local_rank, local_rank; /* the rank on this node for "gpu" (unset: from
                                    * the environment, cli_local_rank) */
  int exact_threads;  /* 1: the cpu backend uses all of them (bench's side-by-side rows) */
} cli_backend_opts;

/* Refuses flags that do not apply to the device spec names (NULL: $ABGPU_DEVICE, else
 * cpu): --threads other than with cpu, --gemm other than with an OpenCL device. */
int cli_backend_flags_check(const char *spec, const cli_backend_opts *o, ab_err *e);

/* The CPU kernels $ABGPU_CPU_ISA forces (auto, generic, avx2, avx512; unset: AUTO);
 * AB_EUSAGE for another name or one this CPU cannot run. */
int cli_cpu_isa(ab_cpu_isa *isa, ab_err *e);
/* Opens the backend named by spec: "cpu" (the fast CPU path, o->threads threads, the
 * kernels of cli_cpu_isa), "ref" (the plain C reference), an OpenCL device index ("0",
 * "1", ...), "gpu" (the GPUs of this node, local rank mod their number: cli_gpu_index),
 * or NULL for $ABGPU_DEVICE, falling back to "cpu". */
int cli_backend_open(ab_backend **be, const char *spec, const cli_backend_opts *o, ab_err *e);
/* 1 when spec (NULL: $ABGPU_DEVICE) names the cpu device, as cli_backend_open reads it. */
int cli_device_is_cpu(const char *spec);
/* This process's rank on its node: $OMPI_COMM_WORLD_LOCAL_RANK, $SLURM_LOCALID or
 * $MPI_LOCALRANKID (MPICH), the first set; 0 when none is. *from (may be NULL) gets
 * the variable's name, or NULL. */
int cli_local_rank(const char **from);
/* The OpenCL device index "gpu" means for local rank lr; prints the device list and
 * fails when this node has no GPU. *ngpu and *ordinal as ab_cl_gpu_pick (may be NULL). */
int cli_gpu_index(int *index, int lr, int *ngpu, int *ordinal, ab_err *e);

/* ---- signals ----
 * Every command starts with cli_signals_immediate(): SIGINT, SIGTERM and SIGHUP remove the
 * temporaries being written and exit 128+signal. Training loops switch to
 * cli_signals_defer(): the first signal only sets cli_stop_signal (the loop stops at a
 * safe point), a second one acts at once. */
extern volatile sig_atomic_t cli_stop_signal;
void cli_signals_immediate(void);
void cli_signals_defer(void);

/* ---- outputs ---- */

/* Checks the outputs before any work (ab_outputs_check); prints the error and returns
 * its exit status (4, or 2 for two outputs on stdout), 0 when all is well. */
int cli_check_outputs(const ab_path_use *out, int nout, const ab_path_use *in, int nin);

/* --json (one JSON object on stdout) and --json-out FILE (the object in a file). */
typedef struct cli_json {
  int to_stdout;
  const char *path;
  char *buf;      /* the object, built in memory by the command */
  size_t len;
  FILE *mem;
  ab_outfile o;
} cli_json;
/* Takes argv[*i] when it is --json or --json-out F: 1, -1 when F is missing, 0 otherwise. */
int cli_json_flag(cli_json *j, int argc, char **argv, int *i);
/* Where the command writes its object (memory), or NULL when no JSON was asked for. */
FILE *cli_json_stream(cli_json *j);
/* The command's outputs committed all or none (ab_outfile_commit_all), --json-out's file
 * with them, then the object on stdout for --json. j may be NULL. */
int cli_commit(ab_outfile *const *o, int n, cli_json *j, ab_err *e);
/* Frees the object; aborts what was not committed. */
void cli_json_free(cli_json *j);

/* Scoring a saved model on the backend of --device/--threads (eval, predict, importance):
 * the backend and the model's predictor on it. */
struct ab_predictor;
typedef struct cli_scoring {
  ab_backend *be;
  struct ab_predictor *p;
} cli_scoring;
int cli_scoring_open(cli_scoring *s, const struct ab_model *m, const char *device,
                     const cli_backend_opts *o, ab_err *e);
void cli_scoring_close(cli_scoring *s);
/* Independent scorers for work that runs its own threads (importance): on the cpu device
 * one single-threaded backend per thread (o->threads of them; 0: all cores), on any other
 * device one backend. */
typedef struct cli_scorers {
  int n;
  cli_scoring *s;     /* [n] */
  struct ab_scorer *sc; /* [n] their predictors as scorers */
} cli_scorers;
int cli_scorers_open(cli_scorers *c, const struct ab_model *m, const char *device,
                     const cli_backend_opts *o, ab_err *e);
void cli_scorers_close(cli_scorers *c);
/* The help lines of --device and --threads for the scoring commands. */
#define CLI_DEVICE_HELP                                                                     \
  "  --device D        cpu (fast CPU path), ref (plain C reference) or an OpenCL\n"          \
  "                    device index from `abgpu devices` (default: $ABGPU_DEVICE,\n"          \
  "                    else cpu); every device gives the same figures within rounding\n"    \
  "  --threads N       threads of the cpu device (default: all cores)\n"

#endif
