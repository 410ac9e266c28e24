/* The report's section on what the encoder learned (see encoder_figures.h): the retrieval grid of retrieval.png and
 * retrieval.json, and the PCA and t-SNE maps of embedding-map.json (both written by encoder_view.c). */
#include "report/encoder_figures.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "io/png_write.h"
#include "report/html.h"

/* The class names of retrieval.json and embedding-map.json (nc of them) as the report shows them: the recorded ones,
 * but for a Fashion-MNIST run made before its classes were named (numbers recorded), the names. */
void dy_report_class_names(const dy_run_data *r, char (*names)[48], int64_t nc) {
    const char *data = dy_json_get_string(dy_json_root(r->config), "data");
    if (!data || strcmp(data, "fashion-mnist") != 0 || nc != 10) return;
    for (int c = 0; c < 10; c++) {
        char number[8];
        snprintf(number, sizeof number, "%d", c);
        if (strcmp(names[c], number) != 0) return;
    }
    for (int c = 0; c < 10; c++) snprintf(names[c], 48, "%s", dy_fashion_mnist_class_names[c]);
}
/* The retrieval grid: the PNG (as a data: URI) inside an SVG that labels its rows and columns. */
static void retrieval_figure(FILE *f, const dy_run_data *r) {
    dy_html_figure_open(f, "fig-retrieval", "wide");
    double W, H, Q, K, cell, border, gap, sep, epoch;
    const dy_json *t = dy_json_root(r->retrieval);
    bool ok = t && r->retrieval_png && dy_json_get_number(t, "width", &W) && dy_json_get_number(t, "height", &H) &&
              dy_json_get_number(t, "queries", &Q) && dy_json_get_number(t, "neighbours", &K) &&
              dy_json_get_number(t, "cell", &cell) && dy_json_get_number(t, "border", &border) &&
              dy_json_get_number(t, "gap", &gap) && dy_json_get_number(t, "sep", &sep) && Q >= 1 && Q <= 64 &&
              K >= 1 && K <= 64;
    double ql[64], nl[64 * 64];
    char names[256][48];
    int64_t nc = ok ? dy_json_strings(dy_json_member(t, "class_names"), &names[0][0], 48, 256) : -1;
    if (nc > 0) dy_report_class_names(r, names, nc);
    if (ok) ok = dy_json_numbers(dy_json_member(t, "query_label"), ql, 64) == (int64_t)Q &&
                 dy_json_numbers(dy_json_member(t, "neighbour_label"), nl, 64 * 64) == (int64_t)(Q * K);
    char *b64 = ok ? dy_base64_encode(r->retrieval_png, r->retrieval_png_size) : NULL;
    if (!b64) {
        fputs("<p class=\"missing\">No retrieval grid yet: it is drawn at each kNN monitor (and by the main job) for "
              "data with labels.</p>\n", f);
        dy_html_figure_close(f, NULL);
        return;
    }
    if (!dy_json_get_number(t, "epoch", &epoch)) epoch = NAN;
    double scale = cell < 40 ? 2 : 1; /* small images drawn larger on the page, pixels kept sharp */
    double label_w = 150, top = 22, iw = W * scale, ih = H * scale, box = (cell + 2 * border + gap) * scale;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"img\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\" font-size=\"12\" fill=\"#374151\">\n", label_w + iw + 10, top + ih + 4,
            label_w + iw + 10, top + ih + 4);
    fprintf(f, "<text x=\"%.1f\" y=\"15\" text-anchor=\"middle\" font-weight=\"600\">query</text>\n",
            label_w + box / 2);
    double hx = label_w + box + sep * scale;
    fprintf(f, "<text x=\"%.1f\" y=\"15\" font-weight=\"600\">%g nearest training images &#x2192;</text>\n", hx, K);
    /* the frames' legend, right-aligned above the grid */
    double lx = label_w + iw - 210;
    fprintf(f, "<rect x=\"%.1f\" y=\"5\" width=\"12\" height=\"12\" fill=\"none\" stroke=\"#2ca02c\" "
            "stroke-width=\"3\"/><text x=\"%.1f\" y=\"15\">same class</text>\n", lx, lx + 18);
    fprintf(f, "<rect x=\"%.1f\" y=\"5\" width=\"12\" height=\"12\" fill=\"none\" stroke=\"#d62728\" "
            "stroke-width=\"3\"/><text x=\"%.1f\" y=\"15\">another class</text>\n", lx + 100, lx + 118);
    fprintf(f, "<image x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" style=\"image-rendering:pixelated\" "
            "href=\"data:image/png;base64,%s\"/>\n", label_w, top, iw, ih, b64);
    free(b64);
    int total_right = 0;
    for (int q = 0; q < (int)Q; q++) {
        int right = 0;
        for (int k = 0; k < (int)K; k++) right += nl[q * (int)K + k] == ql[q];
        total_right += right;
        double y = top + (q + 0.5) * box;
        int c = (int)ql[q];
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dy=\"0.32em\">", label_w - 8, y - 7);
        dy_html_escape(f, c >= 0 && c < nc ? names[c] : "?");
        fprintf(f, "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" dy=\"0.32em\" fill=\"#6b7280\" "
                "font-size=\"11\">%d of %g same class</text>\n", label_w - 8, y + 8, right, K);
    }
    fputs("</svg>\n", f);
    char cap[512], when[48] = "";
    if (isfinite(epoch)) snprintf(when, sizeof when, " after epoch %g", epoch);
    snprintf(cap, sizeof cap, "Test images (left, one per class) and their nearest training images by cosine "
             "similarity of the encoder's features%s. Neighbours of the query's class are framed green, of another "
             "class red: %d of %d neighbours share the query's class. Also in the run directory as retrieval.png.",
             when, total_right, (int)(Q * K));
    dy_html_figure_close(f, cap);
}

static void map_figure(FILE *f, const dy_run_data *r, const char *id, const char *which) {
    dy_html_figure_open(f, id, NULL);
    const dy_json *t = dy_json_root(r->map);
    double nd = 0, ncd = 0;
    bool ok = t && dy_json_get_number(t, "n", &nd) && dy_json_get_number(t, "num_classes", &ncd) && nd >= 3 &&
              nd <= 100000 && ncd >= 1 && ncd <= 1000;
    int64_t n = ok ? (int64_t)nd : 0;
    int nc = (int)ncd;
    double *x = ok ? malloc(sizeof(double) * (size_t)n * 3) : NULL;
    char key_x[16], key_y[16];
    snprintf(key_x, sizeof key_x, "%s_x", which);
    snprintf(key_y, sizeof key_y, "%s_y", which);
    if (x) {
        double *y = x + n, *lab = y + n;
        ok = dy_json_numbers(dy_json_member(t, key_x), x, n) == n &&
             dy_json_numbers(dy_json_member(t, key_y), y, n) == n &&
             dy_json_numbers(dy_json_member(t, "label"), lab, n) == n;
    }
    if (!ok || !x) {
        free(x);
        fprintf(f, "<p class=\"missing\">No %s map yet: it is computed at each kNN monitor (and by the main job) "
                "for data with labels.</p>\n", !strcmp(which, "pca") ? "PCA" : "t-SNE");
        dy_html_figure_close(f, NULL);
        return;
    }
    double *y = x + n, *lab = y + n;
    char (*names)[48] = calloc((size_t)nc, 48);
    if (names && dy_json_strings(dy_json_member(t, "class_names"), &names[0][0], 48, nc) == nc)
        dy_report_class_names(r, names, nc);
    dy_svg_series *s = calloc((size_t)nc, sizeof *s);
    char (*colors)[32] = calloc((size_t)nc, 32);
    double *buf = malloc(sizeof(double) * (size_t)n * 2);
    if (!s || !colors || !buf || !names) {
        free(x), free(names), free(s), free(colors), free(buf);
        dy_html_figure_close(f, "out of memory");
        return;
    }
    int64_t off = 0;
    for (int c = 0; c < nc; c++) { /* points grouped by class: one series (and legend entry) each */
        s[c].x = buf + off;
        int64_t cnt = 0;
        for (int64_t i = 0; i < n; i++)
            if ((int)lab[i] == c) buf[off + cnt++] = x[i];
        s[c].y = buf + n + off;
        cnt = 0;
        for (int64_t i = 0; i < n; i++)
            if ((int)lab[i] == c) buf[n + off + cnt++] = y[i];
        s[c].n = cnt;
        off += cnt;
        dy_html_color(colors[c], 32, c, nc);
        s[c].color = colors[c];
        s[c].style = DY_SVG_POINTS;
        s[c].radius = n > 400 ? 2.2 : 3;
        s[c].label = nc <= 20 ? names[c] : NULL;
    }
    char xl[64], yl[64], title[96];
    double epoch = NAN;
    dy_json_get_number(t, "epoch", &epoch);
    if (!strcmp(which, "pca")) {
        double var[2] = {NAN, NAN}, total = NAN;
        dy_json_numbers(dy_json_member(t, "pca_var"), var, 2);
        dy_json_get_number(t, "pca_total_var", &total);
        snprintf(xl, sizeof xl, "PC 1 (%.0f %% of the variance)", 100 * var[0] / total);
        snprintf(yl, sizeof yl, "PC 2 (%.0f %%)", 100 * var[1] / total);
        snprintf(title, sizeof title, "PCA of %lld test embeddings", (long long)n);
    } else {
        snprintf(xl, sizeof xl, "t-SNE 1 (no units)");
        snprintf(yl, sizeof yl, "t-SNE 2");
        snprintf(title, sizeof title, "t-SNE of %lld test embeddings", (long long)n);
    }
    char pid[32];
    snprintf(pid, sizeof pid, "p-%s", id + 4);
    dy_svg_plot p = dy_svg_plot_init(pid, title, xl, yl);
    p.width = 560;
    p.height = 430;
    dy_svg_plot_write(f, &p, s, nc);
    char cap[400], when[48] = "";
    double perplexity = 30;
    dy_json_get_number(t, "tsne_perplexity", &perplexity);
    if (isfinite(epoch)) snprintf(when, sizeof when, " after epoch %g", epoch);
    if (!strcmp(which, "pca"))
        snprintf(cap, sizeof cap, "The encoder's features (L2-normalised) of the first %lld test images%s on their "
                 "two principal components, coloured by class.", (long long)n, when);
    else
        snprintf(cap, sizeof cap, "The same points placed by t-SNE (perplexity %g, computed in C): neighbours in the "
                 "feature space stay neighbours; distances between clusters mean little.", perplexity);
    dy_html_figure_close(f, cap);
    free(x), free(names), free(s), free(colors), free(buf);
}

void dy_report_encoder_section(FILE *f, const dy_run_data *r) {
    fputs("<section id=\"encoder\"><h2>What the encoder learned</h2>\n<p class=\"lead\">From the encoder of the "
          "last kNN monitor (or the main job's final encoder): nearest neighbours of test images among the training "
          "images, and maps of the test embeddings coloured by class.</p>\n<div class=\"grid\">\n", f);
    retrieval_figure(f, r);
    map_figure(f, r, "fig-map-pca", "pca");
    map_figure(f, r, "fig-map-tsne", "tsne");
    fputs("</div>\n</section>\n", f);
}
