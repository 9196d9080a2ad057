/* sweep_int.h - what the sweep's source files share (private to src/train). */
#ifndef ABGPU_TRAIN_SWEEP_INT_H
#define ABGPU_TRAIN_SWEEP_INT_H
#include "abgpu/sweep.h"

/* The canonical form of one value of dimension d into out[AB_SPACE_VALUE_LEN]; returns
 * 0, or -1 with *why saying what was expected. */
int ab_sweep_canon(ab_dim d, char *out, const char *tok, const char **why);
/* Sets dimension d of c from a canonical value. */
void ab_sweep_cfg_set(ab_sweep_cfg *c, ab_dim d, const char *v);

#endif
