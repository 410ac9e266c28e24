/* The report's writers and readers: PNG round trips through libpng's own reader, base64 against RFC 4648's vectors,
 * the SVG plot writer (ticks, coordinates, escaping, NaN gaps, balanced markup, empty plots), long curves bucketed,
 * the run files read through the JSON reader (io/json.h), the retrieval grid's frames (a wrong-class neighbour is framed red), and whole reports of
 * synthetic run directories: a 200-epoch run stays under 3 MB, the extreme-temperature warning appears exactly when
 * most pairs sit at tau_max, a missing metrics.jsonl is named. */
#include <fcntl.h>
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dystress.h"
#include "io/json.h"
#include "io/png_write.h"
#include "report/encoder_view.h"
#include "report/report.h"
#include "report/run_data.h"
#include "report/svg.h"
#include "testlib.h"

static char dir[256];

static char *slurp(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = 0;
    fclose(f);
    if (size) *size = (size_t)n;
    return b;
}

static int count(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Tags balance: every <name ...> is closed by </name> in order, <.../> closes itself. */
static bool balanced(const char *s) {
    char stack[256][32];
    int depth = 0;
    for (const char *p = s; (p = strchr(p, '<'));) {
        const char *end = strchr(p, '>');
        if (!end) return false;
        if (p[1] == '/') {
            char name[32] = {0};
            sscanf(p + 2, "%31[a-zA-Z]", name);
            if (depth == 0 || strcmp(stack[--depth], name)) return false;
        } else if (end[-1] != '/') {
            if (depth == 256) return false;
            sscanf(p + 1, "%31[a-zA-Z]", stack[depth++]);
        }
        p = end + 1;
    }
    return depth == 0;
}

/* The <body> element of a page, copied (free it). */
static char *body_of(const char *html) {
    const char *a = html ? strstr(html, "<body>") : NULL, *b = a ? strstr(a, "</body>") : NULL;
    if (!b) return NULL;
    size_t n = (size_t)(b - a) + 7;
    char *s = malloc(n + 1);
    if (s) memcpy(s, a, n), s[n] = 0;
    return s;
}

static bool body_balanced(const char *html) {
    char *body = body_of(html);
    bool ok = body && balanced(body);
    free(body);
    return ok;
}

static void test_png(dy_ctx *ctx) {
    enum { W = 37, H = 23 };
    uint8_t rgb[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = rgb + (y * W + x) * 3;
            p[0] = (uint8_t)(x * 7), p[1] = (uint8_t)(y * 11), p[2] = (uint8_t)((x * y) ^ 0x5a);
        }
    char path[300];
    snprintf(path, sizeof path, "%s/round.png", dir);
    CHECK(dy_png_write_rgb(ctx, path, rgb, W, H) == DY_OK, "PNG written: %s", dy_ctx_error(ctx));
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    bool read = png_image_begin_read_from_file(&img, path) != 0;
    CHECK(read && img.width == W && img.height == H, "libpng reads it back: %u x %u", img.width, img.height);
    uint8_t back[W * H * 3];
    img.format = PNG_FORMAT_RGB;
    CHECK(read && png_image_finish_read(&img, NULL, back, 0, NULL) && !memcmp(back, rgb, sizeof rgb),
          "the pixels read back are the pixels written");
    uint8_t *mem;
    size_t size;
    CHECK(dy_png_encode_rgb(ctx, rgb, W, H, &mem, &size) == DY_OK && size > 8 && !memcmp(mem, "\x89PNG\r\n\x1a\n", 8),
          "in-memory PNG starts with the signature (%zu bytes)", size);
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    memset(back, 0, sizeof back);
    read = png_image_begin_read_from_memory(&img, mem, size) != 0;
    img.format = PNG_FORMAT_RGB;
    CHECK(read && png_image_finish_read(&img, NULL, back, 0, NULL) && !memcmp(back, rgb, sizeof rgb),
          "in-memory PNG round-trips too");
    free(mem);
    CHECK(dy_png_encode_rgb(ctx, rgb, 0, H, &mem, &size) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "0 x 23"),
          "a zero-width image is refused: %s", dy_ctx_error(ctx));
    snprintf(path, sizeof path, "%s/no/such/folder/x.png", dir);
    CHECK(dy_png_write_rgb(ctx, path, rgb, W, H) == DY_ERR_IO && strstr(dy_ctx_error(ctx), "x.png"),
          "an unwritable path is named: %s", dy_ctx_error(ctx));
}

static void test_base64(void) {
    const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    const char *want[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (int i = 0; i < 7; i++) {
        char *got = dy_base64_encode((const uint8_t *)in[i], strlen(in[i]));
        CHECK(got && !strcmp(got, want[i]), "base64(\"%s\") = \"%s\" (want \"%s\")", in[i], got ? got : "NULL",
              want[i]);
        free(got);
    }
    uint8_t all[256];
    for (int i = 0; i < 256; i++) all[i] = (uint8_t)i;
    char *got = dy_base64_encode(all, 256);
    CHECK(got && strlen(got) == 344 && !strncmp(got, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", 44) &&
              !strcmp(got + 336, "/P3+/w=="), "base64 of the 256 byte values");
    free(got);
}

static void test_ticks(void) {
    double lo = 0, hi = 1, t[32], step;
    int n = dy_svg_ticks(&lo, &hi, 6, true, t, 32, &step);
    CHECK(n == 6 && step == 0.2 && t[0] == 0 && fabs(t[5] - 1) < 1e-12, "[0, 1]: 6 ticks of 0.2 (got %d, %g)", n, step);
    lo = 3.2, hi = 97;
    n = dy_svg_ticks(&lo, &hi, 6, true, t, 32, &step);
    CHECK(step == 20 && lo == 0 && hi == 100 && n == 6, "[3.2, 97] widens to [0, 100] by 20 (got [%g, %g] by %g)", lo,
          hi, step);
    lo = 1, hi = 48;
    n = dy_svg_ticks(&lo, &hi, 7, false, t, 32, &step);
    CHECK(lo == 1 && hi == 48 && step == 10 && t[0] == 10 && t[n - 1] == 40, "[1, 48] kept, ticks 10..40 inside");
    lo = hi = 5;
    n = dy_svg_ticks(&lo, &hi, 6, true, t, 32, &step);
    CHECK(lo < 5 && hi > 5 && n >= 2, "a flat series gets a window around it: [%g, %g]", lo, hi);
    lo = 0, hi = 78000;
    dy_svg_ticks(&lo, &hi, 7, false, t, 32, &step);
    char buf[32];
    dy_svg_format_tick(buf, sizeof buf, 20000, step);
    CHECK(step == 20000 && !strcmp(buf, "20k"), "thousands as k: %s (step %g)", buf, step);
    dy_svg_format_tick(buf, sizeof buf, 0.25, 0.05);
    CHECK(!strcmp(buf, "0.25"), "decimals from the step: %s", buf);
    dy_svg_format_tick(buf, sizeof buf, -1.5, 0.5);
    CHECK(!strcmp(buf, "-1.5"), "negative: %s", buf);
}

static void test_downsample(void) {
    enum { N = 1000 };
    static double x[N], y[N], bx[N], mean[N], mn[N], mx[N];
    for (int i = 0; i < N; i++) x[i] = i, y[i] = i % 100 == 50 ? NAN : i;
    int64_t nb = dy_svg_downsample(x, y, N, 10, bx, mean, mn, mx);
    double want_mean0 = (4950.0 - 50) / 99; /* bucket 0: 0..99 without 50 */
    CHECK(nb == 10 && bx[0] == 49.5 && fabs(mean[0] - want_mean0) < 1e-12 && mn[0] == 0 && mx[0] == 99 &&
              mn[9] == 900 && mx[9] == 999, "10 buckets: mean x %g, mean y %g, min %g, max %g", bx[0], mean[0], mn[0],
          mx[0]);
    nb = dy_svg_downsample(x, y, 7, 400, bx, mean, mn, mx);
    CHECK(nb == 7 && mean[3] == 3 && mn[3] == 3 && mx[3] == 3, "short curves keep every point");
    double ny[3] = {NAN, NAN, NAN};
    nb = dy_svg_downsample(x, ny, 3, 1, bx, mean, mn, mx);
    CHECK(nb == 1 && isnan(mean[0]) && isnan(mn[0]), "a bucket of NaN gives NaN");
}

static char *plot_to_string(const dy_svg_plot *p, const dy_svg_series *s, int n, int64_t *drawn) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    *drawn = dy_svg_plot_write(f, p, s, n);
    fclose(f);
    return buf;
}

static void test_svg(void) {
    double x[5] = {0, 2.5, 5, 7.5, 10}, y[5] = {0, 0.25, NAN, 0.75, 1};
    dy_svg_plot p = dy_svg_plot_init("t1", "a<b & \"c\"", "step", "loss");
    p.x0 = 0, p.x1 = 10, p.y0 = 0, p.y1 = 1;
    dy_svg_series s[2] = {{.label = "line <1>", .color = "#123456", .x = x, .y = y, .n = 5},
                          {.label = "bars", .color = "#654321", .style = DY_SVG_BARS, .x = x, .y = y, .n = 5,
                           .bar_width = 1}};
    int64_t drawn;
    char *svg = plot_to_string(&p, s, 2, &drawn);
    CHECK(svg && balanced(svg), "the plot's markup is balanced");
    CHECK(strstr(svg, "a&lt;b &amp; &quot;c&quot;") && strstr(svg, "line &lt;1&gt;") && !strstr(svg, "a<b"),
          "title and legend text are escaped");
    /* 560 x 300, left margin 64, right 18: x = 64 + x / 10 * 478; a legend row puts the top at 30 + 18 + 6 = 54,
     * bottom margin 46: y = 54 + 200 * (1 - y) */
    CHECK(strstr(svg, "d=\"M64.0 254.0 L183.5 204.0\"") && strstr(svg, "d=\"M422.5 104.0 L542.0 54.0\""),
          "points land where the axes say, and the NaN splits the line in two");
    CHECK(drawn == 2 + 4 && count(svg, "<path") == 2, "two line pieces and four bars drawn (got %lld)",
          (long long)drawn);
    CHECK(count(svg, "<circle") == 4, "a short line gets a marker on each finite point (%d)", count(svg, "<circle"));
    CHECK(strstr(svg, ">loss</text>") && strstr(svg, ">step</text>") && strstr(svg, ">0.4</text>") &&
              strstr(svg, ">8</text>"),
          "axis labels and ticks are written");
    free(svg);
    dy_svg_plot e = dy_svg_plot_init("t2", "empty", "x", "y");
    svg = plot_to_string(&e, NULL, 0, &drawn);
    CHECK(drawn == 0 && strstr(svg, "no data yet") && balanced(svg), "an empty plot says so");
    free(svg);
    /* right axis and points */
    double px[3] = {-1, 0, 1}, py[3] = {1, 2, 3};
    dy_svg_plot r = dy_svg_plot_init("t3", "right", "x", "left");
    r.y2label = "right";
    dy_svg_series q[2] = {{.label = "pts", .color = "red", .style = DY_SVG_POINTS, .x = px, .y = py, .n = 3},
                          {.label = "r", .color = "blue", .x = px, .y = py, .n = 3, .right = true}};
    svg = plot_to_string(&r, q, 2, &drawn);
    CHECK(drawn == 4 && balanced(svg) && strstr(svg, "rotate(90)") && count(svg, "<circle") >= 3,
          "points and a right axis (drawn %lld)", (long long)drawn);
    free(svg);
}

/* A file of the run parsed as the report parses it (non-finite numbers allowed); NULL when absent or not JSON. */
static dy_json_doc *parse_file(const char *path) {
    size_t n = 0;
    char *text = slurp(path, &n);
    dy_json_doc *doc = NULL;
    dy_json_options o = {.nonfinite = true};
    if (text) dy_json_parse_with(NULL, path, text, n, &o, &doc, NULL);
    free(text);
    return doc;
}

/* What the report asks of a metrics line, through the reader's shorthands (json_get.c). */
static void test_run_json(void) {
    const char *line = "{\"step\": 12, \"nested\": {\"loss\": 9, \"a\": [1, {\"b\": \"}\"}]}, \"loss\": 4.25, "
                       "\"name\": \"a \\\"q\\\" \\u0041\\n\", \"hist\": [1, 2.5, null, -3e2], \"ok\": true, "
                       "\"names\": [\"x\", \"y,z\"], \"diverged\": nan, \"peak\": -inf}";
    dy_json_options o = {.nonfinite = true};
    dy_json_doc *doc = NULL;
    CHECK(dy_json_parse_with(NULL, "line", line, strlen(line), &o, &doc, NULL) == DY_OK, "a metrics line parses");
    const dy_json *r = dy_json_root(doc);
    double v = 0;
    CHECK(dy_json_get_number(r, "step", &v) && v == 12, "a number");
    CHECK(dy_json_get_number(r, "loss", &v) && v == 4.25, "the top-level key, not the nested one (%g)", v);
    const char *s = dy_json_get_string(r, "name");
    CHECK(s && !strcmp(s, "a \"q\" A\n"), "an escaped string: [%s]", s ? s : "(none)");
    double h[8];
    int64_t n = dy_json_numbers(dy_json_member(r, "hist"), h, 8);
    CHECK(n == 4 && h[0] == 1 && h[1] == 2.5 && isnan(h[2]) && h[3] == -300, "an array of numbers with a null");
    CHECK(dy_json_numbers(dy_json_member(r, "hist"), h, 2) == 4, "the array's length is returned when longer");
    const dy_json *ok = dy_json_member(r, "ok");
    CHECK(ok && ok->type == DY_JSON_BOOL && ok->boolean && !dy_json_get_number(r, "ok", &v),
          "true reads as a boolean, not a number");
    char names[2][8];
    CHECK(dy_json_strings(dy_json_member(r, "names"), &names[0][0], 8, 2) == 2 && !strcmp(names[1], "y,z"),
          "an array of strings");
    CHECK(dy_json_numbers(dy_json_member(r, "names"), h, 8) == -1 &&
              dy_json_strings(dy_json_member(r, "hist"), &names[0][0], 8, 2) == -1,
          "strings are not numbers, numbers not strings");
    CHECK(!dy_json_member(r, "b") && !dy_json_member(r, "missing"), "nested and absent keys are not found");
    CHECK(!dy_json_get_number(r, "name", &v), "a string is not a number");
    CHECK(dy_json_get_number(r, "diverged", &v) && isnan(v) && dy_json_get_number(r, "peak", &v) && v == -INFINITY,
          "printf's nan and -inf read as numbers in run files");
    dy_json_free(doc);
    const char *bad[] = {"{\"a\": 1, \"b\": ", "{\"a\": \"unterminated", "{\"step\": 1, \"step\": 2}", "{\"a\": nan}"};
    for (int i = 0; i < 4; i++) {
        doc = NULL;
        dy_json_parse_with(NULL, "line", bad[i], strlen(bad[i]), i < 3 ? &o : NULL, &doc, NULL);
        CHECK(!doc, "malformed text gives nothing: %s", bad[i]);
        dy_json_free(doc);
    }
    const char *obj = "{\"x\": 1, \"y\": \"two\", \"z\": [3]}";
    dy_json_parse(NULL, "obj", obj, strlen(obj), &doc, NULL);
    char order[16] = "";
    for (size_t i = 0; doc && i < dy_json_root(doc)->count; i++) strcat(order, dy_json_root(doc)->items[i].key);
    CHECK(!strcmp(order, "xyz"), "members walked in order: %s", order);
    dy_json_free(doc);
}

/* Two classes; every training image of class 1 is nearer to the class-0 query than any image of class 0 is: the
 * grid frames the query's neighbours red. The class-1 query's neighbours are class 1: green. */
static void test_retrieval_frames(dy_ctx *ctx) {
    enum { NTR = 12, NTE = 4, D = 3, S = 8 };
    static uint8_t px_tr[NTR * S * S], px_te[NTE * S * S];
    static int32_t l_tr[NTR], l_te[NTE];
    static float f_tr[NTR * D], f_te[NTE * D];
    char *names[2] = {"zero", "one"};
    int64_t counts[2] = {6, 6};
    for (int i = 0; i < NTR; i++) {
        l_tr[i] = i < 6 ? 0 : 1;
        memset(px_tr + i * S * S, 40 + 10 * i, S * S);
        /* class 1 close to (1, 0, 0) and far from (0, 1, 0); class 0 the other way round, slightly tilted */
        f_tr[i * D + 0] = l_tr[i] ? 1.0f : 0.1f;
        f_tr[i * D + 1] = l_tr[i] ? 0.05f * (float)i : 1.0f;
        f_tr[i * D + 2] = 0.01f * (float)i;
    }
    for (int i = 0; i < NTE; i++) {
        l_te[i] = i % 2;
        memset(px_te + i * S * S, 200, S * S);
        f_te[i * D + 0] = 1, f_te[i * D + 1] = 0, f_te[i * D + 2] = 0; /* every query looks like class 1 */
    }
    dy_dataset tr = {.count = NTR, .channels = 1, .height = S, .width = S, .pixels = px_tr, .labels = l_tr,
                     .num_classes = 2, .class_names = names, .class_counts = counts};
    dy_dataset te = tr;
    te.count = NTE, te.pixels = px_te, te.labels = l_te;
    CHECK(dy_encoder_view_write(ctx, dir, &tr, f_tr, &te, f_te, D, 3, 30) == DY_OK, "encoder view written: %s",
          dy_ctx_error(ctx));
    char path[300];
    snprintf(path, sizeof path, "%s/retrieval.json", dir);
    dy_json_doc *doc = parse_file(path);
    const dy_json *json = dy_json_root(doc);
    double ql[2], nl[16];
    CHECK(json && dy_json_numbers(dy_json_member(json, "query_label"), ql, 2) == 2 && ql[0] == 0 && ql[1] == 1,
          "one query per class");
    CHECK(json && dy_json_numbers(dy_json_member(json, "neighbour_label"), nl, 16) == 16 && nl[0] == 1 &&
              nl[5] == 1 && nl[6] == 0 && nl[8] == 1,
          "neighbours sorted by similarity: six of class 1 first");
    double cell = 0, border = 0, gap = 0, sep = 0, w = 0;
    dy_json_get_number(json, "cell", &cell), dy_json_get_number(json, "border", &border);
    dy_json_get_number(json, "gap", &gap), dy_json_get_number(json, "sep", &sep);
    dy_json_get_number(json, "width", &w);
    dy_json_free(doc);
    snprintf(path, sizeof path, "%s/retrieval.png", dir);
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    bool read = png_image_begin_read_from_file(&img, path) != 0;
    img.format = PNG_FORMAT_RGB;
    uint8_t *rgb = read ? malloc(PNG_IMAGE_SIZE(img)) : NULL;
    read = rgb && png_image_finish_read(&img, NULL, rgb, 0, NULL);
    CHECK(read && cell == 48 && img.width == (unsigned)w, "the grid PNG reads back (%u x %u, cells of %g)", img.width,
          img.height, cell);
    if (read) {
        int box = (int)(cell + 2 * border + gap);
        /* the top-left frame pixel of neighbour k of query q */
        const uint8_t *q0n0 = rgb + ((size_t)(gap / 2) * img.width + (size_t)(sep + box + gap / 2)) * 3;
        const uint8_t *q1n0 = rgb + ((size_t)(box + gap / 2) * img.width + (size_t)(sep + box + gap / 2)) * 3;
        CHECK(q0n0[0] == 214 && q0n0[1] == 39 && q0n0[2] == 40, "a wrong-class neighbour is framed red (%d %d %d)",
              q0n0[0], q0n0[1], q0n0[2]);
        CHECK(q1n0[0] == 44 && q1n0[1] == 160 && q1n0[2] == 44, "a same-class neighbour is framed green (%d %d %d)",
              q1n0[0], q1n0[1], q1n0[2]);
        const uint8_t *inside = rgb + ((size_t)(gap / 2 + border + 5) * img.width + (size_t)(gap / 2 + border + 5)) * 3;
        CHECK(inside[0] == 200 && inside[1] == 200 && inside[2] == 200, "the query's grey pixels fill its cell");
    }
    free(rgb);
    snprintf(path, sizeof path, "%s/embedding-map.json", dir);
    doc = parse_file(path);
    json = dy_json_root(doc);
    double xs[8];
    CHECK(json && dy_json_numbers(dy_json_member(json, "pca_x"), xs, 8) == NTE &&
              dy_json_numbers(dy_json_member(json, "tsne_y"), xs, 8) == NTE, "embedding map of the 4 test points");
    dy_json_free(doc);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) fputs(text, f), fclose(f);
}

/* When set, synthetic runs log an adaptive profile's bounds: from 0.07-0.2 after step 0 to 0.02-0.021 at the end. */
static bool synth_adaptive;
/* issue 25: when set, a const run on this --tau-schedule logging "tau" from 0.2 to 0.02 */
static const char *synth_schedule;
static double synth_bound(int s, int total, bool max) {
    return max ? 0.2 - 0.179 * s / total : 0.07 - 0.05 * s / total;
}

/* A synthetic run directory: `epochs` epochs of `spe` steps, the given fraction of pairs near tau_max. */
static void synthetic_run(const char *run, int epochs, int spe, double frac_max, const char *profile) {
    mkdir(run, 0777);
    char path[400];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    FILE *f = fopen(path, "w");
    snprintf(path, sizeof path, "%s/histograms.jsonl", run);
    FILE *h = fopen(path, "w");
    int total = epochs * spe, every = total / 200 > 1 ? total / 200 : 1;
    for (int s = 1; s <= total; s++) {
        int e = (s - 1) / spe + 1;
        fprintf(f,
                "{\"step\": %d, \"epoch\": %d, \"loss\": %.7g, \"lr\": %.7g, \"pos_sim\": 0.8, \"neg_sim\": 0.1, "
                "\"neg_sim_max\": 0.6, \"pos_tau\": 0.2, \"neg_tau\": 0.1, \"frac_tau_min\": 0.02, \"frac_tau_max\": "
                "%.6g, \"images_per_s\": %.1f",
                s, e, 6 - 2.0 * s / total + 0.1 * sin(s), 0.2 * cos(1.57 * s / total), frac_max, 900.0 + s % 7);
        if (synth_adaptive)
            fprintf(f, ", \"tau_min\": %.9g, \"tau_max\": %.9g", synth_bound(s, total, false),
                    synth_bound(s, total, true));
        if (synth_schedule) fprintf(f, ", \"tau\": %.9g", 0.2 - 0.18 * (s - 1) / (total - 1));
        fputs("}\n", f);
        if (s % spe == 0) {
            fprintf(f, "{\"step\": %d, \"epoch\": %d, \"alignment\": %.6f, \"uniformity\": %.6f, \"repr_images\": 256, "
                    "\"repr_on\": \"test\"}\n", s, e, 0.5 + 0.1 * e / epochs, -1 - 2.0 * e / epochs);
            if (e % 10 == 0 || e == epochs)
                fprintf(f, "{\"step\": %d, \"epoch\": %d, \"knn_top1\": %.6f, \"knn_top5\": %.6f, \"knn_k\": 200, "
                        "\"knn_t\": 0.1, \"knn_on\": \"test\"}\n", s, e, 0.5 + 0.4 * e / epochs, 0.9);
        }
        if (s == 1 || s % every == 0) {
            fprintf(h, "{\"step\": %d, \"epoch\": %d, \"bins\": 40, \"pos\": [", s, e);
            for (int b = 0; b < 40; b++) fprintf(h, "%s%d", b ? ", " : "", b > 30 ? 20 : 0);
            fputs("], \"neg\": [", h);
            for (int b = 0; b < 40; b++) fprintf(h, "%s%d", b ? ", " : "", 1000 - (b - 20) * (b - 20));
            fputs("]}\n", h);
        }
    }
    fclose(f);
    fclose(h);
    snprintf(path, sizeof path, "%s/config.json", run);
    char cfg[600], schedule[64] = "";
    if (synth_schedule) snprintf(schedule, sizeof schedule, "  \"tau-schedule\": \"%s\",\n", synth_schedule);
    snprintf(cfg, sizeof cfg, "{\n  \"data\": \"cifar10\",\n  \"profile\": \"%s\",\n  \"tau\": 0.2,\n  \"tau-min\": "
             "0.07,\n  \"tau-max\": 0.2,\n%s  \"epochs\": %d,\n  \"run-dir\": \"%s\"\n}\n", profile, schedule, epochs,
             run);
    write_file(path, cfg);
}

static void test_reports(dy_ctx *ctx) {
    char run[300], page[400];
    snprintf(run, sizeof run, "%s/long", dir);
    synthetic_run(run, 200, 390, 0.8, "cosine");
    dy_report_options ro = {.command = "dystress pretrain --epochs 200 --aug 'a<b'"};
    CHECK(dy_report_write(ctx, run, NULL, &ro) == DY_OK, "report of a 200-epoch run: %s", dy_ctx_error(ctx));
    snprintf(page, sizeof page, "%s/report.html", run);
    size_t size = 0;
    char *html = slurp(page, &size);
    CHECK(html && size < 3u << 20, "a 200-epoch run's report is light: %.2f MB", size / 1048576.0);
    CHECK(body_balanced(html), "the page's markup is balanced");
    /* the loss curve: 78 000 steps drawn as at most 400 buckets: the mean line and the min-max band's two edges */
    const char *loss = html ? strstr(html, "id=\"fig-loss\"") : NULL, *end = loss ? strstr(loss, "</figure>") : NULL;
    int points = 0;
    for (const char *p = loss; p && p < end && (p = strstr(p, " L")) && p < end; p += 2) points++;
    CHECK(loss && points > 3 * 300 && points < 3 * 400, "the loss is downsampled (%d path points for 78000 steps)",
          points);
    CHECK(html && strstr(html, "Most pairs sit at &tau;<sub>max</sub>") && strstr(html, "80 % of all pairs"),
          "80 %% of pairs at tau_max gets the plain-words warning");
    CHECK(html && strstr(html, "--aug &#39;a&lt;b&#39;") == NULL && strstr(html, "--aug 'a&lt;b'"),
          "the command is shown, escaped");
    CHECK(html && !strstr(html, "<script") && !strstr(html, "https://") && count(html, "http://") ==
                  count(html, "http://www.w3.org/2000/svg"), "no scripts and no addresses but SVG's namespace");
    CHECK(html && count(html, "id=\"p-temp-") == 4, "four histogram snapshots under the profile");
    free(html);

    snprintf(run, sizeof run, "%s/calm", dir);
    synthetic_run(run, 3, 20, 0.1, "cosine");
    CHECK(dy_report_write(ctx, run, NULL, NULL) == DY_OK, "report of a short run");
    snprintf(page, sizeof page, "%s/report.html", run);
    html = slurp(page, NULL);
    CHECK(html && !strstr(html, "class=\"warn\"") && strstr(html, "No retrieval grid yet") &&
              strstr(html, "No final evaluation"), "no warning at 10 %%, and missing parts are said");
    free(html);
    snprintf(run, sizeof run, "%s/const", dir);
    synthetic_run(run, 3, 20, 1.0, "const");
    snprintf(page, sizeof page, "%s/results.jsonl", run);
    write_file(page,
               "{\"features\": \"raw pixels\", \"knn_top1\": 0.7885, \"knn_top5\": 0.97, \"linear_top1\": 0.8465, "
               "\"linear_top5\": 0.99}\n");
    snprintf(page, sizeof page, "%s/eval-knn.json", run);
    write_file(page, "{\"features\": \"checkpoint-final.safetensors\", \"protocol\": \"knn\", \"top1\": 0.8207, "
                     "\"top5\": 0.99}\n");
    CHECK(dy_report_write(ctx, run, NULL, NULL) == DY_OK, "report of a constant-temperature run");
    snprintf(page, sizeof page, "%s/report.html", run);
    html = slurp(page, NULL);
    CHECK(html && !strstr(html, "class=\"warn\"") && strstr(html, "constant temperature"),
          "a constant profile is explained, not warned about");
    CHECK(html && strstr(html, "78.85 %") && strstr(html, "84.65 %") && strstr(html, "82.07 %") &&
              strstr(html, "checkpoint-final.safetensors"), "final evaluation rows from results.jsonl and eval*.json");
    free(html);

    /* an adaptive run: the page says where the bounds went, and each panel draws its step's profile */
    snprintf(run, sizeof run, "%s/adaptive", dir);
    synth_adaptive = true;
    synthetic_run(run, 3, 20, 0.1, "cosine");
    synth_adaptive = false;
    CHECK(dy_report_write(ctx, run, NULL, NULL) == DY_OK, "report of an adaptive run");
    snprintf(page, sizeof page, "%s/report.html", run);
    html = slurp(page, NULL);
    CHECK(html && strstr(html, "cosine profile, &tau; 0.07&ndash;0.2, adaptive: &tau; 0.02&ndash;0.021 at the end") &&
              strstr(html, "from &tau; 0.07&ndash;0.2 at the start to 0.02&ndash;0.021 at the end") &&
              strstr(html, "annealed"), "the adaptive run's bounds are named, start and end");
    free(html);
    dy_run_data rd;
    CHECK(dy_run_data_load(ctx, run, &rd) == DY_OK, "adaptive run loads");
    dy_tau_profile p1 = dy_run_profile_at(&rd, 1), p31 = dy_run_profile_at(&rd, 31);
    dy_tau_profile pe = dy_run_profile_at(&rd, INFINITY);
    CHECK(dy_run_adaptive(&rd) && p1.tau_min == 0.07f && p1.tau_max == 0.2f &&
              p31.tau_min == (float)synth_bound(30, 60, false) && p31.tau_max == (float)synth_bound(30, 60, true) &&
              fabsf(pe.tau_min - 0.02f) < 1e-7f && fabsf(pe.tau_max - 0.021f) < 1e-7f,
          "the profile at step 1 is the configured one, at step 31 the bounds logged after step 30 (%g-%g), at the end "
          "%g-%g", p31.tau_min, p31.tau_max, pe.tau_min, pe.tau_max);
    dy_run_data_free(&rd);
    /* issue 25: a constant on a temperature schedule: drawn like the adaptive bounds, named as a schedule */
    snprintf(run, sizeof run, "%s/scheduled", dir);
    synth_schedule = "cosine";
    synthetic_run(run, 3, 20, 1.0, "const");
    synth_schedule = NULL;
    CHECK(dy_report_write(ctx, run, NULL, NULL) == DY_OK, "report of a scheduled run");
    snprintf(page, sizeof page, "%s/report.html", run);
    html = slurp(page, NULL);
    CHECK(html && strstr(html, "constant &tau; = 0.2, schedule cosine: &tau; 0.02&ndash;0.02 at the end") &&
              strstr(html, "followed a schedule (<code>--tau-schedule cosine</code>)") &&
              strstr(html, "0.2 at the start"), "the scheduled run's levels are named, start and end");
    free(html);
    CHECK(dy_run_data_load(ctx, run, &rd) == DY_OK, "scheduled run loads");
    p31 = dy_run_profile_at(&rd, 31);
    CHECK(dy_run_adaptive(&rd) && p31.kind == DY_TAU_CONSTANT && p31.tau_min == p31.tau_max &&
              fabsf(p31.tau_max - (float)(0.2 - 0.18 * 29 / 59.0)) < 1e-7f && !strcmp(rd.tau_schedule, "cosine"),
          "each panel's constant is its step's level (step 31: %g)", p31.tau_max);
    dy_run_data_free(&rd);
    snprintf(run, sizeof run, "%s/calm", dir);
    CHECK(dy_run_data_load(ctx, run, &rd) == DY_OK && !dy_run_adaptive(&rd) &&
              dy_run_profile_at(&rd, INFINITY).tau_min == 0.07f, "a fixed profile stays the configured one");
    dy_run_data_free(&rd);

    const char *runs[2];
    char a[300], b[300];
    snprintf(a, sizeof a, "%s/calm", dir);
    snprintf(b, sizeof b, "%s/const", dir);
    runs[0] = a, runs[1] = b;
    snprintf(page, sizeof page, "%s/compare.html", dir);
    CHECK(dy_report_compare(ctx, runs, 2, page, NULL) == DY_OK, "comparison page: %s", dy_ctx_error(ctx));
    html = slurp(page, NULL);
    CHECK(html && count(html, "<td>calm</td>") == 1 && count(html, "<td>const</td>") == 3 &&
              strstr(html, "id=\"fig-profiles\"") && body_balanced(html),
          "both runs in the summary table, the two eval rows of one, profiles overlaid");
    free(html);

    snprintf(run, sizeof run, "%s/nothing", dir);
    mkdir(run, 0777);
    CHECK(dy_report_write(ctx, run, NULL, NULL) == DY_ERR_IO && strstr(dy_ctx_error(ctx), "nothing/metrics.jsonl"),
          "a folder without metrics.jsonl is refused, the file named: %s", dy_ctx_error(ctx));
}

/* Issue 22: the retrieval grid and the maps name the classes. A run records its data set's names (a folder's, CIFAR's,
 * STL-10's, Fashion-MNIST's since the readers give them) in retrieval.json and embedding-map.json, and the report
 * shows them; a Fashion-MNIST run made before recorded numbers, which the report shows by name. */
static void class_names_run(dy_ctx *ctx, const char *run, const char *data, char **names) {
    enum { C = 10, PER = 3, N = C * PER, D = 4, S = 8 };
    static uint8_t px[N * S * S];
    static int32_t labels[N];
    static float f[N * D];
    int64_t counts[C];
    for (int i = 0; i < N; i++) {
        labels[i] = i % C;
        memset(px + i * S * S, 20 * (i % C), S * S);
        for (int d = 0; d < D; d++) f[i * D + d] = (float)((i % C) * (d + 1) % 7) + 0.01f * (float)i;
    }
    for (int c = 0; c < C; c++) counts[c] = PER;
    dy_dataset ds = {.count = N, .channels = 1, .height = S, .width = S, .pixels = px, .labels = labels,
                     .num_classes = C, .class_names = names, .class_counts = counts};
    synthetic_run(run, 2, 10, 0.1, "cosine");
    char path[400], cfg[512];
    snprintf(path, sizeof path, "%s/config.json", run);
    snprintf(cfg, sizeof cfg, "{\n  \"data\": \"%s\",\n  \"profile\": \"cosine\",\n  \"epochs\": 2\n}\n", data);
    write_file(path, cfg);
    CHECK(dy_encoder_view_write(ctx, run, &ds, f, &ds, f, D, 2, 20) == DY_OK, "encoder view of %s: %s", data,
          dy_ctx_error(ctx));
    CHECK(dy_report_write(ctx, run, NULL, NULL) == DY_OK, "report of %s: %s", data, dy_ctx_error(ctx));
}

static void test_class_names(dy_ctx *ctx) {
    char *numbers[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    char *cifar[10] = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
    char run[300], page[400];
    snprintf(run, sizeof run, "%s/names-cifar", dir);
    class_names_run(ctx, run, "cifar10", cifar);
    snprintf(page, sizeof page, "%s/report.html", run);
    char *html = slurp(page, NULL);
    const char *grid = html ? strstr(html, "id=\"fig-retrieval\"") : NULL;
    CHECK(grid && strstr(grid, ">automobile</text>") && strstr(grid, ">truck</text>"),
          "the retrieval grid's rows are labelled with the recorded names");
    CHECK(html && strstr(html, "automobile") && count(html, "airplane") >= 3,
          "and the maps' legends too (%d times airplane)", html ? count(html, "airplane") : 0);
    free(html);
    snprintf(run, sizeof run, "%s/names-fmnist-old", dir);
    class_names_run(ctx, run, "fashion-mnist", numbers);
    snprintf(page, sizeof page, "%s/report.html", run);
    html = slurp(page, NULL);
    grid = html ? strstr(html, "id=\"fig-retrieval\"") : NULL;
    CHECK(grid && strstr(grid, ">T-shirt/top</text>") && strstr(grid, ">Ankle boot</text>") &&
              strstr(grid, ">Sneaker</text>"),
          "a Fashion-MNIST run that recorded numbers is shown by class name");
    free(html);
    snprintf(run, sizeof run, "%s/names-mnist", dir);
    class_names_run(ctx, run, "mnist", numbers);
    snprintf(page, sizeof page, "%s/report.html", run);
    html = slurp(page, NULL);
    grid = html ? strstr(html, "id=\"fig-retrieval\"") : NULL;
    CHECK(grid && strstr(grid, ">7</text>") && !strstr(html, "Ankle boot"), "MNIST's classes are its digits");
    free(html);
}

/* Issue 23 item 2: the report reads run logs bounded: regular files only (a FIFO made it wait for ever, a link to
 * /dev/zero made it grow without end), streamed, with what it skipped said in the page and to the caller. A hang
 * on the unfixed reader ends the test by SIGALRM. */
static void issue23_bounded_logs(dy_ctx *ctx) {
    char run[300], path[400], link_run[300];
    alarm(120);
    snprintf(run, sizeof run, "%s/fifo-metrics", dir);
    mkdir(run, 0777);
    snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    if (CHECK(mkfifo(path, 0600) == 0, "issue23: mkfifo")) {
        CHECK(dy_report_write(ctx, run, NULL, NULL) == DY_ERR_IO && strstr(dy_ctx_error(ctx), "metrics.jsonl") &&
                  strstr(dy_ctx_error(ctx), "not a regular file"),
              "issue23_report_refuses_fifo_metrics: at once, named: %s", dy_ctx_error(ctx));
    }
    snprintf(link_run, sizeof link_run, "%s/zero-metrics", dir);
    mkdir(link_run, 0777);
    snprintf(path, sizeof path, "%s/metrics.jsonl", link_run);
    if (symlink("/dev/zero", path) == 0) /* read only, never written */
        CHECK(dy_report_write(ctx, link_run, NULL, NULL) == DY_ERR_IO &&
                  strstr(dy_ctx_error(ctx), "not a regular file"),
              "issue23_report_refuses_dev_zero_metrics: %s", dy_ctx_error(ctx));

    /* an optional log that is a FIFO, a line longer than a buffer: the page is written, what was skipped said */
    snprintf(run, sizeof run, "%s/odd-logs", dir);
    synthetic_run(run, 2, 10, 0.1, "cosine");
    snprintf(path, sizeof path, "%s/histograms.jsonl", run);
    unlink(path);
    mkfifo(path, 0600);
    snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    char *metrics = slurp(path, NULL);
    FILE *f = fopen(path, "w");
    if (f && metrics) {
        for (size_t i = 0; i < DY_RUN_LINE_MAX + 100; i++) fputc('x', f);
        fputc('\n', f);
        fputs(metrics, f);
    }
    if (f) fclose(f);
    free(metrics);
    char skipped[1024] = "";
    dy_report_options ro = {.skipped = skipped, .skipped_size = sizeof skipped};
    CHECK(dy_report_write(ctx, run, NULL, &ro) == DY_OK && strstr(skipped, "histograms.jsonl") &&
              strstr(skipped, "not a regular file") && strstr(skipped, "metrics.jsonl: 1 line longer than 1024 KiB"),
          "issue23_report_skips_and_says: %s / %s", dy_ctx_error(ctx), skipped);
    dy_run_data rd;
    CHECK(dy_run_data_load(ctx, run, &rd) == DY_OK && rd.step.n == 20 && rd.n_hist == 0,
          "issue23: the 20 steps after the long line are read (%lld)", (long long)rd.step.n);
    dy_run_data_free(&rd);
    snprintf(path, sizeof path, "%s/report.html", run);
    char *html = slurp(path, NULL);
    CHECK(html && strstr(html, "Skipped while reading the run"), "issue23: the page says what was skipped");
    free(html);

    /* a log beyond the limit (sparse: no disk): its first DY_RUN_LOG_MAX_BYTES are read, the rest said */
    if (!test_quick()) {
        snprintf(run, sizeof run, "%s/huge", dir);
        synthetic_run(run, 1, 4, 0.1, "cosine");
        snprintf(path, sizeof path, "%s/metrics.jsonl", run);
        int fd = open(path, O_WRONLY);
        bool sparse = fd >= 0 && ftruncate(fd, (off_t)(DY_RUN_LOG_MAX_BYTES + ((uint64_t)8 << 30))) == 0;
        if (fd >= 0) close(fd);
        skipped[0] = 0;
        CHECK(sparse && dy_report_write(ctx, run, NULL, &ro) == DY_OK && strstr(skipped, "read its first 1024 MiB of"),
              "issue23_report_bounded_huge_log: a 9 GiB metrics.jsonl: %s / %s", dy_ctx_error(ctx), skipped);
        unlink(path);
    }
    alarm(0);
}

/* issue 25: the last kNN monitor's classes (knn_class_top1, knn_class_train) in a table, with the head / middle /
 * tail thirds and the gap when the training set is long-tailed; nothing when the log has no classes */
static void issue25_knn_per_class(dy_ctx *ctx) {
    char run[300], path[400];
    snprintf(run, sizeof run, "%s/lt", dir);
    synthetic_run(run, 3, 20, 0.1, "cosine");
    snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    FILE *f = fopen(path, "a");
    if (!CHECK(f != NULL, "issue25: metrics.jsonl")) return;
    /* head {0..3} = .75, middle {4..6} = .5, tail {7..9} = .1: gap 65 points; an older line first (ignored) */
    fputs("{\"step\": 40, \"epoch\": 2, \"knn_top1\": 0.5, \"knn_top5\": 0.9, \"knn_k\": 200, \"knn_t\": 0.1, "
          "\"knn_on\": \"test\", \"knn_class_top1\": [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], \"knn_class_train\": [1, 1, 1, 1, "
          "1, 1, 1, 1, 1, 1]}\n", f);
    fputs("{\"step\": 60, \"epoch\": 3, \"knn_top1\": 0.5, \"knn_top5\": 0.9, \"knn_k\": 200, \"knn_t\": 0.1, "
          "\"knn_on\": \"test\", \"knn_class_top1\": [0.9, 0.8, 0.7, 0.6, 0.5, 0.5, 0.5, 0.2, 0.1, 0.0], "
          "\"knn_class_train\": [500, 300, 200, 120, 80, 50, 30, 20, 10, 5]}\n", f);
    fclose(f);
    CHECK(dy_report_write(ctx, run, NULL, NULL) == DY_OK, "issue25: report: %s", dy_ctx_error(ctx));
    snprintf(path, sizeof path, "%s/report.html", run);
    char *html = slurp(path, NULL);
    CHECK(html && strstr(html, "id=\"fig-knn-class\"") && strstr(html, "monitor of epoch 3") &&
              strstr(html, "head 75.00 % (4 classes)") && strstr(html, "tail 10.00 % (3 classes)") &&
              strstr(html, "head-tail gap 65.00 points") && strstr(html, "<td class=\"n\">500</td>"),
          "issue25_report_knn_per_class: the last monitor's classes, thirds and gap in the report");
    CHECK(html && body_balanced(html), "issue25: the page's markup is balanced");
    free(html);
    snprintf(run, sizeof run, "%s/calm", dir); /* test_reports' run: no classes logged */
    snprintf(path, sizeof path, "%s/report.html", run);
    html = slurp(path, NULL);
    CHECK(html && !strstr(html, "fig-knn-class"), "issue25: a log without classes has no per-class table");
    free(html);
}

/* Issue 24: the run's files go through the one JSON reader. A line printed with a NaN (older runs wrote nan) is still
 * a step; a line that is not JSON is skipped and counted, but a last line without its newline that is not JSON yet (a
 * run still writing it) is passed over without a note; a config.json that is not JSON is said, and the page is drawn without it. */
static void issue24_report_json(dy_ctx *ctx) {
    char run[300], path[400];
    snprintf(run, sizeof run, "%s/json-lines", dir);
    synthetic_run(run, 1, 10, 0.1, "cosine");
    snprintf(path, sizeof path, "%s/metrics.jsonl", run);
    FILE *f = fopen(path, "a");
    if (!CHECK(f != NULL, "issue24: metrics.jsonl")) return;
    fputs("{\"step\": 11, \"epoch\": 2, \"loss\": nan, \"lr\": 0.1, \"pos_sim\": -nan, \"neg_sim\": inf}\n", f);
    fputs("{\"step\": 12, \"epoch\": 2, \"loss\": 3.5, \"lr\": 0.1,, \"pos_sim\": 0.5}\n", f);
    fputs("{\"step\": 13, \"epoch\": 2, \"loss\": 3.25, \"lr\"", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/config.json", run);
    write_file(path, "{\"data\": \"cifar10\", \"profile\": \"cosine\",\n \"tau-min\": 0.07,}\n");
    dy_run_data rd;
    if (!CHECK(dy_run_data_load(ctx, run, &rd) == DY_OK, "issue24: the run loads: %s", dy_ctx_error(ctx))) return;
    CHECK(rd.step.n == 11 && rd.step.v[10] == 11 && isnan(rd.loss.v[10]) && isnan(rd.pos_sim.v[10]) &&
              isinf(rd.neg_sim.v[10]),
          "issue24_report_reads_nan_lines: the nan line is step 11 with its NaN and Inf (%lld steps)",
          (long long)rd.step.n);
    CHECK(strstr(rd.skipped, "metrics.jsonl: 1 line that is not JSON") &&
              strstr(rd.skipped, "config.json: not JSON (line 2, column 18: trailing comma in an object)") &&
              !rd.config && !rd.has_profile,
          "issue24_report_says_what_is_not_json: %s", rd.skipped);
    dy_run_data_free(&rd);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/dystress-report-writers-%d", (int)getpid());
    mkdir(dir, 0777);
    dy_ctx *ctx = NULL;
    dy_ctx_options o = {.threads = 2};
    if (dy_ctx_create(&ctx, &o) != DY_OK) return 1;
    test_png(ctx);
    test_base64();
    test_ticks();
    test_downsample();
    test_svg();
    test_run_json();
    test_retrieval_frames(ctx);
    test_reports(ctx);
    test_class_names(ctx);
    issue23_bounded_logs(ctx);
    issue25_knn_per_class(ctx);
    issue24_report_json(ctx);
    dy_ctx_destroy(ctx);
    if (!getenv("DY_TEST_KEEP")) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_finish();
}
