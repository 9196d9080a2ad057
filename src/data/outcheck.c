/* The checks every output gets before a command does any work (ab_outputs_check). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "abgpu/fileio.h"
#include "fileio_int.h"

/* What one output resolves to. */
typedef struct outinfo {
  char target[AB_PATH_MAX];    /* symlinks followed */
  const char *base;            /* the name in its folder: compares files not made yet */
  int exists, special, out;    /* out: stdout */
  struct stat st, dir;
} outinfo;

/* A file can be created in the folder: tried with the temporary's own name. */
static int probe_folder(const ab_path_use *u, const char *target, const char *dir, ab_err *e) {
  char tmp[AB_PATH_MAX + 64];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", target, (long)getpid());
  int slot = ab_live_take(tmp); /* a signal now removes the probe too */
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600), err = errno;
  if (fd >= 0) {
    close(fd);
    unlink(tmp);
  }
  ab_live_drop(slot);
  if (fd < 0 && err != EEXIST)
    return ab_err_set(e, AB_EOUTPUT, "%s %s: cannot create a file in folder %s: %s", u->flag,
                      u->path, dir, strerror(err));
  return AB_OK;
}

static int check_folder(const ab_path_use *u, outinfo *w, ab_err *e) {
  char dir[AB_PATH_MAX];
  const char *base;
  struct stat *ds = &w->dir;
  ab_path_split(w->target, dir, sizeof dir, &base);
  w->base = base;
  if (!*base)
    return ab_err_set(e, AB_EOUTPUT, "%s %s names a folder; give a file name", u->flag, u->path);
  if (stat(dir, ds) != 0)
    return ab_err_set(e, AB_EOUTPUT, "%s %s: %s %s", u->flag, u->path,
                      errno == ENOENT ? "there is no folder" : "cannot use folder", dir);
  if (!S_ISDIR(ds->st_mode))
    return ab_err_set(e, AB_EOUTPUT, "%s %s: %s is not a folder", u->flag, u->path, dir);
  return probe_folder(u, w->target, dir, e);
}

static int check_one(const ab_path_use *u, outinfo *w, ab_err *e) {
  memset(w, 0, sizeof *w);
  if (!*u->path) return ab_err_set(e, AB_EOUTPUT, "%s: an empty file name", u->flag);
  if (strcmp(u->path, "-") == 0) { w->out = 1; return AB_OK; }
  if (ab_path_resolve(w->target, sizeof w->target, u->path))
    return ab_err_set(e, AB_EOUTPUT, "%s: path too long", u->flag);
  w->exists = stat(w->target, &w->st) == 0;
  if (!w->exists && errno != ENOENT && errno != ENOTDIR) /* ENOTDIR: check_folder says which */
    return ab_err_set(e, AB_EOUTPUT, "%s %s: %s", u->flag, u->path, strerror(errno));
  if (w->exists && S_ISDIR(w->st.st_mode))
    return ab_err_set(e, AB_EOUTPUT, "%s %s is a folder; give a file name", u->flag, u->path);
  if (w->exists && (S_ISCHR(w->st.st_mode) || S_ISFIFO(w->st.st_mode))) {
    w->special = 1;
    if (access(w->target, W_OK) != 0)
      return ab_err_set(e, AB_EOUTPUT, "%s %s: cannot write: %s", u->flag, u->path, strerror(errno));
    return AB_OK;
  }
  if (w->exists && !S_ISREG(w->st.st_mode))
    return ab_err_set(e, AB_EOUTPUT, "%s %s is %s; refusing to replace it", u->flag, u->path,
                      ab_file_kind(w->st.st_mode));
  return check_folder(u, w, e);
}

static int same_inode(const struct stat *a, const struct stat *b) {
  return S_ISREG(a->st_mode) && S_ISREG(b->st_mode) && a->st_dev == b->st_dev &&
         a->st_ino == b->st_ino;
}

static int check_inputs(const ab_path_use *u, const outinfo *w, const ab_path_use *in, int nin,
                        ab_err *e) {
  for (int k = 0; k < nin && w->exists; k++) {
    struct stat is;
    if (!in[k].path || strcmp(in[k].path, "-") == 0 || stat(in[k].path, &is) != 0) continue;
    if (same_inode(&is, &w->st))
      return ab_err_set(e, AB_EOUTPUT, "%s %s is the same file as %s %s: writing it would "
                        "destroy the input; write to another file", u->flag, u->path,
                        in[k].flag, in[k].path);
  }
  return AB_OK;
}

static int check_pair(const ab_path_use *a, const outinfo *x, const ab_path_use *b,
                      const outinfo *y, ab_err *e) {
  if (x->out && y->out)
    return ab_err_set(e, AB_EUSAGE, "%s and %s both write to stdout; send one of them to a "
                      "file", a->flag, b->flag);
  if (x->out || y->out || x->special || y->special) return AB_OK;
  int same = x->exists && y->exists ? same_inode(&x->st, &y->st)
             : x->dir.st_dev == y->dir.st_dev && x->dir.st_ino == y->dir.st_ino &&
                   strcmp(x->base, y->base) == 0;
  if (same)
    return ab_err_set(e, AB_EOUTPUT, "%s %s and %s %s are the same file; give each its own",
                      a->flag, a->path, b->flag, b->path);
  return AB_OK;
}

int ab_outputs_check(const ab_path_use *out, int nout, const ab_path_use *in, int nin,
                     ab_err *e) {
  outinfo *w = calloc((size_t)(nout > 0 ? nout : 1), sizeof *w);
  if (!w) return ab_err_set(e, AB_ENOMEM, "out of memory");
  int rc = AB_OK;
  for (int i = 0; i < nout && !rc; i++)
    if (out[i].path && !(rc = check_one(&out[i], &w[i], e)))
      rc = check_inputs(&out[i], &w[i], in, nin, e);
  for (int i = 0; i < nout && !rc; i++)
    for (int j = i + 1; j < nout && !rc && out[i].path; j++)
      if (out[j].path) rc = check_pair(&out[i], &w[i], &out[j], &w[j], e);
  free(w);
  return rc;
}
