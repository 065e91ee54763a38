/*
 * oracle_harness.h — the shared half of the oracle tests (tests/oracle for
 * the Llama family, tests/oracle_gpt2 for GPT-2): lorac against a reference
 * file written by make_refs*.py with PyTorch + PEFT.
 *
 * One case runs, in order:
 *   oracle_open      load the HF dir and the reference (tokens, targets,
 *                    n_targets, meta.r / alpha / scaling);
 *   oracle_adapter   an r/alpha adapter on every linear layer of the model's
 *                    architecture ("all-linear"), A/B copied from the
 *                    reference's initial values;
 *   oracle_forward_checks   lora scale, logits and loss (lc_forward), loss and
 *                    every A/B gradient (lc_forward_backward), base logits with
 *                    lora = NULL and with every lora_B = 0; the adapter is
 *                    restored to its initial values afterwards;
 *   oracle_adamw_checks     10 AdamW steps (lr 1e-2, wd 0.01, clip 1.0) on the
 *                    same batch: loss and pre-clip grad norm per step, final A/B;
 *   oracle_close.
 * Tolerances (max|got - ref| <= tol): logits 1e-5 * max|ref|, loss 1e-5 rel,
 * gradients and grad norms 1e-4 * max|ref|, final A/B 1e-4 * max|ref| or the
 * reference's per-tensor "<name>.after10_atol" (measured float32 noise).
 * Every compared tensor prints one table row (max abs error, max|ref|, their
 * ratio, tol) and counts in oracle_checks / oracle_failures.
 */
#ifndef ORACLE_HARNESS_H
#define ORACLE_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "lc_lora.h"
#include "lc_model.h"
#include "lc_safetensors.h"
#include "lc_transformer.h"

#define ORACLE_N_STEPS 10
#define ORACLE_TOL_LOGITS 1e-5
#define ORACLE_TOL_LOSS 1e-5
#define ORACLE_TOL_GRAD 1e-4
#define ORACLE_TOL_NORM 1e-4
#define ORACLE_TOL_PARAM 1e-4

extern int oracle_checks, oracle_failures; /* counted by every check / compare row */
extern int oracle_name_width;              /* width of the name column of compare rows (72) */

/* A reference tensor copied out of the file (its data may be unaligned); the
 * caller frees it. Checks dtype and element count; NULL with a message on
 * stderr when missing or mismatched. */
void *oracle_ref_get(const lc_safetensors *st, const char *name, lc_st_dtype dtype, size_t numel);
/* A 1-element float32 reference into *out; 0, or -1 with a message. */
int oracle_ref_scalar_f32(const lc_safetensors *st, const char *name, float *out);

/* One pass/fail row "  <what padded to 72> ok|FAIL"; counts a check. */
void oracle_check(int ok, const char *what);
/* Compare got (n) against ref (n): pass iff max|got - ref| <= tol (NaN fails),
 * tol = rtol * max|ref| unless atol > 0. Prints one table row, counts a
 * check; returns 1 if it passed. */
int oracle_compare(const char *what, const float *got, const float *ref, size_t n, double rtol, double atol);
void oracle_compare_scalar(const char *what, double got, double ref, double rtol);

/* Compare every A/B gradient of lora against "<peft name><suffix>" in st
 * (rtol * max|ref| each, or the file's "<peft name><suffix>_atol" when it has
 * one). 0, or -1 if a reference tensor is missing. */
int oracle_compare_grads(const lc_lora *lora, const lc_safetensors *st, const char *suffix, double rtol);

typedef struct {
    lc_model m;
    lc_lora lora;      /* valid once have_lora */
    lc_safetensors st; /* the reference file */
    lc_acts *acts;
    int32_t *tokens;  /* (B, T) */
    int32_t *targets; /* (B, T) */
    float *logits;    /* (B*T, V) scratch */
    float *params0;   /* (lora.n_params) the reference's initial A/B */
    lc_batch batch;
    int B, T, V;
    int n_ref;            /* number of targets in the batch (reference) */
    int r;                /* meta.r */
    float alpha, scaling; /* meta.alpha, meta.scaling = alpha / r */
    int have_lora;
} oracle_case;

/* Zero c, load the model and the reference inputs. 0, or -1 with a message
 * on stderr; oracle_close(c) is needed either way. */
int oracle_open(oracle_case *c, const char *dir, const char *ref_path);
/* Make the adapter (r, alpha, all-linear for c->m's architecture, no
 * dropout) with the reference's initial A/B, and the activations for (B, T).
 * 0, or -1 with a message. */
int oracle_adapter(oracle_case *c);
/* Print the table header, then the forward, backward and base-logits checks.
 * targets_row: 1 = the lc_forward target count is a table row (a check),
 * 0 = a mismatch only counts as a failure. 0, or -1 if something could not
 * run (message on stderr; the checks done so far are counted). */
int oracle_forward_checks(oracle_case *c, int targets_row);
/* Ten AdamW steps from the current adapter state (m, v zeroed) and the final
 * A/B against "<name>.after10". 0, or -1 if something could not run. */
int oracle_adamw_checks(oracle_case *c);
/* Generation's KV-cache engine (lc_infer) with c->lora: row 0 prefilled at
 * once (GEMM path), and prefilled to T/2 then decoded token by token (the
 * per-row decode path), against the reference logits of row 0, ref (T, V)
 * (ORACLE_TOL_LOGITS). -1 on an engine error. */
int oracle_infer_check(oracle_case *c, const float *ref);
/* Free everything oracle_open / oracle_adapter made. */
void oracle_close(oracle_case *c);

#endif
