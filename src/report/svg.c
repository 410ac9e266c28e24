/* The SVG plot writer (see svg.h). */
#include "report/svg.h"

#include <math.h>
#include <string.h>

#define TEXT_COLOR "#374151"
#define GRID_COLOR "#e5e7eb"
#define AXIS_COLOR "#9ca3af"
#define CHAR_W 6.6 /* rough width of a character of 11-12 px sans-serif text, for the legend's layout */

dy_svg_plot dy_svg_plot_init(const char *id, const char *title, const char *xlabel, const char *ylabel) {
    dy_svg_plot p = {.id = id, .title = title, .xlabel = xlabel, .ylabel = ylabel, .width = 560, .height = 300,
                     .legend = true};
    p.x0 = p.x1 = p.y0 = p.y1 = p.y20 = p.y21 = NAN;
    return p;
}

void dy_svg_escape(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static double nice_step(double range, int target) {
    double raw = range / (target > 1 ? target - 1 : 1);
    double mag = pow(10, floor(log10(raw)));
    double r = raw / mag;
    return (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
}

int dy_svg_ticks(double *lo, double *hi, int target, bool expand, double *ticks, int max, double *step) {
    if (!isfinite(*lo) || !isfinite(*hi)) *lo = 0, *hi = 1;
    if (*hi < *lo) {
        double t = *lo;
        *lo = *hi;
        *hi = t;
    }
    if (*hi - *lo < 1e-12 * fmax(1, fabs(*hi))) { /* a flat series: a unit-wide window around it */
        double c = *lo, h = c != 0 ? fabs(c) * 0.1 : 0.5;
        *lo = c - h;
        *hi = c + h;
    }
    double s = nice_step(*hi - *lo, target);
    double first = expand ? floor(*lo / s + 1e-9) * s : ceil(*lo / s - 1e-9) * s;
    double last = expand ? ceil(*hi / s - 1e-9) * s : floor(*hi / s + 1e-9) * s;
    if (expand) *lo = first, *hi = last;
    int n = 0;
    for (double v = first; v <= last + s * 1e-6 && n < max; v += s) ticks[n++] = fabs(v) < s * 1e-9 ? 0 : v;
    *step = s;
    return n;
}

void dy_svg_format_tick(char *buf, size_t size, double v, double step) {
    if (fabs(v) >= 1e4 && step >= 1000) {
        double k = v / 1000, ks = step / 1000;
        int dec = ks >= 1 ? 0 : (int)ceil(-log10(ks) - 1e-9);
        snprintf(buf, size, "%.*fk", dec, k);
        return;
    }
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (dec > 8) dec = 8;
    snprintf(buf, size, "%.*f", dec, v);
}

int64_t dy_svg_downsample(const double *x, const double *y, int64_t n, int64_t buckets, double *bx, double *mean,
                          double *min, double *max) {
    if (buckets < 1) buckets = 1;
    int64_t nb = n < buckets ? n : buckets;
    for (int64_t b = 0; b < nb; b++) {
        int64_t i0 = b * n / nb, i1 = (b + 1) * n / nb;
        double sx = 0, sy = 0, lo = INFINITY, hi = -INFINITY;
        int64_t cnt = 0;
        for (int64_t i = i0; i < i1; i++) {
            sx += x[i];
            if (!isfinite(y[i])) continue;
            sy += y[i];
            cnt++;
            lo = fmin(lo, y[i]);
            hi = fmax(hi, y[i]);
        }
        bx[b] = sx / (double)(i1 - i0);
        mean[b] = cnt ? sy / (double)cnt : NAN;
        if (min) min[b] = cnt ? lo : NAN;
        if (max) max[b] = cnt ? hi : NAN;
    }
    return nb;
}

typedef struct {
    double left, top, w, h; /* plot area in pixels */
    double x0, x1, y0, y1, y20, y21;
} frame;

static double px(const frame *fr, double x) { return fr->left + (x - fr->x0) / (fr->x1 - fr->x0) * fr->w; }
static double py(const frame *fr, double y, bool right) {
    double a = right ? fr->y20 : fr->y0, b = right ? fr->y21 : fr->y1;
    return fr->top + fr->h - (y - a) / (b - a) * fr->h;
}

/* Data ranges of the series on one side (x always). */
static void data_range(const dy_svg_series *s, int ns, bool right, double *xl, double *xh, double *yl, double *yh) {
    for (int k = 0; k < ns; k++) {
        for (int64_t i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x)) continue;
            double half = s[k].style == DY_SVG_BARS ? s[k].bar_width / 2 : 0;
            *xl = fmin(*xl, x - half);
            *xh = fmax(*xh, x + half);
            if (s[k].right != right) continue;
            if (isfinite(y)) *yl = fmin(*yl, y), *yh = fmax(*yh, y);
            if (s[k].style == DY_SVG_BARS) *yl = fmin(*yl, 0);
            if (s[k].lo && isfinite(s[k].lo[i])) *yl = fmin(*yl, s[k].lo[i]);
            if (s[k].hi && isfinite(s[k].hi[i])) *yh = fmax(*yh, s[k].hi[i]);
        }
    }
}

static void text(FILE *f, double x, double y, const char *anchor, const char *extra, const char *s) {
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\"%s%s>", x, y, anchor, extra ? " " : "",
            extra ? extra : "");
    dy_svg_escape(f, s);
    fputs("</text>\n", f);
}

static int64_t draw_line(FILE *f, const frame *fr, const dy_svg_series *s) {
    int64_t drawn = 0;
    if (s->lo && s->hi) { /* the band, one polygon per run of finite points */
        for (int64_t i = 0; i < s->n;) {
            while (i < s->n && !(isfinite(s->x[i]) && isfinite(s->lo[i]) && isfinite(s->hi[i]))) i++;
            int64_t j = i;
            while (j < s->n && isfinite(s->x[j]) && isfinite(s->lo[j]) && isfinite(s->hi[j])) j++;
            if (j - i >= 2) {
                fprintf(f, "<path fill=\"%s\" fill-opacity=\"0.18\" stroke=\"none\" d=\"", s->color);
                for (int64_t k = i; k < j; k++)
                    fprintf(f, "%s%.1f %.1f", k == i ? "M" : " L", px(fr, s->x[k]), py(fr, s->lo[k], s->right));
                for (int64_t k = j - 1; k >= i; k--)
                    fprintf(f, " L%.1f %.1f", px(fr, s->x[k]), py(fr, s->hi[k], s->right));
                fputs(" Z\"/>\n", f);
                drawn++;
            }
            i = j;
        }
    }
    bool open = false;
    int64_t in_path = 0;
    for (int64_t i = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) {
            if (open) fputs("\"/>\n", f), open = false;
            continue;
        }
        if (!open) {
            fprintf(f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"1.8\" stroke-linejoin=\"round\"%s d=\"",
                    s->color, s->dashed ? " stroke-dasharray=\"5 3\"" : "");
            open = true;
            drawn++;
            fprintf(f, "M%.1f %.1f", px(fr, s->x[i]), py(fr, s->y[i], s->right));
        } else {
            fprintf(f, " L%.1f %.1f", px(fr, s->x[i]), py(fr, s->y[i], s->right));
        }
        in_path++;
    }
    if (open) fputs("\"/>\n", f);
    /* a curve of few points also gets markers, so that a single point is visible */
    if (in_path > 0 && in_path <= 30)
        for (int64_t i = 0; i < s->n; i++)
            if (isfinite(s->x[i]) && isfinite(s->y[i]))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.6\" fill=\"%s\"/>\n", px(fr, s->x[i]),
                        py(fr, s->y[i], s->right), s->color);
    return drawn;
}

int64_t dy_svg_plot_write(FILE *f, const dy_svg_plot *p, const dy_svg_series *s, int ns) {
    int W = p->width > 0 ? p->width : 560, H = p->height > 0 ? p->height : 300;
    bool y2 = p->y2label != NULL;
    /* the legend's rows, laid out left to right under the title */
    double legend_rows = 0, lx = 0;
    double avail = W - 70 - (y2 ? 62 : 18);
    if (p->legend)
        for (int k = 0; k < ns; k++) {
            if (!s[k].label) continue;
            double w = 26 + CHAR_W * (double)strlen(s[k].label) + 14;
            if (legend_rows == 0 || lx + w > avail) legend_rows++, lx = 0;
            lx += w;
        }
    frame fr = {.left = 64, .top = 30 + 18 * legend_rows + 6};
    fr.w = W - fr.left - (y2 ? 62 : 18);
    fr.h = H - fr.top - 46;
    double xl = INFINITY, xh = -INFINITY, yl = INFINITY, yh = -INFINITY, y2l = INFINITY, y2h = -INFINITY;
    data_range(s, ns, false, &xl, &xh, &yl, &yh);
    data_range(s, ns, true, &xl, &xh, &y2l, &y2h);
    bool empty = !(xl <= xh);
    bool points = false;
    for (int k = 0; k < ns; k++) points |= s[k].style == DY_SVG_POINTS;
    if (points && xl < xh) { /* markers are not cut in half at the frame */
        double pad = 0.04 * (xh - xl);
        xl -= pad, xh += pad;
    }
    bool bars = false;
    for (int k = 0; k < ns; k++) bars |= s[k].style == DY_SVG_BARS && !s[k].right;
    if (bars && yl < yh) yh += 0.04 * (yh - yl); /* the tallest bar does not end on the frame, as if cut */
    if (points && yl < yh) {
        double pad = 0.04 * (yh - yl);
        yl -= pad, yh += pad;
    }
    if (!isnan(p->x0)) xl = p->x0;
    if (!isnan(p->x1)) xh = p->x1;
    if (!isnan(p->y0)) yl = p->y0;
    if (!isnan(p->y1)) yh = p->y1;
    if (!isnan(p->y20)) y2l = p->y20;
    if (!isnan(p->y21)) y2h = p->y21;
    double xt[32], yt[32], y2t[32], xs, ys, y2s;
    int nx = dy_svg_ticks(&xl, &xh, 7, false, xt, 32, &xs);
    if (p->x_integer && xs < 1) {
        nx = 0;
        for (double v = ceil(xl); v <= xh && nx < 32; v++) xt[nx++] = v;
        xs = 1;
    }
    int ny = dy_svg_ticks(&yl, &yh, 6, isnan(p->y0) || isnan(p->y1), yt, 32, &ys);
    int ny2 = y2 ? dy_svg_ticks(&y2l, &y2h, 6, isnan(p->y20) || isnan(p->y21), y2t, 32, &y2s) : 0;
    fr.x0 = xl, fr.x1 = xh, fr.y0 = yl, fr.y1 = yh, fr.y20 = y2l, fr.y21 = y2h;

    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"plot\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\" font-family=\"inherit\" font-size=\"11\" fill=\"" TEXT_COLOR "\">\n", W, H, W, H);
    fprintf(f, "<defs><clipPath id=\"%s-clip\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>"
            "</defs>\n", p->id, fr.left, fr.top - 4, fr.w, fr.h + 8);
    if (p->title) text(f, 8, 18, "start", "font-size=\"13\" font-weight=\"600\"", p->title);
    /* grid and ticks */
    char buf[64];
    for (int i = 0; i < ny; i++) {
        double y = py(&fr, yt[i], false);
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"" GRID_COLOR "\"/>\n", fr.left,
                fr.left + fr.w, y, y);
        dy_svg_format_tick(buf, sizeof buf, yt[i], ys);
        char pos[32];
        snprintf(pos, sizeof pos, "dy=\"0.32em\"");
        text(f, fr.left - 6, y, "end", pos, buf);
    }
    for (int i = 0; i < nx; i++) {
        double x = px(&fr, xt[i]);
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"" GRID_COLOR "\"/>\n", x, x, fr.top,
                fr.top + fr.h);
        dy_svg_format_tick(buf, sizeof buf, xt[i], xs);
        text(f, x, fr.top + fr.h + 15, "middle", NULL, buf);
    }
    for (int i = 0; i < ny2; i++) {
        dy_svg_format_tick(buf, sizeof buf, y2t[i], y2s);
        text(f, fr.left + fr.w + 6, py(&fr, y2t[i], true), "start", "dy=\"0.32em\"", buf);
    }
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"" AXIS_COLOR "\"/>\n",
            fr.left, fr.top, fr.w, fr.h);
    if (p->xlabel) text(f, fr.left + fr.w / 2, H - 8, "middle", "font-size=\"12\"", p->xlabel);
    if (p->ylabel) {
        fprintf(f, "<text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"12\">",
                fr.top + fr.h / 2);
        dy_svg_escape(f, p->ylabel);
        fputs("</text>\n", f);
    }
    if (y2) {
        fprintf(f, "<text transform=\"translate(%.1f %.1f) rotate(90)\" text-anchor=\"middle\" font-size=\"12\">",
                (double)W - 12, fr.top + fr.h / 2);
        dy_svg_escape(f, p->y2label);
        fputs("</text>\n", f);
    }
    /* the series */
    int64_t drawn = 0;
    fprintf(f, "<g clip-path=\"url(#%s-clip)\">\n", p->id);
    for (int k = 0; k < ns; k++) {
        const dy_svg_series *q = &s[k];
        if (q->style == DY_SVG_LINE) {
            drawn += draw_line(f, &fr, q);
        } else if (q->style == DY_SVG_BARS) {
            double op = q->opacity > 0 ? q->opacity : 0.6, base = py(&fr, fmax(0, q->right ? fr.y20 : fr.y0), q->right);
            fprintf(f, "<g fill=\"%s\" fill-opacity=\"%.2f\">\n", q->color, op);
            for (int64_t i = 0; i < q->n; i++) {
                if (!isfinite(q->x[i]) || !isfinite(q->y[i])) continue;
                double x0 = px(&fr, q->x[i] - q->bar_width / 2), x1 = px(&fr, q->x[i] + q->bar_width / 2);
                double y = py(&fr, q->y[i], q->right);
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", x0, fmin(y, base),
                        fmax(x1 - x0 - 0.5, 0.5), fabs(base - y));
                drawn++;
            }
            fputs("</g>\n", f);
        } else {
            double op = q->opacity > 0 ? q->opacity : 0.8, r = q->radius > 0 ? q->radius : 2.5;
            fprintf(f, "<g fill=\"%s\" fill-opacity=\"%.2f\">\n", q->color, op);
            for (int64_t i = 0; i < q->n; i++) {
                if (!isfinite(q->x[i]) || !isfinite(q->y[i])) continue;
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"/>\n", px(&fr, q->x[i]),
                        py(&fr, q->y[i], q->right), r);
                drawn++;
            }
            fputs("</g>\n", f);
        }
    }
    fputs("</g>\n", f);
    if (empty || drawn == 0)
        text(f, fr.left + fr.w / 2, fr.top + fr.h / 2, "middle", "font-size=\"13\" fill=\"#9ca3af\"", "no data yet");
    /* the legend */
    if (p->legend) {
        double x = fr.left, y = 30;
        int row = 0;
        for (int k = 0; k < ns; k++) {
            if (!s[k].label) continue;
            double w = 26 + CHAR_W * (double)strlen(s[k].label) + 14;
            if (row == 0 || x + w > fr.left + avail) row++, x = fr.left, y = 30 + 18 * (row - 1) + 4;
            if (s[k].style == DY_SVG_LINE)
                fprintf(
                    f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"2.5\"%s/>\n",
                    x, x + 20, y, y, s[k].color, s[k].dashed ? " stroke-dasharray=\"5 3\"" : "");
            else if (s[k].style == DY_SVG_BARS)
                fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"20\" height=\"9\" fill=\"%s\" fill-opacity=\"0.6\"/>\n",
                        x, y - 4.5, s[k].color);
            else
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", x + 10, y, s[k].color);
            text(f, x + 26, y, "start", "dy=\"0.32em\"", s[k].label);
            x += w;
        }
    }
    fputs("</svg>\n", f);
    return drawn;
}
