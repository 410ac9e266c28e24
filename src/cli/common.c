/* Helpers shared by the subcommands: signals, folders, files, configurations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "cli/progress.h"
#include "io/atomic_file.h"
#include "io/read_file.h"
#include "model/model.h"

volatile sig_atomic_t cli_stop_signal = 0;

static void on_signal(int sig) {
    if (cli_stop_signal) _Exit(128 + sig); /* a second signal: the user insists */
    cli_stop_signal = sig;
}

void cli_install_signal_handlers(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_mkdirs(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

dy_status cli_write_config(dy_ctx *ctx, const char *path, const opt_spec *specs) {
    dy_atomic_file af;
    dy_status st = dy_atomic_open(ctx, &af, path);
    if (st != DY_OK) return st;
    opt_write_json(af.fp, specs, "  ");
    return dy_atomic_commit(ctx, &af);
}

int cli_load_run_config(const char *run_dir, opt_spec *specs, char **text_out) {
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/config.json", run_dir);
    char *text;
    size_t size;
    errno = 0;
    if (dy_read_file(NULL, path, (uint8_t **)&text, &size, (size_t)1 << 24) != DY_OK) {
        fprintf(stderr, "dystress: cannot read %s: %s\n", path, errno ? strerror(errno) : "larger than 16 MiB");
        return -1;
    }
    for (opt_spec *s = specs; s->name; s++)
        if (opt_set(s, s->def, err, sizeof err) != 0) break;
    if (opt_read_json(specs, text, err, sizeof err) != 0) {
        fprintf(stderr, "dystress: %s: %s\n", path, err);
        free(text);
        return -1;
    }
    *text_out = text;
    return 0;
}

const char *cli_process_label = "";

int cli_error(dy_ctx *ctx, const char *what) {
    fprintf(stderr, "dystress: %s%s: %s\n", cli_process_label, what, ctx ? dy_ctx_error(ctx) : "failed");
    return 1;
}

int cli_parse_model_command(const char *usage, opt_spec *specs, run_options *o, const opt_spec *extra, int argc,
                            char **argv, const char **checkpoint, char **text) {
    int n = run_option_table(specs, o);
    int m = 0;
    while (extra[m].name) m++;
    memcpy(specs + n, extra, (size_t)(m + 1) * sizeof *specs);
    char err[512];
    *text = NULL;
    int rc = opt_parse(specs, argc, argv, 2, NULL, 0, NULL, err, sizeof err);
    if (rc == 1) {
        printf("%s\noptions (model and data options default to the config.json beside --checkpoint):\n", usage);
        opt_print_help(stdout, specs);
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "dystress: %s\n", err);
        return 2;
    }
    if (**checkpoint) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", *checkpoint);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
        char cfg[4200];
        snprintf(cfg, sizeof cfg, "%s/config.json", dir);
        FILE *f = fopen(cfg, "rb");
        if (f) {
            fclose(f);
            if (cli_load_run_config(dir, specs, text) != 0) return 2;
            /* a saved configuration knows nothing of this command's own options: defaults, then the line */
            for (int i = n; specs[i].name; i++) opt_set(&specs[i], specs[i].def, err, sizeof err);
            if (opt_parse_over(specs, argc, argv, 2, NULL, 0, NULL, err, sizeof err) != 0) {
                fprintf(stderr, "dystress: %s\n", err);
                return 2;
            }
        }
    }
    return 0;
}

dy_status cli_open_model(dy_ctx *ctx, const run_options *o, int data_channels, const char *checkpoint, bool with_head,
                         dy_model **out) {
    dy_model_config mc = cli_model_config(o, data_channels);
    mc.head = with_head;
    dy_status st = dy_model_create(ctx, &mc, (uint64_t)o->seed, out);
    if (st != DY_OK || !*checkpoint) return st;
    st = dy_model_load_from(*out, checkpoint);
    if (st != DY_OK) {
        dy_model_destroy(*out);
        *out = NULL;
    }
    return st;
}

void cli_on_step(void *user, const dy_step_report *r) {
    progress_step(user, r->epoch, r->epochs, r->step_in_epoch, r->steps_per_epoch, r->step, r->total_steps, r->loss,
                  r->lr, r->images_per_s);
}

void cli_on_message(void *user, const char *text) { progress_log(user, "%s", text); }
