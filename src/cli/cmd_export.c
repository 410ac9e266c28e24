/* dystress export: the encoder (optionally with its head) as safetensors with torchvision's names. */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "model/model.h"

/* The normalisation of a checkpoint written before pretrain stored it: the preset (and --aug overrides) of the run's
 * configuration applied to its training set, as pretrain computes it. false (with a warning) when the data cannot be
 * read: the file is then written with the architecture alone. */
static bool input_from_data(dy_ctx *ctx, const run_options *o, dy_encoder_meta *meta) {
    dy_dataset *train = NULL, *test = NULL;
    dy_augment a;
    bool ok = cli_load_data(ctx, o, &train, &test) == DY_OK && dy_augment_preset(ctx, &a, o->augment, train) == DY_OK &&
              (!*o->aug || cli_apply_aug_overrides(ctx, &a, o->aug) == DY_OK);
    if (ok) dy_encoder_meta_set_input(meta, &a);
    else fprintf(stderr, "dystress export: warning: the checkpoint does not record its input normalisation and the "
                 "training data cannot be read (%s): the file holds no dystress.mean/std/image_size\n",
                 dy_ctx_error(ctx));
    dy_dataset_free(train);
    dy_dataset_free(test);
    return ok;
}

int cmd_export(int argc, char **argv) {
    const char *usage =
        "usage: dystress export --checkpoint FILE --out FILE.safetensors [--with-head] [--overwrite]\n\n"
        "The file loads into torchvision: m = torchvision.models.resnet18(); m.fc = torch.nn.Identity();\n"
        "with the CIFAR stem also m.conv1 = torch.nn.Conv2d(C, 64, 3, 1, 1, bias=False); m.maxpool = "
        "torch.nn.Identity();\nthen m.load_state_dict(safetensors.torch.load_file(FILE)); or, at any width, channel "
        "count and stem,\npython/dystress_torch.py's load_encoder(FILE). The file's metadata (dystress.*) names the "
        "architecture and the\ninput normalisation (mean, std, image size): docs/PYTORCH.md.";
    const char *checkpoint, *out;
    bool with_head;
    const opt_spec extra[] = {
        {"checkpoint", OPT_STRING, &checkpoint, "", "checkpoint or weights file"},
        {"out", OPT_STRING, &out, "", "output file"},
        {"with-head", OPT_BOOL, &with_head, "false", "include the projection head (as \"head.*\")"},
        {0},
    };
    run_options o;
    opt_spec specs[RUN_OPTION_COUNT + 8];
    char *text = NULL;
    int rc = cli_parse_model_command(usage, specs, &o, extra, argc, argv, &checkpoint, &text);
    if (rc) return rc == 1 ? 0 : 2;
    if (!*checkpoint || !*out) {
        fprintf(stderr, "dystress export: give --checkpoint and --out\n");
        free(text);
        return 2;
    }
    /* never over an input (by file identity, whatever the spelling), never over an existing file unless asked */
    char config[4200];
    cli_config_beside(checkpoint, config, sizeof config);
    const char *inputs[] = {checkpoint, config, NULL};
    if (cli_check_output("export", out, o.overwrite, inputs) != 0) {
        free(text);
        return 2;
    }
    dy_ctx *ctx = cli_context(o.threads, o.backend);
    if (!ctx) {
        free(text);
        return 1;
    }
    int status = 1;
    dy_model *model = NULL;
    /* the input channels come from the file itself (conv1's weight is [width, channels, k, k]); the input
     * normalisation from its metadata (pretrain's checkpoints and export's files record it) */
    dy_encoder_meta stored;
    bool has_arch;
    int file_channels;
    if (dy_encoder_file_read(ctx, checkpoint, &stored, &has_arch, &file_channels) != DY_OK) {
        cli_error(ctx, "export");
        goto done;
    }
    int channels = (int)o.in_channels;
    if (channels <= 0) {
        channels = file_channels;
        if (channels <= 0) {
            fprintf(stderr, "dystress export: %s has no 4-D conv1.weight: not a ResNet checkpoint\n", checkpoint);
            goto done;
        }
    }
    o.precision = "fp32"; /* export only copies weights (fp32 in every checkpoint): a bf16 run exports anywhere */
    if (cli_open_model(ctx, &o, channels, checkpoint, with_head, &model) != DY_OK) {
        cli_error(ctx, "model");
        goto done;
    }
    dy_encoder_meta meta = dy_encoder_meta_of_model(model);
    if (stored.has_input) {
        meta.has_input = true;
        memcpy(meta.image_size, stored.image_size, sizeof meta.image_size);
        memcpy(meta.mean, stored.mean, sizeof meta.mean);
        memcpy(meta.std, stored.std, sizeof meta.std);
    } else {
        input_from_data(ctx, &o, &meta);
    }
    if (dy_model_save_weights_meta(model, out, with_head, &meta) != DY_OK) {
        cli_error(ctx, "export");
        goto done;
    }
    printf("wrote %s (ResNet-%lld width %lld, %s stem%s", out, (long long)o.depth, (long long)o.width, o.stem,
           with_head ? ", with head" : "");
    if (meta.has_input) {
        dy_encoder_meta_text text;
        dy_encoder_meta_format(&meta, &text);
        /* the last three entries: image_size, mean, std */
        printf("; inputs %s px, mean %s, std %s", text.values[text.count - 3], text.values[text.count - 2],
               text.values[text.count - 1]);
    }
    printf(")\n");
    status = 0;
done:
    dy_model_destroy(model);
    dy_ctx_destroy(ctx);
    free(text);
    return status;
}
