/* The tuner's search logic and the pieces it stands on: the successive-halving schedule (trials and budgets per
 * rung), the promotion order, the seeded candidates (anchors first, inside the ranges, reproducible), the validation
 * split (sizes, disjoint from the rest, reproducible, its fingerprint), and the adaptive profile's controller
 * (direction of each move, limits); RankMe, the label-free score (exact on known singular values, invariances); the
 * TPE sampler (deterministic, random until enough trials finished, proposals concentrated near the good points of a
 * made-up score). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "data/holdout.h"
#include "eval/rankme.h"
#include "testlib.h"
#include "train/tau_adapt.h"
#include "tune/tune.h"

static void test_schedule(dy_ctx *ctx) {
    dy_tune_schedule s = {0};
    CHECK(dy_tune_schedule_make(ctx, 9, 3, 1, 0, &s) == DY_OK && s.rungs == 3, "9 trials, eta 3: 3 rungs (got %d)",
          s.rungs);
    CHECK(s.trials[0] == 9 && s.trials[1] == 3 && s.trials[2] == 1, "9, 3, 1 trials (got %lld %lld %lld)",
          (long long)s.trials[0], (long long)s.trials[1], (long long)s.trials[2]);
    CHECK(s.budget[0] == 1 && s.budget[1] == 3 && s.budget[2] == 9, "budgets 1, 3, 9 (got %lld %lld %lld)",
          (long long)s.budget[0], (long long)s.budget[1], (long long)s.budget[2]);
    CHECK(dy_tune_schedule_make(ctx, 10, 3, 2, 0, &s) == DY_OK && s.rungs == 3 && s.trials[1] == 3 &&
              s.trials[2] == 1 && s.budget[2] == 18, "10 trials, eta 3, min 2: 10@2, 3@6, 1@18");
    CHECK(dy_tune_schedule_make(ctx, 4, 2, 1, 2, &s) == DY_OK && s.rungs == 2 && s.trials[0] == 4 &&
              s.trials[1] == 2 && s.budget[1] == 2, "4 trials, eta 2, 2 rungs: 4@1, 2@2");
    CHECK(dy_tune_schedule_make(ctx, 1, 3, 5, 0, &s) == DY_OK && s.rungs == 1 && s.budget[0] == 5,
          "one trial: one rung");
    CHECK(dy_tune_schedule_make(ctx, 4, 2, 1, 4, &s) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "1 to 3 rungs"),
          "more rungs than the trials allow refused: %s", dy_ctx_error(ctx));
    CHECK(dy_tune_schedule_make(ctx, 4, 1, 1, 0, &s) == DY_ERR_INVALID, "eta 1 refused");
    CHECK(dy_tune_schedule_make(ctx, 0, 2, 1, 0, &s) == DY_ERR_INVALID, "no trials refused");
}

static void test_select(void) {
    int64_t ids[6] = {0, 1, 2, 3, 4, 5}, order[6];
    double scores[6] = {0.5, NAN, 0.7, 0.5, 0.9, 0.1};
    dy_tune_select(ids, scores, 6, 6, order);
    const int64_t want[6] = {4, 2, 0, 3, 5, 1}; /* ties by id, NaN (a failed trial) last */
    bool same = true;
    for (int i = 0; i < 6; i++) same &= order[i] == want[i];
    CHECK(same, "promotion order 4 2 0 3 5 1, got %lld %lld %lld %lld %lld %lld", (long long)order[0],
          (long long)order[1], (long long)order[2], (long long)order[3], (long long)order[4], (long long)order[5]);
    int64_t top[2];
    dy_tune_select(ids, scores, 6, 2, top);
    CHECK(top[0] == 4 && top[1] == 2, "the best two: 4, 2");
}

/* candidates compared field by field (the struct has padding) */
static bool same_list(const dy_tune_candidate *a, const dy_tune_candidate *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i].family != b[i].family || a[i].tau != b[i].tau || a[i].tau_min != b[i].tau_min ||
            a[i].tau_max != b[i].tau_max || a[i].offset != b[i].offset || a[i].scale != b[i].scale ||
            a[i].anchor != b[i].anchor)
            return false;
    return true;
}

static void test_candidates(dy_ctx *ctx) {
    dy_tune_space s = {.family = {true, true, true, false}, .tau = {0.05, 1}, .tau_min = {0.02, 0.3},
                       .tau_max = {0.1, 1}, .offset = {-0.6, 0.4}, .scale = {0.4, 1.2}, .anchors = true, .seed = 5};
    dy_tune_candidate a[12], b[12];
    CHECK(dy_tune_candidates(ctx, &s, 12, a) == DY_OK, "candidates: %s", dy_ctx_error(ctx));
    CHECK(a[0].family == DY_TUNE_COSINE && a[0].tau_min == 0.07 && a[0].tau_max == 0.2 && a[0].anchor,
          "anchor 1: the paper's cosine 0.07-0.2");
    CHECK(a[1].family == DY_TUNE_CONST && a[1].tau == 0.2 && a[2].family == DY_TUNE_CONST && a[2].tau == 0.5,
          "anchors 2, 3: constants 0.2 and 0.5");
    int fam[DY_TUNE_FAMILIES] = {0};
    bool inside = true;
    for (int i = 3; i < 12; i++) {
        fam[a[i].family]++;
        inside &= !a[i].anchor;
        if (a[i].family == DY_TUNE_CONST) inside &= a[i].tau >= 0.05 && a[i].tau <= 1;
        else inside &= a[i].tau_min >= 0.02 && a[i].tau_min <= 0.3 && a[i].tau_max <= 1 && a[i].tau_min <= a[i].tau_max;
        if (a[i].family == DY_TUNE_SHIFTED)
            inside &= a[i].offset >= -0.6 && a[i].offset <= 0.4 && a[i].scale >= 0.4 && a[i].scale <= 1.2;
    }
    CHECK(inside, "every sampled candidate lies inside its ranges, tau_min <= tau_max");
    CHECK(fam[0] == 3 && fam[1] == 3 && fam[2] == 3 && fam[3] == 0, "families in turn: 3 const, 3 cosine, 3 shifted");
    CHECK(dy_tune_candidates(ctx, &s, 12, b) == DY_OK && same_list(a, b, 12), "the same seed gives the same list");
    s.seed = 6;
    dy_tune_candidates(ctx, &s, 12, b);
    CHECK(!same_list(a + 3, b + 3, 9) && same_list(a, b, 3),
          "another seed: another sample, the same anchors");
    s.family[DY_TUNE_CONST] = false;
    dy_tune_candidates(ctx, &s, 4, b);
    CHECK(b[0].anchor && b[0].family == DY_TUNE_COSINE && !b[1].anchor, "without const: only the cosine anchor");
    s.tau_min = (dy_tune_range){2, 3};
    CHECK(dy_tune_candidates(ctx, &s, 4, b) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "above"),
          "a tau-min range above the tau-max range refused: %s", dy_ctx_error(ctx));
    s.tau_min = (dy_tune_range){0.3, 0.02};
    CHECK(dy_tune_candidates(ctx, &s, 4, b) == DY_ERR_INVALID, "a reversed range refused");
}

static void test_holdout(dy_ctx *ctx) {
    enum { N = 1000, V = 100 };
    uint8_t m1[N], m2[N], m3[N];
    CHECK(dy_holdout_mask(ctx, N, V, 11, m1) == DY_OK, "mask: %s", dy_ctx_error(ctx));
    int64_t in = 0, bad = 0;
    for (int i = 0; i < N; i++) in += m1[i] == 1, bad += m1[i] > 1;
    CHECK(bad == 0, "mask values are 0 or 1");
    CHECK(in == V, "the validation split has %d images (got %lld), the rest %d", V, (long long)in, N - V);
    dy_holdout_mask(ctx, N, V, 11, m2);
    dy_holdout_mask(ctx, N, V, 12, m3);
    CHECK(!memcmp(m1, m2, N), "the same seed, the same split");
    CHECK(memcmp(m1, m3, N) != 0, "another seed, another split");
    CHECK(dy_holdout_hash(m1, N, 1) == dy_holdout_hash(m2, N, 1) &&
              dy_holdout_hash(m1, N, 1) != dy_holdout_hash(m3, N, 1) &&
              dy_holdout_hash(m1, N, 0) != dy_holdout_hash(m1, N, 1), "fingerprints tell the index lists apart");
    CHECK(dy_holdout_mask(ctx, N, N, 1, m1) == DY_ERR_INVALID && dy_holdout_mask(ctx, N, 0, 1, m1) == DY_ERR_INVALID,
          "a split of everything or of nothing refused");
    /* the data sets: sizes, classes kept, every image in exactly one of them */
    dy_dataset *src = calloc(1, sizeof *src);
    src->count = 50, src->channels = 1, src->height = 1, src->width = 1;
    src->pixels = malloc(50);
    src->labels = malloc(50 * sizeof(int32_t));
    src->num_classes = 5;
    src->class_names = calloc(5, sizeof(char *));
    src->class_counts = calloc(5, sizeof(int64_t));
    for (int c = 0; c < 5; c++) src->class_names[c] = strdup("c");
    for (int i = 0; i < 50; i++) src->pixels[i] = (uint8_t)i, src->labels[i] = i % 5, src->class_counts[i % 5]++;
    dy_dataset *rest = NULL, *val = NULL;
    CHECK(dy_dataset_holdout(ctx, src, 10, 3, &rest, &val) == DY_OK, "holdout: %s", dy_ctx_error(ctx));
    int seen[50] = {0};
    bool labels_kept = true;
    for (int64_t i = 0; rest && i < rest->count; i++) seen[rest->pixels[i]]++, labels_kept &= rest->labels[i] ==
                                                                                              rest->pixels[i] % 5;
    for (int64_t i = 0; val && i < val->count; i++) seen[val->pixels[i]] += 10, labels_kept &= val->labels[i] ==
                                                                                              val->pixels[i] % 5;
    int once = 0, in_val = 0;
    for (int i = 0; i < 50; i++) once += seen[i] == 1 || seen[i] == 10, in_val += seen[i] == 10;
    CHECK(rest && val && rest->count == 40 && val->count == 10, "40 kept, 10 held out");
    CHECK(once == 50 && in_val == 10, "every image in exactly one split (disjoint, nothing lost)");
    CHECK(labels_kept && val && val->num_classes == 5, "labels and classes kept");
    dy_dataset_free(rest);
    dy_dataset_free(val);
    dy_dataset_free(src);
}

static void test_controller(dy_ctx *ctx) {
    dy_tau_adapt_config c = {.on = true, .band_low = 0.05, .band_high = 0.3, .rate = 0.1, .floor = 0.05, .ceil = 0.5};
    dy_tau_adapt_state s = {0.1, 0.2};
    dy_tau_adapt_update(&c, 0.6, 0.1, &s); /* too many near tau_min: tau_min away from tau_max; tau_max in band */
    CHECK(s.tau_min < 0.1 && fabs(s.tau_min - 0.1 * exp(-0.1)) < 1e-12 && s.tau_max == 0.2,
          "a fraction above the band lowers tau_min by exp(-rate), tau_max stays (%g, %g)", s.tau_min, s.tau_max);
    s = (dy_tau_adapt_state){0.1, 0.2};
    dy_tau_adapt_update(&c, 0.1, 0.6, &s);
    CHECK(s.tau_max > 0.2 && s.tau_min == 0.1, "too many near tau_max: tau_max up (%g)", s.tau_max);
    s = (dy_tau_adapt_state){0.1, 0.2};
    dy_tau_adapt_update(&c, 0.01, 0.01, &s);
    CHECK(s.tau_min > 0.1 && s.tau_max < 0.2, "both below the band: the bounds close in (%g, %g)", s.tau_min,
          s.tau_max);
    s = (dy_tau_adapt_state){0.1, 0.2};
    dy_tau_adapt_update(&c, 0.2, 0.05, &s);
    CHECK(s.tau_min == 0.1 && s.tau_max == 0.2, "inside the band (ends included): nothing moves");
    s = (dy_tau_adapt_state){0.1, 0.2};
    for (int i = 0; i < 100; i++) dy_tau_adapt_update(&c, 0.9, 0.9, &s);
    CHECK(s.tau_min == 0.05 && s.tau_max == 0.5, "pushed out for long: held at the floor and the ceiling (%g, %g)",
          s.tau_min, s.tau_max);
    for (int i = 0; i < 100; i++) dy_tau_adapt_update(&c, 0, 0, &s);
    CHECK(s.tau_min <= s.tau_max && s.tau_min >= 0.05 && s.tau_max <= 0.5 && fabs(s.tau_min - s.tau_max) < 1e-9,
          "pulled in for long: the bounds meet and stay ordered (%g, %g)", s.tau_min, s.tau_max);
    /* the feedback is negative on the measured quantity: with the similarities fixed, the fraction near tau_min
     * (1 + cos)/2 <= 0.01 r / (1 - r) falls as r = tau_min / tau_max falls */
    dy_tau_profile p = dy_tau_cosine(0.1f, 0.2f);
    CHECK(dy_tau_adapt_check(ctx, &c, &p) == DY_OK, "cosine within the limits accepted");
    p = dy_tau_constant(0.2f);
    CHECK(dy_tau_adapt_check(ctx, &c, &p) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "const"),
          "the constant profile refused: %s", dy_ctx_error(ctx));
    p = dy_tau_cosine(0.01f, 0.2f);
    CHECK(dy_tau_adapt_check(ctx, &c, &p) == DY_ERR_INVALID, "bounds outside floor/ceil refused");
}

/* issue 25: the annealed family (a constant on a temperature schedule): its tau and end ratio sampled inside their
 * ranges, in turn with the others, reproducibly; the end-ratio range checked only when the family is on, so the
 * other families' samples do not depend on it. */
static void test_annealed(dy_ctx *ctx) {
    dy_tune_space s = {.tau = {0.05, 1}, .tau_min = {0.02, 0.3}, .tau_max = {0.1, 1}, .offset = {-0.6, 0.4},
                       .scale = {0.4, 1.2}, .end_ratio = {0.05, 0.5}, .seed = 5};
    s.family[DY_TUNE_CONST] = s.family[DY_TUNE_ANNEALED] = true;
    dy_tune_candidate a[8], b[8];
    CHECK(dy_tune_candidates(ctx, &s, 8, a) == DY_OK, "annealed candidates: %s", dy_ctx_error(ctx));
    bool turn = true, inside = true, same = dy_tune_candidates(ctx, &s, 8, b) == DY_OK;
    for (int i = 0; i < 8; i++) {
        turn &= a[i].family == (i % 2 ? DY_TUNE_ANNEALED : DY_TUNE_CONST);
        inside &= a[i].tau >= 0.05 && a[i].tau <= 1;
        if (a[i].family == DY_TUNE_ANNEALED) inside &= a[i].end_ratio >= 0.05 && a[i].end_ratio <= 0.5;
        else inside &= a[i].end_ratio == 0;
        same &= a[i].family == b[i].family && a[i].tau == b[i].tau && a[i].end_ratio == b[i].end_ratio;
    }
    CHECK(turn, "const and annealed in turn");
    CHECK(inside, "tau and the end ratio inside their ranges (a constant has none)");
    CHECK(same, "the same seed, the same annealed candidates");
    char text[128];
    dy_tune_candidate_params(&(dy_tune_candidate){.family = DY_TUNE_ANNEALED, .tau = 0.2, .end_ratio = 0.1}, text,
                             sizeof text);
    CHECK(!strcmp(text, "tau 0.2, end ratio 0.1") && !strcmp(dy_tune_family_name(DY_TUNE_ANNEALED), "annealed") &&
              dy_tune_family_parse("annealed") == DY_TUNE_ANNEALED, "named: %s", text);
    s.end_ratio = (dy_tune_range){0, 0.5};
    CHECK(dy_tune_candidates(ctx, &s, 4, b) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "--end-ratio-range 0,0.5"),
          "an end ratio of 0 refused: %s", dy_ctx_error(ctx));
    s.end_ratio = (dy_tune_range){0.5, 2};
    CHECK(dy_tune_candidates(ctx, &s, 4, b) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "within [0.0001, 1]"),
          "an end ratio above 1 (a rise) refused: %s", dy_ctx_error(ctx));
    /* without the family the range is not used: the same const sample whatever it holds */
    s.family[DY_TUNE_ANNEALED] = false;
    dy_tune_candidates(ctx, &s, 4, a);
    s.end_ratio = (dy_tune_range){0.05, 0.5};
    dy_tune_candidates(ctx, &s, 4, b);
    CHECK(same_list(a, b, 4) && a[1].family == DY_TUNE_CONST, "the other families' sample ignores the end ratio");
}

/* exp(-sum p log p), p = s / sum(s) + eps: the formula written out for the test's singular values */
static double rankme_formula(const double *s, int m) {
    double total = 0, h = 0;
    for (int k = 0; k < m; k++) total += s[k];
    for (int k = 0; k < m; k++) {
        double p = s[k] / total + DY_RANKME_EPS;
        h -= p * log(p);
    }
    return exp(h);
}

static void test_rankme(dy_ctx *ctx) {
    /* a 6 x 4 matrix whose singular values are known: diag(4, 3, 2, 1) above two rows of zeros */
    enum { N = 6, D = 4 };
    float x[N * D] = {0};
    const double sv[D] = {4, 3, 2, 1};
    for (int k = 0; k < D; k++) x[k * D + k] = (float)sv[k];
    double r = 0, want = rankme_formula(sv, D);
    CHECK(dy_rankme(ctx, x, N, D, &r) == DY_OK && fabs(r - want) < 1e-9, "diag(4,3,2,1): RankMe %.12g, the formula "
          "%.12g", r, want);
    /* the transpose (fewer rows than columns: the other Gram matrix) gives the same */
    float xt[D * N] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) xt[j * N + i] = x[i * D + j];
    double rt = 0;
    CHECK(dy_rankme(ctx, xt, D, N, &rt) == DY_OK && fabs(rt - want) < 1e-9, "the transpose: %.12g", rt);
    /* equal singular values: the full rank m; one nonzero: 1 (up to eps) */
    const double eq[D] = {2, 2, 2, 2}, one[D] = {5, 0, 0, 0};
    CHECK(fabs(dy_rankme_from_singular_values(eq, D) - D) < 1e-5, "equal singular values: rank %d (got %.9g)", D,
          dy_rankme_from_singular_values(eq, D));
    CHECK(fabs(dy_rankme_from_singular_values(one, D) - 1) < 1e-5, "one direction: rank 1 (got %.9g)",
          dy_rankme_from_singular_values(one, D));
    /* invariances: a random 64 x 8 matrix, scaled, and rotated in a coordinate plane (an orthogonal transform) */
    enum { M = 64, C = 8 };
    static float a[M * C], b[M * C];
    dy_rng g;
    dy_rng_init(&g, 5, DY_RNG_EVAL, 0, 0);
    for (int k = 0; k < M * C; k++) a[k] = (float)dy_rng_normal(&g) * (k % C == 0 ? 5.0f : 1.0f);
    double ra = 0, rb = 0;
    CHECK(dy_rankme(ctx, a, M, C, &ra) == DY_OK && ra > 1 && ra < C, "a random matrix: 1 < RankMe %.6g < %d", ra, C);
    for (int k = 0; k < M * C; k++) b[k] = 1000.0f * a[k];
    CHECK(dy_rankme(ctx, b, M, C, &rb) == DY_OK && fabs(rb - ra) < 1e-6 * ra, "scaled by 1000: %.9g vs %.9g", rb, ra);
    const double c = cos(0.7), s = sin(0.7);
    for (int i = 0; i < M; i++) {
        b[i * C + 0] = (float)(c * a[i * C + 0] - s * a[i * C + 3]);
        b[i * C + 3] = (float)(s * a[i * C + 0] + c * a[i * C + 3]);
        for (int j = 1; j < C; j++)
            if (j != 3) b[i * C + j] = a[i * C + j];
    }
    CHECK(dy_rankme(ctx, b, M, C, &rb) == DY_OK && fabs(rb - ra) < 1e-4 * ra, "rotated columns: %.9g vs %.9g", rb,
          ra);
    /* a collapsed representation (every row the same) has rank 1; zeros give 1; NaN refused */
    for (int k = 0; k < M * C; k++) b[k] = a[k % C];
    CHECK(dy_rankme(ctx, b, M, C, &rb) == DY_OK && fabs(rb - 1) < 1e-3, "collapsed rows: rank 1 (got %.9g)", rb);
    memset(b, 0, sizeof b);
    CHECK(dy_rankme(ctx, b, M, C, &rb) == DY_OK && rb == 1, "zeros: 1 (got %g)", rb);
    b[7] = NAN;
    CHECK(dy_rankme(ctx, b, M, C, &rb) == DY_ERR_NUMERIC, "NaN refused");
    CHECK(dy_rankme(ctx, a, 0, C, &rb) == DY_ERR_INVALID, "no rows refused");
}

/* A made-up score: best at tau 0.03 for const, and cosine profiles worse than any const */
static double synthetic_score(const dy_tune_candidate *c) {
    if (c->family == DY_TUNE_CONST) return -fabs(log(c->tau / 0.03));
    return -3 - fabs(log(c->tau_min / 0.03));
}

static void test_tpe(dy_ctx *ctx) {
    dy_tune_space s = {.tau = {0.01, 1}, .tau_min = {0.01, 0.3}, .tau_max = {0.1, 1}, .offset = {-0.6, 0.4},
                       .scale = {0.4, 1.2}, .end_ratio = {0.05, 0.5}, .seed = 17};
    s.family[DY_TUNE_CONST] = s.family[DY_TUNE_COSINE] = true;
    enum { FIRST = 8, BATCH = 8, ROUNDS = 4, ALL = FIRST + BATCH * ROUNDS };
    dy_tune_candidate rnd[ALL], again[BATCH];
    dy_tune_observation obs[ALL];
    CHECK(dy_tune_candidates(ctx, &s, ALL, rnd) == DY_OK, "the random sample: %s", dy_ctx_error(ctx));
    dy_tune_tpe_options opt = dy_tune_tpe_defaults();
    /* too few observations: the fallback (the random sample) as it is */
    for (int i = 0; i < FIRST; i++) obs[i] = (dy_tune_observation){rnd[i], synthetic_score(&rnd[i])};
    dy_tune_candidate out[BATCH];
    bool modelled = true;
    CHECK(dy_tune_tpe_propose(ctx, &s, &opt, obs, 5, rnd + 5, 5, BATCH, out, &modelled) == DY_OK && !modelled &&
              same_list(out, rnd + 5, BATCH), "5 observations (< 6): the random candidates, unmodelled");
    /* rounds of 8 proposals, each scored and added */
    int64_t n = FIRST;
    for (int round = 0; round < ROUNDS; round++, n += BATCH) {
        CHECK(dy_tune_tpe_propose(ctx, &s, &opt, obs, n, rnd + n, n, BATCH, out, &modelled) == DY_OK && modelled,
              "round %d: %s", round, dy_ctx_error(ctx));
        CHECK(dy_tune_tpe_propose(ctx, &s, &opt, obs, n, rnd + n, n, BATCH, again, NULL) == DY_OK &&
                  same_list(out, again, BATCH), "round %d: the same observations, the same proposals", round);
        for (int i = 0; i < BATCH; i++) obs[n + i] = (dy_tune_observation){out[i], synthetic_score(&out[i])};
    }
    /* the last round against the random candidates it stood for: nearer the optimum, and mostly const */
    double tpe_dist = 0, rnd_dist = 0;
    int tpe_const = 0, inside = 1;
    for (int i = ALL - BATCH; i < ALL; i++) {
        tpe_dist -= synthetic_score(&obs[i].cand) / BATCH;
        rnd_dist -= synthetic_score(&rnd[i]) / BATCH;
        tpe_const += obs[i].cand.family == DY_TUNE_CONST;
        const dy_tune_candidate *c = &obs[i].cand;
        if (c->family == DY_TUNE_CONST) inside &= c->tau >= 0.01 && c->tau <= 1;
        else inside &= c->tau_min >= 0.01 && c->tau_min <= 0.3 && c->tau_max >= c->tau_min && c->tau_max <= 1;
    }
    printf("TPE, round %d: mean |log(tau / 0.03)| %.3f (the random sample's %.3f), %d of %d const\n", ROUNDS, tpe_dist,
           rnd_dist, tpe_const, BATCH);
    CHECK(tpe_dist < 0.5 * rnd_dist, "TPE's last proposals lie nearer the optimum: mean |log(tau / 0.03)| %.3f, the "
          "random sample's %.3f", tpe_dist, rnd_dist);
    CHECK(tpe_const >= 6, "TPE proposes the better family: %d of 8 const", tpe_const);
    CHECK(inside, "every proposal lies inside its ranges, tau_min <= tau_max");
    bool repeats = false;
    for (int i = FIRST; i < ALL; i++)
        for (int j = 0; j < i; j++) repeats |= same_list(&obs[i].cand, &obs[j].cand, 1);
    CHECK(!repeats, "no proposal repeats an earlier trial");
    /* another seed, other proposals; a bad gamma refused */
    s.seed = 18;
    dy_tune_candidate first_round[BATCH];
    for (int i = 0; i < BATCH; i++) first_round[i] = obs[FIRST + i].cand;
    CHECK(dy_tune_tpe_propose(ctx, &s, &opt, obs, FIRST, rnd + FIRST, FIRST, BATCH, again, NULL) == DY_OK &&
              !same_list(first_round, again, BATCH), "another seed, other proposals");
    opt.gamma = 1;
    CHECK(dy_tune_tpe_propose(ctx, &s, &opt, obs, FIRST, rnd, 0, 1, again, NULL) == DY_ERR_INVALID, "gamma 1 refused");
}

int main(void) {
    dy_ctx *ctx = NULL;
    if (dy_ctx_create(&ctx, NULL) != DY_OK) return 1;
    test_schedule(ctx);
    test_select();
    test_candidates(ctx);
    test_annealed(ctx);
    test_holdout(ctx);
    test_controller(ctx);
    test_rankme(ctx);
    test_tpe(ctx);
    dy_ctx_destroy(ctx);
    return test_finish();
}
