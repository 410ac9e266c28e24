/* The run report as one self-contained HTML page (see report.h): the page's sections, each figure an inline SVG
 * drawn by svg.c inside <figure id="fig-..."> (the browser test finds them by these ids). */
#include "report/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "data/dataset.h"
#include "report/encoder_figures.h"
#include "report/html.h"

#define TEMP_PANELS 4       /* histogram snapshots drawn under the profile */
#define EXTREME_WARN 0.5    /* warn when more than this fraction of pairs sits at one end of the profile */

/* ---- sections of the single-run page ---------------------------------------------------------------------- */

static void cfg_string(const dy_run_data *r, const char *key, char *buf, size_t size, const char *dflt) {
    const char *s = dy_json_get_string(dy_json_root(r->config), key);
    snprintf(buf, size, "%s", s ? s : dflt);
}

static double cfg_number(const dy_run_data *r, const char *key) {
    double v;
    return dy_json_get_number(dy_json_root(r->config), key, &v) ? v : NAN;
}

/* The last kNN monitor's accuracy per class with each class's training images, and, when the training set is
 * long-tailed, the head / middle / tail thirds of the classes by training images and the head-tail gap
 * (dy_eval_thirds_accuracy). Rows for up to 100 classes; more are summarised by the groups alone. */
static void knn_per_class(FILE *f, const dy_run_data *r) {
    int64_t nc = r->knn_classes;
    if (nc < 1) return;
    char (*names)[48] = calloc(256, 48);
    int64_t named = names ? dy_json_strings(dy_json_member(dy_json_root(r->retrieval), "class_names"), &names[0][0],
                                            48, 256) : -1;
    if (named == nc) dy_report_class_names(r, names, nc);
    dy_eval_accuracy acc = {.classes = nc};
    acc.class_samples = calloc((size_t)nc, sizeof(int64_t));
    acc.class_top1 = calloc((size_t)nc, sizeof(double));
    int64_t *counts = calloc((size_t)nc, sizeof(int64_t));
    bool tailed = false;
    dy_thirds_accuracy th = {.gap = NAN};
    if (acc.class_samples && acc.class_top1 && counts) {
        for (int64_t c = 0; c < nc; c++) {
            acc.class_samples[c] = isfinite(r->knn_class_top1[c]); /* the thirds rank classes with test images */
            acc.class_top1[c] = r->knn_class_top1[c];
            counts[c] = (int64_t)r->knn_class_train[c];
            tailed |= counts[c] != counts[0];
        }
        if (!tailed || dy_eval_thirds_accuracy(NULL, &acc, counts, &th) != DY_OK) tailed = false;
    }
    fprintf(f, "<h3 style=\"font-size:15px;margin:16px 0 6px\">kNN per class (monitor of epoch %.0f)</h3>\n",
            r->knn_class_epoch);
    dy_html_figure_open(f, "fig-knn-class", "wide");
    if (tailed) {
        fputs("<p>Long-tailed training set: ", f);
        const char *g[3] = {"head", "middle", "tail"};
        double v[3] = {th.head, th.middle, th.tail};
        int64_t k[3] = {th.head_classes, th.middle_classes, th.tail_classes};
        for (int i = 0; i < 3; i++) {
            if (isfinite(v[i])) fprintf(f, "%s%s %.2f %% (%lld classes)", i ? ", " : "", g[i], 100 * v[i],
                                        (long long)k[i]);
            else fprintf(f, "%s%s &ndash;", i ? ", " : "", g[i]);
        }
        if (isfinite(th.gap)) fprintf(f, "; <b>head-tail gap %.2f points</b>", 100 * th.gap);
        fputs(".</p>\n", f);
    }
    if (nc <= 100) {
        fputs("<table><tr><th>class</th><th>name</th><th>training images</th><th>kNN top-1</th></tr>\n", f);
        for (int64_t c = 0; c < nc; c++) {
            fprintf(f, "<tr><td class=\"n\">%lld</td><td>", (long long)c);
            if (named == nc) dy_html_escape(f, names[c]);
            fprintf(f, "</td><td class=\"n\">%lld</td>", (long long)r->knn_class_train[c]);
            if (isfinite(r->knn_class_top1[c]))
                fprintf(f, "<td class=\"n\">%.2f %% <span style=\"display:inline-block;height:8px;width:%.0fpx;"
                        "background:%s\"></span></td></tr>\n", 100 * r->knn_class_top1[c],
                        100 * r->knn_class_top1[c], dy_html_palette[0]);
            else fputs("<td class=\"n\">&ndash;</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    dy_html_figure_close(f, tailed ? "Top-1 of each class at the last kNN monitor, with the training images of each "
                                     "class. Head, middle and tail are thirds of the classes ranked by training "
                                     "images (10 classes: 4, 3, 3); the gap is head minus tail."
                                   : "Top-1 of each class at the last kNN monitor, with the training images of each "
                                     "class.");
    free(acc.class_samples);
    free(acc.class_top1);
    free(counts);
    free(names);
}

static void header(FILE *f, const dy_run_data *r) {
    char data[64], framework[32], prof[160];
    cfg_string(r, "data", data, sizeof data, "?");
    cfg_string(r, "framework", framework, sizeof framework, "?");
    dy_html_profile_text(r, prof, sizeof prof);
    fputs("<header><h1>dystress run report &middot; ", f);
    dy_html_escape(f, r->name);
    fputs("</h1><p>", f);
    dy_html_escape(f, r->dir);
    fprintf(f, " &middot; %s &middot; ResNet-%g width %g &middot; %s &middot; %s &middot; batch %g</p>", data,
            cfg_number(r, "depth"), cfg_number(r, "width"), framework, prof, cfg_number(r, "batch-size"));
    if (r->step.n)
        fprintf(f, "<p>epoch %g of %lld, step %g &middot; refreshed at each epoch end while training: reload the "
                "page</p>", dy_dvec_last(&r->epoch), (long long)r->epochs, dy_dvec_last(&r->step));
    else
        fputs("<p>no training step logged yet</p>", f);
    if (*r->skipped) {
        fputs("<p class=\"missing\">Skipped while reading the run: ", f);
        dy_html_escape(f, r->skipped);
        fputs("</p>", f);
    }
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
    card(f, "%.4f", dy_dvec_tail_mean(&r->loss, 0.05), "loss (mean of the last 5 % of steps)");
    card(f, "%.2f %%", 100 * dy_dvec_last(&r->knn_top1), "kNN top-1 (last monitor, test split)");
    card(f, "%.2f %%", 100 * dy_dvec_last(&r->knn_top5), "kNN top-5 (last monitor)");
    card(f, "%.3f", dy_dvec_last(&r->alignment), "alignment (lower: positives closer)");
    card(f, "%.3f", dy_dvec_last(&r->uniformity), "uniformity (lower: more spread)");
    card(f, "%.0f", dy_dvec_median(&r->ips), "images/s through the encoder (median)");
    fputs("</div>\n", f);
}

static void training_section(FILE *f, const dy_run_data *r) {
    fputs("<section id=\"training\"><h2>Training</h2>\n", f);
    cards(f, r);
    fputs("<div class=\"grid\">\n", f);
    double *m[3] = {0};
    dy_svg_series s[3];

    dy_html_figure_open(f, "fig-loss", NULL);
    dy_svg_plot p = dy_svg_plot_init("p-loss", "Loss", "optimizer step", "loss (nats)");
    s[0] = dy_html_curve(&r->step, &r->loss, 1, "loss", dy_html_palette[0], &m[0]);
    dy_svg_plot_write(f, &p, s, 1);
    free(m[0]);
    dy_html_figure_close(
        f, "Contrastive loss per step. Long runs are drawn in buckets of consecutive steps: the line is the "
           "bucket's mean, the shaded band its minimum and maximum.");

    dy_html_figure_open(f, "fig-lr", NULL);
    p = dy_svg_plot_init("p-lr", "Learning rate", "optimizer step", "learning rate");
    s[0] = dy_html_curve(&r->step, &r->lr, 1, "learning rate", dy_html_palette[1], &m[0]);
    dy_svg_plot_write(f, &p, s, 1);
    free(m[0]);
    dy_html_figure_close(f, "The schedule's learning rate at each step (warm-up, cosine or step decay).");

    dy_html_figure_open(f, "fig-throughput", NULL);
    p = dy_svg_plot_init("p-ips", "Throughput", "optimizer step", "images/s (two views each)");
    p.y0 = 0;
    s[0] = dy_html_curve(&r->step, &r->ips, 1, "images/s", dy_html_palette[3], &m[0]);
    dy_svg_plot_write(f, &p, s, 1);
    free(m[0]);
    dy_html_figure_close(f,
                         "Images per second through the encoder (each image counted once per view), measured per step "
                         "including data waits; drops mark steps that waited on the loader or on a monitor.");

    dy_html_figure_open(f, "fig-knn", NULL);
    p = dy_svg_plot_init("p-knn", "kNN monitor", "epoch", "test accuracy (%)");
    p.x_integer = true;
    dy_html_accuracy_axis(&p, &r->knn_top1);
    s[0] = dy_html_curve(&r->knn_epoch, &r->knn_top1, 100, "top-1", dy_html_palette[0], &m[0]);
    s[1] = dy_html_curve(&r->knn_epoch, &r->knn_top5, 100, "top-5", dy_html_palette[1], &m[1]);
    s[1].dashed = true;
    dy_svg_plot_write(f, &p, s, 2);
    free(m[0]), free(m[1]);
    dy_html_figure_close(f, r->knn_epoch.n
                                ? "Weighted kNN accuracy of the encoder's features on the test split, at each "
                                  "monitor (--knn-every). Chosen on test data: a monitor, not a model selection."
                                : "No kNN monitor in this run (--knn-every -1, or no labelled test split).");
    fputs("</div>\n", f);
    knn_per_class(f, r);
    fputs("<h3 style=\"font-size:15px;margin:16px 0 6px\">Final evaluation</h3>\n", f);
    dy_html_figure_open(f, "fig-eval", "wide");
    if (r->n_eval) {
        dy_html_eval_table(f, r->eval, r->n_eval, NULL);
        dy_html_figure_close(
            f, "Rows from the main job's results.jsonl and from <code>dystress eval ... --json</code> files "
               "named eval*.json in the run directory.");
    } else {
        fputs("<p class=\"missing\">No final evaluation in this run directory yet. Add one with <code>dystress eval "
              "knn --checkpoint RUN/checkpoint-final.safetensors --json RUN/eval-knn.json</code> (and <code>eval "
              "linear ... --json RUN/eval-linear.json</code>), then <code>dystress report RUN</code>.</p>\n", f);
        dy_html_figure_close(f, NULL);
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
    dy_tau_profile prof = dy_run_profile_at(r, r->hist_step[h]); /* an adaptive run's bounds at that step */
    for (int i = 0; i <= 200; i++) {
        ts[i] = -1 + i / 100.0;
        tv[i] = r->has_profile ? dy_tau_eval(&prof, ts[i]) : NAN;
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
    if (r->has_profile) p.y21 = prof.tau_max * 1.25;
    dy_svg_series s[3] = {
        {.label = "negatives",
         .color = dy_html_palette[0],
         .style = DY_SVG_BARS,
         .x = x,
         .y = neg,
         .n = B,
         .bar_width = w},
        {.label = "positives",
         .color = dy_html_palette[1],
         .style = DY_SVG_BARS,
         .x = x,
         .y = pos,
         .n = B,
         .bar_width = w},
        {.label = "\xcf\x84(s)", .color = "#b91c1c", .style = DY_SVG_LINE, .x = ts, .y = tv, .n = 201, .right = true},
    };
    return dy_svg_plot_write(f, &p, s, r->has_profile ? 3 : 2);
}

static void temperature_section(FILE *f, const dy_run_data *r) {
    fputs(
        "<section id=\"temperature\"><h2>The temperature at work</h2>\n<p class=\"lead\">DySTreSS gives every pair "
        "of embeddings its own temperature &tau;(s), a function of the pair's cosine similarity s. Below, the profile "
        "(red, right axis) over the distributions of positive and negative similarities the loss saw at a few points "
        "of training: where the negatives sit decides which part of the profile is at work.</p>\n",
        f);
    bool constant = r->has_profile && r->profile.kind == DY_TAU_CONSTANT;
    double fmax_end = dy_dvec_tail_mean(&r->frac_max, 0.1), fmin_end = dy_dvec_tail_mean(&r->frac_min, 0.1);
    dy_tau_profile end = dy_run_profile_at(r, INFINITY);
    if (r->has_profile && dy_run_adaptive(r) && r->tau_schedule[0]) {
        fprintf(f, "<div class=\"note\">This run's temperature followed a schedule (<code>--tau-schedule %s</code>): "
                "from &tau; %g&ndash;%g at the start to %.3g&ndash;%.3g at the end (each panel draws the profile with "
                "the levels of its step).</div>\n", r->tau_schedule, r->profile.tau_min, r->profile.tau_max,
                end.tau_min, end.tau_max);
    } else if (r->has_profile && dy_run_adaptive(r)) {
        fprintf(f, "<div class=\"note\">This run's profile adapted during training (<code>--tau-adapt</code>): its "
                "bounds went from &tau; %g&ndash;%g at the start to %.3g&ndash;%.3g at the end (see the extreme "
                "fractions below; each panel draws the profile with the bounds of its step).%s</div>\n",
                r->profile.tau_min, r->profile.tau_max, end.tau_min, end.tau_max,
                end.tau_min >= 0.85f * end.tau_max ? " The bounds ended within 15 % of each other: every pair gets "
                "nearly the same temperature, so in effect this is a constant temperature annealed during training."
                : "");
    }
    if (constant) {
        fprintf(f, "<div class=\"note\">This run uses a constant temperature (&tau; = %g%s): every pair gets the "
                "same temperature, so the fractions below are 100 %% by definition.</div>\n", r->profile.tau_max,
                r->tau_schedule[0] ? " at the start" : "");
    } else if (r->has_profile && isfinite(fmax_end) && fmax_end > EXTREME_WARN) {
        fprintf(f, "<div class=\"warn\"><b>Most pairs sit at &tau;<sub>max</sub>.</b> Over the last 10 %% of the "
                "steps, %.0f %% of all pairs (nearly all of them negatives) had a temperature within 1 %% of "
                "&tau;<sub>max</sub> = %g. The profile then acts as a constant temperature %g: the dynamic part of "
                "the loss does little. A profile whose low-temperature region covers where the negatives are (e.g. "
                "a shifted profile) would make it matter.</div>\n", 100 * fmax_end, end.tau_max, end.tau_max);
    } else if (r->has_profile && isfinite(fmin_end) && fmin_end > EXTREME_WARN) {
        fprintf(f, "<div class=\"warn\"><b>Most pairs sit at &tau;<sub>min</sub>.</b> Over the last 10 %% of the "
                "steps, %.0f %% of all pairs (nearly all of them negatives) had a temperature within 1 %% of "
                "&tau;<sub>min</sub> = %g. The profile then acts as a constant temperature %g.</div>\n",
                100 * fmin_end, end.tau_min, end.tau_min);
    }
    fputs("<div class=\"grid\">\n", f);
    dy_html_figure_open(f, "fig-temperature", "wide");
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
    dy_html_figure_close(
        f, "Densities of the cosine similarities of positive pairs (the two views of an image) and negative "
           "pairs in the loss's batches (40 bins over [-1, 1], each distribution with area 1), with the "
           "temperature profile &tau;(s) on the right axis.");

    double *m[3] = {0};
    dy_html_figure_open(f, "fig-extremes", NULL);
    dy_svg_plot p = dy_svg_plot_init("p-extremes", "Pairs at the ends of the profile", "optimizer step",
                                     "fraction of all pairs (%)");
    p.y0 = 0;
    p.y1 = 100;
    dy_svg_series s[3];
    s[0] = dy_html_curve(&r->step, &r->frac_max, 100, "near \xcf\x84 max", "#b91c1c", &m[0]);
    s[1] = dy_html_curve(&r->step, &r->frac_min, 100, "near \xcf\x84 min", dy_html_palette[0], &m[1]);
    dy_svg_plot_write(f, &p, s, 2);
    free(m[0]), free(m[1]);
    dy_html_figure_close(f, "Fractions of all pairs (positives and negatives) whose temperature is within 1 % of "
                    "&tau;<sub>max</sub> (&ge; 0.99 &tau;<sub>max</sub>) or of &tau;<sub>min</sub> "
                    "(&le; 1.01 &tau;<sub>min</sub>), per step.");

    dy_html_figure_open(f, "fig-similarity", NULL);
    p = dy_svg_plot_init("p-sim", "Similarities in the batch", "optimizer step", "cosine similarity");
    s[0] = dy_html_curve(&r->step, &r->pos_sim, 1, "positives (mean)", dy_html_palette[1], &m[0]);
    s[1] = dy_html_curve(&r->step, &r->neg_sim, 1, "negatives (mean)", dy_html_palette[0], &m[1]);
    s[2] = dy_html_curve(&r->step, &r->neg_sim_max, 1, "hardest negative", dy_html_palette[2], &m[2]);
    s[2].dashed = true;
    dy_svg_plot_write(f, &p, s, 3);
    free(m[0]), free(m[1]), free(m[2]);
    dy_html_figure_close(
        f, "Mean similarity of positive and negative pairs, and the most similar negative of each batch.");
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
    dy_html_figure_open(f, "fig-alignment", NULL);
    dy_svg_plot p = dy_svg_plot_init("p-align", "Alignment", "epoch", "alignment (squared distance)");
    p.x_integer = true;
    s = dy_html_curve(&r->repr_epoch, &r->alignment, 1, "alignment", dy_html_palette[4], &m);
    dy_svg_plot_write(f, &p, &s, 1);
    free(m);
    dy_html_figure_close(f,
                         "Mean squared distance between the unit projections of the two views of each held-out image.");
    dy_html_figure_open(f, "fig-uniformity", NULL);
    p = dy_svg_plot_init("p-unif", "Uniformity", "epoch", "uniformity (log mean Gaussian potential)");
    p.x_integer = true;
    s = dy_html_curve(&r->repr_epoch, &r->uniformity, 1, "uniformity", dy_html_palette[6], &m);
    dy_svg_plot_write(f, &p, &s, 1);
    free(m);
    dy_html_figure_close(f, "Log of the mean Gaussian potential exp(-2 d&sup2;) over pairs of held-out projections.");
    fputs("</div>\n</section>\n", f);
}

static void config_section(FILE *f, const dy_run_data *r, const char *command) {
    fputs("<section id=\"config\"><h2>Configuration</h2>\n", f);
    dy_html_figure_open(f, "fig-command", "wide");
    fputs("<pre>", f);
    dy_html_escape(f, command ? command : "(the command is written by `dystress report`, which reads config.json)");
    fputs("</pre>\n", f);
    dy_html_figure_close(
        f, "The command that reproduces this run (options that differ from the defaults; bit for bit with "
           "the same thread count).");
    const dy_json *cfg = dy_json_root(r->config);
    if (!cfg) {
        fputs("<p class=\"missing\">No config.json in the run directory.</p>\n</section>\n", f);
        return;
    }
    fputs("<h3 style=\"font-size:15px;margin:14px 0 6px\">Resolved configuration (config.json)</h3>\n"
          "<div class=\"cfg\">\n", f);
    for (size_t i = 0; cfg->type == DY_JSON_OBJECT && i < cfg->count; i++) {
        const dy_json *v = &cfg->items[i];
        fputs("<div><span class=\"k\">", f);
        dy_html_escape(f, v->key);
        fputs("</span><span class=\"v\">", f);
        if (v->type == DY_JSON_STRING) dy_html_escape(f, *v->text ? v->text : "\"\"");
        else if (v->type == DY_JSON_BOOL) fputs(v->boolean ? "true" : "false", f);
        else if (v->type == DY_JSON_NUMBER) fprintf(f, "%.10g", v->number);
        fputs("</span></div>\n", f);
    }
    fputs("</div>\n</section>\n", f);
}

dy_status dy_report_write(dy_ctx *ctx, const char *run_dir, const char *out_path, const dy_report_options *o) {
    dy_run_data *r = malloc(sizeof *r);
    if (!r) return dy_fail(ctx, DY_ERR_NOMEM, "out of memory for the report");
    dy_status st = dy_run_data_load(ctx, run_dir, r);
    if (st != DY_OK) {
        free(r);
        return st;
    }
    if (o && o->skipped && o->skipped_size) snprintf(o->skipped, o->skipped_size, "%s", r->skipped);
    char path[4300];
    if (out_path) snprintf(path, sizeof path, "%s", out_path);
    else snprintf(path, sizeof path, "%s/report.html", run_dir);
    dy_atomic_file af;
    if ((st = dy_atomic_open(ctx, &af, path)) == DY_OK) {
        char title[300];
        snprintf(title, sizeof title, "dystress report: %s", r->name);
        dy_html_page_open(af.fp, title);
        header(af.fp, r);
        training_section(af.fp, r);
        temperature_section(af.fp, r);
        representation_section(af.fp, r);
        dy_report_encoder_section(af.fp, r);
        config_section(af.fp, r, o ? o->command : NULL);
        fputs("</main>\n", af.fp);
        dy_html_page_close(af.fp);
        st = dy_html_finish(ctx, &af, path);
    }
    dy_run_data_free(r);
    free(r);
    return st;
}
