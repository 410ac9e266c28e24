/* Helpers shared by the subcommands: signals, folders, the files of a run directory, outputs, messages. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/context.h"
#include "io/atomic_file.h"

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

const char *cli_process_label = "";

int cli_error(dy_ctx *ctx, const char *what) {
    fprintf(stderr, "dystress: %s%s: %s\n", cli_process_label, what, ctx ? dy_ctx_error(ctx) : "failed");
    return 1;
}
