/* The report's page furniture (see html.h). */
#include "report/html.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/context.h"

const char *const dy_html_palette[10] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                         "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#7f7f7f"};

/* Colour of class or run i of n: the ten-colour palette, evenly spaced hues beyond ten. */
void dy_html_color(char *buf, size_t size, int i, int n) {
    if (n <= 10) snprintf(buf, size, "%s", dy_html_palette[i % 10]);
    else snprintf(buf, size, "hsl(%d, 62%%, %d%%)", (int)(360.0 * i / n), i % 2 ? 38 : 52);
}

void dy_html_escape(FILE *f, const char *s) { dy_svg_escape(f, s); }

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

void dy_html_page_open(FILE *f, const char *title) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>", f);
    dy_html_escape(f, title);
    fprintf(f, "</title>\n<style>%s</style>\n</head>\n<body>\n", CSS);
}

void dy_html_page_close(FILE *f) {
    char when[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", &tm);
    fprintf(f, "<footer>Written by dystress %s on %s. One self-contained file: inline SVG and CSS, images as data: "
            "URIs; no scripts, fonts or network requests.</footer>\n</body>\n</html>\n", DY_VERSION, when);
}

void dy_html_figure_open(FILE *f, const char *id, const char *cls) {
    fprintf(f, "<figure id=\"%s\"%s%s%s>\n", id, cls ? " class=\"" : "", cls ? cls : "", cls ? "\"" : "");
}

void dy_html_figure_close(FILE *f, const char *caption) {
    if (caption) {
        fputs("<figcaption>", f);
        fputs(caption, f); /* captions are written here, as HTML */
        fputs("</figcaption>\n", f);
    }
    fputs("</figure>\n", f);
}

/* A curve y(x) as a series: downsampled into buckets (mean line, min-max band) when long. The buffers are
 * malloc'ed into *mem (4 arrays) and freed by the caller. */
dy_svg_series dy_html_curve(const dy_dvec *x, const dy_dvec *y, double scale, const char *label, const char *color,
                           double **mem) {
    dy_svg_series s = {.label = label, .color = color, .style = DY_SVG_LINE};
    int64_t n = x->n < y->n ? x->n : y->n, nb = n < DY_CURVE_BUCKETS ? n : DY_CURVE_BUCKETS;
    *mem = malloc(sizeof(double) * (size_t)(4 * (nb > 0 ? nb : 1)));
    if (!*mem || n == 0) return s;
    double *bx = *mem, *mean = bx + nb, *lo = mean + nb, *hi = lo + nb;
    double *ys = malloc(sizeof(double) * (size_t)n);
    if (!ys) return s;
    for (int64_t i = 0; i < n; i++) ys[i] = y->v[i] * scale;
    nb = dy_svg_downsample(x->v, ys, n, DY_CURVE_BUCKETS, bx, mean, lo, hi);
    free(ys);
    s.x = bx;
    s.y = mean;
    s.n = nb;
    if (n > nb) s.lo = lo, s.hi = hi; /* a band only where buckets hold several points */
    return s;
}

/* An accuracy axis (in %): up to 100, from a round value below the lowest point. */
void dy_html_accuracy_axis(dy_svg_plot *p, const dy_dvec *top1) {
    double lo = 100;
    for (int64_t i = 0; i < top1->n; i++)
        if (isfinite(top1->v[i])) lo = fmin(lo, 100 * top1->v[i]);
    p->y0 = fmax(0, floor((lo - 5) / 10) * 10);
    p->y1 = 100;
}

void dy_html_profile_text(const dy_run_data *r, char *buf, size_t size) {
    if (!r->has_profile) {
        snprintf(buf, size, "temperature profile unknown");
        return;
    }
    const dy_tau_profile *p = &r->profile;
    if (p->kind == DY_TAU_CONSTANT) snprintf(buf, size, "constant &tau; = %g", p->tau_max);
    else if (p->kind == DY_TAU_COSINE) snprintf(buf, size, "cosine profile, &tau; %g&ndash;%g", p->tau_min, p->tau_max);
    else snprintf(buf, size, "shifted profile, &tau; %g&ndash;%g (offset %g, scale %g)", p->tau_min, p->tau_max,
                  p->offset, p->scale);
    if (dy_run_adaptive(r)) {
        dy_tau_profile end = dy_run_profile_at(r, INFINITY);
        size_t n = strlen(buf);
        if (n < size)
            snprintf(buf + n, size - n, ", %s%s: &tau; %.3g&ndash;%.3g at the end", r->tau_schedule[0] ?
                     "schedule " : "adaptive", r->tau_schedule, end.tau_min, end.tau_max);
    }
}

void dy_html_eval_table(FILE *f, const dy_eval_row *rows, int n, const char *const *run_names) {
    fputs("<table><tr>", f);
    if (run_names) fputs("<th>run</th>", f);
    fputs("<th>features</th><th>kNN top-1</th><th>kNN top-5</th><th>linear top-1</th><th>linear top-5</th>"
          "<th>from</th></tr>\n", f);
    for (int i = 0; i < n; i++) {
        fputs("<tr>", f);
        if (run_names) {
            fputs("<td>", f);
            dy_html_escape(f, run_names[i]);
            fputs("</td>", f);
        }
        fputs("<td>", f);
        dy_html_escape(f, rows[i].features);
        fputs("</td>", f);
        double v[4] = {rows[i].knn1, rows[i].knn5, rows[i].lin1, rows[i].lin5};
        for (int k = 0; k < 4; k++)
            if (isfinite(v[k])) fprintf(f, "<td class=\"n\">%.2f %%</td>", 100 * v[k]);
            else fputs("<td class=\"n\">&ndash;</td>", f);
        fputs("<td>", f);
        dy_html_escape(f, rows[i].source);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

dy_status dy_html_finish(dy_ctx *ctx, dy_atomic_file *af, const char *path) {
    if (ferror(af->fp)) {
        dy_atomic_abort(af);
        return dy_fail(ctx, DY_ERR_IO, "cannot write %s", path);
    }
    return dy_atomic_commit(ctx, af);
}
