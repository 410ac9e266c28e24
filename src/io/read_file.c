#include "io/read_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"

dy_status dy_read_file(dy_ctx *ctx, const char *path, uint8_t **data, size_t *size, size_t max_bytes) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return dy_fail(ctx, DY_ERR_IO, "%s: cannot open (%s)", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = NULL;
    dy_status st = DY_OK;
    for (;;) {
        if (!buf || n == cap) {
            size_t ncap = buf ? 2 * cap : cap;
            if (max_bytes && ncap > max_bytes + 1) ncap = max_bytes + 1; /* one byte more tells a larger file */
            uint8_t *nb = realloc(buf, ncap + 1);                          /* + the terminating 0 */
            if (!nb) {
                st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory reading %zu bytes", path, ncap);
                break;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (max_bytes && n > max_bytes) {
            st = dy_fail(ctx, DY_ERR_FORMAT, "%s: larger than the limit of %zu bytes", path, max_bytes);
            break;
        }
        if (got == 0) break;
    }
    if (st == DY_OK && ferror(f)) st = dy_fail(ctx, DY_ERR_IO, "%s: read error (%s)", path, strerror(errno));
    fclose(f);
    if (st != DY_OK) {
        free(buf);
        return st;
    }
    buf[n] = 0;
    *data = buf;
    *size = n;
    return DY_OK;
}
