/* The file listing the folder readers share (image folders, audio folders): a labelled folder has one sub-folder per
 * class (classes are the sorted sub-folder names, as torchvision's ImageFolder) whose trees are walked in sorted
 * order; an unlabelled folder is one tree. Hidden entries (names starting with '.') are skipped, dangling links
 * ignored, and only regular files whose names the reader accepts are listed. */
#ifndef DY_DATA_FOLDER_LIST_H
#define DY_DATA_FOLDER_LIST_H

#include "core/context.h"

/* A growing list of malloc'ed strings. */
typedef struct {
    char **v;
    int64_t n, cap;
} dy_str_list;

/* Appends s (taken over; freed on failure). -1 when s is NULL or out of memory. */
int dy_str_list_push(dy_str_list *l, char *s);
void dy_str_list_free(dy_str_list *l);

/* Whether a file name is one the reader reads (by its extension). */
typedef bool (*dy_file_filter)(const char *name);

/* The readable files under dir: labelled, the classes in *classes (sorted) and each file's class in *file_class
 * (malloc'ed, [files->n]); unlabelled, the whole tree and *file_class NULL. what names the kind of folder in the
 * errors ("image", "audio"). Fails (naming dir) when dir is missing or not a folder, a labelled folder has no class
 * sub-folders, or folders nest deeper than 32 levels; finding no files is not an error here (the reader says what it
 * looked for). On failure everything is freed. */
dy_status dy_folder_list(dy_ctx *ctx, const char *dir, bool labelled, dy_file_filter accept, const char *what,
                         dy_str_list *files, int32_t **file_class, dy_str_list *classes);

/* Reads file i of a listing into the reader's own storage (user); errors go to the file's own context local. */
typedef dy_status (*dy_folder_load_fn)(dy_ctx *local, int64_t i, void *user);

/* Runs load on every file of files in parallel (ctx's threads, OpenMP; each file its own context), then goes through
 * the files in order: without skip_bad the first failure fails the call with that file's message; with skip_bad the
 * paths of the failed files move from files (set NULL there) to *skipped (malloc'ed, counted in *nskipped, which
 * must start NULL and 0). ok[i] says whether file i was read. When none was, the call fails naming dir, the count
 * and the first file's message ("none of the 3 images could be read (first: ...)": what names the files). */
dy_status dy_folder_load_all(dy_ctx *ctx, const char *dir, dy_str_list *files, dy_folder_load_fn load, void *user,
                             bool skip_bad, const char *what, bool *ok, char ***skipped, int64_t *nskipped);

#endif
