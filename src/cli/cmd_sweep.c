/* abgpu sweep: many configurations trained in launches of compatible models, ranked on
 * validation only, the finalists measured once on the test split, the best model (and an
 * ensemble) saved; --resume, --shard, merge, and ranks under mpirun. docs/sweep.md. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "abgpu/cl.h"
#include "abgpu/json.h"
#include "abgpu/source.h"
#include "abgpu/sweep.h"
#include "cli.h"
#include "sweep_cli.h"

#define CPU_PARALLEL 64       /* default --parallel on the cpu and ref devices */
#define DEVICE_PARALLEL_MAX 512

static void sweep_help(void) {
  printf("usage: abgpu sweep --data F [--space FILE] [--set NAME=VALUES]... [FLAGS]\n"
         "       abgpu sweep merge A.csv B.csv ... --out merged.csv [--rank M]\n\n"
         "Trains many configurations, compatible ones together in one launch, ranks them on\n"
         "the validation split only (or k-fold cross-validation), then measures the finalists\n"
         "once on the test split. docs/sweep.md describes the space file and the outputs.\n\n"
         "  --data F          CSV export, or synth:N[:SEED] (required)\n"
         "  --space FILE      search space: one `name = values` per line; names hidden, act,\n"
         "                    lr, batch, wd, epochs, patience, transform, balance,\n"
         "                    batch_order, lr_schedule, min_epochs, dropout, seed\n"
         "  --set N=VALUES    one dimension on the command line, e.g. --set lr=0.001,0.003 or\n"
         "                    --set 'hidden=100,100 200' (repeatable; replaces the file's)\n"
         "  --grid            every combination (the default)\n"
         "  --random N        N distinct combinations drawn with --seed\n"
         "  --seed S          split seed (balancing, shuffling, folds) and the random draw;\n"
         "                    a configuration's own seed only drives its init and batch\n"
         "                    order (default: 1)\n"
         "  --split A,B,C     train,validation,test percentages (default: 80,10,10)\n"
         "  --folds K         stratified K-fold cross-validation over train+validation; the\n"
         "                    test split stays held out (default: 0 = off)\n"
         "  --rank M          validation figure that ranks: loss, acc or auc (default: loss)\n"
         "  --finalists N     top N measured once on the test split (default: 5)\n"
         "  --ensemble N      also save the top N (sharing the winner's data) averaged as one\n"
         "                    ensemble model (default: 0 = none)\n"
         "  --ensemble-out F  the ensemble's file (default: ensemble.abm)\n"
         "  --out FILE        save the best model (retrained on the standard split when\n"
         "                    --folds was used) (default: none)\n"
         "  --leaderboard F   leaderboard CSV, rewritten after every launch (default: sweep.csv);\n"
         "                    an existing one needs --resume or --force; one sweep at a time\n"
         "                    writes it (a lock file F.lock while it runs)\n"
         "  --json-out F      leaderboard and finalists as JSON (default: the CSV's name .json)\n"
         "  --json            the same JSON object on stdout (the tables then go to stderr);\n"
         "                    the old form --json F still means --json-out F\n"
         "  --resume          continue from the leaderboard: finished configurations are\n"
         "                    not trained again\n"
         "  --force           replace an existing leaderboard instead of refusing\n"
         "  --shard I/N       run only configurations I, I+N, I+2N, ... (1-based); merge the\n"
         "                    shards' leaderboards with `abgpu sweep merge`\n"
         "  --device D        cpu, ref, gpu (this node's GPUs: local rank mod their number)\n"
         "                    or an OpenCL device index (default: $ABGPU_DEVICE, else cpu)\n"
         "  --parallel K      models per launch (default: %d on cpu/ref; on OpenCL from the\n"
         "                    device's memory, at most %d)\n"
         "  --threads N       threads of the cpu device (default: all cores)\n"
         "  --gemm G          OpenCL GEMM path: own or clblast (default: own)\n"
         "  --missing M       empty fields: error, mean, median or zero (default: error)\n"
         "%s"
         "  --quiet           no progress on stderr\n"
         "  --verbose         backend details, and each rank -> its device, on stderr\n"
         "  -h, --help        this text\n\n"
         "Ctrl-C stops after the launch in progress, with the leaderboard written; a second\n"
         "Ctrl-C stops at once. Under mpirun rank 0 hands out launches (largest first) to\n"
         "ranks as they become free and writes each one's rows as it finishes; --resume\n"
         "continues on any number of ranks. docs/scale-out.md: Slurm, Kubernetes, Docker.\n",
         CPU_PARALLEL, DEVICE_PARALLEL_MAX, cli_csv_help());
}

static int parse_shard(sweep_args *a, const char *v) {
  int i, n, used = 0;
  if (sscanf(v, "%d/%d%n", &i, &n, &used) != 2 || v[used] || n < 1 || n > 1000000 || i < 1 ||
      i > n)
    return -1;
  a->shard_i = i;
  a->shard_n = n;
  return 0;
}

static int parse_size(size_t *out, const char *v) {
  int x;
  if (cli_int(&x, v, 1, AB_SWEEP_MAX_CONFIGS)) return -1;
  *out = (size_t)x;
  return 0;
}

/* One flag with a value; returns 0 ok, -1 invalid. */
static int sweep_value(sweep_args *a, int k, const char *v) {
  switch (k) {
    case 0: a->data = v; return 0;
    case 1: a->space = v; return 0;
    case 2: if (a->nsets == SWEEP_MAX_SETS) return -1; a->sets[a->nsets++] = v; return 0;
    case 3: a->grid = 0; return parse_size(&a->random_n, v);
    case 4: return cli_u64(&a->seed, v);
    case 5: return ab_split_parse(a->split, v);
    case 6: return cli_int(&a->folds, v, 0, 100) || a->folds == 1 ? -1 : 0;
    case 7: return ab_rank_by_parse(&a->rank, v);
    case 8: return cli_int(&a->finalists, v, 1, 1000);
    case 9: return cli_int(&a->ensemble, v, 0, AB_MODEL_MAX_NETS);
    case 10: a->ensemble_out = v; return 0;
    case 11: a->out = v; return 0;
    case 12: a->leaderboard = v; return 0;
    case 13: a->json = v; return 0;
    case 14: return parse_shard(a, v);
    case 15: a->device = v; return 0;
    case 16: return cli_int(&a->parallel, v, 1, 1 << 16);
    case 17: return cli_threads(&a->threads, v);
    case 18: a->gemm = v; return strcmp(v, "own") && strcmp(v, "clblast") ? -1 : 0;
    case 19: return ab_missing_parse(&a->csv.missing, v);
    default: return -1;
  }
}

/* --json (stdout), and the old --json F / --json=F meaning --json-out F. 1 when taken. */
static int json_flag(sweep_args *a, int argc, char **argv, int *i) {
  const char *arg = argv[*i], *next = *i + 1 < argc ? argv[*i + 1] : NULL;
  if (strncmp(arg, "--json=", 7) == 0 || (!strcmp(arg, "--json") && next && next[0] != '-')) {
    a->json = arg[6] == '=' ? arg + 7 : argv[++*i];
    fprintf(stderr, "abgpu sweep: --json FILE is deprecated; use --json-out FILE (--json alone "
            "now prints the JSON on stdout)\n");
    return 1;
  }
  if (strcmp(arg, "--json") != 0) return 0;
  a->json_stdout = 1;
  return 1;
}

static int sweep_parse(sweep_args *a, int argc, char **argv) {
  static const char *const names[] = {
      "--data", "--space", "--set", "--random", "--seed", "--split", "--folds", "--rank",
      "--finalists", "--ensemble", "--ensemble-out", "--out", "--leaderboard", "--json-out",
      "--shard", "--device", "--parallel", "--threads", "--gemm", "--missing"};
  for (int i = 1; i < argc; i++) {
    const char *v;
    int m = cli_csv_flag(argc, argv, &i, &a->csv.fmt, "sweep");
    if (m == 2) return 2;
    if (!m) m = json_flag(a, argc, argv, &i);
    for (int k = 0; k < (int)(sizeof names / sizeof names[0]) && !m; k++)
      if ((m = cli_opt(argc, argv, &i, names[k], &v)) < 0)
        return cli_no_value("sweep", argc, argv, i);
      else if (m && sweep_value(a, k, v))
        return cli_usage_error("sweep", "%s: invalid value '%s'", names[k], v);
    if (m) continue;
    if (cli_switch(argv, i, "--grid")) { a->grid = 1; a->random_n = 0; }
    else if (cli_switch(argv, i, "--resume")) a->resume = 1;
    else if (cli_switch(argv, i, "--force")) a->force = 1;
    else if (cli_switch(argv, i, "--quiet")) a->quiet = 1;
    else if (cli_switch(argv, i, "--verbose")) a->verbose = 1;
    else if (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h")) { sweep_help(); return -1; }
    else return cli_usage_error("sweep", "unknown flag '%s'", argv[i]);
  }
  if (!a->data) return cli_usage_error("sweep", "--data is required");
  return 0;
}

/* ---- configurations ---- */

static int build_configs(ab_sweep_cfg **cfg, size_t *n, const sweep_args *a, ab_err *e) {
  ab_space sp;
  ab_space_init(&sp);
  int rc = a->space ? ab_space_load(&sp, a->space, e) : AB_OK;
  for (int i = 0; i < a->nsets && !rc; i++) rc = ab_space_set(&sp, a->sets[i], e);
  if (!rc && sp.note[0] && !a->quiet) fprintf(stderr, "abgpu sweep: %s\n", sp.note);
  if (!rc) rc = ab_space_expand(cfg, n, &sp, a->random_n, a->seed, e);
  ab_space_free(&sp);
  return rc;
}

/* Keeps configurations j with j mod n == i (0-based), in order. */
static void take_slice(ab_sweep_cfg *c, size_t *n, int i, int of) {
  size_t k = 0;
  for (size_t j = 0; j < *n; j++)
    if ((int)(j % (size_t)of) == i) c[k++] = c[j];
  *n = k;
}

/* Drops the configurations the leaderboard already holds. */
static void drop_done(ab_sweep_cfg *c, size_t *n, const ab_leaderboard *lb) {
  size_t k = 0;
  for (size_t j = 0; j < *n; j++)
    if (ab_lb_find(lb, &c[j]) < 0) c[k++] = c[j];
  *n = k;
}

/* --resume: the rows of an earlier run of this sweep (none when the file is missing). */
static int resume_rows(ab_leaderboard *lb, const sweep_args *a, const ab_sweep_id *id, ab_err *e) {
  if (!a->resume || access(a->leaderboard, F_OK) != 0) {
    if (a->resume && !a->quiet)
      fprintf(stderr, "abgpu sweep: %s does not exist yet: starting from the beginning\n",
              a->leaderboard);
    return AB_OK;
  }
  int rc = ab_lb_read_csv(lb, a->leaderboard, e);
  for (size_t i = 0; i < lb->n && !rc; i++)
    if (!ab_sweep_id_eq(&lb->row[i].id, id))
      rc = ab_err_set(e, AB_EUSAGE, "%s holds a sweep of other data, --split, --seed or "
                      "--folds (row %zu); resume with the same ones or use another "
                      "--leaderboard", a->leaderboard, i + 1);
  return rc;
}

/* Floats of one model's state on a device: parameters, best copy, Adam m and v, gradient,
 * and three activations of a batch. */
static double model_bytes(const ab_sweep_cfg *c) {
  ab_train_cfg t;
  if (ab_sweep_train_cfg(&t, c, NULL)) return 1e9;
  double dims = 0;
  for (int l = 0; l <= t.arch.nlayers; l++) dims += t.arch.dims[l];
  return 4.0 * (5.0 * (double)ab_arch_nparams(&t.arch) + 3.0 * c->batch * dims);
}

/* --parallel's default: 64 on the CPU; on OpenCL what half the device's memory holds. */
static int default_parallel(int cl_index, const ab_sweep_cfg *c, size_t n) {
  if (cl_index < 0) return CPU_PARALLEL;
  ab_cl_devices d;
  ab_err e;
  double mem = 1e9, worst = 1;
  if (!ab_cl_devices_list(&d, &e)) {
    if (cl_index < d.n) mem = (double)d.dev[cl_index].global_mem;
    ab_cl_devices_free(&d);
  }
  for (size_t i = 0; i < n; i++)
    if (model_bytes(&c[i]) > worst) worst = model_bytes(&c[i]);
  double k = 0.5 * mem / worst;
  return k < 1 ? 1 : k > DEVICE_PARALLEL_MAX ? DEVICE_PARALLEL_MAX : (int)k;
}

/* ---- the queue: jobs for whichever rank is free ---- */

static int queue_init(sweep_queue *q, int ranks) {
  memset(q, 0, sizeof *q);
  pthread_mutex_init(&q->mu, NULL);
  pthread_cond_init(&q->changed, NULL);
  q->busy = calloc((size_t)ranks, sizeof *q->busy);
  q->busy_kind = calloc((size_t)ranks, sizeof *q->busy_kind);
  return q->busy && q->busy_kind ? 0 : -1;
}

static void queue_free(sweep_queue *q) {
  free(q->job);
  free(q->cfg);
  free(q->busy);
  free(q->busy_kind);
  pthread_mutex_destroy(&q->mu);
  pthread_cond_destroy(&q->changed);
}

/* A new phase of njob jobs over ncfg configurations, for the caller to fill (no job of
 * the last phase is out). */
static int queue_phase(sweep_queue *q, size_t njob, size_t ncfg, ab_err *e) {
  sweep_job *j = calloc(njob ? njob : 1, sizeof *j);
  ab_sweep_cfg *c = calloc(ncfg ? ncfg : 1, sizeof *c);
  if (!j || !c) {
    free(j); free(c);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  pthread_mutex_lock(&q->mu);
  free(q->job);
  free(q->cfg);
  q->job = j, q->cfg = c, q->next = 0, q->njob = 0;
  pthread_mutex_unlock(&q->mu);
  return AB_OK;
}

/* Makes the phase's jobs visible to the coordinator. */
static void queue_open(sweep_queue *q, size_t njob) {
  pthread_mutex_lock(&q->mu);
  q->njob = njob;
  pthread_mutex_unlock(&q->mu);
}

int sweep_queue_take(sweep_queue *q, sweep_job *j, int rank) {
  if (q->stop || q->next >= q->njob) return 0;
  *j = q->job[q->next++];
  q->out++;
  q->busy[rank] = j->id;
  q->busy_kind[rank] = (int)j->kind;
  return 1;
}

/* With q->mu held: job of rank `from` is back. */
static void job_back(sweep_queue *q, int from) {
  q->out--;
  q->busy[from] = 0;
  pthread_cond_broadcast(&q->changed);
}

static void queue_set(sweep_queue *q, int *flag) {
  pthread_mutex_lock(&q->mu);
  *flag = 1;
  pthread_cond_broadcast(&q->changed);
  pthread_mutex_unlock(&q->mu);
}

/* Waits until every job handed out is back; fails when the coordinator did. */
static int queue_wait(sweep_queue *q, ab_err *e) {
  pthread_mutex_lock(&q->mu);
  while (q->out > 0 && !q->failed) pthread_cond_wait(&q->changed, &q->mu);
  int rc = q->failed ? q->err.code : AB_OK;
  if (rc) *e = q->err;
  pthread_mutex_unlock(&q->mu);
  return rc;
}

/* ---- results, on rank 0 (q.mu held) ---- */

int sweep_rows_in(sweep_run *r, const ab_leaderboard *rows, const sweep_job *j, int from,
                  ab_err *e) {
  char name[32];
  snprintf(name, sizeof name, "rank %d", from);
  const ab_sweep_cfg *c = r->q.cfg + j->first;
  int rc = rows->n == (size_t)j->n ? ab_lb_merge(&r->lb, rows, name, NULL, e)
           : ab_err_set(e, AB_EINPUT, "%s: %zu rows for a launch of %d", name, rows->n, j->n);
  for (int k = 0; k < j->n && !rc; k++)
    if (ab_lb_find(&r->lb, &c[k]) < 0)
      rc = ab_err_set(e, AB_EINPUT, "%s: rows of other configurations than its launch's", name);
  if (!rc) ab_lb_sort(&r->lb, r->a->rank);
  if (!rc) rc = ab_lb_write_csv(&r->lb, r->a->leaderboard, e);
  job_back(&r->q, from);
  if (!rc) {
    r->prog.launch = j->id;
    r->prog.from = r->mpi->size > 1 ? from : -1;
    sweep_progress_launch(&r->prog, c, j->n, rows->n ? rows->row[0].seconds : 0);
  }
  return rc;
}

int sweep_fit_in(sweep_run *r, const sweep_job *j, ab_model *m, int from, ab_err *e) {
  (void)e;
  sweep_final *fin = r->fin;
  sweep_fit *f = &fin->fits[j->id - 1];
  ab_model_free(&f->m);
  f->m = *m;
  job_back(&r->q, from);
  if (!r->a->quiet && r->mpi->size > 1)
    fprintf(stderr, "abgpu sweep: fit %zu of %d (leaderboard row %zu) done on rank %d\n",
            j->id, fin->nfits, f->row + 1, from);
  else if (!r->a->quiet)
    fprintf(stderr, "abgpu sweep: fit %zu of %d (leaderboard row %zu) done\n", j->id,
            fin->nfits, f->row + 1);
  return AB_OK;
}

/* ---- rank 0's own jobs ---- */

int sweep_launch_rows(sweep_run *r, ab_leaderboard *lb, const ab_sweep_cfg *c, int n,
                      ab_err *e) {
  ab_lb_row *rows = calloc((size_t)n, sizeof *rows);
  int rc = rows ? ab_sweep_launch(&r->x, rows, c, n, e) : ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int k = 0; k < n && !rc; k++) {
    snprintf(rows[k].device, sizeof rows[k].device, "%s", r->x.be->name);
    rc = ab_lb_add(lb, &rows[k], e);
  }
  free(rows);
  return rc;
}

static int own_launch(sweep_run *r, const sweep_job *j, ab_err *e) {
  ab_leaderboard lb;
  ab_lb_init(&lb);
  int rc = sweep_launch_rows(r, &lb, r->q.cfg + j->first, j->n, e);
  pthread_mutex_lock(&r->q.mu);
  if (!rc) rc = sweep_rows_in(r, &lb, j, 0, e);
  else job_back(&r->q, 0);
  pthread_mutex_unlock(&r->q.mu);
  ab_lb_free(&lb);
  return rc;
}

static int own_fit(sweep_run *r, const sweep_job *j, ab_err *e) {
  ab_model m;
  int rc = ab_sweep_fit(&r->x, &m, r->q.cfg + j->first, r->a->data, e);
  pthread_mutex_lock(&r->q.mu);
  if (!rc) rc = sweep_fit_in(r, j, &m, 0, e);
  else job_back(&r->q, 0);
  pthread_mutex_unlock(&r->q.mu);
  return rc;
}

/* Rank 0 takes jobs like any rank until none is left, then waits for the others' last
 * results. A signal (when `stoppable`) stops the handing out; a failure here makes the
 * coordinator quit. */
static int run_jobs(sweep_run *r, int stoppable, ab_err *e) {
  sweep_queue *q = &r->q;
  int rc = AB_OK;
  for (;;) {
    sweep_job j;
    pthread_mutex_lock(&q->mu);
    if (stoppable && cli_stop_signal) q->stop = 1;
    int got = !q->failed && sweep_queue_take(q, &j, 0);
    pthread_mutex_unlock(&q->mu);
    if (!got) break;
    rc = j.kind == SWEEP_JOB_LAUNCH ? own_launch(r, &j, e) : own_fit(r, &j, e);
    if (rc) {
      queue_set(q, &q->stop);
      queue_set(q, &q->quit);
      return rc;
    }
  }
  return queue_wait(q, e);
}

/* The launches, largest first under MPI (today's grouped order for one process). */
static int queue_launches(sweep_run *r, const ab_sweep_cfg *cfg, size_t n, int parallel, ab_err *e) {
  size_t *order = malloc((n ? n : 1) * sizeof *order), nl = 0;
  ab_launch *l = NULL;
  int rc = order ? ab_sweep_group(order, &l, &nl, cfg, n, parallel, e)
                 : ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc && r->mpi->size > 1) ab_sweep_order_largest_first(l, nl, order, cfg);
  if (!rc) rc = queue_phase(&r->q, nl, n, e);
  for (size_t i = 0, at = 0; i < nl && !rc; i++) {
    sweep_job j = {SWEEP_JOB_LAUNCH, (int)l[i].n, at, i + 1};
    r->q.job[i] = j;
    for (size_t k = 0; k < l[i].n; k++) r->q.cfg[at++] = cfg[order[l[i].first + k]];
  }
  if (!rc) queue_open(&r->q, nl);
  r->prog.nlaunch = nl;
  free(order);
  free(l);
  return rc;
}

/* ---- the final phase: finalists, best model, ensemble ---- */

static int fit_of_row(const sweep_final *fin, size_t row) {
  for (int i = 0; i < fin->nfits; i++)
    if (fin->fits[i].row == row) return i;
  return -1;
}

/* What to fit: the finalists (rows 0..nfin-1), then the ensemble's members, the top
 * rows that share the winner's data, where not finalists already. */
static void plan_fits(const sweep_run *r, sweep_final *fin) {
  size_t ok = 0;
  while (ok < r->lb.n && r->lb.row[ok].status == AB_ROW_OK) ok++;
  fin->nfin = (int)(ok < (size_t)r->a->finalists ? ok : (size_t)r->a->finalists);
  for (int i = 0; i < fin->nfin; i++) fin->fits[fin->nfits++].row = (size_t)i;
  if (r->a->ensemble < 1 || fin->nfin == 0) return;
  for (size_t i = 0; i < ok && fin->nens < r->a->ensemble; i++) {
    if (!ab_sweep_same_data(&r->lb.row[i].cfg, &r->lb.row[0].cfg)) continue;
    fin->ens_rows[fin->nens++] = i;
    if (fit_of_row(fin, i) < 0) fin->fits[fin->nfits++].row = i;
  }
}

/* The fits as one phase of jobs, done across the ranks. */
static int run_fits(sweep_run *r, sweep_final *fin, ab_err *e) {
  int rc = queue_phase(&r->q, (size_t)fin->nfits, (size_t)fin->nfits, e);
  for (int i = 0; i < fin->nfits && !rc; i++) {
    sweep_job j = {SWEEP_JOB_FIT, 1, (size_t)i, (size_t)i + 1};
    r->q.job[i] = j;
    r->q.cfg[i] = r->lb.row[fin->fits[i].row].cfg;
  }
  r->fin = fin;
  r->x.cb = NULL;
  if (!rc) queue_open(&r->q, (size_t)fin->nfits);
  if (!rc) rc = run_jobs(r, 0, e);
  if (!rc && fin->nfin) fin->test_rows = fin->fits[0].m.n_test;
  return rc;
}

static int build_ensemble(sweep_run *r, sweep_final *fin, ab_err *e) {
  ab_model members[AB_MODEL_MAX_NETS];
  for (int i = 0; i < fin->nens; i++) members[i] = fin->fits[fit_of_row(fin, fin->ens_rows[i])].m;
  int rc = ab_sweep_ensemble(&r->x, &fin->ens, members, fin->nens, e);
  if (rc) fin->nens = 0;
  return rc;
}

static int is_stdout(const char *path) { return path && strcmp(path, "-") == 0; }

/* Where the tables and notes go: stderr when stdout carries data (--json, --out -). */
static FILE *human(const sweep_args *a) {
  return a->json_stdout || is_stdout(a->out) || (a->ensemble > 0 && is_stdout(a->ensemble_out))
             ? stderr : stdout;
}

/* Opens path and writes m's bytes into it, uncommitted. */
static int open_model(ab_outfile *o, const ab_model *m, const char *path, ab_err *e) {
  uint8_t *buf;
  size_t len;
  int rc = ab_model_encode(m, &buf, &len, e);
  if (rc) return rc;
  if (!(rc = ab_outfile_open(o, path, e))) ab_outfile_write(o, buf, len);
  free(buf);
  return rc;
}

/* The best model, the ensemble and the JSON: all land, or none. */
static int save_outputs(const sweep_args *a, const sweep_final *fin, cli_json *j, ab_err *e) {
  ab_outfile o[2];
  ab_outfile *all[2];
  int n = 0, rc = AB_OK;
  if (fin && a->out && fin->nfin && !(rc = open_model(&o[n], &fin->fits[0].m, a->out, e)))
    all[n] = &o[n], n++;
  if (!rc && fin && fin->nens && !(rc = open_model(&o[n], &fin->ens, a->ensemble_out, e)))
    all[n] = &o[n], n++;
  if (rc) {
    for (int i = 0; i < n; i++) ab_outfile_abort(all[i]);
    return rc;
  }
  if ((rc = cli_commit(all, n, j, e))) return rc;
  if (fin && a->out && fin->nfin)
    fprintf(human(a), "best model (validation rank 1) saved to %s\n", a->out);
  if (fin && fin->nens)
    fprintf(human(a), "ensemble of the top %d saved to %s\n", fin->nens, a->ensemble_out);
  return AB_OK;
}

static int final_phase(sweep_run *r, sweep_final *fin, ab_err *e) {
  int need = r->a->finalists + r->a->ensemble;
  fin->fits = calloc((size_t)need, sizeof *fin->fits);
  if (!fin->fits) return ab_err_set(e, AB_ENOMEM, "out of memory");
  for (int i = 0; i < need; i++) ab_model_init(&fin->fits[i].m);
  fin->nslots = need;
  plan_fits(r, fin);
  int rc = run_fits(r, fin, e);
  queue_set(&r->q, &r->q.closed); /* the other ranks may go */
  if (!rc && fin->nens > 0) rc = build_ensemble(r, fin, e);
  if (!rc) sweep_print_final(human(r->a), r->a, &r->lb, fin);
  return rc;
}

static void final_free(sweep_final *fin) {
  for (int i = 0; i < fin->nslots; i++) ab_model_free(&fin->fits[i].m);
  free(fin->fits);
  if (fin->nens) ab_model_free(&fin->ens);
}

/* ---- the whole command ---- */

/* Opens this rank's backend; *cl_index gets its OpenCL device (-1: cpu or ref). */
static int open_backend(ab_backend **be, int *cl_index, const sweep_args *a,
                        const sweep_mpi *mpi, ab_err *e) {
  cli_backend_opts bo = {a->verbose, a->gemm, a->threads, 1, mpi->local_rank, 0};
  const char *dev = a->device ? a->device : getenv("ABGPU_DEVICE");
  char spec[32];
  int rc = AB_OK;
  *cl_index = -1;
  if (dev && strcmp(dev, "gpu") == 0 && !(rc = cli_gpu_index(cl_index, mpi->local_rank, NULL, NULL, e))) {
    snprintf(spec, sizeof spec, "%d", *cl_index);
    dev = spec;
  } else if (dev && cli_int(cl_index, dev, 0, 1 << 20)) {
    *cl_index = -1;
  }
  if (!rc) rc = cli_backend_open(be, dev, &bo, e);
  if (!rc && a->verbose) {
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    fprintf(stderr, "abgpu: rank %d of %d (local rank %d%s%s, host %s, pid %d) -> %s%s\n",
            mpi->rank, mpi->size, mpi->local_rank, mpi->local_from ? " from $" : "",
            mpi->local_from ? mpi->local_from : "", host, (int)getpid(), (*be)->name,
            a->device && strcmp(a->device, "gpu") == 0 ? " (--device gpu)" : "");
  }
  return rc;
}

/* Configurations left to train on this shard, after --resume. */
static int todo_configs(ab_sweep_cfg **cfg, size_t *n, size_t *total, sweep_run *r, ab_err *e) {
  int rc = build_configs(cfg, n, r->a, e);
  if (rc) return rc;
  *total = *n;
  if (r->a->shard_n > 1) take_slice(*cfg, n, r->a->shard_i - 1, r->a->shard_n);
  drop_done(*cfg, n, &r->lb);
  return AB_OK;
}

/* Rank 0's training phase: the queue of launches, shared with the other ranks. */
static int sweep_train(sweep_run *r, sweep_mpi *mpi, int cl_index, ab_err *e) {
  ab_sweep_cfg *cfg = NULL;
  size_t n = 0, total = 0;
  int rc = todo_configs(&cfg, &n, &total, r, e);
  int parallel = r->a->parallel ? r->a->parallel : default_parallel(cl_index, cfg, n);
  if (!rc && !r->a->quiet) {
    char ranks[64] = "";
    if (mpi->size > 1) snprintf(ranks, sizeof ranks, " on rank 0 of %d", mpi->size);
    fprintf(stderr, "abgpu sweep: %zu configurations, %zu to train here (%zu already in %s); "
            "device %s%s, up to %d models per launch\n", total, n, r->lb.n, r->a->leaderboard,
            r->x.be->name, ranks, parallel);
  }
  r->prog.total = n;
  cli_signals_defer(); /* a signal stops after the launches in progress */
  if (!rc) rc = queue_launches(r, cfg, n, parallel, e);
  free(cfg);
  if (!rc && mpi->size > 1) rc = sweep_mpi_coord_start(mpi, r, e);
  if (!rc) rc = run_jobs(r, 1, e);
  cli_signals_immediate();
  sweep_progress_end(&r->prog);
  if (!rc && cli_stop_signal && r->prog.done < n)
    rc = ab_err_set(e, AB_EINTR, "interrupted: %zu of %zu configurations not trained",
                    n - r->prog.done, n);
  else if (!rc && cli_stop_signal) /* the signal came during the last launches */
    rc = ab_err_set(e, AB_EINTR, "interrupted before the finalists were measured");
  return rc;
}

static int sweep_finish(sweep_run *r, ab_err *e, int rc) {
  ab_lb_sort(&r->lb, r->a->rank); /* rows read by --resume may come ranked otherwise */
  int rc2 = AB_OK; /* an error before any row (a bad space file) leaves no leaderboard */
  if (!rc || rc == AB_EINTR || r->lb.n) rc2 = ab_lb_write_csv(&r->lb, r->a->leaderboard, e);
  if (!rc) rc = rc2;
  sweep_final fin = {0};
  int whole = r->a->shard_n == 1 && rc == AB_OK;
  if (!rc && r->lb.n) sweep_print_leaderboard(human(r->a), &r->lb, r->a->rank, 10);
  if (whole && r->lb.n) rc = final_phase(r, &fin, e);
  else if (!rc && r->a->shard_n > 1)
    fprintf(human(r->a), "shard %d/%d written to %s; join the shards with `abgpu sweep merge`, "
            "then run the sweep with --resume on the merged leaderboard for the finalists\n",
            r->a->shard_i, r->a->shard_n, r->a->leaderboard);
  queue_set(&r->q, &r->q.closed); /* no fits: the other ranks may go */
  cli_json j = {r->a->json_stdout, r->a->json, NULL, 0, NULL, {0}};
  FILE *jf = !rc || rc == AB_EINTR ? cli_json_stream(&j) : NULL;
  if (jf) sweep_print_json(jf, r->a, &r->lb, whole ? &fin : NULL, r->x.be->name,
                           sweep_now() - r->prog.t0);
  ab_err e2 = {0};
  if (!rc || rc == AB_EINTR) rc2 = save_outputs(r->a, rc ? NULL : &fin, &j, rc ? &e2 : e);
  if (!rc) rc = rc2;
  cli_json_free(&j);
  final_free(&fin);
  return rc;
}

/* Rank 0 under mpirun runs the sweep; the other ranks do the jobs it hands out. */
static int sweep_rank(sweep_run *r, sweep_mpi *mpi, int cl_index, ab_err *e) {
  if (mpi->rank > 0) {
    cli_signals_defer(); /* mpirun's SIGTERM: the launch in progress is finished and sent */
    int rc = sweep_mpi_work(mpi, r, e);
    cli_signals_immediate();
    return rc;
  }
  int rc = sweep_train(r, mpi, cl_index, e);
  if (rc && rc != AB_EINTR) { /* nothing more comes in while the leaderboard is written */
    queue_set(&r->q, &r->q.quit);
    sweep_mpi_coord_join(mpi, r);
  }
  rc = sweep_finish(r, e, rc);
  if (rc && rc != AB_EINTR) queue_set(&r->q, &r->q.quit);
  sweep_mpi_coord_join(mpi, r);
  return rc;
}

static void test_delay(const sweep_run *r) {
  if (r->test_delay <= 0) return;
  struct timespec ts = {(time_t)r->test_delay, (long)((r->test_delay - (double)(time_t)r->test_delay) * 1e9)};
  nanosleep(&ts, NULL);
}

/* The epoch callback of rank 0's own launches: the progress line reads the leaderboard,
 * which the coordinator thread may be changing. */
static int locked_epoch_cb(const ab_epoch_stats *st, const uint8_t *active, int K, void *user) {
  sweep_run *r = user;
  pthread_mutex_lock(&r->q.mu);
  int rc = sweep_epoch_cb(st, active, K, &r->prog);
  pthread_mutex_unlock(&r->q.mu);
  test_delay(r);
  return rc;
}

int sweep_worker_epoch_cb(const ab_epoch_stats *st, const uint8_t *active, int K, void *user) {
  (void)st, (void)active, (void)K;
  test_delay(user);
  return 0;
}

static int sweep_main(sweep_args *a, sweep_mpi *mpi) {
  ab_table t;
  ab_backend *be = NULL;
  ab_err e = {0};
  sweep_run r;
  memset(&r, 0, sizeof r);
  r.a = a;
  r.mpi = mpi;
  if (ab_table_load(&t, a->data, &a->csv, &e)) return cli_fail(&e);
  ab_sweep_id id = {ab_model_data_hash(&t), {a->split[0], a->split[1], a->split[2]}, a->seed, a->folds};
  ab_lb_init(&r.lb);
  int cl_index = -1;
  int rc = queue_init(&r.q, mpi->size) ? ab_err_set(&e, AB_ENOMEM, "out of memory") : AB_OK;
  if (!rc) rc = sweep_mpi_same_data(mpi, id.data_hash, a->data, &e);
  if (!rc && mpi->rank == 0) rc = resume_rows(&r.lb, a, &id, &e);
  if (!rc) rc = open_backend(&be, &cl_index, a, mpi, &e);
  if (!rc) {
    ab_sweep_ctx_init(&r.x, be, &t, &id);
    sweep_progress p = {isatty(2) && !a->quiet, a->quiet, 0, 0, 0, 0, 0, sweep_now(), 0, &r.lb, a->rank, -1};
    r.prog = p;
    r.x.cb = locked_epoch_cb;
    r.x.user = &r;
    const char *delay = getenv("ABGPU_SWEEP_TEST_DELAY");
    r.test_delay = delay ? strtod(delay, NULL) : 0;
    if (!(r.test_delay > 0 && r.test_delay <= 10)) r.test_delay = 0;
    rc = sweep_rank(&r, mpi, cl_index, &e);
    ab_sweep_ctx_free(&r.x);
  }
  ab_lb_free(&r.lb);
  queue_free(&r.q);
  ab_backend_free(be);
  ab_table_free(&t);
  int sig = cli_stop_signal ? (int)cli_stop_signal : SIGINT;
  if (rc == AB_EINTR) {
    fprintf(stderr, "abgpu: %s; leaderboard written to %s (continue with --resume)\n", e.msg,
            a->leaderboard);
    return 128 + sig;
  }
  if (rc && mpi->size > 1) {
    char msg[sizeof e.msg];
    snprintf(msg, sizeof msg, "rank %d: %.1000s", mpi->rank, e.msg);
    snprintf(e.msg, sizeof e.msg, "%s", msg);
  }
  if (rc) return cli_fail(&e);
  return mpi->rank > 0 && cli_stop_signal ? 128 + sig : 0;
}

/* ---- merge ---- */

static void merge_help(void) {
  printf("usage: abgpu sweep merge A.csv B.csv ... --out merged.csv [--rank M]\n\n"
         "Joins leaderboards of one sweep (its shards, or runs with --resume): a\n"
         "configuration in several files is kept once (from the first), rows of another\n"
         "sweep (data, split, --seed, --folds) are an error. --rank loss|acc|auc orders\n"
         "the result by that validation figure (default: loss). --out must be a new file or\n"
         "an older merge, not one of the inputs. --json prints {\"out\", \"files\",\n"
         "\"configurations\", \"duplicates\"} on stdout, --json-out F writes it to F.\n");
}

#define MERGE_MAX_FILES 1024

typedef struct merge_args {
  const char *out, *files[MERGE_MAX_FILES];
  int nf;
  ab_rank_by rank;
  cli_json json;
} merge_args;

/* Returns 0, -1 after --help, or the exit status of a usage error. */
static int merge_parse(merge_args *a, int argc, char **argv) {
  const char *v;
  for (int i = 1; i < argc; i++) {
    int m = cli_json_flag(&a->json, argc, argv, &i);
    if (m > 0) continue;
    if (m == 0 && (m = cli_opt(argc, argv, &i, "--out", &v)) > 0) a->out = v;
    else if (m == 0 && (m = cli_opt(argc, argv, &i, "--rank", &v)) > 0) {
      if (ab_rank_by_parse(&a->rank, v)) return cli_usage_error("sweep merge", "--rank: invalid value '%s'", v);
    } else if (m < 0) return cli_no_value("sweep merge", argc, argv, i);
    else if (cli_switch(argv, i, "--help") || cli_switch(argv, i, "-h")) { merge_help(); return -1; }
    else if (argv[i][0] == '-' && argv[i][1]) return cli_usage_error("sweep merge", "unknown flag '%s'", argv[i]);
    else if (a->nf == MERGE_MAX_FILES) return cli_usage_error("sweep merge", "at most %d files", MERGE_MAX_FILES);
    else a->files[a->nf++] = argv[i];
  }
  if (!a->out || a->nf == 0) return cli_usage_error("sweep merge", "give leaderboard files and --out");
  return 0;
}

static void merge_json(FILE *f, const merge_args *a, const ab_leaderboard *lb, size_t dups) {
  fprintf(f, "{\"out\": ");
  ab_json_str(f, a->out);
  fprintf(f, ", \"files\": [");
  for (int i = 0; i < a->nf; i++) {
    fprintf(f, "%s", i ? ", " : "");
    ab_json_str(f, a->files[i]);
  }
  fprintf(f, "], \"configurations\": %zu, \"duplicates\": %zu}\n", lb->n, dups);
}

static int merge_write(merge_args *a, const ab_leaderboard *lb, size_t dups, ab_err *e) {
  ab_outfile o;
  int rc = ab_outfile_open(&o, a->out, e);
  if (rc) return rc;
  ab_lb_write_csv_stream(lb, o.f);
  FILE *jf = cli_json_stream(&a->json);
  if (jf) merge_json(jf, a, lb, dups);
  ab_outfile *outs[1] = {&o};
  if ((rc = cli_commit(outs, 1, &a->json, e))) return rc;
  fprintf(a->json.to_stdout || is_stdout(a->out) ? stderr : stdout, "merged %d leaderboards "
          "into %s: %zu configurations (%zu duplicates kept once)\n", a->nf, a->out, lb->n, dups);
  return AB_OK;
}

static int merge_check(const merge_args *a) {
  ab_path_use out[3] = {{"--out", a->out}, {"--json", a->json.to_stdout ? "-" : NULL},
                        {"--json-out", a->json.path}};
  ab_path_use in[MERGE_MAX_FILES];
  for (int i = 0; i < a->nf; i++) in[i] = (ab_path_use){"the input", a->files[i]};
  return cli_check_outputs(out, 3, in, a->nf);
}

static int merge_main(int argc, char **argv) {
  static merge_args a;
  memset(&a, 0, sizeof a);
  a.rank = AB_RANK_LOSS;
  int rc = merge_parse(&a, argc, argv);
  if (rc) return rc < 0 ? 0 : rc;
  if ((rc = merge_check(&a))) return rc;
  ab_leaderboard lb, one;
  ab_err e = {0};
  size_t dups = 0;
  ab_lb_init(&lb);
  for (int i = 0; i < a.nf && !rc; i++) {
    ab_lb_init(&one);
    rc = ab_lb_read_csv(&one, a.files[i], &e);
    if (!rc) rc = ab_lb_merge(&lb, &one, a.files[i], &dups, &e);
    ab_lb_free(&one);
  }
  if (!rc) ab_lb_sort(&lb, a.rank);
  if (!rc) rc = merge_write(&a, &lb, dups, &e);
  ab_lb_free(&lb);
  cli_json_free(&a.json);
  return rc ? cli_fail(&e) : 0;
}

static void sweep_defaults(sweep_args *a) {
  memset(a, 0, sizeof *a);
  a->grid = 1;
  a->seed = 1;
  a->split[0] = 80, a->split[1] = 10, a->split[2] = 10;
  a->rank = AB_RANK_LOSS;
  a->finalists = 5;
  a->leaderboard = "sweep.csv";
  a->ensemble_out = "ensemble.abm";
  a->shard_i = a->shard_n = 1;
  a->csv = ab_csv_opts_default();
  cli_csv_init(&a->csv.fmt);
}

/* "sweep.csv" -> "sweep.json" in buf. */
static const char *json_name(char *buf, size_t n, const char *csv) {
  size_t len = strlen(csv);
  if (len > 4 && strcmp(csv + len - 4, ".csv") == 0) len -= 4;
  snprintf(buf, n, "%.*s.json", (int)len, csv);
  return buf;
}

/* Before any work: the device's flags, every output, and an existing leaderboard, which
 * only --resume (continue it) or --force (replace it) may touch. */
static int sweep_check(const sweep_args *a) {
  ab_err e = {0};
  cli_backend_opts bo = {a->verbose, a->gemm, a->threads, 0, 0, 0};
  if (cli_backend_flags_check(a->device, &bo, &e)) return cli_usage_error("sweep", "%s", e.msg);
  if (is_stdout(a->leaderboard))
    return cli_usage_error("sweep", "--leaderboard -: the leaderboard is rewritten after every "
                           "launch and needs a file");
  ab_path_use out[5] = {{"--leaderboard", a->leaderboard}, {"--json-out", a->json},
                        {"--json", a->json_stdout ? "-" : NULL}, {"--out", a->out},
                        {"--ensemble-out", a->ensemble > 0 ? a->ensemble_out : NULL}};
  ab_path_use in[2] = {{"--data", a->data}, {"--space", a->space}};
  int rc = cli_check_outputs(out, 5, in, 2);
  if (rc) return rc;
  struct stat st;
  if (stat(a->leaderboard, &st) == 0 && !S_ISREG(st.st_mode)) {
    ab_err_set(&e, AB_EOUTPUT, "--leaderboard %s is not a regular file; a leaderboard is "
               "rewritten after every launch and needs one", a->leaderboard);
    return cli_fail(&e);
  }
  if (!a->resume && !a->force && access(a->leaderboard, F_OK) == 0) {
    ab_err_set(&e, AB_EOUTPUT, "--leaderboard %s exists: continue that sweep with --resume, or "
               "replace it with --force", a->leaderboard);
    return cli_fail(&e);
  }
  return 0;
}

int cmd_sweep(int argc, char **argv) {
  if (argc >= 2 && strcmp(argv[1], "merge") == 0) return merge_main(argc - 1, argv + 1);
  sweep_args a;
  sweep_defaults(&a);
  int rc = sweep_parse(&a, argc, argv);
  if (rc) return rc < 0 ? 0 : rc;
  char json[4200];
  if (!a.json) a.json = json_name(json, sizeof json, a.leaderboard);
  sweep_mpi mpi;
  ab_err e = {0};
  int init = sweep_mpi_init(&mpi, &argc, &argv);
  if (init == -1) {
    ab_err_set(&e, AB_EDEVICE, "MPI_Init failed");
    return cli_fail(&e);
  }
  if (init)
    rc = cli_usage_error("sweep", "the MPI library does not support threads "
                         "(MPI_THREAD_SERIALIZED), which rank 0 needs");
  else if (mpi.size > 1 && a.shard_n > 1)
    rc = cli_usage_error("sweep", "--shard and mpirun split the work the same way: use one");
  else if (mpi.rank > 0 || !(rc = sweep_check(&a))) { /* rank 0 alone writes outputs */
    ab_lock lock = {-1, ""}; /* one sweep at a time writes a leaderboard */
    if (mpi.rank == 0 && ab_lock_take(&lock, a.leaderboard, "sweep", &e)) rc = cli_fail(&e);
    else rc = sweep_main(&a, &mpi);
    ab_lock_release(&lock);
  }
  sweep_mpi_finalize(&mpi, rc);
  return rc;
}
