/* The file listing of the folder readers (src/data/folder_list.h): sorted, recursive, hidden entries skipped. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/dataset.h"
#include "data/folder_list.h"

int dy_str_list_push(dy_str_list *l, char *s) {
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

void dy_str_list_free(dy_str_list *l) {
    for (int64_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Appends the accepted files under dir (recursively, sorted, hidden entries skipped) to files. */
static dy_status walk(dy_ctx *ctx, const char *dir, dy_file_filter accept, dy_str_list *files, int depth) {
    if (depth > 32) return dy_fail(ctx, DY_ERR_FORMAT, "%s: folders nested deeper than 32 levels (a link loop?)", dir);
    DIR *d = opendir(dir);
    if (!d) return dy_fail(ctx, DY_ERR_IO, "%s: cannot open folder (%s)", dir, strerror(errno));
    dy_str_list names = {0};
    struct dirent *e;
    dy_status st = DY_OK;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (dy_str_list_push(&names, strdup(e->d_name)) != 0) {
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
        else if (stat(p, &sb) != 0) free(p); /* a dangling link: not a file we can read, ignored like others */
        else if (S_ISDIR(sb.st_mode)) {
            st = walk(ctx, p, accept, files, depth + 1);
            free(p);
        } else if (S_ISREG(sb.st_mode) && accept(names.v[i])) {
            if (dy_str_list_push(files, p) != 0) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
        } else free(p);
    }
    dy_str_list_free(&names);
    return st;
}

/* The sorted names of dir's sub-folders (the classes of a labelled folder). */
static dy_status list_classes(dy_ctx *ctx, const char *dir, const char *what, dy_str_list *classes) {
    DIR *d = opendir(dir);
    if (!d) return dy_fail(ctx, DY_ERR_IO, "%s: cannot open folder (%s)", dir, strerror(errno));
    struct dirent *e;
    dy_status st = DY_OK;
    while ((e = readdir(d)) != NULL && st == DY_OK) {
        if (e->d_name[0] == '.') continue;
        char *p = dy_path_join(dir, e->d_name);
        struct stat cs;
        if (p && stat(p, &cs) == 0 && S_ISDIR(cs.st_mode)) {
            if (dy_str_list_push(classes, strdup(e->d_name)) != 0) st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
        }
        free(p);
    }
    closedir(d);
    if (st == DY_OK && classes->n == 0)
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: no class sub-folders (a labelled %s folder has one per class)", dir,
                     what);
    if (st == DY_OK && classes->n > 1000000) st = dy_fail(ctx, DY_ERR_FORMAT, "%s: too many classes", dir);
    if (st == DY_OK && classes->n > 1) qsort(classes->v, (size_t)classes->n, sizeof(char *), cmp_str);
    return st;
}

/* Walks each class's sub-folder in turn, recording the class of every file found. */
static dy_status walk_classes(dy_ctx *ctx, const char *dir, dy_file_filter accept, const dy_str_list *classes,
                              dy_str_list *files, int32_t **file_class) {
    int64_t cap = 0;
    for (int64_t c = 0; c < classes->n; c++) {
        int64_t before = files->n;
        char *p = dy_path_join(dir, classes->v[c]);
        dy_status st = p ? walk(ctx, p, accept, files, 1) : dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
        free(p);
        if (st != DY_OK) return st;
        if (files->n > cap) {
            int32_t *nf = realloc(*file_class, sizeof(int32_t) * (size_t)files->cap);
            if (!nf) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory");
            *file_class = nf;
            cap = files->cap;
        }
        for (int64_t i = before; i < files->n; i++) (*file_class)[i] = (int32_t)c;
    }
    return DY_OK;
}

dy_status dy_folder_list(dy_ctx *ctx, const char *dir, bool labelled, dy_file_filter accept, const char *what,
                         dy_str_list *files, int32_t **file_class, dy_str_list *classes) {
    memset(files, 0, sizeof *files);
    memset(classes, 0, sizeof *classes);
    *file_class = NULL;
    struct stat sb;
    if (stat(dir, &sb) != 0) return dy_fail(ctx, DY_ERR_IO, "%s: missing folder (%s)", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return dy_fail(ctx, DY_ERR_IO, "%s: not a folder", dir);
    dy_status st;
    if (labelled) {
        st = list_classes(ctx, dir, what, classes);
        if (st == DY_OK) st = walk_classes(ctx, dir, accept, classes, files, file_class);
    } else {
        st = walk(ctx, dir, accept, files, 0);
    }
    if (st != DY_OK) {
        dy_str_list_free(files);
        dy_str_list_free(classes);
        free(*file_class);
        *file_class = NULL;
    }
    return st;
}

/* Moves the failed files' paths to *skipped, or fails with the first failure's message. */
static dy_status sort_out(dy_ctx *ctx, const char *dir, dy_str_list *files, const dy_status *file_st,
                          char *const *file_msg, bool skip_bad, bool *ok, char ***skipped, int64_t *nskipped) {
    for (int64_t i = 0; i < files->n; i++) {
        ok[i] = file_st[i] == DY_OK;
        if (ok[i]) continue;
        if (!skip_bad) return dy_fail(ctx, file_st[i], "%s", file_msg[i] ? file_msg[i] : files->v[i]);
        if (!*skipped && !(*skipped = calloc((size_t)files->n, sizeof(char *))))
            return dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory", dir);
        (*skipped)[(*nskipped)++] = files->v[i]; /* the path moves to the reader's result */
        files->v[i] = NULL;
    }
    return DY_OK;
}

dy_status dy_folder_load_all(dy_ctx *ctx, const char *dir, dy_str_list *files, dy_folder_load_fn load, void *user,
                             bool skip_bad, const char *what, bool *ok, char ***skipped, int64_t *nskipped) {
    const int64_t n = files->n;
    dy_status *file_st = calloc((size_t)n, sizeof(dy_status));
    char **file_msg = calloc((size_t)n, sizeof(char *));
    dy_status st = DY_OK;
    if (!file_st || !file_msg) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "%s: out of memory for %lld %s", dir, (long long)n, what);
        goto done;
    }
    int nthreads = ctx ? ctx->threads : 1;
#pragma omp parallel for schedule(dynamic, 4) num_threads(nthreads)
    for (int64_t i = 0; i < n; i++) {
        dy_ctx local;
        memset(&local, 0, sizeof local);
        file_st[i] = load(&local, i, user);
        if (file_st[i] != DY_OK) file_msg[i] = strdup(local.error);
    }
    if ((st = sort_out(ctx, dir, files, file_st, file_msg, skip_bad, ok, skipped, nskipped)) != DY_OK) goto done;
    if (*nskipped == n)
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: none of the %lld %s could be read (first: %s)", dir, (long long)n, what,
                     file_msg[0] ? file_msg[0] : "?");
done:
    if (file_msg)
        for (int64_t i = 0; i < n; i++) free(file_msg[i]);
    free(file_msg);
    free(file_st);
    return st;
}
