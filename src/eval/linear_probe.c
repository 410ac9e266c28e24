/* The linear probe: a linear layer on frozen features, softmax cross-entropy, Adam. The weight and bias share one
 * flat buffer (weight [classes, dim] then bias [classes]) so that the optimizer is one dy_adam_step over it. */
#include "eval/linear_probe.h"

#include <math.h>
#include <string.h>

#include "core/context.h"
#include "core/rng.h"
#include "dystress/optim.h"

struct dy_probe {
    int64_t dim, classes;
    dy_probe_options opts;
    int64_t n_params;                  /* classes * dim + classes */
    float *params, *grads;             /* [n_params] */
    float *exp_avg, *exp_avg_sq;       /* [n_params] Adam state */
    float *logits;                     /* [logit_rows, classes] work buffer */
    int64_t logit_rows;
    int64_t steps;
};

dy_probe_options dy_probe_defaults(void) {
    return (dy_probe_options){.epochs = 100, .batch_size = 512, .lr = 1e-3, .weight_decay = 1e-6, .seed = 0};
}

static dy_status check_options(dy_ctx *ctx, const dy_probe_options *o) {
    if (o->epochs < 0) return dy_fail(ctx, DY_ERR_INVALID, "linear probe: %lld epochs, expected >= 0", (long long)o->epochs);
    if (o->batch_size < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "linear probe: batch size %lld, expected >= 1", (long long)o->batch_size);
    if (!(o->lr >= 0) || !isfinite(o->lr))
        return dy_fail(ctx, DY_ERR_INVALID, "linear probe: learning rate %g, expected >= 0", o->lr);
    if (!(o->weight_decay >= 0) || !isfinite(o->weight_decay))
        return dy_fail(ctx, DY_ERR_INVALID, "linear probe: weight decay %g, expected >= 0", o->weight_decay);
    return DY_OK;
}

dy_status dy_probe_create(dy_ctx *ctx, dy_probe **out, int64_t dim, int64_t classes, const dy_probe_options *opts) {
    if (!out) return dy_fail(ctx, DY_ERR_INVALID, "linear probe: output is NULL");
    *out = NULL;
    dy_probe_options o = opts ? *opts : dy_probe_defaults();
    dy_status st = check_options(ctx, &o);
    if (st != DY_OK) return st;
    if (dim < 1 || classes < 1)
        return dy_fail(ctx, DY_ERR_INVALID, "linear probe: dim %lld and classes %lld, expected >= 1", (long long)dim,
                       (long long)classes);
    dy_probe *p = dy_alloc(sizeof *p);
    if (!p) return dy_fail(ctx, DY_ERR_NOMEM, "linear probe: cannot allocate");
    p->dim = dim;
    p->classes = classes;
    p->opts = o;
    p->n_params = classes * dim + classes;
    size_t bytes = (size_t)p->n_params * sizeof(float);
    p->params = dy_alloc(bytes);
    p->grads = dy_alloc(bytes);
    p->exp_avg = dy_alloc(bytes);
    p->exp_avg_sq = dy_alloc(bytes);
    if (!p->params || !p->grads || !p->exp_avg || !p->exp_avg_sq) {
        dy_probe_destroy(p);
        return dy_fail(ctx, DY_ERR_NOMEM, "linear probe: cannot allocate %lld parameters", (long long)p->n_params);
    }
    /* nn.Linear's default: kaiming_uniform(a = sqrt(5)) on the weight and the bias bound, both 1 / sqrt(fan_in). */
    const double bound = 1.0 / sqrt((double)dim);
    dy_rng r;
    dy_rng_init(&r, o.seed, DY_RNG_EVAL, 0, 0);
    for (int64_t i = 0; i < p->n_params; i++) p->params[i] = (float)dy_rng_range(&r, -bound, bound);
    *out = p;
    return DY_OK;
}

void dy_probe_destroy(dy_probe *p) {
    if (!p) return;
    dy_free(p->params);
    dy_free(p->grads);
    dy_free(p->exp_avg);
    dy_free(p->exp_avg_sq);
    dy_free(p->logits);
    dy_free(p);
}

float *dy_probe_weight(dy_probe *p) { return p->params; }
float *dy_probe_bias(dy_probe *p) { return p->params + p->classes * p->dim; }
int64_t dy_probe_dim(const dy_probe *p) { return p->dim; }
int64_t dy_probe_classes(const dy_probe *p) { return p->classes; }
int64_t dy_probe_steps(const dy_probe *p) { return p->steps; }

static int threads_of(dy_ctx *ctx) { return ctx ? dy_ctx_threads(ctx) : 1; }

/* Multiply-adds below which a pass runs on one thread: a probe batch (256 x 512 x 10) is about a millisecond of work,
 * less than what thread wake-ups and barriers cost on a busy machine. The result is the same either way. */
#define PROBE_PARALLEL_MIN ((int64_t)1 << 22)

/* A dot product in 16 independent lanes (vectorisable without reassociating floats, and the same sum whatever the
 * compiler does with it), the tail into lane 0, then the lanes added in order. */
static float dot(const float *restrict a, const float *restrict b, int64_t n) {
    enum { LANES = 16 };
    float acc[LANES] = {0};
    int64_t p = 0;
    for (; p + LANES <= n; p += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += a[p + l] * b[p + l];
    for (; p < n; p++) acc[0] += a[p] * b[p];
    float s = 0;
    for (int l = 0; l < LANES; l++) s += acc[l];
    return s;
}

/* logits [n, classes] = features [n, dim] · weight^T + bias. */
static void forward(const float *params, int64_t dim, int64_t classes, const float *x, int64_t n, float *logits,
                    int threads) {
    const float *bias = params + classes * dim;
#pragma omp parallel for num_threads(threads) schedule(static) if (n * dim * classes >= PROBE_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < classes; c++) {
            logits[i * classes + c] = dot(x + i * dim, params + c * dim, dim) + bias[c];
        }
}

static dy_status ensure_logits(dy_ctx *ctx, dy_probe *p, int64_t n) {
    if (n <= p->logit_rows) return DY_OK;
    dy_free(p->logits);
    p->logits = dy_alloc((size_t)(n * p->classes) * sizeof(float));
    p->logit_rows = p->logits ? n : 0;
    return p->logits ? DY_OK : dy_fail(ctx, DY_ERR_NOMEM, "linear probe: cannot allocate logits for %lld rows", (long long)n);
}

/* Features must be finite; labels (when need_labels) present and in range. */
static dy_status check_batch(dy_ctx *ctx, const dy_probe *p, const float *x, const int64_t *labels, int64_t n,
                             bool need_labels) {
    if (!x || (need_labels && !labels)) return dy_fail(ctx, DY_ERR_INVALID, "linear probe: features or labels are NULL");
    if (n < 1) return dy_fail(ctx, DY_ERR_INVALID, "linear probe: a batch of %lld rows, expected >= 1", (long long)n);
    for (int64_t i = 0; labels && i < n; i++)
        if (labels[i] < 0 || labels[i] >= p->classes)
            return dy_fail(ctx, DY_ERR_INVALID, "linear probe: label %lld of row %lld is outside [0, %lld)",
                           (long long)labels[i], (long long)i, (long long)p->classes);
    for (int64_t i = 0; i < n * p->dim; i++)
        if (!isfinite(x[i]))
            return dy_fail(ctx, DY_ERR_NUMERIC, "linear probe: feature [%lld, %lld] is %g", (long long)(i / p->dim),
                           (long long)(i % p->dim), (double)x[i]);
    return DY_OK;
}

dy_status dy_probe_loss_grad(dy_ctx *ctx, dy_probe *p, const float *x, const int64_t *labels, int64_t n,
                             double *loss, float *grad_weight, float *grad_bias) {
    dy_status st = check_batch(ctx, p, x, labels, n, true);
    if (st == DY_OK) st = ensure_logits(ctx, p, n);
    if (st != DY_OK) return st;
    const int64_t dim = p->dim, classes = p->classes;
    const int threads = threads_of(ctx);
    float *z = p->logits;
    forward(p->params, dim, classes, x, n, z, threads);
    /* Softmax in place: z becomes d(loss)/d(logits) = (softmax - onehot) / n. */
    double total = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : total) \
    if (n * dim * classes >= PROBE_PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) {
        float *zi = z + i * classes;
        float m = zi[0];
        for (int64_t c = 1; c < classes; c++) m = zi[c] > m ? zi[c] : m;
        double sum = 0;
        for (int64_t c = 0; c < classes; c++) sum += exp((double)zi[c] - m);
        total += (double)m + log(sum) - zi[labels[i]];
        for (int64_t c = 0; c < classes; c++) zi[c] = (float)(exp((double)zi[c] - m) / sum / (double)n);
        zi[labels[i]] -= (float)(1.0 / (double)n);
    }
    if (loss) *loss = total / (double)n;
    if (!isfinite(total))
        return dy_fail(ctx, DY_ERR_NUMERIC, "linear probe: the loss is %g (features too large?)", total / (double)n);
    if (grad_bias)
        for (int64_t c = 0; c < classes; c++) {
            float s = 0;
            for (int64_t i = 0; i < n; i++) s += z[i * classes + c];
            grad_bias[c] = s;
        }
    if (grad_weight) {
        /* Split over feature columns, so that small class counts still use every thread. */
        const int64_t chunk = 64, chunks = (dim + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) schedule(static) if (n * dim * classes >= PROBE_PARALLEL_MIN)
        for (int64_t k = 0; k < chunks; k++) {
            const int64_t p0 = k * chunk, p1 = p0 + chunk < dim ? p0 + chunk : dim;
            for (int64_t c = 0; c < classes; c++) {
                float *gw = grad_weight + c * dim;
                for (int64_t q = p0; q < p1; q++) gw[q] = 0;
                for (int64_t i = 0; i < n; i++) {
                    const float g = z[i * classes + c];
                    const float *xi = x + i * dim;
                    for (int64_t q = p0; q < p1; q++) gw[q] += g * xi[q];
                }
            }
        }
    }
    return DY_OK;
}

dy_status dy_probe_step(dy_ctx *ctx, dy_probe *p, const float *features, const int64_t *labels, int64_t n,
                        float *loss) {
    if (!p) return dy_fail(ctx, DY_ERR_INVALID, "linear probe: probe is NULL");
    double l = 0;
    dy_status st = dy_probe_loss_grad(ctx, p, features, labels, n, &l, p->grads, p->grads + p->classes * p->dim);
    if (st != DY_OK) return st;
    if (loss) *loss = (float)l;
    dy_adam_options o = dy_adam_defaults();
    o.lr = p->opts.lr;
    o.weight_decay = p->opts.weight_decay;
    st = dy_adam_step(ctx, &o, p->params, p->grads, p->exp_avg, p->exp_avg_sq, p->n_params, p->steps);
    if (st == DY_OK) p->steps++;
    return st;
}

dy_status dy_probe_train(dy_ctx *ctx, dy_probe *p, int64_t n_train, dy_probe_batch_fn batch_fn,
                         dy_probe_epoch_fn epoch_fn, void *user) {
    if (!p || !batch_fn) return dy_fail(ctx, DY_ERR_INVALID, "linear probe: probe or batch function is NULL");
    if (n_train < 1) return dy_fail(ctx, DY_ERR_INVALID, "linear probe: %lld training samples", (long long)n_train);
    const int64_t bs = p->opts.batch_size < n_train ? p->opts.batch_size : n_train;
    int64_t *order = dy_alloc((size_t)n_train * sizeof *order);
    int64_t *labels = dy_alloc((size_t)bs * sizeof *labels);
    float *features = dy_alloc((size_t)(bs * p->dim) * sizeof *features);
    dy_status st = DY_OK;
    if (!order || !labels || !features) {
        st = dy_fail(ctx, DY_ERR_NOMEM, "linear probe: cannot allocate a batch of %lld x %lld", (long long)bs,
                     (long long)p->dim);
        goto done;
    }
    for (int64_t e = 0; e < p->opts.epochs && st == DY_OK; e++) {
        dy_rng r;
        dy_rng_init(&r, p->opts.seed, DY_RNG_EVAL, 1, (uint32_t)e);
        for (int64_t i = 0; i < n_train; i++) order[i] = i;
        for (int64_t i = n_train - 1; i > 0; i--) {
            int64_t j = (int64_t)dy_rng_below(&r, (uint64_t)i + 1);
            int64_t t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        double loss_sum = 0;
        int64_t batches = 0;
        for (int64_t b0 = 0; b0 < n_train && st == DY_OK; b0 += bs) {
            const int64_t count = n_train - b0 < bs ? n_train - b0 : bs;
            st = batch_fn(user, e, order + b0, count, features, labels);
            float loss = 0;
            if (st == DY_OK) st = dy_probe_step(ctx, p, features, labels, count, &loss);
            loss_sum += loss;
            batches++;
        }
        if (st == DY_OK && epoch_fn) st = epoch_fn(user, e, loss_sum / (double)batches);
    }
done:
    dy_free(order);
    dy_free(labels);
    dy_free(features);
    return st;
}

typedef struct {
    dy_ctx *ctx;
    const float *features;
    const int64_t *labels;
    int64_t n, dim;
    dy_probe_epoch_fn epoch_fn;
    void *user;
} cached_source;

static dy_status cached_batch(void *user, int64_t epoch, const int64_t *indices, int64_t count, float *features,
                              int64_t *labels) {
    (void)epoch;
    const cached_source *s = user;
    for (int64_t i = 0; i < count; i++) {
        memcpy(features + i * s->dim, s->features + indices[i] * s->dim, (size_t)s->dim * sizeof(float));
        labels[i] = s->labels[indices[i]];
    }
    return DY_OK;
}

static dy_status cached_epoch(void *user, int64_t epoch, double mean_loss) {
    const cached_source *s = user;
    return s->epoch_fn ? s->epoch_fn(s->user, epoch, mean_loss) : DY_OK;
}

dy_status dy_probe_train_cached(dy_ctx *ctx, dy_probe *p, const float *features, const int64_t *labels,
                                int64_t n_train, dy_probe_epoch_fn epoch_fn, void *user) {
    if (!p || !features || !labels)
        return dy_fail(ctx, DY_ERR_INVALID, "linear probe: probe, features or labels are NULL");
    /* Checked once here, so that a bad row is reported by its index in the cached set. */
    dy_status st = check_batch(ctx, p, features, labels, n_train, true);
    if (st != DY_OK) return st;
    cached_source s = {ctx, features, labels, n_train, p->dim, epoch_fn, user};
    return dy_probe_train(ctx, p, n_train, cached_batch, cached_epoch, &s);
}

dy_status dy_probe_predict(dy_ctx *ctx, const dy_probe *p, const float *features, int64_t n, int64_t *ranked,
                           float *logits) {
    if (!p) return dy_fail(ctx, DY_ERR_INVALID, "linear probe: probe is NULL");
    dy_status st = check_batch(ctx, p, features, NULL, n, false);
    if (st != DY_OK) return st;
    const int64_t classes = p->classes;
    const int threads = threads_of(ctx);
    /* In slices, so that memory stays small when the caller wants only the ranking. */
    const int64_t slice = 1024;
    float *z = logits ? NULL : dy_alloc((size_t)((n < slice ? n : slice) * classes) * sizeof(float));
    if (!logits && !z) return dy_fail(ctx, DY_ERR_NOMEM, "linear probe: cannot allocate logits");
    for (int64_t i0 = 0; i0 < n; i0 += slice) {
        const int64_t rows = n - i0 < slice ? n - i0 : slice;
        float *zs = logits ? logits + i0 * classes : z;
        forward(p->params, p->dim, classes, features + i0 * p->dim, rows, zs, threads);
        for (int64_t i = 0; ranked && i < rows; i++) {
            int64_t *r = ranked + (i0 + i) * DY_EVAL_TOPK;
            const float *zi = zs + i * classes;
            for (int k = 0; k < DY_EVAL_TOPK; k++) {
                int64_t best = -1;
                for (int64_t c = 0; c < classes; c++) {
                    int taken = 0;
                    for (int q = 0; q < k; q++) taken |= r[q] == c;
                    if (!taken && (best < 0 || zi[c] > zi[best])) best = c;
                }
                r[k] = best;
            }
        }
    }
    dy_free(z);
    return DY_OK;
}

dy_status dy_probe_evaluate(dy_ctx *ctx, const dy_probe *p, const float *features, const int64_t *labels, int64_t n,
                            int64_t *ranked, dy_eval_accuracy *out) {
    if (!out) return dy_fail(ctx, DY_ERR_INVALID, "linear probe: accuracy output is NULL");
    memset(out, 0, sizeof *out);
    if (!labels) return dy_fail(ctx, DY_ERR_INVALID, "linear probe: test labels are NULL");
    if (n < 1) return dy_fail(ctx, DY_ERR_INVALID, "linear probe: %lld test rows", (long long)n);
    int64_t *own = NULL;
    if (!ranked) {
        own = dy_alloc((size_t)n * DY_EVAL_TOPK * sizeof *own);
        if (!own) return dy_fail(ctx, DY_ERR_NOMEM, "linear probe: cannot allocate predictions");
        ranked = own;
    }
    dy_status st = dy_probe_predict(ctx, p, features, n, ranked, NULL);
    if (st == DY_OK) st = dy_eval_accuracy_compute(ctx, ranked, labels, n, p->classes, out);
    dy_free(own);
    return st;
}
