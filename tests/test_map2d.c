/* PCA and t-SNE on data whose answer is known: points on a known plane give that plane and its variances; the
 * components find stretched axes; two (and three) well separated clusters stay separated in t-SNE's map; both give
 * the same result for any thread count; bad input is refused with a message. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "dystress.h"
#include "eval/map2d.h"
#include "testlib.h"

static double dot(const double *a, const float *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Points c0 + a u + b v (+ tiny noise) in 6-D, u and v orthonormal, var(a) = 4 var(b). */
static void test_plane(dy_ctx *ctx) {
    enum { N = 400, D = 6 };
    double u[D] = {1, 2, 0, -1, 0, 1}, v[D] = {0, 1, 1, 1, 1, -1}, c0[D] = {3, -2, 5, 0, 1, 7};
    double nu = 0, uv = 0, nv = 0;
    for (int j = 0; j < D; j++) nu += u[j] * u[j];
    for (int j = 0; j < D; j++) u[j] /= sqrt(nu);
    for (int j = 0; j < D; j++) uv += u[j] * v[j];
    for (int j = 0; j < D; j++) v[j] -= uv * u[j];
    for (int j = 0; j < D; j++) nv += v[j] * v[j];
    for (int j = 0; j < D; j++) v[j] /= sqrt(nv);
    static float x[N * D];
    static double a[N], b[N];
    dy_rng r;
    dy_rng_init(&r, 1, DY_RNG_EVAL, 1, 0);
    double ma = 0, mb = 0;
    for (int i = 0; i < N; i++) {
        a[i] = 2 * dy_rng_normal(&r);
        b[i] = dy_rng_normal(&r);
        ma += a[i] / N;
        mb += b[i] / N;
    }
    double va = 0, vb = 0;
    for (int i = 0; i < N; i++) {
        a[i] -= ma, b[i] -= mb; /* the projections PCA should give (centred), up to sign */
        va += a[i] * a[i] / N, vb += b[i] * b[i] / N;
        for (int j = 0; j < D; j++) x[i * D + j] = (float)(c0[j] + (a[i] + ma) * u[j] + (b[i] + mb) * v[j]);
    }
    /* a and b are drawn independently but their sample correlation is not exactly 0: the principal axes are the
     * eigenvectors of the 2x2 sample covariance in the (u, v) basis */
    double cab = 0;
    for (int i = 0; i < N; i++) cab += a[i] * b[i] / N;
    double tr = va + vb, det = va * vb - cab * cab, l1 = tr / 2 + sqrt(tr * tr / 4 - det),
           l2 = tr / 2 - sqrt(tr * tr / 4 - det);
    float out[N * 3], comp[3 * D];
    double var[3], total;
    dy_status st = dy_pca(ctx, x, N, D, 3, out, var, &total, comp);
    CHECK(st == DY_OK, "PCA of a plane runs: %s", dy_ctx_error(ctx));
    CHECK(fabs(var[0] - l1) < 1e-4 * l1 && fabs(var[1] - l2) < 1e-4 * l1,
          "variances along the plane's axes: %.6f %.6f (want %.6f %.6f)", var[0], var[1], l1, l2);
    CHECK(var[2] < 1e-8 && fabs(total - (l1 + l2)) < 1e-4 * l1, "nothing off the plane: var3 %.3g, total %.6f "
          "(want %.6f)", var[2], total, l1 + l2);
    /* the first two components span the plane: each is a unit vector with all its length in span(u, v) */
    for (int c = 0; c < 2; c++) {
        double pu = dot(u, comp + c * D, D), pv = dot(v, comp + c * D, D);
        CHECK(fabs(pu * pu + pv * pv - 1) < 1e-5, "component %d lies in the plane (|proj|^2 = %.8f)", c,
              pu * pu + pv * pv);
    }
    /* coordinates reproduce the centred points' own coordinates in the plane (rotated to the principal axes) */
    double max_err = 0;
    for (int i = 0; i < N; i++) {
        double p0 = a[i] * dot(u, comp, D) + b[i] * dot(v, comp, D);
        double p1 = a[i] * dot(u, comp + D, D) + b[i] * dot(v, comp + D, D);
        max_err = fmax(max_err, fmax(fabs(p0 - out[i * 3]), fabs(p1 - out[i * 3 + 1])));
    }
    CHECK(max_err < 1e-4, "projections equal the points' plane coordinates (max error %.3g)", max_err);
    /* deterministic and sign-fixed: the largest entry of each component is positive */
    for (int c = 0; c < 3; c++) {
        float big = 0;
        for (int j = 0; j < D; j++)
            if (fabsf(comp[c * D + j]) > fabsf(big)) big = comp[c * D + j];
        CHECK(big > 0, "component %d's largest entry is positive (%g)", c, big);
    }
    float out2[N * 3];
    dy_pca(ctx, x, N, D, 3, out2, var, NULL, NULL);
    CHECK(!memcmp(out, out2, sizeof out), "PCA is deterministic");
}

/* Random data stretched along two coordinate axes: the components are those axes, and the top variance is at least
 * the variance along any coordinate axis (the Rayleigh quotient bound). */
static void test_anisotropic(dy_ctx *ctx) {
    enum { N = 600, D = 40 };
    static float x[N * D];
    dy_rng r;
    dy_rng_init(&r, 2, DY_RNG_EVAL, 2, 0);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) x[i * D + j] = (float)(dy_rng_normal(&r) * (j == 7 ? 5.0 : j == 21 ? 3.0 : 1.0));
    float out[N * 2], comp[2 * D];
    double var[2], total;
    CHECK(dy_pca(ctx, x, N, D, 2, out, var, &total, comp) == DY_OK, "PCA of 40-D data runs");
    CHECK(fabsf(comp[7]) > 0.99f && fabsf(comp[D + 21]) > 0.99f, "components find the two stretched axes (%.4f, "
          "%.4f)", comp[7], comp[D + 21]);
    double best_axis = 0;
    for (int j = 0; j < D; j++) {
        double m = 0, v = 0;
        for (int i = 0; i < N; i++) m += x[i * D + j] / (double)N;
        for (int i = 0; i < N; i++) v += (x[i * D + j] - m) * (x[i * D + j] - m) / N;
        best_axis = fmax(best_axis, v);
    }
    CHECK(var[0] >= best_axis - 1e-9 && var[0] < total, "top variance %.4f >= the best axis' %.4f, below the total",
          var[0], best_axis);
    double m0 = 0, v0 = 0;
    for (int i = 0; i < N; i++) m0 += out[i * 2] / (double)N;
    for (int i = 0; i < N; i++) v0 += (out[i * 2] - m0) * (out[i * 2] - m0) / N;
    CHECK(fabs(m0) < 1e-4 && fabs(v0 - var[0]) < 1e-4 * var[0], "coordinates are centred with the reported variance");
}

/* Sizes large enough that the threads are used (PCA from 2^20 values, t-SNE from 384 points): the results are the
 * same bit for bit with 1 thread as with 2. */
static void test_thread_invariance(dy_ctx *ctx, dy_ctx *ctx1) {
    enum { N = 2100, D = 512, T = 400 };
    float *x = malloc(sizeof(float) * N * D), *a = malloc(sizeof(float) * N * 2), *b = malloc(sizeof(float) * N * 2);
    dy_rng r;
    dy_rng_init(&r, 4, DY_RNG_EVAL, 4, 0);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) x[i * D + j] = (float)(dy_rng_normal(&r) * (j == 3 ? 6.0 : j == 9 ? 4.0 : 1.0));
    double va[2], vb[2];
    CHECK(dy_pca(ctx, x, N, D, 2, a, va, NULL, NULL) == DY_OK && dy_pca(ctx1, x, N, D, 2, b, vb, NULL, NULL) == DY_OK &&
              !memcmp(a, b, sizeof(float) * N * 2) && va[0] == vb[0],
          "PCA of 2100 x 512: the same with 1 and 2 threads");
    dy_tsne_options o = dy_tsne_defaults();
    o.iterations = 120;
    o.exaggeration_iters = 60;
    CHECK(dy_tsne(ctx, x, T, 16, &o, a, NULL) == DY_OK && dy_tsne(ctx1, x, T, 16, &o, b, NULL) == DY_OK &&
              !memcmp(a, b, sizeof(float) * T * 2), "t-SNE of 400 points: the same with 1 and 2 threads, bit for bit");
    free(x), free(a), free(b);
}

static void test_pca_errors(dy_ctx *ctx) {
    float x[6] = {1, 2, 3, 4, 5, NAN}, out[6];
    double var[2];
    CHECK(dy_pca(ctx, x, 3, 2, 2, out, var, NULL, NULL) == DY_ERR_NUMERIC && strstr(dy_ctx_error(ctx), "row 2"),
          "NaN refused, row named: %s", dy_ctx_error(ctx));
    CHECK(dy_pca(ctx, x, 3, 2, 3, out, var, NULL, NULL) == DY_ERR_INVALID, "more components than dims refused: %s",
          dy_ctx_error(ctx));
    CHECK(dy_pca(ctx, x, 1, 2, 1, out, var, NULL, NULL) == DY_ERR_INVALID, "one row refused: %s", dy_ctx_error(ctx));
}

/* clusters of n points each around well separated centres in `dim` dimensions; labels out */
static void clusters(float *x, int *label, int k, int n, int dim, double sep, uint32_t seed) {
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_EVAL, 3, 0);
    for (int c = 0; c < k; c++)
        for (int i = 0; i < n; i++) {
            int row = c * n + i;
            label[row] = c;
            for (int j = 0; j < dim; j++) x[row * dim + j] = (float)(dy_rng_normal(&r) + (j == c ? sep : 0));
        }
}

/* every point nearer its own cluster's centroid than any other, and its nearest neighbour in its own cluster */
static bool separated(const float *y, const int *label, int total, int k, double *ratio) {
    double cx[8] = {0}, cy[8] = {0}, cnt[8] = {0}, spread = 0;
    for (int i = 0; i < total; i++) cx[label[i]] += y[2 * i], cy[label[i]] += y[2 * i + 1], cnt[label[i]]++;
    for (int c = 0; c < k; c++) cx[c] /= cnt[c], cy[c] /= cnt[c];
    bool ok = true;
    for (int i = 0; i < total; i++) {
        double own = hypot(y[2 * i] - cx[label[i]], y[2 * i + 1] - cy[label[i]]);
        spread = fmax(spread, own);
        for (int c = 0; c < k; c++)
            if (c != label[i] && hypot(y[2 * i] - cx[c], y[2 * i + 1] - cy[c]) <= own) ok = false;
        double best = INFINITY;
        int nn = -1;
        for (int j = 0; j < total; j++) {
            if (j == i) continue;
            double d = hypot(y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
            if (d < best) best = d, nn = j;
        }
        if (label[nn] != label[i]) ok = false;
    }
    double gap = INFINITY;
    for (int a = 0; a < k; a++)
        for (int b = a + 1; b < k; b++) gap = fmin(gap, hypot(cx[a] - cx[b], cy[a] - cy[b]));
    *ratio = gap / spread;
    return ok;
}

static void test_tsne(dy_ctx *ctx) {
    enum { K = 3, N = 40, D = 10 };
    static float x[K * N * D], y[K * N * 2], y1[K * N * 2];
    static int label[K * N];
    clusters(x, label, K, N, D, 12.0, 5);
    dy_tsne_options o = dy_tsne_defaults();
    double kl = -1;
    dy_status st = dy_tsne(ctx, x, K * N, D, &o, y, &kl);
    CHECK(st == DY_OK, "t-SNE runs: %s", dy_ctx_error(ctx));
    double ratio = 0;
    CHECK(separated(y, label, K * N, K, &ratio) && ratio > 2,
          "three separated clusters stay separated in 2-D (centroid gap / largest radius %.2f)", ratio);
    CHECK(kl >= 0 && kl < 1.0, "final KL(P || Q) is small: %.4f", kl);
    /* two clusters that overlap a little in one direction but are apart in another */
    static float x2[2 * 60 * 5], y2[2 * 60 * 2];
    static int l2[2 * 60];
    clusters(x2, l2, 2, 60, 5, 8.0, 9);
    CHECK(dy_tsne(ctx, x2, 120, 5, &o, y2, &kl) == DY_OK && separated(y2, l2, 120, 2, &ratio) && ratio > 2,
          "two clusters stay apart (ratio %.2f, KL %.3f)", ratio, kl);
    /* a random layout has a larger KL than the optimised one: the optimiser did its work */
    dy_tsne_options one = o;
    one.iterations = 1;
    one.exaggeration_iters = 0;
    double kl0;
    dy_tsne(ctx, x, K * N, D, &one, y1, &kl0);
    CHECK(kl0 > kl + 0.5, "KL falls from %.3f (after one step) to %.3f", kl0, kl);
    float bad[9] = {0, 0, 0, 1, 1, 1, 2, 2, INFINITY};
    CHECK(dy_tsne(ctx, bad, 3, 3, &o, y1, NULL) == DY_ERR_NUMERIC, "Inf refused: %s", dy_ctx_error(ctx));
    CHECK(dy_tsne(ctx, bad, 2, 3, &o, y1, NULL) == DY_ERR_INVALID, "two points refused: %s", dy_ctx_error(ctx));
}

int main(void) {
    dy_ctx *ctx = NULL, *ctx1 = NULL;
    dy_ctx_options o2 = {.threads = 2}, o1 = {.threads = 1};
    if (dy_ctx_create(&ctx, &o2) != DY_OK || dy_ctx_create(&ctx1, &o1) != DY_OK) return 1;
    test_plane(ctx);
    test_anisotropic(ctx);
    test_pca_errors(ctx);
    test_thread_invariance(ctx, ctx1);
    test_tsne(ctx);
    dy_ctx_destroy(ctx);
    dy_ctx_destroy(ctx1);
    return test_finish();
}
