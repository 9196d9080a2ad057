/* arch.h - the network: a stack of fully connected layers, softmax on the output.
 *
 * Parameters of one model live in one flat float buffer of ab_arch_nparams() floats:
 * for each layer l in order, W[l] as [in][out] row-major, then b[l] as [out].
 * K models are K such buffers back to back (model k starts at k * nparams). */
#ifndef ABGPU_ARCH_H
#define ABGPU_ARCH_H
#include <stddef.h>
#include "abgpu/consts.h"
#include "abgpu/err.h"

#define AB_MAX_LAYERS 8
#define AB_NCLASS 2

/* ab_act (identity, relu, sigmoid, tanh) is in consts.h, shared with the kernels. */
int ab_act_parse(ab_act *out, const char *s);
const char *ab_act_name(ab_act a);

typedef struct ab_arch {
  int nlayers;                  /* linear layers, hidden ones plus the output layer */
  int dims[AB_MAX_LAYERS + 1];  /* dims[0] = inputs, dims[nlayers] = AB_NCLASS */
  ab_act act[AB_MAX_LAYERS];    /* activation after each layer; the last is identity */
} ab_arch;

/* Builds an arch from "100,100" and "relu,sigmoid" (one activation per hidden layer,
 * or one for all). */
int ab_arch_parse(ab_arch *a, int nin, const char *hidden, const char *acts, ab_err *e);
/* Floats in one model's parameter buffer. */
size_t ab_arch_nparams(const ab_arch *a);
/* Offsets (in floats) of W[l] and b[l] inside one model's buffer. */
size_t ab_arch_w_off(const ab_arch *a, int l);
size_t ab_arch_b_off(const ab_arch *a, int l);
/* Widest layer (inputs included). */
int ab_arch_maxdim(const ab_arch *a);
/* Floating-point operations per training sample (forward + backward, 2 per MAC x 3). */
double ab_arch_train_flops(const ab_arch *a);
/* "10-100-100-2 relu,sigmoid" into buf. */
void ab_arch_describe(const ab_arch *a, char *buf, size_t n);

#endif
