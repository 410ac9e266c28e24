/* Time-series readers (src/data/series): .npy [N, C, T] / [N, T] with labels (.npy or text) and CSV in its documented
 * layouts; files numpy.save wrote (tests/fixtures/series_*.npy, tools/fixtures_series.py); hostile inputs (truncated,
 * wrong dtype or order, NaN and Inf, ragged rows, huge declared shapes) refused with the file and the item or line
 * named, or skipped and counted with skip_bad. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/context.h"
#include "dystress/signal.h"
#include "testlib.h"

static char dir[256];

static const char *tmp_path(const char *name) { return test_path_in(dir, name); }

static void write_text(const char *name, const char *text) {
    FILE *f = fopen(tmp_path(name), "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

/* A version 1.0 .npy file with the header dict given whole (so that tests can write anything) and bytes of data. */
static void write_npy_raw(const char *name, const char *dict, const void *data, size_t bytes) {
    char header[512];
    size_t len = strlen(dict);
    size_t total = (10 + len + 1 + 63) / 64 * 64;
    memcpy(header, dict, len);
    memset(header + len, ' ', total - 10 - len - 1);
    header[total - 10 - 1] = '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)((total - 10) & 0xff),
                             (unsigned char)((total - 10) >> 8)};
    FILE *f = fopen(tmp_path(name), "wb");
    if (!f) return;
    fwrite(pre, 1, 10, f);
    fwrite(header, 1, total - 10, f);
    if (bytes) fwrite(data, 1, bytes, f);
    fclose(f);
}

static void write_npy(const char *name, const char *descr, const char *shape, const void *data, size_t bytes) {
    char dict[256];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    write_npy_raw(name, dict, data, bytes);
}

static bool error_has(dy_ctx *ctx, const char *a, const char *b) {
    const char *e = dy_ctx_error(ctx);
    return strstr(e, a) && (!b || strstr(e, b));
}

static void test_npy_shapes(dy_ctx *ctx) {
    float x[2 * 3 * 4];
    for (int i = 0; i < 24; i++) x[i] = (float)i * 0.5f - 3.0f;
    write_npy("f32.npy", "<f4", "(2, 3, 4)", x, sizeof x);
    dy_signal_set *s = NULL;
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("f32.npy"), NULL, NULL) == DY_OK, "[2, 3, 4] float32: %s",
          dy_ctx_error(ctx));
    if (s) {
        CHECK(s->kind == DY_SIGNAL_SERIES && s->count == 2 && s->channels == 3 && dy_signal_length(s, 1) == 4 &&
                  s->offsets[2] == 24 && s->sample_rate == 0,
              "shape: %lld items, %d channels", (long long)s->count, s->channels);
        CHECK(memcmp(s->samples, x, sizeof x) == 0, "values in C order");
        CHECK(dy_signal_channel(s, 1, 2)[3] == x[23], "item 1, channel 2, sample 3");
        CHECK(s->labels[0] == -1 && s->labels[1] == -1 && s->num_classes == 0, "unlabelled");
    }
    dy_signal_set_free(s);
    double d[3 * 5];
    for (int i = 0; i < 15; i++) d[i] = 1.0 / (i + 1);
    write_npy("f64.npy", "<f8", "(3, 5)", d, sizeof d);
    s = NULL;
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("f64.npy"), NULL, NULL) == DY_OK, "[3, 5] float64: %s",
          dy_ctx_error(ctx));
    if (s) {
        bool same = s->count == 3 && s->channels == 1 && dy_signal_length(s, 0) == 5;
        for (int i = 0; same && i < 15; i++) same = s->samples[i] == (float)d[i];
        CHECK(same, "[N, T] reads as C = 1, float64 rounded to float32");
    }
    dy_signal_set_free(s);
}

static void test_npy_labels(dy_ctx *ctx) {
    float x[4 * 2] = {0};
    write_npy("x.npy", "<f4", "(4, 1, 2)", x, sizeof x);
    int32_t l32[4] = {2, 0, -1, 2};
    write_npy("l32.npy", "<i4", "(4,)", l32, sizeof l32);
    dy_signal_set *s = NULL;
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("x.npy"), tmp_path("l32.npy"), NULL) == DY_OK, "int32 labels: %s",
          dy_ctx_error(ctx));
    if (s)
        CHECK(s->num_classes == 3 && s->labels[0] == 2 && s->labels[2] == -1 && s->class_counts[2] == 2 &&
                  s->class_counts[1] == 0 && !strcmp(s->class_names[2], "2"),
              "classes 0..2 from the largest label; -1 unlabelled");
    dy_signal_set_free(s);
    write_text("names.txt", "walk\nrun \r\n\nsit\n");
    s = NULL;
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("x.npy"), tmp_path("names.txt"), NULL) == DY_OK, "text names: %s",
          dy_ctx_error(ctx));
    if (s)
        CHECK(s->num_classes == 3 && !strcmp(s->class_names[0], "run") && !strcmp(s->class_names[2], "walk") &&
                  s->labels[0] == 2 && s->labels[1] == 0 && s->labels[2] == -1 && s->labels[3] == 1,
              "class names sorted, an empty line unlabelled");
    dy_signal_set_free(s);
    write_text("ints.txt", "1\n0\n1\n3");
    s = NULL;
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("x.npy"), tmp_path("ints.txt"), NULL) == DY_OK && s &&
              s->num_classes == 4 && s->labels[3] == 3,
          "text integers without a final newline: %s", dy_ctx_error(ctx));
    dy_signal_set_free(s);
    struct {
        const char *what, *file, *text;
    } bad[] = {{"3 lines for 4 items", "short.txt", "1\n2\n3\n"}, {"label below -1", "neg.txt", "1\n-2\n0\n0\n"},
               {"label above the limit", "big.txt", "1\n70000\n0\n0\n"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        write_text(bad[k].file, bad[k].text);
        s = NULL;
        CHECK(dy_signal_load_npy(ctx, &s, tmp_path("x.npy"), tmp_path(bad[k].file), NULL) == DY_ERR_FORMAT &&
                  !s && error_has(ctx, bad[k].file, NULL),
              "%s refused naming the file: %s", bad[k].what, dy_ctx_error(ctx));
    }
    float fl[4] = {0, 1, 2, 3};
    write_npy("lf.npy", "<f4", "(4,)", fl, sizeof fl);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("x.npy"), tmp_path("lf.npy"), NULL) == DY_ERR_FORMAT,
          "float labels refused: %s", dy_ctx_error(ctx));
    int64_t l64[3] = {0, 1, 2};
    write_npy("l3.npy", "<i8", "(3,)", l64, sizeof l64);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("x.npy"), tmp_path("l3.npy"), NULL) == DY_ERR_FORMAT &&
              error_has(ctx, "3 labels for 4 items", NULL),
          "3 labels for 4 items: %s", dy_ctx_error(ctx));
}

/* Files numpy.save wrote (tools/fixtures_series.py): float64 [3, 2, 5] = arange(30) * 0.25 - 1, int32 labels
 * [2, 0, 1]; the same data in Fortran order and big-endian, both refused. */
static void test_numpy_files(dy_ctx *ctx) {
    char data[512], labels[512];
    snprintf(data, sizeof data, "%s", test_fixture_path("series_f64.npy"));
    snprintf(labels, sizeof labels, "%s", test_fixture_path("series_labels_i32.npy"));
    dy_signal_set *s = NULL;
    if (!CHECK(dy_signal_load_npy(ctx, &s, data, labels, NULL) == DY_OK, "numpy's files: %s", dy_ctx_error(ctx)))
        return;
    bool same = s->count == 3 && s->channels == 2 && dy_signal_length(s, 0) == 5;
    for (int i = 0; same && i < 30; i++) same = s->samples[i] == (float)(i * 0.25 - 1);
    CHECK(same, "numpy's float64 [3, 2, 5] loads to arange(30) * 0.25 - 1");
    CHECK(s->labels[0] == 2 && s->labels[1] == 0 && s->labels[2] == 1 && s->num_classes == 3, "numpy's int32 labels");
    dy_signal_set_free(s);
    snprintf(data, sizeof data, "%s", test_fixture_path("series_fortran.npy"));
    CHECK(dy_signal_load_npy(ctx, &s, data, NULL, NULL) == DY_ERR_FORMAT && error_has(ctx, "Fortran", NULL),
          "numpy's Fortran-order file refused: %s", dy_ctx_error(ctx));
    snprintf(data, sizeof data, "%s", test_fixture_path("series_big_endian.npy"));
    CHECK(dy_signal_load_npy(ctx, &s, data, NULL, NULL) == DY_ERR_FORMAT && error_has(ctx, "'>f8'", NULL),
          "numpy's big-endian file refused naming its dtype: %s", dy_ctx_error(ctx));
}

static void test_npy_hostile(dy_ctx *ctx) {
    float x[2 * 3] = {1, 2, 3, 4, 5, 6};
    dy_signal_set *s = NULL;
    write_npy("t.npy", "<f4", "(2, 3)", x, sizeof x - 2);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("t.npy"), NULL, NULL) == DY_ERR_FORMAT && !s &&
              error_has(ctx, "t.npy is truncated", NULL),
          "truncated data: %s", dy_ctx_error(ctx));
    write_npy("huge.npy", "<f4", "(1000000000, 1000000, 1000)", x, sizeof x);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("huge.npy"), NULL, NULL) == DY_ERR_FORMAT && !s,
          "a huge declared shape refused before allocating: %s", dy_ctx_error(ctx));
    write_npy("over.npy", "<f4", "(4611686018427387904, 4, 4)", x, sizeof x);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("over.npy"), NULL, NULL) == DY_ERR_FORMAT && !s,
          "a shape whose size overflows refused: %s", dy_ctx_error(ctx));
    int32_t ints[6] = {0};
    write_npy("i.npy", "<i4", "(2, 3)", ints, sizeof ints);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("i.npy"), NULL, NULL) == DY_ERR_FORMAT &&
              error_has(ctx, "i.npy", "float32 or float64"),
          "integer data refused: %s", dy_ctx_error(ctx));
    write_npy("c.npy", "<c8", "(2, 3)", x, sizeof x);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("c.npy"), NULL, NULL) == DY_ERR_FORMAT && error_has(ctx, "'<c8'", NULL),
          "complex dtype refused naming it: %s", dy_ctx_error(ctx));
    write_npy("e.npy", "<f4", "(0, 3)", NULL, 0);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("e.npy"), NULL, NULL) == DY_ERR_FORMAT && error_has(ctx, "empty", NULL),
          "no items refused: %s", dy_ctx_error(ctx));
    write_npy("d4.npy", "<f4", "(1, 1, 2, 3)", x, sizeof x);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("d4.npy"), NULL, NULL) == DY_ERR_FORMAT && error_has(ctx, "4-d", NULL),
          "4-d array refused: %s", dy_ctx_error(ctx));
    write_npy_raw("h.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1, }", x, sizeof x);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("h.npy"), NULL, NULL) == DY_ERR_FORMAT, "unknown header key: %s",
          dy_ctx_error(ctx));
    dy_series_options o = dy_series_defaults();
    o.max_bytes = 16;
    write_npy("ok.npy", "<f4", "(2, 3)", x, sizeof x);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("ok.npy"), NULL, &o) == DY_ERR_FORMAT && error_has(ctx, "limit", NULL),
          "data above max_bytes refused: %s", dy_ctx_error(ctx));
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("missing.npy"), NULL, NULL) == DY_ERR_IO, "missing file: %s",
          dy_ctx_error(ctx));
    CHECK(dy_signal_load_npy(ctx, NULL, tmp_path("ok.npy"), NULL, NULL) == DY_ERR_INVALID, "NULL out refused");
}

static void test_npy_nonfinite(dy_ctx *ctx) {
    float x[4 * 2 * 3];
    for (int i = 0; i < 24; i++) x[i] = (float)i;
    x[1 * 6 + 3 + 2] = NAN; /* item 1, channel 1, sample 2 */
    x[3 * 6 + 0] = INFINITY;
    write_npy("nan.npy", "<f4", "(4, 2, 3)", x, sizeof x);
    int64_t lab[4] = {0, 1, 2, 3};
    write_npy("lab.npy", "<i8", "(4,)", lab, sizeof lab);
    dy_signal_set *s = NULL;
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("nan.npy"), NULL, NULL) == DY_ERR_FORMAT && !s &&
              error_has(ctx, "nan.npy: item 1, channel 1, sample 2", NULL),
          "NaN refused naming file, item, channel and sample: %s", dy_ctx_error(ctx));
    dy_series_options o = dy_series_defaults();
    o.skip_bad = true;
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("nan.npy"), tmp_path("lab.npy"), &o) == DY_OK, "skip_bad: %s",
          dy_ctx_error(ctx));
    if (s) {
        CHECK(s->count == 2 && s->skipped == 2 && strstr(s->skipped_files[0], "nan.npy[1]") &&
                  strstr(s->skipped_files[1], "nan.npy[3]"),
              "items 1 and 3 skipped and named (%lld kept, %lld skipped)", (long long)s->count, (long long)s->skipped);
        CHECK(s->labels[0] == 0 && s->labels[1] == 2 && s->num_classes == 4 && s->class_counts[1] == 0 &&
                  s->samples[6] == 12.0f,
              "the kept items keep their labels and values; classes from the file");
    }
    dy_signal_set_free(s);
    double big[2] = {1.0, 1e300};
    write_npy("big.npy", "<f8", "(1, 2)", big, sizeof big);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("big.npy"), NULL, NULL) == DY_ERR_FORMAT &&
              error_has(ctx, "big.npy: item 0, channel 0, sample 1 is 1e+300", NULL),
          "a float64 beyond float32 refused: %s", dy_ctx_error(ctx));
    float all_nan[2] = {NAN, NAN};
    write_npy("allnan.npy", "<f4", "(2, 1)", all_nan, sizeof all_nan);
    CHECK(dy_signal_load_npy(ctx, &s, tmp_path("allnan.npy"), NULL, &o) == DY_ERR_FORMAT &&
              error_has(ctx, "all 2 items were skipped", NULL),
          "nothing left after skipping refused: %s", dy_ctx_error(ctx));
}

static void test_csv_layouts(dy_ctx *ctx) {
    write_text("h.csv", "# sensor log\nlabel,c0_t0,c0_t1,c0_t2,c1_t0,c1_t1,c1_t2\r\n"
                        "walk, 1, 2, 3, 4, 5, 6\r\n\nrun,0.5,-1e-3,7,8,9,10\r\n,1,1,1,1,1,1\n");
    dy_signal_set *s = NULL;
    CHECK(dy_signal_load_csv(ctx, &s, tmp_path("h.csv"), NULL) == DY_OK, "header with c<k>_t<j>: %s",
          dy_ctx_error(ctx));
    if (s) {
        CHECK(s->count == 3 && s->channels == 2 && dy_signal_length(s, 0) == 3, "3 items [2, 3]");
        CHECK(dy_signal_channel(s, 0, 1)[0] == 4.0f && dy_signal_channel(s, 1, 0)[1] == -1e-3f &&
                  dy_signal_channel(s, 2, 1)[2] == 1.0f,
              "channel-major values");
        CHECK(s->num_classes == 2 && !strcmp(s->class_names[0], "run") && s->labels[0] == 1 && s->labels[1] == 0 &&
                  s->labels[2] == -1,
              "class names sorted; an empty label is -1");
    }
    dy_signal_set_free(s);
    write_text("ucr.csv", "1,0.1,0.2,0.3,0.4\n0,1,2,3,4\n1,5,6,7,8\n");
    dy_series_options o = dy_series_defaults();
    o.label_first = true;
    o.channels = 2;
    s = NULL;
    CHECK(dy_signal_load_csv(ctx, &s, tmp_path("ucr.csv"), &o) == DY_OK && s && s->count == 3 && s->channels == 2 &&
              dy_signal_length(s, 0) == 2 && s->num_classes == 2 && s->labels[0] == 1 && s->class_counts[1] == 2 &&
              dy_signal_channel(s, 2, 1)[1] == 8.0f,
          "no header, label first (UCR), 2 channels: %s", dy_ctx_error(ctx));
    dy_signal_set_free(s);
    write_text("ucrn.csv", "walk,0.1,0.2\nsit,1,2\n");
    o.channels = 1;
    s = NULL;
    CHECK(dy_signal_load_csv(ctx, &s, tmp_path("ucrn.csv"), &o) == DY_OK && s && s->count == 2 &&
              s->num_classes == 2 && s->labels[0] == 1,
          "label first with class names is not a header: %s", dy_ctx_error(ctx));
    dy_signal_set_free(s);
    write_text("plain.csv", "1,2,3\n4,5,6\n");
    s = NULL;
    CHECK(dy_signal_load_csv(ctx, &s, tmp_path("plain.csv"), NULL) == DY_OK && s && s->count == 2 &&
              s->channels == 1 && dy_signal_length(s, 1) == 3 && s->num_classes == 0 && s->labels[1] == -1,
          "no header, no labels: %s", dy_ctx_error(ctx));
    dy_signal_set_free(s);
    write_text("named.csv", "a,b,label\n1,2,x\n3,4,y\n");
    s = NULL;
    CHECK(dy_signal_load_csv(ctx, &s, tmp_path("named.csv"), NULL) == DY_OK && s && s->count == 2 &&
              dy_signal_length(s, 0) == 2 && s->samples[3] == 4.0f && s->labels[1] == 1,
          "a label column anywhere, other names free: %s", dy_ctx_error(ctx));
    dy_signal_set_free(s);
}

static void test_csv_hostile(dy_ctx *ctx) {
    struct {
        const char *what, *file, *text, *want;
        int channels;
    } bad[] = {
        {"ragged row", "rag.csv", "1,2,3\n4,5,6\n7,8\n", "rag.csv:3: 2 fields, expected 3", 1},
        {"NaN value", "nan.csv", "1,2,3\n4,nan,6\n", "nan.csv:2: field 2 is nan", 1},
        {"Inf value", "inf.csv", "1,2,3\n4,5,-inf\n", "inf.csv:2: field 3 is -inf", 1},
        {"float32 overflow", "ovf.csv", "1,2,3\n4,5,1e39\n", "ovf.csv:2: field 3", 1},
        {"not a number", "txt.csv", "1,2,3\n4,x5,6\n", "txt.csv:2: field 2 \"x5\" is not a number", 1},
        {"missing value", "miss.csv", "1,2,3\n4,,6\n", "miss.csv:2: field 2", 1},
        {"column order", "ord.csv", "c0_t0,c1_t0,c0_t1,c1_t1\n1,2,3,4\n", "column 2 is \"c1_t0\"", 1},
        {"channels do not divide", "div.csv", "1,2,3\n", "do not split into 2 channels", 2},
        {"header only", "hdr.csv", "label,a,b\n", "no rows", 1},
        {"empty file", "empty.csv", "# nothing\n\n", "no rows", 1},
        {"two label columns", "two.csv", "label,a,label\n1,2,3\n", "two label columns", 1},
        {"NUL byte", "nul.csv", "1,2\n3,4\n", "NUL", 1},
    };
    dy_series_options o = dy_series_defaults();
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        write_text(bad[k].file, bad[k].text);
        if (!strcmp(bad[k].file, "nul.csv")) {
            FILE *f = fopen(tmp_path("nul.csv"), "r+b");
            if (f) fseek(f, 2, SEEK_SET), fputc(0, f), fclose(f);
        }
        o.channels = bad[k].channels;
        dy_signal_set *s = NULL;
        CHECK(dy_signal_load_csv(ctx, &s, tmp_path(bad[k].file), &o) == DY_ERR_FORMAT && !s &&
                  error_has(ctx, bad[k].file, bad[k].want),
              "%s refused with \"%s\": %s", bad[k].what, bad[k].want, dy_ctx_error(ctx));
    }
    o = dy_series_defaults();
    o.label_first = true;
    write_text("nolab.csv", "a,b\n1,2\n");
    dy_signal_set *s = NULL;
    CHECK(dy_signal_load_csv(ctx, &s, tmp_path("nolab.csv"), &o) == DY_ERR_FORMAT && error_has(ctx, "label_first", 0),
          "label_first with a header without labels refused: %s", dy_ctx_error(ctx));
    o = dy_series_defaults();
    o.skip_bad = true;
    write_text("skip.csv", "label,v0,v1\na,1,2\nb,3\nc,nan,4\nd,5,6\n");
    CHECK(dy_signal_load_csv(ctx, &s, tmp_path("skip.csv"), &o) == DY_OK, "skip_bad: %s", dy_ctx_error(ctx));
    if (s)
        CHECK(s->count == 2 && s->skipped == 2 && strstr(s->skipped_files[0], "skip.csv:3") &&
                  strstr(s->skipped_files[1], "skip.csv:4") && s->samples[2] == 5.0f && s->num_classes == 2 &&
                  !strcmp(s->class_names[1], "d"),
              "ragged and NaN rows skipped and named by line; classes from the kept rows");
    dy_signal_set_free(s);
    o.channels = 0;
    CHECK(dy_signal_load_csv(ctx, &s, tmp_path("skip.csv"), &o) == DY_ERR_INVALID, "channels 0 refused");
    CHECK(dy_signal_load_csv(ctx, &s, tmp_path("none.csv"), NULL) == DY_ERR_IO, "missing file: %s",
          dy_ctx_error(ctx));
    o = dy_series_defaults();
    o.max_bytes = 4;
    CHECK(dy_signal_load_csv(ctx, &s, tmp_path("plain.csv"), &o) == DY_ERR_FORMAT, "file above max_bytes: %s",
          dy_ctx_error(ctx));
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/dy_series_XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 1, .backend = DY_BACKEND_REF};
    dy_ctx_create(&ctx, &co);
    test_npy_shapes(ctx);
    test_npy_labels(ctx);
    test_numpy_files(ctx);
    test_npy_hostile(ctx);
    test_npy_nonfinite(ctx);
    test_csv_layouts(ctx);
    test_csv_hostile(ctx);
    dy_ctx_destroy(ctx);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish();
}
