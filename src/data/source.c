/* A data set by its name (source.h): the readers of src/data chosen, the splits checked, a long tail or a validation
 * split made. */
#include "data/source.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "data/holdout.h"

/* Appends to buf the names in a (sorted) that are not in b (sorted), at most 5 then a count. */
static void names_missing(char *buf, size_t size, char *const *a, int na, char *const *b, int nb) {
    int shown = 0, more = 0;
    size_t len = strlen(buf);
    for (int i = 0, j = 0; i < na; i++) {
        while (j < nb && strcmp(b[j], a[i]) < 0) j++;
        if (j < nb && !strcmp(b[j], a[i])) continue;
        if (shown == 5) {
            more++;
            continue;
        }
        len += (size_t)snprintf(buf + len, len < size ? size - len : 0, "%s'%s'", shown ? ", " : "", a[i]);
        if (len >= size) len = size - 1;
        shown++;
    }
    if (more) snprintf(buf + len, size - len, " and %d more", more);
    if (!shown) snprintf(buf + len, size - len, "none");
}

/* Image folders label images by the sorted names of their class folders: train and test must have the same names, or
 * label 3 means one class in one and another in the other (and kNN/linear scores are silently wrong). */
static dy_status same_classes(dy_ctx *ctx, const dy_dataset *train, const dy_dataset *test, const char *train_dir,
                              const char *test_dir) {
    bool same = train->num_classes == test->num_classes && train->class_names && test->class_names;
    for (int c = 0; same && c < train->num_classes; c++) same = !strcmp(train->class_names[c], test->class_names[c]);
    if (same) return DY_OK;
    if (!train->class_names || !test->class_names)
        return dy_fail(ctx, DY_ERR_FORMAT, "%s and %s: class names missing, cannot check that they match", train_dir,
                       test_dir);
    char only_train[512] = "", only_test[512] = "";
    names_missing(only_train, sizeof only_train, train->class_names, train->num_classes, test->class_names,
                  test->num_classes);
    names_missing(only_test, sizeof only_test, test->class_names, test->num_classes, train->class_names,
                  train->num_classes);
    return dy_fail(ctx, DY_ERR_FORMAT, "the class folders of --data-dir %s (%d classes) and --test-dir %s (%d) differ: "
                   "only in the training folder: %s; only in the test folder: %s", train_dir, train->num_classes,
                   test_dir, test->num_classes, only_train, only_test);
}

/* Whether dir holds a folder (not a hidden one): a labelled image folder's classes. */
static bool has_subfolder(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return true; /* the reader names the problem */
    bool found = false;
    for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        found = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    }
    closedir(d);
    return found;
}

static dy_status load_data(dy_ctx *ctx, const dy_data_source *o, dy_dataset **train, dy_dataset **test,
                           bool with_test) {
    *train = *test = NULL;
    const char *dir = o->dir;
    bool mnist_like = !strcmp(o->name, "fashion-mnist") || !strcmp(o->name, "mnist");
    if (!*dir && !strcmp(o->name, "fashion-mnist")) dir = DY_FASHION_MNIST_DIR;
    if (!*dir)
        return dy_fail(ctx, DY_ERR_INVALID, "--data %s needs --data-dir (where the files are)", o->name);
    dy_status st;
    if (mnist_like) {
        /* Fashion-MNIST's classes by their names (in eval --per-class and the report), MNIST's are its digits */
        dy_status (*load)(dy_ctx *, dy_dataset **, const char *, dy_split) =
            !strcmp(o->name, "fashion-mnist") ? dy_dataset_load_fashion_mnist : dy_dataset_load_mnist;
        if ((st = load(ctx, train, dir, DY_SPLIT_TRAIN)) != DY_OK) return st;
        if (with_test) st = load(ctx, test, dir, DY_SPLIT_TEST);
    } else if (!strncmp(o->name, "cifar10", 7) && strncmp(o->name, "cifar100", 8)) {
        if ((st = dy_dataset_load_cifar10(ctx, train, dir, DY_SPLIT_TRAIN)) != DY_OK) return st;
        if (with_test) st = dy_dataset_load_cifar10(ctx, test, dir, DY_SPLIT_TEST);
    } else if (!strncmp(o->name, "cifar100", 8)) {
        bool coarse = o->cifar100_coarse;
        if ((st = dy_dataset_load_cifar100(ctx, train, dir, DY_SPLIT_TRAIN, coarse)) != DY_OK) return st;
        if (with_test) st = dy_dataset_load_cifar100(ctx, test, dir, DY_SPLIT_TEST, coarse);
    } else if (!strcmp(o->name, "stl10")) {
        if ((st = dy_dataset_load_stl10(ctx, train, dir, o->stl10_unlabeled ? DY_SPLIT_UNLABELED : DY_SPLIT_TRAIN)) !=
            DY_OK)
            return st;
        if (with_test) st = dy_dataset_load_stl10(ctx, test, dir, DY_SPLIT_TEST);
    } else { /* folder */
        dy_image_folder_options fo = dy_image_folder_defaults();
        fo.size = (int)o->image_size;
        fo.skip_bad = o->skip_bad;
        /* a long tail needs the training set's labels; a validation split takes them where the folder has class
         * sub-folders (tune's kNN), and holds out unlabelled images of a folder without any (tune's RankMe) */
        fo.labelled = *o->test_dir != 0 || (!with_test && has_subfolder(dir)) || o->long_tail;
        if ((st = dy_dataset_load_image_folder(ctx, train, dir, &fo)) != DY_OK) return st;
        if (with_test && *o->test_dir) st = dy_dataset_load_image_folder(ctx, test, o->test_dir, &fo);
        if (st == DY_OK && *test) st = same_classes(ctx, *train, *test, dir, o->test_dir);
    }
    if (st == DY_OK && (strstr(o->name, "-lt") || o->long_tail)) {
        dy_dataset *lt = NULL;
        if ((*train)->num_classes < 2)
            st = dy_fail(ctx, DY_ERR_INVALID, "--long-tail needs a labelled training set of 2 classes or more (--data "
                         "%s%s has %d)", o->name,
                         !strcmp(o->name, "stl10") && o->stl10_unlabeled ? " --stl10-unlabeled" : "",
                         (*train)->num_classes);
        else
            st = dy_dataset_longtail(ctx, &lt, *train, o->lt_ratio, o->seed);
        if (st == DY_OK) {
            dy_dataset_free(*train);
            *train = lt;
        }
    }
    if (st != DY_OK) {
        dy_dataset_free(*train);
        dy_dataset_free(*test);
        *train = *test = NULL;
    }
    return st;
}

dy_status dy_data_source_load(dy_ctx *ctx, const dy_data_source *o, dy_dataset **train, dy_dataset **test) {
    *train = *test = NULL;
    if (o->val_size <= 0) return load_data(ctx, o, train, test, true);
    dy_dataset *all = NULL, *none = NULL;
    dy_status st = load_data(ctx, o, &all, &none, false); /* the test split is never opened */
    if (st != DY_OK) return st;
    /* an unlabelled training set may hold a split out too: tune's label-free score (RankMe) embeds it; the kNN
     * monitor leaves a split without labels alone */
    if (o->val_size >= all->count)
        st = dy_fail(ctx, DY_ERR_INVALID, "--val-size %lld leaves no training images (the training set has %lld)",
                     (long long)o->val_size, (long long)all->count);
    else
        st = dy_dataset_holdout(ctx, all, o->val_size, o->val_seed, train, test);
    dy_dataset_free(all);
    return st;
}

int64_t dy_dataset_flat_images(const dy_dataset *ds, int64_t *first) {
    *first = -1;
    if (!ds || ds->count < 1) return 0;
    const int64_t per_image = (int64_t)ds->channels * ds->height * ds->width;
    int64_t flat = 0;
    for (int64_t i = 0; i < ds->count; i++) {
        const uint8_t *p = ds->pixels + i * per_image;
        int64_t k = 1;
        while (k < per_image && p[k] == p[0]) k++;
        if (k == per_image) flat++, *first = *first < 0 ? i : *first;
    }
    return flat;
}
