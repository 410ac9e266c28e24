/* The set-up of the commands that open a trained model (session.h). */
#include "cli/session.h"

#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "model/model.h"

int cli_parse_outcome(const char *command, int rc, const char *usage, const opt_spec *specs, const char *err) {
    if (rc == 0) return CLI_GO_ON;
    if (rc == 1) {
        printf("%s", usage);
        opt_print_help(stdout, specs);
        return 0;
    }
    fprintf(stderr, "dystress %s: %s\n", command, err);
    return 2;
}

/* The options of a command that works on a trained model: the run table (model, data), then the command's own from
 * specs[own] on. Values are layered: defaults < config.json beside --checkpoint (when there is one) < the command
 * line. Returns 0, 1 for --help (help printed with usage), 2 for a usage error (printed). */
static int parse_layered(cli_session *s, const char *usage, int own, int argc, char **argv,
                         const char *const *checkpoint) {
    opt_spec *specs = s->specs;
    char err[512];
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
    char cfg[4200];
    cli_config_beside(*checkpoint, cfg, sizeof cfg);
    FILE *f = **checkpoint ? fopen(cfg, "rb") : NULL;
    if (f) {
        fclose(f);
        char dir[4096];
        snprintf(dir, sizeof dir, "%s", *checkpoint);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = 0;
        else snprintf(dir, sizeof dir, ".");
        if (cli_load_run_config(dir, specs, &s->config_text) != 0) return 2;
        /* a saved configuration knows nothing of this command's own options: defaults, then the line */
        for (opt_spec *e = specs + own; e->name; e++) opt_set(e, e->def, err, sizeof err);
        if (opt_parse_over(specs, argc, argv, 2, NULL, 0, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "dystress: %s\n", err);
            return 2;
        }
    }
    if (run_options_check(&s->o, err, sizeof err) != 0) {
        fprintf(stderr, "dystress: %s\n", err);
        return 2;
    }
    return 0;
}

int cli_session_parse(cli_session *s, const char *command, const char *usage, const opt_spec *extra, int argc,
                      char **argv, const char **checkpoint) {
    memset(s, 0, sizeof *s);
    s->command = command;
    int n = run_option_table(s->specs, &s->o), m = 0;
    while (extra[m].name) m++;
    if (m > CLI_EXTRA_OPTIONS) {
        fprintf(stderr, "dystress %s: %d options of its own, at most %d\n", command, m, CLI_EXTRA_OPTIONS);
        return 1;
    }
    memcpy(s->specs + n, extra, (size_t)(m + 1) * sizeof *extra);
    int rc = parse_layered(s, usage, n, argc, argv, checkpoint);
    if (rc == 0) return CLI_GO_ON;
    return cli_session_end(s, rc == 1 ? 0 : 2);
}

int cli_session_outputs(cli_session *s, const char *checkpoint, const char *out, const char *const *outputs) {
    if (out && (!*checkpoint || !*out)) {
        fprintf(stderr, "dystress %s: give --checkpoint and --out\n", s->command);
        return 2;
    }
    /* never over an input (by file identity, whatever the spelling), never over an existing file unless asked */
    char config[4200];
    cli_config_beside(checkpoint, config, sizeof config);
    const char *inputs[] = {checkpoint, config, NULL};
    for (int i = 0; outputs[i]; i++)
        if (*outputs[i] && cli_check_output(s->command, outputs[i], s->o.overwrite, inputs) != 0) return 2;
    return CLI_GO_ON;
}

int cli_session_data(cli_session *s) {
    if (!(s->ctx = cli_run_context(s->o.threads, &s->o))) return 1;
    if (cli_load_data(s->ctx, &s->o, &s->train, &s->test) != DY_OK) return cli_error(s->ctx, "data");
    return CLI_GO_ON;
}

int cli_session_model(cli_session *s, const char *checkpoint, int data_channels, bool with_head) {
    if (cli_open_model(s->ctx, &s->o, data_channels, checkpoint, with_head, &s->model) != DY_OK)
        return cli_error(s->ctx, "model");
    return CLI_GO_ON;
}

int cli_session_end(cli_session *s, int status) {
    dy_model_destroy(s->model);
    dy_dataset_free(s->train);
    dy_dataset_free(s->test);
    dy_ctx_destroy(s->ctx);
    free(s->config_text);
    memset(s, 0, sizeof *s);
    return status;
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
