/* The one whole-file reader (data set files, safetensors, a run's config.json). */
#ifndef DY_IO_READ_FILE_H
#define DY_IO_READ_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "dystress.h"

/* Reads the whole regular file at path, at most max_bytes (0: no limit). *data is malloc'ed (free with free()) with a
 * 0 byte after its *size bytes, so a text file reads as a string. A file is read whole, so only a regular file of a
 * size known before reading is one: a device (/dev/zero), FIFO or folder is refused without blocking, and so is a
 * file above max_bytes (DY_ERR_FORMAT naming the limit) before anything is read. DY_ERR_IO when the file cannot be
 * opened or read, or changes size while read, naming path and the reason. */
dy_status dy_read_file(dy_ctx *ctx, const char *path, uint8_t **data, size_t *size, size_t max_bytes);

/* The first n bytes of the regular file at path (fewer when it is shorter: *got) and its size, for a format whose
 * header says whether the rest is worth reading. The same refusals as dy_read_file. */
dy_status dy_read_file_head(dy_ctx *ctx, const char *path, uint8_t *head, size_t n, size_t *got, uint64_t *size);

#endif
