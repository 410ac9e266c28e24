/* The option table: parsing, ranges, choices, booleans, help, and the JSON round trip used by --resume. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/config.h"
#include "cli/options.h"
#include "cli_support.h"
#include "data/dataset.h"
#include "testlib.h"
#include "train/pretrain.h"
#include "train/schedule.h"

static int64_t batch;
static double lr;
static const char *profile, *name;
static bool nesterov;

static opt_spec specs[] = {
    {"batch-size", OPT_INT, &batch, "128", "images per batch", NULL, 2, 65536},
    {"lr", OPT_FLOAT, &lr, "0.06", "learning rate", NULL, 0, 0},
    {"profile", OPT_CHOICE, &profile, "cosine", "temperature profile", "const|cosine|shifted", 0, 0},
    {"name", OPT_STRING, &name, "", "run name", NULL, 0, 0},
    {"nesterov", OPT_BOOL, &nesterov, "false", "Nesterov momentum", NULL, 0, 0},
    {0},
};

static int parse(const char *line, char *err) {
    char buf[512], *argv[32];
    int argc = 0;
    strcpy(buf, line);
    for (char *t = strtok(buf, " "); t; t = strtok(NULL, " ")) argv[argc++] = t;
    static char keep[16][512];
    static int k;
    /* the table keeps pointers to string values: give it storage that outlives this call */
    memcpy(keep[k % 16], buf, sizeof buf);
    for (int i = 0; i < argc; i++) argv[i] = keep[k % 16] + (argv[i] - buf);
    k++;
    return opt_parse(specs, argc, argv, 0, NULL, 0, NULL, err, 256);
}

/* ---- issue 10 item 6: config.json through the strict JSON parser ---- */

/* A run table read from text (defaults first); returns opt_read_json's result, message in err. */
static int read_config(run_options *o, opt_spec *t, const char *text, size_t n, char *err, size_t err_size) {
    static char keep[8][4096];
    static int k;
    char *buf = keep[k++ % 8];
    memcpy(buf, text, n);
    buf[n] = 0;
    run_option_table(t, o);
    for (opt_spec *s = t; s->name; s++)
        if (opt_set(s, s->def, err, err_size) != 0) return -2;
    return opt_read_json(t, "run/config.json", buf, n, err, err_size);
}

static char *table_json(const opt_spec *t) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    opt_write_json(f, t, "  ");
    fclose(f);
    return text;
}

static void item6_config_json(void) {
    run_options o, back;
    opt_spec t[RUN_OPTION_COUNT], tb[RUN_OPTION_COUNT];
    char err[1024];
    /* every option written and read back, with LF and with CRLF line ends */
    char *argv[] = {"--depth", "50", "--lr", "0.125", "--data-dir", "dir with \"quotes\", \\ and \x01 and \xC3\xA9",
                    "--milestones", "3,7", "--epochs", "9", "--nesterov", "--momentum", "0.9", "--tau-min", "1e-4",
                    "--knn-t", "0.0001"};
    run_option_table(t, &o);
    CHECK(opt_parse(t, (int)(sizeof argv / sizeof *argv), argv, 0, NULL, 0, NULL, err, sizeof err) == 0,
          "item6: options for the round trip: %s", err);
    char *want = table_json(t);
    CHECK(read_config(&back, tb, want, strlen(want), err, sizeof err) == 0, "item6: written config reads back: %s",
          err);
    char *got = table_json(tb);
    CHECK(!strcmp(got, want), "item6: every option survives config.json:\n%s\nvs\n%s", want, got);
    free(got);
    char crlf[8192];
    size_t n = 0;
    for (const char *c = want; *c && n < sizeof crlf - 2; c++) {
        if (*c == '\n') crlf[n++] = '\r';
        crlf[n++] = *c;
    }
    CHECK(read_config(&back, tb, crlf, n, err, sizeof err) == 0 && back.lr == 0.125 && back.depth == 50 &&
              back.epochs == 9 && !strcmp(back.milestones, "3,7"),
          "item6_config_crlf: CRLF line ends read (lr %g): %s", back.lr, err);
    free(want);

    const struct {
        const char *text, *want;
    } bad[] = {
        /* an unquoted value does not run on into the rest of the file */
        {"{\"data-dir\": runs/x,\n \"lr\": 0.1}", "run/config.json:1:14: expected a value, found the bare word 'runs'"},
        {"{\"lr\": 0.1}\n}", "run/config.json:2:1: text after the end of the JSON value"},
        {"{\"lr\": 0.1} trailing", "run/config.json:1:13: text after the end"},
        {"{\"data-dir\": \"a\\u0000b\"}", "run/config.json:1:14: \"data-dir\" holds a NUL character"},
        {"{\"lr\": \"0.1\"}", "run/config.json:1:8: \"lr\" must be a number, found a string"},
        {"{\r\n\"batch-size\": 1e3\r\n}", "run/config.json:2:15: --batch-size expects an integer, got '1e3'"},
        {"{\"batch-size\": 64.0}", "--batch-size expects an integer, got '64.0'"},
        {"{\"seed\": 99999999999999999999}", "--seed expects an integer of at most 19 digits"},
        {"{\"nesterov\": \"yes\"}", "\"nesterov\" must be a boolean (true or false), found a string"},
        {"{\"nesterov\": null}", "found a null"},
        {"{\"depth\": [18]}", "found an array"},
        {"{\"lr\": 0.1,\n  \"colour\": 3}", "run/config.json:2:3: unknown option \"colour\""},
        {"{\"lr\": 0.1, \"lr\": 0.2}", "\"lr\" appears twice"},
        {"[1, 2]", "run/config.json:1:1: the configuration must be a JSON object of options, found an array"},
        {"", "run/config.json:1:1: no JSON value"},
        {"{\"lr\": 0.1\r\n", "run/config.json:2:1: expected ',' or '}'"},
        {"{\"depth\": 34}", "--depth must be one of 18|50, got '34'"},
        {"{\"tau\": 1e-6}", "--tau must be between 0.0001 and 10000"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = read_config(&back, tb, bad[i].text, strlen(bad[i].text), err, sizeof err);
        CHECK(rc == -1 && strstr(err, bad[i].want), "item6_config_refused %zu: %s\n  got:  %s\n  want: %s", i,
              bad[i].text, rc == -1 ? err : "(accepted)", bad[i].want);
    }
    /* a raw NUL byte in the file is an error at its position, not the end of the text */
    CHECK(read_config(&back, tb, "{\"lr\": 0.1}\0junk", 16, err, sizeof err) == -1 && strstr(err, "1:12: NUL byte"),
          "item6: a NUL byte in config.json is refused: %s", err);
}

/* The reader of config.json: regular files of bounded size only. */
static void item6_config_file(void) {
    char err[512];
    size_t n = 0;
    char *t = cli_read_file("/dev/zero", CLI_CONFIG_MAX_BYTES, &n, err, sizeof err);
    CHECK(!t && strstr(err, "/dev/zero is not a regular file"), "item6: /dev/zero refused: %s", err);
    free(t);
    char dir[] = "/tmp/dy_item6_XXXXXX";
    if (!CHECK(mkdtemp(dir) != NULL, "item6: temporary folder")) return;
    char fifo[128], big[128];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    snprintf(big, sizeof big, "%s/big.json", dir);
    if (mkfifo(fifo, 0600) == 0) {
        t = cli_read_file(fifo, CLI_CONFIG_MAX_BYTES, &n, err, sizeof err);
        CHECK(!t && strstr(err, "not a regular file"), "item6: a FIFO is refused without waiting: %s", err);
        free(t);
    }
    FILE *f = fopen(big, "wb");
    for (int i = 0; f && i < (1 << 20) + 1; i++) fputc(' ', f);
    if (f) fclose(f);
    t = cli_read_file(big, CLI_CONFIG_MAX_BYTES, &n, err, sizeof err);
    CHECK(!t && strstr(err, "limit of 1048576 bytes"), "item6: a config.json above 1 MiB is refused: %s", err);
    free(t);
    t = cli_read_file(dir, CLI_CONFIG_MAX_BYTES, &n, err, sizeof err);
    CHECK(!t && strstr(err, "not a regular file"), "item6: a folder is refused: %s", err);
    free(t);
    unlink(fifo);
    unlink(big);
    rmdir(dir);
}

/* ---- issue 10 item 12: one range per option, checked when parsed ---- */

static int parse_run(run_options *o, opt_spec *t, const char *line, char *err, size_t err_size) {
    static char keep[8][512];
    static int k;
    char *buf = keep[k++ % 8], *argv[32];
    snprintf(buf, 512, "%s", line);
    int argc = 0;
    for (char *p = strtok(buf, " "); p && argc < 32; p = strtok(NULL, " ")) argv[argc++] = p;
    run_option_table(t, o);
    int rc = opt_parse(t, argc, argv, 0, NULL, 0, NULL, err, err_size);
    if (rc == 0) rc = run_options_check(o, err, err_size);
    return rc;
}

static void item12_option_ranges(void) {
    run_options o;
    opt_spec t[RUN_OPTION_COUNT];
    char err[512];
    const struct {
        const char *line, *want; /* want NULL: accepted */
    } cases[] = {
        {"--milestones 9999999999999999999", "each value must be between 1 and 1048576, got '9999999999999999999'"},
        {"--milestones 99999999999", "each value must be between 1 and 1048576, got 99999999999"},
        {"--milestones -5", "each value must be between 1"},
        {"--milestones 0", "each value must be between 1"},
        {"--milestones 3,,4", "integers separated by commas"},
        {"--milestones 3,", "integers separated by commas"},
        {"--milestones ,3", "integers separated by commas"},
        {"--milestones 3x", "integers separated by commas"},
        {"--milestones +3", "integers separated by commas"},
        {"--milestones 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17", "at most 16 values"},
        {"--milestones 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", NULL},
        {"--milestones 120,160", NULL},
        {"--milestones 120,201", "epoch 201 is after the last epoch (--epochs 200)"},
        {"--milestones 120,300 --epochs 300", NULL},
        {"--milestones", "needs a value"},
        {"--depth 34", "--depth must be one of 18|50, got '34'"},
        {"--depth 018", "must be one of 18|50"},
        {"--depth 50", NULL},
        {"--tau 1e-6", "--tau must be between 0.0001 and 10000"},
        {"--tau 1e-4 --profile const", NULL},
        {"--tau-min 5e-5", "--tau-min must be between 0.0001 and 10000"},
        {"--tau-max 2e4", "--tau-max must be between"},
        {"--tau-min 0.5 --tau-max 0.2", "--tau-min 0.5 is above --tau-max 0.2"},
        {"--tau-min 0.5 --tau-max 0.2 --profile const", NULL},
        {"--nesterov", "--nesterov needs --momentum above 0"},
        {"--nesterov --momentum 0.9", NULL},
        {"--lars-eta 0", "--lars-eta must be between"},
        {"--seed 99999999999999999999", "at most 19 digits"},
        {"--data-dir caf\xE9", "--data-dir is not valid UTF-8 (byte 0xe9 at offset 3"},
        {"--data-dir caf\xC3\xA9", NULL},
        /* issue 23 item 5 */
        {"--milestones 5,3 --epochs 9", "--milestones must be increasing epochs, got 3 after 5"},
        {"--milestones 3,3 --epochs 9", "--milestones must be increasing"},
        {"--milestones 3,5 --epochs 9", NULL},
        {"--framework moco --moco-queue 7 --batch-size 16", "--moco-queue 7 is smaller than --batch-size 16"},
        {"--framework moco --moco-queue 16 --batch-size 16", NULL},
        {"--moco-queue 7 --batch-size 16", NULL}, /* SimCLR has no queue */
        {"--lr 0x10", "--lr expects a decimal number, got '0x10' (hexadecimal is not accepted)"},
        {"--lr -0X1p-3", "--lr expects a decimal number"},
        {"--tau 0x1p-3 --profile const", "--tau expects a decimal number"},
        {"--seed 0x10", "--seed expects a decimal number"},
        {"--lr 16", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = parse_run(&o, t, cases[i].line, err, sizeof err);
        if (cases[i].want)
            CHECK(rc == -1 && strstr(err, cases[i].want), "item12_option_ranges: '%s' refused when parsed\n  got:  %s\n"
                  "  want: %s", cases[i].line, rc == -1 ? err : "(accepted)", cases[i].want);
        else
            CHECK(rc == 0, "item12_option_ranges: '%s' accepted: %s", cases[i].line, err);
    }
    CHECK(parse_run(&o, t, "--depth 50", err, sizeof err) == 0 && o.depth == 50, "item12: --depth 50 is 50");

    /* the ends of each temperature option's range pass the loss's own check (one range, not two) */
    const char *ends[] = {"0.0001", "10000"};
    for (int e = 0; e < 2; e++) {
        char line[128];
        snprintf(line, sizeof line, "--profile const --tau %s", ends[e]);
        CHECK(parse_run(&o, t, line, err, sizeof err) == 0, "item12: %s parses", line);
        dy_tau_profile p = cli_tau_profile(&o);
        CHECK(dy_tau_check(NULL, &p) == DY_OK, "item12: --tau %s, accepted by the table, passes dy_tau_check", ends[e]);
        snprintf(line, sizeof line, "--profile shifted --tau-min %s --tau-max %s --shift-scale 1e-6 --shift-offset 2",
                 ends[e], ends[e]);
        CHECK(parse_run(&o, t, line, err, sizeof err) == 0, "item12: %s parses", line);
        p = cli_tau_profile(&o);
        CHECK(dy_tau_check(NULL, &p) == DY_OK, "item12: the shifted profile at tau %s and its range ends passes "
              "dy_tau_check", ends[e]);
    }
}

/* The library refuses what would overflow, whatever the caller: a milestone beyond the epochs. */
static void item12_library_milestones(void) {
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 1, .backend = DY_BACKEND_REF};
    if (!CHECK(dy_ctx_create(&ctx, &co) == DY_OK, "item12: context")) return;
    dy_dataset *ds = dy_dataset_alloc(8, 1, 8, 8);
    for (int64_t i = 0; i < 8; i++) ds->labels[i] = (int32_t)(i % 2);
    dy_dataset_set_classes(ctx, ds, 2, NULL, "tiny");
    run_options o;
    opt_spec t[RUN_OPTION_COUNT];
    char err[512];
    parse_run(&o, t, "--width 2 --batch-size 4 --epochs 2 --schedule step --milestones 1,2 --head-hidden 4 "
                     "--head-out 4 --knn-every -1", err, sizeof err);
    dy_pretrain_config c;
    CHECK(cli_pretrain_config(ctx, &o, ds, &c) == DY_OK && c.n_milestones == 2 && c.milestones[1] == 2,
          "item12: milestones reach the trainer: %s", dy_ctx_error(ctx));
    c.milestones[1] = (int64_t)1 << 62; /* a library caller that skipped the CLI */
    dy_trainer *tr = NULL;
    CHECK(dy_trainer_create(ctx, &c, ds, NULL, &tr) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "milestone"),
          "item12_library_milestones: a milestone beyond the epochs is refused: %s", dy_ctx_error(ctx));
    dy_trainer_destroy(tr);
    o.milestones = "5";
    CHECK(cli_pretrain_config(ctx, &o, ds, &c) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "after the last epoch"),
          "item12: cli_pretrain_config applies the same cross-option check: %s", dy_ctx_error(ctx));
    /* issue 23 item 5: the library refuses unsorted milestones and a MoCo queue shorter than the batch itself */
    o.milestones = "1,2";
    CHECK(cli_pretrain_config(ctx, &o, ds, &c) == DY_OK, "issue23: config again: %s", dy_ctx_error(ctx));
    c.milestones[0] = 2, c.milestones[1] = 1;
    tr = NULL;
    CHECK(dy_trainer_create(ctx, &c, ds, NULL, &tr) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "increase"),
          "issue23_library_unsorted_milestones: refused: %s", dy_ctx_error(ctx));
    dy_trainer_destroy(tr);
    c.milestones[0] = 1, c.milestones[1] = 2;
    c.framework = DY_FRAMEWORK_MOCO;
    c.moco_queue = 3;
    tr = NULL;
    CHECK(dy_trainer_create(ctx, &c, ds, NULL, &tr) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "MoCo queue"),
          "issue23_library_moco_queue_below_batch: refused: %s", dy_ctx_error(ctx));
    dy_trainer_destroy(tr);
    dy_dataset_free(ds);
    dy_ctx_destroy(ctx);
}

/* issue 25: the temperature schedule's options: what each schedule needs, what it would ignore, ranges; the
 * library's own checks reached through cli_tau_schedule name the option too. */
static void issue25_schedule_options(void) {
    run_options o;
    opt_spec t[RUN_OPTION_COUNT];
    char err[512];
    const struct {
        const char *line, *want; /* want NULL: accepted */
    } cases[] = {
        {"--tau-schedule cosine", "--tau-schedule cosine needs an end: --tau-end-ratio R"},
        {"--tau-schedule linear --profile const", "or --tau-end TAU"},
        {"--tau-schedule cosine --tau-end-ratio 0.1", NULL},
        {"--tau-schedule linear --tau-end-ratio 0.1 --tau-schedule-unit epochs", NULL},
        {"--tau-schedule linear --tau-end 0.02 --profile const", NULL},
        {"--tau-schedule linear --tau-end 0.02", "--tau-end sets the const profile's end; the cosine profile's"},
        {"--tau-end-ratio 0.1", "--tau-end-ratio has no effect with --tau-schedule constant"},
        {"--tau-end 0.02 --profile const", "--tau-end has no effect with --tau-schedule constant"},
        {"--tau-schedule cosine --tau-end 0.02 --tau-end-ratio 0.1 --profile const", "both give the end"},
        {"--tau-schedule cosine --tau-end-ratio 0.1 --tau-adapt band", "cannot be combined with --tau-adapt band"},
        {"--tau-adapt band", NULL},
        {"--tau-schedule file", "--tau-schedule file needs --tau-schedule-file"},
        {"--tau-schedule-file x.csv", "--tau-schedule-file needs --tau-schedule file (got constant)"},
        {"--tau-schedule file --tau-schedule-file x.csv --tau-end-ratio 0.5", "the file gives the levels"},
        {"--tau-schedule file --tau-schedule-file x.csv", NULL},
        {"--tau-schedule exp --tau-end-ratio 0.1", "--tau-schedule must be one of constant|linear|cosine|file"},
        {"--tau-schedule cosine --tau-end 1e-5 --profile const", "--tau-end 1e-05 is outside the supported"},
        {"--tau-end -1", "--tau-end must be between"},
        {"--tau-end-ratio 0", "--tau-end-ratio must be between"},
        {"--tau-schedule-unit hours", "--tau-schedule-unit must be one of steps|epochs"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = parse_run(&o, t, cases[i].line, err, sizeof err);
        if (cases[i].want)
            CHECK(rc == -1 && strstr(err, cases[i].want), "issue25: '%s' refused\n  got:  %s\n  want: %s",
                  cases[i].line, rc == -1 ? err : "(accepted)", cases[i].want);
        else
            CHECK(rc == 0, "issue25: '%s' accepted: %s", cases[i].line, err);
    }
    dy_ctx *ctx = NULL;
    dy_ctx_options co = {.threads = 1, .backend = DY_BACKEND_REF};
    if (!CHECK(dy_ctx_create(&ctx, &co) == DY_OK, "issue25: context")) return;
    dy_tau_schedule s;
    CHECK(parse_run(&o, t, "--tau-schedule cosine --tau-end-ratio 1e-4", err, sizeof err) == 0, "issue25: parsed");
    dy_tau_profile p = cli_tau_profile(&o);
    CHECK(cli_tau_schedule(ctx, &o, &p, &s) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "--tau-end-ratio 0.0001"),
          "issue25: an end below the supported temperatures refused: %s", dy_ctx_error(ctx));
    CHECK(parse_run(&o, t, "--tau-schedule linear --tau-end 0.02 --profile const --tau-schedule-unit epochs", err,
                    sizeof err) == 0, "issue25: parsed --tau-end");
    p = cli_tau_profile(&o);
    CHECK(cli_tau_schedule(ctx, &o, &p, &s) == DY_OK && s.kind == DY_TAU_SCHEDULE_LINEAR && s.per_epoch &&
              s.end_ratio == 0.02 / 0.2, "issue25: --tau-end 0.02 from --tau 0.2 is the ratio 0.1, by epochs");
    char path[128];
    snprintf(path, sizeof path, "/tmp/dystress-options-schedule-%d.csv", (int)getpid());
    FILE *f = fopen(path, "w");
    if (f) fputs("fraction,tau\n0,0.2\n0.5,0.02\n", f), fclose(f);
    char line[300];
    snprintf(line, sizeof line, "--tau-schedule file --tau-schedule-file %s --profile const", path);
    CHECK(parse_run(&o, t, line, err, sizeof err) == 0, "issue25: parsed the file schedule");
    p = cli_tau_profile(&o);
    CHECK(cli_tau_schedule(ctx, &o, &p, &s) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), path) &&
              strstr(dy_ctx_error(ctx), "end at 1"), "issue25: a table that stops at half the run refused, file named: "
          "%s", dy_ctx_error(ctx));
    f = fopen(path, "w");
    if (f) fputs("fraction,tau\n0,0.2\n1,0.02\n", f), fclose(f);
    CHECK(cli_tau_schedule(ctx, &o, &p, &s) == DY_OK && s.kind == DY_TAU_SCHEDULE_FILE && !s.table &&
              !strcmp(s.file, path), "issue25: a good table accepted; the trainer reads it: %s", dy_ctx_error(ctx));
    o.profile = "cosine";
    p = cli_tau_profile(&o);
    CHECK(cli_tau_schedule(ctx, &o, &p, &s) == DY_ERR_INVALID && strstr(dy_ctx_error(ctx), "tau_min,tau_max"),
          "issue25: a tau table for the cosine profile refused: %s", dy_ctx_error(ctx));
    unlink(path);
    dy_ctx_destroy(ctx);
}

/* issue 25: eval's few-label options refused when out of range, before any data is read (the data folder here does
 * not exist), with the option named */
static void issue25_label_options(void) {
    static const struct { const char *line, *want; } cases[] = {
        {"--label-fraction 1.5", "--label-fraction must be between 0 and 1, got 1.5"},
        {"--label-fraction -0.01", "--label-fraction must be between 0 and 1"},
        {"--label-fraction nan", "--label-fraction"},
        {"--label-fraction 0x1p-3", "--label-fraction expects a decimal number"},
        {"--labels-per-class -3", "--labels-per-class must be between 0"},
        {"--labels-per-class 2.5", "--labels-per-class expects an integer"},
        {"--label-seed -1", "--label-seed must be between 0"},
        {"--ft-batch 1", "--ft-batch must be between 2"},
        {"--ft-optimizer lars", "sgd|adam"},
    };
    static char out[1 << 16];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int rc = cli_run(out, sizeof out, "./dystress eval knn --features pixels --data mnist --data-dir "
                         "/nonexistent/dy-issue25 %s", cases[i].line);
        CHECK(rc == 2 && strstr(out, cases[i].want), "issue25_label_options: '%s' refused (exit %d)\n  got:  %s"
              "  want: %s", cases[i].line, rc, out, cases[i].want);
    }
    int rc = cli_run(out, sizeof out, "./dystress eval linear --help");
    CHECK(rc == 0 && strstr(out, "--label-fraction") && strstr(out, "--labels-per-class") && strstr(out,
          "--label-seed") && strstr(out, "--long-tail"), "issue25: eval --help lists the few-label options and "
          "--long-tail");
}

int main(void) {
    char err[256];
    CHECK(parse("", err) == 0 && batch == 128 && lr == 0.06 && !strcmp(profile, "cosine") && !nesterov,
          "defaults applied");
    CHECK(parse("--batch-size 256 --lr=0.5 --profile shifted --nesterov --name run1", err) == 0 && batch == 256 &&
              lr == 0.5 && !strcmp(profile, "shifted") && nesterov && !strcmp(name, "run1"),
          "values parsed");
    CHECK(parse("--nesterov --no-nesterov", err) == 0 && !nesterov, "--no-flag");
    CHECK(parse("--batch-size 1", err) == -1 && strstr(err, "between"), "range refused: %s", err);
    CHECK(parse("--batch-size 12x", err) == -1 && strstr(err, "integer"), "non-integer refused: %s", err);
    CHECK(parse("--lr nan", err) == -1 && strstr(err, "finite"), "NaN refused: %s", err);
    CHECK(parse("--profile linear", err) == -1 && strstr(err, "const|cosine|shifted"), "bad choice: %s", err);
    CHECK(parse("--bogus 3", err) == -1 && strstr(err, "unknown option --bogus"), "unknown option: %s", err);
    CHECK(parse("--lr", err) == -1 && strstr(err, "needs a value"), "missing value: %s", err);
    CHECK(parse("stray", err) == -1 && strstr(err, "unexpected argument"), "positional refused: %s", err);
    CHECK(parse("--help", err) == 1, "--help recognised");

    /* JSON round trip */
    CHECK(parse("--batch-size 64 --lr 0.125 --profile const --name a\"b\\c --nesterov", err) == 0, "parse for json");
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    opt_write_json(f, specs, "  ");
    fclose(f);
    CHECK(parse("", err) == 0 && batch == 128, "reset to defaults");
    CHECK(opt_read_json(specs, "t.json", text, strlen(text), err, sizeof err) == 0, "json read back: %s", err);
    CHECK(batch == 64 && lr == 0.125 && !strcmp(profile, "const") && !strcmp(name, "a\"b\\c") && nesterov,
          "json round trip keeps every value (name=%s)", name);
    char broken[] = "{\"batch-size\": 64, \"colour\": 3}";
    CHECK(opt_read_json(specs, "t.json", broken, strlen(broken), err, sizeof err) == -1 && strstr(err, "colour"), "unknown key: %s", err);
    char garbage[] = "[1, 2]";
    CHECK(opt_read_json(specs, "t.json", garbage, strlen(garbage), err, sizeof err) == -1, "not an object: %s", err);
    free(text);

    /* schedules */
    dy_schedule s = {.kind = DY_SCHEDULE_COSINE, .base_lr = 1.0, .final_lr = 0.0, .warmup_steps = 10,
                     .total_steps = 110};
    CHECK(fabs(dy_schedule_lr(&s, 0) - 0.1) < 1e-12 && fabs(dy_schedule_lr(&s, 9) - 1.0) < 1e-12, "warm-up linear");
    CHECK(fabs(dy_schedule_lr(&s, 10) - 1.0) < 1e-12 && fabs(dy_schedule_lr(&s, 109)) < 1e-12, "cosine ends");
    CHECK(fabs(dy_schedule_lr(&s, 10 + 99 / 2.0) - 0.5) < 0.02, "cosine midpoint");
    dy_schedule st = {.kind = DY_SCHEDULE_STEP, .base_lr = 1.0, .total_steps = 100, .milestones = {30, 60},
                      .n_milestones = 2, .gamma = 0.1};
    CHECK(dy_schedule_lr(&st, 29) == 1.0 && fabs(dy_schedule_lr(&st, 30) - 0.1) < 1e-12 &&
              fabs(dy_schedule_lr(&st, 99) - 0.01) < 1e-12,
          "step schedule");
    item6_config_json();
    item6_config_file();
    item12_option_ranges();
    item12_library_milestones();
    issue25_schedule_options();
    issue25_label_options();
    return test_finish();
}
