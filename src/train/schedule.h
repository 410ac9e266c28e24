/* Learning-rate schedules, as a function of the optimizer step. */
#ifndef DY_TRAIN_SCHEDULE_H
#define DY_TRAIN_SCHEDULE_H

#include <stdint.h>

typedef enum { DY_SCHEDULE_COSINE, DY_SCHEDULE_STEP, DY_SCHEDULE_CONSTANT } dy_schedule_kind;

typedef struct {
    dy_schedule_kind kind;
    double base_lr;
    double final_lr;          /* cosine: the value reached at the last step */
    int64_t warmup_steps;     /* linear warm-up from base_lr / warmup_steps to base_lr (any kind) */
    int64_t total_steps;
    int64_t milestones[16];   /* step: multiply by gamma at each of these steps */
    int n_milestones;
    double gamma;
} dy_schedule;

/* The learning rate of step `step` (0-based). */
double dy_schedule_lr(const dy_schedule *s, int64_t step);

#endif
