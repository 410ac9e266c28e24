/* safetensors files (the format of Hugging Face's safetensors library, read by PyTorch users everywhere):
 *     uint64 little-endian N, then N bytes of JSON header, then the data buffer.
 * The header maps each tensor name to {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]} (offsets into
 * the data buffer) and may hold "__metadata__": {string: string}. Tensors are row-major, little-endian.
 *
 * The reader is strict: the JSON must be well formed with exactly those fields, names unique (checked in
 * O(n log n)), dtypes known, every
 * size and offset checked against the file before use, and the tensors must tile the data buffer without gap or
 * overlap (as the reference implementation requires). A corrupt file gives DY_ERR_FORMAT with a message naming
 * the file and the problem; nothing is ever read out of range.
 *
 * Checksums: the writer stores each tensor's CRC-32 (zlib's) in __metadata__ as "crc32:<name>": "<8 hex digits>"
 * (metadata is string to string, so other readers keep working), and the reader verifies every one it finds,
 * naming the tensor whose bytes changed. A file without them (written by PyTorch, torchvision or an older dystress)
 * loads as before, unchecked. */
#ifndef DY_IO_SAFETENSORS_H
#define DY_IO_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "dystress.h"

#define DY_ST_MAX_DIMS 8
#define DY_ST_MAX_HEADER (100 * 1024 * 1024) /* the reference implementation's limit */
/* Files are read whole into memory: a bound far above any checkpoint of this program (ResNet-50 at width 64 with
 * its optimizer state is about 0.3 GB), so that a wrong path fails with a message rather than by exhausting memory. */
#define DY_ST_MAX_FILE ((uint64_t)64 << 30)
#define DY_ST_CRC_KEY "crc32:" /* __metadata__ key prefix of a tensor's checksum */

typedef enum {
    DY_ST_BOOL, DY_ST_U8, DY_ST_I8, DY_ST_U16, DY_ST_I16, DY_ST_F16, DY_ST_BF16, DY_ST_U32, DY_ST_I32, DY_ST_F32,
    DY_ST_U64, DY_ST_I64, DY_ST_F64, DY_ST_N_DTYPES
} dy_st_dtype;

/* "F32", "I64", ... as in the header. */
const char *dy_st_dtype_name(dy_st_dtype d);
size_t dy_st_dtype_size(dy_st_dtype d);

typedef struct {
    char *name;
    dy_st_dtype dtype;
    int ndim;
    int64_t shape[DY_ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data; /* into the file's buffer; may be unaligned: copy out with memcpy */
    size_t nbytes;
} dy_st_tensor;

/* One "__metadata__" entry: both strings (the format allows strings only). */
typedef struct {
    char *key, *value;
} dy_st_meta;

typedef struct {
    dy_st_tensor *tensors; /* in header order */
    int64_t count;
    dy_st_meta *meta;      /* the "__metadata__" entries in header order (malloc'ed copies), meta_count of them */
    int64_t meta_count;
    uint8_t *owned;        /* the file contents when read by dy_st_read */
    int64_t *by_name;      /* tensor indices in name order (dy_st_find's binary search); NULL: linear search */
} dy_st_file;

/* Parses size bytes at buf (which must outlive the result); what names the source in messages. */
dy_status dy_st_parse(dy_ctx *ctx, const char *what, const uint8_t *buf, size_t size, dy_st_file *out);
/* Reads and parses the file at path: a regular file of at most DY_ST_MAX_FILE bytes (DY_ERR_IO when it cannot be
 * read or is not a regular file, such as /dev/zero or a FIFO; DY_ERR_FORMAT when too large). */
dy_status dy_st_read(dy_ctx *ctx, const char *path, dy_st_file *out);
void dy_st_free(dy_st_file *f);
/* zlib's CRC-32 of n bytes, as stored in the metadata. */
uint32_t dy_st_crc32(const uint8_t *data, size_t n);
/* The tensor called name, or NULL. */
const dy_st_tensor *dy_st_find(const dy_st_file *f, const char *name);
/* The "__metadata__" value of key (the first, should a file repeat it), or NULL. */
const char *dy_st_meta_get(const dy_st_file *f, const char *key);

/* One tensor to write; data holds numel * dtype size bytes (little-endian). */
typedef struct {
    const char *name;
    dy_st_dtype dtype;
    int ndim;
    int64_t shape[DY_ST_MAX_DIMS];
    const void *data;
} dy_st_entry;

/* Writes count tensors (in this order, header padded so the data starts 8-byte aligned) atomically
 * (src/io/atomic_file.h), with "__metadata__": {"format": "pt"} as PyTorch's writers do, and each tensor's CRC-32. */
dy_status dy_st_write(dy_ctx *ctx, const char *path, const dy_st_entry *entries, int64_t count);
/* The same with more "__metadata__" entries after "format" (meta may be NULL when meta_count is 0; a key "format"
 * is refused, as is a repeated key: DY_ERR_INVALID). */
dy_status dy_st_write_meta(dy_ctx *ctx, const char *path, const dy_st_entry *entries, int64_t count,
                           const dy_st_meta *meta, int64_t meta_count);

/* DY_OK when every element of a floating-point tensor (F16, BF16, F32, F64) is finite; integer tensors pass. Else
 * DY_ERR_NUMERIC with a message naming what (the file), the tensor, the first bad element and how many there are:
 * weights that load are weights that can be used. */
dy_status dy_st_check_finite(dy_ctx *ctx, const char *what, const dy_st_tensor *t);

#endif
