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

#endif
