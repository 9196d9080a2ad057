/* Sweeps, part 4: the order in which a work queue hands out launches. Under MPI, ranks
 * take launches as they become free; the largest first keeps the last one to finish
 * short (longest-processing-time-first scheduling). */
#include <stdlib.h>
#include "abgpu/sweep.h"

double ab_sweep_launch_cost(const ab_sweep_cfg *c, size_t n) {
  int epochs = 0;
  for (size_t i = 0; i < n; i++)
    if (c[i].epochs > epochs) epochs = c[i].epochs;
  ab_train_cfg t;
  double params = n && ab_sweep_train_cfg(&t, &c[0], NULL) == AB_OK
                      ? (double)ab_arch_nparams(&t.arch) : 1.0;
  return (double)n * epochs * params;
}

typedef struct costed {
  double cost;
  size_t at;       /* position before sorting: keeps equal costs in order */
  ab_launch l;
} costed;

static int cmp_costed(const void *pa, const void *pb) {
  const costed *a = pa, *b = pb;
  if (a->cost != b->cost) return a->cost > b->cost ? -1 : 1;
  return a->at < b->at ? -1 : a->at > b->at;
}

/* The configurations of launch l, gathered (malloc'd; NULL when out of memory). */
static ab_sweep_cfg *launch_cfgs(const ab_launch *l, const size_t *order, const ab_sweep_cfg *cfg) {
  ab_sweep_cfg *c = malloc((l->n ? l->n : 1) * sizeof *c);
  for (size_t k = 0; c && k < l->n; k++) c[k] = cfg[order[l->first + k]];
  return c;
}

void ab_sweep_order_largest_first(ab_launch *l, size_t nl, const size_t *order,
                                  const ab_sweep_cfg *cfg) {
  costed *c = malloc((nl ? nl : 1) * sizeof *c);
  if (!c) return; /* out of memory: the order stays as it was, which is still correct */
  for (size_t i = 0; i < nl; i++) {
    ab_sweep_cfg *lc = launch_cfgs(&l[i], order, cfg);
    c[i].cost = lc ? ab_sweep_launch_cost(lc, l[i].n) : 0;
    c[i].at = i;
    c[i].l = l[i];
    free(lc);
  }
  qsort(c, nl, sizeof *c, cmp_costed);
  for (size_t i = 0; i < nl; i++) l[i] = c[i].l;
  free(c);
}
