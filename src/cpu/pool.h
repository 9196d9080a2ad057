/* pool.h - private to src/cpu/: a persistent thread pool that runs one job on all its
 * threads at once (the caller is thread 0), with a spinning barrier inside jobs. */
#ifndef ABGPU_CPU_POOL_H
#define ABGPU_CPU_POOL_H
#include "abgpu/err.h"

typedef struct cpu_pool cpu_pool;

/* Starts n - 1 worker threads (none when n == 1). */
int cpu_pool_create(cpu_pool **pool, int n, ab_err *e);
int cpu_pool_size(const cpu_pool *pool);
/* Runs fn(arg, tid) for tid = 0..n-1, tid 0 on the calling thread; returns when all
 * have returned. Not reentrant. */
void cpu_pool_run(cpu_pool *pool, void (*fn)(void *arg, int tid), void *arg);
/* Inside a job: waits until every thread of the pool has reached it. Writes before the
 * barrier are visible to every thread after it. */
void cpu_pool_barrier(cpu_pool *pool, int tid);
/* Stops and joins the workers. NULL is fine. */
void cpu_pool_free(cpu_pool *pool);

#endif
