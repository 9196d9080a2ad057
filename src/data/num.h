/* num.h - the CSV reader's number parser (internal; tests and fuzzers check it against
 * strtod). */
#ifndef ABGPU_DATA_NUM_H
#define ABGPU_DATA_NUM_H
#include <stddef.h>

enum { AB_NUM_OK = 0, AB_NUM_SYNTAX = -1, AB_NUM_RANGE = -2 };

/* Parses [+-]digits[D digits][(e|E)[+-]digits] spanning exactly [p, end), D being the
 * decimal mark `dec` ('.' or ','), into the double strtod gives for it (correctly
 * rounded). No blanks, NaN, Inf or hex. Returns AB_NUM_OK, AB_NUM_SYNTAX, or
 * AB_NUM_RANGE when the value is beyond the double range. */
int ab_num_parse(const char *p, const char *end, char dec, double *out);

#endif
