/* The CSV reader's number parser against strtod (issue 17, item 4): random digit strings
 * with leading zeros, long fractions and exponents give the same double bit for bit, with
 * either decimal mark; values beyond the double range are a range error; and the reader
 * itself reads zero-padded values and ids right. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/table.h"
#include "data/num.h"
#include "testutil.h"

static unsigned next(unsigned *s) { return (unsigned)rand_r(s); }

static void digits(char *d, int *k, int n, unsigned *s, char first) {
  for (int i = 0; i < n; i++) d[(*k)++] = i == 0 && first ? first : (char)('0' + next(s) % 10);
}

/* [+-] zeros digits [. zeros digits] [e[+-]digits], at least one digit. */
static int random_number(char *d, unsigned *s) {
  int k = 0;
  if (next(s) % 4 == 0) d[k++] = next(s) % 2 ? '-' : '+';
  digits(d, &k, (int)(next(s) % 26), s, '0');
  digits(d, &k, (int)(next(s) % 26), s, 0);
  if (next(s) % 3) {
    d[k++] = '.';
    if (next(s) % 2) for (int i = (int)(next(s) % 31); i > 0; i--) d[k++] = '0';
    digits(d, &k, (int)(next(s) % 31), s, 0);
  }
  if (k == 0 || d[k - 1] == '+' || d[k - 1] == '-' || (d[k - 1] == '.' && (k == 1 || d[k - 2] < '0'))) d[k++] = '7';
  if (next(s) % 3 == 0) {
    d[k++] = next(s) % 2 ? 'e' : 'E';
    if (next(s) % 2) d[k++] = next(s) % 2 ? '-' : '+';
    int big = next(s) % 10 == 0;
    digits(d, &k, 1 + (int)(next(s) % (big ? 4 : 2)), s, 0);
  }
  d[k] = '\0';
  return k;
}

static void expect_like_strtod(const char *str, char dec) {
  char s[256];
  snprintf(s, sizeof s, "%s", str);
  double want = strtod(str, NULL), got = -12345;
  if (dec == ',') for (char *p = s; *p; p++) *p = *p == '.' ? ',' : *p;
  int rc = ab_num_parse(s, s + strlen(s), dec, &got);
  if (isinf(want)) {
    cr_assert_eq(rc, AB_NUM_RANGE, "'%s': %d, expected a range error (strtod: %g)", s, rc, want);
    return;
  }
  cr_assert_eq(rc, AB_NUM_OK, "'%s': status %d, strtod %.17g", s, rc, want);
  cr_assert_eq(memcmp(&got, &want, sizeof got), 0, "'%s': %.17g, strtod %.17g", s, got, want);
}

Test(num, random_digit_strings_match_strtod_bit_for_bit) {
  unsigned seed = 20261201;
  char d[256];
  for (int i = 0; i < 300000; i++) {
    random_number(d, &seed);
    expect_like_strtod(d, i % 2 ? ',' : '.');
  }
}

Test(num, the_reported_values) {
  static const char *const cases[] = {
      "00000000000000000000994", "000000000000001836766383", "0.000000000000000000001",
      "9007199254740993", "9007199254740992.5", "123456789012345678901234567890",
      "0.1", "1620", "19.73", "1e22", "1e23", "4.9e-324", "2.4703282292062327e-324",
      "1.7976931348623157e308", "-0", "5.", ".5", "000.000", "1e-400", "3.4028235e38"};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) expect_like_strtod(cases[i], '.');
  double v;
  cr_assert_eq(ab_num_parse("1e309", "1e309" + 5, '.', &v), AB_NUM_RANGE);
  cr_assert_eq(ab_num_parse("1e999", "1e999" + 5, '.', &v), AB_NUM_RANGE);
}

Test(num, malformed_numbers_are_refused) {
  static const char *const bad[] = {"", ".", "e5", "5e", "5e+", "1.2.3", "--1", "+-1", " 1",
                                    "1 ", "0x10", "inf", "nan", "1,5", "1e5.5", "12a", "-",
                                    "+", ".e1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    double v;
    cr_assert_eq(ab_num_parse(bad[i], bad[i] + strlen(bad[i]), '.', &v), AB_NUM_SYNTAX, "'%s'", bad[i]);
  }
  double v;
  cr_assert_eq(ab_num_parse("1.5", "1.5" + 3, ',', &v), AB_NUM_SYNTAX, "'.' with mark ','");
}

/* Through the reader: zero-padded values read as their value, and ids stay text (so a
 * zero-padded duplicate is found, and 0994 and 994 are two customers). */
Test(num, reader_reads_zero_padded_values_and_ids) {
  char path[512];
  snprintf(path, sizeof path, "%s/zeros.csv", tu_tmpdir());
  cr_assert_eq(tu_write(path, "00000000000000000000994,000000000000001836766383,1,1,1,0,8,"
                              "0.000000000000000000001,0,0,0,1\n"
                              "994,1,1,1,1,0,8,0,0,0,0,0\n"
                              "0994,1,1,1,1,0,8,0,0,0,0,1\n"), 0);
  ab_table t;
  ab_err e = {0};
  ab_csv_opts o = ab_csv_opts_default();
  cr_assert_eq(ab_csv_read(&t, path, &o, &e), 0, "%s", e.msg);
  cr_assert_eq(t.x[0], 1836766383.0f);
  cr_assert_eq(t.x[6], 1e-21f);
  cr_assert_str_eq(ab_ids_get(&t.ids, 0), "00000000000000000000994");
  cr_assert_str_eq(ab_ids_get(&t.ids, 2), "0994");
  ab_table_free(&t);
  cr_assert_eq(tu_write(path, "00000000000000000000994,1,1,1,1,0,8,0,0,0,0,1\n"
                              "7,1,1,1,1,0,8,0,0,0,0,0\n"
                              "00000000000000000000994,1,1,1,1,0,8,0,0,0,0,0\n"), 0);
  cr_assert_neq(ab_csv_read(&t, path, &o, &e), 0);
  cr_assert(strstr(e.msg, "zeros.csv:3:1: duplicate customer id 00000000000000000000994 (first on line 1)"),
            "%s", e.msg);
}
