/* libFuzzer target: the safetensors parser must refuse any corrupt input cleanly and never read out of range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dy_ctx *ctx;
    dy_ctx_options o = {.threads = 1, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 0;
    /* A private copy so that reads past size hit ASan's redzone. */
    uint8_t *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    dy_st_file f;
    if (dy_st_parse(ctx, "fuzz", copy, size, &f) == DY_OK) {
        volatile uint8_t sink = 0;
        for (int64_t i = 0; i < f.count; i++)
            for (size_t b = 0; b < f.tensors[i].nbytes; b++) sink ^= f.tensors[i].data[b];
        (void)sink;
        dy_st_free(&f);
    }
    free(copy);
    dy_ctx_destroy(ctx);
    return 0;
}
