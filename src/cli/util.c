#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "abgpu/cpu.h"
#include "cli.h"

volatile sig_atomic_t cli_stop_signal;

int cli_exit_status(const ab_err *e) {
  switch (e->code) {
    case AB_OK: return CLI_EXIT_OK;
    case AB_ENOMEM: return CLI_EXIT_INTERNAL;
    case AB_EDEVICE: return CLI_EXIT_DEVICE;
    case AB_EOUTPUT: return CLI_EXIT_OUTPUT;
    case AB_EINTR: return 128 + (cli_stop_signal ? (int)cli_stop_signal : SIGINT);
    default: return CLI_EXIT_DATA;
  }
}

int cli_fail(const ab_err *e) {
  fprintf(stderr, "abgpu: %s\n", e->msg[0] ? e->msg : "unknown error");
  return e->code ? cli_exit_status(e) : CLI_EXIT_INTERNAL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "abgpu %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see abgpu %s --help)\n", cmd);
  va_end(ap);
  return 2;
}

int cli_opt(int argc, char **argv, int *i, const char *name, const char **val) {
  const char *a = argv[*i];
  size_t n = strlen(name);
  if (strncmp(a, name, n) != 0) return 0;
  if (a[n] == '=') { *val = a + n + 1; return 1; }
  if (a[n] != '\0') return 0;
  if (*i + 1 >= argc || strncmp(argv[*i + 1], "--", 2) == 0) return -1; /* no value, or a flag */
  *val = argv[++*i];
  return 1;
}

int cli_no_value(const char *cmd, int argc, char **argv, int i) {
  if (i + 1 < argc)
    return cli_usage_error(cmd, "%s needs a value (got the flag %s; is a shell variable empty?)",
                           argv[i], argv[i + 1]);
  return cli_usage_error(cmd, "%s needs a value", argv[i]);
}

int cli_switch(char **argv, int i, const char *name) { return strcmp(argv[i], name) == 0; }

int cli_int(int *out, const char *s, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

int cli_threads(int *out, const char *s) {
  int max = CLI_THREADS_PER_CORE * ab_cpu_count();
  if (cli_int(out, s, 1, 1 << 20) != 0) return -1;
  if (*out <= max) return 0;
  fprintf(stderr, "abgpu: --threads %d: at most %d here (%d per core, %d cores); more threads "
          "than that only wait for each other\n", *out, max, CLI_THREADS_PER_CORE, ab_cpu_count());
  return -1;
}

int cli_float(float *out, const char *s, double lo, double hi) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi) return -1;
  *out = (float)v;
  return 0;
}

int cli_u64(uint64_t *out, const char *s) {
  char *end;
  errno = 0;
  if (*s == '-') return -1;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

/* ---- signals ---- */

static void on_signal_now(int sig) {
  static const char intr[] = "abgpu: interrupted; temporary files removed\n";
  static const char term[] = "abgpu: terminated; temporary files removed\n";
  ab_outfile_remove_temps();
  if (sig == SIGINT) (void)!write(2, intr, sizeof intr - 1);
  else (void)!write(2, term, sizeof term - 1);
  _exit(128 + sig);
}

static void on_signal_defer(int sig) {
  cli_stop_signal = sig;
  cli_signals_immediate(); /* a second signal acts at once */
}

static void install(void (*fn)(int)) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = fn;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) sigaction(sigs[i], &sa, NULL);
}

void cli_signals_immediate(void) { install(on_signal_now); }
void cli_signals_defer(void) { install(on_signal_defer); }

/* ---- outputs ---- */

int cli_check_outputs(const ab_path_use *out, int nout, const ab_path_use *in, int nin) {
  ab_err e = {0};
  return ab_outputs_check(out, nout, in, nin, &e) ? cli_fail(&e) : 0;
}

int cli_json_flag(cli_json *j, int argc, char **argv, int *i) {
  const char *v;
  if (cli_switch(argv, *i, "--json")) { j->to_stdout = 1; return 1; }
  int m = cli_opt(argc, argv, i, "--json-out", &v);
  if (m > 0) j->path = v;
  return m;
}

FILE *cli_json_stream(cli_json *j) {
  if (!j->to_stdout && !j->path) return NULL;
  if (!j->mem) j->mem = open_memstream(&j->buf, &j->len);
  return j->mem;
}

/* Closes the memory stream: the object is then j->buf[0 .. j->len). */
static int json_close(cli_json *j, ab_err *e) {
  if (!j->mem) return AB_OK;
  int bad = fclose(j->mem) != 0;
  j->mem = NULL;
  return bad || !j->buf ? ab_err_set(e, AB_ENOMEM, "out of memory writing the JSON") : AB_OK;
}

int cli_commit(ab_outfile *const *o, int n, cli_json *j, ab_err *e) {
  ab_outfile *all[16] = {0};
  int k = 0, rc = j ? json_close(j, e) : AB_OK;
  for (int i = 0; i < n && k < 15; i++) all[k++] = o[i];
  if (!rc && j && j->path && j->buf && !(rc = ab_outfile_open(&j->o, j->path, e))) {
    ab_outfile_write(&j->o, j->buf, j->len);
    all[k++] = &j->o;
  }
  if (rc) {
    for (int i = 0; i < k; i++) ab_outfile_abort(all[i]);
    return rc;
  }
  rc = ab_outfile_commit_all(all, k, e);
  if (!rc && j && j->to_stdout && j->buf &&
      (fwrite(j->buf, 1, j->len, stdout) != j->len || fflush(stdout) != 0))
    rc = ab_err_set(e, AB_EOUTPUT, "stdout: write failed: %s", strerror(errno));
  return rc;
}

void cli_json_free(cli_json *j) {
  if (j->mem) fclose(j->mem);
  j->mem = NULL;
  free(j->buf);
  j->buf = NULL;
}

const char *cli_now_utc(char *buf, size_t n) {
  time_t t = time(NULL);
  struct tm tm;
  if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M UTC", &tm)) snprintf(buf, n, "?");
  return buf;
}
