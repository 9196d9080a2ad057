/* Sweeps: the space parser (and its line-numbered errors), grid and random expansion,
 * grouping into launches, the leaderboard file, --resume, --shard + merge, folds, the
 * ensemble model, the log1p transform when scoring raw rows, MPI when built with it, and
 * the CLI end to end. Synthetic data, a few epochs: fast. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/model.h"
#include "abgpu/prep.h"
#include "abgpu/source.h"
#include "abgpu/sweep.h"
#include "abgpu/synth.h"
#include "testutil.h"

#define DATA "synth:3000"

static ab_err E;

/* ---- the space ---- */

static void parse_ok(ab_space *sp, const char *text) {
  ab_space_init(sp);
  cr_assert_eq(ab_space_parse(sp, text, strlen(text), "s.txt", &E), AB_OK, "%s", E.msg);
}

Test(space, parses_values_comments_and_canonical_forms) {
  ab_space sp;
  parse_ok(&sp, "# a comment line\r\n"
                "hidden = 100,100 200,200 64   # three networks\r\n"
                "act=relu tanh\n\n   \n"
                "lr = 1e-3, 0.003\n"
                "wd = 0 1E-4\n"
                "transform = none log1p\n"
                "balance = first\n"
                "seed = 1 2 3\n");
  cr_assert_eq(sp.nval[AB_DIM_HIDDEN], 3);
  cr_assert_str_eq(sp.val[AB_DIM_HIDDEN][1], "200,200");
  cr_assert_eq(sp.nval[AB_DIM_ACT], 2);
  cr_assert_eq(sp.nval[AB_DIM_LR], 2);
  cr_assert_str_eq(sp.val[AB_DIM_LR][0], "0.001");
  cr_assert_str_eq(sp.val[AB_DIM_WD][1], "0.0001");
  cr_assert_eq(sp.nval[AB_DIM_BATCH], 0, "a dimension not given takes train's default");
  cr_assert_eq(ab_space_size(&sp), 3 * 2 * 2 * 2 * 2 * 1 * 3);
  /* --set replaces a dimension; commas separate scalar values */
  cr_assert_eq(ab_space_set(&sp, "lr=0.01,0.02,0.03", &E), AB_OK, "%s", E.msg);
  cr_assert_eq(sp.nval[AB_DIM_LR], 3);
  cr_assert_eq(ab_space_set(&sp, "hidden=8,8", &E), AB_OK, "%s", E.msg);
  cr_assert_eq(sp.nval[AB_DIM_HIDDEN], 1, "commas belong to a hidden value");
  cr_assert_eq(ab_space_set(&sp, "lr=fast", &E), AB_EUSAGE);
  ab_space_free(&sp);
}

/* Issue 17 item 8: values that mean the same configuration are one key; the repeats are
 * dropped with a note, and no value prints as -0. */
Test(space, equal_values_are_one_key_and_dropped_with_a_note) {
  static const struct { const char *text; ab_dim d; int n; const char *vals, *note; } cases[] = {
      {"hidden = 16 +16 016\n", AB_DIM_HIDDEN, 1, "16", "s.txt:1: hidden: '+16' is 16 again, dropped"},
      {"hidden = 16,016 16,16 8\n", AB_DIM_HIDDEN, 2, "16,16 8", "'16,16' is 16,16 again"},
      {"wd = 0 -0 0.0\n", AB_DIM_WD, 1, "0", "wd: '-0' is 0 again"},
      {"lr = 0.1 1e-1 0.10\n", AB_DIM_LR, 1, "0.1", "lr: '1e-1' is 0.1 again"},
      {"batch = 100 +100 0100\n", AB_DIM_BATCH, 1, "100", "batch: '+100' is 100 again"},
      {"seed = 7 007\n", AB_DIM_SEED, 1, "7", "seed: '007' is 7 again"},
      {"act = relu relu\n", AB_DIM_ACT, 1, "relu", "act: 'relu' is relu again"},
      {"lr = 0.1 0.2\n", AB_DIM_LR, 2, "0.1 0.2", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ab_space sp;
    parse_ok(&sp, cases[i].text);
    char got[256] = "";
    for (int k = 0; k < sp.nval[cases[i].d]; k++)
      snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", k ? " " : "", sp.val[cases[i].d][k]);
    cr_expect_eq(sp.nval[cases[i].d], cases[i].n, "%s: %d values (%s)", cases[i].text,
                 sp.nval[cases[i].d], got);
    cr_expect_str_eq(got, cases[i].vals, "%s", cases[i].text);
    cr_expect(cases[i].note[0] ? strstr(sp.note, cases[i].note) != NULL : sp.note[0] == '\0',
              "%s: note '%s', expected '%s'", cases[i].text, sp.note, cases[i].note);
    ab_space_free(&sp);
  }
  /* the whole sweep: 3 x 3 spellings of one network train it once, under one key */
  tu_run r;
  tu_sh(&r, "cd %s && %s sweep --data %s --set 'hidden=16 +16 016' --set 'wd=0 -0' --set epochs=1 "
            "--leaderboard canon.csv --finalists 1 2>&1", tu_tmpdir(), ABGPU_BIN, DATA);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_expect(strstr(r.out, "1 configurations, 1 to train here"), "%s", r.out);
  cr_expect(strstr(r.out, "'+16' is 16 again, dropped"), "the note must say so: %s", r.out);
  cr_expect(!strstr(r.out, "--wd -0") && !strstr(r.out, "wd=-0"), "no -0 in the output: %s", r.out);
}

static void expect_bad(const char *text, const char *want) {
  ab_space sp;
  ab_space_init(&sp);
  int rc = ab_space_parse(&sp, text, strlen(text), "s.txt", &E);
  cr_expect_eq(rc, AB_EINPUT, "accepted: %s", text);
  cr_expect(strstr(E.msg, want), "'%s': expected '%s' in '%s'", text, want, E.msg);
  cr_expect(strchr(E.msg, '\n') == NULL, "not one line: %s", E.msg);
  ab_space_free(&sp);
}

Test(space, bad_lines_name_the_line) {
  expect_bad("lr = 0.001\nlearning = 3\n", "s.txt:2: unknown dimension 'learning'");
  expect_bad("\n\nlr 0.001\n", "s.txt:3: expected 'name = values'");
  expect_bad("lr = 0.x\n", "s.txt:1: lr: '0.x' is not a learning rate");
  expect_bad("lr = 0\n", "is not a learning rate");
  /* found by fuzz_space: 3e-70 is 0 as a float, and its leaderboard row did not parse back */
  expect_bad("lr = 0.001 3e-70\n", "s.txt:1: lr: '3e-70' is not a learning rate in [1e-9, 10]");
  expect_bad("hidden = 100,,100\n", "s.txt:1: hidden: '100,,100' is not a list of layer widths");
  expect_bad("hidden = 1,2,3,4,5,6,7,8\n", "at most 7 layers");
  expect_bad("act = relu,swish\n", "act: 'relu,swish'");
  expect_bad("batch = 0\n", "batch size");
  expect_bad("epochs = -1\n", "epoch count");
  expect_bad("transform = sqrt\n", "'sqrt' is not none or a list of log1p, ple:N");
  expect_bad("transform = log1p,log1p\n", "'log1p,log1p' is not none or a list");
  expect_bad("transform = ple:1\n", "'ple:1' is not none");
  expect_bad("batch_order = sorted\n", "batch_order: 'sorted' is not shuffle or fixed");
  expect_bad("lr_schedule = step\n", "lr_schedule: 'step' is not none, plateau or cosine");
  expect_bad("balance = half\n", "random, first or none");
  expect_bad("seed = -4\n", "is not a seed");
  expect_bad("lr =\n", "s.txt:1: lr: no values");
  expect_bad("# x\nlr = 0.1\nbatch = 5\nlr = 0.2\n", "s.txt:4: lr given twice (first on line 2)");
  ab_space sp;
  ab_space_init(&sp);
  cr_assert_eq(ab_space_parse(&sp, "lr = 0.1\0\n", 10, "s.txt", &E), AB_EINPUT);
  cr_assert(strstr(E.msg, "s.txt:1: line too long or holds a NUL byte"), "%s", E.msg);
  ab_space_free(&sp);
}

Test(space, bad_space_file_exits_2_with_the_line) {
  tu_run r;
  char path[600];
  snprintf(path, sizeof path, "%s/bad_space.txt", tu_tmpdir());
  cr_assert_eq(tu_write(path, "hidden = 16\nlr = 0.001 fast\n"), 0);
  tu_sh(&r, "%s sweep --data %s --space %s --leaderboard %s/never.csv", ABGPU_BIN, DATA, path,
        tu_tmpdir());
  cr_assert_eq(r.status, 2, "%s", r.out);
  cr_assert(strstr(r.out, "bad_space.txt:2: lr: 'fast' is not a learning rate"), "%s", r.out);
  tu_sh(&r, "%s sweep --data %s --set 'act=relu,sigmoid' --set hidden=16 --leaderboard %s/never.csv",
        ABGPU_BIN, DATA, tu_tmpdir());
  cr_assert_eq(r.status, 2, "%s", r.out);
  cr_assert(strstr(r.out, "hidden=16 act=relu,sigmoid"), "%s", r.out);
  snprintf(path, sizeof path, "%s/never.csv", tu_tmpdir());
  cr_assert(!tu_exists(path), "a sweep that failed before any row wrote %s", path);
}

/* ---- expansion and grouping ---- */

static void expand(ab_sweep_cfg **c, size_t *n, const char *text, size_t random_n, uint64_t seed) {
  ab_space sp;
  parse_ok(&sp, text);
  cr_assert_eq(ab_space_expand(c, n, &sp, random_n, seed, &E), AB_OK, "%s", E.msg);
  ab_space_free(&sp);
}

static const char *SPACE = "hidden = 16 32 16,16\nact = relu tanh\nlr = 0.001 0.003 0.01\n"
                           "batch = 50 100\nseed = 1 2\ntransform = none log1p\n";

static int distinct(const ab_sweep_cfg *c, size_t n) {
  char a[AB_SWEEP_KEY_LEN], b[AB_SWEEP_KEY_LEN];
  for (size_t i = 0; i < n; i++)
    for (size_t j = i + 1; j < n; j++) {
      ab_sweep_key(&c[i], a, sizeof a);
      ab_sweep_key(&c[j], b, sizeof b);
      if (!strcmp(a, b)) return 0;
    }
  return 1;
}

Test(expand, grid_and_random_counts_and_determinism) {
  ab_sweep_cfg *g, *r1, *r2, *r3, *all;
  size_t ng, n1, n2, n3, nall;
  expand(&g, &ng, SPACE, 0, 1);
  cr_assert_eq(ng, 3 * 2 * 3 * 2 * 2 * 2);
  cr_assert(distinct(g, ng));
  cr_assert_str_eq(g[0].hidden, "16");
  cr_assert_eq(g[1].seed, 2, "the last dimension (seed) varies fastest");
  expand(&r1, &n1, SPACE, 20, 7);
  expand(&r2, &n2, SPACE, 20, 7);
  expand(&r3, &n3, SPACE, 20, 8);
  cr_assert_eq(n1, 20);
  cr_assert(distinct(r1, n1));
  cr_assert(memcmp(r1, r2, n1 * sizeof *r1) == 0, "same seed, same sample");
  cr_assert(memcmp(r1, r3, n1 * sizeof *r1) != 0, "another seed, another sample");
  expand(&all, &nall, SPACE, 100000, 7);
  cr_assert_eq(nall, ng, "--random N beyond the grid gives the grid");
  free(g); free(r1); free(r2); free(r3); free(all);
}

Test(expand, activations_that_do_not_fit_the_layers_are_left_out) {
  ab_sweep_cfg *c;
  size_t n;
  expand(&c, &n, "hidden = 8 16,16 4,4,4\nact = relu,sigmoid tanh\nseed = 1 2\n", 0, 1);
  cr_assert_eq(n, 8, "8/tanh, 16,16/both, 4,4,4/tanh: 4 shapes x 2 seeds");
  for (size_t i = 0; i < n; i++) {
    ab_train_cfg t;
    cr_assert_eq(ab_sweep_train_cfg(&t, &c[i], &E), AB_OK, "%s", E.msg);
  }
  free(c);
  expand(&c, &n, "hidden = 8 16,16 4,4,4\nseed = 1 2\n", 3, 5);
  cr_assert_eq(n, 3);
  free(c);
  ab_space sp;
  parse_ok(&sp, "hidden = 8 4,4,4\nact = relu,sigmoid\n");
  cr_assert_eq(ab_space_size(&sp), 0);
  cr_assert_eq(ab_space_expand(&c, &n, &sp, 0, 1, &E), AB_EUSAGE);
  cr_assert(strstr(E.msg, "hidden=8 act=relu,sigmoid"), "%s", E.msg);
  ab_space_free(&sp);
}

Test(expand, random_draws_from_a_huge_space) {
  ab_sweep_cfg *c;
  size_t n;
  expand(&c, &n, "lr = 0.001 0.002 0.003 0.004 0.005 0.006 0.007 0.008\n"
                 "seed = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\n"
                 "epochs = 1 2 3 4 5 6 7 8 9 10\npatience = 0 1 2 3 4 5 6 7 8 9\n"
                 "batch = 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n"
                 "wd = 0 0.1 0.2 0.3 0.4 0.5 0.6 0.7\n", 50, 3);
  cr_assert_eq(n, 50);
  cr_assert(distinct(c, n));
  free(c);
  ab_space sp;
  parse_ok(&sp, "seed = 1 2 3 4 5 6 7 8 9 10\nepochs = 1 2 3 4 5 6 7 8 9 10\n"
                "patience = 1 2 3 4 5 6 7 8 9 10\nbatch = 1 2 3 4 5 6 7 8 9 10\n"
                "lr = 1 2 3 4 5 6 7 8 9 10\nwd = 0 1 2 3 4 5 6 7 8 9\nhidden = 1 2 3 4 5 6 7 8 9 10\n");
  cr_assert_eq(ab_space_expand(&c, &n, &sp, 0, 1, &E), AB_EUSAGE, "a 1e7 grid must be refused");
  cr_assert(strstr(E.msg, "--random"), "%s", E.msg);
  ab_space_free(&sp);
}

Test(group, launches_hold_compatible_configurations) {
  ab_sweep_cfg *c;
  size_t n, nl, *order;
  ab_launch *l;
  expand(&c, &n, SPACE, 0, 1);
  order = malloc(n * sizeof *order);
  cr_assert_eq(ab_sweep_group(order, &l, &nl, c, n, 5, &E), AB_OK, "%s", E.msg);
  /* 3 hidden x 2 act x 2 batch x 2 transform = 24 shapes of 6 configurations each */
  cr_assert_eq(nl, 48, "24 groups of 6, each cut into two launches of 3");
  int *seen = calloc(n, sizeof *seen);
  size_t covered = 0;
  for (size_t i = 0; i < nl; i++) {
    cr_assert(l[i].n >= 1 && l[i].n <= 5);
    cr_assert_eq(l[i].first, covered, "launches tile the order");
    covered += l[i].n;
    for (size_t k = 0; k < l[i].n; k++) {
      size_t j = order[l[i].first + k];
      seen[j]++;
      cr_assert(ab_sweep_same_launch(&c[order[l[i].first]], &c[j]));
    }
  }
  cr_assert_eq(covered, n);
  for (size_t j = 0; j < n; j++) cr_assert_eq(seen[j], 1);
  /* the data changes once: all 'none' launches, then all 'log1p' ones */
  int changes = 0;
  for (size_t i = 1; i < nl; i++)
    changes += !ab_sweep_same_data(&c[order[l[i].first]], &c[order[l[i - 1].first]]);
  cr_assert_eq(changes, 1);
  free(seen); free(order); free(l); free(c);
}

/* ---- the leaderboard ---- */

static ab_lb_row row_of(const char *hidden, float lr, double loss, double acc) {
  ab_lb_row r;
  memset(&r, 0, sizeof r);
  r.cfg = ab_sweep_cfg_default();
  snprintf(r.cfg.hidden, sizeof r.cfg.hidden, "%s", hidden);
  r.cfg.lr = lr;
  r.val_loss = loss;
  r.val_acc = acc;
  r.val_auc = 0.9 + acc / 100;
  r.val_loss_sd = 0.0123456789;
  r.epochs_run = 12.5;
  r.best_epoch = 10;
  r.id.data_hash = 0xfeedbeef12345678ULL;
  r.id.split[0] = 80, r.id.split[1] = 10, r.id.split[2] = 10;
  r.id.seed = 9;
  r.id.folds = 3;
  r.launch_models = 4;
  r.seconds = 1.25;
  snprintf(r.device, sizeof r.device, "opencl:0 a \"quoted\", device");
  return r;
}

Test(leaderboard, csv_round_trip_sort_and_errors) {
  ab_leaderboard lb, back;
  ab_lb_init(&lb);
  ab_lb_row rows[4] = {row_of("64,64", 0.001f, 0.40, 0.80), row_of("8", 0.003f, 0.30, 0.82),
                       row_of("8", 0.001f, 0.30, 0.81), row_of("16", 0.01f, NAN, NAN)};
  rows[3].status = AB_ROW_DIVERGED;
  for (int i = 0; i < 4; i++) cr_assert_eq(ab_lb_add(&lb, &rows[i], &E), AB_OK);
  ab_lb_sort(&lb, AB_RANK_LOSS);
  cr_assert_eq(lb.row[0].cfg.lr, 0.001f, "equal loss: the key decides");
  cr_assert_eq(lb.row[3].status, AB_ROW_DIVERGED, "diverged rows last");
  cr_assert_eq(ab_lb_find(&lb, &rows[0].cfg), 2);
  char path[600];
  snprintf(path, sizeof path, "%s/lb.csv", tu_tmpdir());
  cr_assert_eq(ab_lb_write_csv(&lb, path, &E), AB_OK, "%s", E.msg);
  ab_lb_init(&back);
  cr_assert_eq(ab_lb_read_csv(&back, path, &E), AB_OK, "%s", E.msg);
  cr_assert_eq(back.n, 4);
  for (size_t i = 0; i < 4; i++) {
    char a[AB_SWEEP_KEY_LEN], b[AB_SWEEP_KEY_LEN];
    ab_sweep_key(&lb.row[i].cfg, a, sizeof a);
    ab_sweep_key(&back.row[i].cfg, b, sizeof b);
    cr_assert_str_eq(a, b);
    cr_assert(lb.row[i].val_loss == back.row[i].val_loss ||
              (isnan(lb.row[i].val_loss) && isnan(back.row[i].val_loss)));
    cr_assert_eq(lb.row[i].val_loss_sd, back.row[i].val_loss_sd, "rounded the same in memory");
    cr_assert(ab_sweep_id_eq(&lb.row[i].id, &back.row[i].id));
    cr_assert_str_eq(back.row[i].device, "opencl:0 a 'quoted', device");
  }
  ab_lb_sort(&back, AB_RANK_ACC);
  cr_assert_eq(back.row[0].cfg.lr, 0.003f);
  /* damaged files name the line */
  ab_leaderboard bad;
  ab_lb_init(&bad);
  cr_assert_eq(ab_lb_parse_csv(&bad, "rank,x\n", 7, "b.csv", &E), AB_EINPUT);
  cr_assert(strstr(E.msg, "b.csv:1: not an abgpu sweep leaderboard"), "%s", E.msg);
  ab_lb_free(&bad);
  FILE *f = fopen(path, "a");
  fprintf(f, "5,\"8\",\"relu\",0.001,100,0,100,0,none,random,shuffle,none,0,0,1,ok,0.3,0,nope,0,"
             "0.9,0,3,2,3,\"80,10,10\",9,feedbeef12345678,1,0.1,\"cpu\"\n");
  fclose(f);
  ab_lb_init(&bad);
  cr_assert_eq(ab_lb_read_csv(&bad, path, &E), AB_EINPUT);
  cr_assert(strstr(E.msg, "lb.csv:6: column 19 (val_acc) is not valid"), "%s", E.msg);
  ab_lb_free(&bad);
  ab_lb_free(&lb);
  ab_lb_free(&back);
}

/* One leaderboard file (header and one row written by ab_lb_write_csv_stream) with the
 * field of column `col` (by name; NULL: none) replaced by `val`, into text. */
static size_t lb_text_with(char *text, size_t cap, const ab_lb_row *row, const char *col,
                           const char *val) {
  ab_leaderboard lb;
  ab_lb_init(&lb);
  cr_assert_eq(ab_lb_add(&lb, row, &E), AB_OK);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ab_lb_write_csv_stream(&lb, f);
  fclose(f);
  ab_lb_free(&lb);
  char *nl = strchr(buf, '\n');
  size_t hlen = (size_t)(nl - buf) + 1, k = 0;
  int want = -1, c = 0;
  for (const char *p = buf; col && p < nl; c++) { /* the column's index in the header */
    size_t n = strcspn(p, ",\n");
    if (n == strlen(col) && !strncmp(p, col, n)) want = c;
    p += n + 1;
  }
  cr_assert(!col || want >= 0, "no column %s", col);
  memcpy(text, buf, hlen);
  k = hlen;
  c = 0;
  for (const char *p = nl + 1; *p && *p != '\n'; c++) { /* the row, field by field */
    const char *q = *p == '"' ? strchr(p + 1, '"') + 1 : p;
    size_t n = (size_t)(q - p) + strcspn(q, ",\n");
    k += (size_t)snprintf(text + k, cap - k, "%s%.*s", c ? "," : "", c == want ? (int)strlen(val)
                          : (int)n, c == want ? val : p);
    p += n + (p[n] == ',');
  }
  text[k++] = '\n';
  free(buf);
  return k;
}

/* Issue 17 item 7: a row whose figures cannot come from a run is refused with its line. */
Test(leaderboard, impossible_figures_are_refused_with_the_line) {
  ab_lb_row good = row_of("8", 0.001f, 0.3, 0.8);
  good.id.folds = 0;
  good.val_loss_sd = 0;
  good.epochs_run = 3, good.best_epoch = 2; /* the configuration's epochs: 100 */
  static const struct { const char *col, *val, *msg; } cases[] = {
      {NULL, NULL, NULL},                                           /* the good row */
      {"val_loss", "-5", "(val_loss) is -5, expected a finite loss >= 0"},
      {"val_loss", "inf", "(val_loss) is inf"},
      {"val_loss", "nan", "(val_loss) is nan"},
      {"val_loss_sd", "-0.1", "(val_loss_sd) is -0.1"},
      {"val_acc", "7.5", "(val_acc) is 7.5, expected an accuracy in [0, 1]"},
      {"val_acc", "-0.01", "(val_acc) is -0.01"},
      {"val_auc", "1.5", "(val_auc) is 1.5, expected a ROC AUC in [0, 1]"},
      {"val_auc", "nan", NULL},                                     /* one class: no AUC */
      {"epochs_run", "101", "(epochs_run) is 101, expected an epoch count within"},
      {"epochs_run", "0", "(epochs_run) is 0"},
      {"best_epoch", "5", "(best_epoch) is 5, expected a best epoch no later than epochs_run"},
      {"best_epoch", "-1", "(best_epoch) is -1"},
      {"seconds", "-1", "(seconds) is -1"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[4096];
    size_t k = lb_text_with(text, sizeof text, &good, cases[i].col, cases[i].val);
    ab_leaderboard lb;
    ab_lb_init(&lb);
    int rc = ab_lb_parse_csv(&lb, text, k, "lb.csv", &E);
    if (!cases[i].msg) {
      cr_expect_eq(rc, AB_OK, "case %zu refused: %s\n%s", i, E.msg, text);
    } else {
      cr_expect_eq(rc, AB_EINPUT, "case %zu (%s %s) accepted", i, cases[i].col, cases[i].val);
      cr_expect(strstr(E.msg, "lb.csv:2: column ") && strstr(E.msg, cases[i].msg),
                "case %zu: '%s' lacks 'lb.csv:2: column N %s'", i, E.msg, cases[i].msg);
    }
    ab_lb_free(&lb);
  }
  /* a diverged row keeps its NaNs */
  ab_lb_row div = good;
  div.status = AB_ROW_DIVERGED;
  div.val_loss = div.val_acc = div.val_auc = div.epochs_run = div.best_epoch = NAN;
  char text[4096];
  size_t k = lb_text_with(text, sizeof text, &div, NULL, NULL);
  ab_leaderboard lb;
  ab_lb_init(&lb);
  cr_expect_eq(ab_lb_parse_csv(&lb, text, k, "lb.csv", &E), AB_OK, "%s", E.msg);
  ab_lb_free(&lb);
}

/* ---- the CLI ---- */

static const char *SMALL = "hidden = 8 16,16\nact = relu tanh\nlr = 0.003 0.01\nepochs = 4\n"
                           "patience = 1\nbatch = 50\nseed = 1 2\n";

static const char *dir_for(const char *name) {
  static char d[600];
  snprintf(d, sizeof d, "%s/%s", tu_tmpdir(), name);
  tu_run r;
  tu_sh(&r, "mkdir -p %s", d);
  return d;
}

static void write_space(const char *dir, const char *text) {
  char p[700];
  snprintf(p, sizeof p, "%s/space.txt", dir);
  cr_assert_eq(tu_write(p, text), 0);
}

/* A fresh folder `name` with the SMALL space, and `abgpu sweep ... ARGS` run there, which
 * must succeed. Returns the folder. */
static const char *small_sweep(tu_run *r, const char *name, const char *args) {
  const char *d = dir_for(name);
  write_space(d, SMALL);
  tu_sh(r, "cd %s && %s sweep --data %s --space space.txt %s", d, ABGPU_BIN, DATA, args);
  cr_assert_eq(r->status, 0, "%s", r->out);
  return d;
}

/* Equal in everything but where and how fast each row was trained. */
static void expect_same_rows(const ab_leaderboard *a, const ab_leaderboard *b) {
  cr_assert_eq(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    ab_lb_row x = a->row[i], y = b->row[i];
    x.launch_models = y.launch_models = 0;
    x.seconds = y.seconds = 0;
    memset(x.device, 0, sizeof x.device);
    memset(y.device, 0, sizeof y.device);
    cr_assert(memcmp(&x, &y, sizeof x) == 0, "row %zu differs", i + 1);
  }
}

Test(sweep_cli, end_to_end_validation_only_ranking_and_a_retrainable_winner, .timeout = 60) {
  tu_run r;
  const char *d = small_sweep(&r, "e2e", "--out best.abm --finalists 3");
  cr_assert(strstr(r.out, "validation leaderboard"), "%s", r.out);
  cr_assert(strstr(r.out, "measured once on the test split"), "%s", r.out);
  cr_assert(strstr(r.out, "16 configurations, 16 to train here"), "%s", r.out);
  ab_leaderboard lb;
  tu_load_lb(&lb, d, "sweep.csv");
  cr_assert_eq(lb.n, 16);
  cr_assert_eq(lb.row[0].launch_models, 4, "2 lr x 2 seeds per shape in one launch");
  for (size_t i = 1; i < lb.n; i++) cr_assert_leq(lb.row[i - 1].val_loss, lb.row[i].val_loss);
  /* the JSON: leaderboard figures are validation ones, test figures only for finalists */
  char p[700];
  snprintf(p, sizeof p, "%s/sweep.json", d);
  static tu_run j;
  tu_sh(&j, "cat %s", p);
  cr_assert(strstr(j.out, "\"leaderboard\": ["), "%s", j.out);
  cr_assert(strstr(j.out, "\"finalists\": ["), "%s", j.out);
  char *fin = strstr(j.out, "\"finalists\""), *test = strstr(j.out, "\"test\"");
  cr_assert(fin && test && test > fin, "a test figure before the finalists: %s", j.out);
  /* the winner is a plain train command: the same validation figures */
  ab_model m;
  snprintf(p, sizeof p, "%s/best.abm", d);
  cr_assert_eq(ab_model_load(&m, p, &E), AB_OK, "%s", E.msg);
  cr_assert_float_eq(m.val.accuracy, lb.row[0].val_acc, 1e-6);
  char flags[512];
  ab_sweep_flags(&lb.row[0].cfg, flags, sizeof flags);
  static tu_run t;
  tu_sh(&t, "%s train --data %s %s --seed 1 --quiet --json 2>/dev/null", ABGPU_BIN, DATA, flags);
  cr_assert_eq(t.status, 0, "%s", t.out);
  if (lb.row[0].cfg.seed == 1)
    cr_assert_float_eq(tu_json_num(t.out, "val_accuracy"), lb.row[0].val_acc, 1e-6, "%s", t.out);
  cr_log_info("winner %s: validation accuracy %.4f, test accuracy %.4f", flags,
              m.val.accuracy, m.test.accuracy);
  ab_model_free(&m);
  ab_lb_free(&lb);
}

Test(sweep_cli, resume_skips_finished_configurations, .timeout = 60) {
  const char *d = dir_for("resume");
  write_space(d, "hidden = 8\nlr = 0.003 0.01\nepochs = 3\nbatch = 50\n");
  tu_run r;
  tu_sh(&r, "cd %s && %s sweep --data %s --space space.txt --finalists 1", d, ABGPU_BIN, DATA);
  cr_assert_eq(r.status, 0, "%s", r.out);
  ab_leaderboard a, b;
  tu_load_lb(&a, d, "sweep.csv");
  cr_assert_eq(a.n, 2);
  tu_sh(&r, "cd %s && %s sweep --data %s --space space.txt --set lr=0.003,0.01,0.03 --resume "
            "--finalists 1", d, ABGPU_BIN, DATA);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "3 configurations, 1 to train here (2 already in sweep.csv)"), "%s", r.out);
  tu_load_lb(&b, d, "sweep.csv");
  cr_assert_eq(b.n, 3);
  for (size_t i = 0; i < a.n; i++) {
    long k = ab_lb_find(&b, &a.row[i].cfg);
    cr_assert_geq(k, 0);
    cr_assert_eq(b.row[k].seconds, a.row[i].seconds, "a finished row was trained again");
  }
  /* another split seed is another sweep: refused */
  tu_sh(&r, "cd %s && %s sweep --data %s --space space.txt --resume --seed 2", d, ABGPU_BIN, DATA);
  cr_assert_eq(r.status, 2, "%s", r.out);
  cr_assert(strstr(r.out, "holds a sweep of other data"), "%s", r.out);
  ab_lb_free(&a);
  ab_lb_free(&b);
}

Test(sweep_cli, ctrl_c_stops_after_the_launch_with_the_leaderboard_written, .timeout = 60) {
  const char *d = dir_for("sigint");
  /* raw balanced inputs (the old defaults) keep each launch a few seconds, also under ASan */
  write_space(d, "hidden = 32,32\nlr = 0.001 0.002 0.003 0.004 0.005 0.006\nepochs = 80\n"
                 "patience = 80\nbatch = 10\ntransform = none\nbalance = random\n");
  tu_run r;
  tu_sh(&r, "cd %s && (%s sweep --data %s --space space.txt --parallel 1 --device ref "
            "--quiet & pid=$!; while [ ! -s sweep.csv ]; do sleep 0.02; done; kill -INT $pid; "
            "wait $pid; echo exit=$?)", d, ABGPU_BIN, DATA);
  cr_assert(strstr(r.out, "exit=130"), "%s", r.out);
  cr_assert(strstr(r.out, "continue with --resume"), "%s", r.out);
  ab_leaderboard a;
  tu_load_lb(&a, d, "sweep.csv");
  cr_assert(a.n >= 1 && a.n < 6, "%zu rows", a.n);
  cr_log_info("interrupted with %zu of 6 configurations written", a.n);
  ab_lb_free(&a);
}

Test(sweep_cli, shards_merged_equal_the_whole_run, .timeout = 60) {
  const char *d = dir_for("shards");
  write_space(d, SMALL);
  tu_run r;
  tu_sh(&r, "cd %s && %s sweep --data %s --space space.txt --leaderboard full.csv --finalists 1 "
            "&& %s sweep --data %s --space space.txt --shard 1/3 --leaderboard s1.csv --parallel 2 "
            "&& %s sweep --data %s --space space.txt --shard 2/3 --leaderboard s2.csv "
            "&& %s sweep --data %s --space space.txt --shard 3/3 --leaderboard s3.csv "
            "&& %s sweep merge s2.csv s3.csv s1.csv s1.csv --out merged.csv",
        d, ABGPU_BIN, DATA, ABGPU_BIN, DATA, ABGPU_BIN, DATA, ABGPU_BIN, DATA, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "16 configurations (6 duplicates kept once)"), "%s", r.out);
  ab_leaderboard full, merged, s1;
  tu_load_lb(&full, d, "full.csv");
  tu_load_lb(&merged, d, "merged.csv");
  tu_load_lb(&s1, d, "s1.csv");
  cr_assert_eq(s1.n, 6);
  expect_same_rows(&full, &merged);
  /* leaderboards of different sweeps do not merge */
  tu_sh(&r, "cd %s && %s sweep --data %s --space space.txt --shard 1/3 --seed 5 --leaderboard o.csv "
            "&& %s sweep merge full.csv o.csv --out bad.csv", d, ABGPU_BIN, DATA, ABGPU_BIN);
  cr_assert_eq(r.status, 2, "%s", r.out);
  cr_assert(strstr(r.out, "o.csv: rows of another sweep"), "%s", r.out);
  ab_lb_free(&full);
  ab_lb_free(&merged);
  ab_lb_free(&s1);
}

Test(sweep_cli, folds_give_mean_and_sd, .timeout = 60) {
  const char *d = dir_for("folds");
  write_space(d, "hidden = 8\nlr = 0.003 0.01\nepochs = 3\nbatch = 50\n");
  tu_run r;
  tu_sh(&r, "cd %s && %s sweep --data %s --space space.txt --folds 3 --finalists 1 --out b.abm",
        d, ABGPU_BIN, DATA);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "mean±sd over folds"), "%s", r.out);
  cr_assert(strstr(r.out, "retrained on the standard split"), "%s", r.out);
  ab_leaderboard lb;
  tu_load_lb(&lb, d, "sweep.csv");
  cr_assert_eq(lb.n, 2);
  for (size_t i = 0; i < lb.n; i++) {
    cr_assert_eq(lb.row[i].id.folds, 3);
    cr_assert_gt(lb.row[i].val_loss_sd, 0);
    cr_assert_gt(lb.row[i].val_acc_sd, 0);
  }
  ab_lb_free(&lb);
}

Test(sweep_cli, a_diverged_model_is_ranked_last_and_spares_its_launch, .timeout = 60) {
  const char *d = dir_for("diverged");
  tu_run r;
  tu_sh(&r, "cd %s && %s sweep --data %s --set hidden=16,16 --set lr=0.001,10 --set wd=0,10 "
            "--set epochs=20 --set patience=20 --leaderboard all.csv --finalists 1 && "
            "%s sweep --data %s --set hidden=16,16 --set epochs=20 --set patience=20 "
            "--leaderboard one.csv --finalists 1", d, ABGPU_BIN, DATA, ABGPU_BIN, DATA);
  cr_assert_eq(r.status, 0, "%s", r.out);
  cr_assert(strstr(r.out, "(diverged)"), "%s", r.out);
  ab_leaderboard all, one;
  tu_load_lb(&all, d, "all.csv");
  tu_load_lb(&one, d, "one.csv");
  cr_assert_eq(all.n, 4);
  cr_assert_eq(all.row[3].status, AB_ROW_DIVERGED);
  cr_assert_eq(all.row[3].cfg.lr, 10.0f);
  cr_assert_eq(all.row[3].cfg.wd, 10.0f);
  cr_assert_eq(all.row[0].launch_models, 4);
  long k = ab_lb_find(&all, &one.row[0].cfg);
  cr_assert_geq(k, 0);
  cr_assert_eq(all.row[k].val_loss, one.row[0].val_loss, "the launch's other models retrained alike");
  ab_lb_free(&all);
  ab_lb_free(&one);
}

/* ---- folds in prep ---- */

Test(folds, stratified_partition_of_train_and_validation_with_the_test_split_held_out) {
  ab_table t;
  cr_assert_eq(ab_synth_generate(&t, 3000, 4, &E), AB_OK);
  ab_prep_opts o = ab_prep_opts_default();
  ab_splits base, f[4];
  cr_assert_eq(ab_prep(&base, &t, &o, &E), AB_OK);
  size_t pool = base.train.n + base.val.n, inval = 0;
  o.folds = 4;
  for (int k = 0; k < 4; k++) {
    o.fold = k;
    cr_assert_eq(ab_prep(&f[k], &t, &o, &E), AB_OK, "%s", E.msg);
    cr_assert_eq(f[k].train.n + f[k].val.n, pool);
    cr_assert_eq(f[k].test.n, base.test.n);
    cr_assert(memcmp(f[k].test.row, base.test.row, base.test.n * sizeof(uint32_t)) == 0,
              "the test split is the same with folds");
    size_t pos = 0;
    for (size_t i = 0; i < f[k].val.n; i++) pos += f[k].val.y[i];
    cr_assert(fabs((double)pos / f[k].val.n - 0.5) < 0.01, "fold %d not stratified", k);
    inval += f[k].val.n;
  }
  cr_assert_eq(inval, pool, "every pool row is in exactly one validation fold");
  o.fold = 4;
  ab_splits none;
  cr_assert_eq(ab_prep(&none, &t, &o, &E), AB_EUSAGE);
  ab_splits_free(&base);
  for (int k = 0; k < 4; k++) ab_splits_free(&f[k]);
  ab_table_free(&t);
}

/* ---- the log1p transform and the ensemble model ---- */

static void train_model(const char *path, const char *extra) {
  tu_run r;
  tu_sh(&r, "%s train --data %s --epochs 3 --quiet --seed 3 %s --out %s", ABGPU_BIN, DATA, extra, path);
  cr_assert_eq(r.status, 0, "%s", r.out);
}

Test(transform, log1p_model_scores_raw_rows_as_it_was_trained) {
  char path[600];
  snprintf(path, sizeof path, "%s/log1p.abm", tu_tmpdir());
  train_model(path, "--transform log1p --wd 0.001");
  ab_model m;
  cr_assert_eq(ab_model_load(&m, path, &E), AB_OK, "%s", E.msg);
  cr_assert_eq(m.prep.transform, AB_TRANSFORM_LOG1P);
  cr_assert_float_eq(m.cfg.wd, 0.001f, 1e-9);
  /* the prepared test split (transformed, scaled) against the raw test rows through
   * ab_model_prepare: the same probabilities */
  ab_table t;
  ab_splits s;
  cr_assert_eq(ab_table_load(&t, DATA, &(ab_csv_opts){0}, &E), AB_OK, "%s", E.msg);
  ab_prep_opts o = ab_prep_opts_default();
  o.seed = 3;
  o.transform = AB_TRANSFORM_LOG1P;
  o.balance = m.prep.balance; /* train's default */
  cr_assert_eq(ab_prep(&s, &t, &o, &E), AB_OK);
  size_t n = s.test.n;
  float *raw = malloc(n * AB_NFEAT * sizeof *raw), *p1 = malloc(n * 4), *p2 = malloc(n * 4);
  uint8_t *y = malloc(n);
  for (size_t i = 0; i < n; i++) {
    size_t row = s.test.row[i];
    memcpy(raw + i * AB_NFEAT, t.x + row * AB_NFEAT, AB_NFEAT * sizeof *raw);
  }
  ab_model_prepare(&m, raw, n, NULL);
  cr_assert_eq(ab_model_forward(&m, raw, n, p1, &E), AB_OK);
  cr_assert_eq(ab_model_score_split(p2, y, &m, &s.test, &E), AB_OK);
  for (size_t i = 0; i < n; i++) cr_assert_float_eq(p1[i], p2[i], 1e-6, "row %zu", i);
  cr_assert(ab_transform_applies(AB_TRANSFORM_LOG1P, 0) && !ab_transform_applies(AB_TRANSFORM_LOG1P, 6));
  free(raw); free(p1); free(p2); free(y);
  ab_splits_free(&s);
  ab_table_free(&t);
  ab_model_free(&m);
}

/* Three models of the same data (same scaler) with different widths, as one ensemble. */
static void make_ensemble(char paths[3][600], char *ens) {
  const char *hidden[3] = {"--hidden 8 --act relu", "--hidden 16,16 --act tanh",
                           "--hidden 32 --act relu"};
  ab_model m[3], e;
  ab_net nets[3];
  for (int i = 0; i < 3; i++) {
    snprintf(paths[i], 600, "%s/member%d.abm", tu_tmpdir(), i);
    char extra[128];
    snprintf(extra, sizeof extra, "%s --transform log1p", hidden[i]);
    train_model(paths[i], extra);
    cr_assert_eq(ab_model_load(&m[i], paths[i], &E), AB_OK, "%s", E.msg);
    nets[i] = m[i].nets[0];
  }
  e = m[0];
  e.nets = NULL;
  e.nnets = 0;
  cr_assert_eq(ab_model_set_ensemble(&e, nets, 3, &E), AB_OK, "%s", E.msg);
  snprintf(ens, 600, "%s/ens.abm", tu_tmpdir());
  cr_assert_eq(ab_model_save(&e, ens, &E), AB_OK, "%s", E.msg);
  ab_model_free(&e);
  for (int i = 0; i < 3; i++) ab_model_free(&m[i]);
}

static int read_probs(const char *out, double *p, int max) {
  const char *s = strstr(out, "customer_id,probability,will_buy\n");
  cr_assert(s, "%s", out);
  s = strchr(s, '\n') + 1;
  int n = 0, used;
  long long id;
  int flag;
  while (n < max && sscanf(s, "%lld,%lf,%d\n%n", &id, &p[n], &flag, &used) == 3) n++, s += used;
  return n;
}

Test(ensemble, saves_loads_and_predicts_the_mean_of_its_members, .timeout = 60) {
  char paths[3][600], ens[600], csv[600];
  make_ensemble(paths, ens);
  ab_model m;
  cr_assert_eq(ab_model_load(&m, ens, &E), AB_OK, "%s", E.msg);
  cr_assert_eq(m.kind, AB_MODEL_ENSEMBLE);
  cr_assert_eq(m.nnets, 3);
  cr_assert_eq(m.nets[1].arch.nlayers, 3);
  cr_assert_eq(m.prep.transform, AB_TRANSFORM_LOG1P);
  ab_model_free(&m);
  snprintf(csv, sizeof csv, "%s/customers.csv", tu_tmpdir());
  static tu_run r;
  tu_sh(&r, "%s synth --rows 300 --seed 5 --out %s >/dev/null", ABGPU_BIN, csv);
  cr_assert_eq(r.status, 0, "%s", r.out);
  static double pe[300], pm[3][300];
  tu_sh(&r, "%s predict --model %s --data %s 2>/dev/null", ABGPU_BIN, ens, csv);
  cr_assert_eq(read_probs(r.out, pe, 300), 300, "%s", r.out);
  for (int i = 0; i < 3; i++) {
    tu_sh(&r, "%s predict --model %s --data %s 2>/dev/null", ABGPU_BIN, paths[i], csv);
    cr_assert_eq(read_probs(r.out, pm[i], 300), 300);
  }
  for (int k = 0; k < 300; k++)
    cr_assert_float_eq(pe[k], (pm[0][k] + pm[1][k] + pm[2][k]) / 3, 2e-6, "row %d", k);
  char html[700];
  snprintf(html, sizeof html, "%s/ens.html", tu_tmpdir());
  tu_sh(&r, "%s eval --model %s --data %s --json --report %s && "
            "%s importance --model %s --data %s --repeats 2",
        ABGPU_BIN, ens, csv, html, ABGPU_BIN, ens, csv);
  cr_assert_eq(r.status, 0, "%s", r.out);
  tu_sh(&r, "grep -o 'ensemble of 3 networks[^<]*\\|member [0-9]</td><td>[^<]*\\|"
            "input transform</td><td>[^<]*' %s", html);
  cr_expect(strstr(r.out, "ensemble of 3 networks, their probabilities averaged"), "%s", r.out);
  cr_expect(strstr(r.out, "member 2</td><td>10-16-16-2"), "%s", r.out);
  cr_expect(strstr(r.out, "member 3</td><td>10-32-2"), "%s", r.out);
  cr_expect(strstr(r.out, "input transform</td><td>log1p"), "%s", r.out);
}

Test(ensemble, sweep_writes_one_and_says_its_test_figures_apart, .timeout = 60) {
  tu_run r;
  const char *d = small_sweep(&r, "sweep_ens", "--ensemble 3 --ensemble-out e.abm");
  cr_assert(strstr(r.out, "ensemble of top 3"), "%s", r.out);
  char p[700];
  snprintf(p, sizeof p, "%s/e.abm", d);
  ab_model m;
  cr_assert_eq(ab_model_load(&m, p, &E), AB_OK, "%s", E.msg);
  cr_assert_eq(m.kind, AB_MODEL_ENSEMBLE);
  cr_assert_eq(m.nnets, 3);
  cr_assert_gt(m.test.roc_auc, 0.5);
  ab_model_free(&m);
}

/* Runs python block 1 (the inputs) and block `block` of docs/python.md on model's export;
 * checks it against predict. */
static void python_block(int block, const char *model) {
  static tu_run r;
  char tail[600];
  snprintf(tail, sizeof tail, "%s/check_tail.py", tu_tmpdir());
  cr_assert_eq(tu_write(tail, "got = np.genfromtxt('scores.csv', delimiter=',', skip_header=1)\n"
                              "err = np.max(np.abs(got[:, 1] - p))\n"
                              "print('max abs difference %.3g' % err)\n"
                              "assert err <= 1e-5\n"), 0);
  tu_sh(&r, "cd %s && awk '/^```python/{n++; on=1; next} /^```/{on=0} on && (n==1 || n==%d)' %s/docs/python.md "
            "> doc.py && cat doc.py check_tail.py > run.py && "
            "%s synth --rows 500 --seed 2 --out customers.csv >/dev/null && "
            "%s export --model %s --out weights.npz && "
            "%s predict --model %s --data customers.csv --out scores.csv && /usr/bin/python3 run.py",
        tu_tmpdir(), block, ABGPU_SRC_DIR, ABGPU_BIN, ABGPU_BIN, model, ABGPU_BIN, model);
  cr_assert_eq(r.status, 0, "block %d: %s", block, r.out);
  cr_log_info("docs/python.md block %d on %s: %s", block, model, r.out);
}

Test(ensemble, python_doc_scores_log1p_models_and_ensembles_with_numpy, .timeout = 60) {
  static tu_run r;
  if (tu_sh(&r, "/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0)
    cr_skip_test("python3-numpy is not installed: docs/python.md's transform and ensemble "
                 "lines are not checked");
  char paths[3][600], ens[600];
  make_ensemble(paths, ens);
  python_block(2, paths[1]);
  python_block(3, ens);
}

/* ---- MPI ---- */

Test(mpi, two_ranks_give_the_single_process_leaderboard, .timeout = 120) {
#ifndef ABGPU_TEST_MPI
  cr_skip_test("abgpu was built without MPI (install libopenmpi-dev and reconfigure): "
               "mpirun is not checked");
#else
  tu_run r;
  if (tu_sh(&r, "command -v mpirun >/dev/null") != 0)
    cr_skip_test("mpirun is not on PATH (openmpi-bin): the MPI sweep is not checked");
  const char *d = dir_for("mpi");
  write_space(d, SMALL);
  tu_sh(&r, "cd %s && %s sweep --data %s --space space.txt --leaderboard one.csv --finalists 1 "
            "&& mpirun --allow-run-as-root --oversubscribe -n 2 %s sweep --data %s "
            "--space space.txt --leaderboard two.csv --finalists 1 --threads 1",
        d, ABGPU_BIN, DATA, ABGPU_BIN, DATA);
  cr_assert_eq(r.status, 0, "%s", r.out);
  ab_leaderboard one, two;
  tu_load_lb(&one, d, "one.csv");
  tu_load_lb(&two, d, "two.csv");
  expect_same_rows(&one, &two);
  ab_lb_free(&one);
  ab_lb_free(&two);
#endif
}

/* ---- the real export: the documented configuration, retrained with 10 seeds ---- */

/* docs/sweep.md: the configuration's mean test accuracy and ROC AUC on protocol A
 * (`--balance first`), seeds 11..20; issue 11 asks for at least 0.839 and 0.935. */
#define DOC_ACC 0.8469
#define DOC_AUC 0.9416

/* The line of docs/sweep.md that starts with "abgpu train ", its flags after --data F. */
static void doc_command(char *flags, size_t n) {
  char path[600], line[2048];
  snprintf(path, sizeof path, "%s/docs/sweep.md", ABGPU_SRC_DIR);
  FILE *f = fopen(path, "r");
  cr_assert(f, "cannot read %s", path);
  flags[0] = '\0';
  while (fgets(line, sizeof line, f))
    if (strncmp(line, "abgpu train --data ", 19) == 0) {
      char *p = strchr(line + 19, ' ');
      cr_assert(p, "%s", line);
      snprintf(flags, n, "%s", p + 1);
      flags[strcspn(flags, "\n")] = '\0';
      break;
    }
  fclose(f);
  cr_assert(flags[0], "no line starting with 'abgpu train --data' in docs/sweep.md");
  cr_assert(!strstr(flags, "--seed "), "the documented command must leave the seed out");
}

Test(sweep_real, the_documented_configuration_over_ten_seeds, .timeout = 900) {
  const char *data = tu_real_data();
  if (!data) cr_skip_test("ABGPU_REAL_DATA is not set: the documented sweep winner is not rerun");
#ifdef ABGPU_TEST_SANITIZED
  /* 50 networks of the documented ensemble take longer than the test's 600 s under
   * ASan+UBSan; this is a figure check, which make test runs, not a memory check */
  cr_skip_test("sanitizer build: the documented configuration's figures are checked by the "
               "plain build's make test");
#endif
  char flags[1024];
  doc_command(flags, sizeof flags);
  double acc = 0, auc = 0;
  static tu_run r;
  for (int s = 11; s <= 20; s++) {
    tu_sh(&r, "%s train --data %s %s --balance first --seed %d --quiet --json 2>/dev/null",
          ABGPU_BIN, data, flags, s);
    cr_assert_eq(r.status, 0, "seed %d: %s", s, r.out);
    double a = tu_json_num(r.out, "test_accuracy");
    const char *tm = strstr(r.out, "\"test_metrics\"");
    cr_assert(tm, "%s", r.out);
    double u = tu_json_num(tm, "roc_auc");
    cr_log_info("seed %d: test accuracy %.4f, test ROC AUC %.4f", s, a, u);
    acc += a / 10;
    auc += u / 10;
  }
  cr_log_info("the documented configuration (%s): mean test accuracy %.4f, ROC AUC %.4f over "
              "seeds 11..20 (documented %.4f, %.4f; issue 11's bars 0.839, 0.935)", flags, acc,
              auc, DOC_ACC, DOC_AUC);
  cr_expect_geq(acc, 0.839, "mean test accuracy %.4f below issue 11's 0.839", acc);
  cr_expect_geq(auc, 0.935, "mean test ROC AUC %.4f below issue 11's 0.935", auc);
  cr_expect_geq(acc, DOC_ACC - 0.005, "mean test accuracy %.4f, documented %.4f", acc, DOC_ACC);
  cr_expect_geq(auc, DOC_AUC - 0.005, "mean test ROC AUC %.4f, documented %.4f", auc, DOC_AUC);
}

/* Issue 16: an existing leaderboard needs --resume or --force; issue 17 item 7: --resume
 * refuses a row edited to impossible figures, before it could rank first. */
Test(sweep_cli, an_existing_leaderboard_needs_resume_or_force_and_edits_are_refused, .timeout = 60) {
  tu_run r;
  const char *d = small_sweep(&r, "edited", "--finalists 1");
  tu_sh(&r, "cd %s && %s sweep --data %s --space space.txt --finalists 1", d, ABGPU_BIN, DATA);
  cr_assert_eq(r.status, 4, "%s", r.out);
  cr_assert(strstr(r.out, "--leaderboard sweep.csv exists: continue that sweep with --resume, "
                          "or replace it with --force"), "%s", r.out);
  cr_assert(!strstr(r.out, "launch "), "refused before training: %s", r.out);
  ab_leaderboard lb;
  tu_load_lb(&lb, d, "sweep.csv");
  lb.row[lb.n - 1].val_acc = 7.5; /* the worst row claims 750% */
  lb.row[lb.n - 1].val_loss = -5;
  char p[700];
  snprintf(p, sizeof p, "%s/sweep.csv", d);
  cr_assert_eq(ab_lb_write_csv(&lb, p, &E), AB_OK, "%s", E.msg);
  tu_sh(&r, "cd %s && %s sweep --data %s --space space.txt --resume --out best.abm", d, ABGPU_BIN, DATA);
  cr_assert_eq(r.status, 2, "%s", r.out);
  char want[64];
  snprintf(want, sizeof want, "sweep.csv:%zu: column ", lb.n + 1);
  cr_assert(strstr(r.out, want) && strstr(r.out, "(val_loss) is -5"), "expected '%s' in: %s",
            want, r.out);
  snprintf(p, sizeof p, "%s/best.abm", d);
  cr_assert(!tu_exists(p), "no model from a refused leaderboard");
  tu_sh(&r, "cd %s && %s sweep --data %s --space space.txt --force --finalists 1 --quiet", d,
        ABGPU_BIN, DATA);
  cr_assert_eq(r.status, 0, "--force replaces it: %s", r.out);
  ab_lb_free(&lb);
}

/* Issue 17 item 13: two sweeps on one leaderboard kept 4 of 8 rows; the second is refused. */
Test(sweep_cli, a_second_sweep_on_one_leaderboard_is_refused, .timeout = 120) {
  tu_run r;
  const char *d = dir_for("locked");
  write_space(d, "hidden = 8 16\nlr = 0.001 0.002 0.003 0.004\nepochs = 30\npatience = 30\n");
  tu_sh(&r, "cd %s && (%s sweep --data synth:20000 --space space.txt --parallel 1 --finalists 1 "
            "--quiet > first.txt 2>&1 &) && while [ ! -e sweep.csv.lock ]; do sleep 0.01; done && "
            "%s sweep --data synth:20000 --space space.txt --force --finalists 1; echo \"status $?\"",
        d, ABGPU_BIN, ABGPU_BIN);
  cr_assert(strstr(r.out, "status 4"), "%s", r.out);
  cr_assert(strstr(r.out, "sweep.csv is being written by another sweep (pid "), "%s", r.out);
  tu_sh(&r, "cd %s && while [ -e sweep.csv.lock ]; do sleep 0.05; done; cat first.txt", d);
  ab_leaderboard lb;
  tu_load_lb(&lb, d, "sweep.csv");
  cr_assert_eq(lb.n, 8, "the first sweep keeps all its rows: %s", r.out);
  ab_lb_free(&lb);
}

/* The winner's train command carries the format flags the sweep read the file with, quoted
 * for the shell: run as printed, it reads the same rows and gives the same validation figure. */
Test(sweep_cli, winner_command_keeps_the_format_flags, .timeout = 60) {
  const char *d = dir_for("formats");
  write_space(d, "hidden = 8\nlr = 0.01\nepochs = 3\nbatch = 50\n");
  tu_run r;
  tu_sh(&r, "cd %s && %s synth --rows 2000 --out - | sed 's/,/;/g; s/\\./,/g; s/$/;x/; "
            "1i customer id;b;c;d;e;f;g;h;i;j;k;l;m' > semi.csv", d, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  tu_sh(&r, "cd %s && %s sweep --data semi.csv --space space.txt --finalists 1 --sep ';' "
            "--decimal , --header yes --ignore m --columns 'targets=l,id=customer id' "
            "--missing median 2>&1", d, ABGPU_BIN);
  cr_assert_eq(r.status, 0, "%s", r.out);
  const char *want = "abgpu train --data semi.csv --header yes --sep ';' --decimal , "
                     "--columns 'targets=l,id=customer id' --ignore m --missing median ";
  const char *cmd = strstr(r.out, want);
  cr_assert(cmd, "want '%s' in:\n%s", want, r.out);
  char line[1024];
  snprintf(line, sizeof line, "%.*s", (int)strcspn(cmd, "\n"), cmd);
  ab_leaderboard lb;
  tu_load_lb(&lb, d, "sweep.csv");
  static tu_run t;
  tu_sh(&t, "cd %s && %s%s --quiet --json 2>/dev/null", d, ABGPU_BIN, line + strlen("abgpu"));
  cr_assert_eq(t.status, 0, "%s: %s", line, t.out);
  cr_assert_float_eq(tu_json_num(t.out, "val_accuracy"), lb.row[0].val_acc, 1e-6, "%s", t.out);
  ab_lb_free(&lb);
}
