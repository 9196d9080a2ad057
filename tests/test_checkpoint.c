/* Checkpoints: a run stopped after epoch 3 and resumed ends with exactly the weights,
 * history and metrics of the uninterrupted run (CPU backends are deterministic), with
 * learning-rate schedules and a fixed batch order too. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "abgpu/cpu.h"
#include "abgpu/synth.h"
#include "abgpu/train.h"
#include "testutil.h"

static ab_splits splits;

static void setup(void) {
  ab_table t;
  ab_err e;
  cr_assert_eq(ab_synth_generate(&t, 3000, 11, &e), 0, "%s", e.msg);
  ab_prep_opts o = ab_prep_opts_default();
  cr_assert_eq(ab_prep(&splits, &t, &o, &e), 0, "%s", e.msg);
  ab_table_free(&t);
}

static void teardown(void) { ab_splits_free(&splits); }

static int stop_at_3(const ab_epoch_stats *st, const uint8_t *active, int K, void *user) {
  (void)active; (void)K; (void)user;
  return st[0].epoch == 3;
}

typedef int (*open_fn)(ab_backend **be, ab_err *e);

static int open_ref(ab_backend **be, ab_err *e) { return ab_backend_ref_create(be, e); }

static void run(ab_train_result *r, open_fn open, const ab_train_cfg *cfg, int K,
                const ab_ckpt_opts *ck, ab_many_cb cb, int expect) {
  ab_backend *be;
  ab_err e = {0};
  cr_assert_eq(open(&be, &e), 0, "%s", e.msg);
  cr_assert_eq(ab_backend_load_data(be, &splits, &e), 0, "%s", e.msg);
  int rc = ab_train_many(r, be, cfg, K, &splits, ck, cb, NULL, &e);
  cr_assert_eq(rc, expect, "rc %d: %s", rc, e.msg);
  ab_backend_free(be);
}

static void check_resume(open_fn open, int K) {
  ab_train_cfg cfg[2];
  for (int k = 0; k < K; k++) {
    cfg[k] = ab_train_cfg_default();
    cfg[k].epochs = 6;
    cfg[k].patience = 1;
    cfg[k].seed = 5 + (uint64_t)k;
    cfg[k].lr = k ? 0.003f : 0.001f;
  }
  cfg[0].sched = AB_SCHED_COSINE;
  if (K > 1) { /* the schedule's state (epochs since a better loss, cuts) survives a resume */
    cfg[1].epochs = 12;
    cfg[1].patience = 8;
    cfg[1].sched = AB_SCHED_PLATEAU;
    cfg[1].order = AB_ORDER_FIXED;
    cfg[1].min_epochs = 4;
  }
  char path[512];
  snprintf(path, sizeof path, "%s/run%d.ckpt", tu_tmpdir(), K);
  ab_train_result full[2], part[2], resumed[2];
  run(full, open, cfg, K, NULL, NULL, AB_OK);
  ab_ckpt_opts ck = {path, 0, NULL, "--note"};
  run(part, open, cfg, K, &ck, stop_at_3, AB_EINTR);
  cr_assert(tu_exists(path));
  ab_ckpt_opts rs = {NULL, 0, path, NULL};
  run(resumed, open, cfg, K, &rs, NULL, AB_OK);
  size_t P = ab_arch_nparams(&cfg[0].arch);
  for (int k = 0; k < K; k++) {
    cr_assert_eq(resumed[k].epochs, full[k].epochs);
    cr_assert_eq(resumed[k].best_epoch, full[k].best_epoch);
    cr_assert_eq(memcmp(resumed[k].params, full[k].params, P * sizeof(float)), 0,
                 "model %d: resumed weights differ from the uninterrupted run", k);
    cr_assert_eq(resumed[k].test_loss, full[k].test_loss);
    for (int i = 0; i < full[k].epochs; i++)
      cr_assert_eq(resumed[k].hist[i].val_loss, full[k].hist[i].val_loss, "epoch %d", i + 1);
    ab_train_result_free(&full[k]);
    ab_train_result_free(&resumed[k]);
  }
  char note[64];
  ab_err e;
  cr_assert_eq(ab_ckpt_read_note(path, note, sizeof note, &e), 0, "%s", e.msg);
  cr_assert_str_eq(note, "--note");
}

Test(checkpoint, resume_is_bit_identical_on_the_reference, .init = setup, .fini = teardown) {
  check_resume(open_ref, 1);
  check_resume(open_ref, 2);
}

static int open_cpu(ab_backend **be, ab_err *e) {
  ab_cpu_opts o = {2, AB_CPU_ISA_AUTO, 0, 0};
  return ab_backend_cpu_create(be, &o, e);
}

Test(checkpoint, resume_is_bit_identical_on_the_fast_cpu_path, .init = setup, .fini = teardown) {
  check_resume(open_cpu, 1);
}

Test(checkpoint, mismatched_or_damaged_checkpoints_are_refused, .init = setup, .fini = teardown) {
  ab_train_cfg cfg = ab_train_cfg_default();
  cfg.epochs = 4;
  char path[512];
  snprintf(path, sizeof path, "%s/bad.ckpt", tu_tmpdir());
  ab_train_result r;
  ab_ckpt_opts ck = {path, 0, NULL, NULL};
  run(&r, open_ref, &cfg, 1, &ck, stop_at_3, AB_EINTR);
  ab_ckpt_opts rs = {NULL, 0, path, NULL};
  ab_train_cfg other = cfg;
  other.lr = 0.01f;
  run(&r, open_ref, &other, 1, &rs, NULL, AB_EINPUT);
  tu_run t;
  tu_sh(&t, "printf 'x' | dd of=%s bs=1 seek=100 conv=notrunc 2>/dev/null", path);
  run(&r, open_ref, &cfg, 1, &rs, NULL, AB_EINPUT);
  tu_sh(&t, "truncate -s 20 %s", path);
  run(&r, open_ref, &cfg, 1, &rs, NULL, AB_EINPUT);
}

/* NaN in the data makes the loss NaN: training stops naming the epoch. (tanh, because a
 * ReLU maps NaN to 0 and would hide it.) */
Test(checkpoint, a_nan_loss_stops_training_with_the_epoch, .init = setup, .fini = teardown) {
  for (size_t i = 0; i < splits.train.n * AB_NFEAT; i += AB_NFEAT) splits.train.x[i + 5] = NAN;
  ab_train_cfg cfg = ab_train_cfg_default();
  ab_err pe;
  cr_assert_eq(ab_arch_parse(&cfg.arch, AB_NFEAT, "20", "tanh", &pe), 0);
  ab_train_result r;
  run(&r, open_ref, &cfg, 1, NULL, NULL, AB_EDIVERGED);
  ab_backend *be;
  ab_err e = {0};
  cr_assert_eq(ab_backend_ref_create(&be, &e), 0);
  ab_backend_load_data(be, &splits, &e);
  cr_assert_eq(ab_train(&r, be, &cfg, &splits, NULL, NULL, &e), AB_EDIVERGED);
  cr_assert(strstr(e.msg, "diverged at epoch 1 (loss is NaN); try a lower --lr"), "%s", e.msg);
  ab_backend_free(be);
}

/* The CLI: a signal during training finishes the epoch, writes the checkpoint and exits
 * 128+signal; --resume then writes a model file identical to the uninterrupted run's. */
static void interrupt_and_resume(const char *sig, int status) {
  const char *d = tu_tmpdir();
  /* raw inputs and balanced rows, so that the long run stays a few seconds */
  const char *args = "--data synth:300000:3 --epochs 8 --patience 100 --device cpu --threads 1 "
                     "--transform none --balance random";
  static tu_run r;
  tu_sh(&r, "cd %s && rm -f full.abm part.abm part.abm.ckpt && %s train %s --quiet --out full.abm",
        d, ABGPU_BIN, args);
  cr_assert_eq(r.status, 0, "%s", r.out);
  tu_sh(&r, "cd %s && (%s train %s --out part.abm > log.txt 2>&1 & pid=$!; "
            "for i in $(seq 1 600); do grep -q 'epoch   2/' log.txt && break; sleep 0.05; done; "
            "kill -%s $pid; wait $pid; echo \"exit=$?\"; ls part.abm 2>&1; tail -1 log.txt)",
        d, ABGPU_BIN, args, sig);
  char want[32];
  snprintf(want, sizeof want, "exit=%d\n", status);
  cr_assert(strstr(r.out, want), "expected %s after SIG%s: %s", want, sig, r.out);
  cr_assert(strstr(r.out, "No such file"), "a model was written by the interrupted run: %s", r.out);
  cr_assert(strstr(r.out, "continue with: abgpu train --resume part.abm.ckpt"), "%s", r.out);
  tu_sh(&r, "cd %s && %s train --resume part.abm.ckpt --quiet && cmp full.abm part.abm && echo same",
        d, ABGPU_BIN);
  cr_assert(strstr(r.out, "same\n"), "resumed model differs from the uninterrupted one: %s", r.out);
  cr_assert(strstr(r.out, "checkpoint part.abm.ckpt removed: the run is complete"), "%s", r.out);
  tu_sh(&r, "cd %s && ls part.abm.ckpt 2>&1", d);
  cr_assert(strstr(r.out, "No such file"), "the checkpoint of a completed run must go: %s", r.out);
}

Test(checkpoint_cli, sigint_then_resume_gives_identical_model_bytes, .timeout = 300) {
  interrupt_and_resume("INT", 130);
}

Test(checkpoint_cli, sigterm_exits_143_with_a_checkpoint, .timeout = 300) {
  interrupt_and_resume("TERM", 143);
}

/* Issue 17 item 13: the flags are stored escaped, so a data file name holding a newline
 * (or a backslash) resumes; a checkpoint written every epoch goes when the run completes. */
Test(checkpoint_cli, a_newline_in_the_data_file_name_resumes, .timeout = 120) {
  const char *d = tu_tmpdir();
  static tu_run r;
  tu_sh(&r, "cd %s && %s synth --rows 60000 --out 'a\nb\\c.csv' && (%s train --data "
            "'a\nb\\c.csv' --epochs 6 --patience 100 --out m.abm > log.txt 2>&1 & pid=$!; "
            "for i in $(seq 1 600); do grep -q 'epoch   2/' log.txt && break; sleep 0.02; done; "
            "kill -INT $pid; wait $pid; echo \"exit=$?\") && %s train --resume m.abm.ckpt --quiet "
            "", d, ABGPU_BIN, ABGPU_BIN, ABGPU_BIN);
  cr_assert(strstr(r.out, "exit=130"), "%s", r.out);
  cr_assert(strstr(r.out, "model saved to m.abm"), "the resumed run must save its model: %s", r.out);
  tu_sh(&r, "cd %s && ls", d);
  cr_assert(!strstr(r.out, "m.abm.ckpt\n"), "the checkpoint must go after the run: %s", r.out);
  tu_sh(&r, "cd %s && %s train --data 'a\nb\\c.csv' --epochs 3 --checkpoint-every 1 "
            "--checkpoint every.ckpt --quiet && ls every.ckpt 2>&1", d, ABGPU_BIN);
  cr_assert(strstr(r.out, "No such file"), "--checkpoint-every's file outlived the run: %s", r.out);
}
