/* err.h - the one error path: library functions return a status and fill an ab_err;
 * only the CLI prints and exits. */
#ifndef ABGPU_ERR_H
#define ABGPU_ERR_H

/* Status codes. The CLI maps them to exit statuses (cli_exit_status, docs/manual.md):
 * AB_ENOMEM 1, AB_EDEVICE 3, AB_EOUTPUT 4, AB_EINTR 128+signal, every other one 2. */
enum {
  AB_OK = 0,
  AB_EINPUT = 2,   /* bad data or model file: FILE:LINE:COL: message */
  AB_EUSAGE = 3,   /* bad flag or argument */
  AB_EIO = 4,      /* cannot open or read an input file */
  AB_ENOMEM = 5,   /* host allocation failed */
  AB_EDEVICE = 6,  /* OpenCL error, kernel build failure, no device */
  AB_EDIVERGED = 7,/* NaN or Inf in the loss */
  AB_EINTR = 8,    /* interrupted by a signal */
  AB_EOUTPUT = 9   /* an output cannot be written (folder, permissions, disk full, ...) */
};

typedef struct ab_err {
  int code;
  char msg[1024];
} ab_err;

/* Sets e->code and formats e->msg (printf-style); returns code. e may be NULL. */
int ab_err_set(ab_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears e (code AB_OK, empty message). */
void ab_err_clear(ab_err *e);

#endif
