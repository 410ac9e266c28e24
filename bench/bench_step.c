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
 * Our step runs in fp32 and in bf16 mixed precision (dy_model_config.precision; skipped with a line where the CPU
 * lacks AVX512-BF16), each in its own process, so that each peak RSS is its own; FLOPs are the same count for both.
 *
 * Usage: bench_step [width] [images per view] [timed steps] [warm-up steps]; DY_BENCH_NO_TWIN=1 skips the twin,
 * DY_BENCH_BACKEND=ref times the reference executor (fp32 only), DY_BENCH_CONV_ALGO=winograd oneDNN's Winograd
 * convolutions where --conv-algo winograd puts them, DY_BENCH_PRECISION=fp32|bf16 runs one of ours. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dystress.h"
#include "twin.h"
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
            if (nd->op == DY_OP_CONV2D) macs = (double)n * out.c * out.h * out.w * in.c * nd->kernel * nd->kernel;
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

/* The timed steps of one precision, in a process of its own (its own peak memory): prints its result line and
 * writes images/s and peak MiB to fd. 0, or 1 on failure (a line says why; an unsupported bf16 is not a failure). */
static int run_precision(dy_precision precision, int64_t width, int64_t per_view, int steps, int warmup, int fd) {
    const int64_t n = 2 * per_view, size = 32;
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 2};
    const char *be = getenv("DY_BENCH_BACKEND"); /* "ref" times the reference executor instead */
    if (be && strcmp(be, "ref") == 0) co.backend = DY_BACKEND_REF;
    const char *algo = getenv("DY_BENCH_CONV_ALGO"); /* "winograd": as --conv-algo winograd */
    if (algo && strcmp(algo, "winograd") == 0) co.conv_algo = DY_CONV_WINOGRAD;
    if (dy_ctx_create(&ctx, &co) != DY_OK) return fprintf(stderr, "no context\n"), 1;
    if (dy_precision_check(ctx, precision) != DY_OK) {
        printf("dystress %s    skipped: %s\n", dy_precision_name(precision), dy_ctx_error(ctx));
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
           "32x32, DySTreSS loss, SGD; %s backend, %s, %d threads\n",
           (long long)width, (long long)per_view, dy_backend_name(dy_ctx_backend(ctx)), dy_precision_name(precision),
           dy_ctx_threads(ctx));
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
    printf("dystress %s    median %7.1f img/s %6.1f GFLOP/s peak RSS %5.0f MiB (executor activations + scratch "
           "%.0f MiB)\n",
           dy_precision_name(precision), ips, gflops, peak, (double)dy_model_memory(m) / (1024.0 * 1024.0));
    fflush(stdout);
    const double result[2] = {ips, peak};
    if (write(fd, result, sizeof result) != (ssize_t)sizeof result) return 1;
    free(x), free(momentum), free(z), free(dz), free(times), free(losses);
    dy_loss_destroy(loss);
    dy_model_destroy(m);
    dy_ctx_destroy(ctx);
    return 0;
}

int main(int argc, char **argv) {
    const int64_t width = argc > 1 ? atoll(argv[1]) : 64, per_view = argc > 2 ? atoll(argv[2]) : 128;
    const int steps = argc > 3 ? atoi(argv[3]) : 5, warmup = argc > 4 ? atoi(argv[4]) : 2;
    /* fp32, then bf16 (DY_BENCH_PRECISION=fp32 or bf16: only that one), each in a child process forked before
     * anything starts threads, so that each peak RSS is its own */
    const char *only = getenv("DY_BENCH_PRECISION");
    double ips_of[2] = {0, 0}, peak_of[2] = {0, 0};
    fflush(stdout);
    for (int p = 0; p < 2; p++) {
        const dy_precision precision = p ? DY_PRECISION_BF16 : DY_PRECISION_FP32;
        if (only && *only && strcmp(only, dy_precision_name(precision)) != 0) continue;
        int fds[2];
        if (pipe(fds) != 0) return perror("pipe"), 1;
        pid_t pid = fork();
        if (pid < 0) return perror("fork"), 1;
        if (pid == 0) {
            close(fds[0]);
            int rc = run_precision(precision, width, per_view, steps, warmup, fds[1]);
            fflush(stdout);
            _exit(rc);
        }
        close(fds[1]);
        double result[2];
        if (read(fds[0], result, sizeof result) == (ssize_t)sizeof result)
            ips_of[p] = result[0], peak_of[p] = result[1];
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fprintf(stderr, "the %s run failed\n",
                                                                         dy_precision_name(precision)), 1;
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
            if (best[p] > 0 && ips_of[p] > 0)
                printf("ratio dystress %s / best torch %s: %.2fx images/s; peak RSS %.2fx\n", p ? "bf16" : "fp32",
                       p ? "bf16" : "fp32", ips_of[p] / best[p], peak_of[p] / best_peak[p]);
    }
    return 0;
}
