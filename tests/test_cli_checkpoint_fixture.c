/* Training results stay bit-identical across changes to the code: two short runs on a tiny synthetic CIFAR-10 set
 * (SimCLR with SGD momentum and a kNN monitor; MoCo with a 64-key queue that wraps and Adam) end in checkpoints that
 * equal the ones committed in tests/fixtures/ckpt_*.safetensors, which were written by the code as it was before the
 * state of a run was reorganised (issue 11), as whole runs. Here each run is stopped at step 20 and resumed, so one
 * comparison covers training and resuming; and the committed files load with --resume (old checkpoints stay
 * readable).
 *
 * The comparison is tensor by tensor, bitwise: every tensor of the committed file is in the new one with the same
 * name, dtype, shape and bytes; the order of tensors and the header may change, and a tensor a later format adds is
 * named but allowed (since issue 22 the header also holds the dystress.* metadata). Bit-identity holds for the same
 * build on the same machine with the same thread count: --threads 2 here, and tests/fixtures/ckpt_build.txt records
 * the compiler, instruction set, CPU and oneDNN version the fixtures were made with. On another build the fixture
 * comparison is reported as not applicable (and counts neither way); the resume checks run everywhere.
 *
 * To write the fixtures again (only ever from a commit whose results are the reference):
 *     make build/tests/test_cli_checkpoint_fixture && DY_FIXTURE_WRITE=1 build/tests/test_cli_checkpoint_fixture */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef DY_HAVE_DNNL
#include <dnnl.h>
#endif

#include "cli_support.h"
#include "core/rng.h"
#include "dystress.h"
#include "io/safetensors.h"
#include "testlib.h"
#include "train/pretrain.h"

static char dir[256];  /* scratch folder */
static char data[300]; /* the CIFAR-10 files */

/* The synthetic CIFAR-10 file name in the data folder (cli_support.h). */
static void write_cifar(const char *name, int per_class, uint32_t stream) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", data, name);
    cli_write_cifar(path, per_class, stream);
}


/* What bit-identity depends on besides the source: compiler, instruction set, optimisation, CPU, oneDNN. */
static void build_signature(char *buf, size_t n) {
    char cpu[256] = "unknown", line[4096];
    unsigned long long flags_hash = 1469598103934665603ull; /* FNV-1a of the first CPU's flags line */
    FILE *f = fopen("/proc/cpuinfo", "r");
    bool have_model = false, have_flags = false;
    while (f && fgets(line, sizeof line, f) && !(have_model && have_flags)) {
        char *colon = strchr(line, ':');
        if (!colon) continue;
        char *v = colon + 2 <= line + strlen(line) ? colon + 2 : colon + 1;
        v[strcspn(v, "\n")] = 0;
        if (!have_model && !strncmp(line, "model name", 10)) {
            snprintf(cpu, sizeof cpu, "%s", v);
            have_model = true;
        } else if (!have_flags && !strncmp(line, "flags", 5)) {
            for (const char *c = v; *c; c++) flags_hash = (flags_hash ^ (unsigned char)*c) * 1099511628211ull;
            have_flags = true;
        }
    }
    if (f) fclose(f);
    const char *isa =
#if defined(__AVX512F__)
        "avx512";
#elif defined(__AVX2__)
        "avx2";
#else
        "baseline";
#endif
    char dnnl[64] = "none";
#ifdef DY_HAVE_DNNL
    const dnnl_version_t *dv = dnnl_version();
    snprintf(dnnl, sizeof dnnl, "%d.%d.%d", dv->major, dv->minor, dv->patch);
#endif
    int optimized =
#ifdef __OPTIMIZE__
        1;
#else
        0;
#endif
    int sanitized =
#if defined(__SANITIZE_ADDRESS__)
        1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
        1;
#else
        0;
#endif
#else
        0;
#endif
    snprintf(buf, n, "compiler %s; isa %s; optimized %d; sanitized %d; cpu %s; cpu flags %016llx; oneDNN %s",
             __VERSION__, isa, optimized, sanitized, cpu, flags_hash, dnnl);
}

/* Tensor by tensor: every tensor of want is in got with the same dtype, shape and bytes (tensors only got has are
 * listed). */
static bool same_tensors(dy_ctx *ctx, const char *got_path, const char *want_path, char *why, size_t why_size) {
    dy_st_file got, want;
    if (dy_st_read(ctx, want_path, &want) != DY_OK) {
        snprintf(why, why_size, "%s", dy_ctx_error(ctx));
        return false;
    }
    if (dy_st_read(ctx, got_path, &got) != DY_OK) {
        snprintf(why, why_size, "%s", dy_ctx_error(ctx));
        dy_st_free(&want);
        return false;
    }
    bool same = true;
    snprintf(why, why_size, "%lld tensors equal", (long long)want.count);
    for (int64_t i = 0; i < want.count && same; i++) {
        /* the run's options as text name this test's temporary folder (absolute data paths): not a result */
        if (!strcmp(want.tensors[i].name, DY_CHECKPOINT_CONFIG)) continue;
        const dy_st_tensor *w = &want.tensors[i], *g = dy_st_find(&got, w->name);
        if (!g) {
            snprintf(why, why_size, "tensor %s missing", w->name);
            same = false;
            break;
        }
        same = g->dtype == w->dtype && g->ndim == w->ndim && g->nbytes == w->nbytes;
        for (int d = 0; same && d < w->ndim; d++) same = g->shape[d] == w->shape[d];
        if (!same) {
            snprintf(why, why_size, "tensor %s has another dtype or shape", w->name);
            break;
        }
        for (size_t b = 0; b < w->nbytes; b++)
            if (g->data[b] != w->data[b]) {
                snprintf(why, why_size, "tensor %s differs first at byte %zu of %zu", w->name, b, w->nbytes);
                same = false;
                break;
            }
    }
    /* a tensor a later version adds (with its format version) is no difference in the results: named, not failed */
    for (int64_t i = 0; i < got.count && same; i++)
        if (!dy_st_find(&want, got.tensors[i].name) && strcmp(got.tensors[i].name, DY_CHECKPOINT_CONFIG)) printf("note: %s holds %s, which the fixture does not\n", got_path,
                                                            got.tensors[i].name);
    dy_st_free(&got);
    dy_st_free(&want);
    return same;
}

/* width 1 and a 32/16 head keep the files small; --threads 2: bit-identity holds for a fixed thread count */
#define COMMON "--data cifar10 --data-dir %s --width 1 --head-hidden 32 --head-out 16 --batch-size 32 --epochs 3 " \
               "--knn-k 20 --threads 2 --loader-threads 2 --seed 5"
#define SIMCLR "--lr 0.1 --momentum 0.9 --knn-every 2"
#define MOCO "--framework moco --moco-queue 64 --optimizer adam --lr 0.003 --weight-decay 1e-4 --knn-every -1"

static const struct {
    const char *name, *options, *fixture;
} runs[] = {
    {"simclr", SIMCLR, "ckpt_simclr_sgd.safetensors"},
    {"moco", MOCO, "ckpt_moco_adam.safetensors"},
};

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/dystress-fixture-test-%d", (int)getpid());
    snprintf(data, sizeof data, "%s/cifar", dir);
    char cmd[4096], out[16384], why[512], sig[1024];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", data);
    if (system(cmd) != 0) return 1;
    char name[32];
    for (int b = 1; b <= 5; b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        write_cifar(name, 8, (uint32_t)b); /* 400 training images: 12 steps of 32 per epoch, 36 in all */
    }
    write_cifar("test_batch.bin", 10, 99);
    build_signature(sig, sizeof sig);
    dy_ctx *ctx = NULL;
    if (dy_ctx_create(&ctx, NULL) != DY_OK) return 1;

    const bool write = getenv("DY_FIXTURE_WRITE") != NULL;
    char saved[1024] = "";
    FILE *sf = fopen(test_fixture_path("ckpt_build.txt"), "r");
    if (sf) {
        if (fgets(saved, sizeof saved, sf)) saved[strcspn(saved, "\n")] = 0;
        fclose(sf);
    }
    const bool comparable = !strcmp(saved, sig);
    if (!write && !comparable)
        printf("note: the fixtures were made by another build (%s); this is %s: the fixture comparisons do not "
               "apply\n", saved[0] ? saved : "no tests/fixtures/ckpt_build.txt", sig);

    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
        const char *n = runs[r].name, *opts = runs[r].options;
        char final[600], resumed[600];
        snprintf(final, sizeof final, "%s/%s/checkpoint-final.safetensors", dir, n);
        snprintf(resumed, sizeof resumed, "%s/%s-resumed/checkpoint-final.safetensors", dir, n);
        int rc;
        if (write || !comparable) { /* the whole run: the fixture, or what the resumed run must equal */
            rc = cli_run(out, sizeof out, "./dystress pretrain " COMMON " %s --run-dir %s/%s", data, opts, dir, n);
            CHECK(rc == 0, "%s: pretrain exits 0: %s", n, out);
        }
        if (write) {
            snprintf(cmd, sizeof cmd, "cp %s %s", final, test_fixture_path(runs[r].fixture));
            CHECK(system(cmd) == 0, "%s: fixture %s written", n, test_fixture_path(runs[r].fixture));
            continue;
        }
        /* stopped at step 20 (mid-epoch; for MoCo after the queue has wrapped) and resumed: it ends where the whole
         * run of the code before ended (or, on another build, where the whole run ends) */
        rc = cli_run(out, sizeof out, "./dystress pretrain " COMMON " %s --max-steps 20 --run-dir %s/%s-resumed", data,
                 opts, dir, n);
        CHECK(rc == 0, "%s: first part exits 0: %s", n, out);
        rc = cli_run(out, sizeof out, "./dystress pretrain --resume --run-dir %s/%s-resumed", dir, n);
        CHECK(rc == 0 && strstr(out, "resuming after step 20"), "%s: resume after step 20 exits 0: %s", n, out);
        if (comparable)
            CHECK(same_tensors(ctx, resumed, test_fixture_path(runs[r].fixture), why, sizeof why),
                  "%s: stopped and resumed, the run ends bit for bit in the committed %s: %s", n, runs[r].fixture,
                  why);
        else
            CHECK(same_tensors(ctx, resumed, final, why, sizeof why), "%s: resumed run ends where the whole run does: "
                  "%s", n, why);

        /* the committed checkpoint, from the code before, loads with --resume (the run is complete: nothing to do
         * but write its final checkpoint again, which must hold the same tensors) */
        snprintf(cmd, sizeof cmd, "cp %s %s/%s-resumed/checkpoint-latest.safetensors && rm %s",
                 test_fixture_path(runs[r].fixture), dir, n, resumed);
        CHECK(system(cmd) == 0, "%s: committed checkpoint copied into a run directory", n);
        /* the fixture's stored options name the data folder of the run that made it: this one's is given explicitly,
         * as a resume that moves its data must */
        rc = cli_run(out, sizeof out, "./dystress pretrain --resume --run-dir %s/%s-resumed --data-dir %s", dir, n,
                     data);
        CHECK(rc == 0 && strstr(out, "resuming after step 36"), "%s: the committed checkpoint %s loads with --resume: "
              "%s", n, runs[r].fixture, out);
        if (comparable)
            CHECK(same_tensors(ctx, resumed, test_fixture_path(runs[r].fixture), why, sizeof why),
                  "%s: and is written back unchanged: %s", n, why);
    }
    if (write) {
        FILE *f = fopen(test_fixture_path("ckpt_build.txt"), "w");
        CHECK(f && fprintf(f, "%s\n", sig) > 0 && fclose(f) == 0, "build signature written");
    }
    dy_ctx_destroy(ctx);
    if (!getenv("DY_TEST_KEEP")) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_finish();
}
