/*
 * lc_prompt.h — the one prompt policy of lorac: which chat template a model
 * is talked to with, how a prompt becomes token ids ("as training does"),
 * which tokens end a generation, and what an adapter argument PATH[:SCALE]
 * means. `train` (lc_rows_build), `eval` (lc_compare_run), `generate`,
 * `chat` and `sweep` all go through these functions, so a tuned adapter sees
 * at inference exactly the prompt layout it was trained on and every verb
 * stops at the same tokens.
 *
 * Template choice (lc_prompt_template_resolve), first match wins:
 *   1. an explicit name or custom format (config `chat_template`,
 *      --chat-template), not "auto";
 *   2. the name an adapter recorded at training ("custom" cannot be rebuilt
 *      from the adapter: LC_ERR_CONFIG asking for the format);
 *   3. "auto": the model's own Jinja template recognised by
 *      lc_chat_template_detect; an unrecognised one is LC_ERR_UNSUPPORTED
 *      (set the template by name);
 *   4. a model without a template: its family's built-in one
 *      (lc_prompt_family_template: gemma, gemma2, gemma3, gemma3_text ->
 *      "gemma"; a GGUF converted without tokenizer.chat_template, such as
 *      Gemma 3 270M's, still talks in turns); else "none".
 *   A named template of the same kind as the model's detected one is taken
 *   from the model, so it keeps the model's default system message (SmolLM2:
 *   "You are a helpful AI assistant named SmolLM, ..."), as transformers'
 *   apply_chat_template renders it.
 *
 * Encoding: each rendered segment is encoded on its own; only the first
 * gets the tokenizer's special tokens (BOS), and a BOS the template already
 * wrote ("<s>", "<|begin_of_text|>") is not doubled.
 *
 * Stop set: the tokenizer's EOS, the model config's eos_token_id, the
 * template's end-of-turn token (<|im_end|>, <|eot_id|>, </s>, <end_of_turn>), and every
 * known end-of-turn / end-of-text token the vocabulary has (<|im_end|>,
 * <|eot_id|>, <|eom_id|>, <|endoftext|>, <|end_of_text|>, <end_of_turn>).
 */
#ifndef LC_PROMPT_H
#define LC_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "lc_chat.h"
#include "lc_common.h"
#include "lc_tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define LC_PROMPT_MAX_STOP 8

/* Choose the chat template (rules above). requested: NULL, "" or "auto" for
 * none given; recorded: the template name an adapter stored (NULL or "" if
 * none); tok: the model's tokenizer (its Jinja template; may be NULL);
 * family: the model's family name (lc_model.fam.name, e.g. "gemma3"; NULL if
 * unknown) for rule 4. If
 * note is not NULL, a human-readable remark is written there ("" if none):
 * the explicit template differs from the recorded one, or the recorded one
 * differs from the model's. Free *out with lc_chat_template_free. */
lc_status lc_prompt_template_resolve(lc_chat_template **out, const char *requested, const char *recorded,
                                     const lc_tokenizer *tok, const char *family, char *note, size_t note_size);

/* The built-in template name a family talks in when the model carries no
 * template (rule 4): "gemma" for gemma*, else NULL. */
const char *lc_prompt_family_template(const char *family);

/* Encode one piece of a prompt or row: add_special = first (the tokenizer's
 * BOS on the first piece only), and a doubled BOS at the start (template BOS
 * + tokenizer BOS) kept once. *ids is malloc'd (n may be 0). */
lc_status lc_prompt_encode_piece(const lc_tokenizer *tok, const char *text, int first, int32_t **ids, int *n);

/* The model input that asks for the answer to msgs (the last message is the
 * user's; the answer follows):
 *   tmpl NULL (raw)                       the last message's content as is;
 *   "none" and plain (a prompt/completion  "[BOS] prompt", as lc_rows_build
 *   row: one message, no system)          lays out prompt/completion rows;
 *   otherwise                             lc_chat_render of msgs with the
 *                                          generation prompt, segment by segment.
 * *ids is malloc'd; *text (may be NULL) receives the rendered text. */
lc_status lc_prompt_build(const lc_tokenizer *tok, const lc_chat_template *tmpl, const lc_chat_msg *msgs, int n_msgs,
                          int plain, int32_t **ids, int *n, char **text);

/* The token ids that end a generation (rules above), ids < vocab_size only,
 * without duplicates. model_eos: the model config's eos_token_id (-1 if
 * none). tmpl may be NULL. Returns the count (<= LC_PROMPT_MAX_STOP). */
int lc_prompt_stop_ids(const lc_tokenizer *tok, const lc_chat_template *tmpl, int model_eos, int vocab_size,
                       int32_t out[LC_PROMPT_MAX_STOP]);

/* Parse an adapter argument "PATH" or "PATH:SCALE" (SCALE multiplies the
 * adapter's alpha/r scale; default 1). A suffix after the last ':' that is
 * not a number is an error ("adapter 'x.h5:abc': the scale after ':' is not
 * a number ...") unless the whole spec names an existing file (a path with a
 * colon). LC_ERR_ARG for an empty path or a path longer than path_size - 1.
 * The scale's range (finite, |scale| <= 1000) is checked where it is used
 * (lc_adapter_check_mult), so "a.h5:nan" parses. */
lc_status lc_prompt_adapter_spec(const char *spec, char *path, size_t path_size, float *scale);

#ifdef __cplusplus
}
#endif
#endif /* LC_PROMPT_H */
