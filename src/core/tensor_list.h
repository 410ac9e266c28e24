/* Named tensors: how a stateful object (a model's parameters and BN statistics, an optimizer's state, the loss's MoCo
 * queue, the trainer's counters) says what it holds, so that one piece of code (src/io/tensor_file.h) writes, reads
 * and checks any of them, and a checkpoint is the union of the lists of the objects of a run.
 *
 * An object appends its tensors to a list with a name prefix ("key_encoder." for MoCo's momentum encoder); each
 * entry points at the object's own memory, so writing a list saves the object and loading into a list restores it.
 * The list owns only its array of entries. */
#ifndef DY_CORE_TENSOR_LIST_H
#define DY_CORE_TENSOR_LIST_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { DY_DTYPE_F32, DY_DTYPE_F64, DY_DTYPE_I64, DY_DTYPE_U8 } dy_dtype;

#define DY_TENSOR_NAME_MAX 96
#define DY_TENSOR_MAX_DIMS 4

typedef struct {
    char name[DY_TENSOR_NAME_MAX]; /* "layer1.0.conv1.weight", "optimizer.momentum", "moco.queue" */
    dy_dtype dtype;                /* in files */
    dy_dtype memory;               /* in the object's memory: dtype, or F32 for an I64 counter kept as a float
                                      (BN's num_batches_tracked) */
    int ndim;                      /* 0 (a scalar) .. DY_TENSOR_MAX_DIMS */
    int64_t shape[DY_TENSOR_MAX_DIMS];
    int64_t numel;
    void *data;                    /* numel values of type memory */
} dy_named_tensor;

typedef struct {
    dy_named_tensor *items;
    int64_t count, cap;
    bool out_of_memory;            /* an append failed; the list is incomplete */
} dy_tensor_list;

/* Appends prefix + name (an empty list is {0}); on allocation failure sets out_of_memory and returns NULL. */
dy_named_tensor *dy_tensor_list_add(dy_tensor_list *l, const char *prefix, const char *name, dy_dtype dtype,
                                    dy_dtype memory, int ndim, const int64_t *shape, void *data);
/* The entry called name, or NULL. */
dy_named_tensor *dy_tensor_list_find(const dy_tensor_list *l, const char *name);
void dy_tensor_list_free(dy_tensor_list *l);

#endif
