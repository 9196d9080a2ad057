/* JSON strings and numbers (json.h). */
#include "abgpu/json.h"
#include <math.h>
#include <string.h>

const char *ab_json_fixed(char *buf, double v, int decimals) {
  if (!isfinite(v)) return strcpy(buf, "null");
  if (fabs(v) >= 1e15) snprintf(buf, 32, "%.17g", v); /* %f would not fit in 32 bytes */
  else snprintf(buf, 32, "%.*f", decimals < 0 ? 0 : decimals > 17 ? 17 : decimals, v);
  if (buf[0] == '-' && strspn(buf + 1, "0.") == strlen(buf + 1)) memmove(buf, buf + 1, strlen(buf));
  return buf;
}

const char *ab_json_num(char *buf, double v) { return ab_json_fixed(buf, v, 6); }

/* Bytes of the valid UTF-8 sequence at p (1..4), 0 when it is not one (overlong forms,
 * surrogates and code points past U+10FFFF included). */
static int utf8_len(const unsigned char *p) {
  unsigned c = p[0];
  int n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3
        : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  for (int i = 1; i < n; i++)
    if ((p[i] & 0xC0) != 0x80) return 0;
  if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0) ||
      (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
    return 0;
  return n;
}

/* The two-character escape of c ('n' for a newline, ...), 0 when it has none. */
static char short_escape(unsigned char c) {
  switch (c) {
    case '"': return '"';
    case '\\': return '\\';
    case '\b': return 'b';
    case '\f': return 'f';
    case '\n': return 'n';
    case '\r': return 'r';
    case '\t': return 't';
    default: return 0;
  }
}

void ab_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p;) {
    int n = utf8_len(p);
    char esc = short_escape(*p);
    if (esc) fprintf(f, "\\%c", esc);
    else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
    else if (n == 0) fputs("\\ufffd", f);
    else fwrite(p, 1, (size_t)n, f);
    p += n ? n : 1;
  }
  fputc('"', f);
}
