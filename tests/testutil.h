/* testutil.h - helpers shared by the Criterion tests. */
#ifndef ABGPU_TESTUTIL_H
#define ABGPU_TESTUTIL_H
#include <stddef.h>

/* Output and exit status of a shell command. */
typedef struct tu_run {
  int status;      /* exit status, or -1 when it did not exit normally */
  char out[65536]; /* stdout and stderr together, truncated */
} tu_run;

/* Runs `sh -c cmd` and captures its output. Returns r->status. */
int tu_sh(tu_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Path to the real data set from ABGPU_REAL_DATA, or NULL when unset or unreadable. */
const char *tu_real_data(void);

/* A fresh temporary directory for this test process, removed when it exits. */
const char *tu_tmpdir(void);

/* Writes text to path; returns 0 on success. */
int tu_write(const char *path, const char *text);

/* 1 when the file exists. */
int tu_exists(const char *path);

/* A JSON number field from a flat JSON object, or NAN when absent. */
double tu_json_num(const char *json, const char *key);

/* OpenCL device index for the tests ($ABGPU_DEVICE when numeric, else 0). With no device
 * the test is skipped with a message naming `what`, or fails when CI=true (the OpenCL
 * tests must run on PoCL in CI). */
struct ab_splits;
int tu_cl_device_or_skip(const char *what);

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

/* The reference backend with s loaded. */
struct ab_backend *tu_open_ref(const struct ab_splits *s);

/* ab_train on a device backend and the reference (both loaded with s): seed 3, 5 epochs,
 * no early stop. Checks every epoch's train and validation loss and the test loss with
 * tu_expect_loss, that training made progress, and the predictions; prints one line
 * naming `label` and `detail`. */
void tu_train_parity(const char *label, const char *detail, struct ab_backend *dev,
                     struct ab_backend *ref, const struct ab_splits *s);

#endif
