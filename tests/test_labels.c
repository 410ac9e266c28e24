/* Issue 25, few labels and class imbalance: the labelled subset (balanced per class, seeded, deterministic, nested,
 * bad fractions refused), the head/middle/tail thirds and many/medium/few groups against hand-computed examples,
 * and `dystress eval` end to end on a small MNIST-format set: --label-fraction / --labels-per-class in its output
 * and --json, --long-tail on a non-CIFAR set with exact counts, cifar10 --long-tail equal to cifar10-lt. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <sys/stat.h>

#include "cli_support.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "dystress.h"
#include "io/json.h"
#include "testlib.h"

enum { C = 10 };

/* 10 classes, class c with 100 + 10 c images of 1x2x2 pixels; pixel bytes 0-1 hold the image's index (so a subset's
 * images can be traced), labels c = i % 10 while every class has images left. */
static dy_dataset *uneven_set(dy_ctx *ctx) {
    int64_t n = 0;
    for (int c = 0; c < C; c++) n += 100 + 10 * c;
    dy_dataset *ds = dy_dataset_alloc(n, 1, 2, 2);
    int64_t left[C];
    for (int c = 0; c < C; c++) left[c] = 100 + 10 * c;
    for (int64_t i = 0, c = 0; i < n; i++) {
        while (left[c % C] == 0) c++;
        ds->labels[i] = (int32_t)(c % C);
        left[c % C]--;
        c++;
        ds->pixels[i * 4] = (uint8_t)(i & 255), ds->pixels[i * 4 + 1] = (uint8_t)(i >> 8);
    }
    CHECK(dy_dataset_set_classes(ctx, ds, C, NULL, "uneven") == DY_OK, "uneven set: classes");
    return ds;
}

static int64_t image_id(const dy_dataset *ds, int64_t i) { return ds->pixels[i * 4] | ds->pixels[i * 4 + 1] << 8; }

/* true when every image of a is in b (both in increasing id order) */
static bool inside(const dy_dataset *a, const dy_dataset *b) {
    int64_t j = 0;
    for (int64_t i = 0; i < a->count; i++) {
        while (j < b->count && image_id(b, j) < image_id(a, i)) j++;
        if (j == b->count || image_id(b, j) != image_id(a, i)) return false;
    }
    return true;
}

static void subset_draws(dy_ctx *ctx) {
    dy_dataset *ds = uneven_set(ctx), *a = NULL, *b = NULL, *c2 = NULL, *small = NULL, *capped = NULL, *k = NULL;
    /* fraction 0.1: class c keeps round(0.1 (100 + 10 c)) = 10 + c */
    if (CHECK(dy_dataset_label_subset(ctx, &a, ds, 0.1, 0, 5) == DY_OK, "subset 0.1: %s", dy_ctx_error(ctx))) {
        bool counts = true, traced = true;
        int64_t total = 0;
        for (int c = 0; c < C; c++) counts &= a->class_counts[c] == 10 + c, total += 10 + c;
        for (int64_t i = 0; i < a->count; i++) {
            int64_t id = image_id(a, i);
            traced &= ds->labels[id] == a->labels[i] && (i == 0 || id > image_id(a, i - 1));
        }
        CHECK(counts && a->count == total, "subset 0.1: class c keeps 10 + c images (%lld in all)",
              (long long)a->count);
        CHECK(traced, "subset: images keep their labels and their order");
    }
    CHECK(dy_dataset_label_subset(ctx, &b, ds, 0.1, 0, 5) == DY_OK && a && b && a->count == b->count &&
              memcmp(a->pixels, b->pixels, (size_t)a->count * 4) == 0,
          "subset: the same seed draws the same images");
    CHECK(dy_dataset_label_subset(ctx, &c2, ds, 0.1, 0, 6) == DY_OK && a && c2 && a->count == c2->count &&
              memcmp(a->pixels, c2->pixels, (size_t)a->count * 4) != 0,
          "subset: another seed draws other images");
    /* 0.001 of 100..190 rounds to 0: at least one a class; the 1-per-class subset lies inside the 10 % one */
    if (CHECK(dy_dataset_label_subset(ctx, &small, ds, 0.001, 0, 5) == DY_OK, "subset 0.001")) {
        bool one = small->count == C;
        for (int c = 0; c < C; c++) one &= small->class_counts[c] == 1;
        CHECK(one, "subset 0.001: one image a class (%lld)", (long long)small->count);
        CHECK(a && inside(small, a), "subsets of one seed are nested: 0.1 %% inside 10 %%");
    }
    /* per class: exactly K, all of a smaller class; with a fraction: the smaller of the two */
    if (CHECK(dy_dataset_label_subset(ctx, &k, ds, 0, 7, 5) == DY_OK, "subset 7 per class")) {
        bool seven = k->count == 7 * C;
        for (int c = 0; c < C; c++) seven &= k->class_counts[c] == 7;
        CHECK(seven, "--labels-per-class 7: 7 a class");
        CHECK(a && inside(k, a), "7 per class inside the 10 %% subset of the same seed");
    }
    if (CHECK(dy_dataset_label_subset(ctx, &capped, ds, 0.1, 12, 5) == DY_OK, "subset 0.1 capped at 12")) {
        bool ok = true;
        for (int c = 0; c < C; c++) ok &= capped->class_counts[c] == (10 + c < 12 ? 10 + c : 12);
        CHECK(ok, "fraction and per class: min(10 + c, 12) a class");
    }
    dy_dataset_free(k);
    k = NULL;
    CHECK(dy_dataset_label_subset(ctx, &k, ds, 0, 1000, 5) == DY_OK && k && k->count == ds->count,
          "--labels-per-class above every class: the whole set");
    dy_dataset_free(k);
    k = NULL;
    CHECK(dy_dataset_label_subset(ctx, &k, ds, 1, 0, 5) == DY_OK && k && k->count == ds->count &&
              memcmp(k->pixels, ds->pixels, (size_t)ds->count * 4) == 0,
          "fraction 1: the whole set in its order");
    dy_dataset_free(k);
    /* refusals */
    struct { double f; int64_t k; const char *want; } bad[] = {
        {1.5, 0, "not in (0, 1]"}, {-0.1, 0, "not in (0, 1]"}, {NAN, 0, "not in (0, 1]"},
        {0, -1, "at least 1"}, {0, 0, "give a fraction"}};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        dy_dataset *none = (dy_dataset *)1;
        dy_status st = dy_dataset_label_subset(ctx, &none, ds, bad[i].f, bad[i].k, 0);
        CHECK(st == DY_ERR_INVALID && none == NULL && strstr(dy_ctx_error(ctx), bad[i].want),
              "subset refused: fraction %g, per class %lld: %s", bad[i].f, (long long)bad[i].k, dy_ctx_error(ctx));
    }
    dy_dataset *unlabelled = dy_dataset_alloc(4, 1, 2, 2), *none = NULL;
    CHECK(dy_dataset_set_classes(ctx, unlabelled, 0, NULL, "unlabelled") == DY_OK &&
              dy_dataset_label_subset(ctx, &none, unlabelled, 0.5, 0, 0) == DY_ERR_INVALID && !none,
          "subset of an unlabelled set refused: %s", dy_ctx_error(ctx));
    dy_dataset_free(unlabelled);
    dy_dataset_free(a), dy_dataset_free(b), dy_dataset_free(c2), dy_dataset_free(small), dy_dataset_free(capped);
    dy_dataset_free(ds);
}

/* 6 classes of 4 test samples; class c has correct[c] of them right: top-1 1, .75, .5, .5, .25, 0 */
static void groups_by_hand(dy_ctx *ctx) {
    const int K = 6, per = 4, correct[6] = {4, 3, 2, 2, 1, 0};
    int64_t ranked[24 * DY_EVAL_TOPK], labels[24];
    for (int c = 0, i = 0; c < K; c++)
        for (int j = 0; j < per; j++, i++) {
            labels[i] = c;
            for (int t = 0; t < DY_EVAL_TOPK; t++)
                ranked[i * DY_EVAL_TOPK + t] = (c + (j < correct[c] ? 0 : 1) + t) % K;
        }
    dy_eval_accuracy acc = {0};
    if (!CHECK(dy_eval_accuracy_compute(ctx, ranked, labels, 24, K, &acc) == DY_OK, "hand example: accuracy")) return;
    /* training images: ties between classes 0 and 2 (30 each) go to the lower index first. Ranked: c1 50, c3 40,
     * c0 30, c2 30, c5 10, c4 5: head {1, 3} = (.75 + .5) / 2, middle {0, 2} = (1 + .5) / 2, tail {5, 4} = .125 */
    const int64_t train[6] = {30, 50, 30, 40, 5, 10};
    dy_thirds_accuracy th;
    CHECK(dy_eval_thirds_accuracy(ctx, &acc, train, &th) == DY_OK && th.head == 0.625 && th.middle == 0.75 &&
              th.tail == 0.125 && th.gap == 0.5 && th.head_classes == 2 && th.middle_classes == 2 &&
              th.tail_classes == 2,
          "thirds by hand: head %g middle %g tail %g gap %g (want .625 .75 .125 .5)", th.head, th.middle, th.tail,
          th.gap);
    /* the LT thresholds: many > 100 {c0}, medium 20..100 {c1, c2, c3}, few < 20 {c4, c5} */
    const int64_t lt[6] = {150, 100, 60, 20, 19, 5};
    dy_shot_accuracy sh;
    CHECK(dy_eval_shot_accuracy(ctx, &acc, lt, NULL, &sh) == DY_OK && sh.many == 1 &&
              fabs(sh.medium - 1.75 / 3) < 1e-12 && sh.few == 0.125 && sh.many_classes == 1 &&
              sh.medium_classes == 3 && sh.few_classes == 2,
          "many/medium/few by hand: %g %g %g (want 1, .5833, .125)", sh.many, sh.medium, sh.few);
    /* 10 classes split 4 / 3 / 3; a class without test samples is left out (9 ranked: 3 / 3 / 3) */
    dy_eval_accuracy ten = {.classes = 10};
    int64_t samples[10], counts[10];
    double top1[10];
    for (int c = 0; c < 10; c++) samples[c] = 1, top1[c] = c < 4 ? 1.0 : c < 7 ? 0.5 : 0.0, counts[c] = 100 - c;
    ten.class_samples = samples, ten.class_top1 = top1;
    CHECK(dy_eval_thirds_accuracy(ctx, &ten, counts, &th) == DY_OK && th.head_classes == 4 && th.head == 1 &&
              th.middle_classes == 3 && th.middle == 0.5 && th.tail_classes == 3 && th.tail == 0 && th.gap == 1,
          "10 classes: 4 / 3 / 3 (%lld / %lld / %lld)", (long long)th.head_classes, (long long)th.middle_classes,
          (long long)th.tail_classes);
    samples[0] = 0, top1[0] = NAN;
    CHECK(dy_eval_thirds_accuracy(ctx, &ten, counts, &th) == DY_OK && th.head_classes == 3 && th.head == 1 &&
              th.middle_classes == 3 && th.tail_classes == 3 && th.middle == 0.5,
          "a class without test samples is left out: %lld / %lld / %lld", (long long)th.head_classes,
          (long long)th.middle_classes, (long long)th.tail_classes);
    dy_eval_accuracy_free(&acc);
}

/* ---- the command end to end ------------------------------------------------------------------------------------ */

static void put_be32(FILE *f, uint32_t v) {
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    fwrite(b, 1, 4, f);
}

/* MNIST-format files (4x4 images) in dir: per_class images a class, class c lights pixel c (plus noise), or every
 * label 0 when one_class */
static void write_idx(const char *dir, const char *prefix, int per_class, uint32_t stream, bool one_class) {
    char p[512];
    int n = per_class * C;
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte", dir, prefix);
    FILE *fi = fopen(p, "wb");
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte", dir, prefix);
    FILE *fl = fopen(p, "wb");
    if (!fi || !fl) {
        if (fi) fclose(fi);
        if (fl) fclose(fl);
        return;
    }
    put_be32(fi, 0x803), put_be32(fi, (uint32_t)n), put_be32(fi, 4), put_be32(fi, 4);
    put_be32(fl, 0x801), put_be32(fl, (uint32_t)n);
    dy_rng r;
    dy_rng_init(&r, 3, DY_RNG_EVAL, stream, 0);
    for (int i = 0; i < n; i++) {
        int c = i % C;
        uint8_t px[16];
        for (int k = 0; k < 16; k++) px[k] = (uint8_t)(k == c ? 200 + dy_rng_below(&r, 50) : dy_rng_below(&r, 60));
        fwrite(px, 1, 16, fi);
        uint8_t y = one_class ? 0 : (uint8_t)c;
        fwrite(&y, 1, 1, fl);
    }
    fclose(fi);
    fclose(fl);
}

static dy_json_doc *read_json(const char *path, const dy_json **root) {
    *root = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    dy_json_doc *doc = NULL;
    dy_json_error e = {0};
    if (dy_json_parse(NULL, path, text, n, &doc, &e) != DY_OK) return NULL;
    *root = dy_json_root(doc);
    return doc;
}

static double member_number(const dy_json *r, const char *key) {
    const dy_json *v = dy_json_member(r, key);
    return v && v->type == DY_JSON_NUMBER ? v->number : NAN;
}

/* every item of the array key equals want[i] */
static bool array_is(const dy_json *r, const char *key, const int64_t *want, int n) {
    const dy_json *a = dy_json_member(r, key);
    if (!a || a->type != DY_JSON_ARRAY || a->count != (size_t)n) return false;
    for (int i = 0; i < n; i++)
        if (a->items[i].type != DY_JSON_NUMBER || a->items[i].number != (double)want[i]) return false;
    return true;
}

static void eval_end_to_end(void) {
    char dir[] = "/tmp/dy_issue25_XXXXXX";
    if (!CHECK(mkdtemp(dir) != NULL, "temporary folder")) return;
    char one[128], json[160], json2[160];
    write_idx(dir, "train", 30, 1, false);
    write_idx(dir, "t10k", 5, 2, false);
    snprintf(one, sizeof one, "%s/one", dir);
    mkdir(one, 0755);
    write_idx(one, "train", 3, 1, true);
    write_idx(one, "t10k", 1, 2, true);
    snprintf(json, sizeof json, "%s/a.json", dir);
    snprintf(json2, sizeof json2, "%s/b.json", dir);
    static char out[16384];
    const char *base = "./dystress eval knn --features pixels --data mnist --threads 1 --overwrite";

    /* 10 % of 30 a class: 3 labelled images of each class, the test split whole */
    int rc = cli_run(out, sizeof out, "%s --data-dir %s --label-fraction 0.1 --json %s", base, dir, json);
    const dy_json *r;
    dy_json_doc *doc = read_json(json, &r);
    int64_t three[C], thirty[C], five[C];
    for (int c = 0; c < C; c++) three[c] = 3, thirty[c] = 30, five[c] = 5;
    CHECK(rc == 0 && strstr(out, "labels") && strstr(out, "30 of 300 training images; 3 per class") &&
              strstr(out, "kNN (k 30,"),
          "--label-fraction 0.1: the subset printed, k clamped to the bank: %s", out);
    CHECK(doc && member_number(r, "labelled_images") == 30 && member_number(r, "label_fraction") == 0.1 &&
              member_number(r, "label_seed") == 0 && array_is(r, "class_labelled", three, C) &&
              array_is(r, "class_train", thirty, C) && array_is(r, "class_test", five, C) &&
              dy_json_member(r, "class_top1") && dy_json_member(r, "class_top1")->count == C &&
              member_number(r, "top1") > 0.5 && dy_json_member(r, "protocol_detail") &&
              !strcmp(dy_json_member(r, "protocol_detail")->text, "kNN (k 30, t 0.1)"),
          "--label-fraction 0.1 in --json (top-1 %g)", member_number(r, "top1"));
    dy_json_free(doc);

    /* the same seed, the same subset and scores; the linear probe takes the subset too */
    rc = cli_run(out, sizeof out, "%s --data-dir %s --labels-per-class 2 --label-seed 4 --json %s && %s --data-dir %s "
                 "--labels-per-class 2 --label-seed 4 --json %s && cmp %s %s", base, dir, json, base, dir, json2, json,
                 json2);
    CHECK(rc == 0, "--labels-per-class 2 --label-seed 4 twice: the same --json: %s", out);
    rc = cli_run(out, sizeof out, "./dystress eval linear --features pixels --data mnist --threads 1 --overwrite "
                 "--data-dir %s --labels-per-class 2 --probe-epochs 3 --json %s", dir, json);
    doc = read_json(json, &r);
    CHECK(rc == 0 && doc && member_number(r, "labelled_images") == 20 && member_number(r, "labels_per_class") == 2 &&
              dy_json_member(r, "label_fraction") && dy_json_member(r, "label_fraction")->type == DY_JSON_NULL,
          "eval linear --labels-per-class 2: 20 labelled images: %s", out);
    dy_json_free(doc);

    /* --long-tail on MNIST: class c keeps floor(30 * 0.1^(c / 9)); head / middle / tail and the gap reported */
    rc = cli_run(out, sizeof out, "%s --data-dir %s --long-tail --lt-ratio 0.1 --json %s", base, dir, json);
    doc = read_json(json, &r);
    int64_t lt[C], total = 0;
    for (int c = 0; c < C; c++) total += lt[c] = (int64_t)floor(30 * pow(0.1, c / 9.0) + 1e-9);
    CHECK(rc == 0 && doc && array_is(r, "class_train", lt, C) && member_number(r, "labelled_images") == total &&
              lt[0] == 30 && lt[9] == 3 && isfinite(member_number(r, "head")) &&
              isfinite(member_number(r, "head_tail_gap")) && member_number(r, "head_classes") == 4 &&
              member_number(r, "tail_classes") == 3 && strstr(out, "head-tail gap"),
          "--long-tail --lt-ratio 0.1 on mnist: exact counts, thirds in --json and on stdout: %s", out);
    CHECK(doc && fabs(member_number(r, "head_tail_gap") - (member_number(r, "head") - member_number(r, "tail"))) <
                     1e-5,
          "head_tail_gap = head - tail");
    dy_json_free(doc);
    /* a validation hold-out of a balanced set leaves a few images more in some classes than in others: not a long
     * tail, so no head/middle/tail thirds (they would be noise) */
    rc = cli_run(out, sizeof out, "%s --data-dir %s --val-size 60 --json %s", base, dir, json);
    doc = read_json(json, &r);
    CHECK(rc == 0 && doc && !strstr(out, "head-tail gap") && !isfinite(member_number(r, "head")),
          "--val-size 60 of a balanced set: no thirds: %s", out);
    dy_json_free(doc);
    /* few labels of a long tail: the groups keep the long-tailed set's counts, the subset its own */
    rc = cli_run(out, sizeof out, "%s --data-dir %s --long-tail --lt-ratio 0.1 --label-fraction 0.5 --json %s", base,
                 dir, json);
    doc = read_json(json, &r);
    int64_t half[C];
    for (int c = 0; c < C; c++) half[c] = (int64_t)floor(0.5 * (double)lt[c] + 0.5);
    CHECK(rc == 0 && doc && array_is(r, "class_train", lt, C) && array_is(r, "class_labelled", half, C),
          "--long-tail with --label-fraction 0.5: round(n_c / 2) labelled, groups by n_c: %s", out);
    dy_json_free(doc);

    /* fine-tuning end to end on 5 labels a class (a random width-4 encoder, one epoch); pixels refused */
    rc = cli_run(out, sizeof out, "./dystress eval finetune --data mnist --threads 1 --overwrite --width 4 --data-dir "
                 "%s --labels-per-class 5 --ft-epochs 2 --ft-batch 10 --json %s", dir, json);
    doc = read_json(json, &r);
    const dy_json *proto = doc ? dy_json_member(r, "protocol") : NULL;
    CHECK(rc == 0 && doc && member_number(r, "labelled_images") == 50 && proto && !strcmp(proto->text, "finetune") &&
              isfinite(member_number(r, "top1")) && strstr(out, "fine-tuning epoch 2/2") && strstr(out, "fine-tune"),
          "eval finetune --labels-per-class 5: %s", out);
    dy_json_free(doc);
    rc = cli_run(out, sizeof out, "./dystress eval finetune --features pixels --data mnist --threads 1 --data-dir %s",
                 dir);
    CHECK(rc == 2 && strstr(out, "needs an encoder"), "eval finetune --features pixels refused: %s", out);

    /* refusals */
    rc = cli_run(out, sizeof out, "%s --data-dir %s --long-tail", base, one);
    CHECK(rc != 0 && strstr(out, "--long-tail needs a labelled training set of 2 classes"),
          "--long-tail on a one-class set refused: %s", out);

    /* cifar10 --long-tail is cifar10-lt, image for image */
    char cdir[160], cpath[200];
    snprintf(cdir, sizeof cdir, "%s/cifar", dir);
    mkdir(cdir, 0755);
    for (int b = 1; b <= 5; b++) {
        snprintf(cpath, sizeof cpath, "%s/data_batch_%d.bin", cdir, b);
        cli_write_cifar(cpath, 4, (uint32_t)b);
    }
    snprintf(cpath, sizeof cpath, "%s/test_batch.bin", cdir);
    cli_write_cifar(cpath, 2, 9);
    rc = cli_run(out, sizeof out, "./dystress eval knn --features pixels --threads 1 --overwrite --seed 3 --data "
                 "cifar10-lt --lt-ratio 0.1 --data-dir %s --json %s && ./dystress eval knn --features pixels "
                 "--threads 1 --overwrite --seed 3 --data cifar10 --long-tail --lt-ratio 0.1 --data-dir %s --json %s "
                 "&& cmp %s %s", cdir, json, cdir, json2, json, json2);
    CHECK(rc == 0, "cifar10 --long-tail gives cifar10-lt's set and scores: %s", out);

    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void) {
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 1};
    if (!CHECK(dy_ctx_create(&ctx, &co) == DY_OK, "context")) return test_finish();
    subset_draws(ctx);
    groups_by_hand(ctx);
    eval_end_to_end();
    dy_ctx_destroy(ctx);
    return test_finish();
}
