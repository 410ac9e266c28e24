/* Accuracy summaries shared by the kNN monitor and the linear probe: top-1/top-5, per class, and the
 * many/medium/few-shot split of long-tailed evaluation. */
#include <math.h>
#include <string.h>

#include "core/context.h"
#include "dystress/eval.h"

void dy_eval_accuracy_free(dy_eval_accuracy *acc) {
    if (!acc) return;
    dy_free(acc->class_samples);
    dy_free(acc->class_correct);
    dy_free(acc->class_top1);
    memset(acc, 0, sizeof *acc);
}

dy_status dy_eval_accuracy_compute(dy_ctx *ctx, const int64_t *ranked, const int64_t *labels, int64_t n,
                                   int64_t classes, dy_eval_accuracy *out) {
    if (!out) return dy_fail(ctx, DY_ERR_INVALID, "accuracy: output is NULL");
    memset(out, 0, sizeof *out);
    if (!ranked || !labels) return dy_fail(ctx, DY_ERR_INVALID, "accuracy: predictions or labels are NULL");
    if (n < 1) return dy_fail(ctx, DY_ERR_INVALID, "accuracy: %lld samples, expected at least 1", (long long)n);
    if (classes < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "accuracy: %lld classes, expected at least 1", (long long)classes);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return dy_fail(ctx, DY_ERR_INVALID, "accuracy: label %lld of sample %lld is outside [0, %lld)",
                           (long long)labels[i], (long long)i, (long long)classes);
    out->class_samples = dy_alloc((size_t)classes * sizeof(int64_t));
    out->class_correct = dy_alloc((size_t)classes * sizeof(int64_t));
    out->class_top1 = dy_alloc((size_t)classes * sizeof(double));
    if (!out->class_samples || !out->class_correct || !out->class_top1) {
        dy_eval_accuracy_free(out);
        return dy_fail(ctx, DY_ERR_NOMEM, "accuracy: cannot allocate per-class arrays for %lld classes",
                       (long long)classes);
    }
    out->samples = n;
    out->classes = classes;
    int64_t top = classes < DY_EVAL_TOPK ? classes : DY_EVAL_TOPK;
    for (int64_t i = 0; i < n; i++) {
        const int64_t *r = ranked + i * DY_EVAL_TOPK;
        int64_t y = labels[i];
        out->class_samples[y]++;
        if (r[0] == y) {
            out->correct_top1++;
            out->class_correct[y]++;
        }
        for (int64_t j = 0; j < top; j++)
            if (r[j] == y) {
                out->correct_top5++;
                break;
            }
    }
    out->top1 = (double)out->correct_top1 / (double)n;
    out->top5 = (double)out->correct_top5 / (double)n;
    for (int64_t c = 0; c < classes; c++)
        out->class_top1[c] =
            out->class_samples[c] ? (double)out->class_correct[c] / (double)out->class_samples[c] : NAN;
    return DY_OK;
}

dy_status dy_eval_class_counts(dy_ctx *ctx, const int64_t *labels, int64_t n, int64_t classes, int64_t *counts) {
    if (!labels || !counts || n < 0 || classes < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "class counts: bad arguments (n %lld, classes %lld)", (long long)n,
                       (long long)classes);
    memset(counts, 0, (size_t)classes * sizeof *counts);
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= classes)
            return dy_fail(ctx, DY_ERR_INVALID, "class counts: label %lld of sample %lld is outside [0, %lld)",
                           (long long)labels[i], (long long)i, (long long)classes);
        counts[labels[i]]++;
    }
    return DY_OK;
}

dy_shot_options dy_shot_defaults(void) { return (dy_shot_options){.many_above = 100, .few_below = 20}; }

dy_status dy_eval_shot_accuracy(dy_ctx *ctx, const dy_eval_accuracy *acc, const int64_t *train_counts,
                                const dy_shot_options *opts, dy_shot_accuracy *out) {
    if (!acc || !acc->class_top1 || !train_counts || !out)
        return dy_fail(ctx, DY_ERR_INVALID, "shot accuracy: accuracy, training counts or output is NULL");
    dy_shot_options o = opts ? *opts : dy_shot_defaults();
    if (o.few_below < 0 || o.many_above < o.few_below)
        return dy_fail(ctx, DY_ERR_INVALID, "shot accuracy: thresholds few < %lld, many > %lld are not ordered",
                       (long long)o.few_below, (long long)o.many_above);
    double sum[3] = {0, 0, 0};
    int64_t count[3] = {0, 0, 0}; /* many, medium, few */
    for (int64_t c = 0; c < acc->classes; c++) {
        if (acc->class_samples[c] == 0) continue;
        int g = train_counts[c] > o.many_above ? 0 : train_counts[c] < o.few_below ? 2 : 1;
        sum[g] += acc->class_top1[c];
        count[g]++;
    }
    out->many = count[0] ? sum[0] / (double)count[0] : NAN;
    out->medium = count[1] ? sum[1] / (double)count[1] : NAN;
    out->few = count[2] ? sum[2] / (double)count[2] : NAN;
    out->many_classes = count[0];
    out->medium_classes = count[1];
    out->few_classes = count[2];
    return DY_OK;
}

dy_status dy_eval_thirds_accuracy(dy_ctx *ctx, const dy_eval_accuracy *acc, const int64_t *train_counts,
                                  dy_thirds_accuracy *out) {
    if (!acc || !acc->class_top1 || !train_counts || !out)
        return dy_fail(ctx, DY_ERR_INVALID, "thirds accuracy: accuracy, training counts or output is NULL");
    int64_t *rank = dy_alloc((size_t)(acc->classes + 1) * sizeof(int64_t));
    if (!rank) return dy_fail(ctx, DY_ERR_NOMEM, "thirds accuracy: out of memory for %lld classes",
                              (long long)acc->classes);
    int64_t n = 0;
    for (int64_t c = 0; c < acc->classes; c++) /* insertion sort: stable, so equal counts keep the lower class first */
        if (acc->class_samples[c] > 0) {
            int64_t j = n++;
            while (j > 0 && train_counts[rank[j - 1]] < train_counts[c]) {
                rank[j] = rank[j - 1];
                j--;
            }
            rank[j] = c;
        }
    double sum[3] = {0, 0, 0};
    int64_t count[3] = {0, 0, 0};
    for (int64_t r = 0; r < n; r++) {
        int64_t g = 3 * r / n;
        sum[g] += acc->class_top1[rank[r]];
        count[g]++;
    }
    dy_free(rank);
    out->head = count[0] ? sum[0] / (double)count[0] : NAN;
    out->middle = count[1] ? sum[1] / (double)count[1] : NAN;
    out->tail = count[2] ? sum[2] / (double)count[2] : NAN;
    out->gap = out->head - out->tail;
    out->head_classes = count[0];
    out->middle_classes = count[1];
    out->tail_classes = count[2];
    return DY_OK;
}
