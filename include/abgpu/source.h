/* source.h - where a table comes from: the --data argument, a CSV file or synthetic
 * customers. Above table.h and synth.h, so that neither needs the other. */
#ifndef ABGPU_SOURCE_H
#define ABGPU_SOURCE_H
#include "abgpu/table.h"

/* Resolves a --data argument: a file path, or "synth:N[:SEED]" (generated in memory). */
int ab_table_load(ab_table *t, const char *spec, const ab_csv_opts *o, ab_err *e);

#endif
