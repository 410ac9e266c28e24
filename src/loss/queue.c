/* The MoCo queue the loss owns (queue_capacity > 0): a ring of unit rows, [queue_capacity, dim], its length and the
 * slot written next (head). One function appends to it, dy_loss_queue_append: the random rows a trainer starts from
 * (dy_loss_queue_push), the keys of dy_loss_moco's own call, and the keys of every process in data parallelism
 * (dy_loss_queue_append_keys). Its state for checkpoints is loss_state.h's. */
#include "core/context.h"
#include "loss/loss_object.h"
#include "loss/loss_state.h"

#include <math.h>
#include <string.h>

int64_t dy_loss_queue_length(const dy_loss *L) { return L ? L->queue_len : 0; }

/* The slot of the next row (the oldest row once the queue is full), for the caller to fill; advances the ring. */
static float *next_slot(dy_loss *L) {
    const int64_t cap = L->opt.queue_capacity;
    float *slot = L->queue + L->queue_head * L->opt.dim;
    L->queue_head = (L->queue_head + 1) % cap;
    if (L->queue_len < cap) L->queue_len++;
    return slot;
}

static bool unit_norm(const float *row, int64_t d) {
    double ss = 0;
    for (int64_t c = 0; c < d; c++) ss += (double)row[c] * row[c];
    return fabs(sqrt(ss) - 1.0) <= 1e-6;
}

void dy_loss_queue_append(dy_loss *L, int64_t count, const float *rows, const float *unit, bool keep_unit) {
    const int64_t d = L->opt.dim, cap = L->opt.queue_capacity;
    for (int64_t i = count > cap ? count - cap : 0; i < count; i++) {
        const float *row = rows + i * d;
        const bool as_given = keep_unit && unit_norm(row, d);
        float *slot = next_slot(L);
        if (as_given) {
            memcpy(slot, row, sizeof(float) * (size_t)d);
        } else if (unit) {
            memcpy(slot, unit + i * d, sizeof(float) * (size_t)d);
        } else {
            float inv_unused;
            dy_normalize_rows(row, 1, d, slot, &inv_unused, 1);
        }
    }
}

dy_status dy_loss_queue_push(dy_loss *L, dy_ctx *ctx, int64_t count, const float *rows) {
    if (!L) return dy_fail(ctx, DY_ERR_INVALID, "dy_loss_queue_push: loss is NULL");
    if (!L->queue)
        return dy_fail(ctx, DY_ERR_INVALID, "this loss has no library-owned queue (queue_capacity is 0)");
    if (count < 0) return dy_fail(ctx, DY_ERR_INVALID, "dy_loss_queue_push: count %lld < 0", (long long)count);
    if (count > 0 && !rows) return dy_fail(ctx, DY_ERR_INVALID, "dy_loss_queue_push: rows is NULL");
    const int64_t d = L->opt.dim;
    int64_t bad = dy_first_nonfinite_row(rows, count, d, 1);
    if (bad >= 0) return dy_fail(ctx, DY_ERR_NUMERIC, "queue row %lld has NaN or Inf", (long long)bad);
    /* Check every row first so that a refused call leaves the queue as it was. */
    for (int64_t i = 0; i < count; i++) {
        double ss = 0;
        for (int64_t k = 0; k < d; k++) ss += (double)rows[i * d + k] * rows[i * d + k];
        if (!(sqrt(ss) >= 1e-30)) return dy_fail(ctx, DY_ERR_INVALID, "queue row %lld has zero norm", (long long)i);
    }
    /* Only the last `cap` rows survive a push larger than the queue; every row is normalised, a unit one too. */
    dy_loss_queue_append(L, count, rows, NULL, false);
    return DY_OK;
}

/* ---- the queue as named state (loss_state.h) ---- */

void dy_loss_list_tensors(dy_loss *L, dy_tensor_list *l) {
    if (!L->queue) return;
    int64_t shape[2] = {L->opt.queue_capacity, L->opt.dim};
    dy_tensor_list_add(l, "moco.", "queue", DY_DTYPE_F32, DY_DTYPE_F32, 2, shape, L->queue);
}

void dy_loss_queue_position(const dy_loss *L, int64_t *length, int64_t *head) {
    *length = L->queue_len;
    *head = L->queue_head;
}

bool dy_loss_queue_position_fits(const dy_loss *L, int64_t length, int64_t head) {
    const int64_t cap = L->queue ? L->opt.queue_capacity : 0;
    return length >= 0 && length <= cap && head >= 0 && (cap > 0 ? head < cap : head == 0);
}

void dy_loss_queue_set_position(dy_loss *L, int64_t length, int64_t head) {
    L->queue_len = length;
    L->queue_head = head;
}

const float *dy_loss_queue_rows(const dy_loss *L, int64_t *length) {
    *length = L->queue ? L->queue_len : 0;
    return L->queue;
}

void dy_loss_queue_append_keys(dy_loss *L, int64_t count, const float *keys) {
    if (L->queue) dy_loss_queue_append(L, count, keys, NULL, true);
}
