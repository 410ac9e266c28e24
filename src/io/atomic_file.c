#include "io/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/context.h"

dy_status dy_atomic_open(dy_ctx *ctx, dy_atomic_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    size_t len = strlen(path) + 32;
    f->path = strdup(path);
    f->tmp_path = malloc(len);
    if (!f->path || !f->tmp_path) {
        dy_atomic_abort(f);
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory opening %s", path);
    }
    snprintf(f->tmp_path, len, "%s.tmp.%ld", path, (long)getpid());
    f->fp = fopen(f->tmp_path, "wb");
    if (!f->fp) {
        int e = errno;
        dy_atomic_abort(f);
        return dy_fail(ctx, DY_ERR_IO, "cannot create %s.tmp: %s", path, strerror(e));
    }
    return DY_OK;
}

static void fsync_parent(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(copy);
}

dy_status dy_atomic_commit(dy_ctx *ctx, dy_atomic_file *f) {
    if (!f->fp) return dy_fail(ctx, DY_ERR_INTERNAL, "atomic file committed twice");
    int failed = fflush(f->fp) != 0 || ferror(f->fp) || fsync(fileno(f->fp)) != 0;
    int e = errno;
    failed |= fclose(f->fp) != 0;
    f->fp = NULL;
    if (failed) {
        dy_atomic_abort(f);
        return dy_fail(ctx, DY_ERR_IO, "cannot write %s: %s", f->path ? f->path : "?", strerror(e));
    }
    if (rename(f->tmp_path, f->path) != 0) {
        e = errno;
        dy_status st = dy_fail(ctx, DY_ERR_IO, "cannot rename %s to %s: %s", f->tmp_path, f->path, strerror(e));
        dy_atomic_abort(f);
        return st;
    }
    fsync_parent(f->path);
    free(f->tmp_path);
    free(f->path);
    f->tmp_path = f->path = NULL;
    return DY_OK;
}

void dy_atomic_abort(dy_atomic_file *f) {
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    if (f->tmp_path) remove(f->tmp_path);
    free(f->tmp_path);
    free(f->path);
    f->tmp_path = f->path = NULL;
}
