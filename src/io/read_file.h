/* The one whole-file reader (data set files, safetensors, a run's config.json). */
#ifndef DY_IO_READ_FILE_H
#define DY_IO_READ_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "dystress.h"

/* Reads the whole file at path, at most max_bytes (0: no limit; a larger file is DY_ERR_FORMAT naming the limit).
 * *data is malloc'ed (free with free()) with a 0 byte after its *size bytes, so a text file reads as a string.
 * DY_ERR_IO when the file cannot be opened or read, naming path and the reason. */
dy_status dy_read_file(dy_ctx *ctx, const char *path, uint8_t **data, size_t *size, size_t max_bytes);

#endif
