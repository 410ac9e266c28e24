/* dystress export: the encoder (optionally with its head) as safetensors with torchvision's names. */
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/session.h"
#include "model/model.h"

/* The normalisation of a checkpoint written before pretrain stored it: the preset (and --aug overrides) of the run's
 * configuration applied to its training set, as pretrain computes it. false (with a warning) when the data cannot be
 * read: the file is then written with the architecture alone. */
static bool input_from_data(dy_ctx *ctx, const run_options *o, dy_encoder_meta *meta) {
    dy_dataset *train = NULL, *test = NULL;
    dy_augment a;
    bool ok = cli_load_data(ctx, o, &train, &test) == DY_OK && cli_training_augment(ctx, o, train, &a) == DY_OK;
    if (ok) dy_encoder_meta_set_input(meta, &a);
    else fprintf(stderr, "dystress export: warning: the checkpoint does not record its input normalisation and the "
                 "training data cannot be read (%s): the file holds no dystress.mean/std/image_size\n",
                 dy_ctx_error(ctx));
    dy_dataset_free(train);
    dy_dataset_free(test);
    return ok;
}

/* The input normalisation for the file: the checkpoint's own (pretrain's checkpoints and export's files record it),
 * else the run's data's. */
static void input_of(dy_ctx *ctx, const run_options *o, const dy_encoder_meta *stored, dy_encoder_meta *meta) {
    if (!stored->has_input) {
        input_from_data(ctx, o, meta);
        return;
    }
    meta->has_input = true;
    memcpy(meta->image_size, stored->image_size, sizeof meta->image_size);
    memcpy(meta->mean, stored->mean, sizeof meta->mean);
    memcpy(meta->std, stored->std, sizeof meta->std);
}

/* The session's model as out, with its metadata, and the line that says what was written. The exit status. */
static int write_export(cli_session *s, const dy_encoder_meta *stored, const char *out, bool with_head) {
    const run_options *o = &s->o;
    dy_encoder_meta meta = dy_encoder_meta_of_model(s->model);
    input_of(s->ctx, o, stored, &meta);
    if (dy_model_save_weights_meta(s->model, out, with_head, &meta) != DY_OK) return cli_error(s->ctx, "export");
    printf("wrote %s (ResNet-%lld width %lld, %s stem%s", out, (long long)o->depth, (long long)o->width, o->stem,
           with_head ? ", with head" : "");
    if (meta.has_input) {
        dy_encoder_meta_text text;
        dy_encoder_meta_format(&meta, &text);
        /* the last three entries: image_size, mean, std */
        printf("; inputs %s px, mean %s, std %s", text.values[text.count - 3], text.values[text.count - 2],
               text.values[text.count - 1]);
    }
    printf(")\n");
    return 0;
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
    cli_session s;
    int rc = cli_session_parse(&s, "export", usage, extra, argc, argv, &checkpoint);
    if (rc != CLI_GO_ON) return rc;
    if ((rc = cli_session_outputs(&s, checkpoint, out, (const char *const[]){out, NULL})) != CLI_GO_ON)
        return cli_session_end(&s, rc);
    /* export only copies weights: a context without the run's plan or precision (fp32 in every checkpoint) */
    if (!(s.ctx = cli_context(s.o.threads, s.o.backend))) return cli_session_end(&s, 1);
    /* the input channels come from the file itself (conv1's weight is [width, channels, k, k]); the input
     * normalisation from its metadata */
    dy_encoder_meta stored;
    bool has_arch;
    int file_channels;
    if (dy_encoder_file_read(s.ctx, checkpoint, &stored, &has_arch, &file_channels) != DY_OK)
        return cli_session_end(&s, cli_error(s.ctx, "export"));
    int channels = s.o.in_channels > 0 ? (int)s.o.in_channels : file_channels;
    if (channels <= 0) {
        fprintf(stderr, "dystress export: %s has no 4-D conv1.weight: not a ResNet checkpoint\n", checkpoint);
        return cli_session_end(&s, 1);
    }
    s.o.precision = "fp32"; /* a bf16 run exports anywhere */
    if ((rc = cli_session_model(&s, checkpoint, channels, with_head)) != CLI_GO_ON) return cli_session_end(&s, rc);
    return cli_session_end(&s, write_export(&s, &stored, out, with_head));
}
