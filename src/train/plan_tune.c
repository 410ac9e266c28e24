/* The plan tuner (include/dystress/plan.h): every candidate plan timed on the real model, batch and threads, the
 * fastest kept; measurements cached per machine and model by plan_cache.c.
 *
 * What is timed: dy_model_forward_train + dy_model_backward of the request's model on n images (normal noise, fixed
 * seed) with a fixed output gradient, after one untimed warm-up step (which creates the executor: primitive
 * creation is paid once per run, not per step). The loss and the optimizer are the same work under every plan and
 * are left out. Candidates run one after the other, each with its own model, so that only one is in memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "core/rng.h"
#include "train/plan_cache.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

const char *dy_run_plan_name(const dy_run_plan *p, char *buf, size_t size) {
    snprintf(buf, size, "%s %s %s", dy_layout_name(p->layout), dy_conv_algo_name(p->conv_algo),
             dy_precision_name(p->precision));
    return buf;
}

int dy_plan_pick(const dy_plan_timing *t, int count) {
    int best = -1;
    for (int k = 0; k < count; k++)
        if (t[k].seconds >= 0 && (best < 0 || t[k].seconds < t[best].seconds)) best = k;
    if (best > 0 && t[0].seconds >= 0 && t[best].seconds > (1.0 - DY_PLAN_MARGIN) * t[0].seconds) best = 0;
    return best;
}

/* The median seconds of a training forward + backward under plan p, or -1 with t->error set. */
static void time_plan(dy_ctx *ctx, const dy_plan_request *rq, int steps, dy_plan_timing *t) {
    t->seconds = -1;
    t->error[0] = 0;
    dy_model_config cfg = rq->model;
    cfg.precision = t->plan.precision;
    dy_model *m = NULL;
    float *x = NULL, *dz = NULL;
    double *times = NULL;
    dy_status st = dy_ctx_set_layout(ctx, t->plan.layout);
    if (st == DY_OK) st = dy_ctx_set_conv_algo(ctx, t->plan.conv_algo);
    if (st == DY_OK) st = dy_model_create(ctx, &cfg, 0, &m);
    const int64_t in = rq->n * cfg.in_channels * rq->h * rq->w, out = m ? rq->n * dy_model_output_dim(m) : 0;
    if (st == DY_OK) {
        x = malloc(sizeof(float) * (size_t)in);
        dz = malloc(sizeof(float) * (size_t)out);
        times = malloc(sizeof(double) * (size_t)steps);
        if (!x || !dz || !times) st = dy_fail(ctx, DY_ERR_NOMEM, "plan tuner: out of memory for the test batch");
    }
    if (st == DY_OK) {
        dy_rng r;
        dy_rng_init(&r, 0, DY_RNG_EVAL, 0x91a7, 0);
        for (int64_t i = 0; i < in; i++) x[i] = (float)dy_rng_normal(&r);
        for (int64_t i = 0; i < out; i++) dz[i] = (float)(1e-3 * dy_rng_normal(&r));
    }
    for (int s = -1; st == DY_OK && s < steps; s++) {
        const double t0 = now_s();
        st = dy_model_forward_train(m, x, rq->n, rq->h, rq->w, NULL, NULL);
        if (st == DY_OK) st = dy_model_backward(m, dz);
        if (s >= 0) times[s] = now_s() - t0;
    }
    if (st == DY_OK) {
        qsort(times, (size_t)steps, sizeof *times, cmp_double);
        t->seconds = times[steps / 2];
    } else {
        snprintf(t->error, sizeof t->error, "%s", dy_ctx_error(ctx));
    }
    free(times);
    free(dz);
    free(x);
    dy_model_destroy(m);
}

static dy_status check_request(dy_ctx *ctx, const dy_plan_request *rq) {
    if (rq->n_layouts < 1 || rq->n_layouts > 2 || rq->n_algos < 1 || rq->n_algos > 2 || rq->n_precisions < 1 ||
        rq->n_precisions > 2)
        return dy_fail(ctx, DY_ERR_INVALID, "plan tuner: 1 or 2 values each of layout, algorithm and precision");
    if (rq->n < 2 || rq->h < 1 || rq->w < 1 || rq->steps < 0 || rq->steps > 1000)
        return dy_fail(ctx, DY_ERR_INVALID, "plan tuner: a batch of at least 2 images of at least 1x1 pixels, and "
                                            "0 to 1000 steps");
    return DY_OK;
}

dy_status dy_plan_choose(dy_ctx *ctx, const dy_plan_request *rq, dy_plan_result *out) {
    if (!ctx || !rq || !out) return dy_fail(ctx, DY_ERR_INVALID, "plan tuner: NULL argument");
    memset(out, 0, sizeof *out);
    dy_status st = check_request(ctx, rq);
    if (st != DY_OK) return st;
    for (int l = 0; l < rq->n_layouts; l++)
        for (int a = 0; a < rq->n_algos; a++)
            for (int p = 0; p < rq->n_precisions; p++)
                out->timings[out->count++].plan =
                    (dy_run_plan){.layout = rq->layouts[l], .conv_algo = rq->algos[a], .precision = rq->precisions[p]};
    for (int k = 0; k < out->count; k++) out->timings[k].seconds = -1;
    if (out->count == 1) {
        out->chosen = out->timings[0].plan;
    } else {
        char key[2048];
        dy_plan_cache_key(ctx, rq, out, key, sizeof key);
        if (rq->cache_dir) dy_plan_cache_read(ctx, rq->cache_dir, key, out);
        if (!out->from_cache) {
            const dy_layout layout = ctx->layout;
            const dy_conv_algo algo = ctx->conv_algo;
            const int steps = rq->steps ? rq->steps : 3;
            for (int k = 0; k < out->count; k++) time_plan(ctx, rq, steps, &out->timings[k]);
            ctx->layout = layout;
            ctx->conv_algo = algo;
            out->measured = true;
        }
        out->chosen_index = dy_plan_pick(out->timings, out->count);
        if (out->chosen_index < 0)
            return dy_fail(ctx, DY_ERR_UNSUPPORTED, "plan tuner: no candidate plan runs here: %s",
                           out->timings[0].error);
        out->chosen = out->timings[out->chosen_index].plan;
        if (rq->cache_dir && !out->from_cache) dy_plan_cache_write(ctx, rq->cache_dir, key, out);
    }
    st = dy_ctx_set_layout(ctx, out->chosen.layout);
    if (st == DY_OK) st = dy_ctx_set_conv_algo(ctx, out->chosen.conv_algo);
    return st;
}
