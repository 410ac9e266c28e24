/* Reader for the fixture files written by tools/fixture_io.py: named float32/int64 tensors.
 * Format (little-endian): "DYFX0001", uint32 count, then per tensor: uint32 name length, name bytes,
 * uint32 dtype (0 float32, 1 int64), uint32 ndim, int64 dims[ndim], data. */
#ifndef DY_FIXTURE_H
#define DY_FIXTURE_H

#include <stdint.h>

typedef struct {
    char *name;
    int dtype; /* 0 float32, 1 int64 */
    int ndim;
    int64_t dims[8];
    int64_t numel;
    void *data;
} fx_tensor;

typedef struct {
    int count;
    fx_tensor *tensors;
} fx_file;

/* Loads a fixture file; NULL (with a message on stderr) when missing or malformed. */
fx_file *fx_load(const char *path);
void fx_free(fx_file *f);
/* The tensor called name, or NULL (with a message on stderr). */
const fx_tensor *fx_get(const fx_file *f, const char *name);
/* Float data of the tensor called name, or NULL; *numel set when numel is not NULL. */
const float *fx_f32(const fx_file *f, const char *name, int64_t *numel);
/* Scalar (first element) of a float tensor; NAN when missing. */
double fx_scalar(const fx_file *f, const char *name);

#endif
