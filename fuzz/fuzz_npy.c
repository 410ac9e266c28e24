/* libFuzzer target for the .npy reader: any bytes must give DY_OK with consistent sizes or an error status, never a
 * crash, a leak or an out-of-bounds read. The reader takes a path, so each input goes through a temporary file. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/context.h"
#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_npy.%ld.npy", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = 1, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 0;
    float *m = NULL;
    int64_t rows = 0, cols = 0, n = 0;
    if (dy_npy_read_f32(ctx, path, &m, &rows, &cols) == DY_OK) {
        volatile float sink = 0;
        for (int64_t i = 0; i < rows * cols; i++) sink += m[i]; /* every announced value must be readable */
        dy_free(m);
        (void)sink;
    } else if (m) abort(); /* a failed read must not hand out memory */
    int64_t *v = NULL;
    if (dy_npy_read_i64(ctx, path, &v, &n) == DY_OK) {
        volatile uint64_t sink = 0; /* unsigned: any values, summed without overflow */
        for (int64_t i = 0; i < n; i++) sink += (uint64_t)v[i];
        dy_free(v);
        (void)sink;
    } else if (v) abort();
    dy_ctx_destroy(ctx);
    return 0;
}
