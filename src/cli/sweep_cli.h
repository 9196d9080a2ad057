/* sweep_cli.h - what the files of `abgpu sweep` share (cmd_sweep.c: flags and the run;
 * sweep_out.c: progress, tables, JSON; sweep_mpi.c: ranks under mpirun). */
#ifndef ABGPU_CLI_SWEEP_H
#define ABGPU_CLI_SWEEP_H
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
  int nfits;
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
} sweep_progress;

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
typedef struct sweep_mpi {
  int active, rank, size, local_rank;
} sweep_mpi;
int sweep_mpi_init(sweep_mpi *m, int *argc, char ***argv);
/* Rank 0 receives every rank's rows into lb (which holds its own); other ranks send. */
int sweep_mpi_gather(const sweep_mpi *m, ab_leaderboard *lb, ab_err *e);
/* Ends MPI; a rank that failed (status 1..127) aborts the whole job, so that no rank
 * waits for it. */
void sweep_mpi_finalize(sweep_mpi *m, int status);

#endif
