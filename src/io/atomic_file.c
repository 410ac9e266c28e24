#include "io/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/context.h"

#define TMP_MARK ".tmp-"
#define TMP_RANDOM 8

/* Splits path into its folder ("." when none) and its last component. Both malloc'ed; NULL when out of memory. */
static int split_path(const char *path, char **dir, char **base) {
    const char *slash = strrchr(path, '/');
    *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
    *base = strdup(slash ? slash + 1 : path);
    if (!*dir || !*base) {
        free(*dir);
        free(*base);
        return -1;
    }
    return 0;
}

static void random_name(char *out, size_t n) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[TMP_RANDOM];
    ssize_t got = getrandom(r, sizeof r, 0);
    if (got != (ssize_t)sizeof r) { /* no entropy source: still unique per attempt, if predictable */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)out;
        for (size_t i = 0; i < sizeof r; i++, x = x * 6364136223846793005ull + 1442695040888963407ull)
            r[i] = (unsigned char)(x >> 56);
    }
    for (size_t i = 0; i < n; i++) out[i] = alphabet[r[i] % (sizeof alphabet - 1)];
    out[n] = 0;
}

/* What stands at path when it is not something a write may replace (a regular file, a symlink, nothing): a device,
 * FIFO, socket or folder. rename() would put a regular file in the place of a device node (as root: /dev/null for
 * every process on the machine), whatever the caller's flags. NULL when the write may go on. */
static const char *unreplaceable(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0 || S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) return NULL;
    if (S_ISDIR(st.st_mode)) return "a folder";
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) return "a device";
    if (S_ISFIFO(st.st_mode)) return "a FIFO";
    if (S_ISSOCK(st.st_mode)) return "a socket";
    return "not a regular file";
}

dy_status dy_atomic_open(dy_ctx *ctx, dy_atomic_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    char *dir = NULL, *base = NULL;
    if (!path || !*path) return dy_fail(ctx, DY_ERR_INVALID, "no file name to write");
    if (split_path(path, &dir, &base) != 0) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory opening %s", path);
    if (!*base) {
        free(dir);
        free(base);
        return dy_fail(ctx, DY_ERR_INVALID, "cannot write %s: it names a folder", path);
    }
    const char *what = unreplaceable(path);
    if (what) {
        free(dir);
        free(base);
        return dy_fail(ctx, DY_ERR_IO, "cannot write %s: it is %s, and only a regular file is ever replaced", path,
                       what);
    }
    size_t len = strlen(dir) + strlen(base) + sizeof TMP_MARK + TMP_RANDOM + 4;
    f->path = strdup(path);
    f->tmp_path = malloc(len);
    if (!f->path || !f->tmp_path) {
        free(dir);
        free(base);
        dy_atomic_abort(f);
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory opening %s", path);
    }
    int fd = -1, e = 0;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        char rnd[TMP_RANDOM + 1];
        random_name(rnd, TMP_RANDOM);
        snprintf(f->tmp_path, len, "%s/.%s" TMP_MARK "%s", dir, base, rnd);
        /* 0666 before the umask, as fopen would: checkpoints stay readable as before */
        fd = open(f->tmp_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        e = errno;
        if (fd < 0 && e != EEXIST) break; /* only a taken name is worth another draw */
    }
    free(dir);
    free(base);
    if (fd < 0) {
        free(f->tmp_path); /* nothing was created: nothing to remove */
        f->tmp_path = NULL;
        dy_atomic_abort(f);
        return dy_fail(ctx, DY_ERR_IO, "cannot create a temporary file beside %s: %s", path, strerror(e));
    }
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        e = errno;
        close(fd);
        dy_atomic_abort(f);
        return dy_fail(ctx, DY_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    return DY_OK;
}

int dy_mkdirs(const char *dir) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return errno = ENAMETOOLONG, -1;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    struct stat sb; /* it existed: as a folder? */
    if (stat(buf, &sb) != 0) return -1;
    return S_ISDIR(sb.st_mode) ? 0 : (errno = ENOTDIR, -1);
}

int dy_fsync_parent(const char *path) {
    char *dir, *base;
    if (split_path(path, &dir, &base) != 0) {
        errno = ENOMEM;
        return -1;
    }
    int rc = -1, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        rc = fsync(fd);
        /* some file systems cannot sync a folder (EINVAL): the rename is then as durable as they make it */
        if (rc != 0 && errno == EINVAL) rc = 0;
        int e = errno;
        close(fd);
        errno = e;
    }
    free(dir);
    free(base);
    return rc;
}

dy_status dy_atomic_commit(dy_ctx *ctx, dy_atomic_file *f) {
    if (!f->fp) return dy_fail(ctx, DY_ERR_INTERNAL, "atomic file committed twice");
    const char *path = f->path ? f->path : "?";
    int e = 0;
    bool failed = false;
    if (fflush(f->fp) != 0 || ferror(f->fp)) {
        failed = true;
        e = errno;
    } else if (fsync(fileno(f->fp)) != 0) {
        failed = true;
        e = errno;
    }
    if (fclose(f->fp) != 0 && !failed) {
        failed = true;
        e = errno;
    }
    f->fp = NULL;
    if (failed) { /* the message first: abort frees the path */
        dy_status st = dy_fail(ctx, DY_ERR_IO, "cannot write %s: %s", path, e ? strerror(e) : "write error");
        dy_atomic_abort(f);
        return st;
    }
    const char *what = unreplaceable(f->path); /* again: it may have appeared while the file was written */
    if (what) {
        dy_status st = dy_fail(ctx, DY_ERR_IO, "cannot write %s: it is %s, and only a regular file is ever replaced",
                               path, what);
        dy_atomic_abort(f);
        return st;
    }
    if (rename(f->tmp_path, f->path) != 0) {
        e = errno;
        dy_status st = dy_fail(ctx, DY_ERR_IO, "cannot rename %s to %s: %s", f->tmp_path, f->path, strerror(e));
        dy_atomic_abort(f);
        return st;
    }
    free(f->tmp_path);
    f->tmp_path = NULL;
    dy_status st = DY_OK;
    if (dy_fsync_parent(f->path) != 0)
        st = dy_fail(ctx, DY_ERR_IO, "wrote %s but cannot sync its folder: %s", f->path, strerror(errno));
    free(f->path);
    f->path = NULL;
    return st;
}

void dy_atomic_abort(dy_atomic_file *f) {
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    if (f->tmp_path) unlink(f->tmp_path);
    free(f->tmp_path);
    free(f->path);
    f->tmp_path = f->path = NULL;
}

int dy_atomic_remove_stale(const char *path) {
    char *dir, *base;
    if (split_path(path, &dir, &base) != 0) return 0;
    int removed = 0;
    DIR *d = opendir(dir);
    size_t blen = strlen(base), mlen = strlen(TMP_MARK);
    for (struct dirent *de; d && (de = readdir(d));) {
        const char *n = de->d_name;
        if (n[0] != '.' || strncmp(n + 1, base, blen) || strncmp(n + 1 + blen, TMP_MARK, mlen) ||
            strlen(n + 1 + blen + mlen) != TMP_RANDOM)
            continue;
        char full[4096];
        struct stat st;
        if (snprintf(full, sizeof full, "%s/%s", dir, n) >= (int)sizeof full) continue;
        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode) && unlink(full) == 0) removed++;
    }
    if (d) closedir(d);
    free(dir);
    free(base);
    return removed;
}

