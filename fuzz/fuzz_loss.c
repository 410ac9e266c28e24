/* libFuzzer target: the loss must answer any options and any input (NaN, Inf, huge, zero rows, odd sizes) with
 * an error status or with a finite loss and a finite gradient; never a crash, never a silent NaN. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dystress.h"

/* Reads the next bytes as a value (zeros past the end). */
static void take(const uint8_t **data, size_t *size, void *out, size_t n) {
    memset(out, 0, n);
    size_t k = n < *size ? n : *size;
    memcpy(out, *data, k);
    *data += k;
    *size -= k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t flags = 0, n_byte = 0, d_byte = 0, tile_byte = 0, queue_byte = 0;
    float params[4];
    take(&data, &size, &flags, 1);
    take(&data, &size, &n_byte, 1);
    take(&data, &size, &d_byte, 1);
    take(&data, &size, &tile_byte, 1);
    take(&data, &size, &queue_byte, 1);
    take(&data, &size, params, sizeof params);
    dy_ctx *ctx;
    dy_ctx_options co = {.threads = 1 + (flags >> 7)};
    if (dy_ctx_create(&ctx, &co) != DY_OK) return 0;
    dy_loss_options o = dy_loss_defaults();
    o.form = (flags & 1) ? DY_LOSS_MOCO : DY_LOSS_SIMCLR;
    o.decoupled = flags & 2;
    o.normalized_input = flags & 4;
    o.tau.kind = (dy_tau_kind)((flags >> 3) & 3); /* 3 is an unknown kind */
    o.tau.tau_min = params[0];
    o.tau.tau_max = params[1];
    o.tau.offset = params[2];
    o.tau.scale = params[3];
    o.max_batch = n_byte % 24;
    o.dim = d_byte % 12;
    o.tile = tile_byte % 20;
    o.queue_capacity = (flags & 1) && (flags & 32) ? queue_byte % 16 : 0;
    dy_loss *L = NULL;
    if (dy_loss_create(ctx, &o, &L) == DY_OK) {
        const int64_t n = o.max_batch, d = o.dim, rows = o.form == DY_LOSS_SIMCLR ? 2 * n : 2 * n + queue_byte % 16;
        float *x = calloc((size_t)(rows * d) + 1, sizeof(float)), *g = calloc((size_t)(rows * d) + 1, sizeof(float));
        take(&data, &size, x, sizeof(float) * (size_t)(rows * d));
        float loss = NAN;
        dy_loss_diag diag;
        dy_status st;
        if (o.form == DY_LOSS_SIMCLR) {
            st = dy_loss_contrastive(L, ctx, n, x, g, &loss, &diag);
        } else {
            const float *queue = o.queue_capacity > 0 ? NULL : x + 2 * n * d;
            st = dy_loss_moco(L, ctx, n, x, x + n * d, queue, queue_byte % 16, g, &loss, &diag);
        }
        if (st == DY_OK) {
            if (!isfinite(loss)) abort();
            const int64_t grad_rows = o.form == DY_LOSS_SIMCLR ? 2 * n : n;
            for (int64_t i = 0; i < grad_rows * d; i++)
                if (!isfinite(g[i])) abort();
        }
        free(x);
        free(g);
        dy_loss_destroy(L);
    }
    dy_ctx_destroy(ctx);
    return 0;
}
