/* The run report: one self-contained HTML file (inline SVG and CSS, images as data: URIs, no scripts, fonts or
 * requests) drawn from the files of a run directory:
 *   metrics.jsonl       loss, learning rate, images/s, similarity and temperature diagnostics per step; kNN
 *                       monitor lines; alignment/uniformity lines
 *   histograms.jsonl    the loss's 40-bin histograms of positive and negative similarities every few steps
 *   config.json         the resolved configuration (the temperature profile is drawn from it)
 *   retrieval.png/.json, embedding-map.json   what the encoder learned (src/report/encoder_view.h)
 *   results.jsonl, eval*.json                 final evaluation rows (the main job's table, `eval --json` files)
 * Every file but metrics.jsonl is optional: what is missing is said in the page. */
#ifndef DY_REPORT_REPORT_H
#define DY_REPORT_REPORT_H

#include "dystress.h"

typedef struct {
    const char *command; /* the command that reproduces the run (NULL: not shown) */
    char *skipped;       /* when not NULL: receives what reading the run skipped ("" when nothing; the page says it) */
    size_t skipped_size;
} dy_report_options;

/* Writes run_dir/report.html (or out_path when not NULL) atomically. DY_ERR_IO with a message naming the file when
 * the run directory has no readable metrics.jsonl or the page cannot be written. */
dy_status dy_report_write(dy_ctx *ctx, const char *run_dir, const char *out_path, const dy_report_options *o);

/* Writes one page that overlays n runs (1 <= n <= DY_REPORT_MAX_RUNS) on the same axes, with their final accuracies
 * in one table. commands may be NULL (or hold NULLs). */
#define DY_REPORT_MAX_RUNS 12
dy_status dy_report_compare(dy_ctx *ctx, const char *const *run_dirs, int n, const char *out_path,
                            const char *const *commands);

#endif
