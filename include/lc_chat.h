/*
 * lc_chat.h — chat templates: turn (system/user/assistant) messages into the
 * exact text a model was trained on, as segments flagged trainable or not so
 * that only assistant turns carry loss.
 *
 * Known templates: "chatml" (SmolLM2-Instruct, Qwen2), "llama2" ([INST]),
 * "llama3" (header ids), "gemma" (Gemma 2/3 turns), "none" (plain
 * concatenation for base models), and a
 * custom template string from the run config with {role}/{content}-style
 * placeholders (see docs/cli.md). A tokenizer_config.json `chat_template`
 * (Jinja) is recognised by fingerprint as one of the known ones.
 *
 * Output matches transformers' apply_chat_template(..., tokenize=False) byte
 * for byte, including any BOS text the template writes ("<s>" for llama2,
 * "<|begin_of_text|>" for llama3) and a detected default system message
 * (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging
 * Face" when the conversation has none): encode it with add_special = 0.
 *   chatml  "<|im_start|>{role}\n{content}<|im_end|>\n"; prompt "<|im_start|>assistant\n"
 *   llama2  "<s>[INST] {<<SYS>>\n{system}\n<</SYS>>\n\n}{user} [/INST] {assistant} </s>"
 *           (contents stripped; roles must alternate, else LC_ERR_ARG)
 *   llama3  "<|begin_of_text|>" + "<|start_header_id|>{role}<|end_header_id|>\n\n
 *           {content, trimmed}<|eot_id|>"; prompt "<|start_header_id|>assistant<|end_header_id|>\n\n"
 *   gemma   "<bos>" + "<start_of_turn>{user|model}\n{content, trimmed}<end_of_turn>\n";
 *           prompt "<start_of_turn>model\n"; a system message is prepended to
 *           the first user content + "\n\n" (roles must alternate, else LC_ERR_ARG)
 *   none    non-assistant content + "\n"; assistant content as is
 *   custom  the spec is one message's format with {role} and {content} and the
 *           escapes \n \t \\ (e.g. "### {role}:\n{content}\n\n"); the generation
 *           prompt is the format up to {content} with role "assistant"; the text
 *           after {content} counts as the assistant's end (trainable).
 * Segments concatenate to the rendered text; train = 1 marks the assistant's
 * content and end token (" {content} </s>" for llama2), adjacent segments
 * with the same flag are merged.
 */
#ifndef LC_CHAT_H
#define LC_CHAT_H

#include <stddef.h>

#include "lc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *role;    /* "system", "user", "assistant" */
    const char *content;
} lc_chat_msg;

/* One piece of rendered text; train = 1 for assistant content (+ its end token). */
typedef struct {
    char *text;
    int train;
} lc_chat_segment;

typedef struct lc_chat_template lc_chat_template;

/* By name ("chatml", "llama2", "llama3", "gemma", "none") or, if `spec` is not a known
 * name, as a custom template string. */
lc_status lc_chat_template_create(lc_chat_template **out, const char *spec);
/* Recognise a Jinja chat_template from tokenizer_config.json / GGUF as one of
 * the known templates. LC_ERR_UNSUPPORTED (with a message asking for
 * `chat_template` in the config) if it is not recognised. */
lc_status lc_chat_template_detect(lc_chat_template **out, const char *jinja);
void lc_chat_template_free(lc_chat_template *t);
const char *lc_chat_template_name(const lc_chat_template *t);
/* The special token that ends an assistant turn: "<|im_end|>" (chatml),
 * "</s>" (llama2), "<|eot_id|>" (llama3), "<end_of_turn>" (gemma); NULL for
 * none and custom. */
const char *lc_chat_template_end_token(const lc_chat_template *t);

/* Render messages. add_generation_prompt: end with the assistant header so a
 * model continues with the answer (inference). Segments are malloc'd; free
 * with lc_chat_segments_free. */
lc_status lc_chat_render(const lc_chat_template *t, const lc_chat_msg *msgs, int n_msgs,
                         int add_generation_prompt, lc_chat_segment **segs, int *n_segs);
void lc_chat_segments_free(lc_chat_segment *segs, int n_segs);

#ifdef __cplusplus
}
#endif
#endif /* LC_CHAT_H */
