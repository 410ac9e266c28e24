/* dystress — the DySTreSS loss family: InfoNCE with a per-pair temperature. Included by dystress.h.
 *
 * The contrastive (SimCLR) form. A batch of N images gives 2N embeddings, ordered
 *     rows 0..N-1 = view 0 of images 0..N-1,   rows N..2N-1 = view 1 of the same images,
 * so the positive of row i is p(i) = (i + N) mod 2N. With z the L2-normalised rows and s_ij = z_i . z_j,
 *     a_ij   = s_ij / tau(s_ij)                                  (tau evaluated on the detached similarity)
 *     loss_i = -a_ip(i) + log sum_{k in D_i} exp(a_ik)           D_i = all k != i   (decoupled: also k != p(i))
 *     loss   = (1 / 2N) sum_i loss_i
 * In backward tau is a constant (as in the reference code): d a_ij / d s_ij = 1 / tau(s_ij).
 * With the constant profile tau = tau0 this is exactly SimCLR's NT-Xent loss (the cross-entropy over the 2N-1
 * logits s_ik / tau0 with the other view as the label, averaged over both views); decoupled it is DCL.
 *
 * The MoCo form. N queries q_i, their positive keys k_i and a queue of K negative keys c_1..c_K:
 *     loss_i = -a(q_i, k_i) + log( exp(a(q_i, k_i)) + sum_j exp(a(q_i, c_j)) ),   loss = (1/N) sum_i loss_i
 * (decoupled: the positive term leaves the denominator). The gradient is taken with respect to the queries only
 * (the keys come from a momentum encoder). The queue is kept by the caller (passed to each call, rows already
 * L2-normalised) or by the loss object (a ring buffer of queue_capacity rows, filled with the keys after each call).
 *
 * The computation is blocked: similarities are computed tile by tile with GEMM, the per-row normaliser with a
 * running maximum (log-sum-exp), and the backward recomputes the tiles (as flash attention does), so the 2N x 2N
 * matrix never exists. Scratch memory is O(N*d + threads*tile^2), allocated once by dy_loss_create; a call
 * allocates nothing itself (with oneDNN built in, oneDNN's sgemm takes and frees a packing buffer of about 150 KB
 * inside each tile product; without oneDNN a call makes no allocation at all). Threads (from the context) work on
 * blocks of rows; the result is bitwise the same for every thread count.
 *
 * Gradients are ASSIGNED to the caller's buffer (never accumulated); the gradient buffer must not overlap the
 * inputs. A loss object is used by one thread at a time (it holds the scratch); its calls use at most as many
 * threads as the context it was created with had.
 *
 * Example (one training step, N images, d = 128):
 *     dy_loss_options o = dy_loss_defaults();          // SimCLR form, cosine profile 0.07 .. 0.2, raw input
 *     o.max_batch = N; o.dim = 128;
 *     dy_loss *L;
 *     if (dy_loss_create(ctx, &o, &L) != DY_OK) fprintf(stderr, "%s\n", dy_ctx_error(ctx));
 *     ...each step: z = projections of [view0; view1] (2N x 128)
 *     float loss; dy_loss_diag diag;
 *     dy_loss_contrastive(L, ctx, N, z, dz, &loss, &diag);  // dz: 2N x 128, d loss / d z
 *     dy_loss_destroy(L);
 */
#ifndef DYSTRESS_LOSS_H
#define DYSTRESS_LOSS_H
#include "../dystress.h"
#ifdef __cplusplus
extern "C" {
#endif

/* ---- Temperature profiles (similarity s in [-1, 1] -> tau > 0) ---- */

typedef enum {
    DY_TAU_CONSTANT = 0, /* tau = tau_max (tau_min must equal tau_max; see dy_tau_constant) */
    DY_TAU_COSINE,       /* tau = tau_min + (tau_max - tau_min)/2 * (1 + cos(pi (1 + s))): tau_max at s = +-1,
                            tau_min at s = 0 (the paper's main profile) */
    DY_TAU_SHIFTED       /* s <= -offset: tau = tau_min + (tau_max - tau_min)/2 * (1 + cos(pi (s + offset) / scale));
                            s > -offset: tau = tau_max (a plateau) */
} dy_tau_kind;

typedef struct {
    dy_tau_kind kind;
    float tau_min, tau_max; /* 1e-4 <= tau_min <= tau_max <= 1e4; equal for DY_TAU_CONSTANT */
    float offset, scale;    /* DY_TAU_SHIFTED only: o (any finite value) and k > 0 */
} dy_tau_profile;

/* Small images: tau_min 0.07, tau_max 0.2 (the reference code's defaults). */
#define DY_TAU_MIN_DEFAULT 0.07f
#define DY_TAU_MAX_DEFAULT 0.2f

DY_API dy_tau_profile dy_tau_constant(float tau0);
DY_API dy_tau_profile dy_tau_cosine(float tau_min, float tau_max);
/* The paper's best ImageNet-100 setting is offset -0.4, scale 0.7 (plateau above s = 0.4, tau_min at s = -0.3). */
DY_API dy_tau_profile dy_tau_shifted(float tau_min, float tau_max, float offset, float scale);
/* DY_OK, or DY_ERR_INVALID with a message: tau_min <= 0, a temperature outside [1e-4, 1e4], tau_min > tau_max,
 * tau_min != tau_max for the constant profile, scale <= 0 (or so small that |s + o| / k could reach 2^22), a
 * non-finite parameter, an unknown kind (never silently a constant, unlike the reference code). ctx may be NULL. */
DY_API dy_status dy_tau_check(dy_ctx *ctx, const dy_tau_profile *p);
/* tau(s), computed with the C library's cos in double (the reference the loss kernels are tested against). */
DY_API double dy_tau_eval(const dy_tau_profile *p, double s);

/* ---- Diagnostics, filled by every loss call that is given a dy_loss_diag ---- */

/* Histograms have DY_LOSS_HIST_BINS bins of equal width over [-1, 1]: bin b holds similarities in
 * [-1 + b*w, -1 + (b+1)*w), w = 2 / DY_LOSS_HIST_BINS = 0.05; a value below -1 counts in bin 0, a value of 1 or
 * more (rounding) in the last bin. */
#define DY_LOSS_HIST_BINS 40

typedef struct {
    double loss;               /* the value the call returned */
    double pos_sim_mean;       /* mean s over positive pairs (each anchor with its positive) */
    double neg_sim_mean;       /* mean s over negative pairs (each anchor with each of its negatives) */
    double neg_sim_max;        /* largest s over negative pairs (the hardest negative in the batch) */
    double pos_tau_mean;       /* mean tau over positive pairs */
    double neg_tau_mean;       /* mean tau over negative pairs */
    double frac_near_tau_min;  /* fraction of all pairs (positive and negative) with tau <= 1.01 tau_min */
    double frac_near_tau_max;  /* fraction of all pairs with tau >= 0.99 tau_max */
    int64_t pos_pairs;         /* ordered pairs counted: SimCLR 2N, MoCo N */
    int64_t neg_pairs;         /* SimCLR 2N(2N-2), MoCo N*K */
    int64_t pos_hist[DY_LOSS_HIST_BINS]; /* counts of positive-pair similarities */
    int64_t neg_hist[DY_LOSS_HIST_BINS]; /* counts of negative-pair similarities */
} dy_loss_diag;

/* ---- The loss object: options, scratch memory, the optional MoCo queue ---- */

typedef enum {
    DY_LOSS_SIMCLR = 0, /* the contrastive form over 2N rows (dy_loss_contrastive) */
    DY_LOSS_MOCO        /* queries against keys and a queue (dy_loss_moco) */
} dy_loss_form;

typedef struct {
    dy_loss_form form;
    dy_tau_profile tau;
    bool decoupled;         /* DCL: the positive is removed from the denominator */
    bool normalized_input;  /* false: rows are raw projections, the loss L2-normalises them and the gradient is
                               with respect to the raw rows; true: rows must already have unit norm (checked,
                               |norm - 1| <= 1e-3) */
    int64_t max_batch;      /* largest N a call may pass (images for SimCLR, queries for MoCo); >= 2 for SimCLR */
    int64_t dim;            /* d, the embedding width, >= 1 */
    int64_t queue_capacity; /* MoCo: rows of the library-owned queue (0: the caller always passes its queue) */
    int64_t tile;           /* rows and columns of a similarity tile; 0 = DY_LOSS_TILE_DEFAULT */
} dy_loss_options;

#define DY_LOSS_TILE_DEFAULT 128

/* SimCLR form, cosine profile (0.07, 0.2), not decoupled, raw input, tile default; max_batch and dim are 0 and
 * must be set. */
DY_API dy_loss_options dy_loss_defaults(void);

typedef struct dy_loss dy_loss;

/* Validates the options (each bad one is DY_ERR_INVALID with a message) and allocates all scratch memory for
 * up to dy_ctx_threads(ctx) threads. */
DY_API dy_status dy_loss_create(dy_ctx *ctx, const dy_loss_options *opts, dy_loss **out);
DY_API void dy_loss_destroy(dy_loss *loss);
/* Bytes of scratch memory the object holds (what a call uses besides the caller's buffers). */
DY_API size_t dy_loss_scratch_bytes(const dy_loss *loss);
DY_API const dy_loss_options *dy_loss_get_options(const dy_loss *loss);

/* The SimCLR form. n: images in this batch (2 <= n <= max_batch); z: 2n x dim rows [view0; view1];
 * dz: 2n x dim, receives d loss / d z (may be NULL for the loss alone); loss_out: the loss; diag may be NULL.
 * Errors: DY_ERR_INVALID (wrong form, n out of range, NULL z or loss_out, a zero row with raw input, a row that is
 * not unit-norm with normalised input), DY_ERR_NUMERIC (NaN or Inf in z). On error nothing is written. */
DY_API dy_status dy_loss_contrastive(dy_loss *loss, dy_ctx *ctx, int64_t n, const float *z, float *dz,
                                     float *loss_out, dy_loss_diag *diag);

/* The MoCo form. n queries (1 <= n <= max_batch): q and k are n x dim (raw or normalised as the options say;
 * keys are normalised too but get no gradient). queue: queue_len x dim unit-norm rows kept by the caller, or NULL to
 * use the library's ring buffer, which then receives this call's keys after the loss is computed (the oldest rows
 * are overwritten): a key of unit norm (within 1e-6: the caller normalised it) as given, another normalised. dq: n x dim, d loss / d q (may be NULL). A decoupled loss needs at least one
 * queue row. Errors as dy_loss_contrastive, plus NaN/Inf or non-unit rows in the queue. */
DY_API dy_status dy_loss_moco(dy_loss *loss, dy_ctx *ctx, int64_t n, const float *q, const float *k,
                              const float *queue, int64_t queue_len, float *dq, float *loss_out, dy_loss_diag *diag);

/* The library-owned MoCo queue: appends count rows (normalised on the way in; e.g. MoCo's random initial queue),
 * overwriting the oldest when full. */
DY_API dy_status dy_loss_queue_push(dy_loss *loss, dy_ctx *ctx, int64_t count, const float *rows);
/* Rows currently held (<= queue_capacity). */
DY_API int64_t dy_loss_queue_length(const dy_loss *loss);

/* ---- Representation metrics over a set of embeddings (rows are L2-normalised first; zero rows refused) ---- */

/* Alignment (Wang & Isola 2020): mean over i of ||x_i - y_i||^alpha for the n pairs (x_i, y_i); alpha = 2 usual. */
DY_API dy_status dy_metric_alignment(dy_ctx *ctx, int64_t n, int64_t dim, const float *x, const float *y,
                                     double alpha, double *out);
/* Uniformity (Wang & Isola 2020): log of the mean over pairs i < j of exp(-t ||z_i - z_j||^2); t = 2 usual.
 * n >= 2. Computed in tiles by GEMM (memory O(tile^2)). */
DY_API dy_status dy_metric_uniformity(dy_ctx *ctx, int64_t n, int64_t dim, const float *z, double t, double *out);
/* Tolerance (after Wang & Liu 2021), as docs/METHOD.md defines it: the mean similarity z_i . z_j over pairs i != j of
 * the same class; labels in [0, num_classes). Wang & Liu's expectation over all pairs, E[s * 1(same class)], is this
 * value times the fraction of pairs that share a class, returned in *same_class_fraction when not NULL.
 * DY_ERR_INVALID when no two rows share a label. */
DY_API dy_status dy_metric_tolerance(dy_ctx *ctx, int64_t n, int64_t dim, const float *z, const int64_t *labels,
                                     int64_t num_classes, double *out, double *same_class_fraction);

#ifdef __cplusplus
}
#endif
#endif
