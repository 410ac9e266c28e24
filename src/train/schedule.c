#include "train/schedule.h"

#include <math.h>

double dy_schedule_lr(const dy_schedule *s, int64_t step) {
    if (step < s->warmup_steps) return s->base_lr * (double)(step + 1) / (double)s->warmup_steps;
    switch (s->kind) {
    case DY_SCHEDULE_COSINE: {
        int64_t span = s->total_steps - s->warmup_steps;
        if (span <= 1) return s->base_lr;
        double t = (double)(step - s->warmup_steps) / (double)(span - 1);
        if (t > 1) t = 1;
        return s->final_lr + (s->base_lr - s->final_lr) * 0.5 * (1 + cos(M_PI * t));
    }
    case DY_SCHEDULE_STEP: {
        double lr = s->base_lr;
        for (int i = 0; i < s->n_milestones; i++)
            if (step >= s->milestones[i]) lr *= s->gamma;
        return lr;
    }
    case DY_SCHEDULE_CONSTANT: return s->base_lr;
    }
    return s->base_lr;
}
