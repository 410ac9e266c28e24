/* The DySTreSS loss: against PyTorch autograd fixtures (tools/fixtures_loss.py), against a naive full-matrix
 * implementation written here (double precision), against central finite differences with tau held fixed,
 * 1 vs 2 threads bitwise, and every bad argument answered with its error. */
#include "dystress.h"
#include "fixture.h"
#include "loss/fastmath.h"
#include "loss/loss_state.h"
#include "loss/temperature.h"
#include "testlib.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static dy_ctx *ctx1, *ctx2; /* contexts with 1 and 2 threads */

/* ---------------------------------------------------------------- naive reference (full matrix, double) */

/* Loss of the SimCLR form over 2n rows x (raw when raw), computed over the full matrix in double. When tau_fixed is
 * not NULL it gives the temperatures (2n x 2n) instead of tau(s) (for finite differences with tau held fixed); when
 * tau_out is not NULL the temperatures used are written there. grad (2n x d, may be NULL) gets dL/dx. */
static double naive_simclr(const double *x, int64_t n, int64_t d, const dy_tau_profile *prof, bool raw, bool decoupled,
                           const double *tau_fixed, double *tau_out, double *grad) {
    const int64_t R = 2 * n;
    double *z = calloc((size_t)(R * d), sizeof *z), *norm = calloc((size_t)R, sizeof *norm);
    double *s = calloc((size_t)(R * R), sizeof *s), *tau = calloc((size_t)(R * R), sizeof *tau);
    double *lse = calloc((size_t)R, sizeof *lse), *dzn = calloc((size_t)(R * d), sizeof *dzn);
    for (int64_t i = 0; i < R; i++) {
        double ss = 0;
        for (int64_t k = 0; k < d; k++) ss += x[i * d + k] * x[i * d + k];
        norm[i] = raw ? sqrt(ss) : 1.0;
        for (int64_t k = 0; k < d; k++) z[i * d + k] = x[i * d + k] / norm[i];
    }
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < R; j++) {
            double acc = 0;
            for (int64_t k = 0; k < d; k++) acc += z[i * d + k] * z[j * d + k];
            s[i * R + j] = acc;
            tau[i * R + j] = tau_fixed ? tau_fixed[i * R + j] : dy_tau_eval(prof, acc);
        }
    if (tau_out) memcpy(tau_out, tau, sizeof(double) * (size_t)(R * R));
    double loss = 0;
    for (int64_t i = 0; i < R; i++) {
        int64_t p = (i + n) % R;
        double m = -INFINITY;
        for (int64_t j = 0; j < R; j++)
            if (j != i && !(decoupled && j == p)) m = fmax(m, s[i * R + j] / tau[i * R + j]);
        double sum = 0;
        for (int64_t j = 0; j < R; j++)
            if (j != i && !(decoupled && j == p)) sum += exp(s[i * R + j] / tau[i * R + j] - m);
        lse[i] = m + log(sum);
        loss += lse[i] - s[i * R + p] / tau[i * R + p];
    }
    loss /= (double)R;
    if (grad) {
        /* dL/ds_ij = (P_ij - [j = p(i)]) / (R tau_ij); s_ij = z_i . z_j feeds both z_i and z_j. */
        for (int64_t i = 0; i < R; i++) {
            int64_t p = (i + n) % R;
            for (int64_t j = 0; j < R; j++) {
                if (j == i) continue;
                double a = s[i * R + j] / tau[i * R + j];
                double P = (decoupled && j == p) ? 0.0 : exp(a - lse[i]);
                double g = (P - (j == p ? 1.0 : 0.0)) / ((double)R * tau[i * R + j]);
                for (int64_t k = 0; k < d; k++) {
                    dzn[i * d + k] += g * z[j * d + k];
                    dzn[j * d + k] += g * z[i * d + k];
                }
            }
        }
        for (int64_t i = 0; i < R; i++) {
            double dot = 0;
            for (int64_t k = 0; k < d; k++) dot += z[i * d + k] * dzn[i * d + k];
            for (int64_t k = 0; k < d; k++)
                grad[i * d + k] = raw ? (dzn[i * d + k] - z[i * d + k] * dot) / norm[i] : dzn[i * d + k];
        }
    }
    free(z);
    free(norm);
    free(s);
    free(tau);
    free(lse);
    free(dzn);
    return loss;
}

static double *widen(const float *x, int64_t count) {
    double *w = malloc(sizeof(double) * (size_t)count);
    for (int64_t i = 0; i < count; i++) w[i] = x[i];
    return w;
}

/* Deterministic test inputs: two noisy views of n base vectors, random row norms when raw, unit rows otherwise. */
static float *make_views(int64_t n, int64_t d, bool raw, unsigned seed) {
    float *x = malloc(sizeof(float) * (size_t)(2 * n * d));
    float *base = malloc(sizeof(float) * (size_t)(n * d));
    srand(seed);
    for (int64_t i = 0; i < n * d; i++) base[i] = (float)((double)rand() / RAND_MAX) * 2.0f - 1.0f;
    for (int64_t i = 0; i < 2 * n; i++) {
        double ss = 0;
        for (int64_t k = 0; k < d; k++) {
            float v = base[(i % n) * d + k] + 0.8f * ((float)((double)rand() / RAND_MAX) * 2.0f - 1.0f);
            x[i * d + k] = v;
            ss += (double)v * v;
        }
        float scale = raw ? (0.2f + 3.0f * (float)((double)rand() / RAND_MAX)) / (float)sqrt(ss) : 1.0f / (float)sqrt(ss);
        for (int64_t k = 0; k < d; k++) x[i * d + k] *= scale;
    }
    free(base);
    return x;
}

static dy_loss *make_loss(dy_ctx *ctx, dy_loss_form form, dy_tau_profile prof, bool decoupled, bool raw, int64_t n,
                          int64_t d, int64_t tile, int64_t queue_capacity) {
    dy_loss_options o = dy_loss_defaults();
    o.form = form;
    o.tau = prof;
    o.decoupled = decoupled;
    o.normalized_input = !raw;
    o.max_batch = n;
    o.dim = d;
    o.tile = tile;
    o.queue_capacity = queue_capacity;
    dy_loss *L = NULL;
    dy_status st = dy_loss_create(ctx, &o, &L);
    CHECK(st == DY_OK, "dy_loss_create: %s", dy_ctx_error(ctx));
    return L;
}

/* ---------------------------------------------------------------- the fast math against libm */

static void test_fastmath(void) {
    double worst_exp = 0, worst_cos = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -87.0f + 175.0f * (float)i / 200000.0f;
        double want = exp((double)x);
        worst_exp = fmax(worst_exp, fabs(dy_fast_exp(x) - want) / want);
    }
    for (int i = 0; i <= 200000; i++) {
        float x = -40.0f + 80.0f * (float)i / 200000.0f;
        worst_cos = fmax(worst_cos, fabs(dy_fast_cospi(x) - cos(3.14159265358979323846 * (double)x)));
    }
    CHECK(worst_exp < 4e-7, "fast exp relative error %.3g (want < 4e-7)", worst_exp);
    CHECK(worst_cos < 2e-6, "fast cos(pi x) absolute error %.3g over |x| <= 40 (want < 2e-6)", worst_cos);
    CHECK(dy_fast_exp(-INFINITY) == 0.0f && dy_fast_exp(-100.0f) == 0.0f, "fast exp underflows to 0");

    const dy_tau_profile profs[] = {dy_tau_constant(0.1f), dy_tau_cosine(0.07f, 0.2f),
                                    dy_tau_shifted(0.07f, 0.2f, -0.4f, 0.7f), dy_tau_shifted(0.07f, 0.2f, 0.2f, 0.8f),
                                    dy_tau_shifted(0.1f, 0.3f, 0.1f, 0.05f)};
    for (size_t p = 0; p < sizeof profs / sizeof profs[0]; p++) {
        dy_tau_coef c = dy_tau_coef_of(&profs[p]);
        double worst = 0;
        float s[2001], tau[2001];
        for (int i = 0; i <= 2000; i++) s[i] = -1.0f + (float)i / 1000.0f;
        dy_tau_fill(&c, s, tau, 2001);
        int same = 1;
        for (int i = 0; i <= 2000; i++) {
            double want = dy_tau_eval(&profs[p], s[i]);
            /* at the plateau's edge the two sides of s > -o may differ by the rounding of -o: skip that point */
            if (profs[p].kind == DY_TAU_SHIFTED && fabs(s[i] + profs[p].offset) < 1e-6) continue;
            worst = fmax(worst, fabs(tau[i] - want) / want);
            same &= tau[i] == dy_tau_one(&c, s[i]);
        }
        /* float rounding of the cosine's argument (s + o) / k is amplified by pi |x| ~ (1 + |o|) / k */
        const double tol = profs[p].kind == DY_TAU_SHIFTED ? 2e-7 * (1.0 + (1.0 + fabs(profs[p].offset)) / profs[p].scale)
                                                           : 1e-6;
        CHECK(worst < tol, "profile %zu: float tau vs double reference, relative error %.3g (tol %.3g)", p, worst, tol);
        CHECK(same, "profile %zu: vector and scalar tau bitwise equal", p);
    }
    /* The profile's defining points (docs/METHOD.md). */
    dy_tau_profile cosine = dy_tau_cosine(0.07f, 0.2f), sh = dy_tau_shifted(0.07f, 0.2f, -0.4f, 0.7f),
                   sp = dy_tau_shifted(0.07f, 0.2f, 0.2f, 0.8f);
    CHECK(fabs(dy_tau_eval(&cosine, 1) - 0.2f) < 1e-7 && fabs(dy_tau_eval(&cosine, -1) - 0.2f) < 1e-7 &&
              fabs(dy_tau_eval(&cosine, 0) - 0.07f) < 1e-7,
          "cosine profile: tau_max at s = +-1, tau_min at 0");
    CHECK(dy_tau_eval(&sh, 0.5) == (double)0.2f && fabs(dy_tau_eval(&sh, -0.3) - 0.07f) < 1e-6,
          "shifted (-0.4, 0.7): plateau above s = 0.4, tau_min at s = -0.3");
    CHECK(dy_tau_eval(&sp, -0.1) == (double)0.2f && fabs(dy_tau_eval(&sp, -1.0) - 0.07f) < 1e-6 &&
              dy_tau_eval(&sp, -0.6) < 0.2 && dy_tau_eval(&sp, -0.6) > 0.07,
          "shifted (0.2, 0.8): plateau above s = -0.2, cosine below it, tau_min at s = -1");
}

/* ---------------------------------------------------------------- PyTorch fixtures */

static dy_tau_profile fixture_profile(const fx_file *f) {
    const fx_tensor *kind = fx_get(f, "kind");
    dy_tau_profile p = {.kind = (dy_tau_kind)((const int64_t *)kind->data)[0],
                        .tau_min = (float)fx_scalar(f, "tau_min"),
                        .tau_max = (float)fx_scalar(f, "tau_max"),
                        .offset = (float)fx_scalar(f, "offset"),
                        .scale = (float)fx_scalar(f, "scale")};
    return p;
}

static int64_t fx_int(const fx_file *f, const char *name) {
    const fx_tensor *t = fx_get(f, name);
    return t && t->dtype == 1 ? ((const int64_t *)t->data)[0] : -1;
}

static void check_diag(const char *name, const fx_file *f, const dy_loss_diag *dg) {
    char what[400];
    const struct {
        const char *key;
        double got;
    } scalars[] = {{"diag_loss", dg->loss},
                   {"diag_pos_sim_mean", dg->pos_sim_mean},
                   {"diag_neg_sim_mean", dg->neg_sim_mean},
                   {"diag_neg_sim_max", dg->neg_sim_max},
                   {"diag_pos_tau_mean", dg->pos_tau_mean},
                   {"diag_neg_tau_mean", dg->neg_tau_mean},
                   {"diag_frac_near_tau_min", dg->frac_near_tau_min},
                   {"diag_frac_near_tau_max", dg->frac_near_tau_max}};
    for (size_t k = 0; k < sizeof scalars / sizeof scalars[0]; k++) {
        snprintf(what, sizeof what, "%s %s", name, scalars[k].key);
        const double want = fx_scalar(f, scalars[k].key);
        /* Means of similarities can cancel to nearly 0; similarities live on the scale |s| <= 1, so their error is
         * measured against max(|want|, 1). The other values are compared relatively. */
        if (strstr(scalars[k].key, "_sim_"))
            CHECK(fabs(scalars[k].got - want) <= 1e-5 * fmax(fabs(want), 1.0), "%s: got %.10g want %.10g", what,
                  scalars[k].got, want);
        else
            test_close_scalar(what, scalars[k].got, want, 1e-5);
    }
    CHECK(dg->pos_pairs == fx_int(f, "diag_pos_pairs") && dg->neg_pairs == fx_int(f, "diag_neg_pairs"),
          "%s pair counts %lld/%lld vs %lld/%lld", name, (long long)dg->pos_pairs, (long long)dg->neg_pairs,
          (long long)fx_int(f, "diag_pos_pairs"), (long long)fx_int(f, "diag_neg_pairs"));
    const int64_t *ph = fx_get(f, "diag_pos_hist")->data, *nh = fx_get(f, "diag_neg_hist")->data;
    int same = 1;
    for (int b = 0; b < DY_LOSS_HIST_BINS; b++) same &= ph[b] == dg->pos_hist[b] && nh[b] == dg->neg_hist[b];
    CHECK(same, "%s histograms equal the script's", name);
}

static void test_fixture_simclr(const char *file) {
    fx_file *f = fx_load(test_fixture_path(file));
    if (!CHECK(f != NULL, "fixture %s", file)) return;
    const dy_tau_profile prof = fixture_profile(f);
    const int64_t n = fx_int(f, "n");
    const bool raw = fx_int(f, "raw") == 1, decoupled = fx_int(f, "decoupled") == 1;
    const fx_tensor *xt = fx_get(f, "x");
    const int64_t d = xt->dims[1];
    const float *x = xt->data, *grad = fx_f32(f, "grad", NULL);
    const int64_t tiles[] = {0, 8, 5};
    for (size_t t = 0; t < 3; t++) {
        dy_loss *L = make_loss(ctx2, DY_LOSS_SIMCLR, prof, decoupled, raw, n, d, tiles[t], 0);
        if (!L) break;
        float *dz = calloc((size_t)(2 * n * d), sizeof(float)), loss = 0;
        dy_loss_diag dg;
        dy_status st = dy_loss_contrastive(L, ctx2, n, x, dz, &loss, &dg);
        CHECK(st == DY_OK, "%s: %s", file, dy_ctx_error(ctx2));
        char what[240];
        snprintf(what, sizeof what, "%s tile %lld loss", file, (long long)tiles[t]);
        test_close_scalar(what, loss, fx_scalar(f, "loss"), 1e-5);
        snprintf(what, sizeof what, "%s tile %lld gradient", file, (long long)tiles[t]);
        test_close(what, dz, grad, (size_t)(2 * n * d), 1e-5);
        snprintf(what, sizeof what, "%s tile %lld", file, (long long)tiles[t]);
        check_diag(what, f, &dg);
        free(dz);
        dy_loss_destroy(L);
    }
    fx_free(f);
}


static void test_fixture_moco(const char *file) {
    fx_file *f = fx_load(test_fixture_path(file));
    if (!CHECK(f != NULL, "fixture %s", file)) return;
    const dy_tau_profile prof = fixture_profile(f);
    const int64_t n = fx_int(f, "n"), queue_len = fx_int(f, "queue_len");
    const bool raw = fx_int(f, "raw") == 1, decoupled = fx_int(f, "decoupled") == 1;
    const fx_tensor *qt = fx_get(f, "q");
    const int64_t d = qt->dims[1];
    const float *q = qt->data, *k = fx_f32(f, "k", NULL), *queue = fx_f32(f, "queue", NULL);
    const float *grad = fx_f32(f, "grad", NULL);
    const int64_t tiles[] = {0, 8, 5};
    char what[240];
    for (size_t t = 0; t < 3; t++) {
        dy_loss *L = make_loss(ctx2, DY_LOSS_MOCO, prof, decoupled, raw, n, d, tiles[t], queue_len);
        if (!L) break;
        float *dq = calloc((size_t)(n * d), sizeof(float)), loss = 0;
        dy_loss_diag dg;
        CHECK(dy_loss_moco(L, ctx2, n, q, k, queue, queue_len, dq, &loss, &dg) == DY_OK, "%s: %s", file,
              dy_ctx_error(ctx2));
        snprintf(what, sizeof what, "%s tile %lld loss", file, (long long)tiles[t]);
        test_close_scalar(what, loss, fx_scalar(f, "loss"), 1e-5);
        snprintf(what, sizeof what, "%s tile %lld gradient", file, (long long)tiles[t]);
        test_close(what, dq, grad, (size_t)(n * d), 1e-5);
        snprintf(what, sizeof what, "%s tile %lld", file, (long long)tiles[t]);
        check_diag(what, f, &dg);
        /* The library-owned queue holding the same rows gives the same loss; the call then enqueues the keys. */
        CHECK(dy_loss_queue_push(L, ctx2, queue_len, queue) == DY_OK && dy_loss_queue_length(L) == queue_len,
              "queue push: %s", dy_ctx_error(ctx2));
        float *dq2 = calloc((size_t)(n * d), sizeof(float)), loss2 = 0;
        CHECK(dy_loss_moco(L, ctx2, n, q, k, NULL, 0, dq2, &loss2, NULL) == DY_OK, "own queue: %s",
              dy_ctx_error(ctx2));
        snprintf(what, sizeof what, "%s tile %lld, library queue: loss", file, (long long)tiles[t]);
        test_close_scalar(what, loss2, fx_scalar(f, "loss"), 1e-5);
        snprintf(what, sizeof what, "%s tile %lld, library queue: gradient", file, (long long)tiles[t]);
        test_close(what, dq2, grad, (size_t)(n * d), 1e-5);
        CHECK(dy_loss_queue_length(L) == queue_len, "a full queue stays full (%lld)",
              (long long)dy_loss_queue_length(L));
        free(dq);
        free(dq2);
        dy_loss_destroy(L);
    }
    fx_free(f);
}

/* The ring buffer: after a call the newest rows are the call's normalised keys, the oldest were dropped. */
static void test_moco_queue_ring(void) {
    const int64_t n = 3, d = 4, cap = 5;
    dy_loss *L = make_loss(ctx1, DY_LOSS_MOCO, dy_tau_cosine(0.07f, 0.2f), false, true, n, d, 0, cap);
    if (!L) return;
    float rows[5 * 4], q[3 * 4], k[3 * 4], loss;
    for (int i = 0; i < 20; i++) rows[i] = (float)(i % 7) - 3.0f + 0.25f;
    for (int i = 0; i < 12; i++) {
        q[i] = (float)((i * 5) % 9) - 4.0f + 0.5f;
        k[i] = (float)((i * 3) % 7) - 3.0f + 0.5f;
    }
    CHECK(dy_loss_queue_length(L) == 0, "queue starts empty");
    CHECK(dy_loss_moco(L, ctx1, n, q, k, NULL, 0, NULL, &loss, NULL) == DY_OK && loss == 0.0f,
          "an empty queue: loss 0 (only the positive in the denominator), got %g", (double)loss);
    CHECK(dy_loss_queue_length(L) == 3, "the keys were enqueued (length %lld)", (long long)dy_loss_queue_length(L));
    CHECK(dy_loss_queue_push(L, ctx1, 4, rows) == DY_OK && dy_loss_queue_length(L) == 5, "push wraps at capacity");
    /* expected content: the ring holds the last 5 rows pushed: key 2, rows 0..3 (normalised) */
    float want[5 * 4];
    const float *src[5] = {k + 2 * 4, rows, rows + 4, rows + 8, rows + 12};
    for (int r = 0; r < 5; r++) {
        double ss = 0;
        for (int c = 0; c < 4; c++) ss += (double)src[r][c] * src[r][c];
        for (int c = 0; c < 4; c++) want[r * 4 + c] = (float)(src[r][c] / sqrt(ss));
    }
    /* the same loss from the caller's copy of that queue (order does not matter to the loss) */
    float l_own, l_caller, dq_own[12], dq_caller[12];
    CHECK(dy_loss_moco(L, ctx1, n, q, k, want, 5, dq_caller, &l_caller, NULL) == DY_OK, "caller queue");
    CHECK(dy_loss_moco(L, ctx1, n, q, k, NULL, 0, dq_own, &l_own, NULL) == DY_OK, "own queue");
    test_close_scalar("ring buffer content: loss equals the caller-queue loss", l_own, l_caller, 1e-6);
    test_close("ring buffer content: gradient", dq_own, dq_caller, 12, 1e-6);
    float nanrow[4] = {1, NAN, 0, 0}, zero[4] = {0, 0, 0, 0};
    CHECK(dy_loss_queue_push(L, ctx1, 1, nanrow) == DY_ERR_NUMERIC, "NaN queue row refused: %s", dy_ctx_error(ctx1));
    CHECK(dy_loss_queue_push(L, ctx1, 1, zero) == DY_ERR_INVALID, "zero queue row refused: %s", dy_ctx_error(ctx1));
    float bad_queue[8] = {2, 0, 0, 0, 0, 1, 0, 0};
    CHECK(dy_loss_moco(L, ctx1, n, q, k, bad_queue, 2, dq_own, &l_own, NULL) == DY_ERR_INVALID,
          "non-unit caller queue refused: %s", dy_ctx_error(ctx1));
    bad_queue[0] = INFINITY;
    CHECK(dy_loss_moco(L, ctx1, n, q, k, bad_queue, 2, dq_own, &l_own, NULL) == DY_ERR_NUMERIC,
          "Inf in the caller queue refused: %s", dy_ctx_error(ctx1));
    CHECK(dy_loss_moco(L, ctx1, n, q, k, want, -1, dq_own, &l_own, NULL) == DY_ERR_INVALID,
          "negative queue length refused: %s", dy_ctx_error(ctx1));
    q[5] = NAN;
    CHECK(dy_loss_moco(L, ctx1, n, q, k, want, 5, dq_own, &l_own, NULL) == DY_ERR_NUMERIC,
          "NaN query refused: %s", dy_ctx_error(ctx1));
    q[5] = 1;
    k[0] = -INFINITY;
    CHECK(dy_loss_moco(L, ctx1, n, q, k, want, 5, dq_own, &l_own, NULL) == DY_ERR_NUMERIC,
          "Inf key refused: %s", dy_ctx_error(ctx1));
    CHECK(dy_loss_moco(L, ctx1, 0, q, k, want, 5, dq_own, &l_own, NULL) == DY_ERR_INVALID &&
              dy_loss_moco(L, ctx1, 4, q, k, want, 5, dq_own, &l_own, NULL) == DY_ERR_INVALID,
          "MoCo N out of range refused: %s", dy_ctx_error(ctx1));
    CHECK(dy_loss_contrastive(L, ctx1, 2, q, dq_own, &l_own, NULL) == DY_ERR_INVALID,
          "SimCLR call on a MoCo loss refused: %s", dy_ctx_error(ctx1));
    dy_loss_destroy(L);
    L = make_loss(ctx1, DY_LOSS_MOCO, dy_tau_cosine(0.07f, 0.2f), true, true, n, d, 0, 0);
    CHECK(dy_loss_moco(L, ctx1, n, q, k, want, 0, dq_own, &l_own, NULL) == DY_ERR_INVALID,
          "decoupled MoCo with an empty queue refused: %s", dy_ctx_error(ctx1));
    CHECK(dy_loss_moco(L, ctx1, n, q, k, NULL, 0, dq_own, &l_own, NULL) == DY_ERR_INVALID,
          "NULL queue without a library queue refused: %s", dy_ctx_error(ctx1));
    CHECK(dy_loss_queue_push(L, ctx1, 1, rows) == DY_ERR_INVALID, "push without a library queue refused: %s",
          dy_ctx_error(ctx1));
    dy_loss_destroy(L);
}

/* The loss's own queue receives keys the caller normalised exactly as given (normalising again could move a last
 * bit), other keys as the loss normalises them; its named tensor and position are what a checkpoint saves. */
static void test_moco_queue_keys_as_given(void) {
    const int64_t n = 4, d = 16, cap = 8;
    dy_loss *L = make_loss(ctx1, DY_LOSS_MOCO, dy_tau_cosine(0.07f, 0.2f), false, true, n, d, 0, cap);
    if (!L) return;
    float q[4 * 16], raw[4 * 16], unit[4 * 16], loss;
    for (int i = 0; i < n * d; i++) {
        q[i] = (float)((i * 5) % 11) - 5.0f + 0.5f;
        raw[i] = (float)((i * 7) % 13) - 6.0f + 0.25f;
    }
    double norm[4];
    for (int64_t r = 0; r < n; r++) {
        double ss = 0;
        for (int64_t c = 0; c < d; c++) ss += (double)raw[r * d + c] * raw[r * d + c];
        norm[r] = sqrt(ss);
        for (int64_t c = 0; c < d; c++) unit[r * d + c] = (float)(raw[r * d + c] * (1.0 / norm[r])); /* the caller's */
    }
    dy_tensor_list l = {0};
    dy_loss_list_tensors(L, &l);
    const dy_named_tensor *qt = dy_tensor_list_find(&l, "moco.queue");
    if (!CHECK(qt && qt->ndim == 2 && qt->shape[0] == cap && qt->shape[1] == d, "the queue is the named tensor "
               "moco.queue [%lld, %lld]", (long long)cap, (long long)d)) {
        dy_tensor_list_free(&l);
        dy_loss_destroy(L);
        return;
    }
    const float *queue = qt->data;
    CHECK(dy_loss_moco(L, ctx1, n, q, unit, NULL, 0, NULL, &loss, NULL) == DY_OK, "unit keys: %s", dy_ctx_error(ctx1));
    CHECK(memcmp(queue, unit, sizeof unit) == 0, "keys of unit norm enter the queue bit for bit as given");
    CHECK(dy_loss_moco(L, ctx1, n, q, raw, NULL, 0, NULL, &loss, NULL) == DY_OK, "raw keys: %s", dy_ctx_error(ctx1));
    bool normalised = true;
    for (int64_t r = 0; r < n; r++)
        for (int64_t c = 0; c < d; c++) normalised &= queue[(n + r) * d + c] == (float)(raw[r * d + c] / norm[r]);
    CHECK(normalised, "raw keys enter normalised");
    int64_t len, head;
    dy_loss_queue_position(L, &len, &head);
    CHECK(len == cap && head == 0, "the queue is full and wrapped: length %lld, head %lld", (long long)len,
          (long long)head);
    CHECK(dy_loss_queue_position_fits(L, 3, 7) && !dy_loss_queue_position_fits(L, 9, 0) &&
              !dy_loss_queue_position_fits(L, 3, 8) && !dy_loss_queue_position_fits(L, -1, 0),
          "a saved position must fit the queue");
    dy_loss_queue_set_position(L, 3, 7);
    CHECK(dy_loss_queue_length(L) == 3, "a restored position holds");
    dy_tensor_list_free(&l);
    dy_loss_destroy(L);
}

static void test_moco_threads_identical(void) {
    const int64_t n = 300, d = 64, K = 2000; /* n K d above the loss's threshold for a second thread */
    dy_loss *L = make_loss(ctx2, DY_LOSS_MOCO, dy_tau_shifted(0.07f, 0.2f, 0.2f, 0.8f), false, true, n, d, 16, 0);
    float *qk = make_views(n, d, true, 31), *queue = make_views(K / 2, d, false, 32); /* K unit rows */
    float *g1 = calloc((size_t)(n * d), 4), *g2 = calloc((size_t)(n * d), 4), l1 = 0, l2 = 1;
    dy_loss_diag d1, d2;
    memset(&d1, 0, sizeof d1);
    memset(&d2, 1, sizeof d2);
    CHECK(L && dy_loss_moco(L, ctx1, n, qk, qk + n * d, queue, K, g1, &l1, &d1) == DY_OK, "MoCo 1 thread");
    CHECK(L && dy_loss_moco(L, ctx2, n, qk, qk + n * d, queue, K, g2, &l2, &d2) == DY_OK, "MoCo 2 threads");
    CHECK(memcmp(&l1, &l2, sizeof l1) == 0 && memcmp(g1, g2, sizeof(float) * (size_t)(n * d)) == 0 &&
              memcmp(&d1, &d2, sizeof d1) == 0,
          "MoCo loss, gradient and diagnostics bitwise equal for 1 and 2 threads");
    dy_loss_destroy(L);
    free(qk);
    free(queue);
    free(g1);
    free(g2);
}

/* ---------------------------------------------------------------- blocked vs naive, finite differences */

static void test_blocked_vs_naive(void) {
    struct {
        int64_t n, d, tile;
    } cases[] = {{8, 16, 8},  /* 2N = 16: a multiple of the tile */
                 {13, 16, 8}, /* 26 rows: not a multiple */
                 {3, 7, 8},   /* 6 rows: smaller than one tile */
                 {40, 24, 16}, {45, 24, 16}, {37, 32, 0}};
    const dy_tau_profile profs[] = {dy_tau_constant(0.2f), dy_tau_cosine(0.07f, 0.2f),
                                    dy_tau_shifted(0.07f, 0.2f, -0.4f, 0.7f),
                                    dy_tau_shifted(0.07f, 0.2f, 0.2f, 0.8f)};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t p = 0; p < 4; p++)
            for (int variant = 0; variant < 4; variant++) {
                const bool raw = variant & 1, dec = variant & 2;
                const int64_t n = cases[c].n, d = cases[c].d;
                float *x = make_views(n, d, raw, (unsigned)(100 + c * 16 + p * 4 + (size_t)variant));
                double *want = calloc((size_t)(2 * n * d), sizeof(double));
                float *wantf = calloc((size_t)(2 * n * d), sizeof(float)), *dz = calloc((size_t)(2 * n * d), 4);
                double *xd = widen(x, 2 * n * d);
                double want_loss = naive_simclr(xd, n, d, &profs[p], raw, dec, NULL, NULL, want);
                free(xd);
                for (int64_t k = 0; k < 2 * n * d; k++) wantf[k] = (float)want[k];
                dy_loss *L = make_loss(ctx2, DY_LOSS_SIMCLR, profs[p], dec, raw, n, d, cases[c].tile, 0);
                float loss = 0;
                CHECK(L && dy_loss_contrastive(L, ctx2, n, x, dz, &loss, NULL) == DY_OK, "blocked call: %s",
                      dy_ctx_error(ctx2));
                char what[200];
                snprintf(what, sizeof what, "blocked vs naive N %lld d %lld tile %lld profile %zu %s%s loss",
                         (long long)n, (long long)d, (long long)cases[c].tile, p, raw ? "raw" : "unit",
                         dec ? " decoupled" : "");
                test_close_scalar(what, loss, want_loss, 1e-5);
                snprintf(what, sizeof what, "blocked vs naive N %lld d %lld tile %lld profile %zu %s%s gradient",
                         (long long)n, (long long)d, (long long)cases[c].tile, p, raw ? "raw" : "unit",
                         dec ? " decoupled" : "");
                test_close(what, dz, wantf, (size_t)(2 * n * d), 1e-5);
                dy_loss_destroy(L);
                free(x);
                free(want);
                free(wantf);
                free(dz);
            }
}


/* The reference code's shifted profile used the wrong mask in its positive-offset branch. The fixtures pin the
 * branch down: with the masks swapped (cosine above -o, plateau below) the loss moves far outside the tolerance,
 * while the naive loss with docs/METHOD.md's branches reproduces the fixture. */
static void test_shifted_mask_matters(void) {
    fx_file *f = fx_load(test_fixture_path("loss_simclr_shiftpos_raw.bin"));
    if (!CHECK(f != NULL, "fixture for the mask check")) return;
    const dy_tau_profile prof = fixture_profile(f);
    const int64_t n = fx_int(f, "n"), R = 2 * n;
    const fx_tensor *xt = fx_get(f, "x");
    const int64_t d = xt->dims[1];
    double *x = widen(xt->data, R * d), *tau = calloc((size_t)(R * R), sizeof(double));
    double *z = calloc((size_t)(R * d), sizeof(double));
    for (int64_t i = 0; i < R; i++) {
        double ss = 0;
        for (int64_t k = 0; k < d; k++) ss += x[i * d + k] * x[i * d + k];
        for (int64_t k = 0; k < d; k++) z[i * d + k] = x[i * d + k] / sqrt(ss);
    }
    const double o = prof.offset, lo = prof.tau_min, hi = prof.tau_max, pi = 3.14159265358979323846;
    int64_t on_curve = 0;
    for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < R; j++) {
            double s = 0;
            for (int64_t k = 0; k < d; k++) s += z[i * d + k] * z[j * d + k];
            const double curve = lo + 0.5 * (hi - lo) * (1 + cos(pi * (s + o) / prof.scale));
            tau[i * R + j] = s > -o ? curve : hi; /* swapped */
            on_curve += s <= -o;
        }
    const double want = fx_scalar(f, "loss");
    const double right = naive_simclr(x, n, d, &prof, true, false, NULL, NULL, NULL);
    const double swapped = naive_simclr(x, n, d, &prof, true, false, tau, NULL, NULL);
    test_close_scalar("shifted profile o = 0.2: docs/METHOD.md's branches reproduce the fixture", right, want, 1e-5);
    CHECK(on_curve > 0 && fabs(swapped - want) > 1e-2 * fabs(want),
          "swapped masks give a clearly different loss (%.6f vs %.6f; %lld pairs below -o)", swapped, want,
          (long long)on_curve);
    free(x);
    free(tau);
    free(z);
    fx_free(f);
}

/* A smaller batch than max_batch reuses the same object. */
static void test_smaller_batch(void) {
    const int64_t n = 10, d = 12;
    dy_tau_profile prof = dy_tau_cosine(0.07f, 0.2f);
    dy_loss *L = make_loss(ctx2, DY_LOSS_SIMCLR, prof, false, true, 32, d, 8, 0);
    float *x = make_views(n, d, true, 77), loss = 0;
    float *dz = calloc((size_t)(2 * n * d), 4), *wantf = calloc((size_t)(2 * n * d), 4);
    double *want = calloc((size_t)(2 * n * d), sizeof(double));
    double *xd = widen(x, 2 * n * d);
    double want_loss = naive_simclr(xd, n, d, &prof, true, false, NULL, NULL, want);
    free(xd);
    for (int64_t k = 0; k < 2 * n * d; k++) wantf[k] = (float)want[k];
    CHECK(L && dy_loss_contrastive(L, ctx2, n, x, dz, &loss, NULL) == DY_OK, "N below max_batch");
    test_close_scalar("N 10 on an object for 32: loss", loss, want_loss, 1e-5);
    test_close("N 10 on an object for 32: gradient", dz, wantf, (size_t)(2 * n * d), 1e-5);
    dy_loss_destroy(L);
    free(x);
    free(dz);
    free(wantf);
    free(want);
}

/* Central differences of the naive double loss with tau frozen at its unperturbed values, against the library's
 * gradient: checks the backward (and the naive reference) against the forward. */
static void test_finite_differences(void) {
    const int64_t n = 6, d = 5, R = 2 * n;
    const dy_tau_profile profs[] = {dy_tau_cosine(0.07f, 0.2f), dy_tau_shifted(0.07f, 0.2f, 0.2f, 0.8f),
                                    dy_tau_shifted(0.07f, 0.2f, -0.4f, 0.7f)};
    for (size_t p = 0; p < 3; p++)
        for (int variant = 0; variant < 4; variant++) {
            const bool raw = variant & 1, dec = variant & 2;
            float *x = make_views(n, d, raw, (unsigned)(500 + p * 4 + (size_t)variant));
            double *tau = calloc((size_t)(R * R), sizeof(double)), *xd = widen(x, R * d);
            naive_simclr(xd, n, d, &profs[p], raw, dec, NULL, tau, NULL);
            dy_loss *L = make_loss(ctx1, DY_LOSS_SIMCLR, profs[p], dec, raw, n, d, 4, 0);
            float *dz = calloc((size_t)(R * d), 4), *fd = calloc((size_t)(R * d), 4), loss;
            CHECK(L && dy_loss_contrastive(L, ctx1, n, x, dz, &loss, NULL) == DY_OK, "FD call");
            const double h = 1e-5; /* in double: truncation O(h^2) ~ 1e-10, rounding ~ 1e-16 / h ~ 1e-11 */
            for (int64_t k = 0; k < R * d; k++) {
                const double keep = xd[k];
                xd[k] = keep + h;
                double up = naive_simclr(xd, n, d, &profs[p], raw, dec, tau, NULL, NULL);
                xd[k] = keep - h;
                double down = naive_simclr(xd, n, d, &profs[p], raw, dec, tau, NULL, NULL);
                xd[k] = keep;
                fd[k] = (float)((up - down) / (2.0 * h));
            }
            char what[160];
            snprintf(what, sizeof what, "finite differences, profile %zu %s%s", p, raw ? "raw" : "unit",
                     dec ? " decoupled" : "");
            test_close(what, dz, fd, (size_t)(R * d), 1e-5);
            dy_loss_destroy(L);
            free(x);
            free(tau);
            free(dz);
            free(fd);
            free(xd);
        }
}

/* ---------------------------------------------------------------- threads */

static void test_threads_identical(void) {
    /* large enough for the loss to use both threads (it keeps small batches on one) */
    const int64_t n = 400, d = 64;
    dy_tau_profile prof = dy_tau_cosine(0.07f, 0.2f);
    for (int dec = 0; dec < 2; dec++) {
        dy_loss *L = make_loss(ctx2, DY_LOSS_SIMCLR, prof, dec, true, n, d, 32, 0);
        float *x = make_views(n, d, true, 9 + (unsigned)dec);
        float *g1 = calloc((size_t)(2 * n * d), 4), *g2 = calloc((size_t)(2 * n * d), 4), l1 = 0, l2 = 1;
        dy_loss_diag d1, d2;
        memset(&d1, 0, sizeof d1);
        memset(&d2, 1, sizeof d2);
        int before = omp_get_max_threads();
        CHECK(L && dy_loss_contrastive(L, ctx1, n, x, g1, &l1, &d1) == DY_OK, "1 thread");
        CHECK(L && dy_loss_contrastive(L, ctx2, n, x, g2, &l2, &d2) == DY_OK, "2 threads");
        CHECK(omp_get_max_threads() == before, "the loss leaves the OpenMP thread setting as it was (%d, now %d)",
              before, omp_get_max_threads());
        CHECK(memcmp(&l1, &l2, sizeof l1) == 0, "loss bitwise equal for 1 and 2 threads (%.9g vs %.9g)", l1, l2);
        CHECK(memcmp(g1, g2, sizeof(float) * (size_t)(2 * n * d)) == 0, "gradient bitwise equal for 1 and 2 threads");
        CHECK(memcmp(&d1, &d2, sizeof d1) == 0, "diagnostics bitwise equal for 1 and 2 threads");
        /* the same again: a reused object gives the same bits */
        CHECK(L && dy_loss_contrastive(L, ctx2, n, x, g1, &l1, &d1) == DY_OK &&
                  memcmp(g1, g2, sizeof(float) * (size_t)(2 * n * d)) == 0,
              "a second call on the same object is identical");
        dy_loss_destroy(L);
        free(x);
        free(g1);
        free(g2);
    }
}

/* ---------------------------------------------------------------- bad arguments */

static void expect_create_error(dy_loss_options o, dy_status want, const char *what) {
    dy_loss *L = (dy_loss *)1;
    dy_status st = dy_loss_create(ctx1, &o, &L);
    CHECK(st == want && L == NULL && dy_ctx_error(ctx1)[0] != 0, "%s: status %s, message \"%s\"", what,
          dy_status_string(st), dy_ctx_error(ctx1));
}

static void test_bad_arguments(void) {
    dy_loss_options ok = dy_loss_defaults();
    ok.max_batch = 4;
    ok.dim = 3;
    dy_loss_options o = ok;
    o.tau = dy_tau_cosine(0.0f, 0.2f);
    expect_create_error(o, DY_ERR_INVALID, "tau_min = 0");
    o.tau = dy_tau_cosine(-0.1f, 0.2f);
    expect_create_error(o, DY_ERR_INVALID, "tau_min < 0");
    o.tau = dy_tau_cosine(0.3f, 0.2f);
    expect_create_error(o, DY_ERR_INVALID, "tau_min > tau_max");
    o.tau = dy_tau_cosine(1e-30f, 0.2f);
    expect_create_error(o, DY_ERR_INVALID, "tau_min below 1e-4 (logits would overflow)");
    o.tau = dy_tau_cosine(0.1f, INFINITY);
    expect_create_error(o, DY_ERR_INVALID, "tau_max Inf");
    o.tau = dy_tau_constant(0.0f);
    expect_create_error(o, DY_ERR_INVALID, "constant tau0 = 0");
    o.tau = dy_tau_constant(NAN);
    expect_create_error(o, DY_ERR_INVALID, "constant tau0 NaN");
    o.tau = dy_tau_shifted(0.07f, 0.2f, -0.4f, 0.0f);
    expect_create_error(o, DY_ERR_INVALID, "shift scale k = 0");
    o.tau = dy_tau_shifted(0.07f, 0.2f, -0.4f, -0.7f);
    expect_create_error(o, DY_ERR_INVALID, "shift scale k < 0");
    o.tau = dy_tau_shifted(0.07f, 0.2f, INFINITY, 0.7f);
    expect_create_error(o, DY_ERR_INVALID, "shift offset Inf");
    o.tau = dy_tau_cosine(0.07f, 0.2f);
    o.tau.kind = (dy_tau_kind)7;
    expect_create_error(o, DY_ERR_INVALID, "unknown profile kind (never a silent constant)");
    o = ok;
    o.max_batch = 1;
    expect_create_error(o, DY_ERR_INVALID, "N = 1 (SimCLR)");
    o.max_batch = 0;
    expect_create_error(o, DY_ERR_INVALID, "N = 0");
    o = ok;
    o.dim = 0;
    expect_create_error(o, DY_ERR_INVALID, "d = 0");
    o = ok;
    o.tile = -1;
    expect_create_error(o, DY_ERR_INVALID, "tile < 0");
    o = ok;
    o.queue_capacity = 8;
    expect_create_error(o, DY_ERR_INVALID, "a queue for the SimCLR form");
    o = ok;
    o.form = (dy_loss_form)9;
    expect_create_error(o, DY_ERR_INVALID, "unknown form");
    CHECK(dy_loss_create(ctx1, NULL, &(dy_loss *){NULL}) == DY_ERR_INVALID, "NULL options");

    /* per-call errors */
    dy_loss *L = make_loss(ctx1, DY_LOSS_SIMCLR, dy_tau_cosine(0.07f, 0.2f), false, true, 4, 3, 0, 0);
    float x[24], dz[24], loss = 123.0f;
    for (int i = 0; i < 24; i++) x[i] = (float)((i * 7) % 5) - 2.0f + 0.1f * (float)i;
    struct {
        int64_t n;
        const char *what;
    } bad_n[] = {{1, "N = 1 per call"}, {0, "N = 0 per call"}, {5, "N above max_batch"}, {-3, "N < 0"}};
    for (size_t k = 0; k < 4; k++)
        CHECK(dy_loss_contrastive(L, ctx1, bad_n[k].n, x, dz, &loss, NULL) == DY_ERR_INVALID && loss == 123.0f,
              "%s refused: %s", bad_n[k].what, dy_ctx_error(ctx1));
    CHECK(dy_loss_contrastive(L, ctx1, 4, NULL, dz, &loss, NULL) == DY_ERR_INVALID, "NULL z: %s",
          dy_ctx_error(ctx1));
    CHECK(dy_loss_contrastive(L, ctx1, 4, x, dz, NULL, NULL) == DY_ERR_INVALID, "NULL loss_out: %s",
          dy_ctx_error(ctx1));
    CHECK(dy_loss_contrastive(NULL, ctx1, 4, x, dz, &loss, NULL) == DY_ERR_INVALID, "NULL loss object");
    const float specials[] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        float y[24];
        memcpy(y, x, sizeof y);
        y[17] = specials[k];
        for (int i = 0; i < 24; i++) dz[i] = 5.0f;
        dy_status st = dy_loss_contrastive(L, ctx1, 4, y, dz, &loss, NULL);
        CHECK(st == DY_ERR_NUMERIC && loss == 123.0f && dz[0] == 5.0f && strstr(dy_ctx_error(ctx1), "row 5"),
              "%g in the input refused, nothing written: %s", (double)specials[k], dy_ctx_error(ctx1));
    }
    float zero_row[24];
    memcpy(zero_row, x, sizeof zero_row);
    for (int k = 0; k < 3; k++) zero_row[2 * 3 + k] = 0.0f;
    CHECK(dy_loss_contrastive(L, ctx1, 4, zero_row, dz, &loss, NULL) == DY_ERR_INVALID &&
              strstr(dy_ctx_error(ctx1), "zero norm"),
          "a zero row refused: %s", dy_ctx_error(ctx1));
    dy_loss_destroy(L);
    L = make_loss(ctx1, DY_LOSS_SIMCLR, dy_tau_cosine(0.07f, 0.2f), false, false, 4, 3, 0, 0);
    CHECK(dy_loss_contrastive(L, ctx1, 4, x, dz, &loss, NULL) == DY_ERR_INVALID &&
              strstr(dy_ctx_error(ctx1), "norm"),
          "non-unit rows with normalized_input refused: %s", dy_ctx_error(ctx1));
    CHECK(dy_loss_moco(L, ctx1, 2, x, x, x, 1, dz, &loss, NULL) == DY_ERR_INVALID, "MoCo call on a SimCLR loss: %s",
          dy_ctx_error(ctx1));
    dy_loss_destroy(L);
}

/* Scratch memory grows linearly in N (O(N d + threads tile^2)). */
static void test_scratch_linear(void) {
    dy_loss *a = make_loss(ctx2, DY_LOSS_SIMCLR, dy_tau_cosine(0.07f, 0.2f), false, true, 1024, 128, 0, 0);
    dy_loss *b = make_loss(ctx2, DY_LOSS_SIMCLR, dy_tau_cosine(0.07f, 0.2f), false, true, 4096, 128, 0, 0);
    if (a && b) {
        size_t sa = dy_loss_scratch_bytes(a), sb = dy_loss_scratch_bytes(b);
        /* 4x the rows: the N-proportional part grows 4x, the tile part stays; well under 100 MB at N = 4096 */
        CHECK(sb < 4 * sa && sb > 3 * sa && sb < 100u * 1000 * 1000, "scratch %zu bytes at N 1024, %zu at N 4096",
              sa, sb);
    }
    dy_loss_destroy(a);
    dy_loss_destroy(b);
}

int main(void) {
    dy_ctx_options o1 = {.threads = 1}, o2 = {.threads = 2};
    if (dy_ctx_create(&ctx1, &o1) != DY_OK || dy_ctx_create(&ctx2, &o2) != DY_OK) {
        fprintf(stderr, "cannot create contexts\n");
        return 1;
    }
    test_fastmath();
    const char *profiles[] = {"const", "cosine", "shiftneg", "shiftpos"};
    char name[96];
    for (int p = 0; p < 4; p++)
        for (int raw = 0; raw < 2; raw++)
            for (int dcl = 0; dcl < 2; dcl++) {
                snprintf(name, sizeof name, "loss_%s_%s_%s.bin", dcl ? "dcl" : "simclr", profiles[p],
                         raw ? "raw" : "unit");
                test_fixture_simclr(name);
            }
    test_fixture_simclr("loss_simclr_cosine_raw_n40.bin");
    for (int p = 0; p < 4; p++)
        for (int raw = 0; raw < 2; raw++) {
            snprintf(name, sizeof name, "loss_moco_%s_%s.bin", profiles[p], raw ? "raw" : "unit");
            test_fixture_moco(name);
        }
    test_fixture_moco("loss_mocodcl_cosine_raw.bin");
    test_moco_queue_ring();
    test_moco_queue_keys_as_given();
    test_moco_threads_identical();
    test_blocked_vs_naive();
    test_shifted_mask_matters();
    test_smaller_batch();
    test_finite_differences();
    test_threads_identical();
    test_bad_arguments();
    test_scratch_linear();
    dy_ctx_destroy(ctx1);
    dy_ctx_destroy(ctx2);
    return test_finish();
}
