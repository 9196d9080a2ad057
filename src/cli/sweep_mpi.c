/* `abgpu sweep` under mpirun (an optional build feature: CMake defines ABGPU_HAVE_MPI when
 * it finds MPI). Each rank trains every size-th configuration on the device its local
 * rank picks; rank 0 gathers the rows (as leaderboard CSV text) and does the rest.
 * Without MPI, or when not started by mpirun, this is rank 0 of 1. */
#include <stdlib.h>
#include <string.h>
#include "sweep_cli.h"

#ifdef ABGPU_HAVE_MPI
#include <mpi.h>

static int under_mpirun(void) {
  return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int sweep_mpi_init(sweep_mpi *m, int *argc, char ***argv) {
  memset(m, 0, sizeof *m);
  m->size = 1;
  if (!under_mpirun()) return 0;
  if (MPI_Init(argc, argv) != MPI_SUCCESS) return -1;
  m->active = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &m->rank);
  MPI_Comm_size(MPI_COMM_WORLD, &m->size);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, m->rank, MPI_INFO_NULL, &local);
  MPI_Comm_rank(local, &m->local_rank);
  MPI_Comm_free(&local);
  return 0;
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

/* Rank 0: parses and merges the texts of ranks 1..size-1. */
static int merge_texts(ab_leaderboard *lb, const char *all, const int *len, const int *off,
                       int size, ab_err *e) {
  int rc = AB_OK;
  for (int r = 1; r < size && !rc; r++) {
    ab_leaderboard one;
    char name[32];
    snprintf(name, sizeof name, "rank %d", r);
    ab_lb_init(&one);
    rc = ab_lb_parse_csv(&one, all + off[r], (size_t)len[r], name, e);
    if (!rc) rc = ab_lb_merge(lb, &one, name, NULL, e);
    ab_lb_free(&one);
  }
  return rc;
}

int sweep_mpi_gather(const sweep_mpi *m, ab_leaderboard *lb, ab_err *e) {
  size_t n = 0;
  char *text = lb_text(lb, &n);
  int mine = text ? (int)n : 0, *len = calloc((size_t)m->size, sizeof(int));
  int *off = calloc((size_t)m->size, sizeof(int)), total = 0, rc = AB_OK;
  MPI_Gather(&mine, 1, MPI_INT, len, 1, MPI_INT, 0, MPI_COMM_WORLD);
  for (int r = 0; m->rank == 0 && r < m->size; r++) off[r] = total, total += len[r];
  char *all = m->rank == 0 ? malloc((size_t)total + 1) : NULL;
  MPI_Gatherv(text, mine, MPI_CHAR, all, len, off, MPI_CHAR, 0, MPI_COMM_WORLD);
  if (!text || (m->rank == 0 && !all)) rc = ab_err_set(e, AB_ENOMEM, "out of memory gathering rows");
  if (!rc && m->rank == 0) rc = merge_texts(lb, all, len, off, m->size, e);
  free(text); free(len); free(off); free(all);
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

int sweep_mpi_gather(const sweep_mpi *m, ab_leaderboard *lb, ab_err *e) {
  (void)m;
  (void)lb;
  (void)e;
  return AB_OK;
}

void sweep_mpi_finalize(sweep_mpi *m, int status) {
  (void)status;
  m->active = 0;
}

#endif
