/*
 * lc_sample.h — choosing the next token from logits, with Hugging Face
 * generate() semantics, in HF's order: repetition penalty, then temperature,
 * top-k, top-p; greedy (argmax) when temperature is 0. Draws use a seeded
 * lc_rng, so a seed reproduces a generation exactly.
 */
#ifndef LC_SAMPLE_H
#define LC_SAMPLE_H

#include <stdint.h>

#include "lc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    float temperature;        /* 0: greedy; else logits / temperature */
    int top_k;                /* 0: off; else keep tokens whose logit >= the k-th largest (ties kept) */
    float top_p;              /* 1: off; else the smallest most-probable set with mass >= top_p */
    float repetition_penalty; /* 1: off; else for each token already present: logit > 0 ? logit / p : logit * p */
} lc_sample_params;

lc_sample_params lc_sample_default_params(void); /* greedy: temperature 0, top_k 0, top_p 1, penalty 1 */
/* LC_ERR_ARG with a message if a value is out of range (temperature < 0,
 * top_k < 0, top_p not in (0, 1], penalty <= 0, or any NaN). */
lc_status lc_sample_params_validate(const lc_sample_params *p);

/* Index of the largest logit (the first one on ties, as torch.argmax). */
int lc_sample_argmax(const float *logits, int V);

/* HF RepetitionPenaltyLogitsProcessor on logits (V), in place: each distinct
 * id of hist[n] (ids outside 0..V-1 ignored) is penalised once. seen (V) is
 * scratch that must be all zero on entry; it is all zero again on return. */
void lc_sample_repetition_penalty(float *logits, int V, const int32_t *hist, int n, float penalty,
                                  unsigned char *seen);

/* The distribution sampling draws from, after temperature, top-k and top-p
 * (temperature > 0 required): writes the surviving token ids and their
 * renormalised probabilities, most probable first (ties: lower id first),
 * into ids and probs (room for V each) and returns how many (>= 1).
 * logits (V) are not modified. */
int lc_sample_candidates(const float *logits, int V, const lc_sample_params *p, int32_t *ids,
                         float *probs);

/* A sampler: parameters, RNG and scratch for a vocabulary of V. */
typedef struct lc_sampler lc_sampler;
lc_status lc_sampler_create(lc_sampler **out, int V, const lc_sample_params *p, uint64_t seed);
void lc_sampler_free(lc_sampler *s);
/* Pick the next token from logits (V; modified in place by the repetition
 * penalty), given the tokens so far hist[n] (prompt + generated). */
int lc_sampler_sample(lc_sampler *s, float *logits, const int32_t *hist, int n);

#ifdef __cplusplus
}
#endif
#endif /* LC_SAMPLE_H */
