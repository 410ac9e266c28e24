/* Issue 22, from a folder of a user's own images to weights a PyTorch user can use:
 *   embed: on a folder without labels (no test split) the features of its images by default; an explicit --split
 *          test that is missing is refused with a message that names --split train.
 *   export: the safetensors "__metadata__" names the architecture (dystress.depth, width, in_channels, stem,
 *          feature_dim) and the input normalisation the encoder was trained with (dystress.image_size, mean, std:
 *          the training set's statistics, as pretrain records them in its checkpoints); a checkpoint without them
 *          (written before) gets them from its training data, or is exported with the architecture alone when the
 *          data is gone; files without metadata still load.
 *   the metadata's reader and writer: round trip, malformed values named, a repeated key refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_support.h"
#include "core/context.h"
#include "dystress.h"
#include "io/png_write.h"
#include "io/safetensors.h"
#include "model/encoder_meta.h"
#include "testlib.h"

enum { IMAGES = 40, SIDE = 20, LOAD_SIDE = 16 };

static char dir[256];

/* IMAGES small RGB images, each a noisy colour field with a lighter square somewhere: no labels, any tree */
static void write_images(dy_ctx *ctx, const char *folder) {
    mkdir(folder, 0700);
    static uint8_t rgb[SIDE * SIDE * 3];
    for (int i = 0; i < IMAGES; i++) {
        for (int y = 0; y < SIDE; y++)
            for (int x = 0; x < SIDE; x++)
                for (int c = 0; c < 3; c++) {
                    int v = (37 * i + 53 * c + 7 * x + 3 * y) % 160;
                    if (x >= i % 12 && x < i % 12 + 6 && y >= i % 9 && y < i % 9 + 6) v += 80;
                    rgb[(y * SIDE + x) * 3 + c] = (uint8_t)v;
                }
        char path[600];
        snprintf(path, sizeof path, "%s/img%02d.png", folder, i);
        dy_png_write_rgb(ctx, path, rgb, SIDE, SIDE);
    }
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* The metadata of a safetensors file; false (with the reason in the check) when it cannot be read */
static bool read_meta(dy_ctx *ctx, const char *path, dy_encoder_meta *m, bool *has_arch) {
    dy_st_file f;
    if (!CHECK(dy_st_read(ctx, path, &f) == DY_OK, "read %s: %s", path, dy_ctx_error(ctx))) return false;
    dy_status st = dy_encoder_meta_read(ctx, path, &f, m, has_arch);
    dy_st_free(&f);
    return CHECK(st == DY_OK, "metadata of %s: %s", path, dy_ctx_error(ctx));
}

/* The same tensors without any metadata (a file written before the metadata existed) */
static bool strip_metadata(dy_ctx *ctx, const char *from, const char *to) {
    dy_st_file f;
    if (dy_st_read(ctx, from, &f) != DY_OK) return false;
    dy_st_entry *e = calloc((size_t)f.count + 1, sizeof *e);
    for (int64_t i = 0; e && i < f.count; i++) {
        e[i] = (dy_st_entry){.name = f.tensors[i].name, .dtype = f.tensors[i].dtype, .ndim = f.tensors[i].ndim,
                             .data = f.tensors[i].data};
        memcpy(e[i].shape, f.tensors[i].shape, sizeof e[i].shape);
    }
    dy_status st = e ? dy_st_write(ctx, to, e, f.count) : DY_ERR_NOMEM;
    free(e);
    dy_st_free(&f);
    return st == DY_OK;
}

static void embed_unlabelled_folder(const char *ckpt) {
    char out[16384], path[512];
    int rc = cli_run(out, sizeof out, "./dystress embed --checkpoint %s --out %s/feats", ckpt, dir);
    snprintf(path, sizeof path, "%s/feats_features.npy", dir);
    CHECK(rc == 0 && strstr(out, "[40, 32]") && file_exists(path),
          "embed on a folder without a test split: the features of its %d images by default: %s", IMAGES, out);
    rc = cli_run(out, sizeof out, "./dystress embed --checkpoint %s --out %s/feats_test --split test", ckpt, dir);
    CHECK(rc == 1 && strstr(out, "no test split") && strstr(out, "--split train"),
          "an explicit --split test on it is refused, naming --split train: %s", out);
    snprintf(path, sizeof path, "%s/feats_test_features.npy", dir);
    CHECK(!file_exists(path), "and writes nothing");
    rc = cli_run(out, sizeof out, "./dystress embed --checkpoint %s --out %s/feats_train --split train", ckpt, dir);
    CHECK(rc == 0 && strstr(out, "[40, 32]"), "--split train gives the same images: %s", out);
    rc = cli_run(out, sizeof out, "cmp %s/feats_features.npy %s/feats_train_features.npy", dir, dir);
    CHECK(rc == 0, "the default's features are --split train's: %s", out);
}

static void export_metadata(dy_ctx *ctx, const char *imgs, const char *ckpt) {
    /* what the training views were normalised with: the folder's own statistics at the loaded size */
    dy_image_folder_options fo = dy_image_folder_defaults();
    fo.size = LOAD_SIDE;
    fo.labelled = false;
    dy_dataset *ds = NULL;
    float mean[3] = {0}, std[3] = {0};
    if (CHECK(dy_dataset_load_image_folder(ctx, &ds, imgs, &fo) == DY_OK, "folder: %s", dy_ctx_error(ctx)))
        dy_dataset_mean_std(ds, mean, std);
    dy_dataset_free(ds);

    dy_encoder_meta m;
    bool has_arch = false;
    if (read_meta(ctx, ckpt, &m, &has_arch))
        CHECK(has_arch && m.has_input, "the checkpoint records the architecture and the input normalisation");

    char out[16384], enc[512];
    snprintf(enc, sizeof enc, "%s/encoder.safetensors", dir);
    int rc = cli_run(out, sizeof out, "./dystress export --checkpoint %s --out %s", ckpt, enc);
    CHECK(rc == 0 && strstr(out, "inputs 16 px"), "export exits 0 and names the inputs: %s", out);
    if (read_meta(ctx, enc, &m, &has_arch)) {
        CHECK(has_arch && m.depth == 18 && m.width == 4 && m.in_channels == 3 && m.stem == DY_STEM_CIFAR &&
                  m.feature_dim == 32,
              "architecture: ResNet-%d width %lld, %lld channels, stem %d, features %lld", m.depth, (long long)m.width,
              (long long)m.in_channels, (int)m.stem, (long long)m.feature_dim);
        CHECK(m.has_input && m.image_size[0] == LOAD_SIDE && m.image_size[1] == LOAD_SIDE, "image size %lld x %lld",
              (long long)m.image_size[0], (long long)m.image_size[1]);
        test_close("mean = the training folder's", m.mean, mean, 3, 1e-6);
        test_close("std = the training folder's", m.std, std, 3, 1e-6);
    }
    dy_st_file f;
    if (CHECK(dy_st_read(ctx, enc, &f) == DY_OK, "read %s", enc)) {
        const char *v = dy_st_meta_get(&f, "dystress.format_version"), *stem = dy_st_meta_get(&f, "dystress.stem");
        const char *fmt = dy_st_meta_get(&f, "format");
        CHECK(v && !strcmp(v, "1") && stem && !strcmp(stem, "cifar") && fmt && !strcmp(fmt, "pt"),
              "format_version 1, stem \"cifar\", and PyTorch's format \"pt\" kept");
        CHECK(dy_st_find(&f, "conv1.weight") && !dy_st_find(&f, "head.0.weight"), "the encoder's tensors, no head");
        dy_st_free(&f);
    }
    rc = cli_run(out, sizeof out, "./dystress embed --checkpoint %s --out %s/from_export --split train "
                 "--data folder --data-dir %s --image-size 16 --width 4", enc, dir, imgs);
    CHECK(rc == 0, "the exported file is used as weights: %s", out);

    /* a checkpoint written before pretrain recorded the normalisation: export computes it from the training data */
    char old_dir[512], old[600], cmd[2048];
    snprintf(old_dir, sizeof old_dir, "%s/old", dir);
    snprintf(old, sizeof old, "%s/checkpoint-final.safetensors", old_dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && cp %s/run/config.json %s/", old_dir, dir, old_dir);
    CHECK(system(cmd) == 0 && strip_metadata(ctx, ckpt, old), "a copy of the checkpoint without metadata");
    if (read_meta(ctx, old, &m, &has_arch)) CHECK(!has_arch && !m.has_input, "the copy has no dystress.* keys");
    snprintf(enc, sizeof enc, "%s/encoder_old.safetensors", dir);
    rc = cli_run(out, sizeof out, "./dystress export --checkpoint %s --out %s", old, enc);
    CHECK(rc == 0 && strstr(out, "inputs 16 px"), "export of the old checkpoint: %s", out);
    if (read_meta(ctx, enc, &m, &has_arch) && CHECK(has_arch && m.has_input, "it holds every key")) {
        test_close("old checkpoint: mean from the data", m.mean, mean, 3, 1e-6);
        test_close("old checkpoint: std from the data", m.std, std, 3, 1e-6);
    }
    /* ... and without the data, the architecture alone and a warning, never a failure */
    snprintf(cmd, sizeof cmd, "mv %s %s.gone", imgs, imgs);
    CHECK(system(cmd) == 0, "the training images moved away");
    snprintf(enc, sizeof enc, "%s/encoder_nodata.safetensors", dir);
    rc = cli_run(out, sizeof out, "./dystress export --checkpoint %s --out %s", old, enc);
    CHECK(rc == 0 && strstr(out, "warning") && strstr(out, "dystress.mean"), "export without the data warns: %s", out);
    if (read_meta(ctx, enc, &m, &has_arch))
        CHECK(has_arch && !m.has_input, "and writes the architecture alone");
    snprintf(cmd, sizeof cmd, "mv %s.gone %s", imgs, imgs);
    CHECK(system(cmd) == 0, "the training images back");
}

static void metadata_unit(dy_ctx *ctx) {
    dy_encoder_meta m = {.depth = 50, .width = 16, .in_channels = 1, .stem = DY_STEM_IMAGENET, .feature_dim = 512,
                         .has_input = true, .image_size = {28, 24}, .mean = {0.2860402f}, .std = {0.3530239f}};
    dy_encoder_meta_text t;
    dy_encoder_meta_format(&m, &t);
    /* an image encoder's file has every key but dystress.dims (written for 1-D encoders only) */
    CHECK(t.count == DY_ENCODER_META_MAX - 1, "%lld entries", (long long)t.count);
    dy_encoder_meta m1 = m;
    m1.dims = DY_DIMS_1D;
    dy_encoder_meta_text t1;
    dy_encoder_meta_format(&m1, &t1);
    int64_t dims_at = -1;
    for (int64_t i = 0; i < t1.count; i++)
        if (!strcmp(t1.items[i].key, "dystress.dims") && !strcmp(t1.items[i].value, "1")) dims_at = i;
    CHECK(t1.count == DY_ENCODER_META_MAX && dims_at >= 0,
          "a 1-D encoder's file adds dystress.dims \"1\" (%lld entries)", (long long)t1.count);
    char path[512];
    snprintf(path, sizeof path, "%s/unit.safetensors", dir);
    float x[2] = {1, 2};
    dy_st_entry e = {.name = "x", .dtype = DY_ST_F32, .ndim = 1, .shape = {2}, .data = x};
    dy_encoder_meta back;
    bool has_arch = false;
    if (CHECK(dy_st_write_meta(ctx, path, &e, 1, t.items, t.count) == DY_OK, "write: %s", dy_ctx_error(ctx)) &&
        read_meta(ctx, path, &back, &has_arch)) {
        CHECK(has_arch && back.has_input && back.depth == 50 && back.width == 16 && back.in_channels == 1 &&
                  back.stem == DY_STEM_IMAGENET && back.feature_dim == 512 && back.image_size[0] == 28 &&
                  back.image_size[1] == 24 && back.mean[0] == m.mean[0] && back.std[0] == m.std[0],
              "round trip: every value back exactly (floats with 9 digits)");
    }
    dy_st_meta twice[2] = {{.key = "a", .value = "1"}, {.key = "a", .value = "2"}};
    CHECK(dy_st_write_meta(ctx, path, &e, 1, twice, 2) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "twice"),
          "a repeated key is refused: %s", dy_ctx_error(ctx));
    dy_st_meta format = {.key = "format", .value = "np"};
    CHECK(dy_st_write_meta(ctx, path, &e, 1, &format, 1) == DY_ERR_INVALID, "\"format\" is the writer's own");
    /* malformed values are named */
    static const char *const bad[][2] = {{"dystress.std", "0.3,0.2"}, {"dystress.std", "0"},
                                         {"dystress.depth", "34"}, {"dystress.stem", "vit"},
                                         {"dystress.image_size", "x"}, {"dystress.width", "-4"}};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
        dy_encoder_meta_format(&m, &t);
        for (int64_t i = 0; i < t.count; i++)
            if (!strcmp(t.items[i].key, bad[b][0])) snprintf(t.values[i], sizeof t.values[i], "%s", bad[b][1]);
        dy_st_file f = {.meta = t.items, .meta_count = t.count};
        dy_status st = dy_encoder_meta_read(ctx, "case", &f, &back, &has_arch);
        CHECK(st == DY_ERR_FORMAT && strstr(dy_ctx_error(ctx), bad[b][0]), "%s = \"%s\" refused, key named: %s",
              bad[b][0], bad[b][1], dy_ctx_error(ctx));
    }
    /* weights saved by the library carry the architecture */
    dy_model_config mc = dy_model_config_default();
    mc.width = 2;
    mc.in_channels = 1;
    dy_model *model = NULL;
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    if (CHECK(dy_model_create(ctx, &mc, 1, &model) == DY_OK, "model: %s", dy_ctx_error(ctx)) &&
        CHECK(dy_model_save_weights(model, path, false) == DY_OK, "save: %s", dy_ctx_error(ctx)) &&
        read_meta(ctx, path, &back, &has_arch))
        CHECK(has_arch && !back.has_input && back.width == 2 && back.in_channels == 1 && back.feature_dim == 16,
              "dy_model_save_weights writes the architecture (width %lld, features %lld)", (long long)back.width,
              (long long)back.feature_dim);
    dy_model_destroy(model);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/dystress-export-test-%d", (int)getpid());
    mkdir(dir, 0700);
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 1};
    if (!CHECK(dy_ctx_create(&ctx, &co) == DY_OK, "context")) return test_finish();
    char imgs[512], ckpt[512], out[16384];
    snprintf(imgs, sizeof imgs, "%s/imgs", dir);
    write_images(ctx, imgs);
    /* one step of pretraining (IMAGES images, one batch) on the folder: no labels, no test split (a layout given:
     * no plan tuning) */
    int rc = cli_run(out, sizeof out, "./dystress pretrain --data folder --data-dir %s --image-size %d --width 4 "
                     "--batch-size 32 --epochs 1 --layout blocked --threads 1 --loader-threads 1 --run-dir %s/run",
                     imgs, LOAD_SIDE, dir);
    snprintf(ckpt, sizeof ckpt, "%s/run/checkpoint-final.safetensors", dir);
    if (CHECK(rc == 0 && file_exists(ckpt), "pretrain on the folder: %s", out)) {
        embed_unlabelled_folder(ckpt);
        export_metadata(ctx, imgs, ckpt);
    }
    CHECK(!strstr(out, "flat colour"), "images that differ: no flat-colour warning");
    /* a folder of flat images (what RGBA icons drawn in their alpha channel alone decode to): said before training,
     * which then stops at its first step */
    char flat[512];
    snprintf(flat, sizeof flat, "%s/flat", dir);
    mkdir(flat, 0700);
    static uint8_t zeros[SIDE * SIDE * 3];
    for (int i = 0; i < 8; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/icon%d.png", flat, i);
        dy_png_write_rgb(ctx, path, zeros, SIDE, SIDE);
    }
    rc = cli_run(out, sizeof out, "./dystress pretrain --data folder --data-dir %s --image-size %d --width 4 "
                 "--batch-size 4 --epochs 1 --layout blocked --threads 1 --run-dir %s/flat-run", flat, LOAD_SIDE, dir);
    CHECK(rc != 0 && strstr(out, "8 of the 8 training images are one flat colour"),
          "a folder of flat images: warned before training: %s", out);
    metadata_unit(ctx);
    dy_ctx_destroy(ctx);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish();
}
