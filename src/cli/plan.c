/* The plan of a pretraining run (cli_choose_plan in config.h): the user's fixed choices kept, the rest measured by
 * the library's plan tuner (include/dystress/plan.h), one line printed, the choice written back into the options. */
#include <stdio.h>
#include <string.h>

#include "cli/config.h"

/* The candidates of one setting: the user's value alone, or (auto) both, the default first. */
static void layouts(const run_options *o, dy_plan_request *rq) {
    if (strcmp(o->layout, "nhwc") != 0) rq->layouts[rq->n_layouts++] = DY_LAYOUT_BLOCKED;
    if (strcmp(o->layout, "blocked") != 0) rq->layouts[rq->n_layouts++] = DY_LAYOUT_NHWC;
}

static void algos(const run_options *o, dy_plan_request *rq) {
    if (strcmp(o->conv_algo, "winograd") != 0) rq->algos[rq->n_algos++] = DY_CONV_DIRECT;
    if (strcmp(o->conv_algo, "direct") != 0) rq->algos[rq->n_algos++] = DY_CONV_WINOGRAD;
}

int cli_choose_plan(dy_ctx *ctx, run_options *o, dy_pretrain_config *cfg, int procs, bool print) {
    if (dy_ctx_backend(ctx) != DY_BACKEND_DNNL) { /* the reference ops have one way to run */
        o->layout = "blocked";
        if (!strcmp(o->conv_algo, "auto")) o->conv_algo = "direct";
        return 0;
    }
    dy_plan_request rq = {.model = cfg->model, .h = cfg->augment.size[0], .w = cfg->augment.size[1]};
    const int64_t local = cfg->batch_size / (procs > 0 ? procs : 1);
    /* SimCLR runs both views through the encoder in one batch; MoCo each view through its own encoder */
    rq.n = cfg->framework == DY_FRAMEWORK_SIMCLR ? 2 * local : local;
    if (rq.n < 2) rq.n = 2;
    layouts(o, &rq);
    algos(o, &rq);
    /* fp32 first: the baseline a bf16 plan must beat (--precision auto never runs slower than fp32) */
    if (o->precision_auto && procs <= 1) rq.precisions[rq.n_precisions++] = DY_PRECISION_FP32;
    rq.precisions[rq.n_precisions++] = cfg->model.precision;
    if (procs > 1 && rq.n_layouts * rq.n_algos > 1) {
        /* Several processes would each measure (on shared cores, at once) and could choose differently; they take
         * the defaults instead, the same everywhere. */
        rq.n_layouts = rq.n_algos = 1;
        if (print) fprintf(stderr, "note: under mpirun the plan is not measured: %s layout, %s convolutions (give "
                           "--layout and --conv-algo to choose)\n", dy_layout_name(rq.layouts[0]),
                           dy_conv_algo_name(rq.algos[0]));
    }
    char dir[4096];
    rq.cache_dir = o->plan_cache ? dy_plan_cache_dir(dir, sizeof dir) : NULL;
    dy_plan_result res;
    if (dy_plan_choose(ctx, &rq, &res) != DY_OK) {
        fprintf(stderr, "dystress: choosing the plan: %s\n", dy_ctx_error(ctx));
        return 1;
    }
    cfg->model.precision = res.chosen.precision;
    o->precision = dy_precision_name(res.chosen.precision);
    o->layout = dy_layout_name(res.chosen.layout);
    o->conv_algo = dy_conv_algo_name(res.chosen.conv_algo);
    if (!print || res.count == 1) return 0;
    char line[2048], name[64];
    size_t used = (size_t)snprintf(line, sizeof line, "plan: %s (", dy_run_plan_name(&res.chosen, name, sizeof name));
    for (int k = 0; k < res.count && used < sizeof line; k++) {
        const dy_plan_timing *t = &res.timings[k];
        dy_run_plan_name(&t->plan, name, sizeof name);
        if (t->seconds >= 0)
            used += (size_t)snprintf(line + used, sizeof line - used, "%s%s %.0f ms", k ? ", " : "", name,
                                     1e3 * t->seconds);
        else
            used += (size_t)snprintf(line + used, sizeof line - used, "%s%s did not run", k ? ", " : "", name);
    }
    if (used < sizeof line)
        snprintf(line + used, sizeof line - used, " per step of %lld images; %s)", (long long)rq.n,
                 res.from_cache ? "cached" : "measured now");
    fprintf(stderr, "%s\n", line);
    if (res.cache_note[0]) fprintf(stderr, "note: %s\n", res.cache_note);
    return 0;
}
