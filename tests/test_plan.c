/* The plan tuner (include/dystress/plan.h): the choice rule on given timings; a real tuning of a small ResNet over
 * the layouts (and precisions, where bf16 runs) that times every candidate and keeps the one the rule names, and
 * sets the context; the cache (written on the first tuning, read on the second with the same choice, measured again
 * when the file is corrupt, for another key, or a FIFO, and never hanging on one); a single candidate taken as it
 * is; malformed requests refused. Speed itself is measured by bench/bench_step, not here. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testlib.h"
#include "dystress.h"

static dy_plan_timing timing(dy_layout l, dy_precision p, double seconds) {
    return (dy_plan_timing){.plan = {.layout = l, .conv_algo = DY_CONV_DIRECT, .precision = p}, .seconds = seconds};
}

static void test_pick(void) {
    dy_plan_timing t[4] = {timing(DY_LAYOUT_BLOCKED, DY_PRECISION_FP32, 1.0),
                           timing(DY_LAYOUT_BLOCKED, DY_PRECISION_BF16, 0.6),
                           timing(DY_LAYOUT_NHWC, DY_PRECISION_FP32, 0.9),
                           timing(DY_LAYOUT_NHWC, DY_PRECISION_BF16, 0.5)};
    CHECK(dy_plan_pick(t, 4) == 3, "the fastest of four: %d", dy_plan_pick(t, 4));
    t[3].seconds = -1;
    CHECK(dy_plan_pick(t, 4) == 1, "one did not run: the fastest of those that did (%d)", dy_plan_pick(t, 4));
    t[1].seconds = 0.98, t[2].seconds = 0.985;
    CHECK(dy_plan_pick(t, 4) == 0, "less than DY_PLAN_MARGIN faster than the baseline: the baseline (%d)",
          dy_plan_pick(t, 4));
    t[1].seconds = 0.969;
    CHECK(dy_plan_pick(t, 4) == 1, "more than DY_PLAN_MARGIN faster: taken (%d)", dy_plan_pick(t, 4));
    t[0].seconds = -1;
    CHECK(dy_plan_pick(t, 4) == 1, "the baseline did not run: the fastest (%d)", dy_plan_pick(t, 4));
    for (int k = 0; k < 4; k++) t[k].seconds = -1;
    CHECK(dy_plan_pick(t, 4) == -1, "none ran: -1");
    CHECK(dy_plan_pick(t, 0) == -1, "no candidates: -1");
}

static dy_plan_request small_request(bool with_bf16) {
    dy_plan_request rq = {.n = 8, .h = 12, .w = 12, .steps = 2};
    rq.model = dy_model_config_default();
    rq.model.width = 16;
    rq.model.in_channels = 1;
    rq.model.head_hidden = 32;
    rq.model.head_out = 16;
    rq.layouts[rq.n_layouts++] = DY_LAYOUT_BLOCKED;
    rq.layouts[rq.n_layouts++] = DY_LAYOUT_NHWC;
    rq.algos[rq.n_algos++] = DY_CONV_DIRECT;
    rq.precisions[rq.n_precisions++] = DY_PRECISION_FP32;
    if (with_bf16) rq.precisions[rq.n_precisions++] = DY_PRECISION_BF16;
    return rq;
}

static int count_files(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "ls -A '%s' 2>/dev/null | wc -l", dir);
    FILE *f = popen(cmd, "r");
    int n = -1;
    if (f && fscanf(f, "%d", &n) != 1) n = -1;
    if (f) pclose(f);
    return n;
}

static void test_tuning(dy_ctx *ctx, const char *tmp) {
    const bool bf16 = dy_precision_check(ctx, DY_PRECISION_BF16) == DY_OK;
    if (!bf16) printf("note: bf16 does not run here: layouts only\n");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/cache/dystress", tmp);
    dy_plan_request rq = small_request(bf16);
    rq.cache_dir = dir;
    dy_plan_result a, b, c;
    if (!CHECK(dy_plan_choose(ctx, &rq, &a) == DY_OK, "tuning: %s", dy_ctx_error(ctx))) return;
    CHECK(a.count == (bf16 ? 4 : 2) && a.measured && !a.from_cache, "tuning: %d candidates measured", a.count);
    bool all_ran = true;
    for (int k = 0; k < a.count; k++) all_ran &= a.timings[k].seconds > 0;
    CHECK(all_ran, "tuning: every candidate ran and was timed");
    CHECK(a.chosen_index == dy_plan_pick(a.timings, a.count), "tuning: the choice is the rule's (%d)", a.chosen_index);
    CHECK(dy_ctx_layout(ctx) == a.chosen.layout && dy_ctx_conv_algo(ctx) == a.chosen.conv_algo,
          "tuning: the context has the chosen layout and algorithm");
    CHECK(access(a.cache_path, F_OK) == 0 && !a.cache_note[0], "tuning: the cache file %s written (%s)", a.cache_path,
          a.cache_note);
    /* the second time: from the cache, the same timings and choice, nothing measured */
    dy_ctx_set_layout(ctx, DY_LAYOUT_BLOCKED);
    if (CHECK(dy_plan_choose(ctx, &rq, &b) == DY_OK, "cached: %s", dy_ctx_error(ctx))) {
        CHECK(b.from_cache && !b.measured, "cached: read from the cache, not measured (%s)", b.cache_note);
        CHECK(b.chosen_index == a.chosen_index && dy_ctx_layout(ctx) == a.chosen.layout,
              "cached: the same choice, applied to the context");
        bool same = true;
        for (int k = 0; k < a.count; k++)
            same &= fabs(a.timings[k].seconds - b.timings[k].seconds) <= 1e-8 * a.timings[k].seconds;
        CHECK(same, "cached: the timings read back (9 significant digits)");
    }
    /* another batch size is another key: measured */
    rq.n = 6;
    if (CHECK(dy_plan_choose(ctx, &rq, &c) == DY_OK, "another batch: %s", dy_ctx_error(ctx)))
        CHECK(c.measured && !c.from_cache && strcmp(c.cache_path, a.cache_path) != 0,
              "another batch: measured, in its own cache file");
    CHECK(count_files(dir) == 2, "two keys: two cache files (%d)", count_files(dir));
    rq.n = 8;
    /* a corrupt file: measured again with a note, and rewritten */
    const char *garbage[] = {"garbage\n", "dystress plan cache 1\nkey other\n",
                             "dystress plan cache 1\nkey x\nplan nhwc direct fp32 nan\n"};
    for (size_t g = 0; g < sizeof garbage / sizeof garbage[0]; g++) {
        FILE *f = fopen(a.cache_path, "w");
        if (f) fputs(garbage[g], f), fclose(f);
        if (CHECK(dy_plan_choose(ctx, &rq, &b) == DY_OK, "corrupt cache %zu: %s", g, dy_ctx_error(ctx))) {
            CHECK(b.measured && !b.from_cache && strstr(b.cache_note, "measured again"),
                  "corrupt cache %zu: measured again, said so (%s)", g, b.cache_note);
            dy_plan_result d;
            CHECK(dy_plan_choose(ctx, &rq, &d) == DY_OK && d.from_cache, "corrupt cache %zu: rewritten", g);
        }
    }
    /* a FIFO where the cache file goes: refused without blocking, measured */
    unlink(a.cache_path);
    if (CHECK(mkfifo(a.cache_path, 0600) == 0, "mkfifo: %s", strerror(errno))) {
        if (CHECK(dy_plan_choose(ctx, &rq, &b) == DY_OK, "FIFO: %s", dy_ctx_error(ctx)))
            CHECK(b.measured && strstr(b.cache_note, "not read") && strstr(b.cache_note, "not written"),
                  "FIFO: neither read nor replaced, measured (%s)", b.cache_note);
        unlink(a.cache_path);
    }
    /* no cache folder: measured every time, nothing written */
    rq.cache_dir = NULL;
    if (CHECK(dy_plan_choose(ctx, &rq, &b) == DY_OK, "no cache: %s", dy_ctx_error(ctx)))
        CHECK(b.measured && !b.cache_path[0], "no cache: measured, no file");
}

static void test_single_and_invalid(dy_ctx *ctx, const char *tmp) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/single", tmp);
    dy_plan_request rq = small_request(false);
    rq.n_layouts = 1;
    rq.layouts[0] = DY_LAYOUT_NHWC;
    rq.cache_dir = dir;
    dy_plan_result r;
    if (CHECK(dy_plan_choose(ctx, &rq, &r) == DY_OK, "single: %s", dy_ctx_error(ctx)))
        CHECK(r.count == 1 && !r.measured && r.chosen.layout == DY_LAYOUT_NHWC && dy_ctx_layout(ctx) == DY_LAYOUT_NHWC,
              "single candidate: taken as it is, not measured, applied");
    CHECK(count_files(dir) <= 0, "single candidate: no cache written");
    rq.n_layouts = 0;
    CHECK(dy_plan_choose(ctx, &rq, &r) == DY_ERR_INVALID, "no layout: refused");
    rq = small_request(false);
    rq.n = 1;
    CHECK(dy_plan_choose(ctx, &rq, &r) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "at least 2"),
          "a batch of 1: refused (%s)", dy_ctx_error(ctx));
    CHECK(dy_plan_choose(ctx, NULL, &r) == DY_ERR_INVALID, "NULL request: refused");
    CHECK(dy_ctx_set_layout(ctx, (dy_layout)7) == DY_ERR_INVALID, "unknown layout: refused");
}

static void test_cache_dir(void) {
    char buf[4096];
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *saved_xdg = xdg ? strdup(xdg) : NULL, *saved_home = home ? strdup(home) : NULL;
    setenv("XDG_CACHE_HOME", "/x/cache", 1);
    CHECK(dy_plan_cache_dir(buf, sizeof buf) && !strcmp(buf, "/x/cache/dystress"), "XDG_CACHE_HOME: %s", buf);
    setenv("XDG_CACHE_HOME", "relative", 1);
    setenv("HOME", "/home/u", 1);
    CHECK(dy_plan_cache_dir(buf, sizeof buf) && !strcmp(buf, "/home/u/.cache/dystress"),
          "relative XDG_CACHE_HOME ignored: HOME's .cache");
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    CHECK(dy_plan_cache_dir(buf, sizeof buf) == NULL, "neither: no cache folder");
    if (saved_xdg) setenv("XDG_CACHE_HOME", saved_xdg, 1);
    if (saved_home) setenv("HOME", saved_home, 1);
    free(saved_xdg), free(saved_home);
}

int main(void) {
    test_pick();
    test_cache_dir();
    if (!dy_have_dnnl()) {
        printf("skipped: tuning (this build has no oneDNN: one backend, nothing to choose)\n");
        return test_finish();
    }
    char tmp[] = "/tmp/dy_test_plan_XXXXXX";
    if (!CHECK(mkdtemp(tmp) != NULL, "temporary folder")) return test_finish();
    dy_ctx *ctx = NULL;
    if (CHECK(dy_ctx_create(&ctx, &(dy_ctx_options){.backend = DY_BACKEND_DNNL}) == DY_OK, "context")) {
        test_tuning(ctx, tmp);
        test_single_and_invalid(ctx, tmp);
        dy_ctx_destroy(ctx);
    }
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) printf("note: could not remove %s\n", tmp);
    return test_finish();
}
