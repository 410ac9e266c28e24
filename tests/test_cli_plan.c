/* The plan of a run on the command line (src/cli/plan.c): `--layout auto` (the default) runs the plan tuner before
 * training and prints one line with every candidate's time and the choice, "measured now" the first time and
 * "cached" the next (the cache under $XDG_CACHE_HOME/dystress, one file); config.json records the chosen layout,
 * algorithm and precision and the first metrics row names the plan; `--no-plan-cache` measures and writes
 * nothing; an explicit `--layout nhwc` / `--conv-algo direct` is kept as given, without a tuning line; --resume runs
 * the recorded plan without measuring again; an unknown layout is refused. On a tiny synthetic CIFAR-10 file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_support.h"
#include "testlib.h"
#include "dystress.h"

static char dir[256], data[300], cache[300];

#define COMMON "--data cifar10 --data-dir %s --width 16 --batch-size 16 --epochs 1 --max-steps 2 --knn-every -1 " \
               "--threads 2 --seed 3 --no-report"

static int count_files(const char *d) {
    char out[64];
    if (cli_run(out, sizeof out, "ls -A '%s' 2>/dev/null | wc -l", d) != 0) return -1;
    return atoi(out);
}

/* The value of "key" in a run's config.json, or "". */
static void config_value(const char *run, const char *key, char *value, size_t size) {
    char out[256];
    value[0] = 0;
    if (cli_run(out, sizeof out, "grep -o '\"%s\": \"[a-z0-9]*\"' %s/%s/config.json", key, dir, run) == 0 &&
        sscanf(out, "%*s \"%63[a-z0-9]\"", value) == 1 && strlen(value) < size)
        return;
    value[0] = 0;
}

int main(void) {
    if (!dy_have_dnnl()) {
        printf("skipped: this build has no oneDNN (DNNL=0): the reference ops have one plan\n");
        return test_finish();
    }
    snprintf(dir, sizeof dir, "/tmp/dy_test_cli_plan_XXXXXX");
    if (!CHECK(mkdtemp(dir) != NULL, "temporary folder")) return test_finish();
    snprintf(data, sizeof data, "%s/data", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    char path[512], out[16384], value[64];
    cli_run(out, sizeof out, "mkdir -p %s", data);
    for (int b = 1; b <= 5; b++) { /* the five training batches CIFAR-10 has */
        snprintf(path, sizeof path, "%s/data_batch_%d.bin", data, b);
        cli_write_cifar(path, 4, (uint32_t)b);
    }
    snprintf(path, sizeof path, "%s/test_batch.bin", data);
    cli_write_cifar(path, 4, 2);

    /* the tuner: measured now, then cached */
    int rc = cli_run(out, sizeof out, "XDG_CACHE_HOME=%s ./dystress pretrain " COMMON " --run-dir %s/auto1", cache,
                     data, dir);
    CHECK(rc == 0 && strstr(out, "plan: ") && strstr(out, "blocked direct fp32 ") && strstr(out, "nhwc direct fp32 ") &&
              strstr(out, "measured now"),
          "--layout auto: the tuner timed both layouts and said so: %s", out);
    snprintf(path, sizeof path, "%s/dystress", cache);
    CHECK(count_files(path) == 1, "one cache file in %s (%d)", path, count_files(path));
    char chosen[64] = "";
    const char *plan = strstr(out, "plan: ");
    if (plan) sscanf(plan, "plan: %63s", chosen);
    config_value("auto1", "layout", value, sizeof value);
    CHECK(chosen[0] && !strcmp(value, chosen), "config.json records the chosen layout %s (%s)", chosen, value);
    config_value("auto1", "conv-algo", value, sizeof value);
    CHECK(!strcmp(value, "direct"), "config.json records the convolution algorithm (%s)", value);
    rc = cli_run(out, sizeof out, "head -n 1 %s/auto1/metrics.jsonl | grep -o '\"plan\": \"[a-z0-9 ]*\"'", dir);
    char want[128];
    snprintf(want, sizeof want, "\"plan\": \"%s direct fp32\"", chosen);
    CHECK(rc == 0 && strstr(out, want), "the first metrics row names the plan (%s): %s", want, out);
    rc = cli_run(out, sizeof out, "grep -c '\"plan\"' %s/auto1/metrics.jsonl", dir);
    CHECK(rc == 0 && atoi(out) == 1, "only the first row: %s", out);
    rc = cli_run(out, sizeof out, "XDG_CACHE_HOME=%s ./dystress pretrain " COMMON " --run-dir %s/auto2", cache, data,
                 dir);
    CHECK(rc == 0 && strstr(out, "plan: ") && strstr(out, "cached)"), "the second run reads the cache: %s", out);
    /* resuming runs the recorded plan: nothing measured */
    rc = cli_run(out, sizeof out, "XDG_CACHE_HOME=%s/other ./dystress pretrain --resume --run-dir %s/auto1 "
                 "--max-steps 3", dir, dir);
    CHECK(rc == 0 && !strstr(out, "plan: ") && strstr(out, "resuming after step 2"),
          "--resume: the recorded plan, no tuning: %s", out);
    /* no cache */
    rc = cli_run(out, sizeof out, "XDG_CACHE_HOME=%s/nocache-xdg ./dystress pretrain " COMMON " --no-plan-cache "
                 "--run-dir %s/nocache", dir, data, dir);
    snprintf(path, sizeof path, "%s/nocache-xdg", dir);
    CHECK(rc == 0 && strstr(out, "measured now") && count_files(path) <= 0,
          "--no-plan-cache: measured, nothing written: %s", out);
    /* explicit choices are kept */
    rc = cli_run(out, sizeof out, "XDG_CACHE_HOME=%s ./dystress pretrain " COMMON " --layout nhwc --run-dir %s/nhwc",
                 cache, data, dir);
    CHECK(rc == 0 && !strstr(out, "plan: "), "--layout nhwc: no tuning: %s", out);
    config_value("nhwc", "layout", value, sizeof value);
    CHECK(!strcmp(value, "nhwc"), "--layout nhwc recorded (%s)", value);
    rc = cli_run(out, sizeof out, "head -n 1 %s/nhwc/metrics.jsonl", dir);
    CHECK(strstr(out, "\"plan\": \"nhwc direct fp32\""), "--layout nhwc runs nhwc: %s", out);
    /* the winograd candidates: --conv-algo auto times both algorithms */
    rc = cli_run(out, sizeof out, "XDG_CACHE_HOME=%s ./dystress pretrain " COMMON " --layout blocked --conv-algo auto "
                 "--run-dir %s/algo", cache, data, dir);
    CHECK(rc == 0 && strstr(out, "blocked direct fp32 ") && strstr(out, "blocked winograd fp32 ") &&
              !strstr(out, "nhwc "),
          "--conv-algo auto --layout blocked: the two algorithms in the given layout: %s", out);
    /* refused */
    rc = cli_run(out, sizeof out, "./dystress pretrain " COMMON " --layout nchw --run-dir %s/bad", data, dir);
    CHECK(rc == 2 && strstr(out, "--layout"), "an unknown layout is refused: %s", out);
    cli_run(out, sizeof out, "rm -rf %s", dir);
    return test_finish();
}
