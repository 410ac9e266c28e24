/* The comparison page (see report.h): several runs on the same axes, their final accuracies in one table. */
#include "report/report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "report/html.h"

/* The curves the comparison overlays. */
typedef enum { CMP_LOSS, CMP_KNN, CMP_EXTREMES, CMP_ALIGNMENT, CMP_UNIFORMITY, CMP_LR } compared;

static void compare_curves(FILE *f, dy_run_data *runs, int n, const char *id, const char *title, const char *xlabel,
                           const char *ylabel, compared which, double scale, const char *caption) {
    dy_svg_series s[2 * DY_REPORT_MAX_RUNS];
    double *m[2 * DY_REPORT_MAX_RUNS] = {0};
    char colors[DY_REPORT_MAX_RUNS][32];
    int ns = 0;
    for (int i = 0; i < n; i++) {
        dy_run_data *r = &runs[i];
        dy_html_color(colors[i], 32, i, n);
        const dy_dvec *xs[] = {&r->step, &r->knn_epoch, &r->step, &r->repr_epoch, &r->repr_epoch, &r->step};
        const dy_dvec *ys[] = {&r->loss, &r->knn_top1, &r->frac_max, &r->alignment, &r->uniformity, &r->lr};
        s[ns] = dy_html_curve(xs[which], ys[which], scale, r->name, colors[i], &m[ns]);
        s[ns].lo = s[ns].hi = NULL; /* bands of several runs would hide each other */
        ns++;
        if (which == CMP_EXTREMES) { /* the pairs near tau_min, dashed, beside those near tau_max */
            s[ns] = dy_html_curve(&r->step, &r->frac_min, scale, NULL, colors[i], &m[ns]);
            s[ns].lo = s[ns].hi = NULL;
            s[ns].dashed = true;
            ns++;
        }
    }
    char pid[40];
    snprintf(pid, sizeof pid, "p-%s", id + 4);
    dy_html_figure_open(f, id, NULL);
    dy_svg_plot p = dy_svg_plot_init(pid, title, xlabel, ylabel);
    p.x_integer = which == CMP_KNN || which == CMP_ALIGNMENT || which == CMP_UNIFORMITY;
    if (which == CMP_EXTREMES) p.y0 = 0, p.y1 = 100;
    if (which == CMP_KNN) {
        double lo = 100;
        for (int i = 0; i < n; i++)
            for (int64_t k = 0; k < runs[i].knn_top1.n; k++) lo = fmin(lo, 100 * runs[i].knn_top1.v[k]);
        p.y0 = fmax(0, floor((lo - 5) / 10) * 10);
        p.y1 = 100;
    }
    dy_svg_plot_write(f, &p, s, ns);
    for (int i = 0; i < ns; i++) free(m[i]);
    dy_html_figure_close(f, caption);
}

static void compare_profiles(FILE *f, dy_run_data *runs, int n) {
    double ts[201], tv[DY_REPORT_MAX_RUNS][201];
    dy_svg_series s[DY_REPORT_MAX_RUNS];
    char colors[DY_REPORT_MAX_RUNS][32];
    int ns = 0;
    for (int i = 0; i <= 200; i++) ts[i] = -1 + i / 100.0;
    for (int k = 0; k < n; k++) {
        if (!runs[k].has_profile) continue;
        dy_tau_profile prof = dy_run_profile_at(&runs[k], INFINITY); /* an adaptive run's, where it ended */
        for (int i = 0; i <= 200; i++) tv[k][i] = dy_tau_eval(&prof, ts[i]);
        dy_html_color(colors[k], 32, k, n);
        s[ns++] = (dy_svg_series){.label = runs[k].name, .color = colors[k], .style = DY_SVG_LINE, .x = ts,
                                  .y = tv[k], .n = 201, .dashed = k % 2 == 1};
    }
    dy_html_figure_open(f, "fig-profiles", NULL);
    dy_svg_plot p = dy_svg_plot_init("p-profiles", "Temperature profiles", "cosine similarity s",
                                     "temperature \xcf\x84(s)");
    p.y0 = 0;
    dy_svg_plot_write(f, &p, s, ns);
    dy_html_figure_close(
        f, "Each run's &tau;(s) from its config.json, an adaptive run's with its bounds at the end of training "
           "(runs with the same profile draw on top of each other; every other run dashed).");
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
        dy_html_page_open(f, "dystress: comparison of runs");
        fprintf(f, "<header><h1>dystress &middot; %d runs compared</h1><p>", n);
        for (int i = 0; i < n; i++) {
            char c[32];
            dy_html_color(c, sizeof c, i, n);
            fprintf(f, "%s<span style=\"color:%s\">&#x25A0;</span> ", i ? " &middot; " : "", c);
            dy_html_escape(f, runs[i].dir);
        }
        fputs("</p></header>\n<main>\n<section id=\"summary\"><h2>Final accuracies</h2>\n", f);
        dy_html_figure_open(f, "fig-summary", "wide");
        fputs("<table><tr><th>run</th><th>profile</th><th>epochs</th><th>loss (last 5 %)</th><th>kNN top-1</th>"
              "<th>kNN top-5</th><th>best kNN top-1</th><th>alignment</th><th>uniformity</th><th>near &tau; max "
              "(last 10 %)</th></tr>\n", f);
        for (int i = 0; i < n; i++) {
            dy_run_data *r = &runs[i];
            char prof[160];
            dy_html_profile_text(r, prof, sizeof prof);
            double best = NAN;
            for (int64_t k = 0; k < r->knn_top1.n; k++)
                if (!(r->knn_top1.v[k] <= best)) best = r->knn_top1.v[k];
            fputs("<tr><td>", f);
            dy_html_escape(f, r->name);
            fprintf(f, "</td><td>%s</td><td class=\"n\">%g / %lld</td>", prof, dy_dvec_last(&r->epoch),
                    (long long)r->epochs);
            double v[7] = {dy_dvec_tail_mean(&r->loss, 0.05),
                           100 * dy_dvec_last(&r->knn_top1),
                           100 * dy_dvec_last(&r->knn_top5),
                           100 * best,
                           dy_dvec_last(&r->alignment),
                           dy_dvec_last(&r->uniformity),
                           100 * dy_dvec_tail_mean(&r->frac_max, 0.1)};
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
                dy_html_eval_table(f, rows, total, names);
            }
            free(rows);
            free(names);
        }
        dy_html_figure_close(
            f, "kNN columns: the runs' kNN monitors on the test split; final evaluation rows from each run "
               "directory's results.jsonl and eval*.json files.");
        fputs("</section>\n<section id=\"curves\"><h2>Curves on the same axes</h2>\n<div class=\"grid\">\n", f);
        compare_curves(f, runs, n, "fig-loss", "Loss", "optimizer step", "loss (nats)", CMP_LOSS, 1,
                       "Bucket means of the loss per step.");
        compare_curves(f, runs, n, "fig-knn", "kNN monitor top-1", "epoch", "test accuracy (%)", CMP_KNN, 100,
                       "Weighted kNN top-1 on the test split at each monitor.");
        compare_profiles(f, runs, n);
        compare_curves(f, runs, n, "fig-extremes", "Pairs at the ends of the profile", "optimizer step",
                       "fraction of all pairs (%)", CMP_EXTREMES, 100,
                       "Solid: pairs within 1 % of &tau;<sub>max</sub>; dashed: "
                       "within 1 % of &tau;<sub>min</sub> (a constant profile is at both, 100 %).");
        compare_curves(f, runs, n, "fig-alignment", "Alignment", "epoch", "alignment (squared distance)", CMP_ALIGNMENT,
                       1, "Alignment of a fixed held-out batch at each epoch end (lower: positives closer).");
        compare_curves(f, runs, n, "fig-uniformity", "Uniformity", "epoch", "uniformity", CMP_UNIFORMITY, 1,
                       "Uniformity of the same batch (lower: more spread).");
        compare_curves(f, runs, n, "fig-lr", "Learning rate", "optimizer step", "learning rate", CMP_LR, 1,
                       "The schedules.");
        fputs("</div>\n</section>\n<section id=\"config\"><h2>Commands</h2>\n", f);
        dy_html_figure_open(f, "fig-command", "wide");
        fputs("<pre>", f);
        for (int i = 0; i < n; i++) {
            fputs("# ", f);
            dy_html_escape(f, runs[i].name);
            fputs("\n", f);
            dy_html_escape(f, commands && commands[i] ? commands[i] : "(unknown)");
            fputs(i + 1 < n ? "\n\n" : "", f);
        }
        fputs("</pre>\n", f);
        dy_html_figure_close(f, "Commands that reproduce each run.");
        fputs("</section>\n</main>\n", f);
        dy_html_page_close(f);
        st = dy_html_finish(ctx, &af, out_path);
    }
    for (int i = 0; i < loaded; i++) dy_run_data_free(&runs[i]);
    free(runs);
    return st;
}
