/* engine.h - private to src/cl/ (and the OpenCL tests): the context that owns the
 * OpenCL objects, error helpers, and one enqueue wrapper per kernel. */
#ifndef ABGPU_CL_ENGINE_H
#define ABGPU_CL_ENGINE_H
#include <CL/cl.h>
#include "abgpu/cl.h"
#include "abgpu/err.h"

/* The kernels, by index into ab_cl_ctx.k; kernel ab_NAME is in kernels/OP.cl, OP the
 * op it belongs to (ab_linear_act_bwd_dw: linear_act_bwd.cl; the fused two: fused.cl). */
enum {
  AB_K_GATHER, AB_K_LINEAR_ACT_FWD, AB_K_LINEAR_ACT_FWD_BIAS, AB_K_SOFTMAX_XENT,
  AB_K_LINEAR_ACT_BWD_DZ, AB_K_LINEAR_ACT_BWD_DW, AB_K_LINEAR_ACT_BWD_DX, AB_K_ADAM_STEP,
  AB_K_EVAL, AB_K_PROB1, AB_K_FUSED_TRAIN, AB_K_FUSED_EVAL, AB_K_DROPOUT,
  AB_K_LINEAR_ACT_FWD_TILED, AB_K_LINEAR_ACT_BWD_DW_TILED, AB_K_LINEAR_ACT_BWD_DW_SUM,
  AB_K_LINEAR_ACT_BWD_DX_TILED, AB_K_SOFTMAX_XENT_SPLIT, AB_K_SOFTMAX_XENT_SUM, AB_K_COUNT
};

/* Rows per work-item of the GEMM kernels (passed to the build as -DAB_ROWS). */
#define AB_CL_ROWS 4
/* Tiles of the fused kernels: rows x vectors of AB_VEC columns per work-item
 * (-DAB_FR, -DAB_FN). */
#define AB_CL_FROWS 6
#define AB_CL_FVECS 2

/* Bytes held by a context's buffers (mem.c). */
typedef struct ab_cl_usage ab_cl_usage;

/* The split kernels' tile (-DAB_TM, -DAB_TN, -DAB_TK; kernels/common.cl): work-groups of
 * AB_CL_TN x 4 = 64 work-items, each tile AB_CL_TM rows x AB_CL_TN columns, AB_CL_TK
 * terms per step through local memory. */
#define AB_CL_TM 8
#define AB_CL_TN 16
#define AB_CL_TK 16
#define AB_CL_TG 64
/* The split kernels aim at this many work-groups per launch at least (and two per
 * compute unit): dW takes chunks of the batch until it has them. */
#define AB_CL_MIN_GROUPS 64

/* Owns the OpenCL objects: context, queue, program, kernels, and the split kernels'
 * scratch for partial sums. */
typedef struct ab_cl_ctx {
  cl_device_id device;
  cl_context context;
  cl_command_queue queue;
  cl_program program;
  cl_kernel k[AB_K_COUNT];
  size_t kwg[AB_K_COUNT];   /* CL_KERNEL_WORK_GROUP_SIZE of each kernel */
  cl_ulong klocal[AB_K_COUNT]; /* CL_KERNEL_LOCAL_MEM_SIZE of each kernel before any
                            * argument is set: its own __local variables only (later
                            * queries add the __local arguments of the last launch) */
  ab_cl_device_info info;
  int is_cpu;               /* CL_DEVICE_TYPE_CPU: shapes work-groups for vector lanes */
  int vec;                  /* AB_VEC: floats per work-item in the GEMM kernels */
  int split;                /* 1: the per-op wrappers run the split kernels (a batch over
                             * many work-groups, two-stage sums); 0: the ordered ones */
  int groups;               /* work-groups a split launch aims at (dW's chunks) */
  cl_mem part[2];           /* partial sums of dW and of the batch loss, grown on demand */
  size_t npart[2];          /* their sizes in floats */
  char options[512];        /* the build options used */
  cl_ulong max_alloc;       /* CL_DEVICE_MAX_MEM_ALLOC_SIZE */
  cl_ulong local_mem;       /* CL_DEVICE_LOCAL_MEM_SIZE */
  ab_cl_usage *usage;       /* bytes of the live buffers made by ab_cl_buffer */
} ab_cl_ctx;

/* The device with global index `index` and its description (device.c). */
int ab_cl_device_find(cl_device_id *dev, ab_cl_device_info *info, int index, ab_err *e);
/* Opens device `index` and builds every kernel once (options and, on failure, the full
 * build log go to o->log). The split kernels are used as o->split says (AUTO: on GPUs,
 * or as $ABGPU_CL_SPLIT says). */
int ab_cl_ctx_open(ab_cl_ctx **ctx, int index, const ab_cl_opts *o, ab_err *e);
/* Releases in reverse order of creation; safe on a half-built context and on NULL. */
void ab_cl_ctx_free(ab_cl_ctx *ctx);
/* Blocks until the queue is empty. */
int ab_cl_finish(ab_cl_ctx *c, ab_err *e);

/* Device buffers (mem.c). ab_cl_buffer checks `bytes` against the device's largest
 * allocation and its global memory less the bytes of the live buffers, and fails with
 * AB_EUSAGE and one line naming the size and what to lower; else it creates the buffer
 * (clCreateBuffer's flags and host pointer) and counts it until it is released. */
int ab_cl_buffer(ab_cl_ctx *c, cl_mem *out, cl_mem_flags flags, size_t bytes, const void *host,
                 ab_err *e);
int ab_cl_usage_open(ab_cl_ctx *c, ab_err *e);
void ab_cl_usage_close(ab_cl_ctx *c);
/* Bytes of the live buffers. */
size_t ab_cl_in_use(const ab_cl_ctx *c);

/* Fills e with "WHAT failed: CL_NAME (code) [file:line]"; returns AB_EDEVICE. */
int ab_cl_fail(ab_err *e, cl_int err, const char *what, const char *file, int line);
/* Checks a call returning cl_int; returns from the enclosing function on error. */
#define AB_CL_CHECK(e, call)                                               \
  do {                                                                     \
    cl_int ab_cl_rc_ = (call);                                             \
    if (ab_cl_rc_ != CL_SUCCESS)                                           \
      return ab_cl_fail((e), ab_cl_rc_, #call, __FILE__, __LINE__);        \
  } while (0)
/* Checks the error code filled in by a create call named `what`. */
#define AB_CL_CHECK_ERR(e, err, what)                                      \
  do {                                                                     \
    if ((err) != CL_SUCCESS) return ab_cl_fail((e), (err), (what), __FILE__, __LINE__); \
  } while (0)

/* Where a kernel's input rows come from: row i of model k is row i of x [K][B][IN], or,
 * when idx is set, row idx[off + k*kstride + i] of the split data x [N][IN]. */
typedef struct ab_cl_rows {
  cl_mem x, idx;
  int off, kstride;
} ab_cl_rows;

/* ---- one wrapper per kernel; arguments mirror the ab_ref_* twin (ref.h) ---- */
int ab_cl_gather(ab_cl_ctx *c, cl_mem X, cl_mem Y, cl_mem labels, ab_cl_rows rows, int K,
                 int B, int IN, ab_err *e);
int ab_cl_linear_act_fwd(ab_cl_ctx *c, cl_mem Y, ab_cl_rows X, cl_mem P, int woff, int boff,
                         int act, int K, int B, int IN, int OUT, int pstride, ab_err *e);
int ab_cl_linear_act_fwd_bias(ab_cl_ctx *c, cl_mem Y, cl_mem P, int boff, int act, int K,
                              int B, int OUT, int pstride, ab_err *e);
/* labels of row (k, i): labels[lab.idx[lab.off + k*lab.kstride + i]] (lab.x unused);
 * the batch mean of model k goes to bloss[k*bstride + bslot]. */
int ab_cl_softmax_xent(ab_cl_ctx *c, cl_mem loss, cl_mem dlogits, cl_mem bloss, int bslot,
                       int bstride, cl_mem logits, cl_mem labels, ab_cl_rows lab, int K,
                       int B, int C, ab_err *e);
int ab_cl_linear_act_bwd_dz(ab_cl_ctx *c, cl_mem dZ, cl_mem dY, cl_mem Y, int act, int n,
                            ab_err *e);
/* dW and db into G at woff/boff; dbonly != 0 computes db alone (after a CLBlast dW). */
int ab_cl_linear_act_bwd_dw(ab_cl_ctx *c, cl_mem G, int woff, int boff, cl_mem dZ,
                            ab_cl_rows X, int dbonly, int K, int B, int IN, int OUT, int pstride,
                            ab_err *e);
int ab_cl_linear_act_bwd_dx(ab_cl_ctx *c, cl_mem dX, cl_mem dZ, cl_mem P, int woff, cl_mem Xin,
                            int act_in, int K, int B, int IN, int OUT, int pstride, ab_err *e);
/* t: step number from 1; c1 and c2 are computed here exactly as the reference does. */
int ab_cl_adam_step(ab_cl_ctx *c, cl_mem p, cl_mem m, cl_mem v, cl_mem g, cl_mem lr,
                    cl_mem wd, float beta1, float beta2, float eps, int t, int K, int n,
                    ab_err *e);
int ab_cl_eval(ab_cl_ctx *c, cl_mem ploss, cl_mem pcorrect, int slot, int nslots,
               cl_mem logits, cl_mem labels, int loff, int K, int B, int C, ab_err *e);
int ab_cl_prob1(ab_cl_ctx *c, cl_mem prob, int poff, int pks, cl_mem logits, int K, int B,
                ab_err *e);
/* Y = X * mask (ab_ref_dropout); Y may be X; consts [K][AB_DROP_NC] uint32. */
int ab_cl_dropout(ab_cl_ctx *c, cl_mem Y, cl_mem X, cl_mem consts, unsigned salt, int K, int B,
                  int N, ab_err *e);
/* Fused kernels (kernels/fused.cl), one work-group of wg work-items per model (and per
 * evaluation group); lbytes of local memory per group, of which rt ints of labels. */
int ab_cl_fused_train_launch(ab_cl_ctx *c, cl_mem P, cl_mem M, cl_mem V, cl_mem S,
                             cl_mem bloss, int bstride, cl_mem x, cl_mem y, cl_mem order,
                             int ostride, cl_mem steps, cl_mem lr, cl_mem wd, float beta1,
                             float beta2, float eps, cl_mem meta, cl_mem active, int b0, int nb,
                             int B, int K, int pstride, size_t wg, size_t lbytes, int rt,
                             ab_err *e);
int ab_cl_fused_eval_launch(ab_cl_ctx *c, cl_mem part, int nslots, cl_mem prob, int pks,
                            int predict, cl_mem P, cl_mem S, cl_mem x, cl_mem y, int n,
                            cl_mem meta, int K, int pstride, size_t wg, int groups,
                            size_t lbytes, int rt, ab_err *e);

#endif
