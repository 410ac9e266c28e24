/* The retrieval grid and the embedding maps (see encoder_view.h). */
#include "report/encoder_view.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "eval/map2d.h"
#include "io/atomic_file.h"
#include "io/json_write.h"
#include "io/png_write.h"

#define BORDER 3 /* frame around each cell */
#define GAP 2    /* between framed cells */
#define SEP 14   /* between the query column and its neighbours */

static void class_names(FILE *f, const dy_dataset *ds) {
    fputs("\"class_names\": [", f);
    for (int c = 0; c < ds->num_classes; c++) {
        if (c) fputs(", ", f);
        dy_json_fput_string(f, ds->class_names ? ds->class_names[c] : "");
    }
    fputs("]", f);
}

/* One image of ds drawn into the grid at (x0, y0), nearest-neighbour resampled to cell x cell, framed. */
static void draw_cell(uint8_t *rgb, int W, int x0, int y0, int cell, const dy_dataset *ds, int64_t index,
                      const uint8_t frame[3]) {
    int box = cell + 2 * BORDER;
    for (int y = 0; y < box; y++)
        for (int x = 0; x < box; x++) memcpy(rgb + ((size_t)(y0 + y) * (size_t)W + (size_t)(x0 + x)) * 3, frame, 3);
    const uint8_t *src = ds->pixels + (size_t)index * (size_t)ds->channels * (size_t)ds->height * (size_t)ds->width;
    size_t plane = (size_t)ds->height * (size_t)ds->width;
    for (int y = 0; y < cell; y++) {
        int sy = y * ds->height / cell;
        for (int x = 0; x < cell; x++) {
            int sx = x * ds->width / cell;
            uint8_t *d = rgb + ((size_t)(y0 + BORDER + y) * (size_t)W + (size_t)(x0 + BORDER + x)) * 3;
            for (int c = 0; c < 3; c++)
                d[c] = src[(ds->channels == 3 ? (size_t)c * plane : 0) + (size_t)sy * ds->width + sx];
        }
    }
}

static dy_status write_retrieval(dy_ctx *ctx, const char *run_dir, const dy_dataset *train, const float *train_f,
                                 const dy_dataset *test, const float *test_f, int64_t dim, int64_t epoch,
                                 int64_t step) {
    int C = test->num_classes, Q = 0, K = DY_RETRIEVAL_NEIGHBOURS;
    if (train->count < K) K = (int)train->count;
    int64_t query[DY_RETRIEVAL_QUERIES];
    /* one query per class, classes spread over the label range, each the first test image of its class */
    int want = C < DY_RETRIEVAL_QUERIES ? C : DY_RETRIEVAL_QUERIES;
    for (int q = 0; q < want; q++) {
        int c = (int)((int64_t)q * C / want);
        for (int64_t i = 0; i < test->count; i++)
            if (test->labels[i] == c) {
                query[Q++] = i;
                break;
            }
    }
    if (Q == 0 || K == 0) return DY_OK;
    int side = test->height > test->width ? test->height : test->width;
    int cell = side < 48 ? side * ((47 + side) / side) : side > 96 ? 96 : side;
    int box = cell + 2 * BORDER;
    int W = (1 + K) * (box + GAP) + SEP, H = Q * (box + GAP);
    uint8_t *rgb = malloc((size_t)W * (size_t)H * 3);
    int64_t *nbr = malloc(sizeof(int64_t) * (size_t)(Q * K));
    float *best = malloc(sizeof(float) * (size_t)K), *inv_norm = malloc(sizeof(float) * (size_t)train->count);
    if (!rgb || !nbr || !best || !inv_norm) {
        free(rgb), free(nbr), free(best), free(inv_norm);
        return dy_fail(ctx, DY_ERR_NOMEM, "retrieval grid: out of memory");
    }
    memset(rgb, 255, (size_t)W * (size_t)H * 3);
    for (int64_t i = 0; i < train->count; i++) { /* cosine similarity whether or not the rows are normalised */
        double ss = 0;
        for (int64_t j = 0; j < dim; j++) ss += (double)train_f[i * dim + j] * train_f[i * dim + j];
        inv_norm[i] = ss > 0 ? (float)(1 / sqrt(ss)) : 0;
    }
    static const uint8_t query_frame[3] = {55, 65, 81}, right[3] = {44, 160, 44}, wrong[3] = {214, 39, 40};
    for (int q = 0; q < Q; q++) {
        const float *qf = test_f + query[q] * dim;
        int64_t *nq = nbr + q * K;
        for (int k = 0; k < K; k++) best[k] = -INFINITY, nq[k] = -1;
        for (int64_t i = 0; i < train->count; i++) { /* top K by insertion into a sorted list */
            const float *tf = train_f + i * dim;
            float s = 0;
            for (int64_t j = 0; j < dim; j++) s += qf[j] * tf[j];
            s *= inv_norm[i];
            if (!(s > best[K - 1])) continue;
            int k = K - 1;
            while (k > 0 && s > best[k - 1]) {
                best[k] = best[k - 1];
                nq[k] = nq[k - 1];
                k--;
            }
            best[k] = s;
            nq[k] = i;
        }
        int y0 = q * (box + GAP) + GAP / 2;
        draw_cell(rgb, W, GAP / 2, y0, cell, test, query[q], query_frame);
        for (int k = 0; k < K; k++) {
            if (nq[k] < 0) continue;
            bool ok = train->labels[nq[k]] == test->labels[query[q]];
            draw_cell(rgb, W, SEP + (1 + k) * (box + GAP) + GAP / 2, y0, cell, train, nq[k], ok ? right : wrong);
        }
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/retrieval.png", run_dir);
    dy_status st = dy_png_write_rgb(ctx, path, rgb, W, H);
    dy_atomic_file af;
    if (st == DY_OK) {
        snprintf(path, sizeof path, "%s/retrieval.json", run_dir);
        st = dy_atomic_open(ctx, &af, path);
    }
    if (st == DY_OK) {
        FILE *f = af.fp;
        fprintf(f, "{\"epoch\": %lld, \"step\": %lld, \"queries\": %d, \"neighbours\": %d, \"width\": %d, "
                "\"height\": %d, \"cell\": %d, \"border\": %d, \"gap\": %d, \"sep\": %d,\n \"query_label\": [",
                (long long)epoch, (long long)step, Q, K, W, H, cell, BORDER, GAP, SEP);
        for (int q = 0; q < Q; q++) fprintf(f, "%s%d", q ? ", " : "", test->labels[query[q]]);
        fputs("],\n \"neighbour_label\": [", f);
        for (int i = 0; i < Q * K; i++) fprintf(f, "%s%d", i ? ", " : "", nbr[i] >= 0 ? train->labels[nbr[i]] : -1);
        fputs("],\n ", f);
        class_names(f, test);
        fputs("}\n", f);
        st = dy_atomic_commit(ctx, &af);
    }
    free(rgb), free(nbr), free(best), free(inv_norm);
    return st;
}

static void json_floats(FILE *f, const char *key, const float *v, int64_t n, int64_t stride) {
    fprintf(f, ",\n \"%s\": [", key);
    for (int64_t i = 0; i < n; i++) fprintf(f, "%s%.4g", i ? ", " : "", v[i * stride]);
    fputs("]", f);
}

static dy_status write_map(dy_ctx *ctx, const char *run_dir, const dy_dataset *test, const float *test_f, int64_t dim,
                           int64_t epoch, int64_t step) {
    int64_t n = test->count < DY_MAP_POINTS ? test->count : DY_MAP_POINTS;
    if (n < 3) return DY_OK;
    float *pca = malloc(sizeof(float) * (size_t)(2 * n)), *tsne = malloc(sizeof(float) * (size_t)(2 * n));
    float *unit = malloc(sizeof(float) * (size_t)(n * dim));
    if (!pca || !tsne || !unit) {
        free(pca), free(tsne), free(unit);
        return dy_fail(ctx, DY_ERR_NOMEM, "embedding map: out of memory");
    }
    for (int64_t i = 0; i < n; i++) { /* the map of the directions, as the kNN sees them */
        double ss = 0;
        for (int64_t j = 0; j < dim; j++) ss += (double)test_f[i * dim + j] * test_f[i * dim + j];
        for (int64_t j = 0; j < dim; j++) unit[i * dim + j] = ss > 0 ? (float)(test_f[i * dim + j] / sqrt(ss)) : 0;
    }
    double var[2] = {0, 0}, total = 0, kl = 0;
    int k = dim >= 2 ? 2 : 1;
    dy_status st = dy_pca(ctx, unit, n, dim, k, pca, var, &total, NULL);
    if (st == DY_OK && k == 1)
        for (int64_t i = n - 1; i >= 0; i--) pca[2 * i] = pca[i], pca[2 * i + 1] = 0;
    dy_tsne_options to = dy_tsne_defaults();
    if (st == DY_OK) st = dy_tsne(ctx, unit, n, dim, &to, tsne, &kl);
    dy_atomic_file af;
    char path[4200];
    snprintf(path, sizeof path, "%s/embedding-map.json", run_dir);
    if (st == DY_OK) st = dy_atomic_open(ctx, &af, path);
    if (st == DY_OK) {
        FILE *f = af.fp;
        fprintf(f, "{\"epoch\": %lld, \"step\": %lld, \"n\": %lld, \"num_classes\": %d, \"pca_var\": [%.6g, %.6g], "
                "\"pca_total_var\": %.6g, \"tsne_perplexity\": %g, \"tsne_kl\": %.4f,\n ", (long long)epoch,
                (long long)step, (long long)n, test->num_classes, var[0], var[1], total,
                fmin(to.perplexity, (double)(n - 1) / 3), kl);
        class_names(f, test);
        fputs(",\n \"label\": [", f);
        for (int64_t i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", test->labels[i]);
        fputs("]", f);
        json_floats(f, "pca_x", pca, n, 2);
        json_floats(f, "pca_y", pca + 1, n, 2);
        json_floats(f, "tsne_x", tsne, n, 2);
        json_floats(f, "tsne_y", tsne + 1, n, 2);
        fputs("}\n", f);
        st = dy_atomic_commit(ctx, &af);
    }
    free(pca), free(tsne), free(unit);
    return st;
}

dy_status dy_encoder_view_write(dy_ctx *ctx, const char *run_dir, const dy_dataset *train, const float *train_f,
                                const dy_dataset *test, const float *test_f, int64_t dim, int64_t epoch, int64_t step) {
    if (!train || !test || !train_f || !test_f || dim < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "encoder view: missing features");
    if (train->num_classes < 1 || test->num_classes < 1) return DY_OK; /* unlabelled: nothing to draw */
    dy_status st = write_retrieval(ctx, run_dir, train, train_f, test, test_f, dim, epoch, step);
    if (st == DY_OK) st = write_map(ctx, run_dir, test, test_f, dim, epoch, step);
    return st;
}
