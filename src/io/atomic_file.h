/* Files that matter (checkpoints, weights, configurations) are written atomically: into a temporary file beside the
 * target, flushed and fsync'ed, then renamed over it, so a crash leaves either the old file or the new one. */
#ifndef DY_IO_ATOMIC_FILE_H
#define DY_IO_ATOMIC_FILE_H

#include <stdio.h>

#include "dystress.h"

typedef struct {
    FILE *fp;        /* write through this */
    char *tmp_path;  /* "<path>.tmp.<pid>" */
    char *path;      /* the final name */
} dy_atomic_file;

dy_status dy_atomic_open(dy_ctx *ctx, dy_atomic_file *f, const char *path);
/* Flushes, fsyncs, closes and renames into place (then fsyncs the folder). On failure the target is untouched and
 * the temporary file removed. */
dy_status dy_atomic_commit(dy_ctx *ctx, dy_atomic_file *f);
/* Gives up: closes and removes the temporary file. Safe to call after a failed commit or twice. */
void dy_atomic_abort(dy_atomic_file *f);

#endif
