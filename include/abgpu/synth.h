/* synth.h - synthetic customers calibrated from statistics of the real data set. */
#ifndef ABGPU_SYNTH_H
#define ABGPU_SYNTH_H
#include "abgpu/table.h"

#define AB_SYNTH_DEFAULT_SEED 20240601u

/* Fills t with n synthetic customers (ids 1..n, with target). Deterministic in seed. */
int ab_synth_generate(ab_table *t, size_t n, uint64_t seed, ab_err *e);

/* Writes n synthetic customers straight to a CSV file (streaming, atomic). */
int ab_synth_write_csv(const char *path, size_t n, uint64_t seed, ab_err *e);
/* The same into an open output, uncommitted (a write error shows on commit). */
struct ab_outfile;
int ab_synth_write_to(struct ab_outfile *o, size_t n, uint64_t seed, ab_err *e);

#endif
