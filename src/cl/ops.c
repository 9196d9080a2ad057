/* One enqueue wrapper per kernel: sets the arguments in the kernel's order and picks
 * the launch geometry. Nothing here waits for the device. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "cl/engine.h"

typedef struct karg {
  size_t size;
  const void *ptr;
} karg;
#define MEM(x) {sizeof(cl_mem), &(x)}
#define INT(x) {sizeof(cl_int), &(cl_int){(cl_int)(x)}}
#define FLT(x) {sizeof(cl_float), &(cl_float){(cl_float)(x)}}
#define LOCAL(bytes) {(bytes), NULL}
#define NARGS(a) ((int)(sizeof(a) / sizeof(a)[0]))

/* "WHAT of KERNEL" for error messages. */
static void what_of(char *buf, size_t n, const char *what, ab_cl_ctx *c, int kid) {
  char name[64] = "?";
  if (clGetKernelInfo(c->k[kid], CL_KERNEL_FUNCTION_NAME, sizeof name, name, NULL))
    strcpy(name, "?");
  snprintf(buf, n, "%s of %s", what, name);
}

static int set_args(ab_cl_ctx *c, int kid, const karg *a, int n, ab_err *e) {
  for (int i = 0; i < n; i++) {
    cl_int rc = clSetKernelArg(c->k[kid], (cl_uint)i, a[i].size, a[i].ptr);
    if (rc) {
      char what[128], arg[32];
      snprintf(arg, sizeof arg, "clSetKernelArg %d", i);
      what_of(what, sizeof what, arg, c, kid);
      return ab_cl_fail(e, rc, what, __FILE__, __LINE__);
    }
  }
  return AB_OK;
}

/* Enqueues kernel kid over g rounded up to multiples of l. */
static int enqueue(ab_cl_ctx *c, int kid, cl_uint dims, const size_t *g, const size_t *l,
                   ab_err *e) {
  size_t gr[3];
  for (cl_uint d = 0; d < dims; d++) gr[d] = (g[d] + l[d] - 1) / l[d] * l[d];
  cl_int rc = clEnqueueNDRangeKernel(c->queue, c->k[kid], dims, NULL, gr, l, 0, NULL, NULL);
  if (rc) {
    char what[128];
    what_of(what, sizeof what, "clEnqueueNDRangeKernel", c, kid);
    return ab_cl_fail(e, rc, what, __FILE__, __LINE__);
  }
  return AB_OK;
}

static int run(ab_cl_ctx *c, int kid, const karg *a, int na, cl_uint dims, const size_t *g,
               const size_t *l, ab_err *e) {
  int rc = set_args(c, kid, a, na, e);
  return rc ? rc : enqueue(c, kid, dims, g, l, e);
}

/* Blocks of `per` needed to cover n. */
static size_t blocks(int n, int per) { return ((size_t)n + per - 1) / per; }

/* n split into equal parts of at most cap: 100 -> 50, 129 -> 43 (no idle lanes). */
static size_t balanced(size_t n, size_t cap) {
  if (n == 0) return 1;
  size_t parts = (n + cap - 1) / cap;
  return (n + parts - 1) / parts;
}

/* Work-group of a (columns, rows, models) grid: columns in dimension 0 (consecutive
 * work-items touch consecutive floats: vector lanes on a CPU, coalesced on a GPU).
 * The row dimension's size does not depend on the row count, so a partial batch does
 * not make a CPU runtime compile another work-group variant. */
static void shape3(const ab_cl_ctx *c, int kid, size_t n0, size_t l[3]) {
  size_t cap = c->kwg[kid];
  l[0] = balanced(n0, 64 < cap ? 64 : cap);
  l[1] = 1;
  if (!c->is_cpu && l[0] < 128) l[1] = 128 / l[0];
  while (l[0] * l[1] > cap && l[1] > 1) l[1] /= 2;
  l[2] = 1;
}

/* Power-of-two work-group size for the one-group-per-model kernels. */
static size_t group_size(const ab_cl_ctx *c, int kid) {
  size_t want = c->is_cpu ? 64 : 256, l = 1;
  while (l * 2 <= want && l * 2 <= c->kwg[kid]) l *= 2;
  return l;
}

static int run3(ab_cl_ctx *c, int kid, const karg *a, int na, size_t g0, size_t g1, size_t g2,
                ab_err *e) {
  size_t g[3] = {g0, g1, g2}, l[3];
  shape3(c, kid, g0, l);
  return run(c, kid, a, na, 3, g, l, e);
}

/* ---- the split kernels: tiles of AB_CL_TM x AB_CL_TN outputs, 64 work-items ---- */

/* Launches a tiled kernel over (cols x rows) outputs for each of nz slices (models, or
 * models x chunks). */
static int run_tiles(ab_cl_ctx *c, int kid, const karg *a, int na, int cols, int rows,
                     size_t nz, ab_err *e) {
  size_t g[3] = {blocks(cols, AB_CL_TN) * AB_CL_TN,
                 blocks(rows, AB_CL_TM) * (AB_CL_TG / AB_CL_TN), nz};
  size_t l[3] = {AB_CL_TN, AB_CL_TG / AB_CL_TN, 1};
  return run(c, kid, a, na, 3, g, l, e);
}

/* Scratch `which` of the context, at least n floats. */
static int part_buf(ab_cl_ctx *c, int which, size_t n, ab_err *e) {
  if (n <= c->npart[which]) return AB_OK;
  if (c->part[which]) clReleaseMemObject(c->part[which]);
  c->npart[which] = 0;
  int rc = ab_cl_buffer(c, &c->part[which], CL_MEM_READ_WRITE, n * sizeof(float), NULL, e);
  if (!rc) c->npart[which] = n;
  return rc;
}

/* dW's chunks of the batch: as many as bring a launch of `tiles` groups per chunk to
 * c->groups, each at least AB_CL_TK rows; *chunk gets the rows per chunk (a multiple of
 * AB_CL_TK, or B). */
static int dw_chunks(const ab_cl_ctx *c, size_t tiles, int B, int *chunk) {
  size_t want = (c->groups + tiles - 1) / tiles, most = blocks(B, AB_CL_TK);
  size_t n = want < most ? want : most;
  if (n <= 1) { *chunk = B; return 1; }
  *chunk = (int)(blocks(B, (int)n * AB_CL_TK) * AB_CL_TK);
  return (int)blocks(B, *chunk);
}

static int dw_split(ab_cl_ctx *c, cl_mem G, int woff, int boff, cl_mem dZ, ab_cl_rows X,
                    cl_mem idx, int c0, int K, int B, int IN, int OUT, int pstride, ab_err *e) {
  int nc = IN + 1 - c0, chunk;
  size_t tiles = blocks(OUT, AB_CL_TN) * blocks(nc, AB_CL_TM) * (size_t)K;
  int nq = dw_chunks(c, tiles, B, &chunk);
  int rc = part_buf(c, 0, nq > 1 ? (size_t)K * nq * nc * OUT : 1, e);
  if (rc) return rc;
  karg a[] = {MEM(G),    INT(woff),     INT(boff), MEM(c->part[0]), INT(nq),  INT(chunk),
              MEM(dZ),   MEM(X.x),      MEM(idx),  INT(X.idx != NULL), INT(X.off),
              INT(X.kstride), INT(c0),  INT(K),    INT(B),    INT(IN),  INT(OUT),  INT(pstride)};
  rc = run_tiles(c, AB_K_LINEAR_ACT_BWD_DW_TILED, a, NARGS(a), OUT, nc, (size_t)K * nq, e);
  if (rc || nq == 1) return rc;
  karg s[] = {MEM(G), INT(woff), INT(boff), MEM(c->part[0]), INT(nq), INT(c0), INT(K),
              INT(IN), INT(OUT), INT(pstride)};
  size_t l[2] = {AB_CL_TG, 1}, g[2] = {(size_t)nc * OUT, (size_t)K};
  return run(c, AB_K_LINEAR_ACT_BWD_DW_SUM, s, NARGS(s), 2, g, l, e);
}

static int xent_split(ab_cl_ctx *c, cl_mem loss, cl_mem dlogits, cl_mem bloss, int bslot,
                      int bstride, cl_mem logits, cl_mem labels, ab_cl_rows lab, int K, int B,
                      int C, ab_err *e) {
  int ng = (int)blocks(B, AB_CL_TG);
  int rc = part_buf(c, 1, (size_t)K * ng, e);
  if (rc) return rc;
  karg a[] = {MEM(loss), MEM(dlogits), MEM(c->part[1]), MEM(logits), MEM(labels),
              MEM(lab.idx), INT(lab.off), INT(lab.kstride), INT(K), INT(B), INT(C)};
  size_t l[2] = {AB_CL_TG, 1}, g[2] = {(size_t)ng * AB_CL_TG, (size_t)K};
  rc = run(c, AB_K_SOFTMAX_XENT_SPLIT, a, NARGS(a), 2, g, l, e);
  if (rc) return rc;
  karg s[] = {MEM(bloss), INT(bslot), INT(bstride), MEM(c->part[1]), INT(ng), INT(K), INT(B)};
  size_t l1 = group_size(c, AB_K_SOFTMAX_XENT_SUM), g1 = (size_t)K;
  if (l1 > g1) l1 = g1;
  return run(c, AB_K_SOFTMAX_XENT_SUM, s, NARGS(s), 1, &g1, &l1, e);
}

int ab_cl_gather(ab_cl_ctx *c, cl_mem X, cl_mem Y, cl_mem labels, ab_cl_rows rows, int K,
                 int B, int IN, ab_err *e) {
  cl_mem y = Y ? Y : X, lab = labels ? labels : rows.x;
  karg a[] = {MEM(X), MEM(y), MEM(rows.x), MEM(lab), INT(Y != NULL), MEM(rows.idx),
              INT(rows.off), INT(rows.kstride), INT(K), INT(B), INT(IN)};
  return run3(c, AB_K_GATHER, a, NARGS(a), IN, B, K, e);
}

int ab_cl_linear_act_fwd(ab_cl_ctx *c, cl_mem Y, ab_cl_rows X, cl_mem P, int woff, int boff,
                         int act, int K, int B, int IN, int OUT, int pstride, ab_err *e) {
  cl_mem idx = X.idx ? X.idx : X.x;
  karg a[] = {MEM(Y),    MEM(X.x),    MEM(idx), INT(X.idx != NULL), INT(X.off),
              INT(X.kstride), MEM(P), INT(woff), INT(boff),  INT(act),
              INT(K),    INT(B),      INT(IN),  INT(OUT),    INT(pstride)};
  if (c->split)
    return run_tiles(c, AB_K_LINEAR_ACT_FWD_TILED, a, NARGS(a), OUT, B, (size_t)K, e);
  return run3(c, AB_K_LINEAR_ACT_FWD, a, NARGS(a), blocks(OUT, c->vec), blocks(B, AB_CL_ROWS),
              K, e);
}

int ab_cl_linear_act_fwd_bias(ab_cl_ctx *c, cl_mem Y, cl_mem P, int boff, int act, int K,
                              int B, int OUT, int pstride, ab_err *e) {
  karg a[] = {MEM(Y), MEM(P), INT(boff), INT(act), INT(K), INT(B), INT(OUT), INT(pstride)};
  return run3(c, AB_K_LINEAR_ACT_FWD_BIAS, a, NARGS(a), OUT, B, K, e);
}

int ab_cl_softmax_xent(ab_cl_ctx *c, cl_mem loss, cl_mem dlogits, cl_mem bloss, int bslot,
                       int bstride, cl_mem logits, cl_mem labels, ab_cl_rows lab, int K,
                       int B, int C, ab_err *e) {
  if (c->split)
    return xent_split(c, loss, dlogits, bloss, bslot, bstride, logits, labels, lab, K, B, C, e);
  karg a[] = {MEM(loss),   MEM(dlogits), MEM(bloss),  INT(bslot), INT(bstride),
              MEM(logits), MEM(labels),  MEM(lab.idx), INT(lab.off), INT(lab.kstride),
              INT(K),      INT(B),       INT(C)};
  size_t l[2] = {group_size(c, AB_K_SOFTMAX_XENT), 1}, g[2] = {l[0], (size_t)K};
  return run(c, AB_K_SOFTMAX_XENT, a, NARGS(a), 2, g, l, e);
}

int ab_cl_linear_act_bwd_dz(ab_cl_ctx *c, cl_mem dZ, cl_mem dY, cl_mem Y, int act, int n,
                            ab_err *e) {
  karg a[] = {MEM(dZ), MEM(dY), MEM(Y), INT(act), INT(n)};
  size_t l = group_size(c, AB_K_LINEAR_ACT_BWD_DZ), g = (size_t)n;
  return run(c, AB_K_LINEAR_ACT_BWD_DZ, a, NARGS(a), 1, &g, &l, e);
}

int ab_cl_linear_act_bwd_dw(ab_cl_ctx *c, cl_mem G, int woff, int boff, cl_mem dZ,
                            ab_cl_rows X, int dbonly, int K, int B, int IN, int OUT, int pstride,
                            ab_err *e) {
  cl_mem idx = X.idx ? X.idx : X.x;
  int c0 = dbonly ? IN : 0;
  if (c->split) return dw_split(c, G, woff, boff, dZ, X, idx, c0, K, B, IN, OUT, pstride, e);
  karg a[] = {MEM(G),    INT(woff), INT(boff), MEM(dZ), MEM(X.x),       MEM(idx),
              INT(X.idx != NULL),   INT(X.off), INT(X.kstride), INT(c0), INT(K),
              INT(B),    INT(IN),   INT(OUT),  INT(pstride)};
  return run3(c, AB_K_LINEAR_ACT_BWD_DW, a, NARGS(a), blocks(OUT, c->vec),
              blocks(IN + 1 - c0, AB_CL_ROWS), K, e);
}

int ab_cl_linear_act_bwd_dx(ab_cl_ctx *c, cl_mem dX, cl_mem dZ, cl_mem P, int woff, cl_mem Xin,
                            int act_in, int K, int B, int IN, int OUT, int pstride, ab_err *e) {
  cl_mem xin = Xin ? Xin : dX;
  karg a[] = {MEM(dX), MEM(dZ), MEM(P),  INT(woff), MEM(xin), INT(Xin ? act_in : 0),
              INT(K),  INT(B),  INT(IN), INT(OUT),  INT(pstride)};
  if (c->split)
    return run_tiles(c, AB_K_LINEAR_ACT_BWD_DX_TILED, a, NARGS(a), IN, B, (size_t)K, e);
  return run3(c, AB_K_LINEAR_ACT_BWD_DX, a, NARGS(a), blocks(IN, c->vec), blocks(B, AB_CL_ROWS),
              K, e);
}

int ab_cl_adam_step(ab_cl_ctx *c, cl_mem p, cl_mem m, cl_mem v, cl_mem g, cl_mem lr,
                    cl_mem wd, float beta1, float beta2, float eps, int t, int K, int n,
                    ab_err *e) {
  float c1 = 1.0f - powf(beta1, (float)t), c2 = 1.0f - powf(beta2, (float)t);
  karg a[] = {MEM(p),     MEM(m),     MEM(v),   MEM(g),   MEM(lr), MEM(wd), FLT(beta1),
              FLT(beta2), FLT(eps),   FLT(c1),  FLT(c2),  INT(K),  INT(n)};
  size_t l[2] = {c->split ? AB_CL_TG : group_size(c, AB_K_ADAM_STEP), 1};
  size_t gs[2] = {blocks(n, c->vec), (size_t)K}; /* split: groups of 64 over P/64 groups */
  return run(c, AB_K_ADAM_STEP, a, NARGS(a), 2, gs, l, e);
}

int ab_cl_eval(ab_cl_ctx *c, cl_mem ploss, cl_mem pcorrect, int slot, int nslots,
               cl_mem logits, cl_mem labels, int loff, int K, int B, int C, ab_err *e) {
  size_t L = group_size(c, AB_K_EVAL), per = sizeof(cl_float) + sizeof(cl_int);
  while (L > 1 && L * per + c->klocal[AB_K_EVAL] > c->local_mem) L /= 2; /* 1 KB devices */
  karg a[] = {MEM(ploss),  MEM(pcorrect), INT(slot), INT(nslots),
              MEM(logits), MEM(labels),   INT(loff), INT(K),
              INT(B),      INT(C),        LOCAL(L * sizeof(cl_float)),
              LOCAL(L * sizeof(cl_int))};
  size_t l[2] = {L, 1}, g[2] = {L, (size_t)K};
  return run(c, AB_K_EVAL, a, NARGS(a), 2, g, l, e);
}

int ab_cl_prob1(ab_cl_ctx *c, cl_mem prob, int poff, int pks, cl_mem logits, int K, int B,
                ab_err *e) {
  karg a[] = {MEM(prob), INT(poff), INT(pks), MEM(logits), INT(K), INT(B)};
  size_t l[2] = {group_size(c, AB_K_PROB1), 1}, g[2] = {(size_t)B, (size_t)K};
  return run(c, AB_K_PROB1, a, NARGS(a), 2, g, l, e);
}

int ab_cl_dropout(ab_cl_ctx *c, cl_mem Y, cl_mem X, cl_mem consts, unsigned salt, int K, int B,
                  int N, ab_err *e) {
  karg a[] = {MEM(Y), MEM(X), MEM(consts), {sizeof(cl_uint), &(cl_uint){salt}}, INT(K), INT(B),
              INT(N)};
  return run3(c, AB_K_DROPOUT, a, NARGS(a), N, B, K, e);
}

int ab_cl_fused_train_launch(ab_cl_ctx *c, cl_mem P, cl_mem M, cl_mem V, cl_mem S,
                             cl_mem bloss, int bstride, cl_mem x, cl_mem y, cl_mem order,
                             int ostride, cl_mem steps, cl_mem lr, cl_mem wd, float beta1,
                             float beta2, float eps, cl_mem meta, cl_mem active, int b0, int nb,
                             int B, int K, int pstride, size_t wg, size_t lbytes, int rt,
                             ab_err *e) {
  size_t lab = (size_t)rt * sizeof(cl_int);
  karg a[] = {MEM(P),      MEM(M),          MEM(V),     MEM(S),     MEM(bloss), INT(bstride),
              MEM(x),      MEM(y),          MEM(order), INT(ostride), MEM(steps), MEM(lr),
              MEM(wd),     FLT(beta1),      FLT(beta2), FLT(eps),   MEM(meta),  MEM(active),
              INT(b0),
              INT(nb),     INT(B),          INT(K),     INT(pstride), LOCAL(lbytes - lab),
              LOCAL(lab)};
  size_t l[2] = {wg, 1}, g[2] = {wg, (size_t)K};
  return run(c, AB_K_FUSED_TRAIN, a, NARGS(a), 2, g, l, e);
}

int ab_cl_fused_eval_launch(ab_cl_ctx *c, cl_mem part, int nslots, cl_mem prob, int pks,
                            int predict, cl_mem P, cl_mem S, cl_mem x, cl_mem y, int n,
                            cl_mem meta, int K, int pstride, size_t wg, int groups,
                            size_t lbytes, int rt, ab_err *e) {
  size_t lab = (size_t)rt * sizeof(cl_int);
  karg a[] = {MEM(part), INT(nslots), MEM(prob), INT(pks),  INT(predict), MEM(P),
              MEM(S),    MEM(x),      MEM(y),    INT(n),    MEM(meta),    INT(K),
              INT(pstride), LOCAL(lbytes - lab), LOCAL(lab)};
  size_t l[3] = {wg, 1, 1}, g[3] = {wg, (size_t)groups, (size_t)K};
  return run(c, AB_K_FUSED_EVAL, a, NARGS(a), 3, g, l, e);
}
