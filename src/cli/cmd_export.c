/* dystress export: the encoder (optionally with its head) as safetensors with torchvision's names. */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "io/safetensors.h"

int cmd_export(int argc, char **argv) {
    const char *usage =
        "usage: dystress export --checkpoint FILE --out FILE.safetensors [--with-head] [--overwrite]\n\n"
        "The file loads into torchvision: m = torchvision.models.resnet18(); m.fc = torch.nn.Identity();\n"
        "with the CIFAR stem also m.conv1 = torch.nn.Conv2d(C, 64, 3, 1, 1, bias=False); m.maxpool = "
        "torch.nn.Identity();\nthen m.load_state_dict(safetensors.torch.load_file(FILE)).";
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
    /* the input channels come from the file itself (conv1's weight is [width, channels, k, k]) */
    int channels = (int)o.in_channels;
    if (channels <= 0) {
        dy_st_file f;
        if (dy_st_read(ctx, checkpoint, &f) != DY_OK) {
            cli_error(ctx, "export");
            goto done;
        }
        const dy_st_tensor *c1 = dy_st_find(&f, "conv1.weight");
        channels = c1 && c1->ndim == 4 ? (int)c1->shape[1] : 0;
        dy_st_free(&f);
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
    if (dy_model_save_weights(model, out, with_head) != DY_OK) {
        cli_error(ctx, "export");
        goto done;
    }
    printf("wrote %s (ResNet-%lld width %lld, %s stem%s)\n", out, (long long)o.depth, (long long)o.width, o.stem,
           with_head ? ", with head" : "");
    status = 0;
done:
    dy_model_destroy(model);
    dy_ctx_destroy(ctx);
    free(text);
    return status;
}
