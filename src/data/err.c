#include "abgpu/err.h"
#include <stdarg.h>
#include <stdio.h>

int ab_err_set(ab_err *e, int code, const char *fmt, ...) {
  if (!e) return code;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return code;
}

void ab_err_clear(ab_err *e) {
  if (!e) return;
  e->code = AB_OK;
  e->msg[0] = '\0';
}
