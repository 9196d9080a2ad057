/* testutil.h - helpers shared by the Criterion tests. */
#ifndef ABGPU_TESTUTIL_H
#define ABGPU_TESTUTIL_H
#include <stddef.h>
#include <stdint.h>

/* Output and exit status of a shell command. */
typedef struct tu_run {
  int status;      /* exit status, or -1 when it did not exit normally */
  char out[65536]; /* stdout and stderr together, truncated */
} tu_run;

/* Runs `sh -c cmd` and captures its output. Returns r->status. */
int tu_sh(tu_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Runs the command as tu_sh and asserts that it exits 2 (usage or data error) with want
 * in its output. */
void tu_expect_usage(tu_run *r, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Path to the real data set from ABGPU_REAL_DATA, or NULL when unset or unreadable. */
const char *tu_real_data(void);

/* A fresh temporary directory for this test process, removed when it exits. */
const char *tu_tmpdir(void);

/* Writes text to path; returns 0 on success. */
int tu_write(const char *path, const char *text);

/* 1 when the file exists. */
int tu_exists(const char *path);

/* Reads the leaderboard dir/name into lb (initialised here; the caller frees it); the
 * test fails if it cannot be read. */
struct ab_leaderboard;
void tu_load_lb(struct ab_leaderboard *lb, const char *dir, const char *name);

/* A JSON number field from a flat JSON object, or NAN when absent. */
double tu_json_num(const char *json, const char *key);

/* OpenCL device index for the tests ($ABGPU_DEVICE when numeric, else 0). With no device
 * the test is skipped with a message naming `what`, or fails when CI=true (the OpenCL
 * tests must run on PoCL in CI). */
struct ab_splits;
int tu_cl_device_or_skip(const char *what);
/* 1 when CLBlast can run on OpenCL device dev; else checks that --gemm clblast is refused
 * there with a message saying what to use instead, and returns 0. */
int tu_clblast_runs(int dev);

/* n customers with unscaled random features and a target a model can learn (a noisy
 * threshold on a fixed mix of the features), prepared unbalanced with prep seed 7. */
void tu_learnable_splits(struct ab_splits *s, size_t n);

/* Backend parity (tolerances from tolerance.h): relative difference, a loss that must be
 * within AB_TOL_TRAIN_LOSS_REL of the reference's, and predicted classes over every split
 * of K models that may differ on at most AB_TOL_PRED_FLIPS_PER_1000 rows in 1000.
 * `label` names the case in messages. */
struct ab_backend;
double tu_rel_diff(double got, double want);
void tu_expect_loss(const char *label, const char *what, int epoch, double got, double want);
void tu_expect_predictions(const char *label, struct ab_backend *dev, struct ab_backend *ref,
                           const struct ab_splits *s, int K);

struct ab_err;
/* The state slots as get/set pairs (NULL skips a slot): params, Adam m and v, and the
 * step count. Return the backend's status. */
int tu_get_state(struct ab_backend *be, float *p, float *m, float *v, int64_t *t,
                 struct ab_err *e);
int tu_set_state(struct ab_backend *be, const float *p, const float *m, const float *v,
                 int64_t t, struct ab_err *e);

/* The reference backend with s loaded. */
struct ab_backend *tu_open_ref(const struct ab_splits *s);

/* ab_train on a device backend and the reference (both loaded with s): seed 3, 5 epochs,
 * no early stop. Checks every epoch's train and validation loss and the test loss with
 * tu_expect_loss, that training made progress, and the predictions; prints one line
 * naming `label` and `detail`. */
void tu_train_parity(const char *label, const char *detail, struct ab_backend *dev,
                     struct ab_backend *ref, const struct ab_splits *s);

/* TU_PAIR_K models of one architecture, with their own learning rates and weight decays,
 * on a device backend and on the reference, for the vtable parity tests. */
struct ab_rng;
enum { TU_PAIR_K = 3 };
typedef struct tu_pair {
  const char *label;      /* names the case in messages */
  struct ab_backend *d, *r;
  size_t P;               /* parameters per model */
  int nb, batch;          /* whole batches in the training split, batch size */
  int32_t *order;         /* [TU_PAIR_K][nb * batch] */
} tu_pair;

/* Takes dev (loaded with s), opens the reference, and gives both the same models. */
void tu_pair_init(tu_pair *p, const char *label, struct ab_backend *dev,
                  const struct ab_splits *s, const char *hidden, const char *act, int batch);
void tu_pair_free(tu_pair *p);
/* nb batches (all when 0) of a fresh order per model on both; loss sums compared. */
void tu_pair_epoch(tu_pair *p, struct ab_rng *r, size_t ntrain, int nb, int epoch);
/* evaluate on every split on both: loss sums and correct counts compared. */
void tu_pair_evaluate(tu_pair *p, const struct ab_splits *s, int epoch);
/* Every vtable operation on both: one step, epochs, evaluate, snapshot and restore,
 * predictions, get_state into set_state; parameters and Adam state compared after
 * each (relative L2 within AB_TOL_TRAIN_LOSS_REL, worst elements printed). */
void tu_pair_vtable_parity(tu_pair *p, const struct ab_splits *s);

#endif
