/*
 * norm_act.c — GPT-2's LayerNorm and GELU (tanh approximation) kernels and
 * Gemma's GeGLU (gelu_tanh(gate) * up): the
 * bodies in norm_act_generic.inc instantiated for float (the public API in
 * lc_kernels.h) and for double (the _f64 twins in norm_act_f64.h, used only
 * by the finite-difference tests).
 */
#include "lc_kernels.h"
#include "norm_act_f64.h"

#include <math.h>

#include "lc_common.h"

#define real float
#define FN(name) name
#define R_TANH tanhf
#include "norm_act_generic.inc"
#undef real
#undef FN
#undef R_TANH

#define real double
#define FN(name) name##_f64
#define R_TANH tanh
#include "norm_act_generic.inc"
#undef real
#undef FN
#undef R_TANH
