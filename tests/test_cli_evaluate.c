/* The evaluation protocols dystress eval runs (src/eval/protocols.c): features come out as the encoder (or the
 * pixel scaling) gives them, the kNN does not depend on their norms, and the linear probe trains on them as given (the
 * reference code's linear.py) or, when asked, on normalised copies, leaving the caller's features untouched. Each
 * protocol is compared with the library call it must equal. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/config.h"
#include "cli_support.h"
#include "core/rng.h"
#include "io/json.h"
#include "testlib.h"
#include "eval/embed.h"
#include "eval/protocols.h"
#include "train/pretrain.h"

enum { N_TRAIN = 240, N_TEST = 60, SIDE = 4, PIX = SIDE * SIDE, CLASSES = 3 };

/* Classes 0 and 1 light the pixels p = 0 and p = 1 (mod 3) of dim images; class 2 has class 1's pattern but is
 * three times brighter. Normalised rows lose the brightness, so only the features as given separate classes 1 and
 * 2: a probe on them beats one on normalised copies, whatever the optimiser's luck. */
static void make_split(dy_dataset *ds, uint8_t *pixels, int32_t *labels, int64_t *counts, int64_t n, uint32_t stream) {
    dy_rng r;
    dy_rng_init(&r, 11, DY_RNG_EVAL, stream, 0);
    memset(counts, 0, sizeof(int64_t) * CLASSES);
    for (int64_t i = 0; i < n; i++) {
        labels[i] = (int32_t)(i % CLASSES);
        counts[labels[i]]++;
        double gain = (labels[i] == 2 ? 0.9 : 0.3) + 0.1 * dy_rng_uniform(&r);
        int pattern = labels[i] == 2 ? 1 : labels[i];
        for (int p = 0; p < PIX; p++) {
            double v = gain * ((p % CLASSES == pattern ? 200 : 60) + 30 * dy_rng_normal(&r));
            pixels[i * PIX + p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }
    *ds = (dy_dataset){.count = n, .channels = 1, .height = SIDE, .width = SIDE, .pixels = pixels, .labels = labels,
                       .num_classes = CLASSES, .class_counts = counts};
}

static float *normalised(const float *x, int64_t n, int64_t d) {
    float *y = malloc(sizeof(float) * (size_t)(n * d));
    for (int64_t i = 0; i < n; i++) {
        double ss = 0;
        for (int64_t k = 0; k < d; k++) ss += (double)x[i * d + k] * x[i * d + k];
        float inv = (float)(1.0 / fmax(sqrt(ss), 1e-12));
        for (int64_t k = 0; k < d; k++) y[i * d + k] = x[i * d + k] * inv;
    }
    return y;
}

/* top-1 of dy_probe trained on the given features directly */
static double probe_top1(dy_ctx *ctx, const float *ftr, const int64_t *ytr, const float *fte, const int64_t *yte,
                         int64_t d, const dy_probe_options *po) {
    dy_probe *p = NULL;
    dy_eval_accuracy acc = {0};
    double top1 = -1;
    if (dy_probe_create(ctx, &p, d, CLASSES, po) == DY_OK &&
        dy_probe_train_cached(ctx, p, ftr, ytr, N_TRAIN, NULL, NULL) == DY_OK &&
        dy_probe_evaluate(ctx, p, fte, yte, N_TEST, NULL, &acc) == DY_OK)
        top1 = acc.top1;
    dy_eval_accuracy_free(&acc);
    dy_probe_destroy(p);
    return top1;
}

/* ---- issue 10 item 9: eval --json writes valid JSON and reports failed writes; folder classes must match ---- */

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *b = calloc(1, 4096);
    *n = fread(b, 1, 4095, f);
    fclose(f);
    return b;
}

static void item9_scores_json(dy_ctx *ctx) {
    char dir[] = "/tmp/dy_item9_XXXXXX";
    if (!CHECK(mkdtemp(dir) != NULL, "item9: temporary folder")) return;
    char path[128];
    snprintf(path, sizeof path, "%s/scores.json", dir);
    /* an unbalanced set whose "few" group is empty: NaN, which JSON cannot hold */
    dy_eval_scores s = {.top1 = 0.5, .top5 = 0.875, .many = 0.75, .medium = NAN, .few = NAN, .has_shots = true};
    CHECK(dy_eval_write_json(ctx, path, "encoder", "knn", &s, NULL, NULL, NULL) == DY_OK, "item9: scores written: %s",
          dy_ctx_error(ctx));
    size_t n = 0;
    char *text = slurp(path, &n);
    dy_json_doc *doc = NULL;
    dy_json_error e = {0};
    CHECK(text && dy_json_parse(NULL, path, text, n, &doc, &e) == DY_OK, "item9_eval_json: the file is valid JSON "
          "(%s at %lld:%lld): %s", e.message, (long long)e.line, (long long)e.column, text ? text : "(none)");
    const dy_json *r = dy_json_root(doc);
    const dy_json *many = dy_json_member(r, "many"), *medium = dy_json_member(r, "medium"),
                  *few = dy_json_member(r, "few"), *top1 = dy_json_member(r, "top1");
    CHECK(many && many->type == DY_JSON_NUMBER && many->number == 0.75 && medium && medium->type == DY_JSON_NULL &&
              few && few->type == DY_JSON_NULL && top1 && top1->number == 0.5,
          "item9_eval_json: NaN groups are null, the others numbers: %s", text ? text : "");
    dy_json_free(doc);
    free(text);

    /* a write that fails (here: the file size limit, as a full disk would) is an error and leaves the old file */
    struct rlimit old, tiny = {.rlim_cur = 20, .rlim_max = RLIM_INFINITY};
    getrlimit(RLIMIT_FSIZE, &old);
    tiny.rlim_max = old.rlim_max;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &tiny);
    dy_status st = dy_eval_write_json(ctx, path, "encoder", "linear", &s, NULL, NULL, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    CHECK(st == DY_ERR_IO && strstr(dy_ctx_error(ctx), "cannot write"), "item9_eval_json: a failed write is "
          "reported: %s", dy_ctx_error(ctx));
    text = slurp(path, &n);
    CHECK(text && strstr(text, "\"knn\""), "item9_eval_json: the previous file is left whole: %s", text ? text : "");
    free(text);
    snprintf(path, sizeof path, "%s/missing/scores.json", dir);
    CHECK(dy_eval_write_json(ctx, path, "encoder", "knn", &s, NULL, NULL, NULL) == DY_ERR_IO,
          "item9_eval_json: an unwritable path is an error: %s", dy_ctx_error(ctx));
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

static void write_tiny_png(const char *path, int shade) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, 8, 8, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    png_byte row[8];
    for (int y = 0; y < 8; y++) {
        for (int x = 0; x < 8; x++) row[x] = (png_byte)(shade + x + y);
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* a folder of one sub-folder per class name (space-separated), two images each */
static void make_class_folders(const char *root, const char *names) {
    mkdir(root, 0700);
    char copy[256], p[512];
    snprintf(copy, sizeof copy, "%s", names);
    int c = 0;
    for (char *save = NULL, *n = strtok_r(copy, " ", &save); n; n = strtok_r(NULL, " ", &save), c++) {
        snprintf(p, sizeof p, "%s/%s", root, n);
        mkdir(p, 0700);
        for (int i = 0; i < 2; i++) {
            snprintf(p, sizeof p, "%s/%s/%d.png", root, n, i);
            write_tiny_png(p, 40 * c + i);
        }
    }
}

static void item9_folder_classes(dy_ctx *ctx) {
    char dir[] = "/tmp/dy_item9f_XXXXXX";
    if (!CHECK(mkdtemp(dir) != NULL, "item9: temporary folder")) return;
    char tr[128], same[128], other[128], fewer[128];
    snprintf(tr, sizeof tr, "%s/train", dir);
    snprintf(same, sizeof same, "%s/test_same", dir);
    snprintf(other, sizeof other, "%s/test_other", dir);
    snprintf(fewer, sizeof fewer, "%s/test_fewer", dir);
    make_class_folders(tr, "cat dog fish");
    make_class_folders(same, "cat dog fish");
    make_class_folders(other, "cat dog frog");
    make_class_folders(fewer, "cat fish");
    run_options o;
    opt_spec t[RUN_OPTION_COUNT];
    char err[256];
    char *argv[] = {"--data", "folder", "--image-size", "8", "--data-dir", tr, "--test-dir", same};
    run_option_table(t, &o);
    CHECK(opt_parse(t, 8, argv, 0, NULL, 0, NULL, err, sizeof err) == 0, "item9: options: %s", err);
    dy_dataset *a = NULL, *b = NULL;
    CHECK(cli_load_data(ctx, &o, &a, &b) == DY_OK && a && b && b->num_classes == 3,
          "item9_folder_classes: the same class folders load: %s", dy_ctx_error(ctx));
    dy_dataset_free(a);
    dy_dataset_free(b);
    o.test_dir = other;
    CHECK(cli_load_data(ctx, &o, &a, &b) == DY_ERR_FORMAT && !a && !b &&
              strstr(dy_ctx_error(ctx), "only in the training folder: 'fish'; only in the test folder: 'frog'"),
          "item9_folder_classes: other class names are refused, named: %s", dy_ctx_error(ctx));
    o.test_dir = fewer;
    CHECK(cli_load_data(ctx, &o, &a, &b) == DY_ERR_FORMAT &&
              strstr(dy_ctx_error(ctx), "(3 classes)") && strstr(dy_ctx_error(ctx), "only in the training folder: "
              "'dog'; only in the test folder: none"),
          "item9_folder_classes: a test folder missing a class is refused: %s", dy_ctx_error(ctx));
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Issue 23 item 4: --skip-bad says what it skipped (the count and the first names) and records it: eval --json holds
 * the counts and names, a pretraining run directory skipped-images.txt. */
static void issue23_skip_bad_said(void) {
    char dir[] = "/tmp/dy_issue23_skip_XXXXXX";
    if (!CHECK(mkdtemp(dir) != NULL, "issue23: temporary folder")) return;
    char tr[128], te[128], p[256], json[128], run[128];
    snprintf(tr, sizeof tr, "%s/train", dir);
    snprintf(te, sizeof te, "%s/test", dir);
    snprintf(json, sizeof json, "%s/eval.json", dir);
    snprintf(run, sizeof run, "%s/run", dir);
    make_class_folders(tr, "cat dog");
    make_class_folders(te, "cat dog");
    for (int i = 2; i < 5; i++) { /* 10 test images, 2 of them bad */
        snprintf(p, sizeof p, "%s/cat/%d.png", te, i);
        write_tiny_png(p, 3 * i);
    }
    snprintf(p, sizeof p, "%s/dog/2.png", te);
    write_tiny_png(p, 9);
    const char *bad[] = {"cat/broken.png", "dog/zero.jpg", NULL};
    for (int i = 0; bad[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", te, bad[i]);
        FILE *f = fopen(p, "wb");
        if (f) fputs(i ? "" : "\x89PNG garbage", f), fclose(f);
    }
    snprintf(p, sizeof p, "%s/dog/bad-train.png", tr);
    FILE *f = fopen(p, "wb");
    if (f) fputs("not a png", f), fclose(f);
    static char out[16384];
    int rc = cli_run(out, sizeof out, "./dystress eval knn --features pixels --data folder --image-size 8 "
                     "--data-dir %s --test-dir %s --skip-bad --knn-k 1 --threads 1 --json %s", tr, te, json);
    CHECK(rc == 0 && strstr(out, "skipped 2 test images") && strstr(out, "cat/broken.png") &&
              strstr(out, "dog/zero.jpg") && strstr(out, "skipped 1 training image") && strstr(out, "bad-train.png"),
          "issue23_item4_skip_bad_printed: the count and the names: %s", out);
    size_t n = 0;
    char *text = slurp(json, &n);
    dy_json_doc *doc = NULL;
    dy_json_error e = {0};
    const dy_json *r = text && dy_json_parse(NULL, json, text, n, &doc, &e) == DY_OK ? dy_json_root(doc) : NULL;
    const dy_json *st = dy_json_member(r, "skipped_test"), *names = dy_json_member(r, "skipped_files");
    CHECK(st && st->number == 2 && names && names->type == DY_JSON_ARRAY && names->count == 3 &&
              strstr(names->items[1].text, "cat/broken.png"),
          "issue23_item4_skip_bad_in_eval_json: %s", text ? text : "(none)");
    dy_json_free(doc);
    free(text);
    /* a pretraining run lists every skipped image in its directory */
    rc = cli_run(out, sizeof out, "./dystress pretrain --data folder --image-size 8 --data-dir %s --skip-bad --width 2 "
                 "--batch-size 2 --epochs 1 --max-steps 1 --knn-every -1 --threads 1 --loader-threads 1 --run-dir %s",
                 tr, run);
    snprintf(p, sizeof p, "%s/skipped-images.txt", run);
    text = slurp(p, &n);
    CHECK(rc == 0 && strstr(out, "skipped 1 training image") && text && strstr(text, "dog/bad-train.png\n"),
          "issue23_item4_skip_bad_in_run_dir: skipped-images.txt: %s / %s", text ? text : "(none)", out);
    free(text);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    static uint8_t ptr[N_TRAIN * PIX], pte[N_TEST * PIX];
    static int32_t ltr[N_TRAIN], lte[N_TEST];
    int64_t ctr[CLASSES], cte[CLASSES];
    dy_dataset train, test;
    make_split(&train, ptr, ltr, ctr, N_TRAIN, 1);
    make_split(&test, pte, lte, cte, N_TEST, 2);
    int64_t *ytr = dy_labels_int64(&train), *yte = dy_labels_int64(&test);
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 2};
    CHECK(dy_ctx_create(&ctx, &co) == DY_OK, "context");

    /* pixels: scaled to [0, 1], not normalised */
    float *ftr = NULL, *fte = NULL;
    int64_t dim = 0;
    CHECK(dy_eval_features(ctx, NULL, &train, &train, &ftr, &dim) == DY_OK &&
              dy_eval_features(ctx, NULL, &train, &test, &fte, &dim) == DY_OK && dim == PIX,
          "pixel features: %s (dim %lld)", dy_ctx_error(ctx), (long long)dim);
    int64_t wrong = 0;
    for (int64_t i = 0; i < N_TRAIN * PIX; i++) wrong += ftr[i] != (float)ptr[i] * (1.0f / 255.0f);
    CHECK(wrong == 0, "pixel features are the pixels / 255 as given (%lld differ)", (long long)wrong);

    float *ntr = normalised(ftr, N_TRAIN, PIX), *nte = normalised(fte, N_TEST, PIX);
    float *keep = malloc(sizeof(float) * N_TRAIN * PIX);
    memcpy(keep, ftr, sizeof(float) * N_TRAIN * PIX);

    /* kNN: cosine similarity, so the same votes on raw and on normalised features */
    dy_eval_scores kr, kn;
    CHECK(dy_eval_knn(ctx, ftr, &train, fte, &test, dim, 20, 0.1, NULL, &kr) == DY_OK &&
              dy_eval_knn(ctx, ntr, &train, nte, &test, dim, 20, 0.1, NULL, &kn) == DY_OK,
          "kNN: %s", dy_ctx_error(ctx));
    CHECK(kr.top1 == kn.top1 && kr.top5 == kn.top5, "kNN on raw %.4f and normalised %.4f features", kr.top1, kn.top1);

    /* the probe: as given by default, normalised copies when asked */
    dy_probe_options po = dy_probe_defaults();
    po.epochs = 15;
    po.batch_size = 32;
    po.lr = 1e-2;
    dy_eval_scores lr_, ln_;
    CHECK(dy_eval_linear_cached(ctx, ftr, &train, fte, &test, dim, &po, false, NULL, &lr_) == DY_OK &&
              dy_eval_linear_cached(ctx, ftr, &train, fte, &test, dim, &po, true, NULL, &ln_) == DY_OK,
          "linear probe: %s", dy_ctx_error(ctx));
    double want_raw = probe_top1(ctx, ftr, ytr, fte, yte, dim, &po);
    double want_norm = probe_top1(ctx, ntr, ytr, nte, yte, dim, &po);
    CHECK(lr_.top1 == want_raw, "probe on features as given: %.4f, dy_probe on them %.4f", lr_.top1, want_raw);
    CHECK(ln_.top1 == want_norm, "probe with normalize: %.4f, dy_probe on normalised features %.4f", ln_.top1,
          want_norm);
    /* normalised, classes 1 and 2 look alike: at most 2/3 right; as given, all three classes are separable */
    CHECK(want_raw > 0.9 && want_norm > 0.5 && want_norm < 0.75, "probe on features as given %.3f, on normalised "
          "features %.3f (expected > 0.9 and about 2/3)", want_raw, want_norm);
    CHECK(memcmp(keep, ftr, sizeof(float) * N_TRAIN * PIX) == 0, "the caller's features are left as they were");

    /* an encoder: h as the model gives it, the same rows dy_embed_dataset normalises */
    dy_model_config mc = dy_model_config_default();
    mc.width = 4;
    mc.in_channels = 1;
    mc.head = false;
    dy_model *m = NULL;
    float *h = NULL, *hn = NULL;
    int64_t hd = 0, hnd = 0;
    dy_augment eval_aug;
    CHECK(dy_model_create(ctx, &mc, 3, &m) == DY_OK, "model: %s", dy_ctx_error(ctx));
    CHECK(dy_augment_preset(ctx, &eval_aug, "eval", &train) == DY_OK, "eval preset");
    CHECK(dy_eval_features(ctx, m, &train, &test, &h, &hd) == DY_OK &&
              dy_embed_dataset(ctx, m, &test, &eval_aug, 256, true, &hn, &hnd) == DY_OK && hd == hnd && hd == 32,
          "encoder features: %s (dim %lld)", dy_ctx_error(ctx), (long long)hd);
    if (h && hn && hd == hnd) {
        float *h_unit = normalised(h, N_TEST, hd);
        double far_from_unit = 0;
        for (int64_t i = 0; i < N_TEST; i++) {
            double ss = 0;
            for (int64_t k = 0; k < hd; k++) ss += (double)h[i * hd + k] * h[i * hd + k];
            far_from_unit = fmax(far_from_unit, fabs(sqrt(ss) - 1));
        }
        CHECK(far_from_unit > 1e-3, "encoder features are not normalised (largest |norm - 1| %.3g)", far_from_unit);
        test_close("encoder features normalised = dy_embed_dataset's", h_unit, hn, (size_t)(N_TEST * hd), 1e-6);
        free(h_unit);
    }
    free(h);
    free(hn);
    dy_model_destroy(m);
    free(ftr);
    free(fte);
    free(ntr);
    free(nte);
    free(keep);
    free(ytr);
    free(yte);
    item9_scores_json(ctx);
    item9_folder_classes(ctx);
    issue23_skip_bad_said();
    dy_ctx_destroy(ctx);
    return test_finish();
}
