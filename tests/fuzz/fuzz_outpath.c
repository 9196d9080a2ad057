/* libFuzzer target: outputs (issue 17 items 1, 2, 11, 12). The bytes build a small tree in a
 * scratch folder (files, folders, symlinks, hard links, a character device through a link
 * to /dev/null, stale temporaries of a dead process), then name an output and an input in
 * it. ab_outputs_check decides; when it accepts, the output is written with ab_outfile.
 * Whatever happens: a refusal is one line and changes nothing; an accepted write changes
 * only the output's target, never replaces a folder, a link or a device with a file, never
 * touches the input, and leaves no temporary behind. */
#define _XOPEN_SOURCE 700 /* nftw */
#define _DEFAULT_SOURCE   /* lstat, symlink, readlink, mkdtemp */
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "abgpu/fileio.h"

static const char *const NAMES[8] = {"a", "b", "d", "d/a", "d/b", "d/e", "e", "d/e/a"};

typedef struct snap { char text[8192]; } snap;

/* Every entry below the current folder: name, type, size or link target, first bytes. */
static void walk(const char *dir, snap *s, int depth) {
  DIR *d = opendir(dir);
  if (!d || depth > 4) { if (d) closedir(d); return; }
  char names[64][256];
  int n = 0;
  for (struct dirent *de; (de = readdir(d)) && n < 64;)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) snprintf(names[n++], 256, "%s", de->d_name);
  closedir(d);
  for (int i = 1; i < n; i++) /* sorted, so that two walks compare */
    for (int j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
      char t[256];
      memcpy(t, names[j], 256); memcpy(names[j], names[j - 1], 256); memcpy(names[j - 1], t, 256);
    }
  for (int i = 0; i < n; i++) {
    char p[600], line[900], body[32] = "";
    snprintf(p, sizeof p, "%s/%s", dir, names[i]);
    struct stat st;
    if (lstat(p, &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char t[300] = "";
      ssize_t k = readlink(p, t, sizeof t - 1);
      t[k > 0 ? k : 0] = '\0';
      snprintf(line, sizeof line, "%s L %s\n", p, t);
    } else if (S_ISREG(st.st_mode)) {
      FILE *f = fopen(p, "rb");
      size_t k = f ? fread(body, 1, sizeof body - 1, f) : 0;
      if (f) fclose(f);
      body[k] = '\0';
      snprintf(line, sizeof line, "%s F %lld %s\n", p, (long long)st.st_size, body);
    } else {
      snprintf(line, sizeof line, "%s %c\n", p, S_ISDIR(st.st_mode) ? 'D' : 'O');
    }
    strncat(s->text, line, sizeof s->text - strlen(s->text) - 1);
    if (S_ISDIR(st.st_mode)) walk(p, s, depth + 1);
  }
}

/* One op per 2 bytes: kind, name (and a link's target from the next name). */
static void build(const uint8_t *d, size_t n, long dead_pid) {
  mkdir("d", 0755);
  for (size_t i = 0; i + 1 < n && i < 24; i += 2) {
    const char *name = NAMES[d[i + 1] % 8], *other = NAMES[(d[i + 1] / 8) % 8];
    char tmp[64];
    switch (d[i] % 7) {
      case 0: { FILE *f = fopen(name, "wb"); if (f) { fputs("old", f); fclose(f); } break; }
      case 1: mkdir(name, 0755); break;
      case 2: if (symlink(other, name)) {} break;                 /* may dangle */
      case 3: if (link(other, name)) {} break;
      case 4: if (symlink("/dev/null", name)) {} break;           /* a device */
      case 5: snprintf(tmp, sizeof tmp, "%s.tmp.%ld", name, dead_pid); /* a stale temporary */
              { FILE *f = fopen(tmp, "wb"); if (f) fclose(f); } break;
      case 6: { FILE *f = fopen(name, "wb"); if (f) { fputs("input", f); fclose(f); } break; }
    }
  }
}

/* The first bytes of the regular file at path (links followed), "-" when there is none. */
static void read_head(const char *path, char *buf) {
  struct stat st;
  FILE *f = stat(path, &st) == 0 && S_ISREG(st.st_mode) ? fopen(path, "rb") : NULL;
  size_t k = f ? fread(buf, 1, 63, f) : 0;
  if (f) fclose(f);
  buf[k] = '\0';
  if (!f) strcpy(buf, "-");
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st; (void)flag; (void)ftw;
  return remove(p);
}

/* No "*.tmp.<our pid>" anywhere, and no stale one of the output's target either. */
static int has_own_temp(const char *text) {
  char pat[32];
  snprintf(pat, sizeof pat, ".tmp.%ld", (long)getpid());
  return strstr(text, pat) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  static long dead_pid;
  if (!dead_pid) { /* a PID that is gone: a child that exited */
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    dead_pid = p;
  }
  char root[] = "/tmp/fuzz_outpath.XXXXXX", cwd[4096];
  if (!mkdtemp(root) || !getcwd(cwd, sizeof cwd) || chdir(root) != 0) return 0;
  size_t nb = size - 2;
  build(data, nb, dead_pid);
  const char *out = data[nb] % 9 == 8 ? "" : NAMES[data[nb] % 8];
  const char *in = NAMES[data[nb + 1] % 8];
  static snap before, after;
  before.text[0] = after.text[0] = '\0';
  walk(".", &before, 0);
  char in_before[64], in_after[64];
  read_head(in, in_before);
  ab_path_use o = {"--out", out}, i = {"--data", in};
  ab_err e = {0};
  int rc = ab_outputs_check(&o, 1, &i, 1, &e);
  if (rc == AB_OK) {
    ab_outfile f;
    rc = ab_outfile_open(&f, out, &e);
    if (rc == AB_OK) {
      ab_outfile_write(&f, "new", 3);
      rc = ab_outfile_commit(&f, &e);
    }
  }
  if (rc != AB_OK && strchr(e.msg, '\n')) abort();
  walk(".", &after, 0);
  if (has_own_temp(after.text)) abort();
  read_head(in, in_after);
  if (strcmp(in_before, "-") && strcmp(in_before, in_after)) abort(); /* an input untouched */
  /* what must never change: folders, links, devices, the input's bytes; after a refusal,
   * nothing at all */
  for (const char *p = before.text; *p;) {
    const char *nl = strchr(p, '\n');
    char line[1024];
    snprintf(line, sizeof line, "%.*s\n", (int)(nl - p), p);
    int keep = strstr(line, " D\n") || strstr(line, " L ") || strstr(line, " O\n") || rc != AB_OK;
    if (keep && !strstr(line, ".tmp.") && !strstr(after.text, line)) abort();
    p = nl + 1;
  }
  if (chdir(cwd) != 0) abort();
  nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}
