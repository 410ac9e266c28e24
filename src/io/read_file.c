#include "io/read_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/context.h"

/* Opens a regular file for reading (*fd), refusing anything else. O_NONBLOCK: opening a FIFO must not wait for a
 * writer before fstat can refuse it. */
static dy_status open_regular(dy_ctx *ctx, const char *path, int *fd, uint64_t *size) {
    *fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (*fd < 0) return dy_fail(ctx, DY_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    dy_status st = DY_OK;
    if (fstat(*fd, &sb) != 0)
        st = dy_fail(ctx, DY_ERR_IO, "%s: cannot read (%s)", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = dy_fail(ctx, DY_ERR_IO, "%s is not a regular file (it is read whole, so a device, FIFO or folder cannot "
                     "be one)", path);
    if (st != DY_OK) {
        close(*fd);
        *fd = -1;
        return st;
    }
    *size = (uint64_t)sb.st_size;
    return DY_OK;
}

/* Reads up to n bytes from offset; the count read (short only at the end of the file), or -1 with errno. */
static ssize_t read_at(int fd, uint8_t *dst, size_t n, uint64_t offset) {
    size_t done = 0;
    while (done < n) {
        size_t chunk = n - done > ((size_t)1 << 30) ? ((size_t)1 << 30) : n - done;
        ssize_t got = pread(fd, dst + done, chunk, (off_t)(offset + done));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return -1;
        if (got == 0) break;
        done += (size_t)got;
    }
    return (ssize_t)done;
}

dy_status dy_read_file(dy_ctx *ctx, const char *path, uint8_t **data, size_t *size, size_t max_bytes) {
    *data = NULL;
    *size = 0;
    uint64_t want;
    int fd;
    dy_status st = open_regular(ctx, path, &fd, &want);
    if (st != DY_OK) return st;
    uint8_t *buf = NULL;
    if ((max_bytes && want > max_bytes) || want >= SIZE_MAX) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: %llu bytes, larger than the limit of %zu bytes", path,
                     (unsigned long long)want, max_bytes ? max_bytes : SIZE_MAX - 1);
        goto done;
    }
    /* one byte more than stat said, to notice a file that grew in between; one for the terminating 0 */
    if (!(buf = malloc((size_t)want + 2))) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory reading %llu bytes", path, (unsigned long long)want);
        goto done;
    }
    ssize_t got = read_at(fd, buf, (size_t)want + 1, 0);
    if (got < 0) st = dy_fail(ctx, DY_ERR_IO, "%s: read error (%s)", path, strerror(errno));
    else if ((uint64_t)got != want) st = dy_fail(ctx, DY_ERR_IO, "%s: changed size while it was read", path);
    if (st == DY_OK) {
        buf[want] = 0;
        *data = buf;
        *size = (size_t)want;
        buf = NULL;
    }
done:
    free(buf);
    close(fd);
    return st;
}

dy_status dy_read_file_head(dy_ctx *ctx, const char *path, uint8_t *head, size_t n, size_t *got, uint64_t *size) {
    *got = 0;
    int fd;
    dy_status st = open_regular(ctx, path, &fd, size);
    if (st != DY_OK) return st;
    ssize_t r = read_at(fd, head, n, 0);
    close(fd);
    if (r < 0) return dy_fail(ctx, DY_ERR_IO, "%s: read error (%s)", path, strerror(errno));
    *got = (size_t)r;
    return DY_OK;
}
