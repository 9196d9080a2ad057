/* `abgpu sweep` under mpirun (an optional build feature: CMake defines ABGPU_HAVE_MPI when
 * it finds MPI). Rank 0 holds the queue of jobs (cmd_sweep.c) and trains from it like
 * every other rank; its coordinator thread hands the next job to each rank that asks,
 * and takes back each result as it comes: a launch's rows (as leaderboard CSV text),
 * which rank 0 writes to the leaderboard at once, or a fitted model (as .abm bytes).
 * Ranks 1.. need only --data: the configurations come with their jobs.
 * Without MPI, or when not started by mpirun, this is rank 0 of 1. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "sweep_cli.h"

#ifdef ABGPU_HAVE_MPI
#include <mpi.h>

enum { TAG_TO_ROOT = 1, TAG_JOB = 2 };
/* What a rank tells rank 0; each message but NOTE_FAILED also asks for the next job. */
enum { NOTE_HELLO = 1, NOTE_ROWS = 2, NOTE_MODEL = 3 };

typedef struct note_head {
  int32_t kind, pid;
  uint64_t id;             /* the job the result is for */
} note_head;

typedef struct job_head {
  int32_t kind, n;
  uint64_t id;
} job_head;

static int under_mpirun(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int sweep_mpi_init(sweep_mpi *m, int *argc, char ***argv) {
  memset(m, 0, sizeof *m);
  m->size = 1;
  if (!under_mpirun()) return 0;
  int got = 0;
  /* rank 0's coordinator thread makes its MPI calls while the main thread makes none */
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &got) != MPI_SUCCESS) return -1;
  m->active = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &m->size);
  if (got < MPI_THREAD_SERIALIZED && m->size > 1) return -2;
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, m->rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &m->local_rank);
  MPI_Comm_free(&local);
  const char *from;
  int env = cli_local_rank(&from);
  if (from) m->local_rank = env, m->local_from = from;
  return 0;
}

int sweep_mpi_same_data(const sweep_mpi *m, uint64_t data_hash, const char *data, ab_err *e) {
  if (m->size < 2) return AB_OK;
  unsigned long long root = data_hash;
  MPI_Bcast(&root, 1, MPI_UNSIGNED_LONG_LONG, 0, MPI_COMM_WORLD);
  if (root == data_hash) return AB_OK;
  return ab_err_set(e, AB_EUSAGE, "--data %s on this node is not rank 0's data (hash %016llx, "
                    "rank 0 has %016llx): every rank needs the same file", data,
                    (unsigned long long)data_hash, root);
}

static void nap(void) {
  struct timespec ts = {0, 500000}; /* 0.5 ms: a waiting rank must not spin a core */
  nanosleep(&ts, NULL);
}

/* Receives the next message with this tag from src (any with MPI_ANY_SOURCE) into a
 * malloc'd *buf, polling so that waiting costs no CPU; *from gets the sender. Returns 0,
 * -1 out of memory, or 1 when *quit became set while waiting. */
static int recv_msg(uint8_t **buf, int *n, int *from, int src, int tag, volatile int *quit) {
  MPI_Status st;
  int flag = 0;
  for (;;) {
    MPI_Iprobe(src, tag, MPI_COMM_WORLD, &flag, &st);
    if (flag) break;
    if (quit && *quit) return 1;
    nap();
  }
  MPI_Get_count(&st, MPI_BYTE, n);
  *buf = malloc(*n ? (size_t)*n : 1);
  if (!*buf) return -1;
  MPI_Recv(*buf, *n, MPI_BYTE, st.MPI_SOURCE, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  *from = st.MPI_SOURCE;
  return 0;
}

/* head, then n bytes of body, as one message. */
static int send_msg(const void *head, size_t hn, const void *body, size_t n, int to, int tag) {
  uint8_t *buf = malloc(hn + n);
  if (!buf) return -1;
  memcpy(buf, head, hn);
  if (n) memcpy(buf + hn, body, n);
  MPI_Send(buf, (int)(hn + n), MPI_BYTE, to, tag, MPI_COMM_WORLD);
  free(buf);
  return 0;
}

/* ---- rank 0: the coordinator thread ---- */

typedef struct coord {
  sweep_run *r;
  int size, *waiting, let_go;
  pid_t *pid;              /* [size]: each rank's process id, when on this host */
  char host[256];
  int reported;            /* the stop has been reported */
} coord;

static int coord_fail(coord *c, ab_err *e) {
  sweep_queue *q = &c->r->q;
  q->failed = q->stop = 1;
  q->err = *e;
  pthread_cond_broadcast(&q->changed);
  return -1;
}

/* A launch's rows (CSV text) or a fitted model (.abm bytes) from rank `from`. */
static int take_result(coord *c, const note_head *h, const uint8_t *body, size_t n, int from,
                       ab_err *e) {
  sweep_run *r = c->r;
  sweep_queue *q = &r->q;
  char name[48];
  snprintf(name, sizeof name, "rank %d", from);
  if (h->id < 1 || h->id > q->njob || q->busy[from] != h->id)
    return ab_err_set(e, AB_EINPUT, "%s: a result for job %llu, which it was not given", name,
                      (unsigned long long)h->id);
  const sweep_job *j = &q->job[h->id - 1];
  int rc;
  if (h->kind == NOTE_ROWS) {
    ab_leaderboard rows;
    ab_lb_init(&rows);
    rc = ab_lb_parse_csv(&rows, (const char *)body, n, name, e);
    if (!rc) rc = sweep_rows_in(r, &rows, j, from, e);
    ab_lb_free(&rows);
  } else {
    ab_model m;
    rc = ab_model_decode(&m, body, n, name, e);
    if (!rc) rc = sweep_fit_in(r, j, &m, from, e);
  }
  return rc;
}

/* One message from a rank: a hello or a result; then the rank waits for a job. */
static int take_note(coord *c, const uint8_t *buf, int n, int from, ab_err *e) {
  note_head h;
  if (n < (int)sizeof h) return ab_err_set(e, AB_EINPUT, "rank %d: a message of %d bytes", from, n);
  memcpy(&h, buf, sizeof h);
  c->waiting[from] = 1;
  if (h.kind == NOTE_HELLO) {
    if (strncmp((const char *)buf + sizeof h, c->host, (size_t)n - sizeof h) == 0 &&
        strlen(c->host) == (size_t)n - sizeof h)
      c->pid[from] = (pid_t)h.pid;
    return AB_OK;
  }
  pthread_mutex_lock(&c->r->q.mu);
  int rc = take_result(c, &h, buf + sizeof h, (size_t)n - sizeof h, from, e);
  pthread_mutex_unlock(&c->r->q.mu);
  return rc;
}

/* Sends job j (or DONE) to rank `to`. */
static int send_job(const sweep_queue *q, const sweep_job *j, int to) {
  job_head h = {(int32_t)j->kind, (int32_t)j->n, (uint64_t)j->id};
  return send_msg(&h, sizeof h, q->cfg + j->first, (size_t)j->n * sizeof *q->cfg, to, TAG_JOB);
}

/* Gives each waiting rank the next job, or lets it go when no phase follows. */
static int serve_waiting(coord *c, ab_err *e) {
  sweep_queue *q = &c->r->q;
  for (int to = 1; to < c->size; to++) {
    if (!c->waiting[to]) continue;
    sweep_job j = {SWEEP_JOB_DONE, 0, 0, 0};
    pthread_mutex_lock(&q->mu);
    int got = sweep_queue_take(q, &j, to), go = !got && (q->closed || q->stop);
    pthread_mutex_unlock(&q->mu);
    if (!got && !go) continue;
    if (send_job(q, &j, to)) return ab_err_set(e, AB_ENOMEM, "out of memory sending a job");
    c->waiting[to] = 0;
    c->let_go += go;
  }
  return AB_OK;
}

/* After a signal (under mpirun: Ctrl-C, or a rank lost, after which mpirun stops the
 * others within a second or two): which ranks had work, and which are known dead. */
static void report_stop(coord *c) {
  sweep_queue *q = &c->r->q;
  char list[1024] = "";
  size_t len = 0;
  pthread_mutex_lock(&q->mu);
  for (int k = 1; k < c->size && len < sizeof list - 64; k++) {
    if (!q->busy[k]) continue;
    int dead = c->pid[k] > 0 && kill(c->pid[k], 0) != 0 && errno == ESRCH;
    len += (size_t)snprintf(list + len, sizeof list - len, "%s rank %d (%s %zu%s)",
                            len ? "," : "", k, q->busy_kind[k] == SWEEP_JOB_FIT ? "fit" : "launch",
                            q->busy[k], dead ? ", its process is gone: rank lost" : "");
  }
  size_t rows = c->r->lb.n;
  pthread_mutex_unlock(&q->mu);
  fprintf(stderr, "abgpu sweep: stopping on signal %d; %zu configurations are in %s; work in "
          "progress on%s%s; rerun with --resume to train what is missing\n",
          (int)cli_stop_signal, rows, c->r->a->leaderboard, len ? "" : " no other rank",
          list);
  c->reported = 1;
}

static void *coord_main(void *arg) {
  coord *c = arg;
  sweep_queue *q = &c->r->q;
  ab_err e = {0};
  while (c->let_go < c->size - 1) {
    uint8_t *buf = NULL;
    int n = 0, from = 0, flag = 0;
    MPI_Iprobe(MPI_ANY_SOURCE, TAG_TO_ROOT, MPI_COMM_WORLD, &flag, MPI_STATUS_IGNORE);
    if (flag) {
      int rc = recv_msg(&buf, &n, &from, MPI_ANY_SOURCE, TAG_TO_ROOT, NULL);
      if (rc) rc = ab_err_set(&e, AB_ENOMEM, "out of memory receiving a result");
      else rc = take_note(c, buf, n, from, &e);
      free(buf);
      if (rc) { coord_fail(c, &e); break; }
    }
    if (serve_waiting(c, &e)) { coord_fail(c, &e); break; }
    if (cli_stop_signal && !c->reported) report_stop(c);
    if (q->failed || q->quit) break;
    if (!flag) nap();
  }
  return NULL;
}

int sweep_mpi_coord_start(sweep_mpi *m, sweep_run *r, ab_err *e) {
  coord *c = calloc(1, sizeof *c);
  if (c) {
    c->waiting = calloc((size_t)m->size, sizeof *c->waiting);
    c->pid = calloc((size_t)m->size, sizeof *c->pid);
  }
  if (!c || !c->waiting || !c->pid) {
    if (c) { free(c->waiting); free(c->pid); }
    free(c);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  c->r = r;
  c->size = m->size;
  gethostname(c->host, sizeof c->host - 1);
  if (pthread_create(&m->coord, NULL, coord_main, c)) {
    free(c->waiting); free(c->pid); free(c);
    return ab_err_set(e, AB_EDEVICE, "cannot start the coordinator thread");
  }
  m->coord_started = 1;
  r->q.coord_state = c;
  return AB_OK;
}

void sweep_mpi_coord_join(sweep_mpi *m, sweep_run *r) {
  if (!m->coord_started) return;
  pthread_join(m->coord, NULL);
  m->coord_started = 0;
  coord *c = r->q.coord_state;
  free(c->waiting);
  free(c->pid);
  free(c);
  r->q.coord_state = NULL;
}

/* ---- ranks 1..: the worker ---- */

static int send_note(int kind, uint64_t id, const void *body, size_t n) {
  note_head h = {kind, (int32_t)getpid(), id};
  return send_msg(&h, sizeof h, body, n, 0, TAG_TO_ROOT);
}

/* The leaderboard as CSV text (malloc'd). */
static char *lb_text(const ab_leaderboard *lb, size_t *n) {
  char *buf = NULL;
  FILE *f = open_memstream(&buf, n);
  if (!f) return NULL;
  ab_lb_write_csv_stream(lb, f);
  if (fclose(f)) { free(buf); return NULL; }
  return buf;
}

static int do_launch(sweep_run *r, const job_head *h, const ab_sweep_cfg *c, ab_err *e) {
  ab_leaderboard lb;
  ab_lb_init(&lb);
  int rc = sweep_launch_rows(r, &lb, c, h->n, e);
  size_t n = 0;
  char *text = rc ? NULL : lb_text(&lb, &n);
  if (!rc && (!text || send_note(NOTE_ROWS, h->id, text, n)))
    rc = ab_err_set(e, AB_ENOMEM, "out of memory sending rows");
  free(text);
  ab_lb_free(&lb);
  return rc;
}

static int do_fit(sweep_run *r, const job_head *h, const ab_sweep_cfg *c, ab_err *e) {
  ab_model m;
  uint8_t *buf = NULL;
  size_t n = 0;
  int rc = ab_sweep_fit(&r->x, &m, c, r->a->data, e);
  if (!rc) {
    rc = ab_model_encode(&m, &buf, &n, e);
    ab_model_free(&m);
  }
  if (!rc && send_note(NOTE_MODEL, h->id, buf, n))
    rc = ab_err_set(e, AB_ENOMEM, "out of memory sending a model");
  free(buf);
  return rc;
}

int sweep_mpi_work(const sweep_mpi *m, sweep_run *r, ab_err *e) {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  (void)m;
  r->x.cb = r->test_delay > 0 ? sweep_worker_epoch_cb : NULL;
  if (send_note(NOTE_HELLO, 0, host, strlen(host))) return ab_err_set(e, AB_ENOMEM, "out of memory");
  int rc = AB_OK;
  for (;;) {
    uint8_t *buf;
    int n, from;
    if (recv_msg(&buf, &n, &from, 0, TAG_JOB, NULL)) return ab_err_set(e, AB_ENOMEM, "out of memory");
    job_head h;
    memcpy(&h, buf, sizeof h);
    const ab_sweep_cfg *c = (const ab_sweep_cfg *)(void *)(buf + sizeof h);
    if (h.kind == SWEEP_JOB_LAUNCH) rc = do_launch(r, &h, c, e);
    else if (h.kind == SWEEP_JOB_FIT) rc = do_fit(r, &h, c, e);
    free(buf);
    if (h.kind == SWEEP_JOB_DONE || rc) break;
  }
  return rc;
}

void sweep_mpi_finalize(sweep_mpi *m, int status) {
  if (!m->active) return;
  if (status > 0 && status < 128 && m->size > 1) MPI_Abort(MPI_COMM_WORLD, status);
  MPI_Finalize();
  m->active = 0;
}

#else

int sweep_mpi_init(sweep_mpi *m, int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  memset(m, 0, sizeof *m);
  m->size = 1;
  return 0;
}

int sweep_mpi_same_data(const sweep_mpi *m, uint64_t data_hash, const char *data, ab_err *e) {
  (void)m; (void)data_hash; (void)data; (void)e;
  return AB_OK;
}

int sweep_mpi_coord_start(sweep_mpi *m, sweep_run *r, ab_err *e) {
  (void)m; (void)r;
  return ab_err_set(e, AB_EUSAGE, "abgpu was built without MPI");
}

void sweep_mpi_coord_join(sweep_mpi *m, sweep_run *r) { (void)m; (void)r; }

int sweep_mpi_work(const sweep_mpi *m, sweep_run *r, ab_err *e) {
  (void)m; (void)r;
  return ab_err_set(e, AB_EUSAGE, "abgpu was built without MPI");
}

void sweep_mpi_finalize(sweep_mpi *m, int status) {
  (void)status;
  m->active = 0;
}

#endif
