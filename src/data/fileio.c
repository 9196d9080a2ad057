/* Output files written atomically (temp file + rename) and what keeps them honest: special
 * files written through, symlinks followed, temporaries removed on signals and after dead
 * processes, several files committed all or none; advisory locks; regular-file inputs. */
#include "abgpu/fileio.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "fileio_int.h"

uint32_t ab_crc32(uint32_t crc, const void *data, size_t n) {
  static uint32_t table[256];
  if (!table[1])
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
  const uint8_t *p = data;
  crc = ~crc;
  for (size_t i = 0; i < n; i++) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

/* ---- paths ---- */

void ab_path_split(const char *p, char *dir, size_t n, const char **base) {
  const char *s = strrchr(p, '/');
  if (!s) snprintf(dir, n, ".");
  else if (s == p) snprintf(dir, n, "/");
  else snprintf(dir, n, "%.*s", (int)(s - p), p);
  *base = s ? s + 1 : p;
}

int ab_path_resolve(char *buf, size_t n, const char *path) {
  char cur[AB_PATH_MAX], link[AB_PATH_MAX], dir[AB_PATH_MAX];
  if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur) return -1;
  for (int hop = 0; hop < 40; hop++) {
    struct stat st;
    if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) break;
    ssize_t k = readlink(cur, link, sizeof link - 1);
    if (k < 0) break;
    link[k] = '\0';
    const char *base;
    ab_path_split(cur, dir, sizeof dir, &base);
    int len = link[0] == '/' || !strchr(cur, '/') ? snprintf(cur, sizeof cur, "%s", link)
                                                   : snprintf(cur, sizeof cur, "%s/%s", dir, link);
    if (len >= (int)sizeof cur) return -1;
  }
  return snprintf(buf, n, "%s", cur) >= (int)n ? -1 : 0;
}

const char *ab_file_kind(unsigned mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  return S_ISREG(mode) ? "a regular file" : "not a regular file";
}

/* ---- the temporaries open now, for the signal handlers ---- */

#define LIVE_MAX 32
static char live_path[LIVE_MAX][AB_PATH_MAX + 64];
static volatile sig_atomic_t live_on[LIVE_MAX];

/* Registers tmp before the file exists, so that a signal never misses it. 1-based. */
int ab_live_take(const char *tmp) {
  for (int i = 0; i < LIVE_MAX; i++)
    if (!live_on[i]) {
      snprintf(live_path[i], sizeof live_path[i], "%s", tmp);
      live_on[i] = 1;
      return i + 1;
    }
  return 0;
}

void ab_live_drop(int slot) {
  if (slot > 0) live_on[slot - 1] = 0;
}

static int live_has(const char *path) {
  for (int i = 0; i < LIVE_MAX; i++)
    if (live_on[i] && strcmp(live_path[i], path) == 0) return 1;
  return 0;
}

void ab_outfile_remove_temps(void) {
  for (int i = 0; i < LIVE_MAX; i++)
    if (live_on[i]) unlink(live_path[i]);
}

/* "BASE.tmp.PID" or "BASE.tmp.PID.old" of a process that is gone (not this one). */
static int stale_name(const char *name, const char *base, size_t bl, const char *full) {
  if (strncmp(name, base, bl) != 0 || strncmp(name + bl, ".tmp.", 5) != 0) return 0;
  const char *p = name + bl + 5;
  if (*p < '0' || *p > '9') return 0;
  char *end;
  errno = 0;
  long pid = strtol(p, &end, 10);
  if (errno || pid <= 0 || (*end && strcmp(end, ".old") != 0)) return 0;
  if (pid == (long)getpid()) return !live_has(full);
  return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

void ab_outfile_clean_stale(const char *path) {
  char dir[AB_PATH_MAX], full[2 * AB_PATH_MAX + 8];
  const char *base;
  ab_path_split(path, dir, sizeof dir, &base);
  size_t bl = strlen(base);
  DIR *d = bl ? opendir(dir) : NULL;
  if (!d) return;
  for (struct dirent *de; (de = readdir(d));) {
    snprintf(full, sizeof full, "%s/%s", dir, de->d_name);
    if (stale_name(de->d_name, base, bl, full)) unlink(full);
  }
  closedir(d);
}

/* ---- output files ---- */

/* Creates the temporary (a leftover of this PID that is not ours is replaced). */
static int open_tmp(ab_outfile *o, const struct stat *old, ab_err *e) {
  snprintf(o->tmp, sizeof o->tmp, "%s.tmp.%ld", o->target, (long)getpid());
  if (live_has(o->tmp))
    return ab_err_set(e, AB_EOUTPUT, "%s: already being written by this command", o->path);
  if (!(o->slot = ab_live_take(o->tmp)))
    return ab_err_set(e, AB_EOUTPUT, "%s: too many outputs open at once", o->path);
  int fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
  if (fd < 0 && errno == EEXIST && unlink(o->tmp) == 0)
    fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL, 0666);
  if (fd < 0) {
    char dir[AB_PATH_MAX];
    const char *base;
    int err = errno;
    ab_path_split(o->target, dir, sizeof dir, &base);
    ab_live_drop(o->slot);
    o->slot = 0;
    o->tmp[0] = '\0';
    return ab_err_set(e, AB_EOUTPUT, "%s: cannot create a file in folder %s: %s", o->path, dir,
                      strerror(err));
  }
  if (old) (void)fchmod(fd, old->st_mode & 07777); /* the replacement keeps the mode */
  if (!(o->f = fdopen(fd, "wb"))) {
    close(fd);
    unlink(o->tmp);
    ab_live_drop(o->slot);
    o->slot = 0;
    return ab_err_set(e, AB_ENOMEM, "out of memory opening %s", o->path);
  }
  return AB_OK;
}

int ab_outfile_open(ab_outfile *o, const char *path, ab_err *e) {
  memset(o, 0, sizeof *o);
  if (!*path) return ab_err_set(e, AB_EOUTPUT, "an empty output file name");
  if (strlen(path) >= sizeof o->path || ab_path_resolve(o->target, sizeof o->target, path))
    return ab_err_set(e, AB_EOUTPUT, "output path too long: %.200s...", path);
  strcpy(o->path, path);
  if (strcmp(path, "-") == 0) { o->f = stdout; return AB_OK; }
  struct stat st;
  int exists = stat(o->target, &st) == 0;
  if (exists && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
    if (!(o->f = fopen(o->target, "wb")))
      return ab_err_set(e, AB_EOUTPUT, "%s: cannot write: %s", path, strerror(errno));
    return AB_OK;
  }
  if (exists && !S_ISREG(st.st_mode))
    return ab_err_set(e, AB_EOUTPUT, "%s is %s, not a file; refusing to replace it", path,
                      ab_file_kind(st.st_mode));
  ab_outfile_clean_stale(o->target);
  return open_tmp(o, exists ? &st : NULL, e);
}

void ab_outfile_write(ab_outfile *o, const void *p, size_t n) {
  if (n && fwrite(p, 1, n, o->f) != n && !o->bad_errno) o->bad_errno = errno ? errno : EIO;
}

/* Flushes and closes (syncing a temporary); AB_EOUTPUT with the first error. */
static int finish_one(ab_outfile *o, ab_err *e) {
  int err = o->bad_errno;
  errno = 0;
  if (fflush(o->f) != 0 && !err) err = errno ? errno : EIO;
  if (ferror(o->f) && !err) err = errno ? errno : EIO;
  if (o->f != stdout) {
    if (o->tmp[0] && !err && fsync(fileno(o->f)) != 0 && errno != EINVAL) err = errno;
    if (fclose(o->f) != 0 && !err) err = errno ? errno : EIO;
  }
  int out = o->f == stdout;
  o->f = NULL;
  if (!err) return AB_OK;
  return ab_err_set(e, AB_EOUTPUT, "%s: write failed: %s", out ? "stdout" : o->path, strerror(err));
}

static void drop_tmp(ab_outfile *o) {
  if (o->tmp[0]) unlink(o->tmp);
  ab_live_drop(o->slot);
  o->slot = 0;
  o->tmp[0] = '\0';
}

/* Puts back targets 0..k-1 after a failed rename: the old file from its backup, or none. */
static void roll_back(ab_outfile *const *o, int k, const char (*bak)[AB_PATH_MAX + 80],
                      const int *had) {
  for (int j = 0; j < k; j++) {
    if (!o[j]->tmp[0]) continue;
    if (had[j] == 2) rename(bak[j], o[j]->target);
    else if (had[j] == 0) unlink(o[j]->target);
  }
}

/* Renames every temporary onto its target. had[i]: 0 new, 1 existed, 2 backed up. */
static int rename_all(ab_outfile *const *o, int n, char (*bak)[AB_PATH_MAX + 80], int *had,
                      ab_err *e) {
  for (int i = 0; i < n; i++) {
    struct stat st;
    had[i] = stat(o[i]->target, &st) == 0;
    snprintf(bak[i], sizeof bak[i], "%s.old", o[i]->tmp);
    if (n > 1 && had[i] && o[i]->tmp[0] && link(o[i]->target, bak[i]) == 0) had[i] = 2;
  }
  for (int i = 0; i < n; i++) {
    if (!o[i]->tmp[0] || rename(o[i]->tmp, o[i]->target) == 0) continue;
    int rc = ab_err_set(e, AB_EOUTPUT, "%s: cannot rename %s into place: %s", o[i]->path,
                        o[i]->tmp, strerror(errno));
    roll_back(o, i, (const char (*)[AB_PATH_MAX + 80])bak, had);
    return rc;
  }
  return AB_OK;
}

int ab_outfile_commit_all(ab_outfile *const *o, int n, ab_err *e) {
  int rc = AB_OK;
  for (int i = 0; i < n; i++) {
    int r = o[i]->f ? finish_one(o[i], rc ? NULL : e) : AB_OK;
    if (r && !rc) rc = r;
  }
  size_t m = n > 0 ? (size_t)n : 1;
  char (*bak)[AB_PATH_MAX + 80] = rc ? NULL : malloc(m * sizeof *bak);
  int *had = rc ? NULL : calloc(m, sizeof *had);
  if (!rc && (!bak || !had)) rc = ab_err_set(e, AB_ENOMEM, "out of memory");
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old); /* a signal never lands between two renames */
  if (!rc) rc = rename_all(o, n, bak, had, e);
  for (int i = 0; i < n; i++) {
    if (had && had[i] == 2) unlink(bak[i]);
    drop_tmp(o[i]);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  free(bak);
  free(had);
  return rc;
}

int ab_outfile_commit(ab_outfile *o, ab_err *e) {
  ab_outfile *one[1] = {o};
  return ab_outfile_commit_all(one, 1, e);
}

void ab_outfile_abort(ab_outfile *o) {
  if (o->f && o->f != stdout) fclose(o->f);
  o->f = NULL;
  drop_tmp(o);
}

/* ---- locks ---- */

static long lock_holder(int fd) {
  struct flock q = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  return fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK ? (long)q.l_pid : 0;
}

/* Locks the open file fd; 0, 1 when another process holds it, -1 on other errors. */
static int lock_fd(int fd) {
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fcntl(fd, F_SETLK, &fl) == 0) return 0;
  return errno == EACCES || errno == EAGAIN ? 1 : -1;
}

int ab_lock_take(ab_lock *l, const char *path, const char *what, ab_err *e) {
  char target[AB_PATH_MAX];
  l->fd = -1;
  if (ab_path_resolve(target, sizeof target, path) ||
      snprintf(l->path, sizeof l->path, "%s.lock", target) >= (int)sizeof l->path)
    return ab_err_set(e, AB_EOUTPUT, "path too long: %.200s...", path);
  for (int tries = 0; tries < 16; tries++) {
    int fd = open(l->path, O_RDWR | O_CREAT, 0666), r;
    if (fd < 0)
      return ab_err_set(e, AB_EOUTPUT, "%s: cannot create the lock file %s: %s", path, l->path,
                        strerror(errno));
    if ((r = lock_fd(fd)) != 0) {
      long pid = r > 0 ? lock_holder(fd) : 0;
      close(fd);
      if (r > 0)
        return ab_err_set(e, AB_EOUTPUT, "%s is being written by another %s (pid %ld holds %s); "
                          "wait for it to end or use another file", path, what, pid, l->path);
      return ab_err_set(e, AB_EOUTPUT, "%s: cannot lock %s: %s", path, l->path, strerror(errno));
    }
    struct stat a, b; /* the file may have been removed by its last holder meanwhile */
    if (fstat(fd, &a) == 0 && stat(l->path, &b) == 0 && a.st_dev == b.st_dev &&
        a.st_ino == b.st_ino) {
      char pid[32];
      int k = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
      if (ftruncate(fd, 0) == 0 && write(fd, pid, (size_t)k) < 0) { /* the PID is a courtesy */ }
      l->fd = fd;
      return AB_OK;
    }
    close(fd);
  }
  return ab_err_set(e, AB_EOUTPUT, "%s: cannot take the lock %s", path, l->path);
}

void ab_lock_release(ab_lock *l) {
  if (l->fd < 0) return;
  unlink(l->path);
  close(l->fd);
  l->fd = -1;
}

/* ---- inputs ---- */

int ab_infile_open(FILE **f, uint64_t *size, const char *path, const char *what, ab_err *e) {
  *f = NULL;
  int fd = open(path, O_RDONLY | O_NONBLOCK); /* a FIFO must not block the open */
  if (fd < 0) return ab_err_set(e, AB_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    close(fd);
    return ab_err_set(e, AB_EIO, "%s: cannot read: %s", path, strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return ab_err_set(e, AB_EINPUT, "%s is %s, not %s", path, ab_file_kind(st.st_mode), what);
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  if (!(*f = fdopen(fd, "rb"))) {
    close(fd);
    return ab_err_set(e, AB_ENOMEM, "out of memory opening %s", path);
  }
  *size = (uint64_t)st.st_size;
  return AB_OK;
}
