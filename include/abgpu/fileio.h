/* fileio.h - CRC32, atomic output files (temp file + rename), the checks every output
 * gets before any work, advisory locks, and opening inputs whose size matters. */
#ifndef ABGPU_FILEIO_H
#define ABGPU_FILEIO_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "abgpu/err.h"

#define AB_PATH_MAX 4096

/* CRC-32 (IEEE 802.3, the zip/PNG polynomial). Start with crc = 0; chain calls. */
uint32_t ab_crc32(uint32_t crc, const void *data, size_t n);

/* ---- output files (fileio.c) ----
 * A regular file (or a new one) is written to "TARGET.tmp.PID" beside it and renamed onto
 * it on commit. TARGET is the path with its symlinks followed, so a link stays a link and
 * its target is replaced. A character device or a FIFO is written directly (so /dev/null
 * stays a device and /dev/full reports "No space left on device"); any other existing
 * file that is not regular (a folder, a block device, a socket) is refused. "-" is stdout.
 * Temporaries of dead processes ("TARGET.tmp.PID" whose PID is gone) are removed when the
 * same target is opened again. Errors: AB_EOUTPUT, naming the path. */
typedef struct ab_outfile {
  FILE *f;
  char path[AB_PATH_MAX];    /* as given, for messages */
  char target[AB_PATH_MAX];  /* symlinks followed */
  char tmp[AB_PATH_MAX + 64];/* "" when written directly */
  int slot;                  /* in the table of live temporaries; -1 when none */
  int bad_errno;             /* first write error (errno), 0 when none */
} ab_outfile;

int ab_outfile_open(ab_outfile *o, const char *path, ab_err *e);
/* fwrite that remembers the first failure; the error itself is reported on commit. */
void ab_outfile_write(ab_outfile *o, const void *p, size_t n);
/* Flushes, syncs, closes and renames into place; on any error removes the temp file and
 * leaves the destination as it was. */
int ab_outfile_commit(ab_outfile *o, ab_err *e);
/* Commits n files all or none: every one is flushed and closed first (any failure
 * removes every temporary), then they are renamed with signals blocked; a failed rename
 * puts back the files already replaced. Files written directly cannot be taken back. */
int ab_outfile_commit_all(ab_outfile *const *o, int n, ab_err *e);
/* Closes and removes the temp file (the destination is left untouched). */
void ab_outfile_abort(ab_outfile *o);
/* Removes every temporary still open in this process. Async-signal-safe: the CLI's
 * SIGINT/SIGTERM handlers call it before _exit. */
void ab_outfile_remove_temps(void);
/* Removes temporaries of dead processes for path (as ab_outfile_open does). */
void ab_outfile_clean_stale(const char *path);

/* ---- checks before any work (outcheck.c) ---- */

/* A path a command reads or writes, and the flag that named it (for messages). */
typedef struct ab_path_use {
  const char *flag, *path;
} ab_path_use;

/* Checks outputs before any work: a name is given; "-" (stdout) at most once; an existing
 * file is regular, a character device or a FIFO (not a folder); the folder exists and a
 * file can be created in it; no output is the same file as an input (by device and inode,
 * not by name) or as another output. Entries with a NULL path are skipped. AB_EOUTPUT
 * (AB_EUSAGE for two outputs on stdout) with a message naming the flag and the path. */
int ab_outputs_check(const ab_path_use *out, int nout, const ab_path_use *in, int nin,
                     ab_err *e);
/* The path with its symlinks followed (at most 40), into buf. 0, or -1 when too long. */
int ab_path_resolve(char *buf, size_t n, const char *path);

/* An advisory lock on "PATH.lock" (fcntl), held until released or the process ends. */
typedef struct ab_lock {
  int fd;
  char path[AB_PATH_MAX + 8];
} ab_lock;
/* Takes the lock without waiting; AB_EOUTPUT naming the holder's PID when it is held. */
int ab_lock_take(ab_lock *l, const char *path, const char *what, ab_err *e);
/* Removes the lock file and releases the lock (no-op when not held). */
void ab_lock_release(ab_lock *l);

/* Opens an input that must be a regular file (its size is needed): a folder or a device
 * is refused with a message saying what was expected (`what`, e.g. "a model file").
 * *size gets the file's size. AB_EIO when it cannot be opened. */
int ab_infile_open(FILE **f, uint64_t *size, const char *path, const char *what, ab_err *e);

#endif
