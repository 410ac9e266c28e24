/* The run report in a real browser. A short run (the tiny synthetic CIFAR-10 set test_cli_pretrain.c uses, width 4,
 * three epochs, a kNN monitor each epoch, stopped after 20 steps and resumed) writes report.html at its epoch ends;
 * `dystress report` rewrites it with an `eval --json` row. Headless Chromium then renders it: a copy with a small
 * checking script injected (the report has none) dumps its DOM with, per figure, the SVG elements inside and their
 * rendered size, and whether the embedded PNG decodes; the report itself is screenshotted. Checked: every figure is
 * present and drawn, no console errors (and the console capture does catch a deliberate one), the screenshot is not
 * blank (decoded with libpng). The main job's report on the same tiny set is checked as text.
 * Without Chromium the test says so and skips the browser part, unless DY_REQUIRE_BROWSER=1 (CI): then it fails.
 * The screenshot is kept next to the test binary as report-screenshot.png. */
#include <math.h>
#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_support.h"
#include "core/rng.h"
#include "testlib.h"

static char dir[256], data[300];

/* The synthetic CIFAR-10 file name in the data folder (cli_support.h). */
static void write_cifar(const char *name, int per_class, uint32_t stream) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", data, name);
    cli_write_cifar(path, per_class, stream);
}


static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) n = 0;
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

static const char *find_browser(void) {
    static const char *names[] = {"chromium", "chromium-browser", "google-chrome", NULL};
    static char found[256];
    for (int i = 0; names[i]; i++) {
        char cmd[300], out[256];
        snprintf(cmd, sizeof cmd, "command -v %s", names[i]);
        if (cli_run(out, sizeof out, "%s", cmd) == 0 && *out) {
            out[strcspn(out, "\n")] = 0;
            snprintf(found, sizeof found, "%s", out);
            return found;
        }
    }
    return NULL;
}

/* Headless Chromium on a local page; extra: --dump-dom or --screenshot=...; stdout to out_path, the browser's log
 * (console messages included) to log_path. A fresh profile each time; nothing can be fetched. */
static int browse(const char *browser, const char *page, const char *extra, const char *out_path,
                  const char *log_path) {
    static int n;
    char profile[300];
    snprintf(profile, sizeof profile, "%s/profile-%d", dir, n++);
    return cli_run(NULL, 0,
               "(timeout 180 %s --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
               "--disable-background-networking --disable-component-update --disable-sync --hide-scrollbars "
               "--user-data-dir=%s --enable-logging=stderr --v=0 --virtual-time-budget=10000 --window-size=1400,5200 "
               "%s file://%s > %s 2> %s)", browser, profile, extra, page, out_path, log_path);
}

/* Lines of a browser log that report the page's console or a failed load (not Chromium's own noise). */
static int console_errors(const char *log_path, char *first, size_t size) {
    char *log = slurp(log_path);
    int n = 0;
    *first = 0;
    for (char *line = log ? strtok(log, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        if (!strstr(line, "CONSOLE") && !strstr(line, "Uncaught") && !strstr(line, "net::ERR") &&
            !strstr(line, "Failed to load"))
            continue;
        if (!n++) snprintf(first, size, "%s", line);
    }
    free(log);
    return n;
}

/* What the checking script wrote for one figure: its line in <pre id="dy-check">. */
typedef struct {
    int found, svg, elems, width, height, rows, images, text;
} figure_facts;

static figure_facts facts(const char *dom, const char *id) {
    figure_facts f = {0};
    const char *pre = strstr(dom, "<pre id=\"dy-check\">");
    char key[64];
    snprintf(key, sizeof key, "\n%s ", id);
    const char *line = pre ? strstr(pre, key) : NULL;
    if (line && sscanf(line + strlen(key), "svg=%d elems=%d w=%d h=%d rows=%d images=%d text=%d", &f.svg, &f.elems,
                       &f.width, &f.height, &f.rows, &f.images, &f.text) == 7)
        f.found = 1;
    return f;
}

static const char *HEAD_SCRIPT =
    "<script>window.__dyErrors=[];window.addEventListener('error',function(e){window.__dyErrors.push("
    "String(e.message||(e.target&&e.target.outerHTML)||e));},true);</script>";
static const char *BODY_SCRIPT =
    "<script>(function(){var out=[''];document.querySelectorAll('figure[id]').forEach(function(f){"
    "var svgs=f.querySelectorAll('svg'),n=0,w=0,h=0;svgs.forEach(function(s){n+=s.querySelectorAll('*').length;"
    "var r=s.getBoundingClientRect();w=Math.max(w,r.width);h+=r.height;});"
    "out.push(f.id+' svg='+svgs.length+' elems='+n+' w='+Math.round(w)+' h='+Math.round(h)+' rows='+"
    "f.querySelectorAll('tr').length+' images='+f.querySelectorAll('image').length+' text='+"
    "(f.textContent||'').trim().length);});"
    "out.push('missing '+document.querySelectorAll('.missing').length);"
    "var pre=document.createElement('pre');pre.id='dy-check';pre.textContent=out.join('\\n')+'\\n';"
    "document.body.appendChild(pre);"
    "var st=document.createElement('pre');st.id='dy-image';st.textContent='none';document.body.appendChild(st);"
    "var img=document.querySelector('#fig-retrieval image');if(img){st.textContent='pending';var i2=new Image();"
    "i2.onload=function(){st.textContent='decoded '+i2.naturalWidth+'x'+i2.naturalHeight;};"
    "i2.onerror=function(){st.textContent='failed';};i2.src=img.getAttribute('href');}"
    "var er=document.createElement('pre');er.id='dy-errors';er.textContent=window.__dyErrors.join('|');"
    "document.body.appendChild(er);window.addEventListener('load',function(){"
    "er.textContent=window.__dyErrors.join('|');});})();</script>";

/* The report with the checking scripts injected (after <head>, before </body>). */
static bool write_check_copy(const char *report, const char *copy) {
    char *html = slurp(report);
    char *head = html ? strstr(html, "<head>") : NULL, *end = html ? strstr(html, "</body>") : NULL;
    FILE *f = head && end ? fopen(copy, "w") : NULL;
    if (f) {
        fwrite(html, 1, (size_t)(head + 6 - html), f);
        fputs(HEAD_SCRIPT, f);
        fwrite(head + 6, 1, (size_t)(end - head - 6), f);
        fputs(BODY_SCRIPT, f);
        fputs(end, f);
        fclose(f);
    }
    free(html);
    return f != NULL;
}

static void check_screenshot(const char *path, const char *keep) {
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    bool ok = png_image_begin_read_from_file(&img, path) != 0;
    img.format = PNG_FORMAT_RGB;
    uint8_t *rgb = ok ? malloc(PNG_IMAGE_SIZE(img)) : NULL;
    ok = rgb && png_image_finish_read(&img, NULL, rgb, 0, NULL);
    CHECK(ok && img.width == 1400 && img.height == 5200, "the screenshot decodes with libpng (%u x %u)", img.width,
          img.height);
    if (ok) {
        size_t n = (size_t)img.width * img.height;
        double sum = 0, sum2 = 0;
        size_t off_background = 0, blue = 0, orange = 0;
        for (size_t i = 0; i < n; i++) {
            const uint8_t *p = rgb + 3 * i;
            double lum = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
            sum += lum, sum2 += lum * lum;
            /* the page's background is #f6f7f9 */
            if (abs(p[0] - 0xf6) + abs(p[1] - 0xf7) + abs(p[2] - 0xf9) > 30) off_background++;
            if (abs(p[0] - 0x4e) + abs(p[1] - 0x79) + abs(p[2] - 0xa7) < 40) blue++;    /* the first series */
            if (abs(p[0] - 0xf2) + abs(p[1] - 0x8e) + abs(p[2] - 0x2b) < 40) orange++;  /* the second */
        }
        double mean = sum / (double)n, sd = sqrt(fmax(sum2 / (double)n - mean * mean, 0));
        CHECK(sd > 15 && off_background > n / 20, "the screenshot is not blank: luminance sd %.1f, %.1f %% of pixels "
              "off the background", sd, 100.0 * (double)off_background / (double)n);
        CHECK(blue > 2000 && orange > 2000, "plotted series are on screen (%zu blue, %zu orange pixels)", blue, orange);
    }
    free(rgb);
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "cp %s %s", path, keep);
    if (ok && system(cmd) == 0) fprintf(stderr, "screenshot: %s\n", keep);
}

int main(int argc, char **argv) {
    snprintf(dir, sizeof dir, "/tmp/dystress-report-browser-%d", (int)getpid());
    snprintf(data, sizeof data, "%s/cifar", dir);
    char cmd[4096], out[16384], run_dir[300], path[600], log[600], dom_path[600];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", data);
    if (system(cmd) != 0) return 1;
    char name[32];
    for (int b = 1; b <= 5; b++) {
        snprintf(name, sizeof name, "data_batch_%d.bin", b);
        write_cifar(name, 8, (uint32_t)b); /* 400 training images */
    }
    write_cifar("test_batch.bin", 10, 99); /* 100 test images */
    snprintf(run_dir, sizeof run_dir, "%s/run", dir);

    /* a short run, stopped after 20 steps and resumed: report.html appears at its epoch ends */
    int rc = cli_run(out, sizeof out, "./dystress pretrain --data cifar10 --data-dir %s --width 4 --batch-size 32 "
                 "--epochs 3 --lr 0.1 --momentum 0.9 --knn-k 20 --knn-every 1 --threads 2 --loader-threads 2 --seed 3 "
                 "--max-steps 20 --run-dir %s", data, run_dir);
    CHECK(rc == 0, "pretrain runs 20 steps: %s", out);
    rc = cli_run(out, sizeof out, "./dystress pretrain --resume --run-dir %s", run_dir);
    CHECK(rc == 0 && strstr(out, "report.html"), "the resumed run exits 0 and names the report: %s", out);
    /* the logs hold each step once after the resume: histogram steps increase, one alignment line per epoch */
    snprintf(path, sizeof path, "%s/histograms.jsonl", run_dir);
    char *text = slurp(path);
    int last = 0, lines = 0;
    bool increasing = text != NULL;
    for (char *l = text ? strtok(text, "\n") : NULL; l; l = strtok(NULL, "\n")) {
        int step = -1;
        sscanf(l, "{\"step\": %d", &step);
        increasing &= step > last;
        last = step, lines++;
    }
    free(text);
    CHECK(increasing && lines == 36 && last == 36, "histograms.jsonl: %d lines, steps increasing to %d", lines, last);
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    text = slurp(path);
    int align = 0;
    for (const char *p = text; p && (p = strstr(p, "\"alignment\"")); p++) align++;
    free(text);
    CHECK(align == 3, "one alignment line per epoch (%d)", align);
    snprintf(path, sizeof path, "%s/report.html", run_dir);
    char *html = slurp(path);
    CHECK(html && strstr(html, "epoch 3 of 3") && strstr(html, "id=\"fig-retrieval\""),
          "pretraining wrote report.html at its last epoch end");
    free(html);
    rc = cli_run(out, sizeof out, "./dystress eval knn --checkpoint %s/checkpoint-final.safetensors --knn-k 20 --json "
             "%s/eval-knn.json", run_dir, run_dir);
    CHECK(rc == 0, "eval knn --json into the run directory: %s", out);
    rc = cli_run(out, sizeof out, "./dystress report %s", run_dir);
    CHECK(rc == 0 && strstr(out, "report.html"), "dystress report exits 0 and prints the page's path: %s", out);
    html = slurp(path);
    CHECK(html && strstr(html, "eval-knn.json") && strstr(html, "dystress pretrain --data cifar10"),
          "the report shows the eval row and the reproducing command");
    /* self-contained: no scripts, no addresses but the SVG namespace, no external images or styles */
    int http = 0, ns = 0;
    for (const char *p = html; p && (p = strstr(p, "http")); p += 4) {
        http++;
        if (!strncmp(p, "http://www.w3.org/2000/svg\"", 27)) ns++;
    }
    CHECK(html && !strstr(html, "<script") && http == ns && !strstr(html, "@import") && !strstr(html, "src=") &&
              strstr(html, "href=\"data:image/png;base64,"), "the page is self-contained (%d addresses, %d the SVG "
          "namespace)", http, ns);
    free(html);
    rc = cli_run(out, sizeof out, "./dystress report %s/nowhere", dir);
    CHECK(rc == 1 && strstr(out, "nowhere"), "a missing run directory is named: %s", out);
    rc = cli_run(out, sizeof out, "./dystress report %s %s", run_dir, run_dir);
    CHECK(rc == 2 && strstr(out, "--compare"), "two runs without --compare: %s", out);
    snprintf(path, sizeof path, "%s/compare.html", dir);
    rc = cli_run(out, sizeof out, "./dystress report --compare %s %s/run --out %s", run_dir, dir, path);
    CHECK(rc == 0 && access(path, R_OK) == 0, "--compare writes its page: %s", out);

    /* the main job writes a report of its run directory, with its results table and the trained encoder's views */
    rc = cli_run(out, sizeof out, "./dystress demo --data cifar10 --data-dir %s --width 4 --batch-size 32 --epochs 1 "
             "--knn-k 20 --threads 2 --loader-threads 2 --run-dir %s/demo", data, dir);
    snprintf(path, sizeof path, "%s/demo/report.html", dir);
    html = slurp(path);
    CHECK(rc == 0 && html && strstr(html, "<td>raw pixels</td>") &&
              strstr(html, "<td>random ResNet-18 (width 4)</td>") && strstr(html, "results.jsonl") &&
              strstr(html, "href=\"data:image/png;base64,") && strstr(html, "t-SNE of 100 test embeddings"),
          "the demo writes report.html with its three rows, the "
          "retrieval grid and the maps (exit %d): %s",
          rc, out);
    free(html);

    const char *browser = find_browser();
    bool required = getenv("DY_REQUIRE_BROWSER") && !strcmp(getenv("DY_REQUIRE_BROWSER"), "1");
    if (!browser) {
        if (required) CHECK(false, "DY_REQUIRE_BROWSER=1 but no chromium on PATH (apt-get install chromium)");
        else fprintf(stderr, "note: no chromium on PATH: the browser checks are skipped (DY_REQUIRE_BROWSER=1 makes "
                             "this a failure)\n");
    } else {
        /* 1. the console capture works: a page with a deliberate error is caught */
        snprintf(path, sizeof path, "%s/broken.html", dir);
        FILE *f = fopen(path, "w");
        if (f)
            fputs("<!DOCTYPE html><html><body><p>x</p><script>noSuchFunction();</script></body></html>\n", f),
                fclose(f);
        snprintf(log, sizeof log, "%s/broken.log", dir);
        snprintf(dom_path, sizeof dom_path, "%s/broken.dom", dir);
        browse(browser, path, "--dump-dom", dom_path, log);
        char first[600];
        CHECK(console_errors(log, first, sizeof first) > 0 && strstr(first, "noSuchFunction"),
              "the console capture catches a deliberate error: %s", first);

        /* 2. the report with the checking script: every figure drawn */
        char report[600], copy[600];
        snprintf(report, sizeof report, "%s/report.html", run_dir);
        snprintf(copy, sizeof copy, "%s/report-check.html", run_dir);
        CHECK(write_check_copy(report, copy), "checking copy written");
        snprintf(log, sizeof log, "%s/dom.log", dir);
        snprintf(dom_path, sizeof dom_path, "%s/dom.html", dir);
        rc = browse(browser, copy, "--dump-dom", dom_path, log);
        char *dom = slurp(dom_path);
        CHECK(rc == 0 && dom && strstr(dom, "<pre id=\"dy-check\">"), "the browser ran the page (exit %d)", rc);
        if (!dom) dom = calloc(1, 1);
        static const struct {
            const char *id;
            int min_svg, min_elems, min_rows, min_text;
        } want[] = {
            {"fig-loss", 1, 20, 0, 0},       {"fig-lr", 1, 20, 0, 0},          {"fig-throughput", 1, 20, 0, 0},
            {"fig-knn", 1, 20, 0, 0},        {"fig-eval", 0, 0, 2, 20},        {"fig-temperature", 3, 300, 0, 0},
            {"fig-extremes", 1, 20, 0, 0},   {"fig-similarity", 1, 20, 0, 0},  {"fig-alignment", 1, 15, 0, 0},
            {"fig-uniformity", 1, 15, 0, 0}, {"fig-retrieval", 1, 20, 0, 0},   {"fig-map-pca", 1, 100, 0, 0},
            {"fig-map-tsne", 1, 100, 0, 0},  {"fig-command", 0, 0, 0, 40},
        };
        for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
            figure_facts ff = facts(dom, want[i].id);
            bool drawn = ff.found && ff.svg >= want[i].min_svg && ff.elems >= want[i].min_elems &&
                         ff.rows >= want[i].min_rows && ff.text >= want[i].min_text &&
                         (want[i].min_svg == 0 || (ff.width >= 200 && ff.height >= 150));
            CHECK(drawn, "%s is present and drawn: %d svg, %d elements, %d x %d px, %d table rows, %d characters",
                  want[i].id, ff.svg, ff.elems, ff.width, ff.height, ff.rows, ff.text);
        }
        figure_facts ret = facts(dom, "fig-retrieval");
        CHECK(ret.images == 1 && strstr(dom, "<pre id=\"dy-image\">decoded "),
              "the retrieval grid's PNG decodes in the "
              "browser: %.40s",
              strstr(dom, "<pre id=\"dy-image\">") ? strstr(dom, "<pre id=\"dy-image\">") : "(none)");
        CHECK(strstr(dom, "\nmissing 0\n") != NULL, "no part of the report says it is missing");
        CHECK(strstr(dom, "<pre id=\"dy-errors\"></pre>") != NULL, "no script errors recorded on the page");
        CHECK(console_errors(log, first, sizeof first) == 0, "no console errors while rendering: %s", first);
        free(dom);

        /* 3. the screenshot of the report itself */
        snprintf(path, sizeof path, "%s/screenshot.png", dir);
        snprintf(log, sizeof log, "%s/shot.log", dir);
        char extra[700], keep[1300];
        snprintf(extra, sizeof extra, "--screenshot=%s", path);
        snprintf(dom_path, sizeof dom_path, "%s/shot.out", dir);
        rc = browse(browser, report, extra, dom_path, log);
        CHECK(rc == 0 && access(path, R_OK) == 0, "the browser wrote a screenshot (exit %d)", rc);
        CHECK(console_errors(log, first, sizeof first) == 0, "no console errors in the screenshot run: %s", first);
        const char *slash = strrchr(argv[0], '/');
        snprintf(keep, sizeof keep, "%.*sreport-screenshot.png", slash ? (int)(slash - argv[0] + 1) : 0, argv[0]);
        check_screenshot(path, keep);
    }
    (void)argc;
    if (!getenv("DY_TEST_KEEP")) {
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return test_finish();
}
