/*
 * lc_adapter.h — LoRA adapters on disk (HDF5, via lc_ckpt): the adapter
 * tensors under their PEFT names, the LoRA config, the identity of the base
 * model they belong to, the chat template they were trained with, and — in
 * training checkpoints — everything needed to resume bit-identically
 * (AdamW moments, step, data order and position, best validation loss).
 * The exact layout is documented in docs/formats.md.
 */
#ifndef LC_ADAPTER_H
#define LC_ADAPTER_H

#include <stdint.h>

#include "lc_common.h"
#include "lc_lora.h"
#include "lc_model.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LC_ADAPTER_FORMAT "lorac-adapter"
#define LC_ADAPTER_VERSION 4 /* read up to; written: 4 with add_tokens, 3 with trainable tokens, 2 for DoRA, else 1 */

/* Training progress saved with a checkpoint (absent in a plain adapter). */
typedef struct {
    int64_t step;              /* optimizer steps completed */
    int64_t total_steps;
    int64_t epoch, pos;        /* batcher: epoch being served, next position in it */
    uint64_t epoch_rng[4];     /* batcher RNG at the start of that epoch */
    double best_valid_loss;    /* +inf if no evaluation yet */
    int64_t best_step;
    int64_t evals_since_best;  /* for early stopping */
    int64_t tokens_seen;       /* target tokens trained on */
    int64_t bad_steps;         /* consecutive non-finite steps at save time */
    double elapsed_s;          /* training wall time so far */
} lc_train_state;

/* What a saved adapter says about itself. */
typedef struct {
    lc_lora_config cfg;
    double scale;
    char base_identity[65];
    char base_arch[64];
    char base_source[1024];
    char chat_template[4096];  /* template name ("chatml", ...) or the custom template string; "" if none */
    int base_vocab_size;       /* the base's vocabulary before cfg.add_tokens */
    int has_train_state;
} lc_adapter_info;

/* Write lora (params; and, when state != NULL, AdamW m/v and the state) to
 * path atomically. config_yaml (may be NULL) is stored as the run's resolved
 * config. Refuses NaN/inf (LC_ERR_NUMERIC, nothing written). */
lc_status lc_adapter_save(const char *path, const lc_lora *lora, const lc_model *base,
                          const char *chat_template, const lc_train_state *state,
                          const char *config_yaml);

/* The largest |scale| accepted after "--adapter PATH:" (an adapter applied
 * 1000 times over is a typo, not a use). */
#define LC_ADAPTER_MAX_MULT 1000.0
/* LC_ERR_ARG naming spec unless mult is finite and |mult| <= LC_ADAPTER_MAX_MULT. */
lc_status lc_adapter_check_mult(const char *spec, double mult);

/* Read the metadata of an adapter file without loading tensors. Every
 * object is opened by the name the format defines (no walk over the file's
 * links); r, lora_alpha and scaling must be finite and in range
 * (LC_ERR_FORMAT / LC_ERR_NUMERIC naming the file and the key). */
lc_status lc_adapter_read_info(const char *path, lc_adapter_info *info);

/* Load an adapter for `base` into *lora (allocated here, as lc_lora_init).
 * The base identity must match (LC_ERR_MISMATCH naming both identities and
 * sources) unless allow_other_base. When state != NULL the file must be a
 * training checkpoint; m/v and *state are restored. info (may be NULL)
 * receives the metadata. */
lc_status lc_adapter_load(const char *path, const lc_model *base, lc_lora *lora, lc_train_state *state,
                          lc_adapter_info *info, int allow_other_base);

/* `init_adapter`: copy the weights of the adapter at path (lorac HDF5
 * adapter or checkpoint for this base, or a PEFT adapter directory) into
 * lora, made from the run's config by lc_lora_init, and zero its AdamW
 * moments. Every module must match in presence, rank and scale
 * (LC_ERR_MISMATCH naming the path, the module and both values). */
lc_status lc_adapter_init_from(lc_lora *lora, const lc_model *base, const char *path);

/* The run config stored in a checkpoint, malloc'd (caller frees), or NULL
 * with an error. */
char *lc_adapter_config_yaml(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* LC_ADAPTER_H */
