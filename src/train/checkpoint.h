/* Training checkpoints: one safetensors file holding everything a run needs to continue bit-exactly — the model's
 * parameters and BN state under torchvision names (so the file also loads as plain weights), the optimizer state,
 * MoCo's key encoder ("key_encoder." + the same names) and queue, and the step counter. Written atomically. */
#ifndef DY_TRAIN_CHECKPOINT_H
#define DY_TRAIN_CHECKPOINT_H

#include "dystress.h"

#define DY_CHECKPOINT_VERSION 1
/* A U8 tensor holding the text of the run's training configuration (the CLI's canonical options), so that a resumed
 * run can be checked against the configuration it was trained with. Optional: older checkpoints lack it. */
#define DY_CHECKPOINT_CONFIG "trainer.config"

typedef struct {
    dy_model *model;
    dy_model *key_model;   /* or NULL */
    float *momentum;       /* [params] optimizer momentum / Adam first moment */
    float *exp_avg_sq;     /* [params] Adam second moment, or NULL */
    float *queue;          /* [queue_rows, queue_dim] or NULL */
    int64_t queue_rows, queue_dim;
    const char *config;    /* saved as DY_CHECKPOINT_CONFIG when not NULL; ignored by the loaders */
} dy_ckpt_layout;

typedef struct {
    int64_t step, queue_len, queue_head;
    double best_knn;
} dy_ckpt_counters;

dy_status dy_checkpoint_save(dy_ctx *ctx, const char *path, const dy_ckpt_layout *l, const dy_ckpt_counters *c);
/* Checks the whole file against the layout first (every tensor present, no stranger, shapes and dtypes right,
 * values finite): DY_ERR_FORMAT for a corrupt or truncated file, DY_ERR_MISMATCH naming the first tensor that does
 * not fit, DY_ERR_NUMERIC naming a tensor that holds NaN or Inf; only then copies. On error nothing in the layout has
 * changed. */
dy_status dy_checkpoint_load(dy_ctx *ctx, const char *path, const dy_ckpt_layout *l, dy_ckpt_counters *c);

/* The configuration text stored in a checkpoint (malloc'ed, NUL-terminated), or *config = NULL when it has none.
 * DY_ERR_IO/DY_ERR_FORMAT when the file cannot be read. */
dy_status dy_checkpoint_read_config(dy_ctx *ctx, const char *path, char **config);

/* Loads only the model's own tensors (its names; others in the file, such as optimizer state or the head when the
 * model has none, are ignored): a checkpoint or a weights file from `dystress export` or torchvision. Their values
 * are checked to be finite first, as dy_checkpoint_load does. */
dy_status dy_checkpoint_load_model(dy_ctx *ctx, const char *path, dy_model *model);

#endif
