/* consts.h - the constants shared by the host and the OpenCL kernels, written once.
 *
 * Valid C11 and OpenCL C 1.2: enums and #defines only, no includes. The OpenCL engine
 * passes this file as the first source of the program (before kernels/common.cl), so a
 * kernel sees exactly the values the host uses; arch.h includes it for the host. */
#ifndef ABGPU_CONSTS_H
#define ABGPU_CONSTS_H

/* Activation after a linear layer (ab_arch.act, the kernels' `act` arguments). */
typedef enum {
  AB_ACT_IDENTITY = 0,
  AB_ACT_RELU = 1,
  AB_ACT_SIGMOID = 2,
  AB_ACT_TANH = 3
} ab_act;

/* Adam's constants (the design's optimiser: beta 0.9/0.999, eps 1e-8; not flags). */
#define AB_ADAM_BETA1 0.9f
#define AB_ADAM_BETA2 0.999f
#define AB_ADAM_EPS 1e-8f

/* Dropout's mask hash (ab_ref_mix32, kernels/dropout.cl): a 32-bit integer mixer, two
 * xorshift-multiply rounds (the constants of Wellons' "lowbias32", a bijection with low
 * bias), so the mask is integer arithmetic and equal on every device. */
#define AB_MIX_M1 0x7feb352dU
#define AB_MIX_M2 0x846ca68bU

/* The fused kernels' arch table ("meta", int32), written by src/cl/fused.c and read by
 * kernels/fused.cl: AB_META_LAYER header entries, then AB_META_NF entries per layer. */
enum {
  AB_META_L = 0,     /* layers */
  AB_META_RT = 1,    /* rows per tile */
  AB_META_PP = 2,    /* padded W+b floats per model */
  AB_META_SS = 3,    /* training scratch floats per model */
  AB_META_DZA = 4,   /* local offsets (floats) of the two dZ buffers, */
  AB_META_DZB = 5,
  AB_META_RL = 6,    /* and of the row losses and correct flags [2][RT] */
  AB_META_LAYER = 8, /* where the per-layer entries start */
  AB_META_NF = 12    /* entries per layer */
};
/* Per-layer entries, at AB_META_LAYER + l * AB_META_NF. */
enum {
  AB_META_IN = 0,    /* input width */
  AB_META_OUT = 1,   /* output width */
  AB_META_INP = 2,   /* padded widths */
  AB_META_OUTP = 3,
  AB_META_ACT = 4,   /* ab_act */
  AB_META_WOFF = 5,  /* W's offset in the flat parameters (arch.h) */
  AB_META_WPO = 6,   /* W's offset in the padded copy */
  AB_META_WTO = 7,   /* W transposed: offset in the transposed copy */
  AB_META_AIN = 8,   /* local offsets of the layer's input and output activations */
  AB_META_AOUT = 9
};

#endif
