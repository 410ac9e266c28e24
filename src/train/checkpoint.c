/* A checkpoint of the run: the union of the named tensors of its objects (pretrain.h says which), one safetensors
 * file written and read through the tensor-file module (src/io/tensor_file.h), with the encoder's metadata. A load
 * checks the whole file before anything changes. */
#include <stdlib.h>
#include <string.h>

#include "core/context.h"
#include "io/tensor_file.h"
#include "loss/loss_state.h"
#include "model/encoder_meta.h"
#include "model/model.h"
#include "train/trainer_internal.h"

/* "trainer.counters": the step, and the MoCo queue's position (its length and head; 0, 0 without a queue), which the
 * loss holds and the trainer stores with its step. */
enum { COUNTER_STEP, COUNTER_QUEUE_LENGTH, COUNTER_QUEUE_HEAD, COUNTERS };
static const char counters_name[] = "trainer.counters";

static void counters_of(const dy_trainer *t, int64_t c[COUNTERS]) {
    c[COUNTER_STEP] = t->step;
    dy_loss_queue_position(t->loss, &c[COUNTER_QUEUE_LENGTH], &c[COUNTER_QUEUE_HEAD]);
}

static bool counters_fit(const dy_trainer *t, const int64_t c[COUNTERS]) {
    return c[COUNTER_STEP] >= 0 && dy_loss_queue_position_fits(t->loss, c[COUNTER_QUEUE_LENGTH], c[COUNTER_QUEUE_HEAD]);
}

static void counters_restore(dy_trainer *t, const int64_t c[COUNTERS]) {
    t->step = c[COUNTER_STEP];
    t->saved_step = t->step;
    dy_loss_queue_set_position(t->loss, c[COUNTER_QUEUE_LENGTH], c[COUNTER_QUEUE_HEAD]);
}

/* The run's state, the union of what each object holds, in the order of the file: the model (torchvision names, so
 * that a checkpoint also loads as weights), the optimizer's state, MoCo's key encoder and queue, then the trainer's
 * own: counters [step, queue length, queue head], the best kNN so far, the format version. counters and version
 * are staged in the caller's memory. The adaptive profile's bounds are state; a temperature schedule's tensors are
 * configuration, compared on load (tau_schedule_matches). */
static void list_state(dy_trainer *t, dy_tensor_list *l, int64_t counters[COUNTERS], int64_t *version) {
    int64_t three = COUNTERS, one = 1;
    dy_model_list_tensors(t->model, l, "", true);
    dy_optimizer_list_tensors(t->opt, l);
    if (t->key_model) dy_model_list_tensors(t->key_model, l, "key_encoder.", true);
    dy_loss_list_tensors(t->loss, l);
    if (t->cfg.tau_adapt.on) dy_tau_adapt_list_tensors(&t->adapt, l);
    dy_tau_schedule_list_tensors(&t->cfg.tau_schedule, t->tau_spec, l);
    dy_tensor_list_add(l, "trainer.", "counters", DY_DTYPE_I64, DY_DTYPE_I64, 1, &three, counters);
    dy_tensor_list_add(l, "trainer.", "best_knn", DY_DTYPE_F64, DY_DTYPE_F64, 1, &one, &t->best_knn);
    dy_tensor_list_add(l, "trainer.", "version", DY_DTYPE_I64, DY_DTYPE_I64, 1, &one, version);
}

dy_status dy_trainer_save_checkpoint(dy_trainer *t, const char *path) {
    int64_t counters[COUNTERS], version = DY_CHECKPOINT_VERSION;
    counters_of(t, counters);
    dy_tensor_list l = {0};
    list_state(t, &l, counters, &version);
    if (t->cfg.config_text) {
        /* the options the run was made with, so that a resume can be checked against them (never loaded back) */
        int64_t len = (int64_t)strlen(t->cfg.config_text);
        dy_tensor_list_add(&l, "", DY_CHECKPOINT_CONFIG, DY_DTYPE_U8, DY_DTYPE_U8, 1, &len,
                           (void *)t->cfg.config_text);
    }
    /* the encoder's architecture and the normalisation it is trained with, for `dystress export` and PyTorch users
     * (src/model/encoder_meta.h): the views' size and Normalize, which the file cannot tell otherwise */
    dy_encoder_meta meta = dy_encoder_meta_of_model(t->model);
    dy_encoder_meta_set_input(&meta, &t->cfg.augment);
    dy_encoder_meta_text text;
    dy_encoder_meta_format(&meta, &text);
    dy_status st = dy_tensor_file_save_meta(t->ctx, path, &l, text.items, text.count);
    dy_tensor_list_free(&l);
    return st;
}

/* The schedule a checkpoint was trained with against this run's (both already the same shapes): a table edited
 * between a run and its resume, or another schedule, would make the resumed run differ from an uninterrupted one. */
static bool tau_schedule_matches(const dy_trainer *t, const dy_st_file *f) {
    const dy_tau_schedule *s = &t->cfg.tau_schedule;
    if (s->kind == DY_TAU_SCHEDULE_CONSTANT) return true;
    if (!dy_tensor_file_holds(f, "tau_schedule.spec", t->tau_spec, sizeof t->tau_spec)) return false;
    return s->kind != DY_TAU_SCHEDULE_FILE ||
           dy_tensor_file_holds(f, "tau_schedule.table", s->table, (size_t)s->rows * 3 * sizeof(double));
}

dy_status dy_trainer_load_checkpoint(dy_trainer *t, const char *path) {
    int64_t counters[COUNTERS], version;
    dy_st_file f;
    dy_status st = dy_st_read(t->ctx, path, &f);
    if (st != DY_OK) return st;
    /* another version first: its tensors may differ, and the version is what to tell */
    if (dy_tensor_file_i64(&f, "trainer.version", &version, 1) && version != DY_CHECKPOINT_VERSION) {
        st = dy_fail(t->ctx, DY_ERR_MISMATCH, "%s: checkpoint format version %lld, this build reads %d", path,
                     (long long)version, DY_CHECKPOINT_VERSION);
        goto done;
    }
    dy_tensor_list l = {0};
    list_state(t, &l, counters, &version);
    /* the stored configuration is the caller's to compare (dy_checkpoint_read_config), not state to restore */
    dy_tensor_file_rules rules = {.what = "a checkpoint of this model and training setup",
                                  .ignore_prefix = DY_CHECKPOINT_CONFIG};
    if ((st = dy_tensor_file_check(t->ctx, path, &f, &l, &rules)) == DY_OK) {
        int64_t c[COUNTERS];
        dy_tensor_file_i64(&f, counters_name, c, COUNTERS);
        if (!counters_fit(t, c)) {
            st = dy_fail(t->ctx, DY_ERR_FORMAT, "%s: counters (step %lld, queue length %lld, position %lld) do not "
                         "fit a queue of %lld keys", path, (long long)c[COUNTER_STEP],
                         (long long)c[COUNTER_QUEUE_LENGTH], (long long)c[COUNTER_QUEUE_HEAD],
                         (long long)dy_loss_get_options(t->loss)->queue_capacity);
        } else if (c[COUNTER_STEP] > t->total_steps) {
            st = dy_fail(t->ctx, DY_ERR_MISMATCH, "%s: step %lld is outside this run's %lld steps", path,
                         (long long)c[COUNTER_STEP], (long long)t->total_steps);
        } else if (!tau_schedule_matches(t, &f)) {
            st = dy_fail(t->ctx, DY_ERR_MISMATCH, "%s: the temperature schedule (tau_schedule.spec/table) differs "
                         "from this run's --tau-schedule %s%s%s: was the schedule file changed since the run began?",
                         path, dy_tau_schedule_name(t->cfg.tau_schedule.kind),
                         t->cfg.tau_schedule.file ? " " : "", t->cfg.tau_schedule.file ? t->cfg.tau_schedule.file : "");
        } else {
            dy_tensor_file_copy(&f, &l);
            counters_restore(t, counters);
            if (t->cfg.tau_adapt.on) {
                dy_tau_profile p = dy_tau_adapt_profile(&t->cfg.tau, &t->adapt);
                dy_tau_adapt_apply(t->loss, &p);
            }
            if (t->step < t->total_steps)
                st = dy_loader_seek(t->loader, t->step / t->steps_per_epoch, t->step % t->steps_per_epoch);
        }
    }
    dy_tensor_list_free(&l);
done:
    dy_st_free(&f);
    return st;
}

dy_status dy_checkpoint_read_config(dy_ctx *ctx, const char *path, char **config) {
    *config = NULL;
    dy_st_file f;
    dy_status st = dy_st_read(ctx, path, &f);
    if (st != DY_OK) return st;
    const dy_st_tensor *t = dy_st_find(&f, DY_CHECKPOINT_CONFIG);
    if (t && (t->dtype != DY_ST_U8 || t->ndim != 1 || memchr(t->data, 0, t->nbytes)))
        st = dy_fail(ctx, DY_ERR_FORMAT, "%s: tensor '%s' is not a U8 text", path, DY_CHECKPOINT_CONFIG);
    else if (t && !(*config = malloc(t->nbytes + 1)))
        st = dy_fail(ctx, DY_ERR_NOMEM, "out of memory reading %s", path);
    else if (t) {
        memcpy(*config, t->data, t->nbytes);
        (*config)[t->nbytes] = 0;
    }
    dy_st_free(&f);
    return st;
}

dy_status dy_trainer_checkpoint_named(dy_trainer *t, const char *name) {
    if (t->comm->rank != 0) return DY_OK; /* every process holds the same global state: rank 0 writes it */
    char path[4096];
    dy_run_path(path, sizeof path, t, name);
    dy_status st = dy_trainer_save_checkpoint(t, path);
    if (st != DY_OK) {
        char msg[1200];
        snprintf(msg, sizeof msg, "%s", dy_ctx_error(t->ctx));
        if (t->saved_step >= 0)
            return dy_fail(t->ctx, st, "%s; stopped after step %lld, checkpoint-latest (step %lld) is intact", msg,
                           (long long)t->step, (long long)t->saved_step);
        return dy_fail(t->ctx, st, "%s; stopped after step %lld, no checkpoint was written", msg, (long long)t->step);
    }
    return DY_OK;
}

dy_status dy_checkpoint_read_step(dy_ctx *ctx, const char *path, int64_t *step) {
    *step = -1;
    dy_st_file f;
    dy_status st = dy_st_read(ctx, path, &f);
    if (st != DY_OK) return st;
    int64_t c[COUNTERS];
    if (dy_tensor_file_i64(&f, counters_name, c, COUNTERS)) *step = c[COUNTER_STEP];
    dy_st_free(&f);
    return DY_OK;
}
