/* .npz files: a zip archive (stored, no compression) of .npy arrays; the notebook's
 * splits (inputs float64 [n,10], targets int64 [n]) and any named arrays (npz.h).
 * Format: NumPy's NEP 1 (.npy v1.0) and PKWARE's APPNOTE (local headers, central
 * directory, end record). */
#include <stdlib.h>
#include <string.h>
#include "abgpu/fileio.h"
#include "abgpu/npz.h"
#include "abgpu/prep.h"

typedef struct membuf { uint8_t *p; size_t n, cap; } membuf;

static int put(membuf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    size_t c = (b->n + n) * 2;
    uint8_t *p = realloc(b->p, c);
    if (!p) return -1;
    b->p = p; b->cap = c;
  }
  memcpy(b->p + b->n, d, n);
  b->n += n;
  return 0;
}

static int put16(membuf *b, uint16_t v) { uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)}; return put(b, x, 2); }
static int put32(membuf *b, uint32_t v) { return put16(b, (uint16_t)v) | put16(b, (uint16_t)(v >> 16)); }

/* One .npy array: header padded so that the data starts at a multiple of 64. */
static int npy(membuf *b, const ab_npy_array *a) {
  char hdr[256], shape[64];
  if (a->ndim == 2) snprintf(shape, sizeof shape, "(%zu, %zu)", a->shape[0], a->shape[1]);
  else if (a->ndim == 1) snprintf(shape, sizeof shape, "(%zu,)", a->shape[0]);
  else snprintf(shape, sizeof shape, "()");
  int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                   a->descr, shape);
  while ((10 + n + 1) % 64) hdr[n++] = ' ';
  hdr[n++] = '\n';
  return put(b, "\x93NUMPY\x01\x00", 8) | put16(b, (uint16_t)n) | put(b, hdr, (size_t)n) |
         put(b, a->data, a->bytes);
}

typedef struct zentry { char name[80]; uint32_t crc, size, off; } zentry;

static int zip_local(membuf *z, zentry *ze, const membuf *file) {
  ze->crc = ab_crc32(0, file->p, file->n);
  ze->size = (uint32_t)file->n;
  ze->off = (uint32_t)z->n;
  uint16_t nl = (uint16_t)strlen(ze->name);
  return put32(z, 0x04034b50) | put16(z, 20) | put16(z, 0) | put16(z, 0) | put32(z, 0) |
         put32(z, ze->crc) | put32(z, ze->size) | put32(z, ze->size) | put16(z, nl) |
         put16(z, 0) | put(z, ze->name, nl) | put(z, file->p, file->n);
}

static int zip_central(membuf *z, const zentry *ze, int n) {
  uint32_t start = (uint32_t)z->n;
  int bad = 0;
  for (int i = 0; i < n; i++) {
    uint16_t nl = (uint16_t)strlen(ze[i].name);
    bad |= put32(z, 0x02014b50) | put16(z, 20) | put16(z, 20) | put16(z, 0) | put16(z, 0) |
           put32(z, 0) | put32(z, ze[i].crc) | put32(z, ze[i].size) | put32(z, ze[i].size) |
           put16(z, nl) | put16(z, 0) | put16(z, 0) | put16(z, 0) | put16(z, 0) | put32(z, 0) |
           put32(z, ze[i].off) | put(z, ze[i].name, nl);
  }
  uint32_t size = (uint32_t)z->n - start;
  return bad | put32(z, 0x06054b50) | put16(z, 0) | put16(z, 0) | put16(z, (uint16_t)n) |
         put16(z, (uint16_t)n) | put32(z, size) | put32(z, start) | put16(z, 0);
}

#define NPZ_MAX_ARRAYS 64

/* Builds an archive of n arrays in memory (little-endian host assumed, as x86/ARM). */
static int npz_build_arrays(membuf *z, const ab_npy_array *a, int n) {
  zentry ze[NPZ_MAX_ARRAYS];
  int bad = n > NPZ_MAX_ARRAYS;
  for (int i = 0; i < n && !bad; i++) {
    membuf f = {0};
    snprintf(ze[i].name, sizeof ze[i].name, "%s.npy", a[i].name);
    bad = npy(&f, &a[i]) || zip_local(z, &ze[i], &f);
    free(f.p);
  }
  return bad || zip_central(z, ze, n) ? -1 : 0;
}

/* 1 when s is a plain integer (1-18 digits, no leading zero) that fits int64; *v its value. */
static int plain_id(const char *s, int64_t *v) {
  int64_t x = 0;
  size_t k = 0;
  for (; s[k] >= '0' && s[k] <= '9'; k++) x = x * 10 + (s[k] - '0');
  *v = x;
  return !s[k] && k >= 1 && k <= 18 && (s[0] != '0' || k == 1);
}

/* The ids as an array: int64 when every id is a plain integer (the export's), else byte
 * strings ("|S<w>", w the longest id's bytes, UTF-8 as read). *buf: its data (freed by
 * the caller). */
static int ids_array(ab_npy_array *a, char descr[24], void **buf, const ab_ids *ids) {
  size_t n = ids->n, w = 1;
  int64_t *v = malloc((n ? n : 1) * sizeof *v);
  int plain = v != NULL;
  for (size_t i = 0; i < n && plain; i++) plain = plain_id(ab_ids_get(ids, i), &v[i]);
  *a = (ab_npy_array){"ids", "<i8", 1, {n, 0}, v, n * sizeof *v};
  *buf = v;
  if (plain || !v) return v ? 0 : -1;
  free(v);
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(ab_ids_get(ids, i));
    w = len > w ? len : w;
  }
  char *s = calloc(n ? n : 1, w);
  if (!s) return -1;
  for (size_t i = 0; i < n; i++) memcpy(s + i * w, ab_ids_get(ids, i), strlen(ab_ids_get(ids, i)));
  snprintf(descr, 24, "|S%zu", w);
  *a = (ab_npy_array){"ids", descr, 1, {n, 0}, s, n * w};
  *buf = s;
  return 0;
}

/* The archive for one split: inputs (float64 [n,d], the network's inputs: the 10
 * features, or their encoding), targets (int64 [n]) and ids (the customer ids, which the
 * notebook's reader ignores: int64 [n], or byte strings when some id is not a number). */
static int npz_build(membuf *z, const ab_split *sp) {
  size_t n = sp->n, d = (size_t)sp->d;
  double *x = malloc((n ? n : 1) * d * sizeof *x);
  int64_t *y = malloc((n ? n : 1) * sizeof *y);
  char descr[24];
  void *ib = NULL;
  ab_npy_array a[3];
  int bad = !x || !y || ids_array(&a[2], descr, &ib, &sp->ids);
  if (!bad) {
    for (size_t i = 0; i < n * d; i++) x[i] = sp->in[i];
    for (size_t i = 0; i < n; i++) y[i] = sp->y[i];
    a[0] = (ab_npy_array){"inputs", "<f8", 2, {n, d}, x, n * d * sizeof *x};
    a[1] = (ab_npy_array){"targets", "<i8", 1, {n, 0}, y, n * sizeof *y};
    bad = npz_build_arrays(z, a, 3);
  }
  free(x); free(y); free(ib);
  return bad ? -1 : 0;
}

int ab_npz_write_to(ab_outfile *o, const ab_npy_array *arrays, int n, ab_err *e) {
  membuf z = {0};
  int rc = npz_build_arrays(&z, arrays, n) ? ab_err_set(e, AB_ENOMEM, "out of memory") : AB_OK;
  if (!rc) ab_outfile_write(o, z.p, z.n);
  free(z.p);
  return rc;
}

int ab_npz_write(const char *path, const ab_npy_array *arrays, int n, ab_err *e) {
  ab_outfile o;
  int rc = ab_outfile_open(&o, path, e);
  if (!rc && (rc = ab_npz_write_to(&o, arrays, n, e))) ab_outfile_abort(&o);
  return rc ? rc : ab_outfile_commit(&o, e);
}

void ab_prep_npz_paths(char (*paths)[AB_PREP_NPZ_PATH], const char *dir) {
  static const char *const names[3] = {"train", "validation", "test"};
  for (int i = 0; i < 3; i++)
    snprintf(paths[i], AB_PREP_NPZ_PATH, "%s/Audiobooks_data_%s.npz", dir, names[i]);
}

int ab_prep_npz_write_to(ab_outfile *o, const ab_splits *s, const char *dir, ab_err *e) {
  const ab_split *sp[3] = {&s->train, &s->val, &s->test};
  char paths[3][AB_PREP_NPZ_PATH];
  ab_prep_npz_paths(paths, dir);
  int rc = AB_OK, opened = 0;
  for (int i = 0; i < 3 && !rc; i++) {
    membuf z = {0};
    if ((rc = ab_outfile_open(&o[i], paths[i], e))) break;
    opened++;
    if (npz_build(&z, sp[i])) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
    else ab_outfile_write(&o[i], z.p, z.n);
    free(z.p);
  }
  for (int i = 0; rc && i < opened; i++) ab_outfile_abort(&o[i]);
  return rc;
}

int ab_prep_write_npz(const ab_splits *s, const char *dir, ab_err *e) {
  ab_outfile o[3];
  int rc = ab_prep_npz_write_to(o, s, dir, e);
  if (rc) return rc;
  ab_outfile *all[3] = {&o[0], &o[1], &o[2]};
  return ab_outfile_commit_all(all, 3, e); /* all three land, or none */
}
