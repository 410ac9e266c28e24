/* Progress reporting: a single rewritten line on a terminal, plain log lines otherwise. */
#ifndef DY_CLI_PROGRESS_H
#define DY_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *out;
    bool tty;            /* rewrite one line in place */
    int64_t log_every;   /* steps between plain log lines when not a terminal */
    double start_time;   /* of the first step reported (a resumed run starts mid-way) */
    int64_t first_step;  /* -1 until a step is reported */
    int line_open;       /* a progress line is on screen, unterminated */
} progress;

double progress_now(void); /* monotonic seconds */
void progress_init(progress *p, FILE *out, int64_t log_every);
/* Reports one training step. */
void progress_step(progress *p, int64_t epoch, int64_t epochs, int64_t step_in_epoch, int64_t steps_per_epoch,
                   int64_t step, int64_t total_steps, double loss, double lr, double images_per_s);
/* Prints a full line (ending the progress line first). printf-style. */
void progress_log(progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void progress_end(progress *p);

#endif
