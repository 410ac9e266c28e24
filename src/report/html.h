/* The report's page furniture, shared by the single-run page (report.c) and the comparison page (compare.c): the
 * stylesheet, page and figure frames, colours, curves from a run's series, and the evaluation table. Figures are
 * <figure id="fig-..."> elements (the browser test finds them by these ids). */
#ifndef DY_REPORT_HTML_H
#define DY_REPORT_HTML_H

#include <stdio.h>

#include "io/atomic_file.h"
#include "report/run_data.h"
#include "report/svg.h"

#define DY_CURVE_BUCKETS 400 /* a long curve is drawn as this many buckets (mean line, min-max band) */

extern const char *const dy_html_palette[10];
/* Colour of class or run i of n: the ten-colour palette, evenly spaced hues beyond ten. */
void dy_html_color(char *buf, size_t size, int i, int n);
/* Text with &, <, >, " escaped. */
void dy_html_escape(FILE *f, const char *s);
/* <!DOCTYPE html> to <body> (title escaped, the inline stylesheet), and the footer to </html>. */
void dy_html_page_open(FILE *f, const char *title);
void dy_html_page_close(FILE *f);
/* <figure id="id" class="cls"> (cls may be NULL); the caption (HTML, may be NULL) and </figure>. */
void dy_html_figure_open(FILE *f, const char *id, const char *cls);
void dy_html_figure_close(FILE *f, const char *caption);
/* y(x) * scale as a line series, in DY_CURVE_BUCKETS buckets (mean line, min-max band) when longer. The buffers
 * are malloc'ed into *mem; free it after drawing. */
dy_svg_series dy_html_curve(const dy_dvec *x, const dy_dvec *y, double scale, const char *label, const char *color,
                            double **mem);
/* An accuracy axis in %: up to 100, from a round value below the lowest top-1. */
void dy_html_accuracy_axis(dy_svg_plot *p, const dy_dvec *top1);
/* The temperature profile in words (HTML). */
void dy_html_profile_text(const dy_run_data *r, char *buf, size_t size);
/* The final evaluation rows as a table; run_names (one per row) adds a first column when not NULL. */
void dy_html_eval_table(FILE *f, const dy_eval_row *rows, int n, const char *const *run_names);
/* Commits the page (DY_ERR_IO naming path when a write failed). */
dy_status dy_html_finish(dy_ctx *ctx, dy_atomic_file *af, const char *path);

#endif
