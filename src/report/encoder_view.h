/* What the encoder learned, as files in a run directory for the report (written at each kNN monitor and by the
 * main job):
 *   retrieval.png        test queries (first column) and their nearest training images by cosine similarity of the
 *                        encoder's features; neighbours of the query's class framed green, of another class red
 *   retrieval.json       the grid's geometry and the classes in it (the report labels the rows with it)
 *   embedding-map.json   2-D maps (PCA and t-SNE) of up to DY_MAP_POINTS test embeddings, with their labels
 * All three are written atomically. */
#ifndef DY_REPORT_ENCODER_VIEW_H
#define DY_REPORT_ENCODER_VIEW_H

#include <stdint.h>

#include "dystress.h"

#define DY_MAP_POINTS 800       /* test embeddings in the 2-D maps (t-SNE is O(n^2)) */
#define DY_RETRIEVAL_QUERIES 10 /* rows of the retrieval grid */
#define DY_RETRIEVAL_NEIGHBOURS 8

/* train_f [train->count, dim] and test_f [test->count, dim]: features of the two splits (in order), compared by
 * cosine similarity and L2-normalised for the maps.
 * Both splits need labels. epoch and step say when (written into the JSON files). */
dy_status dy_encoder_view_write(dy_ctx *ctx, const char *run_dir, const dy_dataset *train, const float *train_f,
                                const dy_dataset *test, const float *test_f, int64_t dim, int64_t epoch, int64_t step);

#endif
