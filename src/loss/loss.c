/* The loss object: options, validation and scratch memory sized once (the library-owned MoCo queue it holds is
 * queue.c's). */
#include "core/context.h"
#include "loss/loss_object.h"

dy_loss_options dy_loss_defaults(void) {
    return (dy_loss_options){.form = DY_LOSS_SIMCLR,
                             .tau = dy_tau_cosine(DY_TAU_MIN_DEFAULT, DY_TAU_MAX_DEFAULT),
                             .decoupled = false,
                             .normalized_input = false,
                             .max_batch = 0,
                             .dim = 0,
                             .queue_capacity = 0,
                             .tile = 0};
}

int dy_loss_workers(const dy_loss *L, const dy_ctx *ctx) {
    int t = dy_ctx_threads(ctx);
    return t < L->threads ? (t > 0 ? t : 1) : L->threads;
}

/* Sizes stay far below what a size_t product could overflow: each factor is checked against these bounds. */
#define DY_LOSS_MAX_ROWS ((int64_t)1 << 31)
#define DY_LOSS_MAX_DIM ((int64_t)1 << 20)
#define DY_LOSS_MAX_TILE 4096

static dy_status check_options(dy_ctx *ctx, const dy_loss_options *o) {
    if (o->form != DY_LOSS_SIMCLR && o->form != DY_LOSS_MOCO)
        return dy_fail(ctx, DY_ERR_INVALID, "unknown loss form %d (expected SimCLR 0 or MoCo 1)", (int)o->form);
    dy_status st = dy_tau_check(ctx, &o->tau);
    if (st != DY_OK) return st;
    int64_t min_batch = o->form == DY_LOSS_SIMCLR ? 2 : 1;
    if (o->max_batch < min_batch)
        return dy_fail(ctx, DY_ERR_INVALID, "loss max_batch N = %lld: the %s form needs N >= %lld",
                       (long long)o->max_batch, o->form == DY_LOSS_SIMCLR ? "SimCLR" : "MoCo", (long long)min_batch);
    if (o->max_batch > DY_LOSS_MAX_ROWS / 2)
        return dy_fail(ctx, DY_ERR_INVALID, "loss max_batch %lld is above the limit %lld", (long long)o->max_batch,
                       (long long)(DY_LOSS_MAX_ROWS / 2));
    if (o->dim < 1 || o->dim > DY_LOSS_MAX_DIM)
        return dy_fail(ctx, DY_ERR_INVALID, "loss dim d = %lld: expected 1 .. %lld", (long long)o->dim,
                       (long long)DY_LOSS_MAX_DIM);
    if (o->queue_capacity < 0 || o->queue_capacity > DY_LOSS_MAX_ROWS)
        return dy_fail(ctx, DY_ERR_INVALID, "loss queue_capacity %lld: expected 0 .. %lld",
                       (long long)o->queue_capacity, (long long)DY_LOSS_MAX_ROWS);
    if (o->queue_capacity > 0 && o->form != DY_LOSS_MOCO)
        return dy_fail(ctx, DY_ERR_INVALID, "loss queue_capacity %lld is only for the MoCo form",
                       (long long)o->queue_capacity);
    if (o->tile < 0 || o->tile > DY_LOSS_MAX_TILE)
        return dy_fail(ctx, DY_ERR_INVALID, "loss tile %lld: expected 0 (default) or 1 .. %d", (long long)o->tile,
                       DY_LOSS_MAX_TILE);
    return DY_OK;
}

static void *take(dy_loss *L, size_t bytes, bool *ok) {
    void *p = dy_alloc(bytes);
    if (!p) *ok = false;
    L->scratch_bytes += bytes;
    return p;
}

dy_status dy_loss_create(dy_ctx *ctx, const dy_loss_options *opts, dy_loss **out) {
    if (!ctx) return DY_ERR_INVALID;
    if (!opts || !out) return dy_fail(ctx, DY_ERR_INVALID, "dy_loss_create: options and out must not be NULL");
    *out = NULL;
    dy_status st = check_options(ctx, opts);
    if (st != DY_OK) return st;
    dy_loss *L = dy_alloc(sizeof *L);
    if (!L) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for the loss object");
    L->opt = *opts;
    L->tau = dy_tau_coef_of(&opts->tau);
    L->threads = dy_ctx_threads(ctx) > 0 ? dy_ctx_threads(ctx) : 1;
    L->tile = opts->tile > 0 ? opts->tile : DY_LOSS_TILE_DEFAULT;
    L->tile_ld = (L->tile + 15) / 16 * 16;
    L->rows_max = opts->form == DY_LOSS_SIMCLR ? 2 * opts->max_batch : opts->max_batch;
    L->blocks_max = (L->rows_max + L->tile - 1) / L->tile;
    const size_t d = (size_t)opts->dim, rows = (size_t)L->rows_max, tile_elems = (size_t)(L->tile * L->tile_ld);
    bool ok = true;
    if (!opts->normalized_input) {
        L->unit_rows = take(L, rows * d * sizeof(float), &ok);
        L->inv_norm = take(L, rows * sizeof(float), &ok);
        if (opts->form == DY_LOSS_MOCO) L->unit_keys = take(L, (size_t)opts->max_batch * d * sizeof(float), &ok);
    }
    L->row_lse = take(L, rows * sizeof(float), &ok);
    L->pos_logit = take(L, rows * sizeof(float), &ok);
    L->tile_sim = take(L, (size_t)L->threads * tile_elems * sizeof(float), &ok);
    L->tile_tau = take(L, (size_t)L->threads * tile_elems * sizeof(float), &ok);
    L->row_acc = take(L, (size_t)L->threads * (size_t)L->tile * sizeof(dy_lse_acc), &ok);
    L->block_stats = take(L, (size_t)L->blocks_max * sizeof(dy_block_stats), &ok);
    if (opts->queue_capacity > 0) L->queue = take(L, (size_t)opts->queue_capacity * d * sizeof(float), &ok);
    if (!ok) {
        size_t bytes = L->scratch_bytes;
        dy_loss_destroy(L);
        return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for %zu bytes of loss scratch (N %lld, d %lld)", bytes,
                       (long long)opts->max_batch, (long long)opts->dim);
    }
    *out = L;
    return DY_OK;
}

void dy_loss_destroy(dy_loss *L) {
    if (!L) return;
    dy_free(L->unit_rows);
    dy_free(L->inv_norm);
    dy_free(L->unit_keys);
    dy_free(L->row_lse);
    dy_free(L->pos_logit);
    dy_free(L->tile_sim);
    dy_free(L->tile_tau);
    dy_free(L->row_acc);
    dy_free(L->block_stats);
    dy_free(L->queue);
    dy_free(L);
}

size_t dy_loss_scratch_bytes(const dy_loss *L) { return L ? L->scratch_bytes : 0; }
const dy_loss_options *dy_loss_get_options(const dy_loss *L) { return L ? &L->opt : NULL; }
