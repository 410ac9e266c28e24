/* The subcommands of `dystress`; each returns the process exit status (0 ok, 1 failure, 2 usage error). */
#ifndef DY_CLI_COMMANDS_H
#define DY_CLI_COMMANDS_H

int cmd_pretrain(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_tune(int argc, char **argv);

/* Shared helpers (src/cli/common.c; the configuration files: src/cli/run_config.c; training: src/cli/training.c). */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include "cli/config.h"
#include "cli/progress.h"
#include "io/atomic_file.h"

#define CLI_GO_ON (-1) /* a step of a command succeeded: the command goes on (else the step gave the exit status) */

/* What an option parser's rc means to a command: CLI_GO_ON for 0; for 1 (--help) usage and the options printed on
 * stdout (exit status 0); else "dystress COMMAND: err" on stderr (2). (src/cli/session.c) */
int cli_parse_outcome(const char *command, int rc, const char *usage, const opt_spec *specs, const char *err);

extern volatile sig_atomic_t cli_stop_signal; /* the signal number that asked us to stop, else 0 */
void cli_install_signal_handlers(void);
/* The files a run directory holds (NULL-terminated): what --overwrite deletes, and what names a used directory. */
#define CLI_DEMO_MARKER "made-by-demo.txt"
#define CLI_SKIPPED_LIST "skipped-images.txt"
extern const char *const cli_run_files[];
/* --skip-bad: writes run_dir/skipped-images.txt, the path of every image of train and test that was skipped, one a
 * line (training images first); removes it when none was. */
dy_status cli_write_skipped_list(dy_ctx *ctx, const char *run_dir, const dy_dataset *train, const dy_dataset *test);
/* 1 when the folder holds anything (its name, a run file's when there is one, goes to name), 0 when it is empty or
 * absent, -1 with errno when it cannot be read. */
int cli_dir_entry(const char *dir, char *name, size_t name_size);
/* Deletes the run files of dir (not the demo's mark) and temporary files left by a killed writer; the count, or -1
 * with errno. */
int cli_clear_run_files(const char *dir);
/* Checks an output path before a command writes it: refused (message printed, returns 2) when it is one of the
 * inputs (NULL-terminated; compared as files, by device and inode, so no other spelling or link gets past), a folder,
 * anything else that is not a regular file (a device node, FIFO or socket: never replaced, whatever overwrite says),
 * or when it exists and overwrite is false. 0 when it may be written. */
int cli_check_output(const char *command, const char *out, bool overwrite, const char *const *inputs);
/* dy_read_file (src/io/read_file.h) for the CLI, which has no context yet when it reads a run's config.json: the
 * file in a NUL-terminated malloc'ed buffer (its length in *length), or NULL with the message in err. */
char *cli_read_file(const char *path, size_t max_bytes, size_t *length, char *err, size_t err_size);
#define CLI_CONFIG_MAX_BYTES ((size_t)1 << 20) /* a config.json is about 2 KB */
/* Writes the options as JSON to path atomically. */
dy_status cli_write_config(dy_ctx *ctx, const char *path, const opt_spec *specs);
/* Fills o from the config.json of a run directory (defaults first). 0, or -1 with a message printed. */
int cli_load_run_config(const char *run_dir, opt_spec *specs, char **text_out);
/* The path of the config.json beside a checkpoint (that the model commands read). */
void cli_config_beside(const char *checkpoint, char *out, size_t size);
/* The model for evaluation (no head unless with_head): weights from checkpoint (a checkpoint or a weights file), or
 * the seeded initialisation when checkpoint is empty (src/cli/session.c). */
dy_status cli_open_model(dy_ctx *ctx, const run_options *o, int data_channels, const char *checkpoint, bool with_head,
                         dy_model **out);
/* What the trainer's callbacks work with (passed as their user pointer): the progress printer, and the report
 * refreshed at each epoch end when report is true. */
typedef struct {
    progress pr;
    dy_ctx *ctx;
    const char *run_dir;
    const char *command; /* the command that reproduces the run, shown in the report */
    bool report;
} cli_training;
/* The training's data (a labelled test split required when need_test), the trainer's configuration and its plan
 * for procs processes; what fails is printed (the configuration's message only when print), and the exit status
 * returned: 1, or 2 for a configuration the options describe wrongly. CLI_GO_ON when all is set. */
int cli_training_setup(dy_ctx *ctx, const char *command, run_options *o, int procs, bool print, bool need_test,
                       dy_dataset **train, dy_dataset **test, dy_pretrain_config *cfg);
/* Runs the trainer, stoppable by SIGINT/SIGTERM (cli_stop_signal), with ui's callbacks (none when ui is NULL: the
 * other processes of an MPI job). */
dy_status cli_train(dy_trainer *tr, cli_training *ui);
void cli_on_step(void *user, const dy_step_report *r);
void cli_on_message(void *user, const char *text);
void cli_on_epoch_end(void *user, int64_t epoch);
/* Writes run_dir/report.html; a failure is printed as a warning (training goes on). */
void cli_write_report(cli_training *t);
/* The command that reproduces a run: "dystress pretrain" and every option of the run table (specs, as
 * run_option_table makes it) whose value differs from the pretrain default, shell-quoted; --resume and
 * --max-steps are left out (they are not part of the run). */
void cli_reproduce_command(const opt_spec *specs, char *buf, size_t size);
/* Prints "dystress: <label><what>: <ctx error>" to stderr and returns 1. */
int cli_error(dy_ctx *ctx, const char *what);
/* Names this process in messages under mpirun ("rank 1 of 4: "), "" alone. */
extern const char *cli_process_label;

#endif
