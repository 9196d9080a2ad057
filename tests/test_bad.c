/* The bad-input corpus (tests/data/bad/expect.tsv, made by tools/make_bad_corpus.py):
 * every malformed export or model file exits with its expected status and a one-line
 * message naming the file, writes nothing, and leaves an existing output untouched. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "testutil.h"

#define BAD_DIR ABGPU_SRC_DIR "/tests/data/bad"
#define GOOD_CSV ABGPU_SRC_DIR "/data/audiobooks_synth.csv"

/* Runs cmd ("train" with maybe more flags, or "predict") on input with an existing output
 * file; checks status, message and output. */
static void check_case(const char *input, const char *cmd, int status, const char *msg) {
  char dir[512], out[600];
  snprintf(dir, sizeof dir, "%s/case", tu_tmpdir());
  static tu_run r;
  tu_sh(&r, "rm -rf %s && mkdir -p %s", dir, dir);
  snprintf(out, sizeof out, "%s/out.file", dir);
  cr_assert_eq(tu_write(out, "keep me\n"), 0);
  if (strncmp(cmd, "train", 5) == 0)
    tu_sh(&r, "%s train --data %s --epochs 1 --quiet --out %s%s", ABGPU_BIN, input, out, cmd + 5);
  else
    tu_sh(&r, "%s predict --model %s --data %s --out %s", ABGPU_BIN, input, GOOD_CSV, out);
  cr_expect_eq(r.status, status, "%s: exit %d, expected %d: %s", input, r.status, status, r.out);
  char want[1024];
  snprintf(want, sizeof want, "abgpu: %s%s", input, msg);
  cr_expect(strncmp(r.out, want, strlen(want)) == 0, "%s:\n  expected: %s\n  got:      %s", input, want, r.out);
  cr_expect(strchr(r.out, '\n') == r.out + strlen(r.out) - 1, "%s: not one line: %s", input, r.out);
  tu_sh(&r, "cat %s; ls -A %s", out, dir);
  cr_expect_str_eq(r.out, "keep me\nout.file\n", "%s: output touched or temp file left: %s", input, r.out);
}

Test(bad_inputs, every_case_in_the_corpus) {
  FILE *f = fopen(BAD_DIR "/expect.tsv", "r");
  cr_assert_not_null(f, "cannot read " BAD_DIR "/expect.tsv");
  char line[2048];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    line[strcspn(line, "\n")] = '\0';
    char *name = strtok(line, "\t"), *cmd = strtok(NULL, "\t"), *st = strtok(NULL, "\t"),
         *msg = strtok(NULL, "");
    cr_assert(name && cmd && st && msg, "malformed expect.tsv line %d", n + 1);
    char input[1024];
    snprintf(input, sizeof input, "%s/%s", BAD_DIR, name);
    check_case(input, cmd, atoi(st), msg);
    n++;
  }
  fclose(f);
  cr_assert_geq(n, 30, "the corpus has %d cases, expected at least 30", n);
}

Test(bad_inputs, a_10_megabyte_line) {
  char input[512];
  snprintf(input, sizeof input, "%s/long_line.csv", tu_tmpdir());
  FILE *f = fopen(input, "w");
  cr_assert_not_null(f);
  fputs("7,1200,1200,8.5,8.5,1,9,0.5,600,0,10,1\n8,", f);
  for (int i = 0; i < 10 * 1024 * 1024; i++) fputc('1', f);
  fputs(",1,1,1,0,8.91,0,0,0,0,0\n", f);
  fclose(f);
  check_case(input, "train", 2, ":2:1: line longer than 65536 characters");
}

/* A real model, damaged three ways: truncated, one byte flipped, and cut to its header. */
Test(bad_inputs, damaged_model_files) {
  char model[512], bad[600];
  snprintf(model, sizeof model, "%s/good.abm", tu_tmpdir());
  static tu_run r;
  tu_sh(&r, "%s train --data synth:2000 --epochs 1 --quiet --out %s", ABGPU_BIN, model);
  cr_assert_eq(r.status, 0, "%s", r.out);
  snprintf(bad, sizeof bad, "%s/truncated.abm", tu_tmpdir());
  tu_sh(&r, "head -c 1000 %s > %s", model, bad);
  check_case(bad, "predict", 2, ": truncated");
  snprintf(bad, sizeof bad, "%s/flipped.abm", tu_tmpdir());
  tu_sh(&r, "cp %s %s && printf '\\377' | dd of=%s bs=1 seek=2000 conv=notrunc 2>/dev/null", model, bad, bad);
  check_case(bad, "predict", 2, ": corrupted model file");
  snprintf(bad, sizeof bad, "%s/header_only.abm", tu_tmpdir());
  tu_sh(&r, "head -c 32 %s > %s", model, bad);
  check_case(bad, "predict", 2, ": truncated");
}
