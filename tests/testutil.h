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

#endif
