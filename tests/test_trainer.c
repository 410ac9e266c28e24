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
#include "model/encoder_meta.h"
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

/* issue 25: the values of key in the step rows of run_dir/metrics.jsonl, in order (at most max); the count. */
static int metric_rows(const char *run_dir, const char *key, double *out, int max) {
    char path[512], line[4096], pat[64];
    snprintf(path, sizeof path, "%s/metrics.jsonl", run_dir);
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    FILE *f = fopen(path, "r");
    int n = 0;
    while (f && n < max && fgets(line, sizeof line, f)) {
        if (!strstr(line, "\"loss\": ")) continue;
        const char *v = strstr(line, pat);
        out[n++] = v ? strtod(v + strlen(pat), NULL) : NAN;
    }
    if (f) fclose(f);
    return n;
}

/* Trains cfg in run_dir until max_steps (0: the end), first loading checkpoint-latest when resume; the final
 * parameters into *params (malloc'ed). */
static dy_status train_in(dy_ctx *ctx, const dy_pretrain_config *cfg, const dy_dataset *ds, const char *run_dir,
                          int64_t max_steps, bool resume, float **params, int64_t *n) {
    dy_pretrain_config c = *cfg;
    c.run_dir = run_dir;
    c.max_steps = max_steps;
    dy_trainer *t = NULL;
    dy_status st = dy_trainer_create(ctx, &c, ds, NULL, &t);
    char ckpt[600];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint-latest.safetensors", run_dir);
    if (st == DY_OK && resume) st = dy_trainer_load_checkpoint(t, ckpt);
    if (st == DY_OK) st = dy_trainer_run(t, NULL, NULL);
    if (st == DY_OK && params) {
        const float *p = dy_model_params(dy_trainer_model(t), n);
        *params = malloc((size_t)*n * sizeof **params);
        memcpy(*params, p, (size_t)*n * sizeof **params);
    }
    dy_trainer_destroy(t);
    return st;
}

/* issue 25: a temperature schedule in the loop: the loss's levels follow its formula step by step (the metrics rows;
 * the positives' mean tau of a constant is the level itself), a run interrupted and resumed equals an uninterrupted
 * one bit for bit (weights and every step's loss), a schedule file changed before a resume is refused, and a
 * schedule with the adaptive profile is refused. 32 images in batches of 8: 4 steps an epoch. */
static void schedule_in_training(dy_ctx *ctx, const dy_dataset *ds, const dy_pretrain_config *base, const char *dir) {
    const double pi = 3.14159265358979323846;
    char a[300], b[300], cmd[700];
    snprintf(a, sizeof a, "%s/sched-a", dir);
    snprintf(b, sizeof b, "%s/sched-b", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s %s", a, b);
    if (system(cmd) != 0) return;
    dy_pretrain_config c = *base;
    c.epochs = 2;
    c.tau = dy_tau_constant(0.2f);
    c.tau_schedule = (dy_tau_schedule){.kind = DY_TAU_SCHEDULE_COSINE, .end_ratio = 0.1};
    dy_status st = train_in(ctx, &c, ds, a, 0, false, NULL, NULL);
    CHECK(st == DY_OK, "a const profile on a cosine schedule trains 8 steps: %s", st ? dy_ctx_error(ctx) : "ok");
    double tau[16], pos_tau[16];
    int n = metric_rows(a, "tau", tau, 16);
    metric_rows(a, "pos_tau", pos_tau, 16);
    bool follows = n == 8, loss_uses = n == 8;
    for (int i = 0; i < n; i++) {
        double w = 0.5 * (1 + cos(pi * (double)i / 7.0));
        float want = (float)((double)0.2f * (w + (1 - w) * 0.1));
        follows &= (float)tau[i] == want;
        loss_uses &= fabs(pos_tau[i] - want) <= 1e-5 * want;
    }
    CHECK(follows, "metrics log tau per step on the half cosine from 0.2 to 0.02 (%d rows; first %g, last %g)", n,
          n ? tau[0] : NAN, n ? tau[n - 1] : NAN);
    CHECK(loss_uses && n == 8 && pos_tau[7] < 0.0201, "the loss's temperature is the scheduled level at each step "
          "(pos_tau last %g)", n ? pos_tau[n - 1] : NAN);

    /* MoCo's loss follows it too (the same profile object) */
    dy_pretrain_config mc = c;
    mc.framework = DY_FRAMEWORK_MOCO;
    snprintf(cmd, sizeof cmd, "rm -rf %s/*", a);
    if (system(cmd) != 0) return;
    st = train_in(ctx, &mc, ds, a, 3, false, NULL, NULL);
    n = metric_rows(a, "tau", tau, 16);
    metric_rows(a, "pos_tau", pos_tau, 16);
    bool moco = st == DY_OK && n == 3;
    for (int i = 0; i < n; i++) moco &= fabs(pos_tau[i] - tau[i]) <= 1e-5 * tau[i];
    CHECK(moco && tau[2] < tau[0], "MoCo: the positives' temperature is the scheduled level (%d rows)", n);

    /* the cosine profile on a linear schedule by epochs: both bounds, constant within an epoch */
    dy_pretrain_config e = *base;
    e.epochs = 2;
    e.tau_schedule = (dy_tau_schedule){.kind = DY_TAU_SCHEDULE_LINEAR, .per_epoch = true, .end_ratio = 0.5};
    snprintf(cmd, sizeof cmd, "rm -rf %s/*", a);
    if (system(cmd) != 0) return;
    st = train_in(ctx, &e, ds, a, 0, false, NULL, NULL);
    double lo[16], hi[16];
    n = metric_rows(a, "tau_min", lo, 16);
    metric_rows(a, "tau_max", hi, 16);
    bool epochs = st == DY_OK && n == 8;
    for (int i = 0; i < n; i++) {
        double f = i < 4 ? 1 : 0.5;
        epochs &= (float)lo[i] == (float)((double)0.07f * f) && (float)hi[i] == (float)((double)0.2f * f);
    }
    CHECK(epochs, "epochs unit: tau_min/tau_max 0.07/0.2 through epoch 1, 0.035/0.1 through epoch 2 (%d rows)", n);

    /* resume exactness: 8 steps at once against 3, a checkpoint, a new trainer, the other 5 */
    dy_pretrain_config r = *base;
    r.epochs = 2;
    r.tau_schedule = (dy_tau_schedule){.kind = DY_TAU_SCHEDULE_COSINE, .end_ratio = 0.2};
    snprintf(cmd, sizeof cmd, "rm -rf %s/* %s/*", a, b);
    if (system(cmd) != 0) return;
    float *pa = NULL, *pb = NULL;
    int64_t na = 0, nb = 0;
    dy_status s1 = train_in(ctx, &r, ds, a, 0, false, &pa, &na);
    dy_status s2 = train_in(ctx, &r, ds, b, 3, false, NULL, NULL);
    dy_status s3 = train_in(ctx, &r, ds, b, 0, true, &pb, &nb);
    CHECK(s1 == DY_OK && s2 == DY_OK && s3 == DY_OK && na == nb && na > 0 && !memcmp(pa, pb, (size_t)na * sizeof *pa),
          "a scheduled run stopped after step 3 and resumed ends with the same weights, bit for bit");
    double la[16], lb[16], ta[16], tb[16];
    int ka = metric_rows(a, "loss", la, 16), kb = metric_rows(b, "loss", lb, 16);
    metric_rows(a, "tau_max", ta, 16);
    metric_rows(b, "tau_max", tb, 16);
    CHECK(ka == 8 && kb == 8 && !memcmp(la, lb, sizeof la[0] * 8) && !memcmp(ta, tb, sizeof ta[0] * 8),
          "and the same loss and tau_max at every step (%d and %d rows)", ka, kb);
    free(pa);
    free(pb);

    /* a file schedule: the table is stored in the checkpoint; a file edited before the resume is refused */
    char table[400];
    snprintf(table, sizeof table, "%s/schedule.csv", dir);
    FILE *f = fopen(table, "w");
    if (f) fputs("fraction,tau_min,tau_max\n0,0.07,0.2\n0.5,0.05,0.1\n1,0.02,0.022\n", f), fclose(f);
    dy_pretrain_config fc = *base;
    fc.epochs = 2;
    fc.tau_schedule = (dy_tau_schedule){.kind = DY_TAU_SCHEDULE_FILE, .file = table};
    snprintf(cmd, sizeof cmd, "rm -rf %s/*", b);
    if (system(cmd) != 0) return;
    st = train_in(ctx, &fc, ds, b, 2, false, NULL, NULL);
    n = metric_rows(b, "tau_min", lo, 16);
    double w1 = (1.0 / 7.0) / 0.5; /* step 2 of 8: u = 1/7, on the segment [0, 0.5] */
    CHECK(st == DY_OK && n == 2 && (float)lo[0] == 0.07f && (float)lo[1] == (float)((1 - w1) * 0.07 + w1 * 0.05),
          "a file schedule's bounds interpolated per step (%d rows, %g, %g)", n, n ? lo[0] : NAN, n > 1 ? lo[1] : NAN);
    f = fopen(table, "w");
    if (f) fputs("fraction,tau_min,tau_max\n0,0.07,0.2\n0.5,0.05,0.1\n1,0.03,0.03\n", f), fclose(f);
    st = train_in(ctx, &fc, ds, b, 0, true, NULL, NULL);
    CHECK(st == DY_ERR_MISMATCH && strstr(dy_ctx_error(ctx), "schedule"), "a resume after the file changed is refused: "
          "%s", st ? dy_ctx_error(ctx) : "accepted");

    /* a checkpoint of a scheduled run does not resume a run without one, nor one with another end */
    snprintf(cmd, sizeof cmd, "rm -rf %s/*", b);
    if (system(cmd) != 0) return;
    st = train_in(ctx, &r, ds, b, 2, false, NULL, NULL);
    dy_pretrain_config other = r;
    other.tau_schedule.end_ratio = 0.3;
    dy_status s4 = train_in(ctx, &other, ds, b, 0, true, NULL, NULL);
    dy_status s5 = train_in(ctx, base, ds, b, 0, true, NULL, NULL);
    CHECK(st == DY_OK && s4 == DY_ERR_MISMATCH && s5 == DY_ERR_MISMATCH, "another end ratio (%d) or no schedule (%d) "
          "cannot resume a scheduled run's checkpoint", (int)s4, (int)s5);

    /* with the adaptive profile: refused, naming both options */
    dy_pretrain_config ad = r;
    ad.tau_adapt = (dy_tau_adapt_config){.on = true, .band_low = 0.05, .band_high = 0.3, .rate = 0.01, .floor = 0.02,
                                         .ceil = 1};
    dy_trainer *t = NULL;
    st = dy_trainer_create(ctx, &ad, ds, NULL, &t);
    CHECK(st == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "--tau-adapt band"), "a schedule with --tau-adapt band "
          "refused: %s", st ? dy_ctx_error(ctx) : "accepted");
    dy_trainer_destroy(t);

    /* no schedule: the metrics rows are as before (no level logged) */
    snprintf(cmd, sizeof cmd, "rm -rf %s/*", a);
    if (system(cmd) != 0) return;
    st = train_in(ctx, base, ds, a, 2, false, NULL, NULL);
    n = metric_rows(a, "tau_min", lo, 16);
    int m = metric_rows(a, "tau", tau, 16);
    CHECK(st == DY_OK && n == 2 && m == 2 && isnan(lo[0]) && isnan(tau[0]), "without a schedule no level is logged");
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
    /* what the CLI reads of a checkpoint without a trainer: its step (tune) and its encoder (export) */
    int64_t read_step = 0;
    CHECK(dy_checkpoint_read_step(ctx, other, &read_step) == DY_OK && read_step == 1000000,
          "dy_checkpoint_read_step gives trainer.counters' step (%lld)", (long long)read_step);
    snprintf(other, sizeof other, "%s/missing.safetensors", dir);
    CHECK(dy_checkpoint_read_step(ctx, other, &read_step) == DY_ERR_IO && read_step == -1,
          "dy_checkpoint_read_step of a missing file: %s", dy_ctx_error(ctx));
    dy_encoder_meta meta;
    bool has_arch = false;
    int file_channels = 0;
    CHECK(dy_encoder_file_read(ctx, ckpt, &meta, &has_arch, &file_channels) == DY_OK && has_arch && meta.has_input &&
              file_channels == (int)cc.model.in_channels && meta.width == cc.model.width,
          "dy_encoder_file_read gives the checkpoint's encoder and conv1.weight's %d channels", file_channels);
    CHECK(p[0] == copy[0] + 1.0f && dy_trainer_step_count(t) == 0, "refused loads changed nothing");

    schedule_in_training(ctx, ds, &c, dir);

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
