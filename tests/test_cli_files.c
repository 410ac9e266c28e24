/* Nothing lost, nothing silently wrong (issue 10, items 2, 3, 4, 5, 7, 8) and the fault-injection test, end to end
 * through the dystress command on a tiny synthetic CIFAR-10 set (width 4, batch 32: 12 steps an epoch).
 *   item2: a used run directory is refused without --resume or --overwrite; the demo replaces only its own.
 *   item3: export/embed/eval never write over an input (by file identity) nor an existing file unless --overwrite.
 *   item4: symlinks planted at the run's files are not followed.
 *   item5: a write error (the OS file-size limit, and a full tmpfs where it can be mounted) stops the run with a
 *          message naming the file and the OS error; the last good checkpoint stays; the run resumes to the same end.
 *   item7: config.json edits are refused on --resume, naming the option; --epochs may change explicitly, with a
 *          notice; data paths are stored absolute and a resume from another directory works.
 *   item8: checkpoints with NaN/Inf values are refused by eval, export, resume and the weights loader.
 *   issue 23: outputs that are FIFOs or device nodes are never replaced (item 1); a FIFO at a run's log stops a
 *          resume at once (item 3); a flipped byte in a checkpoint and a negative running variance are refused
 *          (item 6).
 *   fault injection: SIGKILL at random points (mid-step and mid-checkpoint-write), resumed each time, ends with a
 *          final checkpoint and metric history identical to an uninterrupted run. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_support.h"
#include "core/rng.h"
#include "dystress.h"
#include "io/safetensors.h"
#include "train/pretrain.h"
#include "testlib.h"

static char dir[256];   /* scratch folder */
static char data[300];  /* the CIFAR-10 files */
static char bin[4096];  /* the dystress binary, as an absolute path */
static rlim_t fsize_limit; /* when not 0, commands run under this RLIMIT_FSIZE (bytes), SIGXFSZ ignored */

static void write_cifar(const char *folder, const char *name, int per_class, uint32_t stream) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", folder, name);
    cli_write_cifar(path, per_class, stream);
}

/* Runs a shell command (the binary is "%s" = bin in the format), returns its exit status; output into out. */
static int run(char *out, size_t out_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int run(char *out, size_t out_size, const char *fmt, ...) {
    char cmd[8192], full[8300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    /* the limit is inherited by the child popen forks; this process writes nothing while it is set */
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    void (*old_handler)(int) = signal(SIGXFSZ, fsize_limit ? SIG_IGN : SIG_DFL);
    if (fsize_limit) {
        struct rlimit rl = {fsize_limit, old.rlim_max};
        setrlimit(RLIMIT_FSIZE, &rl);
    }
    FILE *p = popen(full, "r");
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
    return cli_collect(p, out, out_size);
}

static char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *nb = realloc(buf, 2 * cap + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (size) *size = n;
    return buf;
}

static bool same_bytes(const char *a, const char *b) {
    size_t na, nb;
    char *x = slurp(a, &na), *y = slurp(b, &nb);
    bool same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static bool file_equals(const char *path, const char *bytes, size_t n) {
    size_t got;
    char *x = slurp(path, &got);
    bool same = x && bytes && got == n && !memcmp(x, bytes, n);
    free(x);
    return same;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Temporary files of atomic writes in a folder (".<name>.tmp-XXXXXXXX"), those whose name starts with prefix. */
static int temporaries(const char *folder, const char *prefix) {
    DIR *d = opendir(folder);
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));)
        n += de->d_name[0] == '.' && strstr(de->d_name, ".tmp-") && !strncmp(de->d_name + 1, prefix, strlen(prefix));
    if (d) closedir(d);
    return n;
}

/* metrics.jsonl without the timing field: what must be identical between two runs of the same configuration. */
static char *metrics_without_timing(const char *run_dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    char *text = slurp(path, NULL);
    if (!text) return NULL;
    char *w = text;
    for (char *r = text; *r;) {
        char *t = strstr(r, ", \"images_per_s\": ");
        char *nl = strchr(r, '\n');
        if (t && (!nl || t < nl)) {
            memmove(w, r, (size_t)(t - r));
            w += t - r;
            r = strchr(t, '}');
            if (!r) break;
        } else {
            size_t n = nl ? (size_t)(nl - r + 1) : strlen(r);
            memmove(w, r, n);
            w += n;
            r += n;
        }
    }
    *w = 0;
    return text;
}

static bool same_metrics(const char *a, const char *b) {
    char *x = metrics_without_timing(a), *y = metrics_without_timing(b);
    bool same = x && y && !strcmp(x, y) && strlen(x) > 100;
    free(x);
    free(y);
    return same;
}

/* Replaces element 0 of tensor name in a safetensors file by value. With fix_checksum, the tensor's CRC-32 in the
 * header is rewritten to match (a file written with that value, as a diverged run would), else left as it was (the
 * bytes damaged after writing). */
static bool poison_file(const char *path, const char *name, float value, bool fix_checksum) {
    dy_ctx *ctx = NULL;
    if (dy_ctx_create(&ctx, NULL) != DY_OK) return false;
    dy_st_file f;
    bool ok = false;
    if (dy_st_read(ctx, path, &f) == DY_OK) {
        const dy_st_tensor *t = dy_st_find(&f, name);
        if (t && t->dtype == DY_ST_F32) {
            long offset = (long)(t->data - f.owned);
            FILE *fp = fopen(path, "r+b");
            ok = fp && fseek(fp, offset, SEEK_SET) == 0 && fwrite(&value, sizeof value, 1, fp) == 1;
            if (ok && fix_checksum) {
                memcpy((uint8_t *)t->data, &value, sizeof value);
                char key[512], hex[16];
                snprintf(key, sizeof key, "\"" DY_ST_CRC_KEY "%s\":\"", name);
                snprintf(hex, sizeof hex, "%08x", (unsigned)dy_st_crc32(t->data, t->nbytes));
                size_t header = 0;
                for (int i = 7; i >= 0; i--) header = header << 8 | f.owned[i];
                char *text = strndup((const char *)f.owned + 8, header), *at = text ? strstr(text, key) : NULL;
                /* a file without checksums (an older writer's) needs nothing more */
                ok = text && (!at || (fseek(fp, 8 + (long)(at - text) + (long)strlen(key), SEEK_SET) == 0 &&
                                      fwrite(hex, 1, 8, fp) == 8));
                free(text);
            }
            if (fp) ok &= fclose(fp) == 0;
        }
        dy_st_free(&f);
    }
    dy_ctx_destroy(ctx);
    return ok;
}

static bool poison(const char *path, const char *name, float value) { return poison_file(path, name, value, true); }

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

#define COMMON "--data cifar10 --data-dir %s --width 4 --batch-size 32 --epochs 2 --lr 0.1 --momentum 0.9 " \
               "--knn-k 20 --knn-every 1 --threads 2 --loader-threads 2 --seed 3"

static char out[32768];
static char ref[400], ref_final[500];

/* ---- item 2 ---------------------------------------------------------------------------------------------------- */
static void item2_run_dir_not_overwritten(void) {
    char cfg[500], met[500];
    snprintf(cfg, sizeof cfg, "%s/config.json", ref);
    snprintf(met, sizeof met, "%s/metrics.jsonl", ref);
    size_t ncfg, nmet;
    char *cfg0 = slurp(cfg, &ncfg), *met0 = slurp(met, &nmet);
    int rc = run(out, sizeof out, "%s pretrain " COMMON " --run-dir %s", bin, data, ref);
    CHECK(rc == 2 && strstr(out, "already holds a run") && strstr(out, "--overwrite"),
          "item2_run_dir_not_overwritten: a used run directory is refused, --resume and --overwrite named: %s", out);
    CHECK(file_equals(cfg, cfg0, ncfg) && file_equals(met, met0, nmet), "item2: its config.json and metrics.jsonl "
          "are untouched");
    free(cfg0);
    free(met0);

    /* the issue's case: checkpoint-latest deleted (or a crash before the first one) */
    char d[400];
    snprintf(d, sizeof d, "%s/nolatest", dir);
    sh("cp -r %s %s && rm %s/checkpoint-latest.safetensors", ref, d, d);
    snprintf(met, sizeof met, "%s/metrics.jsonl", d);
    met0 = slurp(met, &nmet);
    rc = run(out, sizeof out, "%s pretrain " COMMON " --run-dir %s", bin, data, d);
    CHECK(rc == 2 && strstr(out, "already holds a run") && file_equals(met, met0, nmet),
          "item2: without checkpoint-latest the directory is still refused and metrics.jsonl kept: %s", out);
    free(met0);

    /* a folder with anything else in it */
    snprintf(d, sizeof d, "%s/other", dir);
    sh("mkdir -p %s && echo notes > %s/notes.txt", d, d);
    rc = run(out, sizeof out, "%s pretrain " COMMON " --max-steps 1 --run-dir %s", bin, data, d);
    CHECK(rc == 2 && strstr(out, "notes.txt"), "item2: a folder holding other files is refused, one named: %s", out);

    /* --overwrite starts afresh: the old run's files are gone, not mixed with the new one's */
    snprintf(d, sizeof d, "%s/nolatest", dir);
    rc = run(out, sizeof out, "%s pretrain " COMMON " --max-steps 2 --overwrite --run-dir %s", bin, data, d);
    char p[600];
    snprintf(p, sizeof p, "%s/checkpoint-final.safetensors", d);
    bool final_gone = access(p, F_OK) != 0;
    snprintf(p, sizeof p, "%s/checkpoint-best-knn-on-test.safetensors", d);
    bool best_gone = access(p, F_OK) != 0;
    snprintf(p, sizeof p, "%s/metrics.jsonl", d);
    char *m = slurp(p, NULL);
    int lines = 0;
    for (char *c = m; c && *c; c++) lines += *c == '\n';
    free(m);
    CHECK(rc == 0 && final_gone && best_gone && lines == 2 && strstr(out, "--overwrite: deleted"),
          "item2: --overwrite deletes the previous run's files and starts afresh (%d metric lines): %s", lines, out);
    snprintf(p, sizeof p, "%s/config.json", d);
    m = slurp(p, NULL);
    CHECK(m && strstr(m, "\"overwrite\": false") && strstr(m, "\"resume\": false"),
          "item2: config.json does not record --overwrite, so later commands do not inherit it");
    free(m);
}

/* The demo replaces its own run directory (made by a demo: the mark says so) and nothing else. A smaller set keeps
 * the two demo runs short. */
static void item2_demo_run_dir(void) {
    char small[400], d[400];
    snprintf(small, sizeof small, "%s/small", dir);
    sh("mkdir -p %s", small);
    for (int b = 1; b <= 5; b++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        write_cifar(small, name, b == 1 ? 4 : 1, (uint32_t)b); /* 80 training images: 2 steps of 32 */
    }
    write_cifar(small, "test_batch.bin", 2, 99);
    snprintf(d, sizeof d, "%s/demo", dir);
    const char *opts = "--data cifar10 --width 4 --batch-size 32 --epochs 1 --knn-k 5 --threads 2 --loader-threads 2";
    int rc1 = run(out, sizeof out, "%s demo %s --data-dir %s --run-dir %s", bin, opts, small, d);
    CHECK(rc1 == 0, "item2: a first demo runs: %s", out);
    int rc2 = run(out, sizeof out, "%s demo %s --data-dir %s --run-dir %s", bin, opts, small, d);
    CHECK(rc2 == 0 && strstr(out, "replacing the previous demo"),
          "item2_demo_reruns_in_its_own_dir: a second demo in a row replaces the first one's run: %s", out);
    rc1 = run(out, sizeof out, "%s demo %s --data-dir %s --run-dir %s", bin, opts, small, ref);
    CHECK(rc1 == 2 && strstr(out, "not made by a demo"), "item2: the demo refuses a pretraining run's directory: %s",
          out);
    rc1 = run(out, sizeof out, "%s pretrain %s --data-dir %s --run-dir %s", bin, opts, small, d);
    CHECK(rc1 == 2 && strstr(out, "already holds a run"), "item2: pretrain refuses the demo's directory: %s", out);
}

/* ---- item 3 ---------------------------------------------------------------------------------------------------- */
static void item3_outputs_never_overwrite_inputs(void) {
    size_t n;
    char *before = slurp(ref_final, &n);
    int rc = run(out, sizeof out, "%s export --checkpoint %s --out %s/./checkpoint-final.safetensors --overwrite", bin,
                 ref_final, ref);
    CHECK(rc == 2 && strstr(out, "is the input"), "item3_export_never_overwrites_its_checkpoint: another spelling of "
          "the --checkpoint is refused even with --overwrite: %s", out);
    char link[500];
    snprintf(link, sizeof link, "%s/hardlink.safetensors", dir);
    sh("ln %s %s", ref_final, link);
    rc = run(out, sizeof out, "%s export --checkpoint %s --out %s --overwrite", bin, ref_final, link);
    CHECK(rc == 2 && strstr(out, "is the input"), "item3: a hard link to the checkpoint is refused (same inode): %s",
          out);
    rc = run(out, sizeof out, "%s export --checkpoint %s --out %s/config.json --overwrite", bin, ref_final, ref);
    CHECK(rc == 2 && strstr(out, "is the input"), "item3: the config.json it reads is refused too: %s", out);
    rc = run(out, sizeof out, "%s eval knn --checkpoint %s --json %s --overwrite", bin, ref_final, link);
    CHECK(rc == 2 && strstr(out, "is the input"), "item3: eval --json onto the checkpoint is refused: %s", out);
    char emb[500];
    snprintf(emb, sizeof emb, "%s/emb", dir); /* prefix_features.npy must not be an input either */
    sh("ln %s %s_features.npy", ref_final, emb);
    rc = run(out, sizeof out, "%s embed --checkpoint %s --out %s --overwrite", bin, ref_final, emb);
    CHECK(rc == 2 && strstr(out, "is the input"), "item3: embed's output linked to the checkpoint is refused: %s",
          out);
    CHECK(file_equals(ref_final, before, n), "item3: the checkpoint is unchanged after all that");
    free(before);

    char enc[500];
    snprintf(enc, sizeof enc, "%s/encoder.safetensors", dir);
    sh("echo keep > %s", enc);
    rc = run(out, sizeof out, "%s export --checkpoint %s --out %s", bin, ref_final, enc);
    CHECK(rc == 2 && strstr(out, "exists") && strstr(out, "--overwrite") && file_size(enc) == 5,
          "item3_existing_output_refused: export does not replace an existing file unasked: %s", out);
    rc = run(out, sizeof out, "%s export --checkpoint %s --out %s --overwrite", bin, ref_final, enc);
    CHECK(rc == 0 && file_size(enc) > 1000, "item3: --overwrite replaces it: %s", out);
    snprintf(emb, sizeof emb, "%s/emb2", dir);
    rc = run(out, sizeof out, "%s embed --checkpoint %s --out %s", bin, ref_final, emb);
    CHECK(rc == 0, "item3: embed writes new files: %s", out);
    rc = run(out, sizeof out, "%s embed --checkpoint %s --out %s", bin, ref_final, emb);
    CHECK(rc == 2 && strstr(out, "emb2_features.npy exists"), "item3: embed refuses existing outputs unasked: %s",
          out);
}

/* ---- item 4 ---------------------------------------------------------------------------------------------------- */
static void item4_run_files_not_followed(const char *run_dir) {
    char victim[500], met[500];
    snprintf(victim, sizeof victim, "%s/victim.txt", dir);
    snprintf(met, sizeof met, "%s/metrics.jsonl", run_dir);
    sh("echo precious > %s && mv %s %s.saved && ln -s %s %s", victim, met, met, victim, met);
    int rc = run(out, sizeof out, "%s pretrain --resume --run-dir %s --max-steps 13", bin, run_dir);
    CHECK(rc == 1 && strstr(out, "metrics.jsonl") && strstr(out, "symbolic links"),
          "item4_metrics_symlink_not_followed: a symlink planted at metrics.jsonl stops the resume: %s", out);
    CHECK(file_equals(victim, "precious\n", 9), "item4: the file it points to is untouched");
    sh("rm %s && mv %s.saved %s", met, met, met);
}

/* ---- item 5 ---------------------------------------------------------------------------------------------------- */
/* Bytes of the files in a folder. */
static long dir_bytes(const char *folder) {
    DIR *d = opendir(folder);
    long total = 0;
    for (struct dirent *de; d && (de = readdir(d));) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", folder, de->d_name);
        struct stat st;
        if (de->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode)) total += (long)st.st_size;
    }
    if (d) closedir(d);
    return total;
}

static void item5_write_errors_stop_the_run(const char *run_dir) {
    char latest[600], met[500];
    snprintf(latest, sizeof latest, "%s/checkpoint-latest.safetensors", run_dir);
    snprintf(met, sizeof met, "%s/metrics.jsonl", run_dir);
    size_t n;
    char *good = slurp(latest, &n);

    /* the run's logs (metrics.jsonl, histograms.jsonl, the larger) reach the limit a few lines on; whichever of the
     * two fails first must be the file named */
    char hist[500];
    snprintf(hist, sizeof hist, "%s/histograms.jsonl", run_dir);
    long biggest = file_size(met) > file_size(hist) ? file_size(met) : file_size(hist);
    fsize_limit = (rlim_t)biggest + 700;
    int rc = run(out, sizeof out, "%s pretrain --resume --run-dir %s", bin, run_dir);
    fsize_limit = 0;
    CHECK(rc == 1 && (strstr(out, "cannot write") || strstr(out, "cannot rewrite")) &&
              (strstr(out, "metrics.jsonl") || strstr(out, "histograms.jsonl")) && strstr(out, "File too large") &&
              strstr(out, "checkpoint-latest (step 12) is intact"),
          "item5_metrics_write_error_stops_the_run: the file and the OS error named: %s", out);
    CHECK(file_equals(latest, good, n) && temporaries(run_dir, "") == 0,
          "item5: the last good checkpoint is intact, no temporary file left");

    /* a checkpoint reaches it (the metrics do not) */
    fsize_limit = 200000;
    rc = run(out, sizeof out, "%s pretrain --resume --run-dir %s", bin, run_dir);
    fsize_limit = 0;
    CHECK(rc == 1 && strstr(out, "safetensors: File too large") && strstr(out, "checkpoint-latest (step 12) is intact"),
          "item5_checkpoint_write_error_stops_the_run: the file and the OS error named: %s", out);
    CHECK(file_equals(latest, good, n) && temporaries(run_dir, "") == 0,
          "item5: the last good checkpoint is intact, no temporary file left");

    /* a nearly full file system, where one can be mounted (root) */
    char mnt[400];
    snprintf(mnt, sizeof mnt, "%s/tmpfs", dir);
    sh("mkdir -p %s", mnt);
    /* room for the run's files and half a checkpoint more */
    long room = (dir_bytes(run_dir) + file_size(latest) / 2) / 1024;
    if (sh("mount -t tmpfs -o size=%ldk tmpfs %s 2>/dev/null", room, mnt) == 0) {
        char full[500];
        snprintf(full, sizeof full, "%s/run", mnt);
        CHECK(sh("cp -r %s %s", run_dir, full) == 0, "the run copied onto a tmpfs of %ld KiB", room);
        rc = run(out, sizeof out, "%s pretrain --resume --run-dir %s", bin, full);
        snprintf(latest, sizeof latest, "%s/checkpoint-latest.safetensors", full);
        CHECK(rc == 1 && strstr(out, "No space left on device") && strstr(out, "(step 12) is intact") &&
                  file_equals(latest, good, n) && temporaries(full, "") == 0,
              "item5_full_disk_stops_the_run: on a full tmpfs the run stops naming the error, the checkpoint "
              "intact: %s", out);
        sh("umount %s", mnt);
    } else {
        fprintf(stderr, "note: cannot mount a tmpfs here (not root?): the full-disk case is covered by the "
                "file-size limit only\n");
    }
    free(good);

    /* a line cut short by a crash is dropped on resume; the run then ends as the uninterrupted one did */
    sh("printf '{\"step\": 99, \"epo' >> %s", met);
    rc = run(out, sizeof out, "%s pretrain --resume --run-dir %s", bin, run_dir);
    char final[500];
    snprintf(final, sizeof final, "%s/checkpoint-final.safetensors", run_dir);
    CHECK(rc == 0 && same_bytes(final, ref_final), "item5: after the write errors, a resume ends with the "
          "uninterrupted run's final checkpoint byte for byte: %s", out);
    CHECK(same_metrics(run_dir, ref), "item5_metrics_rewrite: metrics.jsonl after the failed runs and the resume "
          "equals the uninterrupted run's (timing aside)");
}

/* ---- item 7 ---------------------------------------------------------------------------------------------------- */
static void item7_config_tied_to_checkpoint(const char *run_dir) {
    char cfg[500], ckpt[500];
    snprintf(cfg, sizeof cfg, "%s/config.json", run_dir);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-latest.safetensors", run_dir);
    size_t n;
    char *orig = slurp(cfg, &n);
    CHECK(orig && strstr(orig, "\"data-dir\": \"/"), "item7_absolute_data_paths: config.json stores --data-dir "
          "absolute though it was given relative");
    dy_ctx *ctx = NULL;
    char *stored = NULL;
    if (dy_ctx_create(&ctx, NULL) == DY_OK) dy_checkpoint_read_config(ctx, ckpt, &stored);
    dy_ctx_destroy(ctx);
    CHECK(stored && strstr(stored, "\nlr=0.1\n") && strstr(stored, "\nepochs=2\n") && !strstr(stored, "threads=") &&
              !strstr(stored, "max-steps="),
          "item7: the checkpoint stores the training options (not threads or max-steps): %s", stored ? stored : "-");
    free(stored);

    sh("sed -i 's/\"lr\": 0.1[0-9]*/\"lr\": 0.5/' %s", cfg);
    int rc = run(out, sizeof out, "%s pretrain --resume --run-dir %s --max-steps 13", bin, run_dir);
    CHECK(rc == 2 && strstr(out, "lr is 0.5 there but 0.1 in") && strstr(out, "cannot change during a run"),
          "item7_config_edit_refused: an edited lr is refused, named with both values: %s", out);
    FILE *f = fopen(cfg, "wb");
    if (f) {
        fwrite(orig, 1, n, f);
        fclose(f);
    }
    sh("sed -i 's/\"epochs\": 2/\"epochs\": 3/' %s", cfg);
    rc = run(out, sizeof out, "%s pretrain --resume --run-dir %s --max-steps 13", bin, run_dir);
    CHECK(rc == 2 && strstr(out, "epochs is 3 there but 2") && strstr(out, "give --epochs 3"),
          "item7: an edited epochs is refused too, with the explicit way to change it: %s", out);
    f = fopen(cfg, "wb");
    if (f) {
        fwrite(orig, 1, n, f);
        fclose(f);
    }
    rc = run(out, sizeof out, "%s pretrain --resume --run-dir %s --lr 0.5", bin, run_dir);
    CHECK(rc == 2 && strstr(out, "--lr cannot change when resuming"), "item7: --lr on the command line refused: %s",
          out);
    free(orig);

    /* the explicit change, from another working directory (the data path is absolute) */
    char copy[400];
    snprintf(copy, sizeof copy, "%s/longer", dir);
    sh("cp -r %s %s", run_dir, copy);
    rc = run(out, sizeof out, "cd / && %s pretrain --resume --run-dir %s --epochs 3 --max-steps 13", bin, copy);
    CHECK(rc == 0 && strstr(out, "--epochs changes from 2 to 3 on resume") && strstr(out, "resuming after step 12"),
          "item7_explicit_change_logged: --epochs 3 on resume, from /, with a notice: %s", out);
    snprintf(cfg, sizeof cfg, "%s/config.json", copy);
    char *now = slurp(cfg, NULL);
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-latest.safetensors", copy);
    if (dy_ctx_create(&ctx, NULL) == DY_OK) dy_checkpoint_read_config(ctx, ckpt, &stored);
    dy_ctx_destroy(ctx);
    CHECK(now && strstr(now, "\"epochs\": 3") && stored && strstr(stored, "\nepochs=3\n"),
          "item7: config.json and the new checkpoint both record the new epochs");
    free(now);
    free(stored);
    rc = run(out, sizeof out, "%s pretrain --resume --run-dir %s --max-steps 14", bin, copy);
    CHECK(rc == 0, "item7: and it resumes again without repeating the option: %s", out);
}

/* ---- item 8 ---------------------------------------------------------------------------------------------------- */
static void item8_non_finite_weights_refused(const char *resumable) {
    char d[400], bad[500];
    snprintf(d, sizeof d, "%s/nan", dir);
    sh("mkdir -p %s && cp %s/config.json %s/ && cp %s %s/checkpoint-final.safetensors", d, ref, d, ref_final, d);
    snprintf(bad, sizeof bad, "%s/checkpoint-final.safetensors", d);
    CHECK(poison(bad, "layer1.0.conv1.weight", NAN), "a NaN written into layer1.0.conv1.weight");
    int rc = run(out, sizeof out, "%s eval knn --checkpoint %s", bin, bad);
    CHECK(rc == 1 && strstr(out, "layer1.0.conv1.weight") && strstr(out, "NaN"),
          "item8_nan_checkpoint_refused_by_eval: the tensor named: %s", out);
    char x[500];
    snprintf(x, sizeof x, "%s/x.safetensors", d);
    rc = run(out, sizeof out, "%s export --checkpoint %s --out %s", bin, bad, x);
    CHECK(rc == 1 && strstr(out, "layer1.0.conv1.weight") && access(x, F_OK) != 0,
          "item8: export refuses it too: %s", out);
    /* resume: an Inf in the optimizer state */
    char latest[500];
    snprintf(latest, sizeof latest, "%s/checkpoint-latest.safetensors", resumable);
    CHECK(poison(latest, "optimizer.momentum", INFINITY), "an Inf written into optimizer.momentum");
    rc = run(out, sizeof out, "%s pretrain --resume --run-dir %s", bin, resumable);
    CHECK(rc == 1 && strstr(out, "optimizer.momentum") && strstr(out, "+Inf"),
          "item8_inf_checkpoint_refused_on_resume: %s", out);

    /* the weights loader of the library (dy_model_load_weights) checks the same */
    char enc[500];
    snprintf(enc, sizeof enc, "%s/enc.safetensors", d);
    rc = run(out, sizeof out, "%s export --checkpoint %s --out %s", bin, ref_final, enc);
    CHECK(rc == 0 && poison(enc, "bn1.running_var", -INFINITY), "an exported encoder with -Inf in bn1.running_var");
    dy_ctx *ctx = NULL;
    dy_model *m = NULL;
    dy_model_config mc = dy_model_config_default();
    mc.width = 4;
    mc.head = false;
    dy_status st = DY_ERR_INTERNAL;
    if (dy_ctx_create(&ctx, NULL) == DY_OK && dy_model_create(ctx, &mc, 0, &m) == DY_OK)
        st = dy_model_load_weights(m, enc, false);
    CHECK(st == DY_ERR_NUMERIC && strstr(dy_ctx_error(ctx), "bn1.running_var") &&
              strstr(dy_ctx_error(ctx), "-Inf"),
          "item8: dy_model_load_weights refuses it, naming the tensor: %s", ctx ? dy_ctx_error(ctx) : "-");
    dy_model_destroy(m);
    dy_ctx_destroy(ctx);
}

/* ---- issue 23 -------------------------------------------------------------------------------------------------- */
static bool is_fifo(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0 && S_ISFIFO(st.st_mode);
}

/* item 1: an output that is a FIFO or a device node (made here, never /dev's) is refused by every command that writes
 * one, --overwrite or not; --overwrite replaces regular files only. */
static void issue23_item1_outputs_not_regular(void) {
    char fifo[500], node[500];
    snprintf(fifo, sizeof fifo, "%s/out.fifo", dir);
    snprintf(node, sizeof node, "%s/null-like", dir);
    if (!CHECK(mkfifo(fifo, 0600) == 0, "issue23 item1: mkfifo")) return;
    int rc = run(out, sizeof out, "timeout -s KILL 60 %s export --checkpoint %s --out %s --overwrite", bin, ref_final,
                 fifo);
    CHECK(rc == 2 && strstr(out, "not a regular file") && is_fifo(fifo),
          "issue23_item1_export_refuses_fifo: export --out FIFO --overwrite is refused, the FIFO stays: %s", out);
    rc = run(out, sizeof out, "timeout -s KILL 60 %s eval knn --checkpoint %s --json %s --overwrite", bin, ref_final,
             fifo);
    CHECK(rc == 2 && strstr(out, "not a regular file") && is_fifo(fifo),
          "issue23_item1_eval_json_refuses_fifo: %s", out);
    char prefix[500];
    snprintf(prefix, sizeof prefix, "%s/embfifo", dir);
    sh("mkfifo %s_labels.npy", prefix);
    rc = run(out, sizeof out, "timeout -s KILL 60 %s embed --checkpoint %s --out %s --overwrite", bin, ref_final,
             prefix);
    CHECK(rc == 2 && strstr(out, "not a regular file"), "issue23_item1_embed_refuses_fifo: %s", out);
    /* the report, written by the library (no --overwrite there): a FIFO at report.html stays one */
    char rdir[500], page[600];
    snprintf(rdir, sizeof rdir, "%s/reportfifo", dir);
    snprintf(page, sizeof page, "%s/report.html", rdir);
    sh("mkdir -p %s && cp %s/metrics.jsonl %s/config.json %s/ && mkfifo %s", rdir, ref, ref, rdir, page);
    rc = run(out, sizeof out, "timeout -s KILL 60 %s report %s", bin, rdir);
    CHECK(rc == 1 && strstr(out, "report.html") && strstr(out, "a FIFO") && is_fifo(page),
          "issue23_item1_report_refuses_fifo: %s", out);
    /* a character device with /dev/null's numbers (mknod needs root, as a container user is) */
    struct stat st;
    if (mknod(node, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        rc = run(out, sizeof out, "%s export --checkpoint %s --out %s --overwrite", bin, ref_final, node);
        CHECK(rc == 2 && strstr(out, "not a regular file") && lstat(node, &st) == 0 && S_ISCHR(st.st_mode),
              "issue23_item1_export_refuses_device: still a device node after export --overwrite: %s", out);
        rc = run(out, sizeof out, "%s eval knn --checkpoint %s --json %s --overwrite", bin, ref_final, node);
        CHECK(rc == 2 && lstat(node, &st) == 0 && S_ISCHR(st.st_mode),
              "issue23_item1_eval_json_refuses_device: %s", out);
    } else {
        printf("issue23 item1: no device node test (mknod: %s)\n", strerror(errno));
    }
}

/* item 3: a FIFO at metrics.jsonl or histograms.jsonl stops a resume at once with a message (it blocked in open()
 * for ever, and no SIGINT/SIGTERM ended it). */
static void issue23_item3_resume_fifo_logs(const char *resumable) {
    static const char *const logs[] = {"metrics.jsonl", "histograms.jsonl"};
    for (int i = 0; i < 2; i++) {
        char d[400], log[500];
        snprintf(d, sizeof d, "%s/fifo-%d", dir, i);
        snprintf(log, sizeof log, "%s/%s", d, logs[i]);
        sh("rm -rf %s && cp -r %s %s && rm %s && mkfifo %s", d, resumable, d, log, log);
        time_t t0 = time(NULL);
        int rc = run(out, sizeof out, "timeout -s KILL 60 %s pretrain --resume --run-dir %s --max-steps 13", bin, d);
        CHECK(rc == 1 && strstr(out, logs[i]) && strstr(out, "not a regular file") && time(NULL) - t0 < 50,
              "issue23_item3_resume_refuses_fifo_%s: refused at once (exit %d, %lld s): %s", logs[i], rc,
              (long long)(time(NULL) - t0), out);
    }
}

/* item 6: a byte flipped inside a checkpoint's tensor is found (the CRC-32 stored per tensor), naming the tensor; a
 * negative batch-norm running variance is refused like a NaN. */
static void issue23_item6_checksums(void) {
    char d[400], bad[500];
    snprintf(d, sizeof d, "%s/crc", dir);
    sh("mkdir -p %s && cp %s/config.json %s/ && cp %s %s/checkpoint-final.safetensors", d, ref, d, ref_final, d);
    snprintf(bad, sizeof bad, "%s/checkpoint-final.safetensors", d);
    CHECK(poison_file(bad, "layer2.0.conv1.weight", 0.125f, false), "a byte changed in layer2.0.conv1.weight");
    int rc = run(out, sizeof out, "%s eval knn --checkpoint %s", bin, bad);
    CHECK(rc == 1 && strstr(out, "layer2.0.conv1.weight") && strstr(out, "CRC-32"),
          "issue23_item6_flipped_byte_refused_by_eval: the tensor named: %s", out);
    char x[500];
    snprintf(x, sizeof x, "%s/x.safetensors", d);
    rc = run(out, sizeof out, "%s export --checkpoint %s --out %s", bin, bad, x);
    CHECK(rc == 1 && strstr(out, "layer2.0.conv1.weight") && access(x, F_OK) != 0,
          "issue23_item6: export refuses it too: %s", out);
    sh("cp %s %s", ref_final, bad);
    CHECK(poison(bad, "layer1.0.bn1.running_var", -0.5f), "a negative running variance (checksum matching)");
    rc = run(out, sizeof out, "%s eval knn --checkpoint %s", bin, bad);
    CHECK(rc == 1 && strstr(out, "layer1.0.bn1.running_var") && strstr(out, "negative"),
          "issue23_item6_negative_running_var_refused: %s", out);
}

/* ---- fault injection ------------------------------------------------------------------------------------------- */
static pid_t spawn(const char *log, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static pid_t spawn(const char *log, const char *fmt, ...) {
    char cmd[8192], full[8500];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "exec %s >> %s 2>&1", cmd, log); /* exec: the pid is dystress's own */
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", full, (char *)NULL);
        _exit(127);
    }
    return pid;
}


/* The last step metrics.jsonl reports (0 when none). */
static int last_step(const char *run_dir) {
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    FILE *f = fopen(path, "r");
    char line[1024];
    int step = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "{\"step\": ", 9) && strstr(line, "\"loss\"")) step = atoi(line + 9);
    if (f) fclose(f);
    return step;
}

/* Waits (polling every 100 us, at most 60 s) until cond(run_dir) or the process ends; false when it ended. */
static bool wait_for(pid_t pid, const char *run_dir, bool (*cond)(const char *, int), int arg) {
    for (int i = 0; i < 600000; i++) {
        if (cond(run_dir, arg)) return true;
        if (waitpid(pid, NULL, WNOHANG) != 0) return false;
        usleep(100);
    }
    return false;
}
static bool reached_step(const char *run_dir, int step) { return last_step(run_dir) >= step; }
static bool writing_checkpoint(const char *run_dir, int unused) {
    return temporaries(run_dir, "checkpoint-latest") > 0;
}
static bool not_writing(const char *run_dir, int unused) { return temporaries(run_dir, "checkpoint-latest") == 0; }

static void fault_injection_sigkill(void) {
    char k[400], log[500], final[500], cfg[500];
    snprintf(k, sizeof k, "%s/killed", dir);
    snprintf(log, sizeof log, "%s/killed.log", dir);
    snprintf(final, sizeof final, "%s/checkpoint-final.safetensors", k);
    snprintf(cfg, sizeof cfg, "%s/config.json", k);
    uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
    dy_rng r;
    dy_rng_init(&r, seed, DY_RNG_EVAL, 1, 0);
    /* A checkpoint after every step (a setting config.json keeps across resumes), so that a kill can land inside a
     * checkpoint write as well as inside a step. Each attempt runs to a random step a little ahead, then kills:
     * odd attempts as soon as a checkpoint write is under way (its temporary file exists), even ones a random
     * moment into the next step. */
    int kills = 0, mid_write = 0, elsewhere = 0, attempts = test_quick() ? 4 : 6, status = -1;
    char steps[256] = "";
    for (int attempt = 0; attempt <= attempts; attempt++) {
        pid_t pid;
        if (access(cfg, F_OK) == 0)
            pid = spawn(log, "%s pretrain --resume --run-dir %s", bin, k);
        else /* the first start (or one killed before its config.json was written) */
            pid = spawn(log, "%s pretrain " COMMON " --checkpoint-every 1 --overwrite --run-dir %s", bin, data, k);
        bool alive = true;
        if (attempt < attempts) {
            int target = last_step(k) + 1 + (int)dy_rng_below(&r, 3);
            alive = wait_for(pid, k, reached_step, target);
            if (alive && attempt % 2) alive = wait_for(pid, k, writing_checkpoint, 0);
            if (alive && attempt % 2 == 0) { /* after that step's checkpoint, into the next step */
                alive = wait_for(pid, k, writing_checkpoint, 0) && wait_for(pid, k, not_writing, 0);
                usleep((useconds_t)(1000 + dy_rng_below(&r, 30000)));
            }
            if (alive && kill(pid, SIGKILL) == 0) {
                waitpid(pid, &status, 0);
                kills++;
                bool in_write = temporaries(k, "checkpoint-latest") > 0;
                mid_write += in_write;
                elsewhere += !in_write;
                size_t used = strlen(steps);
                snprintf(steps + used, sizeof steps - used, "%s%d%s", kills > 1 ? ", " : "", last_step(k),
                         in_write ? " (in a write)" : "");
                continue;
            }
        }
        waitpid(pid, &status, 0);
        break;
    }
    bool finished = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    char *text = slurp(log, NULL);
    CHECK(finished, "fault injection: the run ends after %d SIGKILLs (seed %llu): %s", kills,
          (unsigned long long)seed, text ? text + (strlen(text) > 3000 ? strlen(text) - 3000 : 0) : "-");
    free(text);
    CHECK(kills == attempts && mid_write >= 1 && elsewhere >= 1,
          "fault_injection_sigkill: %d kills after steps %s: %d inside a checkpoint write (its temporary file left "
          "behind), %d elsewhere (seed %llu)", kills, steps, mid_write, elsewhere, (unsigned long long)seed);
    CHECK(same_bytes(final, ref_final), "fault_injection_sigkill: the final checkpoint equals the uninterrupted "
          "run's byte for byte");
    CHECK(same_metrics(k, ref), "fault_injection_sigkill: so does the metric history (timing aside)");
    CHECK(temporaries(k, "") == 0, "fault injection: no temporary file is left in the run directory");
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/dystress-files-test-%d", (int)getpid());
    snprintf(data, sizeof data, "%s/cifar", dir);
    const char *cli = getenv("DY_CLI");
    char cwd[2048];
    if (!getcwd(cwd, sizeof cwd)) return 1;
    if (cli && cli[0] == '/') snprintf(bin, sizeof bin, "%s", cli);
    else snprintf(bin, sizeof bin, "%s/%s", cwd, cli ? cli : "dystress");
    if (sh("mkdir -p %s", data) != 0) return 1;
    for (int b = 1; b <= 5; b++) {
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        write_cifar(data, name, 8, (uint32_t)b); /* 400 training images */
    }
    write_cifar(data, "test_batch.bin", 10, 99); /* 100 test images */

    /* the uninterrupted reference run */
    snprintf(ref, sizeof ref, "%s/ref", dir);
    snprintf(ref_final, sizeof ref_final, "%s/checkpoint-final.safetensors", ref);
    int rc = run(out, sizeof out, "%s pretrain " COMMON " --run-dir %s", bin, data, ref);
    CHECK(rc == 0 && access(ref_final, F_OK) == 0, "the reference run: %s", out);

    /* half a run, started from the data's folder with a relative --data-dir */
    char half[400];
    snprintf(half, sizeof half, "%s/half", dir);
    rc = run(out, sizeof out, "cd %s && %s pretrain --data cifar10 --data-dir cifar --width 4 --batch-size 32 "
             "--epochs 2 --lr 0.1 --momentum 0.9 --knn-k 20 --knn-every 1 --threads 2 --loader-threads 2 --seed 3 "
             "--max-steps 12 --run-dir half", dir, bin);
    CHECK(rc == 0, "half a run (12 of 24 steps): %s", out);
    char copy[400];
    snprintf(copy, sizeof copy, "%s/half7", dir);
    sh("cp -r %s %s", half, copy);
    item7_config_tied_to_checkpoint(copy);
    item4_run_files_not_followed(copy);
    item8_non_finite_weights_refused(copy);
    issue23_item3_resume_fifo_logs(half);
    item5_write_errors_stop_the_run(half);
    item2_run_dir_not_overwritten();
    item3_outputs_never_overwrite_inputs();
    issue23_item1_outputs_not_regular();
    issue23_item6_checksums();
    fault_injection_sigkill();
    if (!test_quick()) item2_demo_run_dir();

    if (!getenv("DY_TEST_KEEP")) sh("rm -rf %s", dir);
    return test_finish();
}
