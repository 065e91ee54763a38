/*
 * prompt.c — the prompt policy shared by train, eval, generate, chat and
 * sweep (lc_prompt.h): chat-template choice, encoding "as training does",
 * the stop-token set and adapter arguments PATH[:SCALE]. One place for each
 * rule, so the verbs cannot drift apart.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lc_data.h"
#include "lc_prompt.h"

/* ------------------------------------------------------------ templates */

/* The model's own template: *out NULL if it has none; an error if it has
 * one that is not recognised. */
static lc_status model_template(lc_chat_template **out, const lc_tokenizer *tok) {
    const char *jinja = tok ? lc_tokenizer_chat_template(tok) : NULL;
    *out = NULL;
    return jinja ? lc_chat_template_detect(out, jinja) : LC_OK;
}

/* The template named `name` (a known name or a custom format), taken from
 * the model when the model's is of the same kind (default system message). */
static lc_status named_template(lc_chat_template **out, const char *name, lc_chat_template **model_t) {
    lc_status st = lc_chat_template_create(out, name);
    if (st) return st;
    if (*model_t && !strcmp(lc_chat_template_name(*model_t), lc_chat_template_name(*out))) {
        lc_chat_template_free(*out);
        *out = *model_t;
        *model_t = NULL;
    }
    return LC_OK;
}

const char *lc_prompt_family_template(const char *family) {
    static const char *const GEMMA[] = {"gemma", "gemma2", "gemma3", "gemma3_text"};
    for (size_t i = 0; family && i < sizeof GEMMA / sizeof GEMMA[0]; i++)
        if (!strcmp(family, GEMMA[i])) return "gemma";
    return NULL;
}

lc_status lc_prompt_template_resolve(lc_chat_template **out, const char *requested, const char *recorded,
                                     const lc_tokenizer *tok, const char *family, char *note, size_t note_size) {
    *out = NULL;
    if (note && note_size) note[0] = 0;
    int explicit_ = requested && *requested && strcmp(requested, "auto");
    int has_rec = recorded && *recorded && strcmp(recorded, "auto");
    lc_chat_template *model_t = NULL;
    lc_status mst = model_template(&model_t, tok), st;
    if (explicit_) {
        if ((st = named_template(out, requested, &model_t)))
            lc_error_wrap(st, "chat template '%s'", requested);
        else if (has_rec && strcmp(lc_chat_template_name(*out), recorded) && note)
            snprintf(note, note_size, "the adapter was trained with chat template '%s'; using '%s' as asked",
                     recorded, lc_chat_template_name(*out));
    } else if (has_rec && !strcmp(recorded, "custom")) {
        st = lc_errorf(LC_ERR_CONFIG, "the adapter was trained with a custom chat template whose format it does not "
                       "record; give the format again (chat_template / --chat-template FORMAT)");
    } else if (has_rec) {
        if ((st = named_template(out, recorded, &model_t)))
            lc_error_wrap(st, "the adapter stores the chat template '%s'", recorded);
        else if (model_t && note)
            snprintf(note, note_size, "using the adapter's chat template '%s' (the model's: %s)", recorded,
                     lc_chat_template_name(model_t));
    } else if (mst) {
        st = mst; /* the message asks for the template by name */
    } else if (model_t) {
        *out = model_t;
        model_t = NULL;
        st = LC_OK;
    } else {
        const char *fam_t = lc_prompt_family_template(family);
        st = lc_chat_template_create(out, fam_t ? fam_t : "none");
    }
    lc_chat_template_free(model_t);
    if (st) {
        lc_chat_template_free(*out);
        *out = NULL;
    }
    return st;
}

lc_status lc_data_template_resolve(lc_chat_template **out, const lc_train_config *cfg, const lc_tokenizer *tok,
                                   const char *family) {
    return lc_prompt_template_resolve(out, cfg->chat_template, NULL, tok, family, NULL, 0);
}

/* ------------------------------------------------------------ encoding */

lc_status lc_prompt_encode_piece(const lc_tokenizer *tok, const char *text, int first, int32_t **ids, int *n) {
    *ids = NULL;
    *n = 0;
    lc_status st = lc_tokenizer_encode(tok, text, strlen(text), first, ids, n);
    if (st) return st;
    int bos = lc_tokenizer_bos_id(tok);
    if (first && bos >= 0 && *n >= 2 && (*ids)[0] == bos && (*ids)[1] == bos) {
        memmove(*ids, *ids + 1, (size_t)(*n - 1) * sizeof **ids);
        (*n)--;
    }
    return LC_OK;
}

/* Append the encoding of text to ids[*n] (grown). */
static lc_status append_piece(const lc_tokenizer *tok, const char *text, int32_t **ids, int *n) {
    int32_t *p = NULL;
    int k = 0;
    lc_status st = lc_prompt_encode_piece(tok, text, *n == 0, &p, &k);
    if (st) return st;
    int32_t *grown = realloc(*ids, (size_t)(*n + k + 1) * sizeof *grown);
    if (!grown) {
        free(p);
        return lc_errorf(LC_ERR_NOMEM, "out of memory encoding the prompt");
    }
    memcpy(grown + *n, p, (size_t)k * sizeof *p);
    *ids = grown;
    *n += k;
    free(p);
    return LC_OK;
}

lc_status lc_prompt_build(const lc_tokenizer *tok, const lc_chat_template *tmpl, const lc_chat_msg *msgs, int n_msgs,
                          int plain, int32_t **ids, int *n, char **text) {
    *ids = NULL;
    *n = 0;
    if (text) *text = NULL;
    if (n_msgs < 1) return lc_errorf(LC_ERR_ARG, "lc_prompt_build: no message to answer");
    lc_chat_segment one = {(char *)msgs[n_msgs - 1].content, 0}, *segs = &one;
    int n_segs = 1, rendered = 0;
    lc_status st = LC_OK;
    int raw_or_plain = !tmpl || (plain && n_msgs == 1 && !strcmp(lc_chat_template_name(tmpl), "none"));
    if (!raw_or_plain) {
        if ((st = lc_chat_render(tmpl, msgs, n_msgs, 1, &segs, &n_segs))) return st;
        rendered = 1;
    }
    size_t len = 0;
    for (int i = 0; i < n_segs; i++) len += strlen(segs[i].text);
    if (text && !(*text = calloc(len + 1, 1))) st = lc_errorf(LC_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_segs && !st; i++) {
        if (text) strcat(*text, segs[i].text);
        st = append_piece(tok, segs[i].text, ids, n);
    }
    if (rendered) lc_chat_segments_free(segs, n_segs);
    if (st) {
        free(*ids);
        *ids = NULL;
        *n = 0;
        if (text) {
            free(*text);
            *text = NULL;
        }
    }
    return st;
}

/* ------------------------------------------------------------ stop set */

static void add_stop(int32_t *out, int *n, int id, int vocab_size) {
    if (id < 0 || id >= vocab_size || *n == LC_PROMPT_MAX_STOP) return;
    for (int i = 0; i < *n; i++)
        if (out[i] == id) return;
    out[(*n)++] = id;
}

int lc_prompt_stop_ids(const lc_tokenizer *tok, const lc_chat_template *tmpl, int model_eos, int vocab_size,
                       int32_t out[LC_PROMPT_MAX_STOP]) {
    static const char *const END_TOKENS[] = {"<|im_end|>",      "<|eot_id|>",    "<|eom_id|>",
                                             "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>"};
    int n = 0;
    add_stop(out, &n, lc_tokenizer_eos_id(tok), vocab_size);
    add_stop(out, &n, model_eos, vocab_size);
    const char *end = tmpl ? lc_chat_template_end_token(tmpl) : NULL;
    if (end) add_stop(out, &n, lc_tokenizer_token_id(tok, end), vocab_size);
    for (size_t k = 0; k < sizeof END_TOKENS / sizeof END_TOKENS[0]; k++)
        add_stop(out, &n, lc_tokenizer_token_id(tok, END_TOKENS[k]), vocab_size);
    return n;
}

/* ------------------------------------------------------------ adapter specs */

lc_status lc_prompt_adapter_spec(const char *spec, char *path, size_t path_size, float *scale) {
    *scale = 1.0f;
    if (!spec || !*spec) return lc_errorf(LC_ERR_ARG, "adapter '': expected PATH[:SCALE], found an empty string");
    size_t plen = strlen(spec);
    const char *colon = strrchr(spec, ':');
    if (colon) {
        struct stat sb;
        char *end;
        double d = strtod(colon + 1, &end);
        int numeric = end != colon + 1 && !*end;
        if (!numeric && stat(spec, &sb) != 0)
            return lc_errorf(LC_ERR_ARG, "adapter '%s': the scale after ':' is not a number (found '%s'); expected "
                             "PATH[:SCALE], e.g. adapter.h5:0.5", spec, colon + 1);
        if (numeric) { /* range (and NaN) checked by the user of the scale: lc_adapter_check_mult */
            *scale = isfinite(d) && fabs(d) > 3.4e38 ? (float)(d > 0 ? INFINITY : -INFINITY) : (float)d;
            plen = (size_t)(colon - spec);
        }
    }
    if (plen == 0) return lc_errorf(LC_ERR_ARG, "adapter '%s': expected PATH[:SCALE], the path is empty", spec);
    if (plen >= path_size)
        return lc_errorf(LC_ERR_ARG, "adapter '%s': the path is longer than %zu bytes", spec, path_size - 1);
    memcpy(path, spec, plen);
    path[plen] = 0;
    return LC_OK;
}
