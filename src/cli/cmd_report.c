/* dystress report: the run report (src/report/report.h) of a run directory, or several runs compared. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/commands.h"
#include "report/report.h"

/* The reproducing command of a run directory from its config.json; empty when it has none. */
static void run_command(const char *dir, char *buf, size_t size) {
    *buf = 0;
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    struct stat sb;
    if (stat(path, &sb) != 0) return;
    run_options o;
    opt_spec specs[RUN_OPTION_COUNT];
    run_option_table(specs, &o);
    char *text = NULL;
    if (cli_load_run_config(dir, specs, &text) == 0) cli_reproduce_command(specs, buf, size);
    free(text);
}

int cmd_report(int argc, char **argv) {
    bool compare = false;
    const char *out = "";
    opt_spec specs[] = {
        {"compare", OPT_BOOL, &compare, "false", "overlay several runs (RUN_DIR...) on the same axes"},
        {"out", OPT_STRING, &out, "", "the page to write (default: RUN_DIR/report.html; with --compare: "
         "compare.html in the current folder)"},
        {0},
    };
    const char *dirs[DY_REPORT_MAX_RUNS + 1];
    int n = 0;
    char err[512];
    int rc = opt_parse(specs, argc, argv, 2, dirs, DY_REPORT_MAX_RUNS + 1, &n, err, sizeof err);
    rc = cli_parse_outcome("report", rc, "usage: dystress report RUN_DIR [--out FILE]\n       dystress report "
                           "--compare RUN_DIR... [--out FILE]\n\nWrites one self-contained HTML page (no scripts, "
                           "no network) with the run's curves, the temperature\nprofile over the similarity "
                           "distributions, alignment and uniformity, nearest neighbours and maps\nof the embeddings, "
                           "and the configuration. Open it in any browser.\n\noptions:\n", specs, err);
    if (rc != CLI_GO_ON) return rc;
    if (n == 0) {
        fprintf(stderr, "dystress report: name a run directory (dystress report RUN_DIR; see --help)\n");
        return 2;
    }
    if (!compare && n > 1) {
        fprintf(stderr, "dystress report: %d run directories given; use --compare to overlay several runs\n", n);
        return 2;
    }
    if (n > DY_REPORT_MAX_RUNS) {
        fprintf(stderr, "dystress report: at most %d runs can be compared\n", DY_REPORT_MAX_RUNS);
        return 2;
    }
    for (int i = 0; i < n; i++) {
        struct stat sb;
        if (stat(dirs[i], &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            fprintf(stderr, "dystress report: %s is not a run directory (no such folder)\n", dirs[i]);
            return 1;
        }
    }
    dy_ctx *ctx = cli_context(1, "ref"); /* the report only reads files */
    if (!ctx) return 1;
    static char commands[DY_REPORT_MAX_RUNS][8192];
    const char *cmd_ptr[DY_REPORT_MAX_RUNS];
    for (int i = 0; i < n; i++) {
        run_command(dirs[i], commands[i], sizeof commands[i]);
        cmd_ptr[i] = *commands[i] ? commands[i] : NULL;
    }
    char path[4200];
    dy_status st;
    if (compare) {
        snprintf(path, sizeof path, "%s", *out ? out : "compare.html");
        st = dy_report_compare(ctx, dirs, n, path, cmd_ptr);
    } else {
        if (*out) snprintf(path, sizeof path, "%s", out);
        else snprintf(path, sizeof path, "%s/report.html", dirs[0]);
        char skipped[1024] = "";
        dy_report_options ro = {.command = cmd_ptr[0], .skipped = skipped, .skipped_size = sizeof skipped};
        st = dy_report_write(ctx, dirs[0], path, &ro);
        if (st == DY_OK && *skipped) fprintf(stderr, "dystress report: skipped %s\n", skipped);
    }
    int status = 0;
    if (st != DY_OK) status = cli_error(ctx, "report");
    else printf("%s\n", path);
    dy_ctx_destroy(ctx);
    return status;
}
