/* Model weights as safetensors with torchvision's names, so that files move between dystress and PyTorch; the
 * model's named tensors, which checkpoints hold too. */
#include <stdio.h>

#include "core/context.h"
#include "io/tensor_file.h"
#include "model/encoder_meta.h"
#include "model/model.h"

void dy_model_list_tensors(dy_model *m, dy_tensor_list *l, const char *prefix, bool with_head) {
    for (int64_t i = 0; i < m->n_tensors; i++) {
        const dy_tensor_info *t = &m->tensors[i];
        if (!with_head && t->in_head) continue;
        float *data = (t->kind == DY_TENSOR_PARAM ? m->params : m->state) + t->offset;
        dy_tensor_list_add(l, prefix, t->name, t->is_int64 ? DY_DTYPE_I64 : DY_DTYPE_F32, DY_DTYPE_F32, t->ndim,
                           t->shape, data);
    }
}

void dy_model_describe(const dy_model *m, char *buf, size_t size, bool with_head) {
    snprintf(buf, size, "this model (%sResNet-%d, width %lld%s)", m->config.dims == DY_DIMS_1D ? "1-D " : "",
             m->config.depth, (long long)m->config.width,
             with_head ? (m->config.head ? ", with head" : ", no head") : ", encoder only");
}

dy_status dy_model_save_weights(dy_model *m, const char *path, bool with_head) {
    dy_encoder_meta e = dy_encoder_meta_of_model(m);
    return dy_model_save_weights_meta(m, path, with_head, &e);
}

dy_status dy_model_save_weights_meta(dy_model *m, const char *path, bool with_head, const dy_encoder_meta *meta) {
    if (!path) return dy_fail(m->ctx, DY_ERR_INVALID, "dy_model_save_weights: no path");
    dy_encoder_meta_text text;
    dy_encoder_meta_format(meta, &text);
    dy_tensor_list l = {0};
    dy_model_list_tensors(m, &l, "", with_head);
    dy_status st = dy_tensor_file_save_meta(m->ctx, path, &l, text.items, text.count);
    dy_tensor_list_free(&l);
    return st;
}

dy_status dy_model_load_weights(dy_model *m, const char *path, bool with_head) {
    if (!path) return dy_fail(m->ctx, DY_ERR_INVALID, "dy_model_load_weights: no path");
    char what[96];
    dy_model_describe(m, what, sizeof what, with_head);
    /* with_head = false: the file's head, if any, is ignored */
    dy_tensor_file_rules rules = {.what = what, .ignore_prefix = with_head ? NULL : "head."};
    dy_tensor_list l = {0};
    dy_model_list_tensors(m, &l, "", with_head);
    dy_status st = dy_tensor_file_load(m->ctx, path, &l, &rules);
    dy_tensor_list_free(&l);
    return st;
}

dy_status dy_model_load_from(dy_model *m, const char *path) {
    char what[96];
    dy_model_describe(m, what, sizeof what, true);
    dy_tensor_file_rules rules = {.what = what, .allow_extra = true};
    dy_tensor_list l = {0};
    dy_model_list_tensors(m, &l, "", true);
    dy_status st = dy_tensor_file_load(m->ctx, path, &l, &rules);
    dy_tensor_list_free(&l);
    return st;
}
