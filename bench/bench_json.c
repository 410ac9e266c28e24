/* Reading a run's metrics.jsonl: the JSON reader (src/io/json.c) the way the report reads it (each line parsed into
 * a tree, its 14 numbers looked up by name), against jansson (Debian's libjansson-dev, when installed: the same
 * work through json_loadb and json_object_get), and the whole report loader (dy_run_data_load) on the file.
 * Usage: bench_json [lines, default 100000] [repetitions, default 3]; the best repetition is printed.
 *
 * The reader the report used before issue 24 (src/report/json_lite.c, which scanned a line's text once per key) is
 * measured by the same program built by hand against a copy of it: its two files from commit 09be090 put as
 * D/json_lite.c and D/inc/report/json_lite.h, then `cc ... -DBENCH_JSON_LITE='"D/json_lite.c"' -ID/inc`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dystress.h"
#include "io/json.h"
#include "report/run_data.h"

#if __has_include(<jansson.h>)
#include <jansson.h>
#define HAVE_JANSSON 1
#endif
#ifdef BENCH_JSON_LITE
#include BENCH_JSON_LITE
#endif

static const char *const keys[14] = {"step", "epoch", "loss", "lr", "pos_sim", "neg_sim", "neg_sim_max", "pos_tau",
                                     "neg_tau", "frac_tau_min", "frac_tau_max", "images_per_s", "tau_min", "tau_max"};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* n lines as dy_run_log_step writes them (with an adaptive profile's bounds), NUL-separated; *bytes counts the
 * newlines they had. */
static char *make_lines(int64_t n, size_t *bytes) {
    size_t cap = (size_t)n * 512, len = 0;
    char *text = malloc(cap);
    if (!text) return NULL;
    for (int64_t s = 1; s <= n; s++) {
        double u = (double)s / (double)n;
        len += (size_t)snprintf(text + len, cap - len,
                                "{\"step\": %lld, \"epoch\": %lld, \"loss\": %.7g, \"lr\": %.7g, \"pos_sim\": %.6g, "
                                "\"neg_sim\": %.6g, \"neg_sim_max\": %.6g, \"pos_tau\": %.6g, \"neg_tau\": %.6g, "
                                "\"frac_tau_min\": %.6g, \"frac_tau_max\": %.6g, \"images_per_s\": %.1f, "
                                "\"tau_min\": %.9g, \"tau_max\": %.9g}",
                                (long long)s, (long long)(s / 390 + 1), 6 - 2 * u + 0.1 * sin((double)s),
                                0.3 * cos(1.57 * u), 0.8 - 0.1 * u, 0.1 + 0.01 * sin((double)s), 0.6, 0.2 - 0.1 * u,
                                0.1, 0.02, 0.1 + 0.5 * u, 900.0 + (double)(s % 7), 0.07 - 0.05 * u, 0.2 - 0.179 * u);
        text[len++] = 0;
    }
    *bytes = len;
    return text;
}

typedef double (*reader)(const char *line, size_t len);

static double read_ours(const char *line, size_t len) {
    static const dy_json_options o = {.nonfinite = true};
    dy_json_doc *doc = NULL;
    double sum = 0, v;
    if (dy_json_parse_with(NULL, NULL, line, len, &o, &doc, NULL) != DY_OK) return NAN;
    for (int k = 0; k < 14; k++)
        if (dy_json_get_number(dy_json_root(doc), keys[k], &v)) sum += v;
    dy_json_free(doc);
    return sum;
}

#ifdef HAVE_JANSSON
static double read_jansson(const char *line, size_t len) {
    json_error_t e;
    json_t *root = json_loadb(line, len, 0, &e);
    double sum = 0;
    if (!root) return NAN;
    for (int k = 0; k < 14; k++) {
        json_t *v = json_object_get(root, keys[k]);
        if (json_is_number(v)) sum += json_number_value(v);
    }
    json_decref(root);
    return sum;
}
#endif

#ifdef BENCH_JSON_LITE
static double read_lite(const char *line, size_t len) {
    double sum = 0, v;
    for (int k = 0; k < 14; k++)
        if (json_lite_get_number(line, keys[k], &v)) sum += v;
    return sum;
}
#endif

/* How each reader answers texts a person gets wrong in a config file (what the error says, or what is accepted). */
static void answers(void) {
    static const char *const texts[] = {"{\"a\": 1, \"a\": 2}", "{\"a\": 1,}", "{\"lr\": 0.1, \"data\": cifar10}",
                                        "{\"s\": \"\\ud800\"}", "[1e999]"};
    printf("answers to texts a person gets wrong:\n");
    for (int i = 0; i < 5; i++) {
        dy_json_doc *doc = NULL;
        dy_json_error e;
        printf("  %-32s io/json: ", texts[i]);
        if (dy_json_parse(NULL, "t", texts[i], strlen(texts[i]), &doc, &e) == DY_OK) printf("accepted");
        else printf("%lld:%lld %s", (long long)e.line, (long long)e.column, e.message);
        dy_json_free(doc);
#ifdef HAVE_JANSSON
        json_error_t je;
        json_t *root = json_loads(texts[i], 0, &je);
        if (root) printf("\n  %-32s jansson: accepted", "");
        else printf("\n  %-32s jansson: %d:%d %s", "", je.line, je.column, je.text);
        json_decref(root);
#endif
        printf("\n");
    }
}

/* Seconds of the best of reps passes over the lines; *check: the sum of every number read (the readers agree). */
static double time_reader(reader fn, const char *text, size_t bytes, int reps, double *check) {
    double best = INFINITY;
    for (int r = 0; r < reps; r++) {
        double t0 = now(), sum = 0;
        for (size_t at = 0; at < bytes;) {
            size_t len = strlen(text + at);
            sum += fn(text + at, len);
            at += len + 1;
        }
        best = fmin(best, now() - t0);
        *check = sum;
    }
    return best;
}

static void report(const char *name, double seconds, int64_t lines, size_t bytes, double check) {
    printf("  %-34s %8.1f ms  %6.1f MB/s  %7.1f k lines/s  (sum %.6e)\n", name, seconds * 1e3,
           (double)bytes / seconds / 1e6, (double)lines / seconds / 1e3, check);
}

int main(int argc, char **argv) {
    int64_t lines = argc > 1 ? atoll(argv[1]) : 100000;
    int reps = argc > 2 ? atoi(argv[2]) : 3;
    if (lines < 1 || reps < 1) {
        fprintf(stderr, "usage: bench_json [lines >= 1] [repetitions >= 1]\n");
        return 2;
    }
    size_t bytes = 0;
    char *text = make_lines(lines, &bytes);
    if (!text) return 1;
    printf("metrics.jsonl of %lld lines, %.1f MB (best of %d):\n", (long long)lines, (double)bytes / 1e6, reps);
    double check = 0, seconds = time_reader(read_ours, text, bytes, reps, &check);
    report("io/json (parse + 14 lookups)", seconds, lines, bytes, check);
#ifdef HAVE_JANSSON
    seconds = time_reader(read_jansson, text, bytes, reps, &check);
    report("jansson (json_loadb + 14 gets)", seconds, lines, bytes, check);
#else
    printf("  jansson: not measured (install libjansson-dev)\n");
#endif
#ifdef BENCH_JSON_LITE
    seconds = time_reader(read_lite, text, bytes, reps, &check);
    report("json_lite (14 scans of the text)", seconds, lines, bytes, check);
#endif
    answers();
    /* the report's whole loader on the file: reading, splitting lines, parsing, the per-step series */
    char dir[64], path[128];
    snprintf(dir, sizeof dir, "/tmp/dystress-bench-json-%d", (int)getpid());
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = mkdir(dir, 0700) == 0 ? fopen(path, "w") : NULL;
    for (size_t at = 0; f && at < bytes; at += strlen(text + at) + 1) fprintf(f, "%s\n", text + at);
    if (f) fclose(f);
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = 1};
    if (f && dy_ctx_create(&ctx, &o) == DY_OK) {
        double best = INFINITY;
        int64_t steps = 0;
        for (int r = 0; r < reps; r++) {
            dy_run_data rd;
            double t0 = now();
            if (dy_run_data_load(ctx, dir, &rd) != DY_OK) break;
            best = fmin(best, now() - t0);
            steps = rd.step.n;
            dy_run_data_free(&rd);
        }
        report("dy_run_data_load (the report)", best, lines, bytes, (double)steps);
        dy_ctx_destroy(ctx);
    }
    unlink(path);
    rmdir(dir);
    free(text);
    return 0;
}
