/* cli.h - what the subcommands share: flag parsing, error printing, backend choice.
 * Only cli/ prints and exits. */
#ifndef ABGPU_CLI_H
#define ABGPU_CLI_H
#include <stdint.h>
#include <stdio.h>
#include "abgpu/backend.h"
#include "abgpu/err.h"

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

/* Empty fields that eval/predict/importance filled with the model's values (cmd_predict.c):
 * the total, and a one-line note on stderr when there were any. */
struct ab_model;
uint64_t cli_sum_filled(const uint64_t *nfilled);
void cli_note_filled(const uint64_t *nfilled, const struct ab_model *m);

/* The input-format flags (csv_flags.c). cli_csv_init: all detected, notes printed on
 * stderr as "abgpu: note: ..." / "abgpu: warning: ...". cli_csv_flag: 1 when argv[*i] was
 * one of them (its value taken), 0 when not, 2 after printing a usage error. */
struct ab_csv_format;
void cli_csv_init(struct ab_csv_format *f);
int cli_csv_flag(int argc, char **argv, int *i, struct ab_csv_format *f, const char *cmd);
/* The help lines of those flags. */
const char *cli_csv_help(void);

/* Prints "abgpu: MESSAGE" on stderr and returns the exit status for e (2, or 128+sig). */
int cli_fail(const ab_err *e);
/* Prints "abgpu CMD: MESSAGE (see abgpu CMD --help)" and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Matches argv[*i] against --name VALUE or --name=VALUE. On a match sets *val, advances *i
 * past the value and returns 1; returns -1 when the value is missing, 0 on no match. */
int cli_opt(int argc, char **argv, int *i, const char *name, const char **val);
/* 1 when argv[i] is exactly the flag `name` (a switch without value). */
int cli_switch(char **argv, int i, const char *name);

/* Writes s with JSON string escapes (without the surrounding quotes). */
void cli_json_escape(FILE *f, const char *s);

/* Number parsing for flags; return 0 on success, -1 when s is not a valid value. */
int cli_int(int *out, const char *s, long lo, long hi);
int cli_float(float *out, const char *s, double lo, double hi);
int cli_u64(uint64_t *out, const char *s);

/* Options for opening a backend. */
typedef struct cli_backend_opts {
  int verbose;        /* print program build options etc. on stderr */
  const char *gemm;   /* "own" (default) or "clblast" */
  int threads;        /* threads of the cpu backend; 0 = all cores */
} cli_backend_opts;

/* Opens the backend named by spec: "cpu" (the fast CPU path, o->threads threads),
 * "ref" (the plain C reference), an OpenCL device index ("0", "1", ...), or NULL for
 * $ABGPU_DEVICE, falling back to "cpu". */
int cli_backend_open(ab_backend **be, const char *spec, const cli_backend_opts *o, ab_err *e);

#endif
