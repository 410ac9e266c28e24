/* The run report as one self-contained HTML page (see report.h): the page's sections, each figure an inline SVG
 * drawn by svg.c inside <figure id="fig-..."> (the browser test finds them by these ids). */
#include "report/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/context.h"
#include "io/atomic_file.h"
#include "io/png_write.h"
#include "report/json_lite.h"
#include "report/run_data.h"
#include "report/svg.h"

#define CURVE_BUCKETS 400   /* a long curve is drawn as this many buckets (mean line, min-max band) */
#define TEMP_PANELS 4       /* histogram snapshots drawn under the profile */
#define EXTREME_WARN 0.5    /* warn when more than this fraction of pairs sits at one end of the profile */

static const char *palette[10] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#7f7f7f"};

/* Colour of class or run i of n: the ten-colour palette, evenly spaced hues beyond ten. */
static void color_of(char *buf, size_t size, int i, int n) {
    if (n <= 10) snprintf(buf, size, "%s", palette[i % 10]);
    else snprintf(buf, size, "hsl(%d, 62%%, %d%%)", (int)(360.0 * i / n), i % 2 ? 38 : 52);
}

static void esc(FILE *f, const char *s) { dy_svg_escape(f, s); }

static const char *CSS =
    ":root{--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--card:#ffffff;--bg:#f6f7f9;--accent:#4e79a7}"
    "*{box-sizing:border-box}"
    "body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,"
    "'DejaVu Sans','Liberation Sans',Arial,sans-serif}"
    "header{background:#1f2937;color:#f9fafb;padding:18px 28px 14px}"
    "header h1{margin:0 0 4px;font-size:21px;font-weight:650}"
    "header p{margin:2px 0;color:#d1d5db;font-size:13px}"
    "nav{padding:8px 28px;background:#273244;font-size:13px}"
    "nav a{color:#cbd5e1;margin-right:16px;text-decoration:none}nav a:hover{color:#fff}"
    "main{padding:8px 28px 28px;max-width:1500px}"
    "section{margin-top:22px}"
    "h2{font-size:17px;margin:0 0 6px;padding-bottom:4px;border-bottom:2px solid var(--line)}"
    "p.lead{margin:4px 0 10px;color:#374151;max-width:1100px}"
    ".cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0 4px}"
    ".card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:7px 12px;flex:1 1 140px;"
    "max-width:230px}"
    ".card .v{font-size:19px;font-weight:650}.card .k{color:var(--muted);font-size:11.5px;line-height:1.3}"
    ".grid{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}"
    "figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 10px 6px}"
    ".grid>figure{flex:1 1 470px;max-width:760px}.grid>figure.wide{flex:1 1 100%;max-width:none}"
    "figure svg.plot{display:block;width:100%;height:auto}figure svg.img{display:block;max-width:100%;height:auto}"
    "figcaption{color:var(--muted);font-size:12px;max-width:560px;margin-top:2px}"
    "figure.wide figcaption{max-width:none}"
    ".panels{display:grid;grid-template-columns:repeat(2,auto);gap:4px 10px}"
    "table{border-collapse:collapse;font-size:13px;background:var(--card)}"
    "th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left}"
    "th{background:#f3f4f6;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".warn{background:#fff7ed;border:1px solid #fdba74;border-left:5px solid #f97316;border-radius:6px;"
    "padding:8px 12px;margin:8px 0 12px;max-width:1100px}"
    ".note{background:#eff6ff;border:1px solid #bfdbfe;border-left:5px solid #60a5fa;border-radius:6px;"
    "padding:8px 12px;margin:8px 0 12px;max-width:1100px}"
    ".missing{color:var(--muted);font-style:italic}"
    "pre{background:#111827;color:#e5e7eb;padding:10px 12px;border-radius:6px;white-space:pre-wrap;"
    "overflow-wrap:anywhere;margin:0;font-size:12.5px;max-width:1100px}"
    ".cfg{columns:3 300px;column-gap:28px;font-size:12.5px;max-width:1300px}"
    ".cfg div{break-inside:avoid;border-bottom:1px dotted var(--line);padding:1px 0;display:flex;"
    "justify-content:space-between;gap:10px}.cfg span.k{color:var(--muted)}.cfg span.v{font-family:ui-monospace,"
    "'DejaVu Sans Mono',monospace;text-align:right;word-break:break-all}"
    "footer{color:var(--muted);font-size:12px;padding:0 28px 24px}";

static void page_open(FILE *f, const char *title) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
    esc(f, title);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n", CSS);
}

static void page_close(FILE *f) {
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
    fprintf(f, "<footer>Written by dystress %s on %s. One self-contained file: inline SVG and CSS, images as data: "
            "URIs; no scripts, fonts or network requests.</footer>\n</body>\n</html>\n", DY_VERSION, when);
}

static void figure_open(FILE *f, const char *id, const char *cls) {
    fprintf(f, "<figure id=\"%s\"%s%s%s>\n", id, cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
}

static void figure_close(FILE *f, const char *caption) {
    if (caption) {
        fputs("<figcaption>", f);
        fputs(caption, f); /* captions are written here, as HTML */
        fputs("</figcaption>\n", f);
    }
    fputs("</figure>\n", f);
}

/* ---- numbers from the data --------------------------------------------------------------------------------- */

/* Mean of the finite values in the last `frac` of v (at least one value); NaN when none. */
static double tail_mean(const dy_dvec *v, double frac) {
    int64_t from = v->n - (int64_t)ceil(frac * (double)v->n);
    if (from >= v->n) from = v->n - 1;
    if (from < 0) from = 0;
    double s = 0;
    int64_t n = 0;
    for (int64_t i = from; i < v->n; i++)
        if (isfinite(v->v[i])) s += v->v[i], n++;
    return n ? s / (double)n : NAN;
}

static double last_of(const dy_dvec *v) { return v->n ? v->v[v->n - 1] : NAN; }

static double median_of(const dy_dvec *v) {
    if (!v->n) return NAN;
    double *c = malloc(sizeof(double) * (size_t)v->n);
    if (!c) return NAN;
    int64_t n = 0;
    for (int64_t i = 0; i < v->n; i++)
        if (isfinite(v->v[i])) c[n++] = v->v[i];
    for (int64_t i = 1; i < n; i++) { /* insertion sort is fine for a one-off; keep it simple but bounded */
        if (n > 20000) break;
        double x = c[i];
        int64_t j = i;
        while (j > 0 && c[j - 1] > x) c[j] = c[j - 1], j--;
        c[j] = x;
    }
    double m = n ? c[n / 2] : NAN;
    free(c);
    return m;
}

/* A curve y(x) as a series: downsampled into buckets (mean line, min-max band) when long. The buffers are
 * malloc'ed into *mem (4 arrays) and freed by the caller. */
static dy_svg_series curve(const dy_dvec *x, const dy_dvec *y, double scale, const char *label, const char *color,
                           double **mem) {
    dy_svg_series s = {.label = label, .color = color, .style = DY_SVG_LINE};
    int64_t n = x->n < y->n ? x->n : y->n, nb = n < CURVE_BUCKETS ? n : CURVE_BUCKETS;
    *mem = malloc(sizeof(double) * (size_t)(4 * (nb > 0 ? nb : 1)));
    if (!*mem || n == 0) return s;
    double *bx = *mem, *mean = bx + nb, *lo = mean + nb, *hi = lo + nb;
    double *ys = malloc(sizeof(double) * (size_t)n);
    if (!ys) return s;
    for (int64_t i = 0; i < n; i++) ys[i] = y->v[i] * scale;
    nb = dy_svg_downsample(x->v, ys, n, CURVE_BUCKETS, bx, mean, lo, hi);
    free(ys);
    s.x = bx;
    s.y = mean;
    s.n = nb;
    if (n > nb) s.lo = lo, s.hi = hi; /* a band only where buckets hold several points */
    return s;
}

/* An accuracy axis (in %): up to 100, from a round value below the lowest point. */
static void accuracy_axis(dy_svg_plot *p, const dy_dvec *top1) {
    double lo = 100;
    for (int64_t i = 0; i < top1->n; i++)
        if (isfinite(top1->v[i])) lo = fmin(lo, 100 * top1->v[i]);
    p->y0 = fmax(0, floor((lo - 5) / 10) * 10);
    p->y1 = 100;
}

static int64_t plot_curves(FILE *f, dy_svg_plot *p, dy_svg_series *s, int n) {
    return dy_svg_plot_write(f, p, s, n);
}

/* ---- sections of the single-run page ---------------------------------------------------------------------- */

static void cfg_string(const dy_run_data *r, const char *key, char *buf, size_t size, const char *dflt) {
    if (!r->config || !json_lite_get_string(r->config, key, buf, size)) snprintf(buf, size, "%s", dflt);
}

static double cfg_number(const dy_run_data *r, const char *key) {
    double v;
    return r->config && json_lite_get_number(r->config, key, &v) ? v : NAN;
}

static void profile_text(const dy_run_data *r, char *buf, size_t size) {
    if (!r->has_profile) {
        snprintf(buf, size, "temperature profile unknown");
        return;
    }
    const dy_tau_profile *p = &r->profile;
    if (p->kind == DY_TAU_CONSTANT) snprintf(buf, size, "constant &tau; = %g", p->tau_max);
    else if (p->kind == DY_TAU_COSINE) snprintf(buf, size, "cosine profile, &tau; %g&ndash;%g", p->tau_min, p->tau_max);
    else snprintf(buf, size, "shifted profile, &tau; %g&ndash;%g (offset %g, scale %g)", p->tau_min, p->tau_max,
                  p->offset, p->scale);
}

static void header(FILE *f, const dy_run_data *r) {
    char data[64], framework[32], prof[160];
    cfg_string(r, "data", data, sizeof data, "?");
    cfg_string(r, "framework", framework, sizeof framework, "?");
    profile_text(r, prof, sizeof prof);
    fputs("<header><h1>dystress run report &middot; ", f);
    esc(f, r->name);
    fputs("</h1><p>", f);
    esc(f, r->dir);
    fprintf(f, " &middot; %s &middot; ResNet-%g width %g &middot; %s &middot; %s &middot; batch %g</p>", data,
            cfg_number(r, "depth"), cfg_number(r, "width"), framework, prof, cfg_number(r, "batch-size"));
    if (r->step.n)
        fprintf(f, "<p>epoch %g of %lld, step %g &middot; refreshed at each epoch end while training: reload the "
                "page</p>", last_of(&r->epoch), (long long)r->epochs, last_of(&r->step));
    else
        fputs("<p>no training step logged yet</p>", f);
    fputs("</header>\n<nav><a href=\"#training\">Training</a><a href=\"#temperature\">Temperature at work</a>"
          "<a href=\"#representation\">Alignment &amp; uniformity</a><a href=\"#encoder\">What the encoder learned</a>"
          "<a href=\"#config\">Configuration</a></nav>\n<main>\n", f);
}

static void card(FILE *f, const char *value_fmt, double v, const char *key) {
    fputs("<div class=\"card\"><div class=\"v\">", f);
    if (isfinite(v)) fprintf(f, value_fmt, v);
    else fputs("&ndash;", f);
    fprintf(f, "</div><div class=\"k\">%s</div></div>\n", key);
}

static void cards(FILE *f, const dy_run_data *r) {
    fputs("<div class=\"cards\">\n", f);
    card(f, "%.4f", tail_mean(&r->loss, 0.05), "loss (mean of the last 5 % of steps)");
    card(f, "%.2f %%", 100 * last_of(&r->knn_top1), "kNN top-1 (last monitor, test split)");
    card(f, "%.2f %%", 100 * last_of(&r->knn_top5), "kNN top-5 (last monitor)");
    card(f, "%.3f", last_of(&r->alignment), "alignment (lower: positives closer)");
    card(f, "%.3f", last_of(&r->uniformity), "uniformity (lower: more spread)");
    card(f, "%.0f", median_of(&r->ips), "images/s through the encoder (median)");
    fputs("</div>\n", f);
}

static void eval_table(FILE *f, const dy_eval_row *rows, int n, const char *const *run_names) {
    fputs("<table><tr>", f);
    if (run_names) fputs("<th>run</th>", f);
    fputs("<th>features</th><th>kNN top-1</th><th>kNN top-5</th><th>linear top-1</th><th>linear top-5</th>"
          "<th>from</th></tr>\n", f);
    for (int i = 0; i < n; i++) {
        fputs("<tr>", f);
        if (run_names) {
            fputs("<td>", f);
            esc(f, run_names[i]);
            fputs("</td>", f);
        }
        fputs("<td>", f);
        esc(f, rows[i].features);
        fputs("</td>", f);
        double v[4] = {rows[i].knn1, rows[i].knn5, rows[i].lin1, rows[i].lin5};
        for (int k = 0; k < 4; k++)
            if (isfinite(v[k])) fprintf(f, "<td class=\"n\">%.2f %%</td>", 100 * v[k]);
            else fputs("<td class=\"n\">&ndash;</td>", f);
        fputs("<td>", f);
        esc(f, rows[i].source);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void training_section(FILE *f, const dy_run_data *r) {
    fputs("<section id=\"training\"><h2>Training</h2>\n", f);
    cards(f, r);
    fputs("<div class=\"grid\">\n", f);
    double *m[3] = {0};
    dy_svg_series s[3];

    figure_open(f, "fig-loss", NULL);
    dy_svg_plot p = dy_svg_plot_init("p-loss", "Loss", "optimizer step", "loss (nats)");
    s[0] = curve(&r->step, &r->loss, 1, "loss", palette[0], &m[0]);
    plot_curves(f, &p, s, 1);
    free(m[0]);
    figure_close(f, "Contrastive loss per step. Long runs are drawn in buckets of consecutive steps: the line is the "
                    "bucket's mean, the shaded band its minimum and maximum.");

    figure_open(f, "fig-lr", NULL);
    p = dy_svg_plot_init("p-lr", "Learning rate", "optimizer step", "learning rate");
    s[0] = curve(&r->step, &r->lr, 1, "learning rate", palette[1], &m[0]);
    plot_curves(f, &p, s, 1);
    free(m[0]);
    figure_close(f, "The schedule's learning rate at each step (warm-up, cosine or step decay).");

    figure_open(f, "fig-throughput", NULL);
    p = dy_svg_plot_init("p-ips", "Throughput", "optimizer step", "images/s (two views each)");
    p.y0 = 0;
    s[0] = curve(&r->step, &r->ips, 1, "images/s", palette[3], &m[0]);
    plot_curves(f, &p, s, 1);
    free(m[0]);
    figure_close(f, "Images per second through the encoder (each image counted once per view), measured per step "
                    "including data waits; drops mark steps that waited on the loader or on a monitor.");

    figure_open(f, "fig-knn", NULL);
    p = dy_svg_plot_init("p-knn", "kNN monitor", "epoch", "test accuracy (%)");
    p.x_integer = true;
    accuracy_axis(&p, &r->knn_top1);
    s[0] = curve(&r->knn_epoch, &r->knn_top1, 100, "top-1", palette[0], &m[0]);
    s[1] = curve(&r->knn_epoch, &r->knn_top5, 100, "top-5", palette[1], &m[1]);
    s[1].dashed = true;
    plot_curves(f, &p, s, 2);
    free(m[0]), free(m[1]);
    figure_close(f, r->knn_epoch.n ? "Weighted kNN accuracy of the encoder's features on the test split, at each "
                                     "monitor (--knn-every). Chosen on test data: a monitor, not a model selection."
                                   : "No kNN monitor in this run (--knn-every -1, or no labelled test split).");
    fputs("</div>\n<h3 style=\"font-size:15px;margin:16px 0 6px\">Final evaluation</h3>\n", f);
    figure_open(f, "fig-eval", "wide");
    if (r->n_eval) {
        eval_table(f, r->eval, r->n_eval, NULL);
        figure_close(f, "Rows from the main job's results.jsonl and from <code>dystress eval ... --json</code> files "
                        "named eval*.json in the run directory.");
    } else {
        fputs("<p class=\"missing\">No final evaluation in this run directory yet. Add one with <code>dystress eval "
              "knn --checkpoint RUN/checkpoint-final.safetensors --json RUN/eval-knn.json</code> (and <code>eval "
              "linear ... --json RUN/eval-linear.json</code>), then <code>dystress report RUN</code>.</p>\n", f);
        figure_close(f, NULL);
    }
    fputs("</section>\n", f);
}

/* The histogram snapshots to draw: up to TEMP_PANELS indices spread over the run (first and last included). */
static int snapshots(const dy_run_data *r, int64_t *idx) {
    int n = 0;
    for (int k = 0; k < TEMP_PANELS && r->n_hist > 0; k++) {
        int64_t i = r->n_hist == 1 ? 0 : (int64_t)llround((double)k * (double)(r->n_hist - 1) / (TEMP_PANELS - 1));
        if (n == 0 || idx[n - 1] != i) idx[n++] = i;
    }
    return n;
}

/* One panel: densities of positive and negative similarities (per unit of s, each normalised to area 1) as bars,
 * and tau(s) on the right axis. */
static int64_t temperature_panel(FILE *f, const dy_run_data *r, int64_t h, int panel, const char *id_prefix) {
    const int B = DY_LOSS_HIST_BINS;
    double x[DY_LOSS_HIST_BINS], pos[DY_LOSS_HIST_BINS], neg[DY_LOSS_HIST_BINS], ts[201], tv[201];
    double np = 0, nn = 0, w = 2.0 / B;
    for (int b = 0; b < B; b++) np += r->pos_hist[h * B + b], nn += r->neg_hist[h * B + b];
    for (int b = 0; b < B; b++) {
        x[b] = -1 + (b + 0.5) * w;
        pos[b] = np > 0 ? r->pos_hist[h * B + b] / (np * w) : NAN;
        neg[b] = nn > 0 ? r->neg_hist[h * B + b] / (nn * w) : NAN;
    }
    for (int i = 0; i <= 200; i++) {
        ts[i] = -1 + i / 100.0;
        tv[i] = r->has_profile ? dy_tau_eval(&r->profile, ts[i]) : NAN;
    }
    char title[96], id[64];
    snprintf(title, sizeof title, "step %.0f (epoch %.0f)", r->hist_step[h], r->hist_epoch[h]);
    snprintf(id, sizeof id, "%s-%d", id_prefix, panel);
    dy_svg_plot p = dy_svg_plot_init(id, title, "cosine similarity s", "density");
    p.y2label = "temperature \xcf\x84(s)";
    p.width = 470;
    p.height = 270;
    p.x0 = -1;
    p.x1 = 1;
    p.y20 = 0;
    if (r->has_profile) p.y21 = r->profile.tau_max * 1.25;
    dy_svg_series s[3] = {
        {.label = "negatives", .color = palette[0], .style = DY_SVG_BARS, .x = x, .y = neg, .n = B, .bar_width = w},
        {.label = "positives", .color = palette[1], .style = DY_SVG_BARS, .x = x, .y = pos, .n = B, .bar_width = w},
        {.label = "\xcf\x84(s)", .color = "#b91c1c", .style = DY_SVG_LINE, .x = ts, .y = tv, .n = 201, .right = true},
    };
    return dy_svg_plot_write(f, &p, s, r->has_profile ? 3 : 2);
}

static void temperature_section(FILE *f, const dy_run_data *r) {
    fputs("<section id=\"temperature\"><h2>The temperature at work</h2>\n<p class=\"lead\">DySTreSS gives every pair "
          "of embeddings its own temperature &tau;(s), a function of the pair's cosine similarity s. Below, the profile "
          "(red, right axis) over the distributions of positive and negative similarities the loss saw at a few points "
          "of training: where the negatives sit decides which part of the profile is at work.</p>\n", f);
    bool constant = r->has_profile && r->profile.kind == DY_TAU_CONSTANT;
    double fmax_end = tail_mean(&r->frac_max, 0.1), fmin_end = tail_mean(&r->frac_min, 0.1);
    if (constant) {
        fprintf(f, "<div class=\"note\">This run uses a constant temperature (&tau; = %g): every pair gets the same "
                "temperature, so the fractions below are 100 %% by definition.</div>\n", r->profile.tau_max);
    } else if (r->has_profile && isfinite(fmax_end) && fmax_end > EXTREME_WARN) {
        fprintf(f, "<div class=\"warn\"><b>Most pairs sit at &tau;<sub>max</sub>.</b> Over the last 10 %% of the "
                "steps, %.0f %% of all pairs (nearly all of them negatives) had a temperature within 1 %% of "
                "&tau;<sub>max</sub> = %g. The profile then acts as a constant temperature %g: the dynamic part of "
                "the loss does little. A profile whose low-temperature region covers where the negatives are (e.g. "
                "a shifted profile) would make it matter.</div>\n", 100 * fmax_end, r->profile.tau_max,
                r->profile.tau_max);
    } else if (r->has_profile && isfinite(fmin_end) && fmin_end > EXTREME_WARN) {
        fprintf(f, "<div class=\"warn\"><b>Most pairs sit at &tau;<sub>min</sub>.</b> Over the last 10 %% of the "
                "steps, %.0f %% of all pairs (nearly all of them negatives) had a temperature within 1 %% of "
                "&tau;<sub>min</sub> = %g. The profile then acts as a constant temperature %g.</div>\n",
                100 * fmin_end, r->profile.tau_min, r->profile.tau_min);
    }
    fputs("<div class=\"grid\">\n", f);
    figure_open(f, "fig-temperature", "wide");
    int64_t idx[TEMP_PANELS];
    int np = snapshots(r, idx);
    if (np) {
        fputs("<div class=\"panels\">\n", f);
        for (int k = 0; k < np; k++) temperature_panel(f, r, idx[k], k, "p-temp");
        fputs("</div>\n", f);
    } else {
        fputs("<p class=\"missing\">No histograms.jsonl in this run directory (written by pretraining since this "
              "version).</p>\n", f);
    }
    figure_close(f, "Densities of the cosine similarities of positive pairs (the two views of an image) and negative "
                    "pairs in the loss's batches (40 bins over [-1, 1], each distribution with area 1), with the "
                    "temperature profile &tau;(s) on the right axis.");

    double *m[3] = {0};
    figure_open(f, "fig-extremes", NULL);
    dy_svg_plot p = dy_svg_plot_init("p-extremes", "Pairs at the ends of the profile", "optimizer step",
                                     "fraction of all pairs (%)");
    p.y0 = 0;
    p.y1 = 100;
    dy_svg_series s[3];
    s[0] = curve(&r->step, &r->frac_max, 100, "near \xcf\x84 max", "#b91c1c", &m[0]);
    s[1] = curve(&r->step, &r->frac_min, 100, "near \xcf\x84 min", palette[0], &m[1]);
    dy_svg_plot_write(f, &p, s, 2);
    free(m[0]), free(m[1]);
    figure_close(f, "Fractions of all pairs (positives and negatives) whose temperature is within 1 % of "
                    "&tau;<sub>max</sub> (&ge; 0.99 &tau;<sub>max</sub>) or of &tau;<sub>min</sub> "
                    "(&le; 1.01 &tau;<sub>min</sub>), per step.");

    figure_open(f, "fig-similarity", NULL);
    p = dy_svg_plot_init("p-sim", "Similarities in the batch", "optimizer step", "cosine similarity");
    s[0] = curve(&r->step, &r->pos_sim, 1, "positives (mean)", palette[1], &m[0]);
    s[1] = curve(&r->step, &r->neg_sim, 1, "negatives (mean)", palette[0], &m[1]);
    s[2] = curve(&r->step, &r->neg_sim_max, 1, "hardest negative", palette[2], &m[2]);
    s[2].dashed = true;
    dy_svg_plot_write(f, &p, s, 3);
    free(m[0]), free(m[1]), free(m[2]);
    figure_close(f, "Mean similarity of positive and negative pairs, and the most similar negative of each batch.");
    fputs("</div>\n</section>\n", f);
}

static void representation_section(FILE *f, const dy_run_data *r) {
    fputs("<section id=\"representation\"><h2>Alignment and uniformity</h2>\n<p class=\"lead\">Wang &amp; Isola's "
          "two properties of a contrastive representation, on the projections z of a fixed held-out batch", f);
    if (r->repr_images) fprintf(f, " (%lld %s images, two fixed augmented views each)", (long long)r->repr_images,
                                r->repr_on);
    fputs(", at each epoch end. Alignment: E&#x2016;z<sub>i</sub> &minus; z<sub>i</sub>'&#x2016;&sup2; over positive "
          "pairs (lower: the two views agree). Uniformity: log E exp(&minus;2&#x2016;z<sub>i</sub> &minus; "
          "z<sub>j</sub>&#x2016;&sup2;) (lower: spread over the sphere; &minus;4 is the limit for "
          "many points).</p>\n<div class=\"grid\">\n", f);
    double *m = NULL;
    dy_svg_series s;
    figure_open(f, "fig-alignment", NULL);
    dy_svg_plot p = dy_svg_plot_init("p-align", "Alignment", "epoch", "alignment (squared distance)");
    p.x_integer = true;
    s = curve(&r->repr_epoch, &r->alignment, 1, "alignment", palette[4], &m);
    dy_svg_plot_write(f, &p, &s, 1);
    free(m);
    figure_close(f, "Mean squared distance between the unit projections of the two views of each held-out image.");
    figure_open(f, "fig-uniformity", NULL);
    p = dy_svg_plot_init("p-unif", "Uniformity", "epoch", "uniformity (log mean Gaussian potential)");
    p.x_integer = true;
    s = curve(&r->repr_epoch, &r->uniformity, 1, "uniformity", palette[6], &m);
    dy_svg_plot_write(f, &p, &s, 1);
    free(m);
    figure_close(f, "Log of the mean Gaussian potential exp(-2 d&sup2;) over pairs of held-out projections.");
    fputs("</div>\n</section>\n", f);
}

/* The retrieval grid: the PNG (as a data: URI) inside an SVG that labels its rows and columns. */
static void retrieval_figure(FILE *f, const dy_run_data *r) {
    figure_open(f, "fig-retrieval", "wide");
    double W, H, Q, K, cell, border, gap, sep, epoch;
    const char *t = r->retrieval;
    bool ok = t && r->retrieval_png && json_lite_get_number(t, "width", &W) && json_lite_get_number(t, "height", &H) &&
              json_lite_get_number(t, "queries", &Q) && json_lite_get_number(t, "neighbours", &K) &&
              json_lite_get_number(t, "cell", &cell) && json_lite_get_number(t, "border", &border) &&
              json_lite_get_number(t, "gap", &gap) && json_lite_get_number(t, "sep", &sep) && Q >= 1 && Q <= 64 &&
              K >= 1 && K <= 64;
    double ql[64], nl[64 * 64];
    char names[256][48];
    int64_t nc = ok ? json_lite_strings(json_lite_find(t, "class_names"), &names[0][0], 48, 256) : -1;
    if (ok) ok = json_lite_numbers(json_lite_find(t, "query_label"), ql, 64) == (int64_t)Q &&
                 json_lite_numbers(json_lite_find(t, "neighbour_label"), nl, 64 * 64) == (int64_t)(Q * K);
    char *b64 = ok ? dy_base64_encode(r->retrieval_png, r->retrieval_png_size) : NULL;
    if (!b64) {
        fputs("<p class=\"missing\">No retrieval grid yet: it is drawn at each kNN monitor (and by the main job) for "
              "data with labels.</p>\n", f);
        figure_close(f, NULL);
        return;
    }
    if (!json_lite_get_number(t, "epoch", &epoch)) epoch = NAN;
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
        esc(f, c >= 0 && c < nc ? names[c] : "?");
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
    figure_close(f, cap);
}

static void map_figure(FILE *f, const dy_run_data *r, const char *id, const char *which) {
    figure_open(f, id, NULL);
    const char *t = r->map;
    double nd = 0, ncd = 0;
    bool ok = t && json_lite_get_number(t, "n", &nd) && json_lite_get_number(t, "num_classes", &ncd) && nd >= 3 &&
              nd <= 100000 && ncd >= 1 && ncd <= 1000;
    int64_t n = ok ? (int64_t)nd : 0;
    int nc = (int)ncd;
    double *x = ok ? malloc(sizeof(double) * (size_t)n * 3) : NULL;
    char key_x[16], key_y[16];
    snprintf(key_x, sizeof key_x, "%s_x", which);
    snprintf(key_y, sizeof key_y, "%s_y", which);
    if (x) {
        double *y = x + n, *lab = y + n;
        ok = json_lite_numbers(json_lite_find(t, key_x), x, n) == n &&
             json_lite_numbers(json_lite_find(t, key_y), y, n) == n &&
             json_lite_numbers(json_lite_find(t, "label"), lab, n) == n;
    }
    if (!ok || !x) {
        free(x);
        fprintf(f, "<p class=\"missing\">No %s map yet: it is computed at each kNN monitor (and by the main job) "
                "for data with labels.</p>\n", !strcmp(which, "pca") ? "PCA" : "t-SNE");
        figure_close(f, NULL);
        return;
    }
    double *y = x + n, *lab = y + n;
    char (*names)[48] = calloc((size_t)nc, 48);
    if (names) json_lite_strings(json_lite_find(t, "class_names"), &names[0][0], 48, nc);
    dy_svg_series *s = calloc((size_t)nc, sizeof *s);
    char (*colors)[32] = calloc((size_t)nc, 32);
    double *buf = malloc(sizeof(double) * (size_t)n * 2);
    if (!s || !colors || !buf || !names) {
        free(x), free(names), free(s), free(colors), free(buf);
        figure_close(f, "out of memory");
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
        color_of(colors[c], 32, c, nc);
        s[c].color = colors[c];
        s[c].style = DY_SVG_POINTS;
        s[c].radius = n > 400 ? 2.2 : 3;
        s[c].label = nc <= 20 ? names[c] : NULL;
    }
    char xl[64], yl[64], title[96];
    double epoch = NAN;
    json_lite_get_number(t, "epoch", &epoch);
    if (!strcmp(which, "pca")) {
        double var[2] = {NAN, NAN}, total = NAN;
        json_lite_numbers(json_lite_find(t, "pca_var"), var, 2);
        json_lite_get_number(t, "pca_total_var", &total);
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
    json_lite_get_number(t, "tsne_perplexity", &perplexity);
    if (isfinite(epoch)) snprintf(when, sizeof when, " after epoch %g", epoch);
    if (!strcmp(which, "pca"))
        snprintf(cap, sizeof cap, "The encoder's features (L2-normalised) of the first %lld test images%s on their "
                 "two principal components, coloured by class.", (long long)n, when);
    else
        snprintf(cap, sizeof cap, "The same points placed by t-SNE (perplexity %g, computed in C): neighbours in the "
                 "feature space stay neighbours; distances between clusters mean little.", perplexity);
    figure_close(f, cap);
    free(x), free(names), free(s), free(colors), free(buf);
}

static void encoder_section(FILE *f, const dy_run_data *r) {
    fputs("<section id=\"encoder\"><h2>What the encoder learned</h2>\n<p class=\"lead\">From the encoder of the "
          "last kNN monitor (or the main job's final encoder): nearest neighbours of test images among the training "
          "images, and maps of the test embeddings coloured by class.</p>\n<div class=\"grid\">\n", f);
    retrieval_figure(f, r);
    map_figure(f, r, "fig-map-pca", "pca");
    map_figure(f, r, "fig-map-tsne", "tsne");
    fputs("</div>\n</section>\n", f);
}

static void config_section(FILE *f, const dy_run_data *r, const char *command) {
    fputs("<section id=\"config\"><h2>Configuration</h2>\n", f);
    figure_open(f, "fig-command", "wide");
    fputs("<pre>", f);
    esc(f, command ? command : "(the command is written by `dystress report`, which reads config.json)");
    fputs("</pre>\n", f);
    figure_close(f, "The command that reproduces this run (options that differ from the defaults; bit for bit with "
                    "the same thread count).");
    if (!r->config) {
        fputs("<p class=\"missing\">No config.json in the run directory.</p>\n</section>\n", f);
        return;
    }
    fputs("<h3 style=\"font-size:15px;margin:14px 0 6px\">Resolved configuration (config.json)</h3>\n"
          "<div class=\"cfg\">\n", f);
    const char *cur = r->config, *val;
    char key[128], sval[1024];
    while (json_lite_next(&cur, key, sizeof key, &val)) {
        fputs("<div><span class=\"k\">", f);
        esc(f, key);
        fputs("</span><span class=\"v\">", f);
        double d;
        if (json_lite_string(val, sval, sizeof sval)) esc(f, *sval ? sval : "\"\"");
        else if (!strncmp(val, "true", 4) || !strncmp(val, "false", 5)) fputs(*val == 't' ? "true" : "false", f);
        else if (json_lite_number(val, &d)) fprintf(f, "%.10g", d);
        fputs("</span></div>\n", f);
    }
    fputs("</div>\n</section>\n", f);
}

static dy_status finish(dy_ctx *ctx, dy_atomic_file *af, const char *path) {
    if (ferror(af->fp)) {
        dy_atomic_abort(af);
        return dy_fail(ctx, DY_ERR_IO, "cannot write %s", path);
    }
    return dy_atomic_commit(ctx, af);
}

dy_status dy_report_write(dy_ctx *ctx, const char *run_dir, const char *out_path, const dy_report_options *o) {
    dy_run_data *r = malloc(sizeof *r);
    if (!r) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for the report");
    dy_status st = dy_run_data_load(ctx, run_dir, r);
    if (st != DY_OK) {
        free(r);
        return st;
    }
    char path[4300];
    if (out_path) snprintf(path, sizeof path, "%s", out_path);
    else snprintf(path, sizeof path, "%s/report.html", run_dir);
    dy_atomic_file af;
    if ((st = dy_atomic_open(ctx, &af, path)) == DY_OK) {
        char title[300];
        snprintf(title, sizeof title, "dystress report: %s", r->name);
        page_open(af.fp, title);
        header(af.fp, r);
        training_section(af.fp, r);
        temperature_section(af.fp, r);
        representation_section(af.fp, r);
        encoder_section(af.fp, r);
        config_section(af.fp, r, o ? o->command : NULL);
        fputs("</main>\n", af.fp);
        page_close(af.fp);
        st = finish(ctx, &af, path);
    }
    dy_run_data_free(r);
    free(r);
    return st;
}

/* ---- the comparison page ----------------------------------------------------------------------------------- */

static void compare_curves(FILE *f, dy_run_data *runs, int n, const char *id, const char *title, const char *xlabel,
                           const char *ylabel, int which, double scale, const char *caption) {
    dy_svg_series s[2 * DY_REPORT_MAX_RUNS];
    double *m[2 * DY_REPORT_MAX_RUNS] = {0};
    char colors[DY_REPORT_MAX_RUNS][32];
    int ns = 0;
    for (int i = 0; i < n; i++) {
        dy_run_data *r = &runs[i];
        color_of(colors[i], 32, i, n);
        const dy_dvec *xs[] = {&r->step, &r->knn_epoch, &r->step, &r->repr_epoch, &r->repr_epoch, &r->step};
        const dy_dvec *ys[] = {&r->loss, &r->knn_top1, &r->frac_max, &r->alignment, &r->uniformity, &r->lr};
        s[ns] = curve(xs[which], ys[which], scale, r->name, colors[i], &m[ns]);
        s[ns].lo = s[ns].hi = NULL; /* bands of several runs would hide each other */
        ns++;
        if (which == 2) { /* the pairs near tau_min, dashed, beside those near tau_max */
            s[ns] = curve(&r->step, &r->frac_min, scale, NULL, colors[i], &m[ns]);
            s[ns].lo = s[ns].hi = NULL;
            s[ns].dashed = true;
            ns++;
        }
    }
    char pid[40];
    snprintf(pid, sizeof pid, "p-%s", id + 4);
    figure_open(f, id, NULL);
    dy_svg_plot p = dy_svg_plot_init(pid, title, xlabel, ylabel);
    p.x_integer = which == 1 || which == 3 || which == 4;
    if (which == 2) p.y0 = 0, p.y1 = 100;
    if (which == 1) {
        double lo = 100;
        for (int i = 0; i < n; i++)
            for (int64_t k = 0; k < runs[i].knn_top1.n; k++) lo = fmin(lo, 100 * runs[i].knn_top1.v[k]);
        p.y0 = fmax(0, floor((lo - 5) / 10) * 10);
        p.y1 = 100;
    }
    dy_svg_plot_write(f, &p, s, ns);
    for (int i = 0; i < ns; i++) free(m[i]);
    figure_close(f, caption);
}

static void compare_profiles(FILE *f, dy_run_data *runs, int n) {
    double ts[201], tv[DY_REPORT_MAX_RUNS][201];
    dy_svg_series s[DY_REPORT_MAX_RUNS];
    char colors[DY_REPORT_MAX_RUNS][32];
    int ns = 0;
    for (int i = 0; i <= 200; i++) ts[i] = -1 + i / 100.0;
    for (int k = 0; k < n; k++) {
        if (!runs[k].has_profile) continue;
        for (int i = 0; i <= 200; i++) tv[k][i] = dy_tau_eval(&runs[k].profile, ts[i]);
        color_of(colors[k], 32, k, n);
        s[ns++] = (dy_svg_series){.label = runs[k].name, .color = colors[k], .style = DY_SVG_LINE, .x = ts,
                                  .y = tv[k], .n = 201, .dashed = k % 2 == 1};
    }
    figure_open(f, "fig-profiles", NULL);
    dy_svg_plot p = dy_svg_plot_init("p-profiles", "Temperature profiles", "cosine similarity s",
                                     "temperature \xcf\x84(s)");
    p.y0 = 0;
    dy_svg_plot_write(f, &p, s, ns);
    figure_close(f, "Each run's &tau;(s) from its config.json (runs with the same profile draw on top of each other; "
                    "every other run dashed).");
}

dy_status dy_report_compare(dy_ctx *ctx, const char *const *run_dirs, int n, const char *out_path,
                            const char *const *commands) {
    if (n < 1 || n > DY_REPORT_MAX_RUNS)
        return dy_fail(ctx, DY_ERR_INVALID, "compare: %d runs, expected 1 .. %d", n, DY_REPORT_MAX_RUNS);
    dy_run_data *runs = calloc((size_t)n, sizeof *runs);
    if (!runs) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for the report");
    dy_status st = DY_OK;
    int loaded = 0;
    for (; loaded < n && st == DY_OK; loaded++) st = dy_run_data_load(ctx, run_dirs[loaded], &runs[loaded]);
    if (st != DY_OK) loaded--;
    /* runs with the same folder name (seed1 under two parents) get their full path as the name */
    for (int i = 0; i < loaded && st == DY_OK; i++)
        for (int j = 0; j < loaded; j++)
            if (i != j && !strcmp(runs[i].name, runs[j].name)) {
                snprintf(runs[i].name, sizeof runs[i].name, "%.255s", runs[i].dir);
                break;
            }
    dy_atomic_file af;
    if (st == DY_OK) st = dy_atomic_open(ctx, &af, out_path);
    if (st == DY_OK) {
        FILE *f = af.fp;
        page_open(f, "dystress: comparison of runs");
        fprintf(f, "<header><h1>dystress &middot; %d runs compared</h1><p>", n);
        for (int i = 0; i < n; i++) {
            char c[32];
            color_of(c, sizeof c, i, n);
            fprintf(f, "%s<span style=\"color:%s\">&#x25A0;</span> ", i ? " &middot; " : "", c);
            esc(f, runs[i].dir);
        }
        fputs("</p></header>\n<main>\n<section id=\"summary\"><h2>Final accuracies</h2>\n", f);
        figure_open(f, "fig-summary", "wide");
        fputs("<table><tr><th>run</th><th>profile</th><th>epochs</th><th>loss (last 5 %)</th><th>kNN top-1</th>"
              "<th>kNN top-5</th><th>best kNN top-1</th><th>alignment</th><th>uniformity</th><th>near &tau; max "
              "(last 10 %)</th></tr>\n", f);
        for (int i = 0; i < n; i++) {
            dy_run_data *r = &runs[i];
            char prof[160];
            profile_text(r, prof, sizeof prof);
            double best = NAN;
            for (int64_t k = 0; k < r->knn_top1.n; k++)
                if (!(r->knn_top1.v[k] <= best)) best = r->knn_top1.v[k];
            fputs("<tr><td>", f);
            esc(f, r->name);
            fprintf(f, "</td><td>%s</td><td class=\"n\">%g / %lld</td>", prof, last_of(&r->epoch), (long long)r->epochs);
            double v[7] = {tail_mean(&r->loss, 0.05), 100 * last_of(&r->knn_top1), 100 * last_of(&r->knn_top5),
                           100 * best, last_of(&r->alignment), last_of(&r->uniformity), 100 * tail_mean(&r->frac_max, 0.1)};
            const char *fmt[7] = {"%.4f", "%.2f %%", "%.2f %%", "%.2f %%", "%.3f", "%.3f", "%.0f %%"};
            for (int k = 0; k < 7; k++) {
                fputs("<td class=\"n\">", f);
                if (isfinite(v[k])) fprintf(f, fmt[k], v[k]);
                else fputs("&ndash;", f);
                fputs("</td>", f);
            }
            fputs("</tr>\n", f);
        }
        fputs("</table>\n", f);
        int total = 0;
        for (int i = 0; i < n; i++) total += runs[i].n_eval;
        if (total) {
            dy_eval_row *rows = malloc(sizeof *rows * (size_t)total);
            const char **names = malloc(sizeof *names * (size_t)total);
            int k = 0;
            for (int i = 0; rows && names && i < n; i++)
                for (int j = 0; j < runs[i].n_eval; j++) rows[k] = runs[i].eval[j], names[k++] = runs[i].name;
            if (rows && names) {
                fputs("<h3 style=\"font-size:15px;margin:14px 0 6px\">Final evaluation rows</h3>\n", f);
                eval_table(f, rows, total, names);
            }
            free(rows);
            free(names);
        }
        figure_close(f, "kNN columns: the runs' kNN monitors on the test split; final evaluation rows from each run "
                        "directory's results.jsonl and eval*.json files.");
        fputs("</section>\n<section id=\"curves\"><h2>Curves on the same axes</h2>\n<div class=\"grid\">\n", f);
        compare_curves(f, runs, n, "fig-loss", "Loss", "optimizer step", "loss (nats)", 0, 1,
                       "Bucket means of the loss per step.");
        compare_curves(f, runs, n, "fig-knn", "kNN monitor top-1", "epoch", "test accuracy (%)", 1, 100,
                       "Weighted kNN top-1 on the test split at each monitor.");
        compare_profiles(f, runs, n);
        compare_curves(f, runs, n, "fig-extremes", "Pairs at the ends of the profile", "optimizer step",
                       "fraction of all pairs (%)", 2, 100, "Solid: pairs within 1 % of &tau;<sub>max</sub>; dashed: "
                       "within 1 % of &tau;<sub>min</sub> (a constant profile is at both, 100 %).");
        compare_curves(f, runs, n, "fig-alignment", "Alignment", "epoch", "alignment (squared distance)", 3, 1,
                       "Alignment of a fixed held-out batch at each epoch end (lower: positives closer).");
        compare_curves(f, runs, n, "fig-uniformity", "Uniformity", "epoch", "uniformity", 4, 1,
                       "Uniformity of the same batch (lower: more spread).");
        compare_curves(f, runs, n, "fig-lr", "Learning rate", "optimizer step", "learning rate", 5, 1,
                       "The schedules.");
        fputs("</div>\n</section>\n<section id=\"config\"><h2>Commands</h2>\n", f);
        figure_open(f, "fig-command", "wide");
        fputs("<pre>", f);
        for (int i = 0; i < n; i++) {
            fputs("# ", f);
            esc(f, runs[i].name);
            fputs("\n", f);
            esc(f, commands && commands[i] ? commands[i] : "(unknown)");
            fputs(i + 1 < n ? "\n\n" : "", f);
        }
        fputs("</pre>\n", f);
        figure_close(f, "Commands that reproduce each run.");
        fputs("</section>\n</main>\n", f);
        page_close(f);
        st = finish(ctx, &af, out_path);
    }
    for (int i = 0; i < loaded; i++) dy_run_data_free(&runs[i]);
    free(runs);
    return st;
}
