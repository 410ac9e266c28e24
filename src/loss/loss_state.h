/* The loss object's state, for checkpoints: the library-owned MoCo queue as a named tensor ("moco.queue"
 * [queue_capacity, dim]) and its fill position (length and head), which a trainer stores with its own counters. */
#ifndef DY_LOSS_LOSS_STATE_H
#define DY_LOSS_LOSS_STATE_H

#include "core/tensor_list.h"
#include "dystress.h"

/* Appends "moco.queue" when the loss owns a queue; nothing otherwise. */
void dy_loss_list_tensors(dy_loss *L, dy_tensor_list *l);
void dy_loss_queue_position(const dy_loss *L, int64_t *length, int64_t *head);
/* Whether a saved position fits this loss's queue (without a queue only 0, 0 does). */
bool dy_loss_queue_position_fits(const dy_loss *L, int64_t length, int64_t head);
/* Restores a position that fits (the rows come back through the named tensor). */
void dy_loss_queue_set_position(dy_loss *L, int64_t length, int64_t head);

/* Data parallelism (src/train/moco_step.c): a process computes its queries' loss against the queue as it is (rows
 * [0, *length) of the ring: their order does not matter to the loss), then every process appends the keys of all
 * processes, in rank order, so that every process holds the same queue. Rows of unit norm (within 1e-6) enter as
 * given, as dy_loss_moco's own keys do; others normalised. */
const float *dy_loss_queue_rows(const dy_loss *L, int64_t *length);
void dy_loss_queue_append_keys(dy_loss *L, int64_t count, const float *keys);

#endif
