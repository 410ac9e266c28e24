/* The binary readers (IDX plain and gzip, CIFAR-10/100, STL-10) on small files written here in the real formats,
 * their answers to corrupt input, the long-tailed subset, and Fashion-MNIST when the Debian package is installed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "data/dataset.h"
#include "testlib.h"

static char tmpdir[256];

static const char *tmp_path(const char *name) { return test_path_in(tmpdir, name); }

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

static void write_gz(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    if (!g) return;
    gzwrite(g, data, (unsigned)n);
    gzclose(g);
}

/* An IDX file: header for dims, then the data. Returns the total size in *n. */
static uint8_t *make_idx(int ndim, const uint32_t *dims, const uint8_t *data, size_t *n) {
    size_t count = 1;
    for (int d = 0; d < ndim; d++) count *= dims[d];
    *n = 4 + 4 * (size_t)ndim + count;
    uint8_t *b = malloc(*n);
    b[0] = 0, b[1] = 0, b[2] = 0x08, b[3] = (uint8_t)ndim;
    for (int d = 0; d < ndim; d++)
        for (int k = 0; k < 4; k++) b[4 + 4 * d + k] = (uint8_t)(dims[d] >> (24 - 8 * k));
    memcpy(b + 4 + 4 * ndim, data, count);
    return b;
}

static bool has(dy_ctx *ctx, const char *needle) { return strstr(dy_ctx_error(ctx), needle) != NULL; }

static void test_idx(dy_ctx *ctx) {
    enum { N = 7, H = 5, W = 4 };
    uint8_t px[N * H * W], lb[N];
    for (int i = 0; i < N * H * W; i++) px[i] = (uint8_t)(i * 37 + 11);
    for (int i = 0; i < N; i++) lb[i] = (uint8_t)(i % 3);
    uint32_t di[3] = {N, H, W}, dl[1] = {N};
    size_t ni, nl;
    uint8_t *fi = make_idx(3, di, px, &ni), *fl = make_idx(1, dl, lb, &nl);
    write_bytes(tmp_path("img.idx"), fi, ni);
    write_bytes(tmp_path("lab.idx"), fl, nl);
    write_gz(tmp_path("img.idx.gz"), fi, ni);
    write_gz(tmp_path("lab.idx.gz"), fl, nl);
    for (int gz = 0; gz < 2; gz++) {
        dy_dataset *ds = NULL;
        dy_status st = dy_dataset_load_idx(ctx, &ds, tmp_path(gz ? "img.idx.gz" : "img.idx"),
                                           tmp_path(gz ? "lab.idx.gz" : "lab.idx"));
        if (!CHECK(st == DY_OK, "IDX %s loads: %s", gz ? "gzip" : "plain", dy_ctx_error(ctx))) continue;
        CHECK(ds->count == N && ds->channels == 1 && ds->height == H && ds->width == W, "IDX shape %lld %dx%dx%d",
              (long long)ds->count, ds->channels, ds->height, ds->width);
        CHECK(memcmp(ds->pixels, px, sizeof px) == 0, "IDX pixels kept in order");
        CHECK(ds->num_classes == 3 && ds->class_counts[0] == 3 && ds->class_counts[1] == 2 &&
                  ds->class_counts[2] == 2,
              "IDX class counts 3/2/2");
        CHECK(ds->labels[4] == 1 && !strcmp(ds->class_names[2], "2"), "IDX labels and default names");
        dy_dataset_free(ds);
    }
    /* MNIST folder naming, gzip variant */
    char mdir[512];
    snprintf(mdir, sizeof mdir, "%s/mnist", tmpdir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", mdir);
    CHECK(system(cmd) == 0, "mkdir");
    write_gz(tmp_path("mnist/t10k-images-idx3-ubyte.gz"), fi, ni);
    write_bytes(tmp_path("mnist/t10k-labels-idx1-ubyte"), fl, nl);
    dy_dataset *ds = NULL;
    CHECK(dy_dataset_load_mnist(ctx, &ds, mdir, DY_SPLIT_TEST) == DY_OK && ds && ds->count == N,
          "MNIST folder, mixed gzip/plain: %s", dy_ctx_error(ctx));
    dy_dataset_free(ds);
    CHECK(dy_dataset_load_mnist(ctx, &ds, mdir, DY_SPLIT_TRAIN) == DY_ERR_IO && has(ctx, "train-images-idx3-ubyte"),
          "missing MNIST train files named: %s", dy_ctx_error(ctx));
    /* issue 22: class names. Fashion-MNIST's by name (its files carry none; 3 classes here are not Fashion-MNIST),
     * and a class_names.txt in the folder names any MNIST-style set */
    CHECK(dy_dataset_load_fashion_mnist(ctx, &ds, mdir, DY_SPLIT_TEST) == DY_ERR_FORMAT && ds == NULL &&
              has(ctx, "Fashion-MNIST has 10"),
          "a 3-class set is not Fashion-MNIST: %s", dy_ctx_error(ctx));
    write_bytes(tmp_path("mnist/class_names.txt"), "zero\none\ntwo\n", 13);
    if (CHECK(dy_dataset_load_mnist(ctx, &ds, mdir, DY_SPLIT_TEST) == DY_OK, "named: %s", dy_ctx_error(ctx)))
        CHECK(!strcmp(ds->class_names[0], "zero") && !strcmp(ds->class_names[2], "two"),
              "class_names.txt names the MNIST-style classes");
    dy_dataset_free(ds);
    if (CHECK(dy_dataset_load_fashion_mnist(ctx, &ds, mdir, DY_SPLIT_TEST) == DY_OK, "named: %s", dy_ctx_error(ctx)))
        CHECK(!strcmp(ds->class_names[1], "one"), "and comes before Fashion-MNIST's own");
    dy_dataset_free(ds);
    write_bytes(tmp_path("mnist/class_names.txt"), "zero\n", 5);
    CHECK(dy_dataset_load_mnist(ctx, &ds, mdir, DY_SPLIT_TEST) == DY_ERR_FORMAT && ds == NULL &&
              has(ctx, "1 class names, expected 3"),
          "a class_names.txt of another count is refused: %s", dy_ctx_error(ctx));
    unlink(tmp_path("mnist/class_names.txt"));

    /* corrupt cases, each with its message */
    dy_dataset *bad = NULL;
    dy_status st;
    uint8_t *c = malloc(ni);
    memcpy(c, fi, ni);
    c[0] = 0x12;
    st = dy_idx_from_memory(ctx, &bad, "m.idx", c, ni, NULL, NULL, 0, 0);
    CHECK(st == DY_ERR_FORMAT && has(ctx, "m.idx") && has(ctx, "wrong magic"), "wrong magic: %s", dy_ctx_error(ctx));
    st = dy_idx_from_memory(ctx, &bad, "t.idx", fi, ni - 5, NULL, NULL, 0, 0);
    CHECK(st == DY_ERR_FORMAT && has(ctx, "t.idx") && has(ctx, "truncated"), "truncated: %s", dy_ctx_error(ctx));
    st = dy_idx_from_memory(ctx, &bad, "h.idx", fi, 9, NULL, NULL, 0, 0);
    CHECK(st == DY_ERR_FORMAT && has(ctx, "truncated header"), "truncated header: %s", dy_ctx_error(ctx));
    memcpy(c, fi, ni);
    c[2] = 0x0d;
    st = dy_idx_from_memory(ctx, &bad, "f.idx", c, ni, NULL, NULL, 0, 0);
    CHECK(st == DY_ERR_FORMAT && has(ctx, "element type 0x0d"), "float IDX refused: %s", dy_ctx_error(ctx));
    st = dy_idx_from_memory(ctx, &bad, "i.idx", fi, ni, "l.idx", fi, ni, 0);
    CHECK(st == DY_ERR_FORMAT && has(ctx, "l.idx") && has(ctx, "1 dimension"), "labels of 3 dims: %s",
          dy_ctx_error(ctx));
    uint32_t dl2[1] = {N - 1};
    size_t nl2;
    uint8_t *fl2 = make_idx(1, dl2, lb, &nl2);
    st = dy_idx_from_memory(ctx, &bad, "i.idx", fi, ni, "l.idx", fl2, nl2, 0);
    CHECK(st == DY_ERR_FORMAT && has(ctx, "6 labels for 7 images"), "count mismatch: %s", dy_ctx_error(ctx));
    uint8_t *big = malloc(ni + 3);
    memcpy(big, fi, ni);
    st = dy_idx_from_memory(ctx, &bad, "x.idx", big, ni + 3, NULL, NULL, 0, 0);
    CHECK(st == DY_ERR_FORMAT && has(ctx, "3 unexpected bytes"), "trailing bytes: %s", dy_ctx_error(ctx));
    /* a dimension product that overflows must not allocate or read */
    uint8_t *fh = calloc(1, 16 + 40);
    fh[2] = 0x08, fh[3] = 3;
    memset(fh + 4, 0xff, 12);
    st = dy_idx_from_memory(ctx, &bad, "huge.idx", fh, 16 + 40, NULL, NULL, 0, 0);
    CHECK(st == DY_ERR_FORMAT && has(ctx, "truncated"), "huge dims: %s", dy_ctx_error(ctx));
    /* gzip: truncated stream, corrupt stream, decompression limit */
    FILE *f = fopen(tmp_path("img.idx.gz"), "rb");
    uint8_t gzb[4096];
    size_t gn = f ? fread(gzb, 1, sizeof gzb, f) : 0;
    if (f) fclose(f);
    st = dy_idx_from_memory(ctx, &bad, "z.gz", gzb, gn / 2, NULL, NULL, 0, 0);
    CHECK(st == DY_ERR_FORMAT && has(ctx, "z.gz") && has(ctx, "truncated gzip"), "truncated gzip: %s",
          dy_ctx_error(ctx));
    for (size_t k = 12; k < gn - 8; k++) gzb[k] ^= 0x5a;
    st = dy_idx_from_memory(ctx, &bad, "c.gz", gzb, gn, NULL, NULL, 0, 0);
    CHECK(st == DY_ERR_FORMAT && has(ctx, "c.gz"), "corrupt gzip: %s", dy_ctx_error(ctx));
    CHECK(bad == NULL, "no data set after failures");
    free(c), free(big), free(fi), free(fl), free(fl2), free(fh);
    CHECK(dy_dataset_load_idx(ctx, &bad, tmp_path("nope.idx"), NULL) == DY_ERR_IO && has(ctx, "nope.idx"),
          "missing file named: %s", dy_ctx_error(ctx));
}

static void cifar_record(uint8_t *rec, int head, const int *labels, int seed) {
    for (int k = 0; k < head; k++) rec[k] = (uint8_t)labels[k];
    for (int i = 0; i < 3072; i++) rec[head + i] = (uint8_t)(i * 7 + seed * 13);
}

static void test_cifar(dy_ctx *ctx) {
    char dir[512], cmd[1200];
    snprintf(dir, sizeof dir, "%s/cifar10", tmpdir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s/cifar100", dir, tmpdir);
    CHECK(system(cmd) == 0, "mkdir");
    /* CIFAR-10: five train batches of 3 records, one test batch of 2 */
    uint8_t buf[3 * 3073];
    for (int b = 1; b <= 5; b++) {
        for (int r = 0; r < 3; r++) {
            int l = (b * 3 + r) % 10;
            cifar_record(buf + r * 3073, 1, &l, b * 10 + r);
        }
        char name[64];
        snprintf(name, sizeof name, "cifar10/data_batch_%d.bin", b);
        write_bytes(tmp_path(name), buf, sizeof buf);
    }
    write_bytes(tmp_path("cifar10/test_batch.bin"), buf, 2 * 3073);
    const char *names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n";
    write_bytes(tmp_path("cifar10/batches.meta.txt"), names, strlen(names));
    dy_dataset *ds = NULL;
    if (CHECK(dy_dataset_load_cifar10(ctx, &ds, dir, DY_SPLIT_TRAIN) == DY_OK, "CIFAR-10 train: %s",
              dy_ctx_error(ctx))) {
        CHECK(ds->count == 15 && ds->channels == 3 && ds->height == 32 && ds->num_classes == 10, "CIFAR-10 shape");
        int l = 0;
        uint8_t want[3073];
        cifar_record(want, 1, &l, 3 * 10 + 1); /* batch 3, record 1 = image 7 */
        CHECK(ds->labels[7] == (3 * 3 + 1) % 10 && memcmp(ds->pixels + 7 * 3072, want + 1, 3072) == 0,
              "CIFAR-10 image 7 label and CHW pixels");
        CHECK(!strcmp(ds->class_names[9], "truck") && ds->class_counts[3] == 2, "CIFAR-10 names and counts");
        dy_dataset_free(ds);
    }
    CHECK(dy_dataset_load_cifar10(ctx, &ds, dir, DY_SPLIT_TEST) == DY_OK && ds->count == 2, "CIFAR-10 test");
    dy_dataset_free(ds);
    /* CIFAR-100: coarse and fine */
    uint8_t b100[4 * 3074];
    for (int r = 0; r < 4; r++) {
        int l[2] = {r * 5, 99 - r};
        cifar_record(b100 + r * 3074, 2, l, r);
    }
    write_bytes(tmp_path("cifar100/train.bin"), b100, sizeof b100);
    char d100[512];
    snprintf(d100, sizeof d100, "%s/cifar100", tmpdir);
    if (CHECK(dy_dataset_load_cifar100(ctx, &ds, d100, DY_SPLIT_TRAIN, false) == DY_OK, "CIFAR-100 fine: %s",
              dy_ctx_error(ctx))) {
        CHECK(ds->num_classes == 100 && ds->labels[2] == 97 && ds->class_counts[99] == 1, "fine labels");
        dy_dataset_free(ds);
    }
    if (CHECK(dy_dataset_load_cifar100(ctx, &ds, d100, DY_SPLIT_TRAIN, true) == DY_OK, "CIFAR-100 coarse")) {
        CHECK(ds->num_classes == 20 && ds->labels[3] == 15, "coarse labels");
        dy_dataset_free(ds);
    }
    /* corrupt: truncated record, label out of range, missing file, wrong class-name count */
    const char *nm[1] = {"short.bin"};
    const uint8_t *bp[1] = {buf};
    size_t sz[1] = {3073 * 2 - 1};
    CHECK(dy_cifar_from_memory(ctx, &ds, DY_KIND_CIFAR10, false, 1, nm, bp, sz) == DY_ERR_FORMAT &&
              has(ctx, "short.bin") && has(ctx, "truncated"),
          "CIFAR truncated: %s", dy_ctx_error(ctx));
    buf[3073] = 10;
    sz[0] = 2 * 3073;
    nm[0] = "label.bin";
    CHECK(dy_cifar_from_memory(ctx, &ds, DY_KIND_CIFAR10, false, 1, nm, bp, sz) == DY_ERR_FORMAT &&
              has(ctx, "label.bin") && has(ctx, "record 1") && has(ctx, "label 10 is out of range"),
          "CIFAR label out of range: %s", dy_ctx_error(ctx));
    b100[3074 + 1] = 100;
    bp[0] = b100;
    sz[0] = 2 * 3074;
    nm[0] = "fine.bin";
    CHECK(dy_cifar_from_memory(ctx, &ds, DY_KIND_CIFAR100, false, 1, nm, bp, sz) == DY_ERR_FORMAT &&
              has(ctx, "fine label 100"),
          "CIFAR-100 fine label out of range: %s", dy_ctx_error(ctx));
    CHECK(dy_dataset_load_cifar100(ctx, &ds, d100, DY_SPLIT_TEST, false) == DY_ERR_IO && has(ctx, "test.bin"),
          "missing CIFAR-100 test.bin: %s", dy_ctx_error(ctx));
    write_bytes(tmp_path("cifar10/batches.meta.txt"), "a\nb\n", 4);
    CHECK(dy_dataset_load_cifar10(ctx, &ds, dir, DY_SPLIT_TEST) == DY_ERR_FORMAT && has(ctx, "2 class names"),
          "wrong number of class names: %s", dy_ctx_error(ctx));
    CHECK(ds == NULL, "no data set after failures");
}

static void test_stl10(dy_ctx *ctx) {
    enum { N = 3, S = 96, P = 3 * S * S };
    uint8_t *x = malloc(N * P), y[N] = {1, 10, 4};
    /* value of (image i, channel c, row, col) stored column-major */
    for (int i = 0; i < N; i++)
        for (int c = 0; c < 3; c++)
            for (int col = 0; col < S; col++)
                for (int row = 0; row < S; row++)
                    x[i * P + (c * S + col) * S + row] = (uint8_t)(row * 3 + col * 5 + c * 50 + i);
    char dir[512], cmd[1200];
    snprintf(dir, sizeof dir, "%s/stl10", tmpdir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    CHECK(system(cmd) == 0, "mkdir");
    write_bytes(tmp_path("stl10/train_X.bin"), x, N * P);
    write_bytes(tmp_path("stl10/train_y.bin"), y, N);
    write_bytes(tmp_path("stl10/unlabeled_X.bin"), x, 2 * P);
    dy_dataset *ds = NULL;
    if (CHECK(dy_dataset_load_stl10(ctx, &ds, dir, DY_SPLIT_TRAIN) == DY_OK, "STL-10 train: %s", dy_ctx_error(ctx))) {
        CHECK(ds->count == 3 && ds->height == 96 && ds->num_classes == 10, "STL-10 shape");
        CHECK(ds->labels[0] == 0 && ds->labels[1] == 9 && ds->labels[2] == 3, "STL-10 labels 1..10 -> 0..9");
        int ok = 1;
        for (int c = 0; c < 3; c++)
            for (int row = 0; row < S; row += 7)
                for (int col = 0; col < S; col += 5)
                    ok &= ds->pixels[2 * P + (c * S + row) * S + col] == (uint8_t)(row * 3 + col * 5 + c * 50 + 2);
        CHECK(ok, "STL-10 column-major pixels transposed to row-major");
        dy_dataset_free(ds);
    }
    CHECK(dy_dataset_load_stl10(ctx, &ds, dir, DY_SPLIT_UNLABELED) == DY_OK && ds->count == 2 &&
              ds->labels[1] == -1 && ds->num_classes == 0,
          "STL-10 unlabelled: %s", dy_ctx_error(ctx));
    dy_dataset_free(ds);
    ds = NULL;
    CHECK(dy_stl10_from_memory(ctx, &ds, "x.bin", x, P + 100, NULL, NULL, 0) == DY_ERR_FORMAT && has(ctx, "x.bin") &&
              has(ctx, "truncated"),
          "STL-10 truncated: %s", dy_ctx_error(ctx));
    y[1] = 0;
    CHECK(dy_stl10_from_memory(ctx, &ds, "x.bin", x, N * P, "y.bin", y, N) == DY_ERR_FORMAT && has(ctx, "y.bin") &&
              has(ctx, "label 0 of image 1"),
          "STL-10 label 0 out of range: %s", dy_ctx_error(ctx));
    CHECK(dy_stl10_from_memory(ctx, &ds, "x.bin", x, N * P, "y.bin", y, 2) == DY_ERR_FORMAT && has(ctx, "2 labels"),
          "STL-10 label count: %s", dy_ctx_error(ctx));
    CHECK(dy_dataset_load_stl10(ctx, &ds, dir, DY_SPLIT_TEST) == DY_ERR_IO && has(ctx, "test_X.bin"),
          "STL-10 missing test: %s", dy_ctx_error(ctx));
    free(x);
}

static void test_longtail(dy_ctx *ctx) {
    /* 10 classes of 50 images; ratio 0.1: n_c = floor(50 * 0.1^(c/9)) */
    dy_dataset *ds = dy_dataset_alloc(500, 1, 2, 2);
    for (int i = 0; i < 500; i++) {
        ds->labels[i] = i % 10;
        ds->pixels[i * 4] = (uint8_t)(i & 255), ds->pixels[i * 4 + 1] = (uint8_t)(i >> 8);
        ds->pixels[i * 4 + 2] = ds->pixels[i * 4 + 3] = 0;
    }
    CHECK(dy_dataset_set_classes(ctx, ds, 10, NULL, "lt") == DY_OK, "classes");
    dy_dataset *lt = NULL, *lt2 = NULL, *lt3 = NULL;
    if (CHECK(dy_dataset_longtail(ctx, &lt, ds, 0.1, 7) == DY_OK, "long-tail: %s", dy_ctx_error(ctx))) {
        int ok = 1;
        int64_t total = 0;
        for (int c = 0; c < 10; c++) {
            int64_t want = (int64_t)(50 * pow(0.1, c / 9.0) + 1e-9);
            ok &= lt->class_counts[c] == want;
            total += want;
        }
        CHECK(ok && lt->count == total && lt->class_counts[0] == 50 && lt->class_counts[9] == 5,
              "long-tail counts floor(50 * 0.1^(c/9)): c0 %lld c9 %lld total %lld", (long long)lt->class_counts[0],
              (long long)lt->class_counts[9], (long long)lt->count);
        int consistent = 1; /* pixels travel with their labels, original order kept */
        for (int64_t i = 0; i < lt->count; i++) {
            int id = lt->pixels[i * 4] | lt->pixels[i * 4 + 1] << 8;
            int prev = i ? (lt->pixels[i * 4 - 4] | lt->pixels[i * 4 - 3] << 8) : -1;
            consistent &= id % 10 == lt->labels[i] && id > prev;
        }
        CHECK(consistent, "long-tail images keep labels and order");
        dy_dataset_longtail(ctx, &lt2, ds, 0.1, 7);
        dy_dataset_longtail(ctx, &lt3, ds, 0.1, 8);
        CHECK(lt2 && memcmp(lt2->pixels, lt->pixels, (size_t)lt->count * 4) == 0, "same seed, same subset");
        CHECK(lt3 && memcmp(lt3->pixels, lt->pixels, (size_t)lt->count * 4) != 0, "another seed, another subset");
    }
    dy_dataset *none = NULL;
    CHECK(dy_dataset_longtail(ctx, &none, ds, 0, 7) == DY_ERR_INVALID && none == NULL, "ratio 0 refused");
    dy_dataset_free(lt), dy_dataset_free(lt2), dy_dataset_free(lt3), dy_dataset_free(ds);
}

static void test_fashion_mnist(dy_ctx *ctx) {
    const char *dir = "/usr/share/datasets/fashion-mnist";
    if (access(dir, R_OK) != 0) {
        printf("skip: %s not installed\n", dir);
        return;
    }
    dy_dataset *tr = NULL, *te = NULL;
    if (CHECK(dy_dataset_load_mnist(ctx, &tr, dir, DY_SPLIT_TRAIN) == DY_OK, "Fashion-MNIST train: %s",
              dy_ctx_error(ctx))) {
        CHECK(tr->count == 60000 && tr->height == 28 && tr->width == 28 && tr->channels == 1 && tr->num_classes == 10,
              "Fashion-MNIST train 60000 x 28x28, 10 classes");
        int ok = 1;
        for (int c = 0; c < 10; c++) ok &= tr->class_counts[c] == 6000;
        CHECK(ok, "Fashion-MNIST train: 6000 per class");
        CHECK(!strcmp(tr->class_names[0], "0"), "dy_dataset_load_mnist names the classes by number");
        float mean, std;
        dy_dataset_mean_std(tr, &mean, &std);
        CHECK(fabsf(mean - 0.2860f) < 1e-3f && fabsf(std - 0.3530f) < 1e-3f, "Fashion-MNIST mean %.4f std %.4f",
              mean, std);
    }
    if (CHECK(dy_dataset_load_mnist(ctx, &te, dir, DY_SPLIT_TEST) == DY_OK, "Fashion-MNIST test")) {
        int ok = te->count == 10000;
        for (int c = 0; c < 10; c++) ok &= te->class_counts[c] == 1000;
        CHECK(ok, "Fashion-MNIST test: 10000, 1000 per class");
    }
    dy_dataset_free(tr);
    dy_dataset_free(te);
    te = NULL;
    if (CHECK(dy_dataset_load_fashion_mnist(ctx, &te, dir, DY_SPLIT_TEST) == DY_OK, "Fashion-MNIST by name: %s",
              dy_ctx_error(ctx)))
        CHECK(!strcmp(te->class_names[0], "T-shirt/top") && !strcmp(te->class_names[5], "Sandal") &&
                  !strcmp(te->class_names[9], "Ankle boot"),
              "dy_dataset_load_fashion_mnist names them: %s, %s, %s", te->class_names[0], te->class_names[5],
              te->class_names[9]);
    dy_dataset_free(te);
}

/* ---- issue 10 item 10: what follows a gzip stream ---- */

/* gzip (not zlib) of n bytes into out; returns the compressed size. */
static size_t gzip_mem(uint8_t *out, size_t cap, const uint8_t *in, size_t n) {
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return 0;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    size_t got = cap - z.avail_out;
    deflateEnd(&z);
    return r == Z_STREAM_END ? got : 0;
}

static void item10_gzip_trailing(dy_ctx *ctx) {
    /* an IDX file of 3 images 4x5 */
    uint8_t idx[16 + 60];
    memcpy(idx, "\0\0\x08\x03\0\0\0\x03\0\0\0\x04\0\0\0\x05", 16);
    for (int i = 0; i < 60; i++) idx[16 + i] = (uint8_t)(i * 3);
    uint8_t gz[1024];
    size_t a = gzip_mem(gz, sizeof gz, idx, 40);            /* first member: the first 40 bytes */
    size_t b = gzip_mem(gz + a, sizeof gz - a, idx + 40, 36); /* second member: the rest */
    size_t one = gzip_mem(gz + 512, 512, idx, sizeof idx);   /* the whole file as one member, at 512 */
    if (!CHECK(a && b && one, "item10: gzip streams made")) return;
    dy_dataset *ds = NULL;
    CHECK(dy_idx_from_memory(ctx, &ds, "one.gz", gz + 512, one, NULL, NULL, 0, 0) == DY_OK && ds && ds->count == 3,
          "item10: one gzip member: %s", dy_ctx_error(ctx));
    dy_dataset_free(ds);
    ds = NULL;
    CHECK(dy_idx_from_memory(ctx, &ds, "two.gz", gz, a + b, NULL, NULL, 0, 0) == DY_OK && ds && ds->count == 3 &&
              ds->pixels[59] == (uint8_t)(59 * 3),
          "item10_gzip_trailing: two gzip members read as one file (zcat's rule): %s", dy_ctx_error(ctx));
    dy_dataset_free(ds);
    ds = NULL;
    uint8_t buf[2048];
    memcpy(buf, gz + 512, one);
    memset(buf + one, 0, 512);
    CHECK(dy_idx_from_memory(ctx, &ds, "pad.gz", buf, one + 512, NULL, NULL, 0, 0) == DY_OK && ds,
          "item10_gzip_trailing: zero padding after the stream is ignored: %s", dy_ctx_error(ctx));
    dy_dataset_free(ds);
    ds = NULL;
    const char *junk[] = {"garbage", "\x1f", "\0\0\0x"};
    const size_t junk_n[] = {7, 1, 4};
    for (int j = 0; j < 3; j++) {
        memcpy(buf, gz + 512, one);
        memcpy(buf + one, junk[j], junk_n[j]);
        dy_status st = dy_idx_from_memory(ctx, &ds, "junk.gz", buf, one + junk_n[j], NULL, NULL, 0, 0);
        CHECK(st == DY_ERR_FORMAT && !ds && has(ctx, "junk.gz") && has(ctx, "trailing data after the gzip stream"),
              "item10_gzip_trailing: %zu bytes of junk after the stream are refused: %s", junk_n[j], dy_ctx_error(ctx));
    }
    memcpy(buf, gz, a + b);
    memcpy(buf + a + b, "x", 1);
    CHECK(dy_idx_from_memory(ctx, &ds, "two_junk.gz", buf, a + b + 1, NULL, NULL, 0, 0) == DY_ERR_FORMAT &&
              has(ctx, "1 bytes of trailing data"),
          "item10_gzip_trailing: junk after the second member too: %s", dy_ctx_error(ctx));
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/dy_test_readers_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;
    dy_ctx *ctx;
    dy_ctx_options o = {.threads = 2, .backend = DY_BACKEND_REF};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 1;
    test_idx(ctx);
    item10_gzip_trailing(ctx);
    test_cifar(ctx);
    test_stl10(ctx);
    test_longtail(ctx);
    test_fashion_mnist(ctx);
    dy_ctx_destroy(ctx);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) printf("could not remove %s\n", tmpdir);
    return test_finish();
}
