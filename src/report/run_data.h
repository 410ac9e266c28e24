/* A run directory read into memory for the report (see report.h for the files). */
#ifndef DY_REPORT_RUN_DATA_H
#define DY_REPORT_RUN_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dystress.h"
#include "io/json.h"

typedef struct {
    double *v;
    int64_t n, cap;
} dy_dvec;

typedef struct {
    char features[128];  /* what was evaluated: "raw pixels", "checkpoint-final.safetensors", ... */
    double knn1, knn5, lin1, lin5; /* NaN where not measured */
    char source[64];     /* the file the row came from */
} dy_eval_row;

#define DY_RUN_MAX_EVAL 16

typedef struct {
    char dir[4096];
    char name[256];           /* the folder's last component */
    dy_json_doc *config;      /* config.json, NULL when absent or not JSON (dy_json_root(NULL) is NULL) */
    /* per step */
    dy_dvec step, epoch, loss, lr, ips, pos_sim, neg_sim, neg_sim_max, pos_tau, neg_tau, frac_min, frac_max;
    dy_dvec tau_min, tau_max; /* the bounds each step used, of the adaptive profile or a temperature schedule (a
                               * constant's tau in both; NaN: a fixed profile) */
    /* kNN monitor (per epoch) */
    dy_dvec knn_epoch, knn_top1, knn_top5;
    /* the last monitor that logged its classes: top-1 of each (NaN: no test image) and its training images */
    int64_t knn_classes;
    double knn_class_epoch;
    double *knn_class_top1, *knn_class_train; /* [knn_classes] */
    /* alignment and uniformity (per epoch) */
    dy_dvec repr_epoch, alignment, uniformity;
    char repr_on[32];
    int64_t repr_images;
    /* histograms.jsonl */
    int64_t n_hist;
    double *hist_step, *hist_epoch;
    double *pos_hist, *neg_hist; /* [n_hist, DY_LOSS_HIST_BINS] counts */
    /* the temperature profile from config.json */
    bool has_profile;
    dy_tau_profile profile;
    char profile_name[32];
    char tau_schedule[16]; /* config.json's --tau-schedule when not constant ("linear", ...), else "" */
    int64_t epochs;           /* configured (0 when unknown) */
    /* final evaluation rows */
    dy_eval_row eval[DY_RUN_MAX_EVAL];
    int n_eval;
    /* what the encoder learned */
    dy_json_doc *map;         /* embedding-map.json */
    dy_json_doc *retrieval;   /* retrieval.json */
    uint8_t *retrieval_png;
    size_t retrieval_png_size;
    /* what reading the run skipped ("" when nothing): files that are not regular, too large or not JSON, over-long
     * lines and lines that are not JSON, the end of a log beyond DY_RUN_LOG_MAX_BYTES */
    char skipped[1024];
} dy_run_data;

/* Limits of the reader: a run's logs are streamed, at most DY_RUN_LOG_MAX_BYTES each (a metrics.jsonl line is about
 * 400 bytes: some 2.5 million steps), a line longer than DY_RUN_LINE_MAX is not one of ours; every other file is read
 * whole up to DY_RUN_FILE_MAX_BYTES. Anything beyond is skipped and said. */
#define DY_RUN_LOG_MAX_BYTES ((uint64_t)1 << 30)
#define DY_RUN_LINE_MAX ((size_t)1 << 20)
#define DY_RUN_FILE_MAX_BYTES ((size_t)64 << 20)

/* Mean of the finite values in the last `frac` of v (at least one value), its last value, its median; NaN when
 * there is none. */
double dy_dvec_tail_mean(const dy_dvec *v, double frac);
double dy_dvec_last(const dy_dvec *v);
double dy_dvec_median(const dy_dvec *v);

/* True when the run's profile moved during training (--tau-adapt or --tau-schedule: metrics.jsonl logs the
 * bounds; tau_schedule[0] tells which). */
bool dy_run_adaptive(const dy_run_data *r);
/* The profile the loss used at optimizer step `step` (1-based, as metrics.jsonl counts): config.json's, with the
 * bounds the adaptive controller had set after the previous step when it ran. INFINITY: the bounds at the end. */
dy_tau_profile dy_run_profile_at(const dy_run_data *r, double step);

/* Reads a run directory. DY_ERR_IO (metrics.jsonl missing, unreadable or not a regular file), DY_ERR_NOMEM; a
 * line that is not JSON is skipped and counted, an optional file that cannot be read is noted, in r->skipped. */
dy_status dy_run_data_load(dy_ctx *ctx, const char *dir, dy_run_data *r);
void dy_run_data_free(dy_run_data *r);

/* Reads a whole regular file of at most DY_RUN_FILE_MAX_BYTES into a NUL-terminated malloc'ed buffer (*size without
 * the NUL); NULL when it cannot. */
char *dy_read_whole_file(const char *path, size_t *size);

#endif
