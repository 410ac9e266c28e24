/* The single-run report's section "What the encoder learned": the retrieval grid and the embedding maps, drawn from
 * the files encoder_view.c writes into the run directory. */
#ifndef DY_REPORT_ENCODER_FIGURES_H
#define DY_REPORT_ENCODER_FIGURES_H

#include <stdint.h>
#include <stdio.h>

#include "report/run_data.h"

/* The section: the retrieval grid, the PCA map and the t-SNE map (each says so when its file is missing). */
void dy_report_encoder_section(FILE *f, const dy_run_data *r);
/* The class names of retrieval.json and embedding-map.json (nc of them, 48 bytes each) as the report shows them:
 * the recorded ones, but for a Fashion-MNIST run made before its classes were named (numbers recorded), the
 * names. */
void dy_report_class_names(const dy_run_data *r, char (*names)[48], int64_t nc);

#endif
