/* json.h - the one JSON writer's pieces every command uses: strings escaped (and made
 * valid UTF-8), numbers that are always valid JSON. */
#ifndef ABGPU_JSON_H
#define ABGPU_JSON_H
#include <stdio.h>

/* A number as JSON: %.6f (never "-0.000000"), or null when not finite. buf: at least 32
 * bytes. */
const char *ab_json_num(char *buf, double v);
/* The same with `decimals` digits after the point (0..17). */
const char *ab_json_fixed(char *buf, double v, int decimals);
/* s as a JSON string with its quotes: '"' and '\\' escaped, control characters and DEL as
 * \n, \t, ... or \u00XX, bytes that are not valid UTF-8 as \ufffd (so that any path,
 * whatever its bytes, gives valid JSON). */
void ab_json_str(FILE *f, const char *s);

#endif
