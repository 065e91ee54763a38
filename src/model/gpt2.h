/*
 * gpt2.h — private: forward and backward of a GPT-2 lc_model (LC_ARCH_GPT2),
 * reached through the public lc_transformer.h functions, which dispatch here
 * on the model's architecture. Same contracts as those functions.
 */
#ifndef LC_MODEL_GPT2_H
#define LC_MODEL_GPT2_H

#include "lc_transformer.h"

/* lc_acts_create_ex for a GPT-2 model. The returned activations are GPT-2's
 * own layout; lc_acts_free / lc_acts_bytes hand them back here. */
lc_status lc_gpt2_acts_create(lc_acts **out, const lc_model *m, const lc_lora *lora, int B, int T,
                              int grad_checkpointing);
/* If a is GPT-2 activations: free them and return 1; else return 0 (a untouched). */
int lc_gpt2_acts_free(lc_acts *a);
/* If a is GPT-2 activations: *bytes = their size, return 1; else return 0. */
int lc_gpt2_acts_bytes(const lc_acts *a, size_t *bytes);

lc_status lc_gpt2_forward(const lc_model *m, const lc_lora *lora, float lora_scale_mult, lc_acts *a,
                          const lc_batch *batch, double *loss_sum, int64_t *n_targets, float *logits);
lc_status lc_gpt2_forward_backward(const lc_model *m, lc_lora *lora, lc_acts *a, const lc_batch *batch,
                                   float grad_scale, uint64_t dropout_seed, double *loss_sum,
                                   int64_t *n_targets);

#endif /* LC_MODEL_GPT2_H */
