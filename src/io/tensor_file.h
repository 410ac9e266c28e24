/* Named tensor lists (src/core/tensor_list.h) in safetensors files: the one place that writes an object's state, and
 * checks and reads it back. Model weights, `dystress export` files and training checkpoints all go through here. */
#ifndef DY_IO_TENSOR_FILE_H
#define DY_IO_TENSOR_FILE_H

#include "core/tensor_list.h"
#include "dystress.h"
#include "io/safetensors.h"

/* Writes the list's tensors, in list order, atomically (dy_st_write). */
dy_status dy_tensor_file_save(dy_ctx *ctx, const char *path, const dy_tensor_list *l);
/* The same with "__metadata__" entries (dy_st_write_meta). */
dy_status dy_tensor_file_save_meta(dy_ctx *ctx, const char *path, const dy_tensor_list *l, const dy_st_meta *meta,
                                   int64_t meta_count);

/* How strictly a file must match a list. */
typedef struct {
    const char *what;          /* what the list is, for messages: "this model (ResNet-18, width 64, with head)" */
    bool allow_extra;          /* tensors of the file that the list does not name are ignored */
    const char *ignore_prefix; /* tensors of the file with this prefix are ignored (NULL: none) */
} dy_tensor_file_rules;

/* Every tensor of the list is in f with the list's dtype and shape and finite values (DY_ERR_NUMERIC naming it; a
 * batch norm's running_var must not be negative either), and,
 * unless the rules allow it, f holds no other:
 * else DY_ERR_MISMATCH naming path, the first offending tensor and what was expected. */
dy_status dy_tensor_file_check(dy_ctx *ctx, const char *path, const dy_st_file *f, const dy_tensor_list *l,
                               const dy_tensor_file_rules *rules);
/* Copies the tensors of a checked file into the memory the list points at. */
void dy_tensor_file_copy(const dy_st_file *f, const dy_tensor_list *l);
/* One tensor of a file by name: an I64 tensor of n elements copied into out (true; else false, out unchanged), and
 * whether f holds a tensor of exactly these bytes. */
bool dy_tensor_file_i64(const dy_st_file *f, const char *name, int64_t *out, int64_t n);
bool dy_tensor_file_holds(const dy_st_file *f, const char *name, const void *data, size_t nbytes);
/* Reads, checks and copies; on any error (DY_ERR_IO, DY_ERR_FORMAT, DY_ERR_MISMATCH) nothing has changed. */
dy_status dy_tensor_file_load(dy_ctx *ctx, const char *path, const dy_tensor_list *l,
                              const dy_tensor_file_rules *rules);

#endif
