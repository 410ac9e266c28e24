/* The subcommands of `dystress`; each returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef DY_CLI_COMMANDS_H
#define DY_CLI_COMMANDS_H

int cmd_pretrain(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_demo(int argc, char **argv);

/* Shared helpers (src/cli/common.c). */
#include <signal.h>
#include <stdbool.h>
#include "cli/config.h"

extern volatile sig_atomic_t cli_stop_signal; /* the signal number that asked us to stop, else 0 */
void cli_install_signal_handlers(void);
/* mkdir -p; 0 or -1 with errno. */
int cli_mkdirs(const char *path);
/* Writes the options as JSON to path atomically. */
dy_status cli_write_config(dy_ctx *ctx, const char *path, const opt_spec *specs);
/* Fills o from the config.json of a run directory (defaults first). 0, or -1 with a message printed. */
int cli_load_run_config(const char *run_dir, opt_spec *specs, char **text_out);
/* The options of a command that works on a trained model: the run table (model, data) followed by extra
 * (NULL-terminated). Values are layered: defaults < config.json beside --checkpoint (when there is one) < the
 * command line. *text keeps the configuration's strings alive (free it). Returns 0, 1 for --help (help printed with
 * usage), 2 for a usage error (printed). */
int cli_parse_model_command(const char *usage, opt_spec *specs, run_options *o, const opt_spec *extra, int argc,
                            char **argv, const char **checkpoint, char **text);
/* The model for evaluation (no head unless with_head): weights from checkpoint (a checkpoint or a weights file),
 * or the seeded initialisation when checkpoint is empty. */
dy_status cli_open_model(dy_ctx *ctx, const run_options *o, int data_channels, const char *checkpoint, bool with_head,
                         dy_model **out);
/* The trainer's callbacks, printing through a progress (src/cli/progress.h) passed as user. */
void cli_on_step(void *user, const dy_step_report *r);
void cli_on_message(void *user, const char *text);
/* Prints "dystress: <label><what>: <ctx error>" to stderr and returns 1. */
int cli_error(dy_ctx *ctx, const char *what);
/* Names this process in messages under mpirun ("rank 1 of 4: "), "" alone. */
extern const char *cli_process_label;

#endif
