/* Checkpoint files: the whole state of a training run, so that a resumed run ends with
 * exactly the weights of an uninterrupted one. Little-endian, written atomically:
 *   "ABGPUCKP" u32 version, u32 K, u64 P, u32 epoch, u32 max_epochs, u32 data_hash,
 *   f64 total_ms, per model the config and early-stopping state, the history
 *   [K][max_epochs], i64 Adam step, f32 params, m, v, best [K][P] each, u32 note length
 *   and note, then u32 CRC-32 of everything before it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "run.h"

#define CKPT_MAGIC "ABGPUCKP"
#define CKPT_VERSION 3u /* 2: batch order, stopping rule, schedule, minimum epochs; 3: dropout */

typedef struct wbuf { uint8_t *p; size_t n, cap; int bad; } wbuf;

static void put(wbuf *b, const void *d, size_t n) {
  if (b->bad) return;
  if (b->n + n > b->cap) {
    size_t c = (b->n + n) * 2;
    uint8_t *p = realloc(b->p, c);
    if (!p) { b->bad = 1; return; }
    b->p = p; b->cap = c;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
}
static void put_u32(wbuf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(wbuf *b, uint64_t v) { put(b, &v, 8); }
static void put_f64(wbuf *b, double v) { put(b, &v, 8); }

typedef struct rbuf { const uint8_t *p; size_t n, at; int bad; } rbuf;

static void get(rbuf *b, void *d, size_t n) {
  if (b->bad || n > b->n - b->at) { b->bad = 1; memset(d, 0, n); return; }
  memcpy(d, b->p + b->at, n);
  b->at += n;
}
static uint32_t get_u32(rbuf *b) { uint32_t v; get(b, &v, 4); return v; }
static uint64_t get_u64(rbuf *b) { uint64_t v; get(b, &v, 8); return v; }
static double get_f64(rbuf *b) { double v; get(b, &v, 8); return v; }

/* A config as fixed-size fields; compared byte for byte on resume. */
static void put_cfg(wbuf *b, const ab_train_cfg *c) {
  put_u32(b, (uint32_t)c->arch.nlayers);
  for (int i = 0; i <= AB_MAX_LAYERS; i++) put_u32(b, (uint32_t)c->arch.dims[i]);
  for (int i = 0; i < AB_MAX_LAYERS; i++) put_u32(b, (uint32_t)c->arch.act[i]);
  put_u32(b, (uint32_t)c->batch);
  put_u32(b, (uint32_t)c->epochs);
  put_u32(b, (uint32_t)c->patience);
  put(b, &c->lr, 4);
  put(b, &c->wd, 4);
  put_u64(b, c->seed);
  put_u32(b, (uint32_t)c->keep_last);
  put_u32(b, (uint32_t)c->order);
  put_u32(b, (uint32_t)c->stop);
  put_u32(b, (uint32_t)c->sched);
  put_u32(b, (uint32_t)c->min_epochs);
  put(b, &c->dropout, 4);
}

static void put_track(wbuf *b, const ab_track *t) {
  put_u64(b, t->rng.state);
  put_u64(b, t->rng.inc);
  put_f64(b, t->best_val);
  put_u32(b, (uint32_t)t->best_epoch);
  put_u32(b, (uint32_t)t->bad_epochs);
  put_u32(b, (uint32_t)t->active);
  put_u32(b, (uint32_t)t->last_epoch);
  put_u32(b, (uint32_t)t->since_cut);
  put_u32(b, (uint32_t)t->cuts);
}

static void get_track(rbuf *b, ab_track *t) {
  t->rng.state = get_u64(b);
  t->rng.inc = get_u64(b);
  t->best_val = get_f64(b);
  t->best_epoch = (int)get_u32(b);
  t->bad_epochs = (int)get_u32(b);
  t->active = (int)get_u32(b);
  t->last_epoch = (int)get_u32(b);
  t->since_cut = (int)get_u32(b);
  t->cuts = (int)get_u32(b);
}

static void put_hist(wbuf *b, const ab_epoch_stats *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    put_u32(b, (uint32_t)h[i].epoch);
    put_f64(b, h[i].train_loss);
    put_f64(b, h[i].val_loss);
    put_f64(b, h[i].val_acc);
    put_f64(b, h[i].ms);
  }
}

static void get_hist(rbuf *b, ab_epoch_stats *h, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h[i].epoch = (int)get_u32(b);
    h[i].train_loss = get_f64(b);
    h[i].val_loss = get_f64(b);
    h[i].val_acc = get_f64(b);
    h[i].ms = get_f64(b);
  }
}

/* The models' state the checkpoint holds: the four slots and the step count. */
typedef struct state { float *p, *m, *v, *best; int64_t t; size_t n; } state;

static int state_alloc(state *s, size_t n) {
  s->n = n;
  s->t = 0;
  s->p = malloc(n * 4); s->m = malloc(n * 4); s->v = malloc(n * 4); s->best = malloc(n * 4);
  return s->p && s->m && s->v && s->best ? 0 : -1;
}
static void state_free(state *s) { free(s->p); free(s->m); free(s->v); free(s->best); }

static int state_read(state *s, ab_backend *be, ab_err *e) {
  int rc = ab_backend_slot_read(be, AB_SLOT_PARAMS, s->p, e);
  if (!rc) rc = ab_backend_slot_read(be, AB_SLOT_ADAM_M, s->m, e);
  if (!rc) rc = ab_backend_slot_read(be, AB_SLOT_ADAM_V, s->v, e);
  if (!rc) rc = ab_backend_slot_read(be, AB_SLOT_BEST, s->best, e);
  s->t = ab_backend_steps(be);
  return rc;
}

static int state_write(const state *s, ab_backend *be, ab_err *e) {
  int rc = ab_backend_slot_write(be, AB_SLOT_PARAMS, s->p, e);
  if (!rc) rc = ab_backend_slot_write(be, AB_SLOT_ADAM_M, s->m, e);
  if (!rc) rc = ab_backend_slot_write(be, AB_SLOT_ADAM_V, s->v, e);
  if (!rc) rc = ab_backend_slot_write(be, AB_SLOT_BEST, s->best, e);
  if (!rc) ab_backend_set_steps(be, s->t);
  return rc;
}

static void put_body(wbuf *b, const ab_run *run, const ab_train_cfg *cfg, const state *st,
                     uint32_t hash, const char *note) {
  put(b, CKPT_MAGIC, 8);
  put_u32(b, CKPT_VERSION);
  put_u32(b, (uint32_t)run->K);
  put_u64(b, run->P);
  put_u32(b, (uint32_t)run->epoch);
  put_u32(b, (uint32_t)run->max_epochs);
  put_u32(b, hash);
  put_f64(b, run->total_ms);
  for (int k = 0; k < run->K; k++) { put_cfg(b, &cfg[k]); put_track(b, &run->track[k]); }
  put_hist(b, run->hist, (size_t)run->K * run->max_epochs);
  put_u64(b, (uint64_t)st->t);
  put(b, st->p, st->n * 4); put(b, st->m, st->n * 4);
  put(b, st->v, st->n * 4); put(b, st->best, st->n * 4);
  size_t len = note ? strlen(note) : 0;
  put_u32(b, (uint32_t)len);
  put(b, note ? note : "", len);
  put_u32(b, ab_crc32(0, b->p, b->n));
}

int ab_ckpt_write(const char *path, const ab_run *run, const ab_train_cfg *cfg,
                  ab_backend *be, uint32_t data_hash, const char *note, ab_err *e) {
  state st;
  wbuf b = {0};
  int rc = state_alloc(&st, (size_t)run->K * run->P) ? ab_err_set(e, AB_ENOMEM, "out of memory")
                                                      : state_read(&st, be, e);
  if (!rc) put_body(&b, run, cfg, &st, data_hash, note);
  if (!rc && b.bad) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  ab_outfile o;
  if (!rc && !(rc = ab_outfile_open(&o, path, e))) {
    ab_outfile_write(&o, b.p, b.n);
    rc = ab_outfile_commit(&o, e);
  }
  free(b.p);
  state_free(&st);
  return rc;
}

#define CKPT_HEAD 44          /* magic .. total_ms */
#define CKPT_MAX_K (1u << 20)
#define CKPT_MAX_EPOCHS 1000000u
#define CKPT_MAX_P (1ull << 32)

static uint64_t note_offset(const uint8_t *data);

/* CRC-32 of the first n bytes of f, read 1 MiB at a time. */
static int crc_stream(FILE *f, uint64_t n, uint32_t *crc) {
  static uint8_t buf[1 << 20];
  *crc = 0;
  if (fseek(f, 0, SEEK_SET) != 0) return -1;
  while (n > 0) {
    size_t want = n < sizeof buf ? (size_t)n : sizeof buf;
    if (fread(buf, 1, want, f) != want) return -1;
    *crc = ab_crc32(*crc, buf, want);
    n -= want;
  }
  return 0;
}

static int read_at(FILE *f, uint64_t off, void *d, size_t n) {
  return fseek(f, (long)off, SEEK_SET) == 0 && fread(d, 1, n, f) == n ? 0 : -1;
}

/* Checks magic, version, the sizes the header declares against the file's size, then the
 * CRC, before anything is allocated: memory stays bounded whatever the file holds. */
static int check_file(FILE *f, uint64_t size, uint8_t *head, const char *path, ab_err *e) {
  uint32_t ver, K, maxe, len = 0, crc, want;
  uint64_t P;
  if (size < CKPT_HEAD + 12 || read_at(f, 0, head, CKPT_HEAD) || memcmp(head, CKPT_MAGIC, 8))
    return ab_err_set(e, AB_EINPUT, "%s: not an abgpu checkpoint", path);
  memcpy(&ver, head + 8, 4); memcpy(&K, head + 12, 4); memcpy(&P, head + 16, 8);
  memcpy(&maxe, head + 28, 4);
  if (ver != CKPT_VERSION)
    return ab_err_set(e, AB_EINPUT, "%s: checkpoint of another abgpu version (format %u not "
                      "supported); start the training again", path, ver);
  uint64_t off = K >= 1 && K <= CKPT_MAX_K && maxe <= CKPT_MAX_EPOCHS && P <= CKPT_MAX_P
                 ? note_offset(head) : UINT64_MAX;
  if (off > size - 8 || read_at(f, off, &len, 4) || len != size - off - 8)
    return ab_err_set(e, AB_EINPUT, "%s: checkpoint is truncated or malformed (%llu bytes; its "
                      "header describes another size)", path, (unsigned long long)size);
  if (read_at(f, size - 4, &want, 4) || crc_stream(f, size - 4, &crc))
    return ab_err_set(e, AB_EIO, "%s: read failed", path);
  if (crc != want) return ab_err_set(e, AB_EINPUT, "%s: checkpoint is corrupted (CRC mismatch)", path);
  return AB_OK;
}

static int check_header(rbuf *b, const ab_run *run, uint32_t hash, const char *path, ab_err *e);

/* Reads the whole file after check_file, and after its header matched the run (network
 * size, epochs, data): what is allocated is what this run needs, whatever the file says. */
static int load_file(const char *path, const ab_run *run, uint32_t hash, uint8_t **data,
                     size_t *n, ab_err *e) {
  FILE *f;
  uint64_t size;
  uint8_t head[CKPT_HEAD];
  int rc = ab_infile_open(&f, &size, path, "a checkpoint file", e);
  if (rc) return rc;
  if (!(rc = check_file(f, size, head, path, e)))
    rc = check_header(&(rbuf){head, CKPT_HEAD, 0, 0}, run, hash, path, e);
  if (!rc) {
    *data = malloc((size_t)size);
    if (!*data) rc = ab_err_set(e, AB_ENOMEM, "out of memory reading %s", path);
    else if (read_at(f, 0, *data, (size_t)size)) {
      free(*data);
      rc = ab_err_set(e, AB_EIO, "%s: read failed", path);
    }
    *n = (size_t)size;
  }
  fclose(f);
  return rc;
}

static int check_header(rbuf *b, const ab_run *run, uint32_t hash, const char *path, ab_err *e) {
  b->at = 12;
  uint32_t K = get_u32(b);
  uint64_t P = get_u64(b);
  uint32_t epoch = get_u32(b), maxe = get_u32(b), h = get_u32(b);
  if (K != (uint32_t)run->K || P != run->P || maxe != (uint32_t)run->max_epochs || epoch > maxe)
    return ab_err_set(e, AB_EINPUT, "%s: made for another network or --epochs; resume with the "
                      "flags the checkpoint was made with", path);
  if (h != hash)
    return ab_err_set(e, AB_EINPUT, "%s: made from other data (or --seed, --split, --balance); "
                      "resume with the same data and flags", path);
  return AB_OK;
}

static int read_models(rbuf *b, ab_run *run, const ab_train_cfg *cfg, const char *path, ab_err *e) {
  for (int k = 0; k < run->K; k++) {
    wbuf want = {0};
    put_cfg(&want, &cfg[k]);
    uint8_t *have = malloc(want.n ? want.n : 1);
    if (want.bad || !have) { free(want.p); free(have); return ab_err_set(e, AB_ENOMEM, "out of memory"); }
    get(b, have, want.n);
    int same = !b->bad && memcmp(have, want.p, want.n) == 0;
    free(want.p);
    free(have);
    if (!same)
      return ab_err_set(e, AB_EINPUT, "%s: made with other training flags (--hidden, --act, "
                        "--lr, --batch, --epochs, --patience, --seed, --batch-order, --lr-schedule, "
                        "--min-epochs); resume with the same", path);
    get_track(b, &run->track[k]);
  }
  get_hist(b, run->hist, (size_t)run->K * run->max_epochs);
  return AB_OK;
}

int ab_ckpt_read(const char *path, ab_run *run, const ab_train_cfg *cfg, ab_backend *be,
                 uint32_t data_hash, ab_err *e) {
  uint8_t *data;
  size_t n;
  int rc = load_file(path, run, data_hash, &data, &n, e);
  if (rc) return rc;
  rbuf b = {data, n - 4, 0, 0};
  state st;
  memset(&st, 0, sizeof st);
  if (!(rc = check_header(&b, run, data_hash, path, e))) {
    run->epoch = (int)get_u32(&(rbuf){data, n, 24, 0});
    memcpy(&run->total_ms, data + 36, 8);
    b.at = 44;
    rc = read_models(&b, run, cfg, path, e);
  }
  if (!rc && state_alloc(&st, (size_t)run->K * run->P)) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  if (!rc) {
    st.t = (int64_t)get_u64(&b);
    get(&b, st.p, st.n * 4); get(&b, st.m, st.n * 4);
    get(&b, st.v, st.n * 4); get(&b, st.best, st.n * 4);
    uint32_t len = get_u32(&b);
    if (b.bad || len != b.n - b.at)
      rc = ab_err_set(e, AB_EINPUT, "%s: checkpoint is truncated or malformed", path);
  }
  if (!rc) rc = state_write(&st, be, e);
  state_free(&st);
  free(data);
  return rc;
}

/* Byte offset of the note's length field, from the header's K, P and max_epochs. */
static uint64_t note_offset(const uint8_t *data) {
  uint32_t K, maxe;
  uint64_t P;
  memcpy(&K, data + 12, 4);
  memcpy(&P, data + 16, 8);
  memcpy(&maxe, data + 28, 4);
  wbuf c = {0}, t = {0}, h = {0};
  ab_train_cfg cfg;
  ab_track tr;
  ab_epoch_stats st;
  memset(&cfg, 0, sizeof cfg); memset(&tr, 0, sizeof tr); memset(&st, 0, sizeof st);
  put_cfg(&c, &cfg); put_track(&t, &tr); put_hist(&h, &st, 1);
  uint64_t off = 44 + (uint64_t)K * (c.n + t.n) + (uint64_t)K * maxe * h.n + 8 + 16 * (uint64_t)K * P;
  free(c.p); free(t.p); free(h.p);
  return off;
}

int ab_ckpt_read_note(const char *path, char *buf, size_t n, ab_err *e) {
  FILE *f;
  uint64_t size;
  uint8_t head[CKPT_HEAD];
  int rc = ab_infile_open(&f, &size, path, "a checkpoint file", e);
  if (rc) return rc;
  if (!(rc = check_file(f, size, head, path, e))) {
    uint64_t off = note_offset(head) + 4, len = size - 4 - off;
    if (len >= n) rc = ab_err_set(e, AB_EINPUT, "%s: the stored flags are too long", path);
    else if (read_at(f, off, buf, (size_t)len)) rc = ab_err_set(e, AB_EIO, "%s: read failed", path);
    else buf[len] = '\0';
  }
  fclose(f);
  return rc;
}
