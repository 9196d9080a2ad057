/* sweep_cli.h - what the files of `abgpu sweep` share (cmd_sweep.c: flags and the run;
 * sweep_out.c: progress, tables, JSON; sweep_mpi.c: ranks under mpirun). */
#ifndef ABGPU_CLI_SWEEP_H
#define ABGPU_CLI_SWEEP_H
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include "abgpu/sweep.h"

#define SWEEP_MAX_SETS 64

typedef struct sweep_args {
  const char *data, *space, *sets[SWEEP_MAX_SETS];
  int nsets, grid, folds, finalists, ensemble, threads, parallel, verbose, quiet, resume;
  int force, json_stdout;  /* --force: replace an existing leaderboard; --json: on stdout */
  size_t random_n;
  uint64_t seed;
  int split[3];
  ab_rank_by rank;
  const char *device, *gemm, *leaderboard, *json, *out, *ensemble_out; /* json: --json-out */
  int shard_i, shard_n;    /* 1-based slice i of n (1/1: everything) */
  ab_csv_opts csv;
} sweep_args;

/* One fitted finalist or ensemble member: its leaderboard row and model. */
typedef struct sweep_fit {
  size_t row;
  ab_model m;
} sweep_fit;

/* The final phase: finalists measured once on the test split, the ensemble. */
typedef struct sweep_final {
  int nfin;                /* finalists: fits[0..nfin-1] are leaderboard rows 0..nfin-1 */
  int nfits, nslots;       /* fits planned, fits allocated */
  sweep_fit *fits;         /* finalists, then further ensemble members */
  int nens;                /* ensemble members (0: none) */
  size_t ens_rows[AB_MODEL_MAX_NETS];
  ab_model ens;
  size_t test_rows;
} sweep_final;

/* Progress on a terminal: one line rewritten in place (stderr). */
typedef struct sweep_progress {
  int tty, quiet;
  size_t total, done, launch, nlaunch;
  int epoch;
  double t0, last;
  const ab_leaderboard *lb;
  ab_rank_by rank;
  int from;                /* rank that trained the launch just finished (-1: one process) */
} sweep_progress;

/* One unit of work: a launch (n configurations that train together) or the fit of one
 * finalist or ensemble member (n = 1). */
typedef enum { SWEEP_JOB_DONE = 0, SWEEP_JOB_LAUNCH = 1, SWEEP_JOB_FIT = 2 } sweep_job_kind;
typedef struct sweep_job {
  sweep_job_kind kind;
  int n;
  size_t first;            /* its configurations: queue.cfg[first .. first+n-1] */
  size_t id;               /* 1-based: the launch's number, or the fit's slot in sweep_final.fits
                            * + 1; the job is queue.job[id - 1] */
} sweep_job;

/* The jobs of one phase (the launches, then the fits), handed out in order to whichever
 * rank is free, rank 0 included. Under MPI rank 0's coordinator thread hands out jobs
 * and takes results while its main thread trains: everything here, and the run's
 * leaderboard, progress and final phase, is guarded by mu. */
typedef struct sweep_queue {
  pthread_mutex_t mu;
  pthread_cond_t changed;  /* signalled when a job comes back or the queue stops */
  sweep_job *job;
  size_t njob, next;
  ab_sweep_cfg *cfg;       /* the phase's configurations */
  int out;                 /* jobs handed out whose results are not back */
  int closed;              /* no phase follows: ranks asking for work are let go */
  int stop;                /* hand nothing more out (a signal, or a failure) */
  int failed;              /* the coordinator failed: its error is in err */
  int quit;                /* rank 0 failed: the coordinator ends at once */
  ab_err err;
  size_t *busy;            /* [ranks]: id of the job rank r has (0: none) */
  int *busy_kind;          /* [ranks]: its kind */
  void *coord_state;       /* sweep_mpi.c's */
} sweep_queue;

typedef struct sweep_mpi sweep_mpi;

/* One run of the command on one rank. */
typedef struct sweep_run {
  sweep_args *a;
  ab_sweep_ctx x;
  ab_leaderboard lb;       /* rank 0: every row finished so far, as on disk */
  sweep_progress prog;
  const sweep_mpi *mpi;
  sweep_queue q;
  sweep_final *fin;        /* rank 0, in the final phase: where fits go */
  double test_delay;       /* $ABGPU_SWEEP_TEST_DELAY: seconds slept after each epoch of a
                            * launch, to make one rank slow in a test (0: none) */
} sweep_run;

/* cmd_sweep.c, called on rank 0 with q.mu held: the rows of a finished launch j (from
 * rank `from`) join the leaderboard, which is rewritten at once; a fitted model goes to
 * its slot (and is owned there). Both mark the job returned. */
int sweep_rows_in(sweep_run *r, const ab_leaderboard *rows, const sweep_job *j, int from,
                  ab_err *e);
int sweep_fit_in(sweep_run *r, const sweep_job *j, ab_model *m, int from, ab_err *e);
/* cmd_sweep.c: trains configurations c[0..n-1] in one launch on this rank and adds their
 * rows, each naming this rank's device, to lb (initialised by the caller, who frees it). */
int sweep_launch_rows(sweep_run *r, ab_leaderboard *lb, const ab_sweep_cfg *c, int n,
                      ab_err *e);
/* With q.mu held: the next job for a free rank (0: none now). */
int sweep_queue_take(sweep_queue *q, sweep_job *j, int rank);

/* cmd_sweep.c: the epoch callback of ranks 1..: only the test delay. */
int sweep_worker_epoch_cb(const ab_epoch_stats *st, const uint8_t *active, int K, void *user);

/* sweep_out.c */
double sweep_now(void);
int sweep_epoch_cb(const ab_epoch_stats *st, const uint8_t *active, int K, void *user);
void sweep_progress_launch(sweep_progress *p, const ab_sweep_cfg *c, int K, double secs);
void sweep_progress_end(sweep_progress *p);
void sweep_print_leaderboard(FILE *f, const ab_leaderboard *lb, ab_rank_by rank, int top);
void sweep_print_final(FILE *f, const sweep_args *a, const ab_leaderboard *lb,
                       const sweep_final *fin);
/* The leaderboard and finalists as one JSON object (--json, --json-out). */
void sweep_print_json(FILE *f, const sweep_args *a, const ab_leaderboard *lb,
                      const sweep_final *fin, const char *device, double secs);
/* "abgpu train --data F FLAGS --seed S [--split ...]" into buf. */
void sweep_train_command(char *buf, size_t n, const sweep_args *a, const ab_sweep_cfg *c);

/* sweep_mpi.c: rank 0 of 1 when not started by mpirun or built without MPI. */
struct sweep_mpi {
  int active, rank, size, local_rank;
  const char *local_from;  /* the variable the local rank came from (NULL: MPI) */
  pthread_t coord;         /* rank 0's coordinator thread */
  int coord_started;
};
int sweep_mpi_init(sweep_mpi *m, int *argc, char ***argv);
/* Every rank: fails unless its table is rank 0's (the same --data on every node). */
int sweep_mpi_same_data(const sweep_mpi *m, uint64_t data_hash, const char *data, ab_err *e);
/* Rank 0: starts the coordinator thread, which hands r->q's jobs to the other ranks as
 * they become free and takes their results (sweep_rows_in, sweep_fit_in). */
int sweep_mpi_coord_start(sweep_mpi *m, sweep_run *r, ab_err *e);
/* Rank 0: waits for the coordinator, which ends once every other rank has been let go
 * (r->q.closed) or at once after a failure (r->q.failed). */
void sweep_mpi_coord_join(sweep_mpi *m, sweep_run *r);
/* Ranks 1..: asks rank 0 for jobs, does them, sends each result at once, until let go. */
int sweep_mpi_work(const sweep_mpi *m, sweep_run *r, ab_err *e);
/* Ends MPI; a rank that failed (status 1..127) aborts the whole job, so that no rank
 * waits for it. */
void sweep_mpi_finalize(sweep_mpi *m, int status);

#endif
