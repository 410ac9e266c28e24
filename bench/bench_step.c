/* One full SimCLR training step of the engine, timed: ResNet-18 (CIFAR stem, width 64) with the projection head,
 * 3x32x32 images, 128 images per view and two views (256 images through the encoder and head in one batch),
 * forward, the DySTreSS loss (cosine temperature profile 0.07-0.2, include/dystress/loss.h), backward, and one SGD
 * step (momentum 0.9, weight decay 5e-4). Warm-up steps, then timed steps; prints the median images/s, the
 * achieved GFLOP/s and the peak memory, then runs the PyTorch twin bench/bench_step_torch.py (same model, same
 * loss, same optimizer, torch threads = 2) as its users run it (twin.h: tcmalloc; fp32 and bf16 autocast, each with
 * and without channels-last) and prints the ratios. The twin is skipped with a message when /usr/bin/python3 has
 * no torch.
 *
 * FLOPs are counted, not measured: for every convolution and linear layer 2 * MACs forward (MACs = output elements
 * x input channels x kernel area), twice that backward (data gradient and weight gradient), except the first
 * convolution, whose data gradient (d input) is not computed. Batch norm, ReLU, pooling, adds, the loss and SGD
 * are not counted (they are memory-bound and small in FLOPs), so the figure understates the work slightly.
 *
 * Our step runs under each plan (include/dystress/plan.h): the blocked and the channels-last (nhwc) layout, each in
 * fp32 and in bf16 mixed precision (dy_model_config.precision; skipped with a line where the CPU lacks
 * AVX512-BF16), each in its own process, so that each peak RSS is its own; FLOPs are the same count for all. Then
 * the plan tuner, in a process of its own, chooses among the same plans as `--layout auto --precision auto` would
 * (measured afresh, no cache), and its choice's figure is set against the fastest plan's. The header names the CPU
 * and oneDNN's ISA, so that every figure says where it was measured.
 *
 * Usage: bench_step [width] [images per view] [timed steps] [warm-up steps]; DY_BENCH_NO_TWIN=1 skips the twin,
 * DY_BENCH_BACKEND=ref times the reference executor (fp32 only), DY_BENCH_CONV_ALGO=winograd oneDNN's Winograd
 * convolutions where --conv-algo winograd puts them, DY_BENCH_PRECISION=fp32|bf16 and DY_BENCH_LAYOUT=blocked|nhwc
 * run only those of ours, DY_BENCH_NO_TUNE=1 skips the tuner. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dystress.h"
#include "twin.h"
#include "core/context.h"
#include "engine/graph.h"
#include "model/resnet.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Peak resident set (VmHWM) in MiB. */
static double peak_rss_mib(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024.0;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* FLOPs of one training step of cfg's network for n images of size x size (see the header comment). */
static double step_flops(dy_ctx *ctx, const dy_model_config *cfg, int64_t n, int64_t size) {
    dy_graph g;
    dy_graph_init(&g, cfg->in_channels);
    if (dy_resnet_build(ctx, &g, cfg) != DY_OK || dy_head_build(ctx, &g, g.features, cfg->head_hidden,
                                                                cfg->head_out) != DY_OK) {
        dy_graph_free(&g);
        return -1;
    }
    dy_value_shape *s = malloc(sizeof *s * (size_t)(g.n_nodes + 1));
    double total = -1;
    if (s && dy_graph_infer(ctx, &g, size, size, s) == DY_OK) {
        total = 0;
        for (int32_t i = 0; i < g.n_nodes; i++) {
            const dy_node *nd = &g.nodes[i];
            const dy_value_shape in = s[nd->in[0]], out = s[i + 1];
            double macs = 0;
            if (nd->op == DY_OP_CONV2D) macs = (double)n * out.c * out.h * out.w * in.c * nd->kernel_h * nd->kernel_w;
            if (nd->op == DY_OP_LINEAR) macs = (double)n * nd->channels * in.c * in.h * in.w;
            double fwd = 2 * macs;
            total += fwd + fwd /* weight gradient */ + (nd->in[0] == 0 ? 0 : fwd) /* data gradient */;
        }
    }
    free(s);
    dy_graph_free(&g);
    return total;
}

/* Runs the twin in one mode (fp32, fp32-cl, bf16, bf16-cl: bench_step_torch.py) and reads its result line;
 * returns 0 when it ran. */
static int run_twin(const char *mode, int64_t width, int64_t per_view, int steps, int warmup, double *ips,
                    double *gflops, double *peak) {
    char cmd[768], line[512], fmt[128];
    snprintf(cmd, sizeof cmd, "%s/usr/bin/python3 bench/bench_step_torch.py %lld %lld %d %d %s 2>&1", twin_env(),
             (long long)width, (long long)per_view, steps, warmup, mode);
    snprintf(fmt, sizeof fmt, "torch %s median %%lf img/s %%lf GFLOP/s peak RSS %%lf MiB", mode);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    int found = -1;
    while (fgets(line, sizeof line, p)) {
        if (sscanf(line, fmt, ips, gflops, peak) == 3) found = 0;
        else fputs(line, stdout); /* the twin's step times and losses, or its error */
    }
    pclose(p);
    return found;
}

static dy_conv_algo bench_conv_algo(void) {
    const char *algo = getenv("DY_BENCH_CONV_ALGO"); /* "winograd": as --conv-algo winograd */
    return algo && strcmp(algo, "winograd") == 0 ? DY_CONV_WINOGRAD : DY_CONV_DIRECT;
}

/* The timed steps of one plan, in a process of its own (its own peak memory): prints its result line and writes
 * images/s and peak MiB to fd. 0, or 1 on failure (a line says why; an unsupported bf16 is not a failure). */
static int run_plan(dy_run_plan plan, int64_t width, int64_t per_view, int steps, int warmup, int fd) {
    const dy_precision precision = plan.precision;
    const int64_t n = 2 * per_view, size = 32;
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 2, .conv_algo = plan.conv_algo, .layout = plan.layout};
    const char *be = getenv("DY_BENCH_BACKEND"); /* "ref" times the reference executor instead */
    if (be && strcmp(be, "ref") == 0) co.backend = DY_BACKEND_REF;
    if (dy_ctx_create(&ctx, &co) != DY_OK) return fprintf(stderr, "no context\n"), 1;
    char name[64];
    dy_run_plan_name(&plan, name, sizeof name);
    if (dy_precision_check(ctx, precision) != DY_OK) {
        printf("dystress %-20s skipped: %s\n", name, dy_ctx_error(ctx));
        dy_ctx_destroy(ctx);
        return 0;
    }
    dy_model_config cfg = dy_model_config_default();
    cfg.width = width;
    cfg.precision = precision;
    dy_model *m = NULL;
    if (dy_model_create(ctx, &cfg, 1, &m) != DY_OK) return fprintf(stderr, "%s\n", dy_ctx_error(ctx)), 1;
    const int64_t out_dim = dy_model_output_dim(m);
    dy_loss_options lo = dy_loss_defaults(); /* SimCLR form, cosine profile 0.07-0.2, raw projections */
    lo.max_batch = per_view;
    lo.dim = out_dim;
    dy_loss *loss = NULL;
    if (dy_loss_create(ctx, &lo, &loss) != DY_OK) return fprintf(stderr, "%s\n", dy_ctx_error(ctx)), 1;
    int64_t n_params = 0;
    float *params = dy_model_params(m, &n_params), *grads = dy_model_grads(m, NULL);
    float *momentum = calloc((size_t)n_params, sizeof(float)); /* the optimizer's state */
    float *x = malloc(sizeof(float) * (size_t)(n * 3 * size * size));
    float *z = malloc(sizeof(float) * (size_t)(n * out_dim)), *dz = malloc(sizeof(float) * (size_t)(n * out_dim));
    double *times = malloc(sizeof(double) * (size_t)(steps > 0 ? steps : 1));
    if (!x || !z || !dz || !times || !momentum) return fprintf(stderr, "out of memory\n"), 1;
    /* the two views of 128 images: any numbers do for timing; a fixed pattern keeps runs comparable */
    for (int64_t i = 0; i < n * 3 * size * size; i++) x[i] = (float)((i * 7919) % 255) / 127.5f - 1.0f;
    dy_sgd_options so = {.lr = 0.06, .momentum = 0.9, .weight_decay = 5e-4};

    printf("training step: ResNet-18 width %lld (CIFAR stem) + head 512-128, %lld images per view x 2 views, "
           "32x32, DySTreSS loss, SGD; %s backend, plan %s, %d threads\n",
           (long long)width, (long long)per_view, dy_backend_name(dy_ctx_backend(ctx)), name, dy_ctx_threads(ctx));
    double *losses = malloc(sizeof(double) * (size_t)(warmup + steps));
    if (!losses) return fprintf(stderr, "out of memory\n"), 1;
    for (int s = 0; s < warmup + steps; s++) {
        double t0 = now_s();
        float lv = 0;
        dy_status st = dy_model_forward_train(m, x, n, size, size, NULL, z);
        if (st == DY_OK) st = dy_loss_contrastive(loss, ctx, per_view, z, dz, &lv, NULL);
        if (st == DY_OK) st = dy_model_backward(m, dz);
        if (st == DY_OK) st = dy_sgd_step(ctx, &so, params, grads, momentum, n_params, s);
        if (st != DY_OK) return fprintf(stderr, "step %d: %s\n", s, dy_ctx_error(ctx)), 1;
        double t = now_s() - t0;
        if (s >= warmup) times[s - warmup] = t;
        losses[s] = lv;
    }
    qsort(times, (size_t)steps, sizeof *times, cmp_double);
    const double median = steps > 0 ? times[steps / 2] : 0;
    const double flops = step_flops(ctx, &cfg, n, size);
    const double ips = (double)n / median, gflops = flops / median * 1e-9, peak = peak_rss_mib();
    printf("per step %.1f GFLOP (conv + linear, forward 1x + backward 2x); step times (s):", flops * 1e-9);
    for (int s = 0; s < steps; s++) printf(" %.3f", times[s]);
    printf("\nloss per step:");
    for (int s = 0; s < warmup + steps; s++) printf(" %.4f", losses[s]);
    printf("\n");
    printf("dystress %-20s median %7.1f img/s %6.1f GFLOP/s peak RSS %5.0f MiB (executor activations + scratch "
           "%.0f MiB)\n",
           name, ips, gflops, peak, (double)dy_model_memory(m) / (1024.0 * 1024.0));
    fflush(stdout);
    const double result[2] = {ips, peak};
    if (write(fd, result, sizeof result) != (ssize_t)sizeof result) return 1;
    free(x), free(momentum), free(z), free(dz), free(times), free(losses);
    dy_loss_destroy(loss);
    dy_model_destroy(m);
    dy_ctx_destroy(ctx);
    return 0;
}

/* The plan tuner as `--layout auto --precision auto` runs it (no cache), in a process of its own: writes the chosen
 * plan's index among plans[] to fd (-1: none). */
static int run_tuner(const dy_run_plan *plans, int n_plans, int64_t width, int64_t per_view, int fd) {
    dy_ctx *ctx = NULL;
    if (dy_ctx_create(&ctx, &(dy_ctx_options){.threads = 2}) != DY_OK) return 1;
    dy_plan_request rq = {.n = 2 * per_view, .h = 32, .w = 32};
    rq.model = dy_model_config_default();
    rq.model.width = width;
    rq.layouts[rq.n_layouts++] = DY_LAYOUT_BLOCKED;
    rq.layouts[rq.n_layouts++] = DY_LAYOUT_NHWC;
    rq.algos[rq.n_algos++] = bench_conv_algo();
    rq.precisions[rq.n_precisions++] = DY_PRECISION_FP32;
    if (dy_precision_check(ctx, DY_PRECISION_BF16) == DY_OK) rq.precisions[rq.n_precisions++] = DY_PRECISION_BF16;
    dy_plan_result res;
    int chosen = -1;
    char name[64];
    if (dy_plan_choose(ctx, &rq, &res) != DY_OK) {
        printf("plan tuner: %s\n", dy_ctx_error(ctx));
    } else {
        printf("plan tuner (forward + backward, median of 3 after 1 warm-up):");
        for (int k = 0; k < res.count; k++)
            printf("%s %s %.0f ms", k ? "," : "", dy_run_plan_name(&res.timings[k].plan, name, sizeof name),
                   1e3 * res.timings[k].seconds);
        printf("; chosen: %s\n", dy_run_plan_name(&res.chosen, name, sizeof name));
        for (int k = 0; k < n_plans; k++)
            if (!memcmp(&plans[k], &res.chosen, sizeof res.chosen)) chosen = k;
    }
    fflush(stdout);
    dy_ctx_destroy(ctx);
    return write(fd, &chosen, sizeof chosen) == (ssize_t)sizeof chosen ? 0 : 1;
}

/* Runs fn in a child process (forked before this process starts any threads), reading its result from a pipe. */
typedef int child_fn(int fd, void *arg);

static int in_child(child_fn *fn, void *arg, void *result, size_t size) {
    int fds[2];
    if (pipe(fds) != 0) return perror("pipe"), 1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return perror("fork"), 1;
    if (pid == 0) {
        close(fds[0]);
        int rc = fn(fds[1], arg);
        fflush(stdout);
        _exit(rc);
    }
    close(fds[1]);
    const bool got = read(fds[0], result, size) == (ssize_t)size;
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && got ? 0 : 1;
}

typedef struct {
    dy_run_plan plan;
    const dy_run_plan *plans;
    int n_plans;
    int64_t width, per_view;
    int steps, warmup;
} bench_job;

static int plan_child(int fd, void *arg) {
    const bench_job *j = arg;
    return run_plan(j->plan, j->width, j->per_view, j->steps, j->warmup, fd);
}

static int tuner_child(int fd, void *arg) {
    const bench_job *j = arg;
    return run_tuner(j->plans, j->n_plans, j->width, j->per_view, fd);
}

int main(int argc, char **argv) {
    const int64_t width = argc > 1 ? atoll(argv[1]) : 64, per_view = argc > 2 ? atoll(argv[2]) : 128;
    const int steps = argc > 3 ? atoi(argv[3]) : 5, warmup = argc > 4 ? atoi(argv[4]) : 2;
    char cpu[256], flags[256], dnnl[128];
    dy_cpu_describe(cpu, sizeof cpu, flags, sizeof flags);
    dy_dnnl_describe(dnnl, sizeof dnnl);
    printf("CPU: %s (flags: %s); %s\n", cpu, flags, dnnl);
    /* the plans, fp32 first; DY_BENCH_PRECISION / DY_BENCH_LAYOUT keep only those */
    const char *only_precision = getenv("DY_BENCH_PRECISION"), *only_layout = getenv("DY_BENCH_LAYOUT");
    dy_run_plan plans[4];
    double ips_of[4] = {0}, peak_of[4] = {0};
    int n_plans = 0;
    for (int p = 0; p < 2; p++)
        for (int l = 0; l < 2; l++) {
            const dy_run_plan plan = {.layout = l ? DY_LAYOUT_NHWC : DY_LAYOUT_BLOCKED, .conv_algo = bench_conv_algo(),
                                      .precision = p ? DY_PRECISION_BF16 : DY_PRECISION_FP32};
            if (only_precision && *only_precision && strcmp(only_precision, dy_precision_name(plan.precision)) != 0)
                continue;
            if (only_layout && *only_layout && strcmp(only_layout, dy_layout_name(plan.layout)) != 0) continue;
            plans[n_plans++] = plan;
        }
    for (int k = 0; k < n_plans; k++) {
        bench_job job = {.plan = plans[k], .width = width, .per_view = per_view, .steps = steps, .warmup = warmup};
        double result[2] = {0, 0};
        char name[64];
        if (in_child(plan_child, &job, result, sizeof result) != 0)
            return fprintf(stderr, "the %s run failed\n", dy_run_plan_name(&plans[k], name, sizeof name)), 1;
        ips_of[k] = result[0], peak_of[k] = result[1];
    }
    /* the tuner's choice among the same plans (when all four ran), against the fastest of them */
    int fastest = -1, chosen = -1;
    for (int k = 0; k < n_plans; k++)
        if (ips_of[k] > 0 && (fastest < 0 || ips_of[k] > ips_of[fastest])) fastest = k;
    const char *no_tune = getenv("DY_BENCH_NO_TUNE");
    if (n_plans == 4 && ips_of[2] > 0 && !(no_tune && *no_tune)) {
        bench_job job = {.plans = plans, .n_plans = n_plans, .width = width, .per_view = per_view};
        if (in_child(tuner_child, &job, &chosen, sizeof chosen) != 0) chosen = -1;
        char a[64], b[64];
        if (chosen >= 0 && fastest >= 0 && ips_of[chosen] > 0)
            printf("plan tuner's choice %s: %.1f img/s in the step above, %.2fx the fastest plan (%s, %.1f img/s)\n",
                   dy_run_plan_name(&plans[chosen], a, sizeof a), ips_of[chosen], ips_of[chosen] / ips_of[fastest],
                   dy_run_plan_name(&plans[fastest], b, sizeof b), ips_of[fastest]);
    }
    /* the fastest of our plans per precision, for the ratios against torch's best of the same precision */
    double best_ips[2] = {0, 0}, best_ips_peak[2] = {0, 0};
    for (int k = 0; k < n_plans; k++) {
        const int p = plans[k].precision == DY_PRECISION_BF16;
        if (ips_of[k] > best_ips[p]) best_ips[p] = ips_of[k], best_ips_peak[p] = peak_of[k];
    }

    /* PyTorch as its users run it: tcmalloc, with and without channels-last, fp32 and bf16 autocast; each
     * configuration in its own process (its own peak memory), one result line each, then the ratios against the
     * fastest PyTorch configuration of each precision. */
    if (twin_available()) {
        static const char *modes[] = {"fp32", "fp32-cl", "bf16", "bf16-cl"};
        double best[2] = {0, 0}, best_peak[2] = {0, 0};
        for (int i = 0; i < 4; i++) {
            double t_ips = 0, t_gflops = 0, t_peak = 0;
            if (run_twin(modes[i], width, per_view, steps, warmup, &t_ips, &t_gflops, &t_peak) != 0) {
                printf("torch %s gave no result line\n", modes[i]);
                continue;
            }
            printf("torch %-7s median %7.1f img/s %6.1f GFLOP/s peak RSS %5.0f MiB%s\n", modes[i], t_ips, t_gflops,
                   t_peak, *twin_env() ? "" : " (glibc malloc: handicapped)");
            const int bf16 = i >= 2;
            if (t_ips > best[bf16]) best[bf16] = t_ips, best_peak[bf16] = t_peak;
        }
        for (int p = 0; p < 2; p++)
            if (best[p] > 0 && best_ips[p] > 0)
                printf("ratio dystress %s (its fastest plan) / best torch %s: %.2fx images/s; peak RSS %.2fx\n",
                       p ? "bf16" : "fp32", p ? "bf16" : "fp32", best_ips[p] / best[p],
                       best_ips_peak[p] / best_peak[p]);
        const double torch_best = best[0] > best[1] ? best[0] : best[1];
        if (chosen >= 0 && torch_best > 0)
            printf("ratio the plan tuner's choice / torch's best configuration (any precision): %.2fx images/s\n",
                   ips_of[chosen] / torch_best);
    }
    return 0;
}
