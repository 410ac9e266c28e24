/* The dystress command end to end, on a tiny synthetic CIFAR-10-format data set written here: training lowers the
 * loss and the kNN monitor is above chance; a resumed run (after --max-steps or a SIGTERM) equals the uninterrupted
 * run bit for bit; corrupt and wrong-model checkpoints are refused with their messages; an exported encoder gives the
 * same features as the checkpoint it came from; bad options get one clear line. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_support.h"
#include "core/rng.h"
#include "dystress.h"
#include "testlib.h"

static char dir[256];  /* scratch folder */
static char data[300]; /* the CIFAR-10 files */

/* The synthetic CIFAR-10 file name in the data folder (cli_support.h). */
static void write_cifar(const char *name, int per_class, uint32_t stream) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", data, name);
    cli_write_cifar(path, per_class, stream);
}


static int same_file(const char *a, const char *b) {
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

static double metric_at(const char *run_dir, const char *key, int which) {
    /* which: 0 first line with key, 1 last line with key */
    char path[512], line[4096], k[64];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    snprintf(k, sizeof k, "\"%s\": ", key);
    FILE *f = fopen(path, "r");
    double v = -1;
    while (f && fgets(line, sizeof line, f)) {
        char *p = strstr(line, k);
        if (!p) continue;
        v = atof(p + strlen(k));
        if (which == 0) break;
    }
    if (f) fclose(f);
    return v;
}

static double mean_loss(const char *run_dir, int from, int to) {
    char path[512], line[4096];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    FILE *f = fopen(path, "r");
    double sum = 0;
    int n = 0;
    while (f && fgets(line, sizeof line, f)) {
        char *s = strstr(line, "\"step\": "), *l = strstr(line, "\"loss\": ");
        if (!s || !l) continue;
        int step = atoi(s + 8);
        if (step >= from && step <= to) {
            sum += atof(l + 8);
            n++;
        }
    }
    if (f) fclose(f);
    return n ? sum / n : -1;
}

#define COMMON "--data cifar10 --data-dir %s --width 4 --batch-size 32 --epochs 4 --lr 0.1 --momentum 0.9 " \
               "--knn-k 20 --threads 2 --loader-threads 2 --seed 3"

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/dystress-cli-test-%d", (int)getpid());
    snprintf(data, sizeof data, "%s/cifar", dir);
    char cmd[4096], out[16384];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", data);
    if (system(cmd) != 0) return 1;
    char name[32];
    for (int b = 1; b <= 5; b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        write_cifar(name, 8, (uint32_t)b); /* 400 training images */
    }
    write_cifar("test_batch.bin", 10, 99); /* 100 test images */

    /* 1. an uninterrupted run: the loss falls, kNN is above chance (10 %) */
    int rc = cli_run(out, sizeof out, "./dystress pretrain " COMMON " --knn-every 2 --run-dir %s/a", data, dir);
    CHECK(rc == 0, "pretrain exits 0 (got %d): %s", rc, out);
    char a[300];
    snprintf(a, sizeof a, "%s/a", dir);
    double first = mean_loss(a, 1, 3), last = mean_loss(a, 46, 48);
    CHECK(first > 0 && last > 0 && last < first - 0.05, "loss falls: steps 1-3 %.4f, steps 46-48 %.4f", first, last);
    double knn = metric_at(a, "knn_top1", 1);
    CHECK(knn > 0.3, "kNN top-1 %.3f is well above chance (0.1)", knn);
    snprintf(cmd, sizeof cmd, "%s/a/checkpoint-final.safetensors", dir);
    struct stat sb;
    CHECK(stat(cmd, &sb) == 0, "final checkpoint written");
    snprintf(cmd, sizeof cmd, "%s/a/checkpoint-best-knn-on-test.safetensors", dir);
    CHECK(stat(cmd, &sb) == 0, "best-kNN checkpoint written, named for the test split it was chosen on");

    /* 2. stop at step 20, resume: bit-identical final state */
    rc = cli_run(out, sizeof out, "./dystress pretrain " COMMON " --knn-every 2 --max-steps 20 --run-dir %s/b", data,
             dir);
    CHECK(rc == 0, "first half exits 0: %s", out);
    rc = cli_run(out, sizeof out, "./dystress pretrain --resume --run-dir %s/b", dir);
    CHECK(rc == 0 && strstr(out, "resuming after step 20"), "resume exits 0 after step 20: %s", out);
    char fa[512], fb[512];
    snprintf(fa, sizeof fa, "%s/a/checkpoint-final.safetensors", dir);
    snprintf(fb, sizeof fb, "%s/b/checkpoint-final.safetensors", dir);
    CHECK(same_file(fa, fb), "resumed run's final checkpoint equals the uninterrupted one byte for byte");
    snprintf(fb, sizeof fb, "%s/b", dir);
    CHECK(metric_at(a, "knn_top1", 1) == metric_at(fb, "knn_top1", 1), "resumed run's last kNN equals the original");
    rc = cli_run(out, sizeof out, "./dystress pretrain --resume --run-dir %s/b --lr 0.5", dir);
    CHECK(rc == 2 && strstr(out, "--lr cannot change when resuming"), "changing --lr on resume refused: %s", out);
    rc = cli_run(out, sizeof out, "./dystress pretrain " COMMON " --run-dir %s/b", data, dir);
    CHECK(rc == 2 && strstr(out, "already holds a run"), "a used run directory is not overwritten: %s", out);

    /* 3. SIGTERM mid-run: a checkpoint, a clean exit, and a resume to the same result */
    if (!test_quick()) {
        snprintf(cmd, sizeof cmd,
                 "%s pretrain " COMMON " --knn-every 2 --run-dir %s/c > %s/c.log 2>&1 & echo $! > %s/c.pid",
                 getenv("DY_CLI") ? getenv("DY_CLI") : "./dystress", data, dir, dir, dir);
        CHECK(system(cmd) == 0, "background run started");
        snprintf(fb, sizeof fb, "%s/c", dir);
        for (int i = 0; i < 600 && mean_loss(fb, 5, 5) < 0; i++) usleep(50000);
        snprintf(cmd, sizeof cmd, "kill -TERM $(cat %s/c.pid); while kill -0 $(cat %s/c.pid) 2>/dev/null; do "
                 "sleep 0.05; done; grep -c 'interrupted after step' %s/c.log", dir, dir, dir);
        rc = cli_run(out, sizeof out, "%s", cmd);
        CHECK(rc == 0 && atoi(out) == 1, "SIGTERM saves a checkpoint and says so: %s", out);
        rc = cli_run(out, sizeof out, "./dystress pretrain --resume --run-dir %s/c", dir);
        CHECK(rc == 0, "resume after SIGTERM exits 0: %s", out);
        snprintf(fb, sizeof fb, "%s/c/checkpoint-final.safetensors", dir);
        CHECK(same_file(fa, fb), "run resumed after SIGTERM equals the uninterrupted one byte for byte");
    }

    /* 4. refused checkpoints */
    snprintf(cmd, sizeof cmd, "head -c 100000 %s > %s/truncated.safetensors", fa, dir);
    CHECK(system(cmd) == 0, "truncated copy made");
    rc = cli_run(out, sizeof out, "./dystress eval knn --checkpoint %s/truncated.safetensors " COMMON, dir, data);
    CHECK(rc == 1 && strstr(out, "truncated.safetensors"), "truncated checkpoint refused, file named: %s", out);
    rc = cli_run(out, sizeof out, "./dystress eval knn --checkpoint %s " COMMON " --width 8", fa, data);
    CHECK(rc == 1 && strstr(out, "conv1.weight"), "wrong-model checkpoint refused, tensor named: %s", out);
    snprintf(fb, sizeof fb, "%s/b/checkpoint-latest.safetensors", dir);
    snprintf(cmd, sizeof cmd, "printf 'garbage' | dd of=%s bs=1 seek=8 conv=notrunc 2>/dev/null", fb);
    CHECK(system(cmd) == 0, "corrupted a checkpoint header");
    rc = cli_run(out, sizeof out, "./dystress pretrain --resume --run-dir %s/b", dir);
    CHECK(rc == 1 && strstr(out, "checkpoint-latest.safetensors"), "corrupt checkpoint refused on resume: %s", out);

    /* 5. export, then the exported encoder gives the checkpoint's features exactly */
    rc = cli_run(out, sizeof out, "./dystress export --checkpoint %s --out %s/encoder.safetensors", fa, dir);
    CHECK(rc == 0, "export exits 0: %s", out);
    rc = cli_run(out, sizeof out, "./dystress embed --checkpoint %s --out %s/from_ckpt", fa, dir);
    CHECK(rc == 0, "embed from the checkpoint: %s", out);
    rc = cli_run(out, sizeof out, "./dystress embed --checkpoint %s/encoder.safetensors --out %s/from_export " COMMON,
                 dir, dir, data);
    CHECK(rc == 0, "embed from the exported file: %s", out);
    snprintf(fa, sizeof fa, "%s/from_ckpt_features.npy", dir);
    snprintf(fb, sizeof fb, "%s/from_export_features.npy", dir);
    CHECK(same_file(fa, fb), "exported weights give the same features, bit for bit");
    rc = cli_run(out, sizeof out,
                 "./dystress eval linear --checkpoint %s/a/checkpoint-final.safetensors --probe-epochs 20", dir);
    CHECK(rc == 0 && strstr(out, "top-1") && strstr(out, "linear (cached, 20 epochs)"), "linear probe on the "
          "checkpoint: %s", out);
    rc = cli_run(out, sizeof out,
                 "./dystress eval linear --checkpoint %s/a/checkpoint-final.safetensors --probe-epochs 2 "
                 "--probe-normalize",
                 dir);
    CHECK(rc == 0 && strstr(out, "linear (cached, normalised, 2 epochs)"), "linear probe on normalised features: %s",
          out);

    /* 7. the main job on the tiny set: its defaults (the adaptive profile, bf16 where the CPU has it) apply where the
     * command line is silent, and it prints the three rows side by side */
    rc = cli_run(out, sizeof out, "./dystress demo " COMMON " --run-dir %s/demo", data, dir);
    double px[2] = {-1, -1}, rn[2] = {-1, -1}, pt[2] = {-1, -1};
    const char *row = strstr(out, "\n  raw pixels"); /* the table's row, not the "evaluating raw pixels" line */
    if (row) sscanf(row + 13, "%lf%%%lf%%", &px[0], &px[1]);
    if ((row = strstr(out, "random ResNet-18 (width 4)"))) sscanf(row + 26, "%lf%%%lf%%", &rn[0], &rn[1]);
    if ((row = strstr(out, "pretrained, adaptive tau, 4 epochs"))) sscanf(row + 34, "%lf%%%lf%%", &pt[0], &pt[1]);
    bool in_range = true;
    for (int i = 0; i < 2; i++) in_range &= px[i] >= 0 && px[i] <= 100 && rn[i] >= 0 && rn[i] <= 100 && pt[i] >= 0 &&
                                         pt[i] <= 100;
    CHECK(rc == 0 && in_range, "demo prints pixels (%g, %g), random (%g, %g) and pretrained (%g, %g) rows: %s", px[0],
          px[1], rn[0], rn[1], pt[0], pt[1], out);
    char cfg[8192] = "";
    FILE *fc = fopen(strcat(strcpy(cfg, dir), "/demo/config.json"), "r");
    size_t ncfg = fc ? fread(cfg, 1, sizeof cfg - 1, fc) : 0;
    cfg[ncfg] = 0;
    if (fc) fclose(fc);
    CHECK(strstr(cfg, "\"tau-adapt\": \"band\"") && strstr(cfg, "\"tau-min\": 0.255") &&
              (strstr(cfg, "\"precision\": \"bf16\"") || strstr(cfg, "\"precision\": \"fp32\"")),
          "the demo's config.json: the adaptive profile, the precision that ran (auto settled): %s", cfg);
    rc = cli_run(out, sizeof out, "./dystress demo --help");
    CHECK(rc == 0 && strstr(out, "(default: band)") &&
              strstr(out, "(default: 0.255)") && strstr(out, "(default: 12)"),
          "demo --help shows the main job's defaults");
    /* in fp32 the demo trains the same recipe (12 epochs: its accuracy does not depend on the CPU's precision), and a
     * constant profile chosen on the command line runs without the adaptive default (which needs cosine or
     * shifted) */
    rc = cli_run(out, sizeof out, "./dystress demo --data cifar10 --data-dir %s --width 4 --batch-size 32 --lr 0.1 "
                 "--knn-k 20 --threads 2 --seed 3 --precision fp32 --profile const --tau 0.2 "
                 "--run-dir %s/demo-fp32", data, dir);
    CHECK(rc == 0 && !strstr(out, "epochs in fp32") && strstr(out, "pretrained, tau 0.2, 12 epochs"),
          "demo in fp32: the same 12 epochs, constant profile: %s", out);

    /* 8. training on the reference ops says it is the slow path, once; the default backend does not */
    rc = cli_run(out, sizeof out,
                 "./dystress pretrain " COMMON " --max-steps 1 --knn-every -1 --backend ref --run-dir %s/ref", data,
                 dir);
    char *note = strstr(out, "reference ops");
    CHECK(rc == 0 && note && strstr(out, "50x slower") && !strstr(note + 1, "reference ops"),
          "--backend ref prints one line naming the slow reference path: %s", out);
    rc = cli_run(out, sizeof out, "./dystress pretrain " COMMON " --max-steps 1 --knn-every -1 --run-dir %s/auto", data,
                 dir);
    CHECK(rc == 0 && (strstr(out, "reference ops") != NULL) == !dy_have_dnnl(),
          "the default backend warns only where this build lacks oneDNN: %s", out);

    /* 9. --precision bf16: a run, its checkpoint in an fp32 evaluation, a resume that switches precision; refused
     * on the reference backend and (ONEDNN_MAX_CPU_ISA capping oneDNN below it) without AVX512-BF16 */
    rc = cli_run(out, sizeof out, "./dystress pretrain " COMMON " --precision bf16 --backend ref --run-dir %s/bf-ref",
                 data, dir);
    snprintf(cmd, sizeof cmd, "%s/bf-ref", dir);
    CHECK(rc == 1 && strstr(out, "--precision bf16") && strstr(out, "oneDNN backend") && stat(cmd, &sb) != 0,
          "bf16 on the reference backend refused before the run directory is made: %s", out);
    rc = cli_run(out, sizeof out, "ONEDNN_MAX_CPU_ISA=AVX512_CORE ./dystress pretrain " COMMON " --precision bf16 "
             "--run-dir %s/bf-capped", data, dir);
    CHECK(rc == 1 && strstr(out, "AVX512-BF16"), "bf16 without AVX512-BF16 refused, naming it: %s", out);
    dy_ctx *probe = NULL;
    dy_ctx_options po = {.threads = 1, .backend = DY_BACKEND_DNNL};
    bool have_bf16 = dy_have_dnnl() && dy_ctx_create(&probe, &po) == DY_OK &&
                     dy_precision_check(probe, DY_PRECISION_BF16) == DY_OK;
    dy_ctx_destroy(probe);
    if (!have_bf16) {
        printf("skipped: the bf16 runs (this machine or build has no bf16 path)\n");
    } else {
        rc = cli_run(out, sizeof out, "./dystress pretrain " COMMON " --precision bf16 --max-steps 6 --knn-every -1 "
                 "--run-dir %s/bf", data, dir);
        snprintf(fb, sizeof fb, "%s/bf", dir);
        CHECK(rc == 0 && strstr(out, "backend dnnl, bf16"), "pretrain --precision bf16 runs and says so: %s", out);
        double l6 = mean_loss(fb, 6, 6);
        CHECK(l6 > 0 && l6 < 20, "bf16 run's loss at step 6 is finite (%g)", l6);
        snprintf(cmd, sizeof cmd, "%s/bf/config.json", dir);
        rc = cli_run(out, sizeof out, "grep -c '\"precision\": \"bf16\"' %s", cmd);
        CHECK(rc == 0 && atoi(out) == 1, "config.json stores the precision: %s", out);
        rc = cli_run(out, sizeof out,
                 "./dystress eval knn --checkpoint %s/bf/checkpoint-latest.safetensors --precision fp32", dir);
        CHECK(rc == 0 && strstr(out, "top-1"), "the bf16 run's checkpoint evaluates in fp32: %s", out);
        rc = cli_run(out, sizeof out, "./dystress pretrain --resume --run-dir %s/bf --precision fp32 --max-steps 8",
                     dir);
        CHECK(rc == 0 && strstr(out, "--precision changes from bf16 to fp32") && strstr(out, "backend dnnl, fp32") &&
                  strstr(out, "resuming after step 6"), "resume switches to fp32 with a notice: %s", out);
        rc = cli_run(out, sizeof out, "./dystress pretrain --resume --run-dir %s/bf --precision bf16 --max-steps 10",
                     dir);
        CHECK(rc == 0 && strstr(out, "backend dnnl, bf16") && strstr(out, "resuming after step 8"),
              "and back to bf16: %s", out);
        double l10 = mean_loss(fb, 10, 10);
        CHECK(l10 > 0 && l10 < 20, "the switched run's loss at step 10 is finite (%g)", l10);
        rc = cli_run(out, sizeof out,
                     "./dystress export --checkpoint %s/bf/checkpoint-latest.safetensors --backend ref "
                     "--out %s/bf-export.safetensors",
                     dir, dir);
        CHECK(rc == 0, "a bf16 run exports on the reference backend (weights are fp32): %s", out);
    }
    /* --precision auto: bf16 where it runs, else fp32 with a note; config.json records what ran */
    const char *auto_cases[][3] = {{"", "prec-auto", have_bf16 ? "bf16" : "fp32"},
                                   {"ONEDNN_MAX_CPU_ISA=AVX512_CORE ", "prec-auto-capped", "fp32"},
                                   {"", "prec-auto-ref", "fp32"}};
    for (int i = 0; i < 3; i++) {
        rc = cli_run(out, sizeof out,
                     "%s./dystress pretrain " COMMON " --precision auto --max-steps 2 --knn-every -1 %s"
                     "--run-dir %s/%s",
                     auto_cases[i][0], data, i == 2 ? "--backend ref " : "", dir, auto_cases[i][1]);
        bool noted = strstr(out, "--precision auto runs fp32 here") != NULL;
        char want[16], said[64];
        snprintf(want, sizeof want, "%s", auto_cases[i][2]);
        if (i == 0 && have_bf16) {
            /* where bf16 runs, the plan tuner times fp32 against bf16 and runs the faster: bf16 only when it measured
             * faster than fp32 in the same layout */
            const char *plan = strstr(out, "plan: "), *times = plan ? strchr(plan, '(') : NULL;
            char layout[16] = "", algo[16] = "", prec[16] = "", name[64];
            bool ok = times && sscanf(plan, "plan: %15s %15s %15s", layout, algo, prec) == 3 &&
                      strstr(times, "direct fp32 ") && strstr(times, "direct bf16 ");
            CHECK(ok, "--precision auto: the plan tuner measured fp32 and bf16: %s", out);
            if (ok && !strcmp(prec, "bf16")) {
                double t_chosen = -1, t_fp32 = -1;
                snprintf(name, sizeof name, "%s %s bf16 ", layout, algo);
                const char *c = strstr(times, name);
                if (c) sscanf(c + strlen(name), "%lf", &t_chosen);
                snprintf(name, sizeof name, "%s %s fp32 ", layout, algo);
                c = strstr(times, name);
                if (c) sscanf(c + strlen(name), "%lf", &t_fp32);
                CHECK(t_chosen > 0 && t_fp32 > 0 && t_chosen <= t_fp32,
                      "--precision auto: bf16 chosen only where it measured faster (%g ms, fp32 %g ms)", t_chosen,
                      t_fp32);
            }
            if (ok) snprintf(want, sizeof want, "%s", prec);
        }
        snprintf(said, sizeof said, "backend %s, %s", i == 2 ? "ref" : "dnnl", want);
        CHECK(rc == 0 && strstr(out, said) && noted == (strcmp(auto_cases[i][2], "fp32") == 0),
              "--precision auto (%s) runs %s, with a note only where bf16 cannot run: %s", auto_cases[i][1], want,
              out);
        snprintf(cmd, sizeof cmd, "%s/%s/config.json", dir, auto_cases[i][1]);
        rc = cli_run(out, sizeof out, "grep -c '\"precision\": \"%s\"' %s", want, cmd);
        CHECK(rc == 0 && atoi(out) == 1, "its config.json records %s: %s", want, out);
    }

    /* 6. wrong options: one clear line each */
    rc = cli_run(out, sizeof out, "./dystress pretrain --batch-size 1");
    CHECK(rc == 2 && strstr(out, "--batch-size must be between"), "bad value: %s", out);
    rc = cli_run(out, sizeof out, "./dystress pretrain --profiel cosine");
    CHECK(rc == 2 && strstr(out, "unknown option --profiel"), "unknown option: %s", out);
    rc = cli_run(out, sizeof out, "./dystress pretrain --data cifar10 --data-dir %s/nowhere --run-dir %s/x", dir, dir);
    CHECK(rc == 1 && strstr(out, "nowhere"), "missing data folder named: %s", out);
    rc = cli_run(out, sizeof out, "./dystress pretrain --help");
    CHECK(rc == 0 && strstr(out, "--tau-min") && strstr(out, "(default: 0.07)"), "help lists options with defaults");

    /* 7. fewer training images (400) than --knn-k: the final kNN monitor lets all of them vote, the rule of eval */
    rc = cli_run(out, sizeof out, "./dystress pretrain --data cifar10 --data-dir %s --width 4 --batch-size 32 "
                 "--epochs 1 --knn-every 0 --knn-k 1000 --threads 2 --loader-threads 2 --seed 3 --run-dir %s/k", data,
                 dir);
    snprintf(cmd, sizeof cmd, "%s/k", dir);
    CHECK(rc == 0 && strstr(out, "(k 400, t 0.1, on the test split") && metric_at(cmd, "knn_k", 1) == 400,
          "pretrain's monitor clamps --knn-k 1000 to the 400 training images (exit %d): %s", rc, out);
    rc = cli_run(out, sizeof out, "./dystress eval knn --checkpoint %s/k/checkpoint-final.safetensors --threads 2",
                 dir);
    CHECK(rc == 0 && strstr(out, "kNN (k 400, t 0.1)"), "eval of that run clamps k the same way: %s", out);

    if (!getenv("DY_TEST_KEEP")) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_finish();
}
