/* Fine-tuning evaluation: the encoder and a linear head trained end to end by cross-entropy (see eval.h). The head is
 * a dy_probe (its initialisation, storage and predictions); its gradient and d(loss)/dh are computed here, the
 * encoder's by dy_model_backward. */
#include <math.h>
#include <string.h>

#include "core/context.h"
#include "dystress/optim.h"

struct dy_finetune {
    dy_model *model;               /* not owned */
    dy_probe *head;
    dy_finetune_options opts;
    int64_t dim, classes, n_model, n_head;
    float *model_m1, *model_m2;    /* optimizer state over the encoder's parameters [n_model] (m2: Adam) */
    float *head_m1, *head_m2;      /* ... and the head's [n_head] */
    float *head_grad;              /* [n_head] */
    float *features, *logits, *dfeatures; /* work: [rows, dim], [rows, classes], [rows, dim] */
    int64_t rows;
    int64_t steps;
};

dy_finetune_options dy_finetune_defaults(void) {
    return (dy_finetune_options){.optimizer = DY_FINETUNE_SGD, .lr = 0.01, .momentum = 0.9, .weight_decay = 0};
}

void dy_finetune_destroy(dy_finetune *ft) {
    if (!ft) return;
    dy_probe_destroy(ft->head);
    dy_free(ft->model_m1);
    dy_free(ft->model_m2);
    dy_free(ft->head_m1);
    dy_free(ft->head_m2);
    dy_free(ft->head_grad);
    dy_free(ft->features);
    dy_free(ft->logits);
    dy_free(ft->dfeatures);
    dy_free(ft);
}

dy_probe *dy_finetune_probe(dy_finetune *ft) { return ft ? ft->head : NULL; }

/* zeroed buffers of n floats (the optimizers' state starts at zero) */
static float *zeros(int64_t n) {
    float *p = dy_alloc((size_t)(n > 0 ? n : 1) * sizeof(float));
    if (p) memset(p, 0, (size_t)(n > 0 ? n : 1) * sizeof(float));
    return p;
}

dy_status dy_finetune_create(dy_ctx *ctx, dy_finetune **out, dy_model *model, int64_t classes,
                             const dy_finetune_options *opts) {
    if (!out || !model) return dy_fail(ctx, DY_ERR_INVALID, "fine-tuning: NULL argument");
    *out = NULL;
    dy_finetune_options o = opts ? *opts : dy_finetune_defaults();
    if (!(o.lr >= 0 && isfinite(o.lr)) || !(o.momentum >= 0 && o.momentum < 1) ||
        !(o.weight_decay >= 0 && isfinite(o.weight_decay)) ||
        (o.optimizer != DY_FINETUNE_SGD && o.optimizer != DY_FINETUNE_ADAM))
        return dy_fail(ctx, DY_ERR_INVALID, "fine-tuning: bad options (lr %g, momentum %g, weight decay %g)", o.lr,
                       o.momentum, o.weight_decay);
    if (dy_model_get_config(model)->head)
        return dy_fail(ctx, DY_ERR_INVALID, "fine-tuning: the model must have no projection head (its output is h)");
    if (classes < 1) return dy_fail(ctx, DY_ERR_INVALID, "fine-tuning: %lld classes", (long long)classes);
    dy_finetune *ft = dy_alloc(sizeof *ft);
    if (!ft) return dy_fail(ctx, DY_ERR_NOMEM, "fine-tuning: out of memory");
    memset(ft, 0, sizeof *ft);
    ft->model = model;
    ft->opts = o;
    ft->dim = dy_model_feature_dim(model);
    ft->classes = classes;
    dy_model_params(model, &ft->n_model);
    ft->n_head = classes * ft->dim + classes;
    dy_probe_options po = dy_probe_defaults();
    po.seed = o.seed;
    dy_status st = dy_probe_create(ctx, &ft->head, ft->dim, classes, &po);
    if (st != DY_OK) {
        dy_finetune_destroy(ft);
        return st;
    }
    bool adam = o.optimizer == DY_FINETUNE_ADAM;
    ft->model_m1 = zeros(ft->n_model);
    ft->head_m1 = zeros(ft->n_head);
    ft->head_grad = zeros(ft->n_head);
    if (adam) ft->model_m2 = zeros(ft->n_model), ft->head_m2 = zeros(ft->n_head);
    if (!ft->model_m1 || !ft->head_m1 || !ft->head_grad || (adam && (!ft->model_m2 || !ft->head_m2))) {
        dy_finetune_destroy(ft);
        return dy_fail(ctx, DY_ERR_NOMEM, "fine-tuning: out of memory for the optimizer's state");
    }
    *out = ft;
    return DY_OK;
}

static dy_status ensure_rows(dy_ctx *ctx, dy_finetune *ft, int64_t n) {
    if (n <= ft->rows) return DY_OK;
    dy_free(ft->features), dy_free(ft->logits), dy_free(ft->dfeatures);
    ft->features = dy_alloc((size_t)(n * ft->dim) * sizeof(float));
    ft->dfeatures = dy_alloc((size_t)(n * ft->dim) * sizeof(float));
    ft->logits = dy_alloc((size_t)(n * ft->classes) * sizeof(float));
    ft->rows = ft->features && ft->dfeatures && ft->logits ? n : 0;
    if (ft->rows) return DY_OK;
    return dy_fail(ctx, DY_ERR_NOMEM, "fine-tuning: out of memory for a batch of %lld", (long long)n);
}

dy_status dy_finetune_loss_grad(dy_ctx *ctx, dy_finetune *ft, const float *images, const int64_t *labels,
                                int64_t n, int64_t h, int64_t w, double *loss, float *head_grad) {
    if (!ft || !images || !labels) return dy_fail(ctx, DY_ERR_INVALID, "fine-tuning: NULL argument");
    if (n < 2) return dy_fail(ctx, DY_ERR_INVALID, "fine-tuning: a batch of %lld, batch norm needs 2 or more",
                              (long long)n);
    const int64_t C = ft->classes, D = ft->dim;
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= C)
            return dy_fail(ctx, DY_ERR_INVALID, "fine-tuning: label %lld of row %lld is outside [0, %lld)",
                           (long long)labels[i], (long long)i, (long long)C);
    dy_status st = ensure_rows(ctx, ft, n);
    if (st != DY_OK) return st;
    if ((st = dy_model_forward_train(ft->model, images, n, h, w, NULL, ft->features)) != DY_OK) return st;
    if ((st = dy_probe_predict(ctx, ft->head, ft->features, n, NULL, ft->logits)) != DY_OK) return st;
    /* softmax cross-entropy, mean over the batch: dlogits = (softmax - onehot) / n, kept in ft->logits */
    double total = 0;
    for (int64_t i = 0; i < n; i++) {
        float *z = ft->logits + i * C;
        double m = z[0], sum = 0;
        for (int64_t c = 1; c < C; c++) m = z[c] > m ? z[c] : m;
        for (int64_t c = 0; c < C; c++) sum += exp((double)z[c] - m);
        total += log(sum) + m - (double)z[labels[i]];
        for (int64_t c = 0; c < C; c++)
            z[c] = (float)((exp((double)z[c] - m) / sum - (c == labels[i] ? 1.0 : 0.0)) / (double)n);
    }
    if (!isfinite(total)) return dy_fail(ctx, DY_ERR_NUMERIC, "fine-tuning: the loss is not finite");
    if (loss) *loss = total / (double)n;
    /* head: dW [C, D] = dlogits^T h, db = column sums; encoder: dh [n, D] = dlogits W */
    const float *W = dy_probe_weight(ft->head);
    float *g = head_grad ? head_grad : ft->head_grad;
    for (int64_t c = 0; c < C; c++) {
        float *gw = g + c * D;
        double gb = 0;
        for (int64_t k = 0; k < D; k++) gw[k] = 0;
        for (int64_t i = 0; i < n; i++) {
            float d = ft->logits[i * C + c];
            gb += d;
            const float *hi = ft->features + i * D;
            for (int64_t k = 0; k < D; k++) gw[k] += d * hi[k];
        }
        g[C * D + c] = (float)gb;
    }
    for (int64_t i = 0; i < n; i++) {
        float *dh = ft->dfeatures + i * D;
        for (int64_t k = 0; k < D; k++) dh[k] = 0;
        for (int64_t c = 0; c < C; c++) {
            float d = ft->logits[i * C + c];
            const float *wc = W + c * D;
            for (int64_t k = 0; k < D; k++) dh[k] += d * wc[k];
        }
    }
    return dy_model_backward(ft->model, ft->dfeatures);
}

dy_status dy_finetune_step(dy_ctx *ctx, dy_finetune *ft, const float *images, const int64_t *labels, int64_t n,
                           int64_t h, int64_t w, double *loss) {
    dy_status st = dy_finetune_loss_grad(ctx, ft, images, labels, n, h, w, loss, ft ? ft->head_grad : NULL);
    if (st != DY_OK) return st;
    float *params = dy_model_params(ft->model, NULL), *grads = dy_model_grads(ft->model, NULL);
    float *head = dy_probe_weight(ft->head); /* weight then bias: one flat buffer */
    if (ft->opts.optimizer == DY_FINETUNE_SGD) {
        dy_sgd_options so = {.lr = ft->opts.lr, .momentum = ft->opts.momentum, .weight_decay = ft->opts.weight_decay};
        st = dy_sgd_step(ctx, &so, params, grads, ft->model_m1, ft->n_model, ft->steps);
        if (st == DY_OK) st = dy_sgd_step(ctx, &so, head, ft->head_grad, ft->head_m1, ft->n_head, ft->steps);
    } else {
        dy_adam_options ao = dy_adam_defaults();
        ao.lr = ft->opts.lr;
        ao.weight_decay = ft->opts.weight_decay;
        st = dy_adam_step(ctx, &ao, params, grads, ft->model_m1, ft->model_m2, ft->n_model, ft->steps);
        if (st == DY_OK)
            st = dy_adam_step(ctx, &ao, head, ft->head_grad, ft->head_m1, ft->head_m2, ft->n_head, ft->steps);
    }
    if (st == DY_OK) ft->steps++;
    return st;
}
