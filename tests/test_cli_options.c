/* The option table: parsing, ranges, choices, booleans, help, and the JSON round trip used by --resume. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli/options.h"
#include "testlib.h"
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
    CHECK(opt_read_json(specs, text, err, sizeof err) == 0, "json read back: %s", err);
    CHECK(batch == 64 && lr == 0.125 && !strcmp(profile, "const") && !strcmp(name, "a\"b\\c") && nesterov,
          "json round trip keeps every value (name=%s)", name);
    char broken[] = "{\"batch-size\": 64, \"colour\": 3}";
    CHECK(opt_read_json(specs, broken, err, sizeof err) == -1 && strstr(err, "colour"), "unknown key: %s", err);
    char garbage[] = "[1, 2]";
    CHECK(opt_read_json(specs, garbage, err, sizeof err) == -1, "not an object: %s", err);
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
    return test_finish();
}
