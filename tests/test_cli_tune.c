/* dystress tune end to end on a tiny synthetic CIFAR-10-format set WITHOUT a test file (so the validation split
 * cannot touch test data: the test split is not even opened): the promotion schedule is what plan.json claims
 * (result files per rung, their budgets and steps), a tune stopped after its first rung resumes without redoing
 * finished trials (their files keep their mtimes), best.json loads in pretrain --config; and the adaptive profile:
 * its bounds move, and a resumed run equals an uninterrupted one byte for byte; a tune of an unlabelled folder of
 * images runs to its end ranked by RankMe (--score auto), and --score knn is refused there; --sampler tpe runs
 * brackets one after another. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_support.h"
#include "core/rng.h"
#include "io/png_write.h"
#include "dystress.h"
#include "testlib.h"

static char dir[256], data[300];

/* The synthetic CIFAR-10 file name in the data folder (cli_support.h). */
static void write_cifar(const char *name, int per_class, uint32_t stream) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", data, name);
    cli_write_cifar(path, per_class, stream);
}


static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool exists(const char *fmt, ...) {
    char path[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(path, sizeof path, fmt, ap);
    va_end(ap);
    return access(path, F_OK) == 0;
}

static double mtime_of(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return -1;
    return (double)sb.st_mtim.tv_sec + 1e-9 * (double)sb.st_mtim.tv_nsec;
}

/* The text of a small file (NUL-terminated, in buf). */
static const char *slurp(char *buf, size_t size, const char *path) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
    return buf;
}

static bool same_file(const char *a, const char *b) {
    static char x[1 << 20], y[1 << 20];
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    size_t na = fa ? fread(x, 1, sizeof x, fa) : 0, nb = fb ? fread(y, 1, sizeof y, fb) : 0;
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return fa && fb && na == nb && na > 0 && !memcmp(x, y, na);
}

#define BASE "--data cifar10 --data-dir %s --width 4 --batch-size 32 --lr 0.1 --momentum 0.9 --knn-k 20 " \
             "--threads 2 --loader-threads 1 --seed 3"
#define TUNE BASE " --val-size 40 --trials 4 --eta 2 --rungs 2 --tune-dir %s/tune"

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/dystress-tune-test-%d", (int)getpid());
    snprintf(data, sizeof data, "%s/cifar", dir);
    char cmd[4096], out[32768], path[1024], text[16384];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", data);
    if (system(cmd) != 0) return 1;
    for (int b = 1; b <= 5; b++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        write_cifar(name, 4, (uint32_t)b); /* 200 training images; no test_batch.bin at all */
    }

    /* 1. the first rung only: 4 trials at 1 epoch, each scored on the validation split */
    int rc = cli_run(out, sizeof out, "./dystress tune " TUNE " --stop-after-rung 1", data, dir);
    CHECK(rc == 0, "tune --stop-after-rung 1 exits 0 without a test file (got %d): %s", rc, out);
    CHECK(strstr(out, "4 at 1 epochs, 2 at 2 epochs") != NULL, "the schedule is announced: 4 at 1, 2 at 2");
    int r1 = 0, r2 = 0;
    for (int i = 0; i < 4; i++) r1 += exists("%s/tune/trials/t%02d/val-knn-r1.json", dir, i),
                                r2 += exists("%s/tune/trials/t%02d/val-knn-r2.json", dir, i);
    CHECK(r1 == 4 && r2 == 0, "rung 1: 4 results, rung 2: none yet (got %d, %d)", r1, r2);
    snprintf(path, sizeof path, "%s/tune/split.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "\"val_size\": 40") && strstr(text, "\"train_size\": 160") &&
              strstr(text, "\"test_split\": \"not opened\"") && strstr(text, "val_indices_fnv1a64"),
          "split.json records sizes, seed and fingerprints: %s", text);
    snprintf(path, sizeof path, "%s/tune/plan.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "{\"rung\": 1, \"trials\": 4, \"budget\": 1}") &&
              strstr(text, "{\"rung\": 2, \"trials\": 2, \"budget\": 2}"), "plan.json: 4@1, 2@2: %s", text);
    CHECK(strstr(text, "\"family\": \"cosine\", \"tau\": 0, \"tau_min\": 0.07") != NULL,
          "plan.json starts with the paper's cosine anchor");
    /* the base configuration holds the defaults of the options no trial's family sets (was: the values the last
     * candidate checked left there, e.g. a sampled constant's tau beside the cosine anchor) */
    CHECK(strstr(text, "\"tau=0.2\"") && strstr(text, "\"shift-offset=-0.4\"") &&
              strstr(text, "\"shift-scale=0.7\"") && strstr(text, "\"tau-min=0.07\""),
          "plan.json's base keeps the default tau, offset and scale: %s", strstr(text, "\"base\"") ?
          strstr(text, "\"base\"") : text);
    double before[4], log_before[4];
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/tune/trials/t%02d/val-knn-r1.json", dir, i);
        before[i] = mtime_of(path);
        snprintf(path, sizeof path, "%s/tune/trials/t%02d.log", dir, i);
        log_before[i] = mtime_of(path);
    }
    snprintf(path, sizeof path, "%s/tune/trials/t00/config.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "\"val-size\": 40") && strstr(text, "\"epochs\": 1"), "a trial is a pretrain run with the "
          "validation split and the rung's epochs");

    /* 2. the same command without the stop: rung 1 is kept, rung 2 runs the best 2 */
    usleep(20000);
    rc = cli_run(out, sizeof out, "./dystress tune " TUNE, data, dir);
    CHECK(rc == 0, "the rerun finishes the tune (got %d): %s", rc, out);
    CHECK(strstr(out, "rung 1: 4 of 4 trials finished before, kept") != NULL, "rung 1 is not redone: %s", out);
    CHECK(strstr(out, "2 trial runs this time, 4 kept from before") != NULL, "2 runs this time, 4 kept");
    int unchanged = 0, logs_unchanged = 0;
    r2 = 0;
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/tune/trials/t%02d/val-knn-r1.json", dir, i);
        unchanged += mtime_of(path) == before[i];
        snprintf(path, sizeof path, "%s/tune/trials/t%02d.log", dir, i);
        logs_unchanged += mtime_of(path) == log_before[i];
        if (exists("%s/tune/trials/t%02d/val-knn-r2.json", dir, i)) {
            r2++;
            snprintf(path, sizeof path, "%s/tune/trials/t%02d/val-knn-r2.json", dir, i);
            slurp(text, sizeof text, path);
            /* 160 training images, batch 32: 5 steps an epoch; rung 2 continues to 2 epochs */
            CHECK(strstr(text, "\"budget\": 2") && strstr(text, "\"step\": 10"), "rung 2 trained to step 10: %s",
                  text);
            CHECK(strstr(text, "\"val_top1\": ") && strstr(text, "\"val_rankme\": "), "a labelled trial records "
                  "kNN top-1 and RankMe: %s", text);
            snprintf(path, sizeof path, "%s/tune/trials/t%02d.log", dir, i);
            slurp(text, sizeof text, path);
            CHECK(strstr(text, "resuming after step 5") != NULL, "the promotion continued from the checkpoint");
        }
    }
    CHECK(unchanged == 4, "the 4 rung-1 results kept their mtimes (%d did)", unchanged);
    CHECK(logs_unchanged == 2, "the 2 trials not promoted were not run again (%d logs untouched)", logs_unchanged);
    CHECK(r2 == 2, "rung 2 has 2 results (got %d)", r2);
    CHECK(strstr(out, "rank") && strstr(out, "val top-1") && strstr(out, "best: t"), "the leaderboard is printed");
    CHECK(exists("%s/tune/leaderboard.json", dir) && exists("%s/tune/best.json", dir), "leaderboard.json, best.json");
    rc = cli_run(out, sizeof out, "./dystress tune " TUNE, data, dir);
    CHECK(rc == 0 && strstr(out, "0 trial runs this time, 6 kept"), "a third run redoes nothing: %s", out);
    rc = cli_run(out, sizeof out, "./dystress tune " TUNE " --eta 3", data, dir);
    CHECK(rc == 2 && strstr(out, "holds another tune"), "another tune in the same directory refused: %s", out);
    rc = cli_run(out, sizeof out, "./dystress tune " TUNE " --profile const", data, dir);
    CHECK(rc == 2 && strstr(out, "--profile is not an option of tune"), "a searched option refused: %s", out);

    /* 3. best.json in pretrain --config: the winner's profile, on the whole training set (now a test file too) */
    write_cifar("test_batch.bin", 4, 99);
    rc = cli_run(out, sizeof out, "./dystress pretrain --config %s/tune/best.json --epochs 1 --max-steps 2 "
             "--threads 2 --run-dir %s/final", dir, dir);
    CHECK(rc == 0, "pretrain --config best.json runs (got %d): %s", rc, out);
    snprintf(path, sizeof path, "%s/tune/leaderboard.json", dir);
    slurp(text, sizeof text, path);
    char profile[32] = "";
    const char *p = strstr(text, "\"profile\": \"");
    if (p) sscanf(p + 12, "%31[a-z]", profile);
    snprintf(path, sizeof path, "%s/final/config.json", dir);
    slurp(text, sizeof text, path);
    char want[64];
    snprintf(want, sizeof want, "\"profile\": \"%s\"", profile);
    CHECK(*profile && strstr(text, want) && strstr(text, "\"val-size\": 0") && strstr(text, "\"width\": 4"),
          "the run has the winner's profile (%s), the base options and no validation split", profile);

    /* 4. the adaptive profile: the bounds move, and a resumed run equals an uninterrupted one */
    const char *adapt = "--tau-adapt band --tau-band-low 0.1 --tau-band-high 0.2 --tau-adapt-rate 0.05 --epochs 2 "
                        "--knn-every -1 --no-report";
    rc = cli_run(out, sizeof out, "./dystress pretrain " BASE " %s --run-dir %s/adapt-a", data, adapt, dir);
    CHECK(rc == 0, "adaptive run (got %d): %s", rc, out);
    snprintf(path, sizeof path, "%s/adapt-a/metrics.jsonl", dir);
    slurp(text, sizeof text, path);
    const char *first = strstr(text, "\"tau_min\": "), *last = NULL;
    for (const char *q = first; q; q = strstr(q + 1, "\"tau_min\": ")) last = q;
    double tmin0 = first ? atof(first + 11) : -1, tmin1 = last ? atof(last + 11) : -1;
    CHECK(first && fabs(tmin0 - 0.07) < 1e-6 && fabs(tmin1 - tmin0) > 1e-6, "metrics log the bounds; tau_min moved from %g to %g", tmin0,
          tmin1);
    rc = cli_run(out, sizeof out, "./dystress pretrain " BASE " %s --max-steps 7 --run-dir %s/adapt-b", data, adapt,
                 dir);
    CHECK(rc == 0, "first part (got %d): %s", rc, out);
    rc = cli_run(out, sizeof out, "./dystress pretrain --resume --threads 2 --run-dir %s/adapt-b", dir);
    CHECK(rc == 0 && strstr(out, "resuming after step 7"), "resumed after step 7: %s", out);
    char fa[600], fb[600];
    snprintf(fa, sizeof fa, "%s/adapt-a/checkpoint-final.safetensors", dir);
    snprintf(fb, sizeof fb, "%s/adapt-b/checkpoint-final.safetensors", dir);
    CHECK(same_file(fa, fb), "the resumed adaptive run equals the uninterrupted one byte for byte");
    rc = cli_run(out, sizeof out, "./dystress pretrain " BASE " --profile const --tau-adapt band --run-dir %s/adapt-c",
             data, dir);
    CHECK(rc == 2 && strstr(out, "cosine or shifted"), "--tau-adapt with the constant profile refused: %s", out);

    /* 5. issue 25: a temperature schedule from the command line: logged, in config.json, resumed exactly; a file
     * schedule replays the adaptive run's bounds (tools/tau_schedule_from_metrics.py writes such a file); tune's
     * annealed family runs constants on a schedule */
    const char *sched = "--profile const --tau 0.2 --tau-schedule cosine --tau-end 0.02 --epochs 2 --knn-every -1 "
                        "--no-report";
    rc = cli_run(out, sizeof out, "./dystress pretrain " BASE " %s --run-dir %s/sched-a", data, sched, dir);
    CHECK(rc == 0 && strstr(out, "const profile on a cosine schedule"), "scheduled run (got %d): %s", rc, out);
    snprintf(path, sizeof path, "%s/sched-a/metrics.jsonl", dir);
    slurp(text, sizeof text, path);
    first = strstr(text, "\"tau\": "), last = NULL;
    for (const char *q = first; q; q = strstr(q + 1, "\"tau\": ")) last = q;
    CHECK(first && last && (float)atof(first + 7) == 0.2f && fabs(atof(last + 7) - 0.02) < 1e-8,
          "metrics log tau from 0.2 to 0.02 (%g, %g)", first ? atof(first + 7) : -1, last ? atof(last + 7) : -1);
    snprintf(path, sizeof path, "%s/sched-a/config.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "\"tau-schedule\": \"cosine\"") && strstr(text, "\"tau-end\": 0.02"),
          "config.json records the schedule");
    rc = cli_run(out, sizeof out, "./dystress pretrain " BASE " %s --max-steps 5 --run-dir %s/sched-b", data, sched,
                 dir);
    CHECK(rc == 0, "first part (got %d): %s", rc, out);
    rc = cli_run(out, sizeof out, "./dystress pretrain --resume --threads 2 --run-dir %s/sched-b --tau-end 0.03", dir);
    CHECK(rc == 2 && strstr(out, "--tau-end cannot change when resuming"), "the schedule cannot change on resume: %s",
          out);
    rc = cli_run(out, sizeof out, "./dystress pretrain --resume --threads 2 --run-dir %s/sched-b", dir);
    CHECK(rc == 0 && strstr(out, "resuming after step 5"), "resumed after step 5: %s", out);
    snprintf(fa, sizeof fa, "%s/sched-a/checkpoint-final.safetensors", dir);
    snprintf(fb, sizeof fb, "%s/sched-b/checkpoint-final.safetensors", dir);
    CHECK(same_file(fa, fb), "the resumed scheduled run equals the uninterrupted one byte for byte");
    /* the adaptive run's bounds as a file, replayed by a fixed cosine profile */
    bool python = cli_run(NULL, 0, "command -v python3 >/dev/null") == 0;
    if (!python) printf("note: no python3 here: the replay of an adaptive run's bounds is not tested\n");
    else rc = cli_run(out, sizeof out, "python3 tools/tau_schedule_from_metrics.py %s/adapt-a/metrics.jsonl -o "
                      "%s/replay.csv", dir, dir);
    if (python && rc == 0) {
        rc = cli_run(out, sizeof out, "./dystress pretrain " BASE " --tau-schedule file --tau-schedule-file "
                     "%s/replay.csv --epochs 2 --knn-every -1 --no-report --run-dir %s/replay", data, dir, dir);
        CHECK(rc == 0, "a cosine profile replays the adaptive run's bounds (got %d): %s", rc, out);
        char adapt_rows[16384];
        snprintf(path, sizeof path, "%s/adapt-a/metrics.jsonl", dir);
        slurp(adapt_rows, sizeof adapt_rows, path);
        snprintf(path, sizeof path, "%s/replay/metrics.jsonl", dir);
        slurp(text, sizeof text, path);
        /* the levels of every step, as both runs logged them */
        bool same = true;
        int rows = 0;
        for (const char *x = strstr(adapt_rows, "\"tau_min\": "), *y = strstr(text, "\"tau_min\": "); x || y;
             x = strstr(x + 1, "\"tau_min\": "), y = strstr(y + 1, "\"tau_min\": "), rows++) {
            if (!x || !y) {
                same = false;
                break;
            }
            same &= (float)atof(x + 11) == (float)atof(y + 11);
            const char *xm = strstr(x, "\"tau_max\": "), *ym = strstr(y, "\"tau_max\": ");
            same &= xm && ym && (float)atof(xm + 11) == (float)atof(ym + 11);
        }
        CHECK(same && rows > 10, "the replay's bounds equal the adaptive run's at each of its %d steps", rows);
    } else if (python) {
        CHECK(false, "tools/tau_schedule_from_metrics.py ran: %s", out);
    }
    rc = cli_run(out, sizeof out, "./dystress tune " BASE " --val-size 40 --trials 2 --eta 2 --rungs 1 --families "
                 "const,annealed --no-anchors --end-ratio-range 0.1,0.1 --tune-dir %s/tune-annealed", data, dir);
    CHECK(rc == 0, "a tune over const and annealed runs (got %d): %s", rc, out);
    snprintf(path, sizeof path, "%s/tune-annealed/plan.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "\"family\": \"annealed\"") && strstr(text, "\"end_ratio\": 0.10000000000000001"),
          "plan.json lists the annealed candidate with its end ratio");
    snprintf(path, sizeof path, "%s/tune-annealed/trials/t01/config.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "\"profile\": \"const\"") && strstr(text, "\"tau-schedule\": \"cosine\"") &&
              strstr(text, "\"tau-end-ratio\": 0.1"), "the annealed trial trains a const profile on a cosine schedule "
          "to 0.1 of its tau");
    snprintf(path, sizeof path, "%s/tune-annealed/trials/t00/config.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "\"tau-schedule\": \"constant\""), "the const trial has no schedule");

    /* 6. no labels: a folder of images (no class sub-folders) tunes by RankMe to its end */
    char imgs[512];
    snprintf(imgs, sizeof imgs, "%s/unlabelled", dir);
    mkdir(imgs, 0700);
    dy_ctx *ctx = NULL;
    dy_ctx_create(&ctx, NULL);
    static uint8_t rgb[16 * 16 * 3];
    for (int i = 0; i < 48; i++) { /* a noisy colour field with a lighter square somewhere */
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++)
                for (int c = 0; c < 3; c++) {
                    int v = (37 * i + 53 * c + 7 * x + 3 * y) % 160;
                    if (x >= i % 10 && x < i % 10 + 6 && y >= i % 7 && y < i % 7 + 6) v += 80;
                    rgb[(y * 16 + x) * 3 + c] = (uint8_t)v;
                }
        snprintf(path, sizeof path, "%s/img%02d.png", imgs, i);
        CHECK(dy_png_write_rgb(ctx, path, rgb, 16, 16) == DY_OK, "image %d written", i);
    }
    dy_ctx_destroy(ctx);
#define FOLDER "--data folder --data-dir %s --image-size 16 --width 4 --batch-size 16 --lr 0.1 --layout blocked " \
               "--threads 2 --loader-threads 1 --seed 3 --val-size 16 --trials 2 --eta 2 --tune-dir %s/tune-unl"
    rc = cli_run(out, sizeof out, "./dystress tune " FOLDER " --score knn", imgs, dir);
    CHECK(rc == 2 && strstr(out, "--score knn needs a labelled training set"), "kNN without labels refused: %s", out);
    rc = cli_run(out, sizeof out, "./dystress tune " FOLDER, imgs, dir);
    CHECK(rc == 0 && strstr(out, "scored by RankMe (no labels)") && strstr(out, "best: t") &&
              strstr(out, "val RankMe"), "an unlabelled tune runs to its end ranked by RankMe (got %d): %s", rc, out);
    snprintf(path, sizeof path, "%s/tune-unl/trials/t00/val-knn-r2.json", dir);
    if (!exists("%s", path)) snprintf(path, sizeof path, "%s/tune-unl/trials/t01/val-knn-r2.json", dir);
    slurp(text, sizeof text, path);
    double rank = strstr(text, "\"val_rankme\": ") ? atof(strstr(text, "\"val_rankme\": ") + 14) : -1;
    CHECK(rank >= 1 && !strstr(text, "val_top1"), "the promoted trial's result holds RankMe %g >= 1, no kNN: %s", rank,
          text);
    snprintf(path, sizeof path, "%s/tune-unl/leaderboard.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "\"score\": \"val_rankme: RankMe") && strstr(text, "\"val_top1\": null") &&
              strstr(text, "\"val_rankme\": "), "leaderboard.json ranks by val_rankme: %s", text);
    snprintf(path, sizeof path, "%s/tune-unl/plan.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "\"score\": \"RankMe of the encoder features h") != NULL, "plan.json names the score");
    CHECK(exists("%s/tune-unl/best.json", dir), "best.json written");

    /* 7. --sampler tpe over brackets: the second bracket's candidates follow the first (here from the random sample:
     * 2 scores are too few for TPE; test_tune tests the proposals), the plan lists the first bracket, a rerun keeps
     * all */
#define BRACKETS FOLDER "-tpe --rungs 1 --brackets 2 --sampler tpe --families const --no-anchors"
    rc = cli_run(out, sizeof out, "./dystress tune " BRACKETS, imgs, dir);
    CHECK(rc == 0 && strstr(out, "2 brackets, candidates drawn by TPE after the first") &&
              strstr(out, "bracket 2: 2 candidates from the random sample") && strstr(out, "4 trial runs this time"),
          "two brackets of two trials (got %d): %s", rc, out);
    snprintf(path, sizeof path, "%s/tune-unl-tpe/plan.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "\"sampler\": \"tpe\",\n  \"brackets\": 2") && strstr(text, "\"t01\"") &&
              !strstr(text, "\"t02\""), "plan.json names the sampler and lists the first bracket: %s", text);
    snprintf(path, sizeof path, "%s/tune-unl-tpe/leaderboard.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "\"bracket\": 2, \"drawn\": \"random\"") != NULL, "the leaderboard says how each was drawn");
    snprintf(path, sizeof path, "%s/tune-unl-tpe/bracket-2.json", dir);
    slurp(text, sizeof text, path);
    CHECK(strstr(text, "\"drawn\": \"random\"") && strstr(text, "\"t03\""), "bracket-2.json holds its candidates: %s",
          text);
    rc = cli_run(out, sizeof out, "./dystress tune " BRACKETS, imgs, dir);
    CHECK(rc == 0 && strstr(out, "0 trial runs this time, 4 kept"), "a rerun redoes nothing: %s", out);

    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish();
}
