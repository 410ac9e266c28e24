/* NumPy .npy files (format version 1.0 when writing; 1.0, 2.0 and 3.0 when reading): float32 matrices [rows, cols]
 * ('<f4') and int64 vectors [n] ('<i8'), C order, so that `numpy.load` reads what `dystress embed` writes; and, read
 * only, arrays of other dtypes and shapes (dy_npy_read_array).
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

/* An array of any of the dtypes numpy writes as '<f4', '<f8', '|i1', '|u1', '<i2', '<i4', '<i8' and any shape of up
 * to 8 dimensions (C order), for the time-series reader (src/data/series). */
typedef enum { DY_NPY_F32, DY_NPY_F64, DY_NPY_I8, DY_NPY_U8, DY_NPY_I16, DY_NPY_I32, DY_NPY_I64 } dy_npy_dtype;
typedef struct {
    dy_npy_dtype dtype;
    size_t item;        /* bytes per element */
    int ndim;
    int64_t shape[8];
    int64_t count;      /* elements: the product of the shape */
    void *data;         /* [count] elements as stored (dy_alloc'ed) */
} dy_npy_array;
/* Reads path with the checks above; the dtype must be one of those listed (a big-endian or other one is refused
 * naming it), and the data at most max_bytes (0: no limit; checked against the file size before allocating).
 * On failure *out is all zero. */
dy_status dy_npy_read_array(dy_ctx *ctx, const char *path, dy_npy_array *out, uint64_t max_bytes);
/* Element i (flat, C order) converted to double (exact but for int64 beyond 2^53). */
double dy_npy_value(const dy_npy_array *a, int64_t i);
/* true for the integer dtypes. */
bool dy_npy_is_integer(const dy_npy_array *a);
void dy_npy_array_free(dy_npy_array *a);

#endif
