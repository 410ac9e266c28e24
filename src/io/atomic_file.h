/* Files that matter (checkpoints, weights, configurations, metrics) are written atomically: into a temporary file
 * beside the target, flushed and fsync'ed, renamed over it, then the folder fsync'ed, so a crash leaves either the
 * old file or the new one, never a mixture.
 *
 * The temporary file is "<dir>/.<name>.tmp-XXXXXXXX" with eight random characters from getrandom(), created with
 * O_CREAT|O_EXCL|O_NOFOLLOW: a file or symlink planted there makes the open fail (and a fresh name is drawn) instead
 * of being followed, and the name cannot be predicted. rename() replaces the target's directory entry itself, so a
 * symlink at the target is replaced, never followed. A target that is neither a regular file nor a symlink (a device
 * node, FIFO, socket or folder) is never replaced: open and commit refuse it, naming what it is. */
#ifndef DY_IO_ATOMIC_FILE_H
#define DY_IO_ATOMIC_FILE_H

#include <stdio.h>

#include "dystress.h"

typedef struct {
    FILE *fp;        /* write through this */
    char *tmp_path;  /* "<dir>/.<name>.tmp-XXXXXXXX" */
    char *path;      /* the final name */
} dy_atomic_file;

dy_status dy_atomic_open(dy_ctx *ctx, dy_atomic_file *f, const char *path);
/* Flushes, fsyncs, closes and renames into place, then fsyncs the folder. Every step is checked: on failure the
 * message names the target and the OS error, the target is untouched and the temporary file removed. */
dy_status dy_atomic_commit(dy_ctx *ctx, dy_atomic_file *f);
/* Gives up: closes and removes the temporary file. Safe to call after a failed commit or twice. */
void dy_atomic_abort(dy_atomic_file *f);

/* Removes temporary files that an atomic write of path left behind when its process was killed (regular files named
 * as above, never following a link). Returns how many were removed. */
int dy_atomic_remove_stale(const char *path);
/* fsyncs the folder that holds path (after a rename or an unlink in it). 0, or -1 with errno. */
int dy_fsync_parent(const char *path);
/* mkdir -p: path and every missing folder above it, made with mode (less the umask). 0 when path is a folder
 * then, or -1 with errno (ENOTDIR when something else is there). */
int dy_mkdirs(const char *path, unsigned mode);

#endif
