/* NumPy .npy files (format version 1.0 when writing; 1.0, 2.0 and 3.0 when reading): float32 matrices [rows, cols]
 * ('<f4') and int64 vectors [n] ('<i8'), C order, so that `numpy.load` reads what `dystress embed` writes.
 * Writes are atomic (src/io/atomic_file.h). Reads check the magic, the version, the header dictionary (exactly the
 * keys descr, fortran_order, shape), the dtype, fortran_order False, the number of dimensions, and that the data is
 * exactly as long as the shape says (truncated files and trailing bytes are refused with DY_ERR_FORMAT). */
#ifndef DY_IO_NPY_H
#define DY_IO_NPY_H

#include "dystress.h"

dy_status dy_npy_write_f32(dy_ctx *ctx, const char *path, const float *data, int64_t rows, int64_t cols);
dy_status dy_npy_write_i64(dy_ctx *ctx, const char *path, const int64_t *data, int64_t n);

/* *data is allocated with dy_alloc (free with dy_free); on failure it is NULL. */
dy_status dy_npy_read_f32(dy_ctx *ctx, const char *path, float **data, int64_t *rows, int64_t *cols);
dy_status dy_npy_read_i64(dy_ctx *ctx, const char *path, int64_t **data, int64_t *n);

#endif
