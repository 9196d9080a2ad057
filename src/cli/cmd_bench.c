/* abgpu bench: the same training on every backend, side by side, plus CSV reading speed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "abgpu/cl.h"
#include "abgpu/json.h"
#include "abgpu/rng.h"
#include "abgpu/source.h"
#include "abgpu/synth.h"
#include "abgpu/train.h"
#include "cli.h"

#define MAX_BACKENDS 16

typedef struct bench_args {
  const char *data, *backends;
  ab_csv_format fmt;  /* the input-format flags, for --data */
  size_t rows;
  int epochs, threads;
  uint64_t seed;
  cli_json json;
} bench_args;

typedef struct bench_row {
  char spec[32], name[160], error[256], path[256];
  double setup_ms, upload_ms, epoch_ms, train_ms, eval_ms, final_loss;
} bench_row;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void bench_help(void) {
  printf("usage: abgpu bench [FLAGS]\n\n"
         "Trains the seed network (10-100-100-2, batch 100) from the same initial weights and\n"
         "batch order on every backend, and prints per backend: ms/epoch (median; an epoch is\n"
         "the training steps plus the validation pass, as in train), samples/s, GFLOP/s\n"
         "of the training steps and their fraction of one core's FMA peak (measured first,\n"
         "per instruction set; %%peak is of the set the cpu backend runs, $ABGPU_CPU_ISA to\n"
         "force one), setup (program build, warm-up) and upload times, the final training\n"
         "loss, and the speed ratio to the cpu backend. Then the CSV reader's MB/s (the median\n"
         "of repeated whole reads of the file, or of a synthetic CSV of --rows customers),\n"
         "plain and with every field of the same file in quotes.\n\n"
         "  --data F          CSV export (default: synthetic customers, see --rows)\n"
         "  --rows N          synthetic customers when no --data (default: 14084)\n"
         "  --epochs N        timed epochs per backend, after one warm-up epoch (default: 5)\n"
         "  --backends L      comma list of ref, cpu, N (OpenCL device), N:clblast\n"
         "                    (default: all available; one that cannot be opened is\n"
         "                    listed as unavailable)\n"
         "  --threads N       threads of the cpu backend, at most (default: all cores, and\n"
         "                    rows cpu:t1 and cpu:t2 with exactly 1 and 2 beside it; the\n"
         "                    line \"cpu threads\" says how many the cpu row chose)\n"
         "  --seed S          data preparation, initial weights, batch order (default: 1)\n"
         "  --json            one JSON object on stdout (progress stays on stderr)\n"
         "  --json-out F      the same object into file F\n"
         "%s"
         "  -h, --help        this text\n", cli_csv_help());
}

/* 1 when every entry of the comma list is ref, cpu, N or N:clblast (N a device index). */
static int backends_valid(const char *list) {
  for (const char *p = list;; p++) {
    size_t len = strcspn(p, ","), d = strspn(p, "0123456789");
    int ok = (len == 3 && (!strncmp(p, "ref", 3) || !strncmp(p, "cpu", 3))) ||
             (d > 0 && d < 10 && (len == d || (len == d + 8 && !strncmp(p + d, ":clblast", 8))));
    if (!ok) return 0;
    p += len;
    if (!*p) return 1;
  }
}

/* 1 when the comma list names the cpu backend. */
static int list_has_cpu(const char *list) {
  for (const char *p = list; *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ','))
    if (strncmp(p, "cpu", 3) == 0 && (p[3] == ',' || p[3] == '\0')) return 1;
  return 0;
}

static int bench_parse(bench_args *a, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *v = NULL;
    int m, bad = 0;
    uint64_t u;
    if ((m = cli_csv_flag(argc, argv, &i, &a->fmt, "bench")) == 2) return 2;
    if (m) continue;
    if ((m = cli_opt(argc, argv, &i, "--data", &v)) > 0) a->data = v;
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--rows", &v)) > 0) { bad = cli_u64(&u, v) || u < 100; a->rows = (size_t)u; }
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--epochs", &v)) > 0) bad = cli_int(&a->epochs, v, 1, 1000);
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--backends", &v)) > 0) { a->backends = v; bad = !backends_valid(v); }
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--threads", &v)) > 0) bad = cli_threads(&a->threads, v);
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--seed", &v)) > 0) bad = cli_u64(&a->seed, v);
    else if (m == 0 && (m = cli_json_flag(&a->json, argc, argv, &i)) > 0) continue;
    else if (m == 0 && (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h"))) { bench_help(); return -1; }
    else if (m == 0) return cli_usage_error("bench", "unknown flag '%s'", argv[i]);
    if (m < 0) return cli_no_value("bench", argc, argv, i);
    if (bad) return cli_usage_error("bench", "%s: invalid value '%s'", argv[i - 1], v);
  }
  if (a->threads && a->backends && !list_has_cpu(a->backends))
    return cli_usage_error("bench", "--threads applies to the cpu backend, which --backends %s "
                           "leaves out", a->backends);
  return 0;
}

/* Default backend list: ref, cpu, then every OpenCL device, with and without CLBlast. */
static int default_specs(char specs[][32], int cap) {
  int n = 0;
  snprintf(specs[n++], 32, "ref");
  snprintf(specs[n++], 32, "cpu");
  ab_cl_devices d;
  ab_err e;
  if (ab_cl_devices_list(&d, &e) != AB_OK) return n;
  for (int i = 0; i < d.n && n + 2 <= cap; i++) {
    snprintf(specs[n++], 32, "%d", i);
    if (ab_cl_have_clblast()) snprintf(specs[n++], 32, "%d:clblast", i);
  }
  ab_cl_devices_free(&d);
  return n;
}

static int list_specs(char specs[][32], int cap, const char *list) {
  if (!list) return default_specs(specs, cap);
  int n = 0;
  for (const char *p = list; *p && n < cap;) {
    size_t len = strcspn(p, ",");
    snprintf(specs[n++], 32, "%.*s", (int)(len < 31 ? len : 31), p);
    p += len + (p[len] == ',');
  }
  return n;
}

/* After "cpu" (its threads chosen by the backend), rows with exactly 1 and 2 threads,
 * when --threads is not given and there are two cores: the choice beside both. */
static int add_thread_rows(char specs[][32], int n, int cap, const bench_args *a) {
  if (a->threads || ab_cpu_count() < 2 || n + 2 > cap) return n;
  for (int i = 0; i < n; i++)
    if (strcmp(specs[i], "cpu") == 0) {
      memmove(specs[i + 3], specs[i + 1], (size_t)(n - i - 1) * sizeof specs[0]);
      snprintf(specs[i + 1], 32, "cpu:t1");
      snprintf(specs[i + 2], 32, "cpu:t2");
      return n + 2;
    }
  return n;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Opens the backend of spec ("N:clblast" selects the CLBlast GEMMs). */
static int bench_open(ab_backend **be, const char *spec, const bench_args *a, ab_err *e) {
  char dev[32];
  snprintf(dev, sizeof dev, "%s", spec);
  char *colon = strchr(dev, ':');
  cli_backend_opts o;
  memset(&o, 0, sizeof o);
  o.gemm = colon ? colon + 1 : NULL;
  if (colon) *colon = '\0';
  o.threads = strcmp(dev, "cpu") == 0 ? a->threads : 0; /* --threads is the cpu backend's */
  if (colon && colon[1] == 't') { /* cpu:tN: exactly N threads */
    o.threads = atoi(colon + 2);
    o.exact_threads = 1;
    o.gemm = NULL;
  }
  return cli_backend_open(be, dev, &o, e);
}

typedef struct bench_ctx {
  const ab_splits *s;
  const bench_args *a;
  ab_train_cfg cfg;
  float *init;       /* [P] the same initial weights for every backend */
  int32_t *orders;   /* [epochs + 1][ntrain] the same batch orders for every backend */
  int nbatches;
  ab_cpu_isa isa;    /* the cpu backend's kernels */
  double peak[4];    /* one core's FMA peak in GFLOP/s, per ISA (0: not measured) */
} bench_ctx;

static int bench_epochs(bench_row *r, ab_backend *be, const bench_ctx *c, ab_err *e) {
  int E = c->a->epochs;
  double *ep = calloc((size_t)E, sizeof *ep), *tr = calloc((size_t)E, sizeof *tr), loss = 0, vl;
  int64_t correct;
  int rc = ep && tr ? AB_OK : ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int i = 0; i <= E && !rc; i++) { /* epoch 0 is the warm-up, not timed */
    double t0 = now_ms();
    rc = ab_backend_train_epoch(be, c->orders + (size_t)i * c->s->train.n, c->nbatches, &loss, e);
    double t1 = now_ms();
    if (!rc) rc = ab_backend_evaluate(be, AB_SPLIT_VAL, &vl, &correct, e);
    if (i > 0) { tr[i - 1] = t1 - t0; ep[i - 1] = now_ms() - t0; }
  }
  if (!rc) {
    qsort(ep, (size_t)E, sizeof *ep, cmp_double);
    qsort(tr, (size_t)E, sizeof *tr, cmp_double);
    r->epoch_ms = ep[E / 2];
    r->train_ms = tr[E / 2];
    r->eval_ms = r->epoch_ms - r->train_ms;
    r->final_loss = loss / c->nbatches;
  }
  free(ep);
  free(tr);
  return rc;
}

static void bench_backend(bench_row *r, const bench_ctx *c) {
  ab_backend *be = NULL;
  ab_err e = {0};
  ab_hyper hp = {c->cfg.lr, 0.0f};
  double t0 = now_ms();
  int rc = bench_open(&be, r->spec, c->a, &e);
  double t1 = now_ms();
  if (!rc) rc = ab_backend_load_data(be, c->s, &e);
  double t2 = now_ms();
  if (!rc) rc = ab_backend_init_models(be, &c->cfg.arch, 1, c->cfg.batch, c->init, &hp, &e);
  r->setup_ms = (t1 - t0) + (now_ms() - t2);
  r->upload_ms = t2 - t1;
  if (!rc) rc = bench_epochs(r, be, c, &e);
  if (be) snprintf(r->name, sizeof r->name, "%s", be->name);
  if (be) snprintf(r->path, sizeof r->path, "%s", ab_backend_path(be));
  if (rc) snprintf(r->error, sizeof r->error, "%.250s", e.msg);
  ab_backend_free(be);
}

static int bench_ctx_init(bench_ctx *c, const ab_splits *s, const bench_args *a, ab_err *e) {
  memset(c, 0, sizeof *c);
  c->s = s;
  c->a = a;
  c->cfg = ab_train_cfg_default();
  c->nbatches = (int)(s->train.n / (size_t)c->cfg.batch);
  if (c->nbatches < 1) return ab_err_set(e, AB_EINPUT, "too few training rows for one batch");
  size_t P = ab_arch_nparams(&c->cfg.arch), n = s->train.n;
  c->init = malloc(P * sizeof(float));
  c->orders = malloc((size_t)(a->epochs + 1) * n * sizeof(int32_t));
  uint32_t *perm = malloc(n * sizeof *perm);
  if (!c->init || !c->orders || !perm) { free(perm); return ab_err_set(e, AB_ENOMEM, "out of memory"); }
  ab_init_params(c->init, &c->cfg.arch, a->seed);
  ab_rng r;
  ab_rng_seed(&r, a->seed, 2);
  for (int ep = 0; ep <= a->epochs; ep++) {
    for (uint32_t i = 0; i < n; i++) perm[i] = i;
    ab_rng_shuffle_u32(&r, perm, (uint32_t)n);
    for (size_t i = 0; i < n; i++) c->orders[(size_t)ep * n + i] = (int32_t)perm[i];
  }
  free(perm);
  return AB_OK;
}

/* One core's peak for every ISA this CPU runs (the cpu backend's first). */
static void bench_peaks(bench_ctx *c) {
  static const ab_cpu_isa all[3] = {AB_CPU_ISA_GENERIC, AB_CPU_ISA_AVX2, AB_CPU_ISA_AVX512};
  for (int i = 0; i < 3; i++)
    if (ab_cpu_isa_resolve(all[i]) == all[i]) c->peak[all[i]] = ab_cpu_fma_peak(all[i]);
}


/* CSV reader speed: reads path whole, again and again for at least 300 ms (and at least
 * 3 times, at most 1000); MB/s of the median read, as epochs are timed. */
static double csv_mb_per_s(const char *path, const ab_csv_format *fmt, ab_err *e) {
  enum { MAX_READS = 1000 };
  double t[MAX_READS];
  ab_csv_opts o = ab_csv_opts_default();
  o.fmt = *fmt;
  o.fmt.note = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  fseek(f, 0, SEEK_END);
  double bytes = (double)ftell(f), start = now_ms();
  fclose(f);
  int n = 0;
  while (n < MAX_READS && (n < 3 || now_ms() - start < 300)) {
    ab_table tab;
    double t0 = now_ms();
    if (ab_csv_read(&tab, path, &o, e)) return -1;
    ab_table_free(&tab);
    t[n++] = now_ms() - t0;
  }
  qsort(t, (size_t)n, sizeof t[0], cmp_double);
  return bytes / 1e6 / (t[n / 2] / 1e3);
}

/* Copies src to dst with every field in quotes (fields split at sep outside quotes; a
 * field already quoted, and a byte-order mark, are copied as they are). 0 on success. */
static int quote_copy(const char *src, const char *dst, char sep) {
  FILE *in = fopen(src, "rb"), *out = in ? fopen(dst, "wb") : NULL;
  int c, start = 1, inq = 0, open = 0;
  unsigned char bom[3];
  size_t nb = in ? fread(bom, 1, 3, in) : 0;
  if (nb == 3 && bom[0] == 0xEF && bom[1] == 0xBB && bom[2] == 0xBF) { if (out) fwrite(bom, 1, 3, out); }
  else if (in) rewind(in);
  while (out && (c = getc_unlocked(in)) != EOF) {
    if (start && c != '"' && c != '\n' && c != '\r') { putc_unlocked('"', out); open = 1; }
    if (start && c == '"') inq = 1;
    else if (c == '"') inq = !inq;
    int end = !inq && (c == sep || c == '\n' || c == '\r');
    if (end && open) { putc_unlocked('"', out); open = 0; }
    putc_unlocked(c, out);
    start = end && c != '\r';
  }
  if (open) putc_unlocked('"', out);
  int bad = !out || ferror(in) || ferror(out);
  if (out && fclose(out)) bad = 1;
  if (in) fclose(in);
  return bad ? -1 : 0;
}

/* The file's separator, as the reader sees it (',' when it cannot tell). */
static char file_sep(const char *path, const ab_csv_format *fmt) {
  ab_csv_reader *r;
  ab_err e;
  ab_csv_format f = *fmt;
  f.note = NULL;
  if (ab_csv_reader_open(&r, path, &f, 1, &e)) return fmt->sep ? fmt->sep : ',';
  char sep = ab_csv_reader_sep(r);
  ab_csv_reader_close(r);
  return sep;
}

/* MB/s of the plain file and of its quoted copy (*quoted < 0 when not measured). For
 * synthetic data, writes a temporary CSV to time the reader on. */
static double csv_speed(const bench_args *a, double *quoted, ab_err *e) {
  char tmp[] = "/tmp/abgpu-bench-XXXXXX", qt[] = "/tmp/abgpu-bench-q-XXXXXX";
  int synth = strncmp(a->data, "synth:", 6) == 0, fd = -1, fq = mkstemp(qt);
  if (synth && (fd = mkstemp(tmp)) >= 0) close(fd);
  if (fq >= 0) close(fq);
  const char *path = synth ? tmp : a->data;
  double r = (synth && (fd < 0 || ab_synth_write_csv(tmp, a->rows, AB_SYNTH_DEFAULT_SEED, e)))
                 ? -1 : csv_mb_per_s(path, &a->fmt, e);
  *quoted = -1;
  if (r > 0 && fq >= 0 && quote_copy(path, qt, file_sep(path, &a->fmt)) == 0)
    *quoted = csv_mb_per_s(qt, &a->fmt, e);
  if (synth && fd >= 0) unlink(tmp);
  if (fq >= 0) unlink(qt);
  return r;
}

static double ratio_base(const bench_row *rows, int n) {
  for (int i = 0; i < n; i++)
    if (!rows[i].error[0] && strcmp(rows[i].spec, "cpu") == 0) return rows[i].epoch_ms;
  return 0;
}

static void print_peaks(const bench_ctx *c, double flops, double samples) {
  printf("one core's FMA peak (bench's loop, thread CPU time):");
  for (int i = 3; i >= 1; i--)
    if (c->peak[i] > 0) printf(" %s %.1f GFLOP/s", ab_cpu_isa_name((ab_cpu_isa)i), c->peak[i]);
  printf("\nan epoch's training steps: %.1f MFLOP (%.0f flops a row: 6 per weight); %%peak is "
         "GFLOP/s over one core's %s peak\n", flops * samples / 1e6, flops,
         ab_cpu_isa_name(c->isa));
}

static void print_text(const bench_row *rows, int n, const bench_ctx *c, double csv,
                       double quoted) {
  double base = ratio_base(rows, n), flops = ab_arch_train_flops(&c->cfg.arch);
  double samples = (double)c->nbatches * c->cfg.batch, peak = c->peak[c->isa];
  printf("data %s: %zu training rows, %d batches of %d; %d timed epochs (median)\n",
         c->a->data, c->s->train.n, c->nbatches, c->cfg.batch, c->a->epochs);
  print_peaks(c, flops, samples);
  printf("%-12s %10s %10s %12s %9s %6s %10s %10s %11s %8s  %s\n", "backend", "ms/epoch",
         "train ms", "samples/s", "GFLOP/s", "%peak", "setup ms", "upload ms", "final loss",
         "vs cpu", "name");
  for (int i = 0; i < n; i++) {
    const bench_row *r = &rows[i];
    if (r->error[0]) { printf("%-12s unavailable: %s\n", r->spec, r->error); continue; }
    double sps = samples / (r->train_ms / 1e3), gf = sps * flops / 1e9;
    printf("%-12s %10.2f %10.2f %12.0f %9.2f %5.1f%% %10.1f %10.2f %11.6f %7.2fx  %s\n",
           r->spec, r->epoch_ms, r->train_ms, sps, gf, peak > 0 ? 100 * gf / peak : 0.0,
           r->setup_ms, r->upload_ms, r->final_loss, base > 0 ? base / r->epoch_ms : 0.0,
           r->name);
  }
  for (int i = 0; i < n; i++)
    if (!rows[i].error[0] && strcmp(rows[i].spec, "cpu") == 0)
      printf("cpu threads: %s\n", rows[i].path);
  if (csv > 0) printf("csv reader: %.1f MB/s\n", csv);
  if (quoted > 0) printf("csv reader, every field quoted: %.1f MB/s\n", quoted);
  else if (csv > 0) printf("csv reader, every field quoted: not measured (the quoted copy could "
                           "not be written or read)\n");
}

static void print_json(FILE *f, const bench_row *rows, int n, const bench_ctx *c, double csv,
                       double quoted) {
  double base = ratio_base(rows, n), flops = ab_arch_train_flops(&c->cfg.arch);
  double samples = (double)c->nbatches * c->cfg.batch, peak = c->peak[c->isa];
  char b[10][32];
  fprintf(f, "{\"data\": ");
  ab_json_str(f, c->a->data);
  fprintf(f, ", \"train_rows\": %zu, \"epochs\": %d, \"csv_mb_per_s\": %s, "
          "\"csv_quoted_mb_per_s\": %s, \"epoch_mflop\": %s, \"peak_gflops\": {",
          c->s->train.n, c->a->epochs, ab_json_fixed(b[0], csv, 2),
          ab_json_fixed(b[1], quoted, 2), ab_json_fixed(b[2], flops * samples / 1e6, 3));
  for (int i = 3, k = 0; i >= 1; i--)
    if (c->peak[i] > 0)
      fprintf(f, "%s\"%s\": %s", k++ ? ", " : "", ab_cpu_isa_name((ab_cpu_isa)i),
              ab_json_fixed(b[0], c->peak[i], 2));
  fprintf(f, "}, \"backends\": [");
  for (int i = 0; i < n; i++) {
    const bench_row *r = &rows[i];
    fprintf(f, "%s{\"backend\": ", i ? ", " : "");
    ab_json_str(f, r->spec);
    if (r->error[0]) {
      fprintf(f, ", \"error\": ");
      ab_json_str(f, r->error);
      fprintf(f, "}");
      continue;
    }
    double sps = samples / (r->train_ms / 1e3), gf = sps * flops / 1e9;
    fprintf(f, ", \"name\": ");
    ab_json_str(f, r->name);
    fprintf(f, ", \"path\": ");
    ab_json_str(f, r->path);
    fprintf(f, ", \"ms_per_epoch\": %s, \"train_ms_per_epoch\": %s, \"eval_ms\": %s, "
            "\"samples_per_s\": %s, \"gflops\": %s, \"peak_fraction\": %s, \"setup_ms\": %s, "
            "\"upload_ms\": %s, \"final_loss\": %s, \"speed_vs_cpu\": %s}",
            ab_json_fixed(b[0], r->epoch_ms, 4), ab_json_fixed(b[1], r->train_ms, 4),
            ab_json_fixed(b[2], r->eval_ms, 4), ab_json_fixed(b[3], sps, 1),
            ab_json_fixed(b[4], gf, 3), ab_json_fixed(b[9], peak > 0 ? gf / peak : 0.0, 4),
            ab_json_fixed(b[5], r->setup_ms, 2), ab_json_fixed(b[6], r->upload_ms, 3),
            ab_json_fixed(b[7], r->final_loss, 8),
            ab_json_fixed(b[8], base > 0 ? base / r->epoch_ms : 0.0, 4));
  }
  fprintf(f, "]}\n");
}

static int bench_run(bench_args *a) {
  ab_table t;
  ab_splits s;
  ab_err e = {0};
  ab_csv_opts co = ab_csv_opts_default();
  co.fmt = a->fmt;
  if (ab_table_load(&t, a->data, &co, &e)) return cli_fail(&e);
  ab_prep_opts po = ab_prep_opts_default();
  po.seed = a->seed;
  int rc = ab_prep(&s, &t, &po, &e);
  ab_table_free(&t);
  if (rc) return cli_fail(&e);
  bench_ctx c;
  static bench_row rows[MAX_BACKENDS];
  char specs[MAX_BACKENDS][32];
  int n = add_thread_rows(specs, list_specs(specs, MAX_BACKENDS, a->backends), MAX_BACKENDS, a);
  if (!(rc = bench_ctx_init(&c, &s, a, &e)) && !(rc = cli_cpu_isa(&c.isa, &e))) {
    c.isa = ab_cpu_isa_resolve(c.isa);
    bench_peaks(&c);
    for (int i = 0; i < n; i++) {
      memset(&rows[i], 0, sizeof rows[i]);
      snprintf(rows[i].spec, sizeof rows[i].spec, "%.31s", specs[i]);
      if (!a->json.to_stdout) fprintf(stderr, "bench: %s ...\n", specs[i]);
      bench_backend(&rows[i], &c);
    }
    double quoted, csv = csv_speed(a, &quoted, &e);
    FILE *jf = cli_json_stream(&a->json);
    if (jf) print_json(jf, rows, n, &c, csv, quoted);
    if (!a->json.to_stdout) print_text(rows, n, &c, csv, quoted);
    rc = cli_commit(NULL, 0, &a->json, &e);
  }
  free(c.init);
  free(c.orders);
  ab_splits_free(&s);
  return rc ? cli_fail(&e) : 0;
}

int cmd_bench(int argc, char **argv) {
  bench_args a = {NULL, NULL, {0}, 14084, 5, 0, 1, {0}};
  cli_csv_init(&a.fmt);
  int rc = bench_parse(&a, argc, argv);
  if (rc) return rc < 0 ? 0 : rc;
  ab_path_use out[2] = {{"--json-out", a.json.path}, {"--json", a.json.to_stdout ? "-" : NULL}};
  if ((rc = cli_check_outputs(out, 2, NULL, 0))) return rc;
  static char synth[64];
  if (!a.data) {
    snprintf(synth, sizeof synth, "synth:%zu", a.rows);
    a.data = synth;
  }
  rc = bench_run(&a);
  cli_json_free(&a.json);
  return rc;
}
