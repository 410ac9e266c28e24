/* The safetensors writer (format in safetensors.h): the header written by the JSON writer on one line without
 * spaces, as PyTorch's writer lays it out, padded with spaces so that the data starts 8-byte aligned. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "io/atomic_file.h"
#include "io/json_write.h"
#include "io/safetensors.h"

static size_t entry_bytes(const dy_st_entry *e) {
    size_t bytes = dy_st_dtype_size(e->dtype);
    for (int d = 0; d < e->ndim; d++) bytes *= (size_t)e->shape[d];
    return bytes;
}

/* "__metadata__": the format, the caller's entries, then each tensor's checksum (verified by the reader). */
static dy_status write_metadata(dy_ctx *ctx, dy_json_writer *w, const char *path, const dy_st_entry *entries,
                                int64_t count, const dy_st_meta *meta, int64_t meta_count) {
    dy_json_write_key(w, "__metadata__");
    dy_json_write_object_begin(w);
    dy_json_write_key(w, "format");
    dy_json_write_string(w, "pt");
    for (int64_t i = 0; i < meta_count; i++) {
        dy_json_write_key(w, meta[i].key);
        dy_json_write_string(w, meta[i].value);
    }
    for (int64_t i = 0; i < count; i++) {
        const dy_st_entry *e = &entries[i];
        if ((unsigned)e->dtype >= DY_ST_N_DTYPES || e->ndim < 0 || e->ndim > DY_ST_MAX_DIMS)
            return dy_fail(ctx, DY_ERR_INVALID, "safetensors %s: tensor %s has a bad dtype or rank", path, e->name);
        size_t name_len = strlen(e->name);
        char *key = malloc(sizeof DY_ST_CRC_KEY + name_len);
        if (!key) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory writing %s", path);
        memcpy(key, DY_ST_CRC_KEY, sizeof DY_ST_CRC_KEY - 1);
        memcpy(key + sizeof DY_ST_CRC_KEY - 1, e->name, name_len + 1);
        char crc[16];
        snprintf(crc, sizeof crc, "%08lx", (unsigned long)dy_st_crc32(e->data, entry_bytes(e)));
        dy_json_write_key(w, key);
        dy_json_write_string(w, crc);
        free(key);
    }
    dy_json_write_object_end(w);
    return DY_OK;
}

/* The header's JSON into w's buffer (the caller frees w->buf). */
static dy_status write_header(dy_ctx *ctx, dy_json_writer *w, const char *path, const dy_st_entry *entries,
                              int64_t count, const dy_st_meta *meta, int64_t meta_count) {
    dy_json_writer_to_buffer(w, DY_JSON_COMPACT, NULL);
    dy_json_write_object_begin(w);
    DY_TRY(write_metadata(ctx, w, path, entries, count, meta, meta_count));
    uint64_t offset = 0;
    for (int64_t i = 0; i < count; i++) {
        const dy_st_entry *e = &entries[i];
        uint64_t numel = 1;
        dy_json_write_key(w, e->name);
        dy_json_write_object_begin(w);
        dy_json_write_key(w, "dtype");
        dy_json_write_string(w, dy_st_dtype_name(e->dtype));
        dy_json_write_key(w, "shape");
        dy_json_write_array_begin(w);
        for (int d = 0; d < e->ndim; d++) {
            dy_json_write_uint(w, (uint64_t)e->shape[d]);
            numel *= (uint64_t)e->shape[d];
        }
        dy_json_write_array_end(w);
        uint64_t end = offset + numel * dy_st_dtype_size(e->dtype);
        dy_json_write_key(w, "data_offsets");
        dy_json_write_array_begin(w);
        dy_json_write_uint(w, offset);
        dy_json_write_uint(w, end);
        dy_json_write_array_end(w);
        dy_json_write_object_end(w);
        offset = end;
    }
    dy_json_write_object_end(w);
    if (w->failed == DY_ERR_NOMEM) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory writing %s", path);
    return dy_json_writer_finish(ctx, w, path);
}

dy_status dy_st_write(dy_ctx *ctx, const char *path, const dy_st_entry *entries, int64_t count) {
    return dy_st_write_meta(ctx, path, entries, count, NULL, 0);
}

dy_status dy_st_write_meta(dy_ctx *ctx, const char *path, const dy_st_entry *entries, int64_t count,
                           const dy_st_meta *meta, int64_t meta_count) {
    for (int64_t i = 0; i < meta_count; i++) {
        bool repeated = !strcmp(meta[i].key, "format");
        for (int64_t k = 0; k < i && !repeated; k++) repeated = !strcmp(meta[i].key, meta[k].key);
        if (repeated)
            return dy_fail(ctx, DY_ERR_INVALID, "safetensors %s: metadata key \"%s\" given twice", path, meta[i].key);
        if (!strncmp(meta[i].key, DY_ST_CRC_KEY, sizeof DY_ST_CRC_KEY - 1)) /* the writer's own checksums */
            return dy_fail(ctx, DY_ERR_INVALID, "safetensors %s: metadata key \"%s\" is reserved", path, meta[i].key);
    }
    dy_json_writer h;
    dy_status st = write_header(ctx, &h, path, entries, count, meta, meta_count);
    dy_atomic_file f;
    if (st == DY_OK) st = dy_atomic_open(ctx, &f, path);
    if (st != DY_OK) {
        free(h.buf);
        return st;
    }
    static const char spaces[8] = "        ";
    size_t pad = (8 - (8 + h.len) % 8) % 8, header = h.len + pad; /* the data starts 8-byte aligned */
    uint8_t size_le[8];
    for (int i = 0; i < 8; i++) size_le[i] = (uint8_t)((uint64_t)header >> (8 * i));
    bool ok = fwrite(size_le, 1, 8, f.fp) == 8 && fwrite(h.buf, 1, h.len, f.fp) == h.len &&
              fwrite(spaces, 1, pad, f.fp) == pad;
    for (int64_t i = 0; ok && i < count; i++) {
        size_t bytes = entry_bytes(&entries[i]);
        ok = bytes == 0 || fwrite(entries[i].data, 1, bytes, f.fp) == bytes;
    }
    free(h.buf);
    if (!ok) {
        int e = errno;
        dy_atomic_abort(&f);
        return dy_fail(ctx, DY_ERR_IO, "cannot write %s: %s", path, strerror(e));
    }
    return dy_atomic_commit(ctx, &f);
}
