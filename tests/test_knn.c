/* Weighted kNN monitor: against the PyTorch monitor (tests/fixtures/eval_knn.bin from tools/fixtures_eval.py), against
 * a brute-force full sort, the tie rules, thread/block independence, the error statuses; accuracy summaries. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "core/rng.h"
#include "dystress/eval.h"
#include "fixture.h"
#include "testlib.h"

static dy_ctx *make_ctx(int threads) {
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = threads, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return NULL;
    return ctx;
}

static const int64_t *fx_i64(const fx_file *f, const char *name, int64_t *numel) {
    const fx_tensor *t = fx_get(f, name);
    if (!t || t->dtype != 1) return NULL;
    if (numel) *numel = t->numel;
    return t->data;
}

static void test_against_torch(void) {
    fx_file *f = fx_load(test_fixture_path("eval_knn.bin"));
    if (!CHECK(f != NULL, "load eval_knn.bin")) return;
    int64_t n_train_el = 0, n_test = 0, n_test_el = 0;
    const float *train = fx_f32(f, "train", &n_train_el);
    const float *test = fx_f32(f, "test", &n_test_el);
    const int64_t *train_y = fx_i64(f, "train_labels", NULL);
    const int64_t *test_y = fx_i64(f, "test_labels", &n_test);
    const int64_t *classes_p = fx_i64(f, "classes", NULL);
    if (!CHECK(train && test && train_y && test_y && classes_p, "fixture tensors present")) {
        fx_free(f);
        return;
    }
    int64_t dim = fx_get(f, "train")->dims[1], n_train = n_train_el / dim, classes = classes_p[0];
    const char *runs[] = {"a", "b", "c"};
    for (int r = 0; r < 3; r++) {
        char name[32];
        snprintf(name, sizeof name, "%s_k", runs[r]);
        int64_t k = fx_i64(f, name, NULL)[0];
        snprintf(name, sizeof name, "%s_t", runs[r]);
        float t = (float)fx_scalar(f, name);
        snprintf(name, sizeof name, "%s_scores", runs[r]);
        const float *torch_scores = fx_f32(f, name, NULL);
        /* torch's scores are the summed weights exp(s / t); ours each class's share of them (a row sums to 1) */
        float *want_scores = malloc((size_t)(n_test * classes) * sizeof *want_scores);
        for (int64_t i = 0; i < n_test; i++) {
            double total = 0;
            for (int64_t c = 0; c < classes; c++) total += torch_scores[i * classes + c];
            for (int64_t c = 0; c < classes; c++)
                want_scores[i * classes + c] = (float)(torch_scores[i * classes + c] / total);
        }
        snprintf(name, sizeof name, "%s_ranked", runs[r]);
        const int64_t *want_ranked = fx_i64(f, name, NULL);
        int64_t *ranked = calloc((size_t)n_test * DY_EVAL_TOPK, sizeof *ranked);
        float *scores = calloc((size_t)(n_test * classes), sizeof *scores);
        const int threads[] = {1, 2};
        const int64_t blocks[] = {0, 1, 7, 64};
        for (int ti = 0; ti < 2; ti++)
            for (int bi = 0; bi < 4; bi++) {
                dy_ctx *ctx = make_ctx(threads[ti]);
                dy_knn_options o = {.k = k, .temperature = t, .block_rows = blocks[bi]};
                dy_status st = dy_knn_classify(ctx, train, train_y, n_train, test, n_test, dim, classes, &o, ranked,
                                               scores);
                CHECK(st == DY_OK, "kNN run %s: %s", runs[r], dy_ctx_error(ctx));
                CHECK(memcmp(ranked, want_ranked, (size_t)n_test * DY_EVAL_TOPK * sizeof *ranked) == 0,
                      "kNN run %s (k %lld, t %g, threads %d, block %lld): ranked classes equal torch's", runs[r],
                      (long long)k, (double)t, threads[ti], (long long)blocks[bi]);
                char what[96];
                snprintf(what, sizeof what, "kNN run %s scores (threads %d, block %lld)", runs[r], threads[ti],
                         (long long)blocks[bi]);
                test_close(what, scores, want_scores, (size_t)(n_test * classes), 1e-5);
                dy_ctx_destroy(ctx);
            }
        /* The evaluate wrapper: accuracy counted independently here from torch's ranking. */
        int64_t c1 = 0, c5 = 0;
        for (int64_t i = 0; i < n_test; i++) {
            c1 += want_ranked[i * 5] == test_y[i];
            for (int j = 0; j < 5; j++) c5 += want_ranked[i * 5 + j] == test_y[i];
        }
        dy_ctx *ctx = make_ctx(2);
        dy_eval_accuracy acc;
        dy_knn_options o = {.k = k, .temperature = t};
        CHECK(dy_knn_evaluate(ctx, train, train_y, n_train, test, test_y, n_test, dim, classes, &o, NULL, &acc) ==
                  DY_OK,
              "kNN evaluate: %s", dy_ctx_error(ctx));
        CHECK(acc.correct_top1 == c1 && acc.correct_top5 == c5 && acc.samples == n_test,
              "kNN run %s accuracy: top-1 %lld/%lld top-5 %lld/%lld", runs[r], (long long)acc.correct_top1,
              (long long)c1, (long long)acc.correct_top5, (long long)c5);
        dy_eval_accuracy_free(&acc);
        dy_ctx_destroy(ctx);
        free(ranked);
        free(scores);
        free(want_scores);
    }
    fx_free(f);
}

/* ---- brute force: every similarity in double, a full sort, classes sorted by (score desc, class asc). ---- */

typedef struct {
    double key;
    int64_t index;
} keyed;

static int keyed_desc(const void *pa, const void *pb) {
    const keyed *a = pa, *b = pb;
    if (a->key != b->key) return a->key > b->key ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

static void brute_force(const float *train, const int64_t *train_y, int64_t n_train, const float *test, int64_t n_test,
                        int64_t dim, int64_t classes, int64_t k, double t, int64_t *ranked, float *scores) {
    keyed *all = malloc((size_t)n_train * sizeof *all);
    keyed *cls = malloc((size_t)classes * sizeof *cls);
    for (int64_t i = 0; i < n_test; i++) {
        double na = 0;
        for (int64_t p = 0; p < dim; p++) na += (double)test[i * dim + p] * test[i * dim + p];
        for (int64_t j = 0; j < n_train; j++) {
            double dot = 0, nb = 0;
            for (int64_t p = 0; p < dim; p++) {
                dot += (double)test[i * dim + p] * train[j * dim + p];
                nb += (double)train[j * dim + p] * train[j * dim + p];
            }
            all[j] = (keyed){dot / (sqrt(na) * sqrt(nb)), j};
        }
        qsort(all, (size_t)n_train, sizeof *all, keyed_desc);
        for (int64_t c = 0; c < classes; c++) cls[c] = (keyed){0, c};
        double total = 0;
        for (int64_t j = 0; j < k; j++) {
            cls[train_y[all[j].index]].key += exp(all[j].key / t); /* double: no overflow for t >= 0.0015 */
            total += exp(all[j].key / t);
        }
        for (int64_t c = 0; c < classes; c++) scores[i * classes + c] = (float)(cls[c].key / total);
        qsort(cls, (size_t)classes, sizeof *cls, keyed_desc);
        for (int64_t r = 0; r < DY_EVAL_TOPK; r++) ranked[i * DY_EVAL_TOPK + r] = r < classes ? cls[r].index : -1;
    }
    free(all);
    free(cls);
}

static void random_data(float *x, int64_t n, int64_t dim, uint32_t stream) {
    dy_rng r;
    dy_rng_init(&r, 11, DY_RNG_EVAL, stream, 0);
    for (int64_t i = 0; i < n * dim; i++) x[i] = (float)dy_rng_normal(&r);
}

static void test_against_brute_force(void) {
    const int64_t n_train = test_quick() ? 300 : 1000, n_test = 37, dim = 37;
    const int64_t class_counts[] = {10, 3};
    float *train = malloc((size_t)(n_train * dim) * sizeof *train);
    float *test = malloc((size_t)(n_test * dim) * sizeof *test);
    int64_t *train_y = malloc((size_t)n_train * sizeof *train_y);
    random_data(train, n_train, dim, 1);
    random_data(test, n_test, dim, 2);
    for (int ci = 0; ci < 2; ci++) {
        int64_t classes = class_counts[ci];
        dy_rng r;
        dy_rng_init(&r, 11, DY_RNG_EVAL, 3, (uint32_t)ci);
        for (int64_t j = 0; j < n_train; j++) train_y[j] = (int64_t)dy_rng_below(&r, (uint64_t)classes);
        const int64_t ks[] = {1, 20, 200, n_train};
        for (int ki = 0; ki < 4; ki++) {
            int64_t k = ks[ki];
            int64_t *want_r = malloc((size_t)n_test * DY_EVAL_TOPK * sizeof *want_r);
            int64_t *got_r = malloc((size_t)n_test * DY_EVAL_TOPK * sizeof *got_r);
            float *want_s = malloc((size_t)(n_test * classes) * sizeof *want_s);
            float *got_s = malloc((size_t)(n_test * classes) * sizeof *got_s);
            /* t = 1 keeps the votes comparable when k = n_train (every row votes). */
            double t = k == n_train ? 1.0 : 0.1;
            brute_force(train, train_y, n_train, test, n_test, dim, classes, k, t, want_r, want_s);
            dy_ctx *ctx = make_ctx(2);
            dy_knn_options o = {.k = k, .temperature = (float)t, .block_rows = 16};
            CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, n_test, dim, classes, &o, got_r, got_s) ==
                      DY_OK,
                  "kNN classify: %s", dy_ctx_error(ctx));
            CHECK(memcmp(got_r, want_r, (size_t)n_test * DY_EVAL_TOPK * sizeof *got_r) == 0,
                  "brute force (classes %lld, k %lld): same ranked classes", (long long)classes, (long long)k);
            char what[64];
            snprintf(what, sizeof what, "brute force scores (classes %lld, k %lld)", (long long)classes,
                     (long long)k);
            test_close(what, got_s, want_s, (size_t)(n_test * classes), 1e-5);
            dy_ctx_destroy(ctx);
            free(want_r);
            free(got_r);
            free(want_s);
            free(got_s);
        }
    }
    free(train);
    free(test);
    free(train_y);
}

static void test_ties(void) {
    /* Rows 3, 70 and 200 are one vector with labels 5, 2, 1: the neighbour rule keeps the lower index (row 3). */
    const int64_t n_train = 300, dim = 20, classes = 6;
    float *train = malloc((size_t)(n_train * dim) * sizeof *train);
    int64_t *train_y = malloc((size_t)n_train * sizeof *train_y);
    random_data(train, n_train, dim, 4);
    for (int64_t j = 0; j < n_train; j++) train_y[j] = j % 3; /* classes 3..5 unused but rows 3 */
    memcpy(train + 70 * dim, train + 3 * dim, (size_t)dim * sizeof *train);
    memcpy(train + 200 * dim, train + 3 * dim, (size_t)dim * sizeof *train);
    train_y[3] = 5;
    train_y[70] = 2;
    train_y[200] = 1;
    float test[2 * 20];
    for (int64_t p = 0; p < dim; p++) test[p] = test[dim + p] = 2 * train[3 * dim + p];
    int64_t ranked[2 * DY_EVAL_TOPK];
    float scores[2 * 6];
    dy_ctx *ctx = make_ctx(2);
    dy_knn_options o = {.k = 1, .temperature = 0.1f, .block_rows = 1};
    CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, 2, dim, classes, &o, ranked, scores) == DY_OK, "ties");
    CHECK(ranked[0] == 5 && ranked[DY_EVAL_TOPK] == 5, "equal similarities: the lower train index wins (got %lld)",
          (long long)ranked[0]);
    /* Zero-score classes follow by class index. */
    CHECK(ranked[1] == 0 && ranked[2] == 1 && ranked[3] == 2 && ranked[4] == 3, "zero scores ranked by class index");
    /* k = 2: rows 3 and 70 tie on similarity and give equal votes to classes 5 and 2: class 2 ranks first. */
    o.k = 2;
    CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, 2, dim, classes, &o, ranked, scores) == DY_OK, "ties");
    CHECK(ranked[0] == 2 && ranked[1] == 5 && ranked[2] == 0, "equal class scores: lower class first (%lld %lld %lld)",
          (long long)ranked[0], (long long)ranked[1], (long long)ranked[2]);
    CHECK(scores[2] == scores[5] && scores[1] == 0, "the tied classes have equal scores");
    dy_ctx_destroy(ctx);
    free(train);
    free(train_y);
}

/* Duplicated train rows scattered over a larger bank (GEMM edge tiles included), every block size and thread count:
 * the duplicate with the lowest index is the neighbour. */
static void test_duplicates_everywhere(void) {
    const int64_t n_train = 1000, dim = 67, classes = 10;
    const int64_t dups[] = {1, 16, 517, 998, 999};
    float *train = malloc((size_t)(n_train * dim) * sizeof *train);
    int64_t *train_y = malloc((size_t)n_train * sizeof *train_y);
    random_data(train, n_train, dim, 8);
    for (int64_t j = 0; j < n_train; j++) train_y[j] = j % 7;
    for (int d = 0; d < 5; d++) {
        if (d > 0) memcpy(train + dups[d] * dim, train + dups[0] * dim, (size_t)dim * sizeof *train);
        train_y[dups[d]] = 9 - d; /* row 1 votes for class 9 */
    }
    float test[9 * 67];
    for (int i = 0; i < 9; i++)
        for (int64_t p = 0; p < dim; p++) test[i * dim + p] = (float)(i + 1) * train[dups[0] * dim + p];
    const int64_t blocks[] = {1, 3, 8, 0};
    int ok = 1;
    for (int threads = 1; threads <= 2; threads++)
        for (int b = 0; b < 4; b++) {
            dy_ctx *ctx = make_ctx(threads);
            dy_knn_options o = {.k = 1, .temperature = 0.1f, .block_rows = blocks[b]};
            int64_t ranked[9 * DY_EVAL_TOPK];
            ok &= dy_knn_classify(ctx, train, train_y, n_train, test, 9, dim, classes, &o, ranked, NULL) == DY_OK;
            for (int i = 0; i < 9; i++) ok &= ranked[i * DY_EVAL_TOPK] == 9;
            dy_ctx_destroy(ctx);
        }
    CHECK(ok, "five identical train rows: the lowest index is the neighbour for every block size and thread count");
    free(train);
    free(train_y);
}

/* Issue 10 item 9: small temperatures. exp(s / t) overflows float below t = 0.0114; the weights must not. Against
 * the brute force in double (exact while exp(1 / t) fits a double, t >= 0.0015), and, below that, on a test set
 * equal to the training set, where every row's nearest neighbour is itself (accuracy 100 %, not 1 / classes). */
static void item9_knn_small_temperature(void) {
    const int64_t n_train = 400, n_test = 40, dim = 16, classes = 8;
    float *train = malloc((size_t)(n_train * dim) * sizeof *train);
    float *test = malloc((size_t)(n_test * dim) * sizeof *test);
    int64_t *train_y = malloc((size_t)n_train * sizeof *train_y);
    random_data(train, n_train, dim, 21);
    random_data(test, n_test, dim, 22);
    for (int64_t j = 0; j < n_train; j++) train_y[j] = (j * 7) % classes;
    const float temps[] = {0.01f, 0.005f, 0.002f};
    int64_t want_r[40 * DY_EVAL_TOPK], got_r[40 * DY_EVAL_TOPK];
    float want_s[40 * 8], got_s[40 * 8];
    dy_ctx *ctx = make_ctx(2);
    for (int ti = 0; ti < 3; ti++) {
        brute_force(train, train_y, n_train, test, n_test, dim, classes, 50, temps[ti], want_r, want_s);
        dy_knn_options o = {.k = 50, .temperature = temps[ti]};
        CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, n_test, dim, classes, &o, got_r, got_s) == DY_OK,
              "item9: kNN at t %g: %s", (double)temps[ti], dy_ctx_error(ctx));
        int finite = 1;
        for (int64_t i = 0; i < n_test * classes; i++) finite &= isfinite(got_s[i]);
        CHECK(finite, "item9_knn_small_temperature: scores finite at t %g", (double)temps[ti]);
        CHECK(memcmp(got_r, want_r, sizeof got_r) == 0, "item9_knn_small_temperature: t %g ranks as the brute "
              "force in double", (double)temps[ti]);
        char what[64];
        snprintf(what, sizeof what, "item9: scores at t %g", (double)temps[ti]);
        test_close(what, got_s, want_s, (size_t)(n_test * classes), 1e-4);
    }
    int64_t *all_y = malloc((size_t)n_train * sizeof *all_y);
    memcpy(all_y, train_y, (size_t)n_train * sizeof *all_y);
    const float tiny[] = {0.01f, 0.005f, 1e-3f, 1e-6f, 1e-30f};
    for (int ti = 0; ti < 5; ti++) {
        dy_knn_options o = {.k = 200, .temperature = tiny[ti]};
        dy_eval_accuracy acc;
        CHECK(dy_knn_evaluate(ctx, train, train_y, n_train, train, all_y, n_train, dim, classes, &o, NULL, &acc) ==
                  DY_OK,
              "item9: evaluate at t %g: %s", (double)tiny[ti], dy_ctx_error(ctx));
        CHECK(acc.top1 == 1.0, "item9_knn_small_temperature: test = train at t %g gives top-1 100 %% (got %.1f %%)",
              (double)tiny[ti], 100 * acc.top1);
        dy_eval_accuracy_free(&acc);
    }
    dy_ctx_destroy(ctx);
    free(all_y);
    free(train);
    free(test);
    free(train_y);
}

static void test_errors(void) {
    const int64_t n_train = 20, dim = 4, classes = 3;
    float train[20 * 4], test[2 * 4];
    int64_t train_y[20], test_y[2] = {0, 2}, ranked[2 * DY_EVAL_TOPK];
    random_data(train, n_train, dim, 5);
    random_data(test, 2, dim, 6);
    for (int j = 0; j < 20; j++) train_y[j] = j % 3;
    dy_ctx *ctx = make_ctx(1);
    dy_knn_options o = dy_knn_defaults();
    o.k = 0;
    CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, 2, dim, classes, &o, ranked, NULL) == DY_ERR_INVALID,
          "k = 0 refused");
    CHECK(strstr(dy_ctx_error(ctx), "k = 0") != NULL, "message names k: %s", dy_ctx_error(ctx));
    o.k = 21;
    CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, 2, dim, classes, &o, ranked, NULL) == DY_ERR_INVALID,
          "k > n_train refused: %s", dy_ctx_error(ctx));
    o.k = 20;
    CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, 2, dim, classes, &o, ranked, NULL) == DY_OK,
          "k = n_train accepted");
    o.temperature = 0;
    CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, 2, dim, classes, &o, ranked, NULL) == DY_ERR_INVALID,
          "temperature 0 refused");
    o = dy_knn_defaults();
    o.k = 5;
    train_y[7] = 3;
    CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, 2, dim, classes, &o, ranked, NULL) == DY_ERR_INVALID,
          "train label 3 of 3 classes refused: %s", dy_ctx_error(ctx));
    train_y[7] = -1;
    CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, 2, dim, classes, &o, ranked, NULL) == DY_ERR_INVALID,
          "train label -1 refused");
    train_y[7] = 1;
    dy_eval_accuracy acc;
    test_y[1] = 3;
    CHECK(dy_knn_evaluate(ctx, train, train_y, n_train, test, test_y, 2, dim, classes, &o, NULL, &acc) ==
              DY_ERR_INVALID,
          "test label out of range refused: %s", dy_ctx_error(ctx));
    dy_eval_accuracy_free(&acc);
    test_y[1] = 2;
    train[13] = NAN;
    CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, 2, dim, classes, &o, ranked, NULL) == DY_ERR_NUMERIC,
          "NaN train feature refused: %s", dy_ctx_error(ctx));
    CHECK(strstr(dy_ctx_error(ctx), "[3, 1]") != NULL, "message names the element: %s", dy_ctx_error(ctx));
    train[13] = 0.5f;
    test[6] = INFINITY;
    CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, 2, dim, classes, &o, ranked, NULL) == DY_ERR_NUMERIC,
          "Inf test feature refused");
    test[6] = 0.5f;
    CHECK(dy_knn_classify(ctx, train, train_y, n_train, test, 2, dim, 0, &o, ranked, NULL) == DY_ERR_INVALID,
          "0 classes refused");
    CHECK(dy_knn_evaluate(ctx, train, train_y, n_train, test, test_y, 2, dim, classes, &o, NULL, &acc) == DY_OK,
          "valid call after errors: %s", dy_ctx_error(ctx));
    dy_eval_accuracy_free(&acc);
    dy_ctx_destroy(ctx);
}

static void test_accuracy(void) {
    /* 4 samples, 3 classes: hand-counted expectations. */
    const int64_t ranked[4 * DY_EVAL_TOPK] = {
        0, 1, 2, -1, -1, /* label 0: top-1 hit */
        2, 1, 0, -1, -1, /* label 1: top-5 hit only */
        1, 0, 2, -1, -1, /* label 1: top-1 hit */
        0, 1, 2, -1, -1, /* label 2: top-5 hit (every class is within the top 3) */
    };
    const int64_t labels[4] = {0, 1, 1, 2};
    dy_ctx *ctx = make_ctx(1);
    dy_eval_accuracy acc;
    CHECK(dy_eval_accuracy_compute(ctx, ranked, labels, 4, 4, &acc) == DY_OK, "accuracy");
    CHECK(acc.correct_top1 == 2 && acc.correct_top5 == 4 && acc.top1 == 0.5 && acc.top5 == 1.0,
          "top-1 2/4, top-5 4/4 (got %lld, %lld)", (long long)acc.correct_top1, (long long)acc.correct_top5);
    CHECK(acc.class_top1[0] == 1.0 && acc.class_top1[1] == 0.5 && acc.class_top1[2] == 0.0 && isnan(acc.class_top1[3]),
          "per-class accuracy 1, 0.5, 0, NaN");
    /* Shots with the defaults (many > 100, few < 20): class 0 many, 1 medium (boundary 100), 2 few, 3 no tests. */
    int64_t train_counts[4] = {101, 100, 19, 5};
    dy_shot_accuracy s;
    CHECK(dy_eval_shot_accuracy(ctx, &acc, train_counts, NULL, &s) == DY_OK, "shot accuracy");
    CHECK(s.many == 1.0 && s.medium == 0.5 && s.few == 0.0 && s.many_classes == 1 && s.medium_classes == 1 &&
              s.few_classes == 1,
          "many 1, medium 0.5, few 0 (got %g %g %g)", s.many, s.medium, s.few);
    train_counts[2] = 20; /* the lower boundary is medium */
    dy_shot_options so = {.many_above = 100, .few_below = 20};
    CHECK(dy_eval_shot_accuracy(ctx, &acc, train_counts, &so, &s) == DY_OK && s.medium == 0.25 && isnan(s.few),
          "boundary 20 is medium: medium (0.5 + 0) / 2, few empty (got %g, %g)", s.medium, s.few);
    so.few_below = 200;
    CHECK(dy_eval_shot_accuracy(ctx, &acc, train_counts, &so, &s) == DY_ERR_INVALID, "unordered thresholds refused");
    int64_t counts[4];
    CHECK(dy_eval_class_counts(ctx, labels, 4, 4, counts) == DY_OK && counts[0] == 1 && counts[1] == 2 &&
              counts[2] == 1 && counts[3] == 0,
          "class counts");
    dy_eval_accuracy_free(&acc);
    const int64_t bad_labels[4] = {0, 1, 4, 2};
    CHECK(dy_eval_accuracy_compute(ctx, ranked, bad_labels, 4, 4, &acc) == DY_ERR_INVALID && acc.class_top1 == NULL,
          "label out of range refused");
    dy_ctx_destroy(ctx);
}

int main(void) {
    test_against_torch();
    test_against_brute_force();
    test_ties();
    test_duplicates_everywhere();
    test_errors();
    item9_knn_small_temperature();
    test_accuracy();
    return test_finish();
}
