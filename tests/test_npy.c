/* .npy files: round trips; the files numpy.save wrote (tests/fixtures/eval_npy_*.npy) load to the values in
 * eval_npy.bin and are byte for byte what dy_npy_write_* writes for those arrays; corrupt files are refused. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/context.h"
#include "fixture.h"
#include "io/npy.h"
#include "testlib.h"

static char dir[256];

static const char *tmp_path(const char *name) { return test_path_in(dir, name); }

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void write_all(const char *path, const void *b, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(b, 1, len, f);
    fclose(f);
}

static void test_round_trip(dy_ctx *ctx) {
    float m[4 * 3];
    for (int i = 0; i < 12; i++) m[i] = (float)i * 0.5f - 2.25f;
    int64_t v[5] = {3, -4, 1LL << 50, 0, 9};
    CHECK(dy_npy_write_f32(ctx, tmp_path("m.npy"), m, 4, 3) == DY_OK, "write f32: %s", dy_ctx_error(ctx));
    CHECK(dy_npy_write_i64(ctx, tmp_path("v.npy"), v, 5) == DY_OK, "write i64: %s", dy_ctx_error(ctx));
    float *rm = NULL;
    int64_t *rv = NULL, rows = 0, cols = 0, n = 0;
    CHECK(dy_npy_read_f32(ctx, tmp_path("m.npy"), &rm, &rows, &cols) == DY_OK && rows == 4 && cols == 3,
          "read f32 back: %s", dy_ctx_error(ctx));
    CHECK(rm && memcmp(rm, m, sizeof m) == 0, "f32 values round trip");
    CHECK(dy_npy_read_i64(ctx, tmp_path("v.npy"), &rv, &n) == DY_OK && n == 5, "read i64 back");
    CHECK(rv && memcmp(rv, v, sizeof v) == 0, "i64 values round trip");
    dy_free(rm);
    dy_free(rv);
    size_t len = 0;
    unsigned char *b = read_all(tmp_path("m.npy"), &len);
    CHECK(b && (len - 12 * 4) % 64 == 0, "data starts at a multiple of 64 bytes (file %zu bytes)", len);
    free(b);
    /* Empty arrays. */
    CHECK(dy_npy_write_i64(ctx, tmp_path("e.npy"), NULL, 0) == DY_OK, "write an empty vector");
    CHECK(dy_npy_read_i64(ctx, tmp_path("e.npy"), &rv, &n) == DY_OK && n == 0, "read an empty vector");
    dy_free(rv);
    CHECK(dy_npy_read_f32(ctx, tmp_path("v.npy"), &rm, &rows, &cols) == DY_ERR_FORMAT && rm == NULL,
          "int64 file read as float32 refused: %s", dy_ctx_error(ctx));
    CHECK(dy_npy_write_f32(ctx, "/nonexistent-dir/x.npy", m, 4, 3) == DY_ERR_IO, "unwritable path: %s",
          dy_ctx_error(ctx));
    CHECK(access("/nonexistent-dir/x.npy", F_OK) != 0, "nothing left behind");
}

static void test_numpy_files(dy_ctx *ctx) {
    fx_file *f = fx_load(test_fixture_path("eval_npy.bin"));
    if (!CHECK(f != NULL, "load eval_npy.bin")) return;
    const fx_tensor *f32 = fx_get(f, "f32"), *i64 = fx_get(f, "i64");
    float *m = NULL;
    int64_t *v = NULL, rows = 0, cols = 0, n = 0;
    char path[512];
    snprintf(path, sizeof path, "%s", test_fixture_path("eval_npy_f32.npy"));
    CHECK(dy_npy_read_f32(ctx, path, &m, &rows, &cols) == DY_OK, "read numpy's f32 file: %s", dy_ctx_error(ctx));
    CHECK(f32 && rows == f32->dims[0] && cols == f32->dims[1] && m &&
              memcmp(m, f32->data, (size_t)f32->numel * 4) == 0,
          "numpy's float32 [%lld, %lld] loads to its values", (long long)rows, (long long)cols);
    /* Byte for byte: our writer gives numpy.save's file. */
    CHECK(dy_npy_write_f32(ctx, tmp_path("same.npy"), f32->data, f32->dims[0], f32->dims[1]) == DY_OK, "write");
    size_t la = 0, lb = 0;
    unsigned char *a = read_all(path, &la), *b = read_all(tmp_path("same.npy"), &lb);
    CHECK(a && b && la == lb && memcmp(a, b, la) == 0, "f32 file identical to numpy.save's (%zu vs %zu bytes)", lb, la);
    free(a);
    free(b);
    snprintf(path, sizeof path, "%s", test_fixture_path("eval_npy_i64.npy"));
    CHECK(dy_npy_read_i64(ctx, path, &v, &n) == DY_OK, "read numpy's i64 file: %s", dy_ctx_error(ctx));
    CHECK(i64 && n == i64->numel && v && memcmp(v, i64->data, (size_t)n * 8) == 0, "numpy's int64 loads to its values");
    CHECK(dy_npy_write_i64(ctx, tmp_path("same.npy"), i64->data, i64->numel) == DY_OK, "write");
    a = read_all(path, &la);
    b = read_all(tmp_path("same.npy"), &lb);
    CHECK(a && b && la == lb && memcmp(a, b, la) == 0, "i64 file identical to numpy.save's");
    free(a);
    free(b);
    dy_free(m);
    dy_free(v);
    fx_free(f);
}

/* Variants of a valid f32 file, each broken in one way. */
static void test_corrupt(dy_ctx *ctx) {
    float m[6] = {1, 2, 3, 4, 5, 6};
    CHECK(dy_npy_write_f32(ctx, tmp_path("good.npy"), m, 2, 3) == DY_OK, "write");
    size_t len = 0;
    unsigned char *good = read_all(tmp_path("good.npy"), &len);
    if (!CHECK(good != NULL && len == 128 + 24, "good file of %zu bytes", len)) return;
    const char *p = tmp_path("bad.npy");
    char bad_path[512];
    snprintf(bad_path, sizeof bad_path, "%s", p);
    unsigned char *b = malloc(len + 64);
    float *out = NULL;
    int64_t rows, cols;
    struct {
        const char *what, *find, *replace; /* header text replaced (same length) */
    } edits[] = {
        {"dtype <f8", "'<f4'", "'<f8'"},
        {"big-endian dtype", "'<f4'", "'>f4'"},
        {"Fortran order", "False", "True "},
        {"3-d shape", "(2, 3), ", "(2,3,1),"},
        {"1-d shape", "(2, 3), ", "(6,),   "},
        {"unknown key", "'descr'", "'descx'"},
        {"broken dict", "{'descr'", "['descr'"},
        {"shape larger than the data", "(2, 3)", "(3, 3)"},
    };
    for (size_t e = 0; e < sizeof edits / sizeof edits[0]; e++) {
        memcpy(b, good, len);
        char *at = memmem(b, 128, edits[e].find, strlen(edits[e].find));
        if (!CHECK(at != NULL, "edit %s applies", edits[e].what)) continue;
        memcpy(at, edits[e].replace, strlen(edits[e].replace));
        write_all(bad_path, b, len);
        dy_status st = dy_npy_read_f32(ctx, bad_path, &out, &rows, &cols);
        CHECK(st == DY_ERR_FORMAT && out == NULL, "%s refused: %s", edits[e].what, dy_ctx_error(ctx));
    }
    memcpy(b, good, len);
    b[0] = 'X';
    write_all(bad_path, b, len);
    CHECK(dy_npy_read_f32(ctx, bad_path, &out, &rows, &cols) == DY_ERR_FORMAT, "bad magic refused: %s",
          dy_ctx_error(ctx));
    memcpy(b, good, len);
    b[6] = 4;
    write_all(bad_path, b, len);
    CHECK(dy_npy_read_f32(ctx, bad_path, &out, &rows, &cols) == DY_ERR_FORMAT, "version 4 refused: %s",
          dy_ctx_error(ctx));
    const size_t cuts[] = {0, 5, 9, 60, 127, 128, 140, len - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        write_all(bad_path, good, cuts[c]);
        CHECK(dy_npy_read_f32(ctx, bad_path, &out, &rows, &cols) == DY_ERR_FORMAT && out == NULL,
              "truncated at %zu bytes refused: %s", cuts[c], dy_ctx_error(ctx));
    }
    memcpy(b, good, len);
    memset(b + len, 0, 4);
    write_all(bad_path, b, len + 4);
    CHECK(dy_npy_read_f32(ctx, bad_path, &out, &rows, &cols) == DY_ERR_FORMAT, "trailing bytes refused: %s",
          dy_ctx_error(ctx));
    CHECK(dy_npy_read_f32(ctx, tmp_path("missing.npy"), &out, &rows, &cols) == DY_ERR_IO, "missing file: DY_ERR_IO");
    free(b);
    free(good);
}

/* dy_npy_read_array: every accepted dtype, shapes of 0 to 3 dimensions, and the refusals of its own. */
static void test_read_array(dy_ctx *ctx) {
    const struct {
        const char *descr;
        size_t item;
        dy_npy_dtype dtype;
    } kinds[] = {{"<f4", 4, DY_NPY_F32}, {"<f8", 8, DY_NPY_F64}, {"|i1", 1, DY_NPY_I8}, {"|u1", 1, DY_NPY_U8},
                 {"<i2", 2, DY_NPY_I16}, {"<i4", 4, DY_NPY_I32}, {"<i8", 8, DY_NPY_I64}};
    const double want[6] = {0, 1, -2, 3, 100, -7};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        unsigned char raw[6 * 8];
        for (int i = 0; i < 6; i++) {
            double v = kinds[k].dtype == DY_NPY_U8 ? fabs(want[i]) : want[i];
            float f = (float)v;
            int64_t n = (int64_t)v;
            if (kinds[k].dtype == DY_NPY_F32) memcpy(raw + 4 * i, &f, 4);
            else if (kinds[k].dtype == DY_NPY_F64) memcpy(raw + 8 * i, &v, 8);
            else memcpy(raw + kinds[k].item * i, &n, kinds[k].item); /* little-endian: the low bytes */
        }
        char header[128];
        int len = snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (1, 2, 3), }",
                           kinds[k].descr);
        unsigned char file[256] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 118, 0};
        memset(file + 10, ' ', 118);
        memcpy(file + 10, header, (size_t)len);
        file[127] = '\n';
        memcpy(file + 128, raw, 6 * kinds[k].item);
        write_all(tmp_path("any.npy"), file, 128 + 6 * kinds[k].item);
        dy_npy_array a;
        if (!CHECK(dy_npy_read_array(ctx, tmp_path("any.npy"), &a, 0) == DY_OK, "%s [1, 2, 3]: %s", kinds[k].descr,
                   dy_ctx_error(ctx)))
            continue;
        bool ok = a.dtype == kinds[k].dtype && a.item == kinds[k].item && a.ndim == 3 && a.shape[0] == 1 &&
                  a.shape[1] == 2 && a.shape[2] == 3 && a.count == 6;
        for (int i = 0; ok && i < 6; i++)
            ok = dy_npy_value(&a, i) == (kinds[k].dtype == DY_NPY_U8 ? fabs(want[i]) : want[i]);
        CHECK(ok, "%s: dtype, shape and values", kinds[k].descr);
        CHECK(dy_npy_is_integer(&a) == (kinds[k].dtype != DY_NPY_F32 && kinds[k].dtype != DY_NPY_F64),
              "%s: integer or not", kinds[k].descr);
        dy_npy_array_free(&a);
        CHECK(a.data == NULL, "freed and zeroed");
        if (kinds[k].item == 8) {
            CHECK(dy_npy_read_array(ctx, tmp_path("any.npy"), &a, 47) == DY_ERR_FORMAT && a.data == NULL &&
                      a.ndim == 0,
                  "48 bytes of data above a limit of 47 refused: %s", dy_ctx_error(ctx));
        }
    }
    float m[2] = {1, 2};
    CHECK(dy_npy_write_f32(ctx, tmp_path("m.npy"), m, 1, 2) == DY_OK, "write");
    size_t len = 0;
    unsigned char *b = read_all(tmp_path("m.npy"), &len);
    char *at = b ? memmem(b, 128, "'<f4'", 5) : NULL;
    if (at) memcpy(at, "'<u4'", 5);
    if (b) write_all(tmp_path("m.npy"), b, len);
    dy_npy_array a;
    CHECK(at && dy_npy_read_array(ctx, tmp_path("m.npy"), &a, 0) == DY_ERR_FORMAT && strstr(dy_ctx_error(ctx), "'<u4'"),
          "an unsupported dtype refused naming it: %s", dy_ctx_error(ctx));
    free(b);
    write_all(tmp_path("m.npy"), "\x93NUMPY", 6);
    CHECK(dy_npy_read_array(ctx, tmp_path("m.npy"), &a, 0) == DY_ERR_FORMAT && a.data == NULL, "truncated: %s",
          dy_ctx_error(ctx));
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/dy_npy_XXXXXX", t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = 1, .backend = DY_BACKEND_REF};
    dy_ctx_create(&ctx, &o);
    test_round_trip(ctx);
    test_numpy_files(ctx);
    test_corrupt(ctx);
    test_read_array(ctx);
    dy_ctx_destroy(ctx);
    const char *names[] = {"m.npy", "v.npy", "e.npy", "same.npy", "good.npy", "bad.npy", "any.npy"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) remove(tmp_path(names[i]));
    rmdir(dir);
    return test_finish();
}
