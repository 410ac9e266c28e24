/* libFuzzer target for the time-series readers (src/data/series): any bytes must give a consistent set or an error
 * with a message, never a crash, a leak or an out-of-bounds read. Byte 0 chooses the reader and its options (bit 0:
 * CSV, else .npy; bit 1: label_first; bit 2: skip_bad; bits 3-5: channels - 1); byte 1 the labels file of a .npy
 * (0: none, odd: .npy, even: text) and bytes 2-3 where the rest splits into data | labels. The readers take paths,
 * so each part goes through a temporary file. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/context.h"
#include "dystress/signal.h"

static void series_put(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (size) fwrite(data, 1, size, f);
    fclose(f);
}

/* The invariants of a set a reader returned; abort() on a broken one. */
static void series_check(const dy_signal_set *s) {
    if (s->count < 1 || s->channels < 1 || s->offsets[0] != 0) abort();
    int64_t labelled = 0, counted = 0;
    for (int64_t i = 0; i < s->count; i++) {
        if (s->offsets[i + 1] <= s->offsets[i] || dy_signal_length(s, i) != dy_signal_length(s, 0)) abort();
        if (s->labels[i] < -1 || s->labels[i] >= s->num_classes) abort();
        labelled += s->labels[i] >= 0;
    }
    for (int64_t k = 0; k < s->offsets[s->count]; k++)
        if (!isfinite(s->samples[k])) abort();
    for (int c = 0; c < s->num_classes; c++) {
        if (!s->class_names[c]) abort();
        counted += s->class_counts[c];
    }
    if (counted != labelled) abort();
    for (int64_t k = 0; k < s->skipped; k++)
        if (!s->skipped_files[k]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char data_path[64], npy_labels[64], txt_labels[64];
    if (!data_path[0]) {
        snprintf(data_path, sizeof data_path, "/tmp/fuzz_series.%ld.data", (long)getpid());
        snprintf(npy_labels, sizeof npy_labels, "/tmp/fuzz_series.%ld.labels.npy", (long)getpid());
        snprintf(txt_labels, sizeof txt_labels, "/tmp/fuzz_series.%ld.labels.txt", (long)getpid());
    }
    if (size < 4) return 0;
    const uint8_t mode = data[0], labels = data[1];
    const size_t rest = size - 4, split = labels ? ((size_t)data[2] << 8 | data[3]) % (rest + 1) : rest;
    const char *labels_path = labels == 0 ? NULL : labels % 2 ? npy_labels : txt_labels;
    series_put(data_path, data + 4, split);
    if (labels_path) series_put(labels_path, data + 4 + split, rest - split);
    dy_ctx *ctx = NULL;
    if (dy_ctx_create(&ctx, &(dy_ctx_options){.threads = 1, .backend = DY_BACKEND_REF}) != DY_OK) return 0;
    dy_series_options o = dy_series_defaults();
    o.label_first = mode & 2;
    o.skip_bad = mode & 4;
    o.channels = 1 + ((mode >> 3) & 7);
    o.max_bytes = 1 << 20;
    dy_signal_set *s = NULL;
    dy_status st = mode & 1 ? dy_signal_load_csv(ctx, &s, data_path, &o)
                            : dy_signal_load_npy(ctx, &s, data_path, labels_path, &o);
    if (st == DY_OK) series_check(s);
    else if (s || !dy_ctx_error(ctx)[0]) abort(); /* a refusal hands out nothing and says why */
    dy_signal_set_free(s);
    dy_ctx_destroy(ctx);
    return 0;
}
