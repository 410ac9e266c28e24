/* Helpers shared by the subcommands: signals, folders, files, configurations. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/progress.h"
#include "io/atomic_file.h"
#include "core/context.h"
#include "io/read_file.h"
#include "model/model.h"
#include "report/report.h"

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

char *cli_read_file(const char *path, size_t max_bytes, size_t *length, char *err, size_t err_size) {
    struct dy_ctx messages = {0}; /* receives dy_read_file's message only: no threads, no backend */
    uint8_t *data;
    if (dy_read_file(&messages, path, &data, length, max_bytes) != DY_OK) {
        snprintf(err, err_size, "%s", messages.error);
        return NULL;
    }
    return (char *)data;
}

/* What one invocation asked for, not what the run is: never saved as true, so that a later command reading the
 * configuration (export, embed, eval) does not inherit it. */
static const char *const one_shot_options[] = {"resume", "overwrite", NULL};

dy_status cli_write_config(dy_ctx *ctx, const char *path, const opt_spec *specs) {
    bool saved[4] = {false};
    for (int i = 0; one_shot_options[i]; i++) {
        const opt_spec *s = opt_find((opt_spec *)specs, one_shot_options[i]);
        if (s) {
            saved[i] = *(bool *)s->value;
            *(bool *)s->value = false;
        }
    }
    dy_atomic_file af;
    dy_status st = dy_atomic_open(ctx, &af, path);
    if (st == DY_OK) {
        opt_write_json(af.fp, specs, "  ");
        st = dy_atomic_commit(ctx, &af);
    }
    for (int i = 0; one_shot_options[i]; i++) {
        const opt_spec *s = opt_find((opt_spec *)specs, one_shot_options[i]);
        if (s) *(bool *)s->value = saved[i];
    }
    return st;
}

const char *const cli_run_files[] = {"config.json", "metrics.jsonl", "checkpoint-latest.safetensors",
                                     "checkpoint-final.safetensors", "checkpoint-best-knn-on-test.safetensors",
                                     "checkpoint-best-knn-on-val.safetensors",
                                     /* the run report (src/report) and what it is drawn from */
                                     "histograms.jsonl", "results.jsonl", "report.html", "retrieval.png",
                                     "retrieval.json", "embedding-map.json", CLI_SKIPPED_LIST, CLI_DEMO_MARKER, NULL};

dy_status cli_write_skipped_list(dy_ctx *ctx, const char *run_dir, const dy_dataset *train, const dy_dataset *test) {
    char path[4200];
    snprintf(path, sizeof path, "%s/" CLI_SKIPPED_LIST, run_dir);
    int64_t n = (train ? train->skipped : 0) + (test ? test->skipped : 0);
    if (!n) { /* none this time: a list a resumed run's earlier load left is no longer true */
        if (unlink(path) != 0 && errno != ENOENT)
            return dy_fail(ctx, DY_ERR_IO, "cannot remove %s: %s", path, strerror(errno));
        return DY_OK;
    }
    dy_atomic_file af;
    dy_status st = dy_atomic_open(ctx, &af, path);
    if (st != DY_OK) return st;
    const dy_dataset *splits[2] = {train, test};
    for (int s = 0; s < 2; s++)
        for (int64_t i = 0; splits[s] && splits[s]->skipped_files && i < splits[s]->skipped; i++)
            fprintf(af.fp, "%s\n", splits[s]->skipped_files[i]);
    return dy_atomic_commit(ctx, &af);
}

int cli_dir_entry(const char *dir, char *name, size_t name_size) {
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -1;
    int found = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        /* a run file names the run best; otherwise the first entry */
        bool run_file = false;
        for (int i = 0; cli_run_files[i] && !run_file; i++) run_file = !strcmp(de->d_name, cli_run_files[i]);
        if (!found || run_file) snprintf(name, name_size, "%s", de->d_name);
        found = 1;
        if (run_file) break;
    }
    closedir(d);
    return found;
}

int cli_clear_run_files(const char *dir) {
    int removed = 0;
    for (int i = 0; cli_run_files[i]; i++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, cli_run_files[i]) >= (int)sizeof path) {
            errno = ENAMETOOLONG;
            return -1;
        }
        removed += dy_atomic_remove_stale(path);
        if (!strcmp(cli_run_files[i], CLI_DEMO_MARKER)) continue; /* the demo keeps its mark */
        if (unlink(path) == 0) removed++;
        else if (errno != ENOENT) return -1;
    }
    char probe[4096];
    snprintf(probe, sizeof probe, "%s/.", dir);
    if (removed && dy_fsync_parent(probe) != 0) return -1;
    return removed;
}

int cli_check_output(const char *command, const char *out, bool overwrite, const char *const *inputs) {
    struct stat so;
    if (stat(out, &so) != 0) {
        if (errno == ENOENT) return 0;
        fprintf(stderr, "dystress %s: cannot use %s as output: %s\n", command, out, strerror(errno));
        return 2;
    }
    for (int i = 0; inputs[i]; i++) {
        struct stat si;
        if (!*inputs[i] || stat(inputs[i], &si) != 0) continue;
        if (si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
            fprintf(stderr, "dystress %s: the output %s is the input %s (the same file): refusing to overwrite an "
                    "input, even with --overwrite\n", command, out, inputs[i]);
            return 2;
        }
    }
    if (S_ISDIR(so.st_mode)) {
        fprintf(stderr, "dystress %s: the output %s is a folder\n", command, out);
        return 2;
    }
    /* a device node, FIFO or socket (or a link to one) is never replaced, --overwrite or not: as root, replacing
     * /dev/null would leave a regular file there for every process */
    struct stat sl;
    if (!S_ISREG(so.st_mode) || (lstat(out, &sl) == 0 && !S_ISREG(sl.st_mode) && !S_ISLNK(sl.st_mode))) {
        fprintf(stderr, "dystress %s: the output %s is not a regular file (a device, FIFO or socket): refusing to "
                "replace it, even with --overwrite\n", command, out);
        return 2;
    }
    if (!overwrite) {
        fprintf(stderr, "dystress %s: %s exists; give --overwrite to replace it, or choose another name\n", command,
                out);
        return 2;
    }
    return 0;
}

int cli_load_run_config(const char *run_dir, opt_spec *specs, char **text_out) {
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/config.json", run_dir);
    size_t length = 0;
    char *text = cli_read_file(path, CLI_CONFIG_MAX_BYTES, &length, err, sizeof err);
    if (!text) {
        fprintf(stderr, "dystress: %s\n", err);
        return -1;
    }
    for (opt_spec *s = specs; s->name; s++)
        if (opt_set(s, s->def, err, sizeof err) != 0) break;
    if (opt_read_json(specs, path, text, length, err, sizeof err) != 0) {
        fprintf(stderr, "dystress: %s\n", err);
        free(text);
        return -1;
    }
    for (int i = 0; one_shot_options[i]; i++) {
        opt_spec *s = opt_find(specs, one_shot_options[i]);
        if (s) *(bool *)s->value = false;
    }
    *text_out = text;
    return 0;
}

const char *cli_process_label = "";

int cli_error(dy_ctx *ctx, const char *what) {
    fprintf(stderr, "dystress: %s%s: %s\n", cli_process_label, what, ctx ? dy_ctx_error(ctx) : "failed");
    return 1;
}

void cli_config_beside(const char *checkpoint, char *out, size_t size) {
    const char *slash = strrchr(checkpoint, '/');
    if (slash) snprintf(out, size, "%.*s/config.json", (int)(slash - checkpoint), checkpoint);
    else snprintf(out, size, "config.json");
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
        cli_config_beside(*checkpoint, cfg, sizeof cfg);
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
    if (run_options_check(o, err, sizeof err) != 0) {
        fprintf(stderr, "dystress: %s\n", err);
        return 2;
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
    progress_step(&((cli_training *)user)->pr, r->epoch, r->epochs, r->step_in_epoch, r->steps_per_epoch, r->step,
                  r->total_steps, r->loss, r->lr, r->images_per_s);
}

void cli_on_message(void *user, const char *text) { progress_log(&((cli_training *)user)->pr, "%s", text); }

void cli_write_report(cli_training *t) {
    char skipped[1024] = "";
    dy_report_options ro = {.command = t->command, .skipped = skipped, .skipped_size = sizeof skipped};
    if (dy_report_write(t->ctx, t->run_dir, NULL, &ro) != DY_OK)
        progress_log(&t->pr, "warning: the report was not written: %s", dy_ctx_error(t->ctx));
    else if (*skipped)
        progress_log(&t->pr, "note: the report skipped %s", skipped);
}

void cli_on_epoch_end(void *user, int64_t epoch) {
    (void)epoch;
    cli_training *t = user;
    if (t->report) cli_write_report(t);
}

/* Appends s to buf, single-quoted for a POSIX shell when it holds anything but plain characters. */
static void append_quoted(char *buf, size_t size, const char *s) {
    size_t len = strlen(buf);
    bool plain = *s != 0;
    for (const char *p = s; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./,=:+-@%", *p)) plain = false;
    if (plain) {
        snprintf(buf + len, size - len, "%s", s);
        return;
    }
    if (len + 1 < size) buf[len++] = '\'';
    for (const char *p = s; *p && len + 5 < size; p++) {
        if (*p == '\'') {
            memcpy(buf + len, "'\\''", 4);
            len += 4;
        } else {
            buf[len++] = *p;
        }
    }
    if (len + 1 < size) buf[len++] = '\'';
    buf[len < size ? len : size - 1] = 0;
}

void cli_reproduce_command(const opt_spec *specs, char *buf, size_t size) {
    run_options d;
    opt_spec defaults[RUN_OPTION_COUNT];
    run_option_table(defaults, &d);
    char err[256];
    for (opt_spec *s = defaults; s->name; s++) opt_set(s, s->def, err, sizeof err);
    snprintf(buf, size, "dystress pretrain");
    for (const opt_spec *s = specs; s->name; s++) {
        opt_spec *ds = opt_find(defaults, s->name);
        if (!ds || !strcmp(s->name, "resume") || !strcmp(s->name, "max-steps")) continue;
        char value[1024] = "";
        switch (s->type) {
        case OPT_INT:
            if (*(int64_t *)s->value == *(int64_t *)ds->value) continue;
            snprintf(value, sizeof value, "%lld", (long long)*(int64_t *)s->value);
            break;
        case OPT_FLOAT: {
            double v = *(double *)s->value;
            if (v == *(double *)ds->value) continue;
            for (int digits = 6; digits <= 17; digits++) { /* the shortest text that reads back as v */
                snprintf(value, sizeof value, "%.*g", digits, v);
                if (strtod(value, NULL) == v) break;
            }
            break;
        }
        case OPT_BOOL: {
            bool v = *(bool *)s->value;
            if (v == *(bool *)ds->value) continue;
            size_t len = strlen(buf);
            snprintf(buf + len, size - len, " --%s%s", v ? "" : "no-", s->name);
            continue;
        }
        case OPT_STRING:
        case OPT_CHOICE:
        case OPT_INT_LIST:
            if (!strcmp(*(const char **)s->value, *(const char **)ds->value)) continue;
            snprintf(value, sizeof value, "%s", *(const char **)s->value);
            break;
        }
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, " --%s ", s->name);
        append_quoted(buf, size, value);
    }
}

int cli_parse_with_config(const char *command, opt_spec *specs, run_options *o, int argc, char **argv, int first,
                          char **text) {
    *text = NULL;
    char err[1024];
    int rc = opt_parse(specs, argc, argv, first, NULL, 0, NULL, err, sizeof err);
    if (rc == 1) return 1;
    if (rc != 0) {
        fprintf(stderr, "dystress %s: %s\n", command, err);
        return 2;
    }
    if (!*o->config) return 0;
    if (o->resume) {
        fprintf(stderr, "dystress %s: --config with --resume: a resumed run reads its own config.json\n", command);
        return 2;
    }
    const char *path = o->config; /* points into argv */
    size_t length = 0;
    char *t = cli_read_file(path, CLI_CONFIG_MAX_BYTES, &length, err, sizeof err);
    if (!t) {
        fprintf(stderr, "dystress %s: --config: %s\n", command, err);
        return 2;
    }
    for (opt_spec *s = specs; s->name; s++) opt_set(s, s->def, err, sizeof err);
    if (opt_read_json(specs, path, t, length, err, sizeof err) != 0) {
        fprintf(stderr, "dystress %s: --config: %s\n", command, err);
        free(t);
        return 2;
    }
    /* the file gives the run's configuration; how this process runs (run-dir, threads, resume, overwrite, ...) is
     * this command line's or the default, never the file's */
    for (opt_spec *s = specs; s->name; s++)
        if (run_option_role_of(s->name) == RUN_OPTION_INVOCATION) opt_set(s, s->def, err, sizeof err);
    if (opt_parse_over(specs, argc, argv, first, NULL, 0, NULL, err, sizeof err) != 0) {
        fprintf(stderr, "dystress %s: %s\n", command, err);
        free(t);
        return 2;
    }
    *text = t;
    return 0;
}
