/* The signal set's bookkeeping (include/dystress/signal.h); the readers are in src/data/audio and src/data/series. */
#include <stdlib.h>

#include "dystress/signal.h"

static void free_names(char **names, int n) {
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

void dy_signal_set_free(dy_signal_set *s) {
    if (!s) return;
    free(s->offsets);
    free(s->samples);
    free(s->labels);
    free_names(s->class_names, s->num_classes);
    free(s->class_counts);
    free(s->groups);
    free_names(s->group_names, s->num_groups);
    for (int64_t i = 0; i < s->skipped; i++) free(s->skipped_files[i]);
    free(s->skipped_files);
    free(s);
}
