/* The dystress command: dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/distributed.h"
#include "dystress.h"

static int usage(FILE *f) {
    fprintf(f,
            "dystress %s — self-supervised contrastive pretraining with dynamically scaled temperature (DySTreSS)\n\n"
            "usage: dystress COMMAND [options]     (dystress COMMAND --help lists a command's options)\n\n"
            "commands:\n"
            "  pretrain     pretrain an encoder (SimCLR or MoCo, any temperature profile) into a run directory\n"
            "  eval knn     weighted kNN accuracy of a checkpoint's features (or raw pixels, or a random encoder)\n"
            "  eval linear  linear-probe accuracy (cached features, or the paper's augmented protocol)\n"
            "  eval finetune  accuracy after fine-tuning the encoder end to end on the (few) labels\n"
            "  embed        write a data set's features and labels as .npy files\n"
            "  export       write the encoder as safetensors with torchvision's names\n"
            "  demo         the main job: short pretraining on Fashion-MNIST, then kNN and linear evaluation\n"
            "  tune         search temperature profiles (successive halving, scored on a validation split)\n"
            "  report       an HTML page of a run (curves, the temperature at work, neighbours, maps); --compare\n"
            "  version      the version, the compute backend and whether MPI is in (mpirun -np P dystress pretrain)\n",
            DY_VERSION);
    return f == stderr ? 2 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage(stderr);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) return usage(stdout);
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
        printf("dystress %s (oneDNN: %s, MPI: %s)\n", DY_VERSION, dy_have_dnnl() ? "yes" : "no",
               dy_have_mpi() ? "yes" : "no");
        return 0;
    }
    if (!strcmp(cmd, "pretrain")) return cmd_pretrain(argc, argv);
    /* Every other command works in one process: under mpirun or srun rank 0 runs it once (one output, one progress
     * line) and the other ranks leave at once, quietly and successfully; none of them joins the MPI job. */
    long size;
    if (cli_dist_launched_rank(&size) != 0) return 0;
    if (size > 1)
        fprintf(stderr, "dystress %s: started as %ld processes by an MPI launcher: only pretrain trains data-parallel; "
                "this command runs once, in rank 0\n", cmd, size);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc, argv);
    if (!strcmp(cmd, "embed")) return cmd_embed(argc, argv);
    if (!strcmp(cmd, "export")) return cmd_export(argc, argv);
    if (!strcmp(cmd, "demo")) return cmd_demo(argc, argv);
    if (!strcmp(cmd, "report")) return cmd_report(argc, argv);
    if (!strcmp(cmd, "tune")) return cmd_tune(argc, argv);
    fprintf(stderr, "dystress: unknown command '%s' (see dystress --help)\n", cmd);
    return 2;
}
