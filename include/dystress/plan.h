/* dystress — the plan tuner: how the oneDNN backend should run a model on this CPU, measured. Included by dystress.h.
 *
 * A plan is the activation layout (nChw16c blocks or channels-last), the convolution algorithm (direct or Winograd)
 * and the precision (fp32 or bf16). Which is fastest depends on the CPU: oneDNN 2.6 reaches Intel's AMX kernels only
 * through channels-last, while on AVX-512 CPUs without AMX the blocked layout's kernels are usually faster; bf16 gains
 * 1.8x on one CPU and nothing on another. So the tuner does not assume: it times a few training steps (forward and
 * backward) of the real model, batch and thread count under each candidate and keeps the fastest.
 *
 *     dy_plan_request rq = {.model = cfg, .n = 2 * batch, .h = 32, .w = 32};
 *     rq.layouts[rq.n_layouts++] = DY_LAYOUT_BLOCKED;    rq.layouts[rq.n_layouts++] = DY_LAYOUT_NHWC;
 *     rq.algos[rq.n_algos++] = DY_CONV_DIRECT;
 *     rq.precisions[rq.n_precisions++] = DY_PRECISION_FP32; rq.precisions[rq.n_precisions++] = DY_PRECISION_BF16;
 *     char dir[4096];
 *     rq.cache_dir = dy_plan_cache_dir(dir, sizeof dir);  // measured once per CPU, model, batch and threads
 *     dy_plan_result res;
 *     if (dy_plan_choose(ctx, &rq, &res) == DY_OK) cfg.precision = res.chosen.precision;  // ctx has the rest
 *
 * The first candidate (the first layout, algorithm and precision listed) is the baseline: another is chosen only when
 * it is at least DY_PLAN_MARGIN faster, so that measurement noise never trades the baseline for a plan that is no
 * faster (list fp32 first, and `--precision auto` never runs slower than fp32). */
#ifndef DYSTRESS_PLAN_H
#define DYSTRESS_PLAN_H
#include "../dystress.h"
#ifdef __cplusplus
extern "C" {
#endif

#define DY_PLAN_MAX 8        /* candidates: 2 layouts x 2 algorithms x 2 precisions */
#define DY_PLAN_MARGIN 0.03  /* a plan replaces the baseline when at least 3 % faster */

typedef struct {
    dy_layout layout;
    dy_conv_algo conv_algo;
    dy_precision precision;
} dy_run_plan;

typedef struct {
    dy_run_plan plan;
    double seconds;  /* median time of one training forward + backward of the request's batch; < 0: did not run */
    char error[256]; /* why it did not run (bf16 on a CPU without it, ...) */
} dy_plan_timing;

typedef struct {
    dy_model_config model; /* the network (its precision is ignored: the candidates' is used) */
    int64_t n, h, w;       /* images in one training forward (both views of a batch), their height and width */
    int n_layouts, n_algos, n_precisions;
    dy_layout layouts[2];  /* the allowed values, the baseline's first */
    dy_conv_algo algos[2];
    dy_precision precisions[2];
    int steps;             /* timed steps per candidate, after one warm-up step (0: 3); the median counts */
    const char *cache_dir; /* where measurements are kept and looked up (NULL: measured every time) */
} dy_plan_request;

typedef struct {
    dy_run_plan chosen;
    int count;                              /* candidates */
    int chosen_index;
    dy_plan_timing timings[DY_PLAN_MAX];    /* one per candidate, in request order (layout, then algorithm, then
                                               precision varying fastest) */
    bool from_cache;                        /* the timings were read from the cache, not measured now */
    bool measured;                          /* false when there was only one candidate (nothing to measure) */
    char cache_path[4096];                  /* the cache file ("" without a cache) */
    char cache_note[4400];                  /* why the cache was not used or not written ("" when it was) */
} dy_plan_result;

/* Chooses the plan: one candidate is chosen as it is; otherwise the cache (when req->cache_dir is set) is read for
 * this CPU (model name and ISA flags), oneDNN version and ISA, model, batch, image size, thread count and candidate
 * set, and on a miss every candidate is timed on ctx's threads and the result written there (atomically; a cache
 * that cannot be read or written is noted in out->cache_note, never an error). On success ctx's layout and
 * convolution algorithm are set to the chosen plan's (for models created afterwards); the precision is the
 * caller's to put in its model configuration. DY_ERR_INVALID for a malformed request; the first candidate's error
 * when none of them runs. */
DY_API dy_status dy_plan_choose(dy_ctx *ctx, const dy_plan_request *req, dy_plan_result *out);
/* The choice rule: the fastest candidate that ran, unless it is less than DY_PLAN_MARGIN faster than the first
 * (the baseline) and the first ran, then the first. -1 when none ran. */
DY_API int dy_plan_pick(const dy_plan_timing *timings, int count);
/* The user's cache folder: $XDG_CACHE_HOME/dystress, else $HOME/.cache/dystress; NULL when neither is set (or the
 * path does not fit in size bytes). The folder is created when the cache is first written. */
DY_API const char *dy_plan_cache_dir(char *buf, size_t size);
/* "blocked direct fp32": a plan in words, in buf. */
DY_API const char *dy_run_plan_name(const dy_run_plan *p, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
