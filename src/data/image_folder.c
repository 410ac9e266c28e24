/* Image folders: one sub-folder per class (labelled; classes are the sorted sub-folder names, as torchvision's
 * ImageFolder) or any tree (unlabelled). Every .png/.jpg/.jpeg file (any letter case) is decoded and resized on load
 * to size x size (shorter side, then centre crop), so the data set is one uint8 array like the binary formats.
 * Files are decoded in parallel (OpenMP); the result does not depend on the thread count. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "data/image.h"

typedef struct {
    char **v;
    int64_t n, cap;
} str_list;

static int list_push(str_list *l, char *s) {
    if (!s) return -1;
    if (l->n == l->cap) {
        int64_t nc = l->cap ? l->cap * 2 : 64;
        char **nv = realloc(l->v, sizeof(char *) * (size_t)nc);
        if (!nv) {
            free(s);
            return -1;
        }
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = s;
    return 0;
}

static void list_free(str_list *l) {
    for (int64_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_image_name(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* Appends the image files under dir (recursively, sorted, hidden entries skipped) to files. */
static dy_status walk(dy_ctx *ctx, const char *dir, str_list *files, int depth) {
    if (depth > 32) return dy_fail(ctx, DY_ERR_FORMAT, "%s: folders nested deeper than 32 levels (a link loop?)", dir);
    DIR *d = opendir(dir);
    if (!d) return dy_fail(ctx, DY_ERR_IO, "%s: cannot open folder (%s)", dir, strerror(errno));
    str_list names = {0};
    struct dirent *e;
    dy_status st = DY_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (list_push(&names, strdup(e->d_name)) != 0) {
            st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory listing the folder", dir);
            break;
        }
    }
    closedir(d);
    if (st == DY_OK && names.n > 1) qsort(names.v, (size_t)names.n, sizeof(char *), cmp_str);
    for (int64_t i = 0; i < names.n && st == DY_OK; i++) {
        char *p = dy_path_join(dir, names.v[i]);
        struct stat sb;
        if (!p) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
        else if (stat(p, &sb) != 0) free(p); /* a dangling link: not an image we can read, ignored like others */
        else if (S_ISDIR(sb.st_mode)) {
            st = walk(ctx, p, files, depth + 1);
            free(p);
        } else if (S_ISREG(sb.st_mode) && is_image_name(names.v[i])) {
            if (list_push(files, p) != 0) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
        } else free(p);
    }
    list_free(&names);
    return st;
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

dy_status dy_dataset_load_image_folder(dy_ctx *ctx, dy_dataset **out, const char *dir,
                                       const dy_image_folder_options *opts) {
    if (!out || !dir) return dy_fail(ctx, DY_ERR_INVALID, "dy_dataset_load_image_folder: NULL argument");
    *out = NULL;
    dy_image_folder_options o = opts ? *opts : dy_image_folder_defaults();
    if (o.size <= 0 || o.size > 4096)
        return dy_fail(ctx, DY_ERR_INVALID, "%s: image size %d not in 1..4096", dir, o.size);
    if (o.channels != 1 && o.channels != 3)
        return dy_fail(ctx, DY_ERR_INVALID, "%s: channels %d (expected 1 or 3)", dir, o.channels);
    struct stat sb;
    if (stat(dir, &sb) != 0) return dy_fail(ctx, DY_ERR_IO, "%s: missing folder (%s)", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return dy_fail(ctx, DY_ERR_IO, "%s: not a folder", dir);

    str_list files = {0}, classes = {0};
    int32_t *file_class = NULL;
    dy_status st = DY_OK;
    if (o.labelled) {
        DIR *d = opendir(dir);
        if (!d) return dy_fail(ctx, DY_ERR_IO, "%s: cannot open folder (%s)", dir, strerror(errno));
        struct dirent *e;
        while ((e = readdir(d)) != NULL && st == DY_OK) {
            if (e->d_name[0] == '.') continue;
            char *p = dy_path_join(dir, e->d_name);
            struct stat cs;
            if (p && stat(p, &cs) == 0 && S_ISDIR(cs.st_mode)) {
                if (list_push(&classes, strdup(e->d_name)) != 0) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
            }
            free(p);
        }
        closedir(d);
        if (st == DY_OK && classes.n == 0)
            st = dy_fail(ctx, DY_ERR_FORMAT, "%s: no class sub-folders (a labelled image folder has one per class)",
                         dir);
        if (st == DY_OK && classes.n > 1000000) st = dy_fail(ctx, DY_ERR_FORMAT, "%s: too many classes", dir);
        if (st == DY_OK && classes.n > 1) qsort(classes.v, (size_t)classes.n, sizeof(char *), cmp_str);
        int64_t cap = 0;
        for (int64_t c = 0; c < classes.n && st == DY_OK; c++) {
            int64_t before = files.n;
            char *p = dy_path_join(dir, classes.v[c]);
            st = p ? walk(ctx, p, &files, 1) : dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
            free(p);
            if (st != DY_OK) break;
            if (files.n > cap) {
                int32_t *nf = realloc(file_class, sizeof(int32_t) * (size_t)files.cap);
                if (!nf) {
                    st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
                    break;
                }
                file_class = nf;
                cap = files.cap;
            }
            for (int64_t i = before; i < files.n; i++) file_class[i] = (int32_t)c;
        }
    } else {
        st = walk(ctx, dir, &files, 0);
    }
    if (st == DY_OK && files.n == 0) st = dy_fail(ctx, DY_ERR_FORMAT, "%s: no .png/.jpg/.jpeg images found", dir);
    dy_dataset *ds = NULL;
    dy_status *file_st = NULL;
    char **file_msg = NULL;
    if (st == DY_OK) {
        ds = dy_dataset_alloc(files.n, o.channels, o.size, o.size);
        file_st = calloc((size_t)files.n, sizeof(dy_status));
        file_msg = calloc((size_t)files.n, sizeof(char *));
        if (!ds || !file_st || !file_msg) st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for %lld images", dir,
                                                       (long long)files.n);
    }
    if (st == DY_OK) {
        const size_t per = (size_t)o.channels * o.size * o.size;
        int nthreads = ctx ? ctx->threads : 1;
#pragma omp parallel for schedule(dynamic, 4) num_threads(nthreads)
        for (int64_t i = 0; i < files.n; i++) {
            dy_ctx local;
            memset(&local, 0, sizeof local);
            file_st[i] = load_one(&local, files.v[i], &o, ds->pixels + (size_t)i * per);
            if (file_st[i] != DY_OK) file_msg[i] = strdup(local.error);
        }
        int64_t kept = 0;
        for (int64_t i = 0; i < files.n; i++) {
            if (file_st[i] != DY_OK) {
                if (!o.skip_bad) {
                    st = dy_fail(ctx, file_st[i], "%s", file_msg[i] ? file_msg[i] : files.v[i]);
                    break;
                }
                if (!ds->skipped_files && !(ds->skipped_files = calloc((size_t)files.n, sizeof(char *)))) {
                    st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", dir);
                    break;
                }
                ds->skipped_files[ds->skipped++] = files.v[i]; /* the path moves to the data set */
                files.v[i] = NULL;
                continue;
            }
            if (kept != i) memmove(ds->pixels + (size_t)kept * per, ds->pixels + (size_t)i * per, per);
            ds->labels[kept] = o.labelled ? file_class[i] : -1;
            kept++;
        }
        ds->count = kept;
        if (st == DY_OK && kept == 0)
            st = dy_fail(ctx, DY_ERR_FORMAT, "%s: none of the %lld images could be read (first: %s)", dir,
                         (long long)files.n, file_msg[0] ? file_msg[0] : "?");
    }
    if (st == DY_OK) {
        ds->kind = DY_KIND_FOLDER;
        if (o.labelled) {
            int nc = (int)classes.n;
            char **names = classes.v; /* the class names move to the data set */
            memset(&classes, 0, sizeof classes);
            st = dy_dataset_set_classes(ctx, ds, nc, names, dir);
        } else {
            st = dy_dataset_set_classes(ctx, ds, 0, NULL, dir);
        }
    }
    if (file_msg)
        for (int64_t i = 0; i < files.n; i++) free(file_msg[i]);
    free(file_msg);
    free(file_st);
    free(file_class);
    list_free(&files);
    list_free(&classes);
    if (st != DY_OK) {
        dy_dataset_free(ds);
        return st;
    }
    *out = ds;
    return DY_OK;
}
