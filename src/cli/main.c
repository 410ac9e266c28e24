/* The dystress command: dispatches to the subcommands. */
#include "dystress.h"

#include <stdio.h>
#include <string.h>

static int usage(FILE *f) {
    fprintf(f,
            "dystress %s — self-supervised contrastive pretraining with dynamically scaled temperature\n\n"
            "usage: dystress COMMAND [options]\n\n"
            "commands:\n"
            "  version    print the version and the compute backend of this build\n",
            DY_VERSION);
    return f == stderr ? 2 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage(stderr);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) return usage(stdout);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("dystress %s (oneDNN: %s)\n", DY_VERSION, dy_have_dnnl() ? "yes" : "no");
        return 0;
    }
    fprintf(stderr, "dystress: unknown command '%s' (see dystress --help)\n", cmd);
    return 2;
}
