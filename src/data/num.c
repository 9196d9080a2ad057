/* Decimal numbers as the export writes them. A value of at most 19 significant digits
 * (leading zeros do not count) whose mantissa is below 2^53 and whose power of ten is
 * within 10^±22 is one exact double times or over an exact power of ten: a single
 * rounding, so the result is the correctly rounded double (Clinger's fast path). Every
 * other value goes to strtod, which rounds correctly too. */
#include "data/num.h"
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXACT_MANT (1ull << 53)

static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                   1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                   1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

typedef struct scan {
  uint64_t mant;  /* the first 19 significant digits */
  int sig;        /* significant digits seen (all of them) */
  int digits;     /* digits seen, zeros included */
  long exp10;     /* value = mant * 10^exp10 while sig <= 19 */
} scan;

static const char *digits_into(scan *s, const char *p, const char *end, int frac) {
  for (; p < end && (unsigned)(*p - '0') < 10; p++) {
    unsigned d = (unsigned)(*p - '0');
    s->digits++;
    if (s->sig == 0 && d == 0) { /* a leading zero: only its place counts */
      if (frac) s->exp10--;
      continue;
    }
    if (s->sig < 19) {
      s->mant = s->mant * 10 + d;
      if (frac) s->exp10--;
    } else if (!frac) {
      s->exp10++;
    }
    s->sig++;
  }
  return p;
}

/* The exponent part at p ([eE][+-]digits); returns the position after it or NULL. */
static const char *exponent(const char *p, const char *end, long *ev) {
  int neg = 0, nd = 0;
  long v = 0;
  if (++p < end && (*p == '-' || *p == '+')) neg = *p++ == '-';
  for (; p < end && (unsigned)(*p - '0') < 10; p++, nd++)
    if (v < 100000) v = v * 10 + (*p - '0');
  *ev = neg ? -v : v;
  return nd ? p : NULL;
}

/* strtod on a NUL-terminated copy with '.' as the decimal mark. */
static int exact(const char *p, const char *end, char dec, double *out) {
  size_t n = (size_t)(end - p);
  char small[128], *b = n < sizeof small ? small : malloc(n + 1);
  if (!b) return AB_NUM_RANGE;
  memcpy(b, p, n);
  b[n] = '\0';
  if (dec != '.') {
    char *d = memchr(b, dec, n);
    if (d) *d = '.';
  }
  errno = 0;
  double v = strtod(b, NULL);
  int bad = errno == ERANGE && isinf(v);
  if (b != small) free(b);
  if (bad || !isfinite(v)) return AB_NUM_RANGE;
  *out = v;
  return AB_NUM_OK;
}

int ab_num_parse(const char *p, const char *end, char dec, double *out) {
  const char *start = p;
  int neg = 0;
  if (p < end && (*p == '-' || *p == '+')) neg = *p++ == '-';
  scan s = {0, 0, 0, 0};
  p = digits_into(&s, p, end, 0);
  if (p < end && *p == dec) p = digits_into(&s, p + 1, end, 1);
  if (s.digits == 0) return AB_NUM_SYNTAX;
  long ev = 0;
  if (p < end && (*p == 'e' || *p == 'E') && !(p = exponent(p, end, &ev))) return AB_NUM_SYNTAX;
  if (p != end) return AB_NUM_SYNTAX;
  if (s.sig == 0) { *out = neg ? -0.0 : 0.0; return AB_NUM_OK; }
  long e10 = s.exp10 + ev;
  if (s.sig > 19 || s.mant > EXACT_MANT || e10 < -22 || e10 > 22) return exact(start, end, dec, out);
  double v = (double)s.mant;
  v = e10 < 0 ? v / pow10_tab[-e10] : v * pow10_tab[e10];
  *out = neg ? -v : v;
  return AB_NUM_OK;
}
