/* The model object behind the public API (include/dystress/engine.h), shared by the files of src/model. */
#ifndef DY_MODEL_MODEL_H
#define DY_MODEL_MODEL_H

#include "core/tensor_list.h"
#include "dystress.h"
#include "engine/exec.h"
#include "engine/graph.h"
#include "model/encoder_meta.h"

#define DY_MODEL_EXEC_CACHE 6 /* planned executors kept per model: train and eval sizes, plus a last partial batch */

typedef struct {
    dy_exec *exec;
    int64_t n, h, w;
    dy_exec_mode mode;
    uint64_t used; /* clock of the last use, for least-recently-used eviction */
} dy_model_exec_entry;

struct dy_model {
    dy_ctx *ctx;
    dy_model_config config;
    dy_graph graph;
    float *params, *grads;            /* [graph.n_params] each, one allocation each */
    float *state;                     /* [graph.n_state] */
    dy_tensor_info *tensors;
    int64_t n_tensors;
    dy_model_exec_entry cache[DY_MODEL_EXEC_CACHE];
    dy_exec *pending; /* the training executor whose forward awaits its backward, or NULL */
    uint64_t clock;
};

/* Batch-norm statistics over the processes of a data-parallel run (sync-bn), or NULL for each process's own. sync
 * must outlive the model; executors planned before are dropped (they are planned again on next use). */
void dy_model_set_bn_sync(dy_model *m, const dy_bn_sync *sync);
/* Told during each backward which ranges of the gradient buffer are final (graph.h's dy_grad_hook), or NULL for
 * nobody. hook must outlive the model (or be unset). */
void dy_model_set_grad_hook(dy_model *m, const dy_grad_hook *hook);
/* Appends the model's parameters and BN state (with_head = false: without the projection head) to l, each under
 * prefix + its torchvision name, pointing at the model's buffers (src/model/weights.c). */
void dy_model_list_tensors(dy_model *m, dy_tensor_list *l, const char *prefix, bool with_head);
/* "this model (ResNet-18, width 64, with head)": what a file must match, for messages. */
void dy_model_describe(const dy_model *m, char *buf, size_t size, bool with_head);
/* dy_model_save_weights with the "dystress.*" metadata of meta (src/model/encoder_meta.h); dy_model_save_weights
 * itself writes the model's architecture. */
dy_status dy_model_save_weights_meta(dy_model *m, const char *path, bool with_head, const dy_encoder_meta *meta);
/* Loads the model's own tensors from a file that may hold more: a training checkpoint (optimizer state, a key
 * encoder), or weights with a head this model does not have. */
dy_status dy_model_load_from(dy_model *m, const char *path);

#endif
