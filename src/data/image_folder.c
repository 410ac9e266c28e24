/* Image folders: one sub-folder per class (labelled; classes are the sorted sub-folder names, as torchvision's
 * ImageFolder) or any tree (unlabelled). Every .png/.jpg/.jpeg file (any letter case) is decoded and resized on load
 * to size x size (shorter side, then centre crop), so the data set is one uint8 array like the binary formats.
 * Files are decoded in parallel (OpenMP); the result does not depend on the thread count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "data/dataset.h"
#include "data/folder_list.h"
#include "data/image.h"

static bool is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

dy_image_folder_options dy_image_folder_defaults(void) {
    dy_image_folder_options o = {.size = 96, .channels = 3, .labelled = true, .skip_bad = false, .max_pixels = 0};
    return o;
}

/* Decodes and resizes one file into dst; errors go to the (thread-local) ctx. */
static dy_status load_one(dy_ctx *ctx, const char *path, const dy_image_folder_options *o, uint8_t *dst) {
    uint8_t *buf;
    size_t n;
    dy_status st = dy_read_file(ctx, path, &buf, &n, (size_t)1 << 30);
    if (st != DY_OK) return st;
    dy_image img;
    st = dy_image_decode(ctx, path, buf, n, o->max_pixels, o->size, &img);
    free(buf);
    if (st != DY_OK) return st;
    st = dy_image_resize_square(ctx, &img, o->size, o->channels, dst);
    dy_image_free(&img);
    return st;
}

typedef struct {
    const dy_str_list *files;
    const dy_image_folder_options *o;
    uint8_t *pixels;
    size_t per;
} image_job;

static dy_status load_image(dy_ctx *local, int64_t i, void *user) {
    const image_job *job = user;
    return load_one(local, job->files->v[i], job->o, job->pixels + (size_t)i * job->per);
}

dy_status dy_dataset_load_image_folder(dy_ctx *ctx, dy_dataset **out, const char *dir,
                                       const dy_image_folder_options *opts) {
    if (!out || !dir) return dy_fail(ctx, DY_ERR_INVALID, "dy_dataset_load_image_folder: NULL argument");
    *out = NULL;
    dy_image_folder_options o = opts ? *opts : dy_image_folder_defaults();
    if (o.size <= 0 || o.size > 4096)
        return dy_fail(ctx, DY_ERR_INVALID, "%s: image size %d not in 1..4096", dir, o.size);
    if (o.channels != 1 && o.channels != 3)
        return dy_fail(ctx, DY_ERR_INVALID, "%s: channels %d (expected 1 or 3)", dir, o.channels);
    dy_str_list files, classes;
    int32_t *file_class = NULL;
    DY_TRY(dy_folder_list(ctx, dir, o.labelled, is_image_name, "image", &files, &file_class, &classes));
    dy_dataset *ds = NULL;
    bool *ok = NULL;
    dy_status st = DY_OK;
    if (files.n == 0) {
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: no .png/.jpg/.jpeg images found", dir);
        goto done;
    }
    ds = dy_dataset_alloc(files.n, o.channels, o.size, o.size);
    ok = calloc((size_t)files.n, sizeof(bool));
    if (!ds || !ok) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for %lld images", dir, (long long)files.n);
        goto done;
    }
    const size_t per = (size_t)o.channels * o.size * o.size;
    image_job job = {.files = &files, .o = &o, .pixels = ds->pixels, .per = per};
    st = dy_folder_load_all(ctx, dir, &files, load_image, &job, o.skip_bad, "images", ok, &ds->skipped_files,
                            &ds->skipped);
    if (st != DY_OK) goto done;
    int64_t kept = 0;
    for (int64_t i = 0; i < files.n; i++) {
        if (!ok[i]) continue;
        if (kept != i) memmove(ds->pixels + (size_t)kept * per, ds->pixels + (size_t)i * per, per);
        ds->labels[kept] = o.labelled ? file_class[i] : -1;
        kept++;
    }
    ds->count = kept;
    ds->kind = DY_KIND_FOLDER;
    if (o.labelled) {
        int nc = (int)classes.n;
        char **names = classes.v; /* the class names move to the data set */
        memset(&classes, 0, sizeof classes);
        st = dy_dataset_set_classes(ctx, ds, nc, names, dir);
    } else {
        st = dy_dataset_set_classes(ctx, ds, 0, NULL, dir);
    }
done:
    free(ok);
    free(file_class);
    dy_str_list_free(&files);
    dy_str_list_free(&classes);
    if (st != DY_OK) {
        dy_dataset_free(ds);
        return st;
    }
    *out = ds;
    return DY_OK;
}
