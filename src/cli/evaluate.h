/* The evaluation protocols live in the library (src/eval/protocols.h); these are the names src/cli/cmd_tune.c still
 * calls them by, until its search moves into src/tune (issue 24). */
#ifndef DY_CLI_EVALUATE_H
#define DY_CLI_EVALUATE_H

#include "eval/protocols.h"

typedef dy_eval_scores eval_scores;

static inline dy_status cli_features(dy_ctx *ctx, dy_model *model, const dy_dataset *stats, const dy_dataset *ds,
                                     float **features, int64_t *dim) {
    return dy_eval_features(ctx, model, stats, ds, features, dim);
}

/* per_class: not printed here any more (dystress eval prints the classes itself); false is the only use */
static inline dy_status cli_knn(dy_ctx *ctx, const float *ftr, const dy_dataset *train, const float *fte,
                                const dy_dataset *test, int64_t dim, int64_t k, double t, bool per_class,
                                eval_scores *out) {
    (void)per_class;
    return dy_eval_knn(ctx, ftr, train, fte, test, dim, k, t, NULL, out);
}

#endif
