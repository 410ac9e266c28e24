/* A tiny SVG plot writer for the run report: one x axis, a left and an optional right y axis with "nice" ticks,
 * grid lines, axis labels, a title, a legend, and series drawn as lines (with an optional min/max band), points or
 * bars. Text is escaped; NaN values break a line. Output is plain SVG 1.1 that any browser draws without scripts. */
#ifndef DY_REPORT_SVG_H
#define DY_REPORT_SVG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { DY_SVG_LINE = 0, DY_SVG_POINTS, DY_SVG_BARS } dy_svg_style;

typedef struct {
    const char *label;      /* legend text; NULL: no legend entry */
    const char *color;      /* any CSS colour */
    dy_svg_style style;
    const double *x, *y;    /* n points; a NaN (x or y) breaks a line and skips a point or bar */
    int64_t n;
    const double *lo, *hi;  /* LINE: optional band between lo and hi (e.g. a bucket's min and max), same x */
    double bar_width;       /* BARS: width in x units */
    double radius;          /* POINTS: in pixels (0: 2.5) */
    double opacity;         /* fill opacity of bars and points (0: 0.6 for bars, 0.8 for points) */
    bool dashed;
    bool right;             /* against the right axis */
} dy_svg_series;

typedef struct {
    const char *id;         /* unique in the page (used for the clip path); letters, digits and '-' */
    const char *title;
    const char *xlabel, *ylabel, *y2label; /* y2label non-NULL: draw the right axis */
    int width, height;      /* pixels (0: 560 x 300) */
    double x0, x1;          /* axis ranges; NaN (the default after dy_svg_plot_init): from the data */
    double y0, y1, y20, y21;
    bool legend;
    bool x_integer;         /* x takes whole values (epochs): no ticks between them */
} dy_svg_plot;

/* A plot with every range NaN, 560 x 300, legend on. */
dy_svg_plot dy_svg_plot_init(const char *id, const char *title, const char *xlabel, const char *ylabel);

/* Writes <svg>...</svg>. Returns the number of series elements drawn (paths, points, bars), so a caller can tell
 * an empty plot ("no data" is written in it) from a full one. */
int64_t dy_svg_plot_write(FILE *f, const dy_svg_plot *p, const dy_svg_series *s, int n_series);

/* Ticks for [lo, hi]: about `target` values that are multiples of 1, 2 or 5 times a power of ten, covering the
 * range when expand is true (*lo and *hi are widened to the outer ticks) or inside it otherwise. Returns the count
 * (at most max) and the step in *step. */
int dy_svg_ticks(double *lo, double *hi, int target, bool expand, double *ticks, int max, double *step);
/* A tick's text for a given step: as few decimals as the step needs, thousands as "k" from 10 000. */
void dy_svg_format_tick(char *buf, size_t size, double v, double step);

/* Long curves made light: x, y (n points, x increasing) into at most `buckets` buckets of consecutive points, each
 * giving its mean x and the mean, minimum and maximum of its finite y values (a bucket with none gives NaN).
 * Returns the number of buckets written (n when n <= buckets, each point its own bucket). */
int64_t dy_svg_downsample(const double *x, const double *y, int64_t n, int64_t buckets, double *bx, double *mean,
                          double *min, double *max);

/* Writes s with &, <, >, " escaped. */
void dy_svg_escape(FILE *f, const char *s);

#endif
