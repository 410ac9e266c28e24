/* The pretraining loop as a library: each framework and optimizer runs and stays finite; a NaN stops the run with
 * the step named and leaves the last good checkpoint; checkpoints round-trip and refuse another model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
#include "data/dataset.h"
#include "io/safetensors.h"
#include "testlib.h"
#include "train/pretrain.h"

static dy_dataset *tiny_dataset(dy_ctx *ctx, int64_t count) {
    dy_dataset *ds = dy_dataset_alloc(count, 3, 16, 16);
    dy_rng r;
    dy_rng_init(&r, 1, DY_RNG_EVAL, 0, 0);
    for (int64_t i = 0; i < count; i++) {
        ds->labels[i] = (int32_t)(i % 4);
        for (int64_t p = 0; p < 3 * 16 * 16; p++)
            ds->pixels[i * 768 + p] = (uint8_t)(dy_rng_below(&r, 128) + 32 * ds->labels[i]);
    }
    if (dy_dataset_set_classes(ctx, ds, 4, NULL, "tiny") != DY_OK) return NULL;
    return ds;
}

/* Copies the safetensors file from to to with element k of the I64 tensor name set to v. */
static dy_status rewrite_i64(dy_ctx *ctx, const char *from, const char *to, const char *name, int64_t k, int64_t v) {
    dy_st_file f;
    dy_status st = dy_st_read(ctx, from, &f);
    if (st != DY_OK) return st;
    dy_st_entry *e = calloc((size_t)f.count, sizeof *e);
    int64_t changed[8] = {0};
    for (int64_t i = 0; e && i < f.count; i++) {
        const dy_st_tensor *t = &f.tensors[i];
        e[i] = (dy_st_entry){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(e[i].shape, t->shape, sizeof e[i].shape);
        if (!strcmp(t->name, name) && t->dtype == DY_ST_I64 && k < t->numel && t->numel <= 8) {
            memcpy(changed, t->data, t->nbytes);
            changed[k] = v;
            e[i].data = changed;
        }
    }
    st = e ? dy_st_write(ctx, to, e, f.count) : DY_ERR_NOMEM;
    free(e);
    dy_st_free(&f);
    return st;
}

static dy_pretrain_config base_config(dy_ctx *ctx, const dy_dataset *ds, const char *run_dir) {
    dy_pretrain_config c;
    memset(&c, 0, sizeof c);
    c.model = dy_model_config_default();
    c.model.width = 4;
    c.model.in_channels = 3;
    c.model.head_hidden = 32;
    c.model.head_out = 16;
    c.framework = DY_FRAMEWORK_SIMCLR;
    c.moco_momentum = 0.99;
    c.moco_queue = 64;
    c.tau = dy_tau_cosine(0.07f, 0.2f);
    c.optimizer = DY_OPTIMIZER_SGD;
    c.lr = 0.05;
    c.momentum = 0.9;
    c.weight_decay = 5e-4;
    c.lars_eta = 0.001;
    c.adam_beta1 = 0.9;
    c.adam_beta2 = 0.999;
    c.schedule = DY_SCHEDULE_COSINE;
    c.batch_size = 8;
    c.epochs = 1;
    c.seed = 5;
    c.loader_threads = 1;
    dy_augment_preset(ctx, &c.augment, "small", ds);
    c.knn_every = -1;
    c.knn = dy_knn_defaults();
    c.run_dir = run_dir;
    return c;
}

static double run_steps(dy_ctx *ctx, const dy_pretrain_config *c, const dy_dataset *ds, int64_t steps,
                        dy_status *st_out) {
    dy_pretrain_config cc = *c;
    cc.max_steps = steps;
    dy_trainer *t = NULL;
    dy_status st = dy_trainer_create(ctx, &cc, ds, NULL, &t);
    double sum = 0;
    if (st == DY_OK) {
        st = dy_trainer_run(t, NULL, NULL);
        const float *p = dy_model_params(dy_trainer_model(t), NULL);
        int64_t n;
        dy_model_params(dy_trainer_model(t), &n);
        for (int64_t i = 0; i < n; i++) sum += p[i];
    }
    dy_trainer_destroy(t);
    *st_out = st;
    return sum;
}

int main(void) {
    dy_ctx *ctx;
    dy_ctx_options co = {.threads = 2};
    if (dy_ctx_create(&ctx, &co) != DY_OK) return 1;
    char dir[128], cmd[256];
    snprintf(dir, sizeof dir, "/tmp/dystress-trainer-test-%d", (int)getpid());
    mkdir(dir, 0777);
    dy_dataset *ds = tiny_dataset(ctx, 32);
    CHECK(ds != NULL, "tiny data set");
    dy_pretrain_config c = base_config(ctx, ds, dir);

    /* every framework x optimizer runs three steps and stays finite */
    const char *names[] = {"simclr+sgd", "simclr+lars", "simclr+adam", "simclr+adamw", "moco+sgd", "moco+lars",
                           "simclr+dcl", "moco+dcl"};
    for (int k = 0; k < 8; k++) {
        dy_pretrain_config v = c;
        v.framework = (k == 4 || k == 5 || k == 7) ? DY_FRAMEWORK_MOCO : DY_FRAMEWORK_SIMCLR;
        v.optimizer = (k == 1 || k == 5) ? DY_OPTIMIZER_LARS : k == 2 ? DY_OPTIMIZER_ADAM
                      : k == 3 ? DY_OPTIMIZER_ADAMW : DY_OPTIMIZER_SGD;
        v.exclude_bn_bias = v.optimizer == DY_OPTIMIZER_LARS;
        v.decoupled = k >= 6;
        if (v.optimizer == DY_OPTIMIZER_LARS) v.lr = 1.0;
        if (v.optimizer == DY_OPTIMIZER_ADAM || v.optimizer == DY_OPTIMIZER_ADAMW) v.lr = 1e-3;
        dy_status st;
        double sum = run_steps(ctx, &v, ds, 3, &st);
        CHECK(st == DY_OK && isfinite(sum), "%s: three steps (%s)", names[k], st ? dy_ctx_error(ctx) : "ok");
    }

    /* same configuration, same result: the loop is deterministic */
    dy_status st1, st2;
    snprintf(cmd, sizeof cmd, "rm -f %s/*", dir);
    double s1 = run_steps(ctx, &c, ds, 3, &st1);
    if (system(cmd) != 0) return 1;
    double s2 = run_steps(ctx, &c, ds, 3, &st2);
    CHECK(st1 == DY_OK && st2 == DY_OK && s1 == s2, "two identical runs agree exactly (%.17g vs %.17g)", s1, s2);

    /* a NaN in the model stops the run at step 1, naming it, without overwriting the last good checkpoint */
    if (system(cmd) != 0) return 1;
    dy_trainer *t = NULL;
    dy_pretrain_config cc = c;
    cc.max_steps = 4;
    CHECK(dy_trainer_create(ctx, &cc, ds, NULL, &t) == DY_OK, "trainer for the NaN case");
    char ckpt[256];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-latest.safetensors", dir);
    CHECK(dy_trainer_save_checkpoint(t, ckpt) == DY_OK, "a good checkpoint first");
    struct stat before, after;
    stat(ckpt, &before);
    dy_model_params(dy_trainer_model(t), NULL)[0] = NAN;
    dy_status st = dy_trainer_run(t, NULL, NULL);
    CHECK(st == DY_ERR_NUMERIC && strstr(dy_ctx_error(ctx), "step 1"), "NaN stops at step 1: %s",
          dy_ctx_error(ctx));
    stat(ckpt, &after);
    CHECK(before.st_mtim.tv_nsec == after.st_mtim.tv_nsec && before.st_size == after.st_size,
          "the last good checkpoint is untouched");

    /* checkpoint round trip: load restores params and the step; another model is refused by name */
    dy_trainer_destroy(t);
    t = NULL;
    CHECK(dy_trainer_create(ctx, &cc, ds, NULL, &t) == DY_OK, "fresh trainer");
    int64_t n;
    float *p = dy_model_params(dy_trainer_model(t), &n);
    float *copy = malloc((size_t)n * sizeof *copy);
    memcpy(copy, p, (size_t)n * sizeof *copy);
    CHECK(dy_trainer_save_checkpoint(t, ckpt) == DY_OK, "save");
    for (int64_t i = 0; i < n; i++) p[i] += 1.0f;
    CHECK(dy_trainer_load_checkpoint(t, ckpt) == DY_OK, "load: %s", dy_ctx_error(ctx));
    CHECK(memcmp(p, copy, (size_t)n * sizeof *copy) == 0, "parameters restored exactly");
    dy_pretrain_config wide = cc;
    wide.model.width = 8;
    dy_trainer *t2 = NULL;
    CHECK(dy_trainer_create(ctx, &wide, ds, NULL, &t2) == DY_OK, "wider trainer");
    st = dy_trainer_load_checkpoint(t2, ckpt);
    CHECK(st == DY_ERR_MISMATCH && strstr(dy_ctx_error(ctx), "conv1.weight"), "another model refused: %s",
          dy_ctx_error(ctx));
    dy_pretrain_config moco = cc;
    moco.framework = DY_FRAMEWORK_MOCO;
    dy_trainer *t3 = NULL;
    CHECK(dy_trainer_create(ctx, &moco, ds, NULL, &t3) == DY_OK, "MoCo trainer");
    st = dy_trainer_load_checkpoint(t3, ckpt);
    CHECK(st == DY_ERR_MISMATCH && strstr(dy_ctx_error(ctx), "key_encoder"), "a SimCLR checkpoint is not a MoCo one: %s",
          dy_ctx_error(ctx));

    /* another format version is refused, naming it; counters that do not fit the queue are refused; nothing changes */
    char other[600];
    snprintf(other, sizeof other, "%s/other.safetensors", dir);
    for (int64_t i = 0; i < n; i++) p[i] += 1.0f;
    CHECK(rewrite_i64(ctx, ckpt, other, "trainer.version", 0, 2) == DY_OK, "a version 2 file written");
    st = dy_trainer_load_checkpoint(t, other);
    CHECK(st == DY_ERR_MISMATCH && strstr(dy_ctx_error(ctx), "version 2, this build reads 1"),
          "another format version refused: %s", dy_ctx_error(ctx));
    CHECK(rewrite_i64(ctx, ckpt, other, "trainer.counters", 1, 5) == DY_OK, "a file with a queue length written");
    st = dy_trainer_load_checkpoint(t, other);
    CHECK(st == DY_ERR_FORMAT && strstr(dy_ctx_error(ctx), "queue length 5"),
          "a queue length without a queue refused: %s", dy_ctx_error(ctx));
    CHECK(rewrite_i64(ctx, ckpt, other, "trainer.counters", 0, 1000000) == DY_OK, "a file past the end written");
    st = dy_trainer_load_checkpoint(t, other);
    CHECK(st == DY_ERR_MISMATCH && strstr(dy_ctx_error(ctx), "outside this run"), "a step past the run refused: %s",
          dy_ctx_error(ctx));
    CHECK(p[0] == copy[0] + 1.0f && dy_trainer_step_count(t) == 0, "refused loads changed nothing");

    /* bad configurations are refused with a message */
    dy_pretrain_config bad = c;
    bad.batch_size = 64;
    dy_trainer *t4 = NULL;
    CHECK(dy_trainer_create(ctx, &bad, ds, NULL, &t4) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "fewer than"),
          "batch larger than the data refused: %s", dy_ctx_error(ctx));
    bad = c;
    bad.model.in_channels = 1;
    CHECK(dy_trainer_create(ctx, &bad, ds, NULL, &t4) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "channels"),
          "channel mismatch refused: %s", dy_ctx_error(ctx));

    free(copy);
    dy_trainer_destroy(t);
    dy_trainer_destroy(t2);
    dy_trainer_destroy(t3);
    dy_dataset_free(ds);
    dy_ctx_destroy(ctx);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish();
}
