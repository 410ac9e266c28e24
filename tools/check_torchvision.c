/* Helper of tools/check_torchvision.py (built by it, not by make): loads a torchvision state dict saved as
 * safetensors into a dystress ResNet-18 (width 64, CIFAR stem, no head) and writes its eval features of an input;
 * then saves a freshly initialised model of ours and writes its features, for torchvision to load and compare.
 *
 * usage: check_torchvision TV.safetensors INPUT.f32 N OURS.safetensors TV_FEATS.f32 OURS_FEATS.f32 */
#include <stdio.h>
#include <stdlib.h>

#include "dystress.h"

static int fail(dy_ctx *ctx, const char *what) {
    fprintf(stderr, "%s: %s\n", what, dy_ctx_error(ctx));
    return 1;
}

static int write_floats(const char *path, const float *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, sizeof *p, n, f) != n) return 1;
    return fclose(f) != 0;
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s TV.safetensors INPUT.f32 N OURS.safetensors TV_FEATS.f32 OURS_FEATS.f32\n", argv[0]);
        return 2;
    }
    int64_t n = atoll(argv[3]), hw = 32, count = n * 3 * hw * hw;
    float *input = malloc(sizeof(float) * (size_t)count), *feats = malloc(sizeof(float) * (size_t)(n * 512));
    FILE *f = fopen(argv[2], "rb");
    if (!f || fread(input, sizeof(float), (size_t)count, f) != (size_t)count) return 2;
    fclose(f);
    dy_ctx *ctx;
    dy_ctx_options o = {.backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 1;
    dy_model_config c = dy_model_config_default();
    c.head = false;
    dy_model *tv, *ours;
    if (dy_model_create(ctx, &c, 1, &tv) != DY_OK) return fail(ctx, "create");
    if (dy_model_load_weights(tv, argv[1], true) != DY_OK) return fail(ctx, "load torchvision weights");
    if (dy_model_embed(tv, input, n, hw, hw, feats) != DY_OK) return fail(ctx, "embed");
    if (write_floats(argv[5], feats, (size_t)(n * 512))) return 1;
    if (dy_model_create(ctx, &c, 12345, &ours) != DY_OK) return fail(ctx, "create");
    /* Running statistics that are not the defaults, so that the comparison covers them: one training forward. */
    if (dy_model_forward_train(ours, input, n, hw, hw, NULL, NULL) != DY_OK) return fail(ctx, "train forward");
    if (dy_model_save_weights(ours, argv[4], true) != DY_OK) return fail(ctx, "save");
    if (dy_model_embed(ours, input, n, hw, hw, feats) != DY_OK) return fail(ctx, "embed");
    if (write_floats(argv[6], feats, (size_t)(n * 512))) return 1;
    dy_model_destroy(tv);
    dy_model_destroy(ours);
    dy_ctx_destroy(ctx);
    free(input);
    free(feats);
    return 0;
}
