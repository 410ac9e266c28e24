/* dystress embed: features (and labels) of a data set as NumPy .npy files. */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/evaluate.h"
#include "eval/embed.h"
#include "io/npy.h"

int cmd_embed(int argc, char **argv) {
    const char *usage = "usage: dystress embed --checkpoint FILE --out PREFIX [--overwrite] [options]\n\n"
                        "Writes PREFIX_features.npy (float32 [n, d], L2-normalised unless --raw) and "
                        "PREFIX_labels.npy (int64 [n]). By default the test split's images, or the training images "
                        "when the data set has no test split (a folder of unlabelled images).";
    const char *checkpoint, *out, *split;
    bool raw;
    const opt_spec extra[] = {
        {"checkpoint", OPT_STRING, &checkpoint, "", "checkpoint or weights file"},
        {"out", OPT_STRING, &out, "", "output prefix"},
        {"split", OPT_CHOICE, &split, "auto", "which split: auto (test when there is one, else train)",
         "auto|train|test"},
        {"raw", OPT_BOOL, &raw, "false", "features as the encoder gives them (no L2 normalisation)"},
        {0},
    };
    run_options o;
    opt_spec specs[RUN_OPTION_COUNT + 8];
    char *text = NULL;
    int rc = cli_parse_model_command(usage, specs, &o, extra, argc, argv, &checkpoint, &text);
    if (rc) return rc == 1 ? 0 : 2;
    if (!*checkpoint || !*out) {
        fprintf(stderr, "dystress embed: give --checkpoint and --out\n");
        free(text);
        return 2;
    }
    /* both outputs checked before any work: never over an input, never over an existing file unless asked */
    char config[4200], outputs[2][4200];
    cli_config_beside(checkpoint, config, sizeof config);
    const char *inputs[] = {checkpoint, config, NULL};
    snprintf(outputs[0], sizeof outputs[0], "%s_features.npy", out);
    snprintf(outputs[1], sizeof outputs[1], "%s_labels.npy", out);
    for (int i = 0; i < 2; i++) {
        if (cli_check_output("embed", outputs[i], o.overwrite, inputs) != 0) {
            free(text);
            return 2;
        }
    }
    dy_ctx *ctx = cli_run_context(o.threads, &o);
    if (!ctx) {
        free(text);
        return 1;
    }
    int status = 1;
    dy_dataset *train = NULL, *test = NULL;
    dy_model *model = NULL;
    float *f = NULL;
    int64_t *labels = NULL, dim;
    if (cli_load_data(ctx, &o, &train, &test) != DY_OK) {
        cli_error(ctx, "data");
        goto done;
    }
    /* a folder without a test split (pretrain --data folder on unlabelled images) has its images as the train
     * split: features of those images are what its user wants */
    if (!strcmp(split, "auto")) split = test ? "test" : "train";
    const dy_dataset *ds = !strcmp(split, "train") ? train : test;
    if (!ds) {
        fprintf(stderr, "dystress embed: this data set has no %s split; give --split train for the features of its "
                "training images (or --test-dir for a folder of test images)\n", split);
        goto done;
    }
    if (cli_open_model(ctx, &o, train->channels, checkpoint, false, &model) != DY_OK) {
        cli_error(ctx, "model");
        goto done;
    }
    dy_augment eval_aug;
    if (dy_augment_preset(ctx, &eval_aug, "eval", train) != DY_OK ||
        dy_embed_dataset(ctx, model, ds, &eval_aug, 256, !raw, &f, &dim) != DY_OK) {
        cli_error(ctx, "embed");
        goto done;
    }
    labels = dy_labels_int64(ds);
    if (!labels) {
        fprintf(stderr, "dystress embed: out of memory\n");
        goto done;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s_features.npy", out);
    if (dy_npy_write_f32(ctx, path, f, ds->count, dim) != DY_OK) {
        cli_error(ctx, "write");
        goto done;
    }
    snprintf(path, sizeof path, "%s_labels.npy", out);
    if (dy_npy_write_i64(ctx, path, labels, ds->count) != DY_OK) {
        cli_error(ctx, "write");
        goto done;
    }
    printf("wrote %s_features.npy [%lld, %lld] and %s_labels.npy\n", out, (long long)ds->count, (long long)dim, out);
    status = 0;
done:
    free(f);
    free(labels);
    dy_model_destroy(model);
    dy_dataset_free(train);
    dy_dataset_free(test);
    dy_ctx_destroy(ctx);
    free(text);
    return status;
}
