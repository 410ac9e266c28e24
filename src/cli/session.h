/* The set-up shared by the commands that open a trained model (eval, embed, export): their options, the run table
 * followed by the command's own, layered defaults < the config.json beside --checkpoint < the command line; the
 * outputs checked before any work; then the context, the data and the model, each step printing why it failed, and
 * everything released by one call. Each step returns CLI_GO_ON, or the exit status the command ends with. */
#ifndef DY_CLI_SESSION_H
#define DY_CLI_SESSION_H

#include "cli/commands.h"

#define CLI_EXTRA_OPTIONS 24 /* a command's own options at most */

typedef struct {
    const char *command; /* "embed": messages read "dystress embed: ..." */
    run_options o;
    opt_spec specs[RUN_OPTION_COUNT + CLI_EXTRA_OPTIONS + 1];
    char *config_text; /* the config.json the options were read from (their strings point into it) */
    dy_ctx *ctx;
    dy_dataset *train, *test;
    dy_model *model;
} cli_session;

/* Parses argv[2..) into the run options and extra (NULL-terminated; its values bound to the caller's variables),
 * *checkpoint being extra's --checkpoint: --help prints usage and the options (exit status 0); a usage error is
 * printed (2). */
int cli_session_parse(cli_session *s, const char *command, const char *usage, const opt_spec *extra, int argc,
                      char **argv, const char **checkpoint);
/* When out is not NULL, --checkpoint and --out must both be given; then every non-empty path of outputs
 * (NULL-terminated) is checked by cli_check_output against the inputs, the checkpoint and the config.json beside
 * it (2 when refused). */
int cli_session_outputs(cli_session *s, const char *checkpoint, const char *out, const char *const *outputs);
/* The run's context (cli_run_context), then its training and test splits (cli_load_data). 1 on a failure. */
int cli_session_data(cli_session *s);
/* The model (cli_open_model) from checkpoint, data_channels input channels unless --in-channels says. 1 on a
 * failure. */
int cli_session_model(cli_session *s, const char *checkpoint, int data_channels, bool with_head);
/* Releases what the session opened; returns status. */
int cli_session_end(cli_session *s, int status);

#endif
