/* Device limits (queried once) and buffers: each buffer checked against the device's largest allocation and what is
 * left of its global memory before it is created, so that a run too large for the
 * device fails with one line saying what to lower instead of CL_INVALID_BUFFER_SIZE or
 * CL_MEM_OBJECT_ALLOCATION_FAILURE in the middle of training. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include "cl/engine.h"

/* Bytes of the context's live buffers. A buffer's destructor callback subtracts its
 * size; each buffer and the context hold a reference, so the count outlives whichever
 * of them goes last. */
struct ab_cl_usage {
  _Atomic size_t bytes;
  _Atomic int refs;
};

static void usage_drop(ab_cl_usage *u) {
  if (u && atomic_fetch_sub(&u->refs, 1) == 1) free(u);
}

int ab_cl_usage_open(ab_cl_ctx *c, ab_err *e) {
  c->usage = calloc(1, sizeof *c->usage);
  if (!c->usage) return ab_err_set(e, AB_ENOMEM, "out of memory");
  atomic_init(&c->usage->bytes, 0);
  atomic_init(&c->usage->refs, 1);
  AB_CL_CHECK(e, clGetDeviceInfo(c->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof c->max_alloc,
                                 &c->max_alloc, NULL));
  AB_CL_CHECK(e, clGetDeviceInfo(c->device, CL_DEVICE_LOCAL_MEM_SIZE, sizeof c->local_mem,
                                 &c->local_mem, NULL));
  return AB_OK;
}

void ab_cl_usage_close(ab_cl_ctx *c) {
  usage_drop(c->usage);
  c->usage = NULL;
}

size_t ab_cl_in_use(const ab_cl_ctx *c) { return c->usage ? atomic_load(&c->usage->bytes) : 0; }

typedef struct freed {
  ab_cl_usage *u;
  size_t bytes;
} freed;

static void CL_CALLBACK on_free(cl_mem m, void *user) {
  (void)m;
  freed *f = user;
  atomic_fetch_sub(&f->u->bytes, f->bytes);
  usage_drop(f->u);
  free(f);
}

static double mib(cl_ulong b) { return (double)b / (1024.0 * 1024.0); }

/* Fails with one line naming the size and what to lower, when bytes do not fit. */
static int check(const ab_cl_ctx *c, size_t bytes, ab_err *e) {
  static const char *lower = "lower --batch, --parallel or --ensemble (models per launch), "
                             "or the rows of the data";
  if (bytes > c->max_alloc)
    return ab_err_set(e, AB_EUSAGE, "a device buffer of %.1f MiB (%zu bytes) exceeds %s's "
                      "largest allocation, %.1f MiB (CL_DEVICE_MAX_MEM_ALLOC_SIZE): %s", mib(bytes),
                      bytes, c->info.name, mib(c->max_alloc), lower);
  size_t used = ab_cl_in_use(c);
  if (bytes > c->info.global_mem || used > c->info.global_mem - bytes)
    return ab_err_set(e, AB_EUSAGE, "a device buffer of %.1f MiB (%zu bytes) does not fit: "
                      "%.1f MiB of %s's %.1f MiB of global memory are in use: %s", mib(bytes),
                      bytes, mib(used), c->info.name, mib(c->info.global_mem), lower);
  return AB_OK;
}

int ab_cl_buffer(ab_cl_ctx *c, cl_mem *out, cl_mem_flags flags, size_t bytes, const void *host,
                 ab_err *e) {
  *out = NULL;
  int rc = check(c, bytes, e);
  if (rc) return rc;
  freed *f = malloc(sizeof *f);
  if (!f) return ab_err_set(e, AB_ENOMEM, "out of memory");
  cl_int err;
  cl_mem m = clCreateBuffer(c->context, flags, bytes, (void *)host, &err);
  if (err != CL_SUCCESS) {
    free(f);
    return ab_cl_fail(e, err, "clCreateBuffer", __FILE__, __LINE__);
  }
  *f = (freed){c->usage, bytes};
  atomic_fetch_add(&c->usage->refs, 1);
  atomic_fetch_add(&c->usage->bytes, bytes);
  err = clSetMemObjectDestructorCallback(m, on_free, f);
  if (err != CL_SUCCESS) { /* not counted then: the size goes back at once */
    atomic_fetch_sub(&c->usage->bytes, bytes);
    usage_drop(c->usage);
    free(f);
  }
  *out = m;
  return AB_OK;
}
