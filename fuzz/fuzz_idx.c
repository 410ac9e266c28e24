/* libFuzzer target: the IDX reader (plain and gzip) on arbitrary bytes.
 * Byte 0 bit 0: also parse a labels file; bytes 1-2: where the input splits into images | labels. */
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    const int pair = data[0] & 1;
    const size_t split_at = ((size_t)data[1] << 8 | data[2]);
    data += 3;
    size -= 3;
    dy_ctx *ctx = NULL;
    if (dy_ctx_create(&ctx, &(dy_ctx_options){.threads = 1, .backend = DY_BACKEND_REF}) != DY_OK) return 0;
    dy_dataset *ds = NULL;
    const size_t limit = (size_t)16 << 20; /* decompressed bytes: keeps gzip bombs inside the fuzzer's memory */
    if (pair) {
        size_t k = size ? split_at % (size + 1) : 0;
        dy_idx_from_memory(ctx, &ds, "images", data, k, "labels", data + k, size - k, limit);
    } else {
        dy_idx_from_memory(ctx, &ds, "images", data, size, NULL, NULL, 0, limit);
    }
    if (ds) {
        volatile uint32_t sum = 0; /* touch everything the reader claims to hold */
        for (int64_t i = 0; i < ds->count * ds->height * ds->width; i++) sum += ds->pixels[i];
        for (int64_t i = 0; i < ds->count; i++) sum += (uint32_t)ds->labels[i];
        (void)sum;
    }
    dy_dataset_free(ds);
    dy_ctx_destroy(ctx);
    return 0;
}
