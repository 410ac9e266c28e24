/* libFuzzer target: the CIFAR-10 / CIFAR-100 (fine or coarse) binary reader on arbitrary bytes.
 * Byte 0 chooses the variant; bytes 1-2 split the rest into two files (as data_batch_1 | data_batch_2). */
#include <stddef.h>
#include <stdint.h>

#include "data/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    const int variant = data[0] % 3;
    const size_t split_at = ((size_t)data[1] << 8 | data[2]);
    data += 3;
    size -= 3;
    dy_ctx *ctx = NULL;
    if (dy_ctx_create(&ctx, &(dy_ctx_options){.threads = 1, .backend = DY_BACKEND_REF}) != DY_OK) return 0;
    size_t k = size ? split_at % (size + 1) : 0;
    const char *names[2] = {"batch_a.bin", "batch_b.bin"};
    const uint8_t *bufs[2] = {data, data + k};
    size_t sizes[2] = {k, size - k};
    dy_dataset *ds = NULL;
    dy_cifar_from_memory(ctx, &ds, variant == 0 ? DY_KIND_CIFAR10 : DY_KIND_CIFAR100, variant == 2, 2, names, bufs,
                         sizes);
    if (ds) {
        volatile uint32_t sum = 0;
        for (int64_t i = 0; i < ds->count * 3072; i++) sum += ds->pixels[i];
        for (int c = 0; c < ds->num_classes; c++) sum += (uint32_t)ds->class_counts[c];
        (void)sum;
    }
    dy_dataset_free(ds);
    dy_ctx_destroy(ctx);
    return 0;
}
