/* Replays every file of fuzz/seeds/<target> through its libFuzzer target, without libFuzzer: the corpora that the
 * fuzz runs grew (docs/FUZZING.md) become regression inputs of the ordinary suite, and of `make sanitize`, where
 * AddressSanitizer and UBSan watch them. A target fails an input by crashing or by its own oracles (abort() on a
 * broken invariant, e.g. a refusal without a message, a config.json that does not read back); each input that
 * returns counts as one check. A seeds folder that is missing or empty fails, so the replay cannot pass by
 * finding nothing. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testlib.h"

/* Every target defines LLVMFuzzerTestOneInput; each is included under its own name. */
#define LLVMFuzzerTestOneInput fuzz_cifar_one
#include "../fuzz/fuzz_cifar.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_cli_options_one
#define table_json cli_options_table_json
#include "../fuzz/fuzz_cli_options.c"
#undef table_json
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_config_json_one
#include "../fuzz/fuzz_config_json.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_idx_one
#include "../fuzz/fuzz_idx.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_image_decode_one
#include "../fuzz/fuzz_image_decode.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_loss_one
#include "../fuzz/fuzz_loss.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_npy_one
#include "../fuzz/fuzz_npy.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_safetensors_one
#include "../fuzz/fuzz_safetensors.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_series_one
#include "../fuzz/fuzz_series.c"
#undef LLVMFuzzerTestOneInput
#define LLVMFuzzerTestOneInput fuzz_stl10_one
#include "../fuzz/fuzz_stl10.c"
#undef LLVMFuzzerTestOneInput

typedef int (*fuzz_fn)(const uint8_t *data, size_t size);

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Runs fn on every file in fuzz/seeds/<name>, in name order; returns how many ran. */
static int replay(const char *name, fuzz_fn fn) {
    char dir[256], path[768];
    snprintf(dir, sizeof dir, "fuzz/seeds/%s", name);
    DIR *d = opendir(dir);
    if (!CHECK(d != NULL, "%s: the seeds folder %s opens (run from the repository root)", name, dir)) return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            char **grown = realloc(names, cap * sizeof *names);
            if (!grown) break;
            names = grown;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, by_name);
    int ran = 0;
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        FILE *f = fopen(path, "rb");
        uint8_t *buf = NULL;
        long size = -1;
        if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
            buf = malloc((size_t)size + 1);
            if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) size = -1;
        }
        if (f) fclose(f);
        if (CHECK(buf && size >= 0, "%s: seed %s reads", name, path)) {
            fn(buf, (size_t)size); /* returns only if the target's oracles held */
            ran++;
        }
        free(buf);
        free(names[i]);
    }
    free(names);
    CHECK(ran > 0, "%s: %d seeds replayed (none would prove nothing)", name, ran);
    return ran;
}

int main(void) {
    struct {
        const char *name;
        fuzz_fn fn;
    } targets[] = {{"fuzz_cifar", fuzz_cifar_one},           {"fuzz_cli_options", fuzz_cli_options_one},
                   {"fuzz_config_json", fuzz_config_json_one}, {"fuzz_idx", fuzz_idx_one},
                   {"fuzz_image_decode", fuzz_image_decode_one}, {"fuzz_loss", fuzz_loss_one},
                   {"fuzz_npy", fuzz_npy_one},               {"fuzz_safetensors", fuzz_safetensors_one},
                   {"fuzz_series", fuzz_series_one},         {"fuzz_stl10", fuzz_stl10_one}};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        int ran = replay(targets[i].name, targets[i].fn);
        printf("ok   %-18s %d seeds\n", targets[i].name, ran);
    }
    return test_finish();
}
