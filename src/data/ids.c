/* Customer ids as text: one growing buffer of NUL-terminated ids and their offsets, and
 * the duplicate check. Ids that are all plain integers (the export's) are compared as
 * numbers by a byte radix sort; any others by a hash set over their text. */
#include <stdlib.h>
#include <string.h>
#include "abgpu/table.h"

static int grow_text(ab_ids *ids, size_t need, ab_err *e) {
  size_t c = ids->cap ? ids->cap : 4096;
  while (c < need) c *= 2;
  char *t = realloc(ids->text, c);
  if (!t) return ab_err_set(e, AB_ENOMEM, "out of memory for %zu customer ids", ids->n);
  ids->text = t;
  ids->cap = c;
  return AB_OK;
}

static int grow_off(ab_ids *ids, size_t need, ab_err *e) {
  size_t c = ids->ncap ? ids->ncap : 1024;
  while (c < need) c *= 2;
  uint64_t *o = realloc(ids->off, c * sizeof *o);
  if (!o) return ab_err_set(e, AB_ENOMEM, "out of memory for %zu customer ids", ids->n);
  ids->off = o;
  ids->ncap = c;
  return AB_OK;
}

int ab_ids_reserve(ab_ids *ids, size_t n, size_t bytes, ab_err *e) {
  int rc = ids->n + n > ids->ncap ? grow_off(ids, ids->n + n, e) : AB_OK;
  if (!rc && ids->len + bytes + n > ids->cap) rc = grow_text(ids, ids->len + bytes + n, e);
  return rc;
}

int ab_ids_push(ab_ids *ids, const char *s, size_t len, ab_err *e) {
  int rc = ids->n == ids->ncap ? grow_off(ids, ids->n + 1, e) : AB_OK;
  if (!rc && ids->len + len + 1 > ids->cap) rc = grow_text(ids, ids->len + len + 1, e);
  if (rc) return rc;
  ids->off[ids->n++] = ids->len;
  memcpy(ids->text + ids->len, s, len);
  ids->text[ids->len + len] = '\0';
  ids->len += len + 1;
  return AB_OK;
}

int ab_ids_number(ab_ids *ids, uint64_t first, size_t n, ab_err *e) {
  int rc = ab_ids_reserve(ids, n, n * 20, e);
  for (size_t i = 0; i < n && !rc; i++) {
    char b[24];
    int k = snprintf(b, sizeof b, "%llu", (unsigned long long)(first + i));
    rc = ab_ids_push(ids, b, (size_t)k, e);
  }
  return rc;
}

void ab_ids_truncate(ab_ids *ids, size_t n) {
  if (n >= ids->n) return;
  ids->len = ids->off[n];
  ids->n = n;
}

void ab_ids_free(ab_ids *ids) {
  free(ids->text);
  free(ids->off);
  memset(ids, 0, sizeof *ids);
}

/* ---- duplicates ---- */

/* The id as a number when it is a plain integer: 1 to 18 digits, no leading zero (so that
 * equal numbers are equal texts). */
static int plain_integer(const char *s, uint64_t *v) {
  uint64_t x = 0;
  size_t k = 0;
  for (; s[k] >= '0' && s[k] <= '9'; k++) x = x * 10 + (uint64_t)(s[k] - '0');
  *v = x;
  return s[k] == '\0' && k >= 1 && k <= 18 && (s[0] != '0' || k == 1);
}

/* LSD radix sort of n keys, one byte a pass, over only the low `bytes` bytes (the keys
 * are offsets from the smallest id, so ids below 65536 apart take two passes). */
static void radix_sort_keys(uint64_t *a, uint64_t *tmp, size_t n, int bytes) {
  for (int pass = 0; pass < bytes; pass++) {
    size_t count[256] = {0};
    int shift = 8 * pass;
    for (size_t i = 0; i < n; i++) count[(a[i] >> shift) & 0xFF]++;
    size_t sum = 0;
    for (int d = 0; d < 256; d++) { size_t c = count[d]; count[d] = sum; sum += c; }
    for (size_t i = 0; i < n; i++) tmp[count[(a[i] >> shift) & 0xFF]++] = a[i];
    uint64_t *t = a; a = tmp; tmp = t;
  }
  if (bytes % 2) memcpy(tmp, a, n * sizeof *a); /* odd pass count: result was in tmp */
}

/* Plain-integer ids: 1 when two are equal, 0 when none, -1 out of memory, -2 when some id
 * is not a plain integer. Increasing ids need no sort. */
static int numeric_duplicate(const ab_ids *ids) {
  size_t n = ids->n;
  uint64_t *a = malloc((n ? n : 1) * sizeof *a), lo = UINT64_MAX, hi = 0;
  if (!a) return -1;
  int sorted = 1;
  for (size_t i = 0; i < n; i++) {
    if (!plain_integer(ab_ids_get(ids, i), &a[i])) { free(a); return -2; }
    sorted &= i == 0 || a[i] > a[i - 1];
    lo = a[i] < lo ? a[i] : lo;
    hi = a[i] > hi ? a[i] : hi;
  }
  if (sorted) { free(a); return 0; }
  uint64_t span = hi - lo, *tmp = malloc(n * sizeof *tmp);
  if (!tmp) { free(a); return -1; }
  int bytes = 0;
  while (bytes < 8 && (span >> (8 * bytes)) != 0) bytes++;
  for (size_t k = 0; k < n; k++) a[k] -= lo;
  radix_sort_keys(a, tmp, n, bytes);
  int dup = 0;
  for (size_t k = 1; k < n && !dup; k++) dup = a[k] == a[k - 1];
  free(a);
  free(tmp);
  return dup;
}

static uint64_t hash_text(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
  return h ^ (h >> 29);
}

/* A slot of the set: a row and its id's hash (so that most mismatches never touch the
 * text). row UINT32_MAX: empty. */
typedef struct slot { uint32_t hash, row; } slot;

/* The earliest second occurrence in file order, by an open-addressing set of rows.
 * Returns 1 found, 0 none, -1 out of memory (or more than 4 billion rows). */
static int first_repeat(const ab_ids *ids, size_t *first, size_t *second) {
  size_t cap = 1024;
  while (cap < 2 * ids->n) cap *= 2;
  slot *set = ids->n < UINT32_MAX ? malloc(cap * sizeof *set) : NULL;
  if (!set) return -1;
  memset(set, 0xFF, cap * sizeof *set);
  int found = 0;
  for (size_t i = 0; i < ids->n && !found; i++) {
    const char *s = ab_ids_get(ids, i);
    uint64_t h64 = hash_text(s);
    uint32_t h32 = (uint32_t)(h64 >> 32);
    size_t h = (size_t)h64 & (cap - 1);
    for (; set[h].row != UINT32_MAX; h = (h + 1) & (cap - 1))
      if (set[h].hash == h32 && strcmp(ab_ids_get(ids, set[h].row), s) == 0) {
        *first = set[h].row;
        *second = i;
        found = 1;
        break;
      }
    set[h] = (slot){h32, (uint32_t)i};
  }
  free(set);
  return found;
}

int ab_ids_find_duplicate(const ab_ids *ids, size_t *first, size_t *second) {
  int d = numeric_duplicate(ids);
  if (d == 0 || d == -1) return d;
  return first_repeat(ids, first, second);
}

/* The slot where id s is in the set of ref's rows, or the empty slot it would take. */
static size_t find_slot(const slot *set, size_t cap, const ab_ids *ref, const char *s,
                        uint64_t h64) {
  uint32_t h32 = (uint32_t)(h64 >> 32);
  size_t h = (size_t)h64 & (cap - 1);
  while (set[h].row != UINT32_MAX &&
         !(set[h].hash == h32 && strcmp(ab_ids_get(ref, set[h].row), s) == 0))
    h = (h + 1) & (cap - 1);
  return h;
}

int ab_ids_count_common(const ab_ids *ids, const ab_ids *ref, uint64_t *common, ab_err *e) {
  size_t cap = 1024;
  while (cap < 2 * ref->n) cap *= 2;
  slot *set = ref->n < UINT32_MAX ? malloc(cap * sizeof *set) : NULL;
  if (!set) return ab_err_set(e, AB_ENOMEM, "out of memory for a set of %zu ids", ref->n);
  memset(set, 0xFF, cap * sizeof *set);
  for (size_t i = 0; i < ref->n; i++) {
    const char *s = ab_ids_get(ref, i);
    uint64_t h = hash_text(s);
    size_t k = find_slot(set, cap, ref, s, h);
    if (set[k].row == UINT32_MAX) set[k] = (slot){(uint32_t)(h >> 32), (uint32_t)i};
  }
  *common = 0;
  for (size_t i = 0; i < ids->n; i++) {
    const char *s = ab_ids_get(ids, i);
    *common += set[find_slot(set, cap, ref, s, hash_text(s))].row != UINT32_MAX;
  }
  free(set);
  return AB_OK;
}
