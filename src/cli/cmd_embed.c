/* dystress embed: features (and labels) of a data set as NumPy .npy files. */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/session.h"
#include "eval/embed.h"
#include "io/npy.h"

/* Features of ds through the session's model (L2-normalised unless raw) and its labels, as out_features.npy and
 * out_labels.npy. The exit status. */
static int write_features(cli_session *s, const dy_dataset *ds, const char *out, bool raw) {
    dy_ctx *ctx = s->ctx;
    float *f = NULL;
    int64_t *labels = NULL, dim;
    int status = 1;
    dy_augment eval_aug;
    if (dy_augment_preset(ctx, &eval_aug, "eval", s->train) != DY_OK ||
        dy_embed_dataset(ctx, s->model, ds, &eval_aug, 256, !raw, &f, &dim) != DY_OK) {
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
    return status;
}

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
    cli_session s;
    int rc = cli_session_parse(&s, "embed", usage, extra, argc, argv, &checkpoint);
    if (rc != CLI_GO_ON) return rc;
    /* both outputs checked before any work */
    char outputs[2][4200];
    snprintf(outputs[0], sizeof outputs[0], "%s_features.npy", out);
    snprintf(outputs[1], sizeof outputs[1], "%s_labels.npy", out);
    const char *const paths[] = {outputs[0], outputs[1], NULL};
    if ((rc = cli_session_outputs(&s, checkpoint, out, paths)) != CLI_GO_ON || (rc = cli_session_data(&s)) != CLI_GO_ON)
        return cli_session_end(&s, rc);
    /* a folder without a test split (pretrain --data folder on unlabelled images) has its images as the train
     * split: features of those images are what its user wants */
    if (!strcmp(split, "auto")) split = s.test ? "test" : "train";
    const dy_dataset *ds = !strcmp(split, "train") ? s.train : s.test;
    if (!ds) {
        fprintf(stderr, "dystress embed: this data set has no %s split; give --split train for the features of its "
                "training images (or --test-dir for a folder of test images)\n", split);
        return cli_session_end(&s, 1);
    }
    if ((rc = cli_session_model(&s, checkpoint, s.train->channels, false)) != CLI_GO_ON) return cli_session_end(&s, rc);
    return cli_session_end(&s, write_features(&s, ds, out, raw));
}
