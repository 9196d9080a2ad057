/* The thread pool: workers wait for a new job generation (spinning briefly, then on a
 * condition variable), run it, and count themselves out; the caller waits for the last
 * one the same way (a short spin, then a condition variable). The barrier is a
 * sense-reversing counter; waiters spin with pause and yield the core after a while, so
 * that an oversubscribed machine still makes progress. */
#include "pool.h"
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* A pause is ~30 ns on this machine kind: spin ~2 us, then give the core away (the
 * thread we wait for may be waiting for it), and sleep after ~60 us without a job (a
 * worker spinning ~1 ms after each epoch cost ~0.3 ms of CPU an epoch and slowed the
 * caller sharing its core). */
#define SPIN_BEFORE_YIELD 64
#define SPIN_BEFORE_SLEEP 2048

typedef struct pool_slot {
  alignas(64) int sense; /* this thread's barrier sense */
  int tid;
  cpu_pool *pool;
} pool_slot;

struct cpu_pool {
  int n;
  pthread_t *th;
  pool_slot *slot;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_cond_t done_cv; /* signalled when pending reaches 0 */
  alignas(64) atomic_uint gen;  /* job generation */
  atomic_int quit;
  alignas(64) atomic_int pending; /* workers still running the job */
  alignas(64) atomic_int bar_count;
  atomic_int bar_sense;
  void (*fn)(void *, int);
  void *arg;
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Spins (then yields) until *a != v. */
static void spin_while_eq_int(atomic_int *a, int v) {
  for (unsigned i = 0; atomic_load_explicit(a, memory_order_acquire) == v; i++) {
    if (i < SPIN_BEFORE_YIELD) cpu_relax();
    else sched_yield();
  }
}

void cpu_pool_barrier(cpu_pool *p, int tid) {
  if (p->n == 1) return;
  pool_slot *s = &p->slot[tid];
  s->sense = !s->sense;
  if (atomic_fetch_add_explicit(&p->bar_count, 1, memory_order_acq_rel) == p->n - 1) {
    atomic_store_explicit(&p->bar_count, 0, memory_order_relaxed);
    atomic_store_explicit(&p->bar_sense, s->sense, memory_order_release);
  } else {
    spin_while_eq_int(&p->bar_sense, !s->sense);
  }
}

/* Waits for a generation other than seen; returns it (or seen when quitting). */
static unsigned wait_job(cpu_pool *p, unsigned seen) {
  for (unsigned i = 0; i < SPIN_BEFORE_SLEEP; i++) {
    unsigned g = atomic_load_explicit(&p->gen, memory_order_acquire);
    if (g != seen || atomic_load(&p->quit)) return g;
    cpu_relax();
  }
  pthread_mutex_lock(&p->mu);
  while (atomic_load(&p->gen) == seen && !atomic_load(&p->quit)) pthread_cond_wait(&p->cv, &p->mu);
  unsigned g = atomic_load(&p->gen);
  pthread_mutex_unlock(&p->mu);
  return g;
}

static void *worker(void *arg) {
  pool_slot *s = arg;
  cpu_pool *p = s->pool;
  unsigned seen = 0;
  for (;;) {
    seen = wait_job(p, seen);
    if (atomic_load(&p->quit)) break;
    p->fn(p->arg, s->tid);
    if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&p->mu);
      pthread_cond_signal(&p->done_cv);
      pthread_mutex_unlock(&p->mu);
    }
  }
  return NULL;
}

void cpu_pool_run(cpu_pool *p, void (*fn)(void *, int), void *arg) {
  if (p->n == 1) { fn(arg, 0); return; }
  p->fn = fn;
  p->arg = arg;
  atomic_store(&p->pending, p->n - 1);
  pthread_mutex_lock(&p->mu);
  atomic_fetch_add_explicit(&p->gen, 1, memory_order_acq_rel);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  fn(arg, 0);
  for (unsigned i = 0; i < SPIN_BEFORE_YIELD; i++) {
    if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0) return;
    cpu_relax();
  }
  /* A worker still has a share (e.g. 2 of 3 models): sleep rather than spin. */
  pthread_mutex_lock(&p->mu);
  while (atomic_load(&p->pending) != 0) pthread_cond_wait(&p->done_cv, &p->mu);
  pthread_mutex_unlock(&p->mu);
}

int cpu_pool_size(const cpu_pool *p) { return p->n; }

static void pool_stop(cpu_pool *p, int started) {
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->quit, 1);
  pthread_cond_broadcast(&p->cv);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < started; i++) pthread_join(p->th[i], NULL);
}

int cpu_pool_create(cpu_pool **out, int n, ab_err *e) {
  cpu_pool *p = calloc(1, sizeof *p);
  if (!p) return ab_err_set(e, AB_ENOMEM, "out of memory");
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cv, NULL);
  pthread_cond_init(&p->done_cv, NULL);
  p->n = n < 1 ? 1 : n;
  p->th = calloc((size_t)p->n, sizeof *p->th);
  p->slot = aligned_alloc(64, (size_t)p->n * sizeof *p->slot);
  if (!p->th || !p->slot) {
    p->n = 1;
    cpu_pool_free(p);
    return ab_err_set(e, AB_ENOMEM, "out of memory");
  }
  memset(p->slot, 0, (size_t)p->n * sizeof *p->slot);
  for (int i = 0; i < p->n; i++) { p->slot[i].tid = i; p->slot[i].pool = p; }
  for (int i = 1; i < p->n; i++) {
    int rc = pthread_create(&p->th[i - 1], NULL, worker, &p->slot[i]);
    if (rc) {
      pool_stop(p, i - 1);
      p->n = 1; /* nothing left to join */
      cpu_pool_free(p);
      return ab_err_set(e, AB_ENOMEM, "cannot start thread %d of %d: %s", i + 1, n,
                        strerror(rc));
    }
  }
  *out = p;
  return AB_OK;
}

void cpu_pool_free(cpu_pool *p) {
  if (!p) return;
  if (p->n > 1) pool_stop(p, p->n - 1);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cv);
  pthread_cond_destroy(&p->done_cv);
  free(p->th);
  free(p->slot);
  free(p);
}
