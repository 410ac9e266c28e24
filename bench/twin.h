/* Running a PyTorch twin as its users run it. PyTorch on CPU with glibc malloc page-faults on every large tensor
 * (a third of a training step is system time, 3-4x slower here); its CPU performance guide prescribes tcmalloc or
 * jemalloc, so the twins run with Debian's tcmalloc preloaded. Where tcmalloc is missing the twin still runs, and
 * every result line says the peer was handicapped. Header-only: each bench is one file plus the library. */
#ifndef DY_BENCH_TWIN_H
#define DY_BENCH_TWIN_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define DY_TCMALLOC "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"

/* Whether /usr/bin/python3 has torch; prints why not when it has none. */
static int twin_available(void) {
    if (getenv("DY_BENCH_NO_TWIN")) {
        printf("PyTorch twin skipped (DY_BENCH_NO_TWIN)\n");
        return 0;
    }
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("PyTorch not found for /usr/bin/python3 (Debian python3-torch): the twin is skipped\n");
        return 0;
    }
    return 1;
}

/* The environment prefix of a twin's command line: tcmalloc preloaded when installed. */
static const char *twin_env(void) {
    static int warned;
    if (access(DY_TCMALLOC, R_OK) == 0) return "LD_PRELOAD=" DY_TCMALLOC " ";
    if (!warned++)
        printf("WARNING: %s is missing (Debian libtcmalloc-minimal4): PyTorch runs on glibc malloc, 3-4x slower "
               "than its users run it; its figures below understate it\n", DY_TCMALLOC);
    return "";
}

#endif
