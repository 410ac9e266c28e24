/* The scores of an evaluation as one JSON file (dy_eval_write_json, protocols.h). */
#include "eval/protocols.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "io/atomic_file.h"
#include "io/json.h"

/* A score as JSON: the number, or null for NaN (a group of classes with no test sample). */
static void json_score(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ", \"%s\": %.6f", key, v);
    else fprintf(f, ", \"%s\": null", key);
}

/* s as a JSON string; bytes that are not valid UTF-8 (a file name in another encoding) become '?'. */
static void json_string(FILE *f, const char *s) {
    size_t bad = 0, n = strlen(s);
    bool valid = dy_json_valid_utf8(s, n, &bad);
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else if (c >= 0x80 && !valid) fputc('?', f);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* --skip-bad: the count of each split's skipped images and the first DY_EVAL_SKIPPED_SHOWN names of each. */
static void json_skipped(FILE *f, const dy_dataset *train, const dy_dataset *test) {
    const dy_dataset *splits[2] = {train, test};
    fprintf(f, ", \"skipped_train\": %lld, \"skipped_test\": %lld, \"skipped_files\": [",
            (long long)(train ? train->skipped : 0), (long long)(test ? test->skipped : 0));
    int written = 0;
    for (int s = 0; s < 2; s++) {
        int64_t named = splits[s] && splits[s]->skipped_files ? splits[s]->skipped : 0;
        for (int64_t i = 0; i < named && i < DY_EVAL_SKIPPED_SHOWN; i++) {
            if (written++) fputs(", ", f);
            json_string(f, splits[s]->skipped_files[i]);
        }
    }
    fputc(']', f);
}

/* An array of n numbers (doubles as fractions, NaN as null) or integers. */
static void json_doubles(FILE *f, const char *key, const double *v, int64_t n) {
    fprintf(f, ", \"%s\": [", key);
    for (int64_t i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        if (isfinite(v[i])) fprintf(f, "%.6f", v[i]);
        else fputs("null", f);
    }
    fputc(']', f);
}

static void json_ints(FILE *f, const char *key, const int64_t *v, int64_t n) {
    fprintf(f, ", \"%s\": [", key);
    for (int64_t i = 0; i < n; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)v[i]);
    fputc(']', f);
}

static void json_extra(FILE *f, const dy_eval_json_extra *x) {
    if (x->description) {
        fputs(", \"protocol_detail\": ", f);
        json_string(f, x->description);
    }
    const dy_eval_accuracy *acc = x->acc;
    if (acc && acc->class_top1) {
        json_doubles(f, "class_top1", acc->class_top1, acc->classes);
        json_ints(f, "class_test", acc->class_samples, acc->classes);
        if (x->train_counts) json_ints(f, "class_train", x->train_counts, acc->classes);
        if (x->class_names) {
            fputs(", \"class_names\": [", f);
            for (int64_t c = 0; c < acc->classes; c++) {
                if (c) fputs(", ", f);
                json_string(f, x->class_names[c] ? x->class_names[c] : "");
            }
            fputc(']', f);
        }
    }
    const dy_eval_label_subset *l = x->labels;
    if (l && l->labelled) {
        bool subset = l->fraction > 0 || l->per_class > 0;
        fprintf(f, ", \"labelled_images\": %lld, \"label_subset\": %s", (long long)l->labelled->count,
                subset ? "true" : "false");
        if (subset) {
            json_score(f, "label_fraction", l->fraction > 0 ? l->fraction : NAN);
            if (l->per_class > 0) fprintf(f, ", \"labels_per_class\": %lld", (long long)l->per_class);
            else fputs(", \"labels_per_class\": null", f);
            fprintf(f, ", \"label_seed\": %llu", (unsigned long long)l->seed);
            json_ints(f, "class_labelled", l->labelled->class_counts, l->labelled->num_classes);
        }
    }
}

dy_status dy_eval_write_json(dy_ctx *ctx, const char *path, const char *features, const char *protocol,
                             const dy_eval_scores *s, const dy_eval_json_extra *x, const dy_dataset *train,
                             const dy_dataset *test) {
    dy_atomic_file af;
    dy_status st = dy_atomic_open(ctx, &af, path);
    if (st != DY_OK) return st;
    /* features and protocol are fixed words of the CLI (encoder, pixels, random; knn, linear): nothing to escape */
    fprintf(af.fp, "{\"features\": \"%s\", \"protocol\": \"%s\"", features, protocol);
    json_score(af.fp, "top1", s->top1);
    json_score(af.fp, "top5", s->top5);
    if (s->has_shots) {
        json_score(af.fp, "many", s->many);
        json_score(af.fp, "medium", s->medium);
        json_score(af.fp, "few", s->few);
        json_score(af.fp, "head", s->head);
        json_score(af.fp, "middle", s->middle);
        json_score(af.fp, "tail", s->tail);
        json_score(af.fp, "head_tail_gap", s->gap);
        fprintf(af.fp, ", \"head_classes\": %lld, \"middle_classes\": %lld, \"tail_classes\": %lld",
                (long long)s->head_classes, (long long)s->middle_classes, (long long)s->tail_classes);
    }
    if (x) json_extra(af.fp, x);
    json_skipped(af.fp, train, test);
    fputs("}\n", af.fp);
    return dy_atomic_commit(ctx, &af); /* flush, fsync and close are checked there: a full disk is an error */
}
