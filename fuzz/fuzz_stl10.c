/* libFuzzer target: the STL-10 binary reader on arbitrary bytes.
 * Byte 0 bit 0: with labels; bytes 1-2: how many trailing bytes are the labels file (the rest are images). */
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    const int labelled = data[0] & 1;
    const size_t nlabels = ((size_t)data[1] << 8 | data[2]);
    data += 3;
    size -= 3;
    dy_ctx *ctx = NULL;
    if (dy_ctx_create(&ctx, &(dy_ctx_options){.threads = 1, .backend = DY_BACKEND_REF}) != DY_OK) return 0;
    dy_dataset *ds = NULL;
    if (labelled) {
        size_t k = nlabels <= size ? nlabels : size;
        dy_stl10_from_memory(ctx, &ds, "train_X.bin", data, size - k, "train_y.bin", data + size - k, k);
    } else {
        dy_stl10_from_memory(ctx, &ds, "unlabeled_X.bin", data, size, NULL, NULL, 0);
    }
    if (ds) {
        volatile uint32_t sum = 0;
        for (int64_t i = 0; i < ds->count * 3 * 96 * 96; i++) sum += ds->pixels[i];
        (void)sum;
    }
    dy_dataset_free(ds);
    dy_ctx_destroy(ctx);
    return 0;
}
