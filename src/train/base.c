/*
 * base.c — open a base model and its tokenizer from an HF directory or a
 * GGUF file (see lc_base.h).
 */
#include "lc_base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lc_loader.h"

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Build a tokenizer from GGUF tokenizer.ggml.* metadata. */
static lc_status tokenizer_from_gguf(lc_tokenizer **out, const lc_gguf *g) {
    lc_gguf_tokenizer ti;
    lc_status st = lc_gguf_tokenizer_info(g, &ti);
    if (st) return st;
    char **tokens = calloc((size_t)ti.n_tokens, sizeof *tokens);
    char **merges = ti.n_merges ? calloc((size_t)ti.n_merges, sizeof *merges) : NULL;
    if (!tokens || (ti.n_merges && !merges)) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory for the GGUF vocabulary");
        goto done;
    }
    for (int64_t i = 0; i < ti.n_tokens; i++)
        if (!(tokens[i] = strndup(ti.tokens[i].ptr, ti.tokens[i].len))) {
            st = lc_errorf(LC_ERR_NOMEM, "out of memory for the GGUF vocabulary");
            goto done;
        }
    for (int64_t i = 0; i < ti.n_merges; i++)
        if (!(merges[i] = strndup(ti.merges[i].ptr, ti.merges[i].len))) {
            st = lc_errorf(LC_ERR_NOMEM, "out of memory for the GGUF merges");
            goto done;
        }
    int add_bos = ti.add_bos >= 0 ? ti.add_bos : !strcmp(ti.model ? ti.model : "", "llama");
    st = lc_tokenizer_from_vocab(out, ti.model ? ti.model : "gpt2", ti.pre ? ti.pre : "default",
                                 (const char *const *)tokens, ti.scores, ti.token_type,
                                 (int)ti.n_tokens, (const char *const *)merges, (int)ti.n_merges,
                                 ti.bos_id, ti.eos_id, ti.unk_id, add_bos, ti.add_space_prefix);
    if (st == LC_OK && ti.chat_template) lc_tokenizer_set_chat_template(*out, ti.chat_template);
done:
    if (tokens)
        for (int64_t i = 0; i < ti.n_tokens; i++) free(tokens[i]);
    if (merges)
        for (int64_t i = 0; i < ti.n_merges; i++) free(merges[i]);
    free(tokens);
    free(merges);
    return st;
}

lc_status lc_base_open_tokenizer(lc_tokenizer **out, const char *model_path, const char *tokenizer_path) {
    *out = NULL;
    if (tokenizer_path && *tokenizer_path) return lc_tokenizer_load(out, tokenizer_path);
    struct stat sb;
    if (stat(model_path, &sb) != 0)
        return lc_errorf(LC_ERR_IO, "model '%s' not found (give an HF model directory or a .gguf file)",
                         model_path);
    if (!(S_ISREG(sb.st_mode) && ends_with(model_path, ".gguf"))) return lc_tokenizer_load(out, model_path);
    lc_gguf *g = NULL;
    lc_status st = lc_gguf_open(&g, model_path);
    if (st) return st;
    st = tokenizer_from_gguf(out, g);
    lc_gguf_close(g);
    if (st) lc_error_wrap(st, "model '%s': tokenizer", model_path);
    return st;
}

lc_status lc_base_open(lc_base *b, const char *model_path, const char *tokenizer_path) {
    memset(b, 0, sizeof *b);
    snprintf(b->path, sizeof b->path, "%s", model_path);
    struct stat sb;
    if (stat(model_path, &sb) != 0)
        return lc_errorf(LC_ERR_IO, "model '%s' not found (give an HF model directory or a .gguf file)",
                         model_path);
    lc_status st;
    lc_gguf *g = NULL;
    if (S_ISREG(sb.st_mode) && ends_with(model_path, ".gguf")) {
        b->is_gguf = 1;
        st = lc_model_load_gguf(&b->model, model_path, &g);
    } else if (S_ISDIR(sb.st_mode)) {
        st = lc_model_load_hf(&b->model, model_path);
    } else {
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "model '%s': expected an HF model directory (config.json + safetensors) or a "
                         ".gguf file",
                         model_path);
    }
    if (st) return st;
    if (tokenizer_path && *tokenizer_path) st = lc_tokenizer_load(&b->tok, tokenizer_path);
    else if (g) st = tokenizer_from_gguf(&b->tok, g);
    else st = lc_tokenizer_load(&b->tok, model_path);
    if (g) lc_gguf_close(g);
    if (st) {
        lc_error_wrap(st, "model '%s': tokenizer", model_path);
        lc_base_close(b);
        return st;
    }
    /* A tokenizer may carry extra added tokens beyond the model's vocabulary
     * (e.g. SmolLM's [PAD]); ids are range-checked where a batch is built. */
    return LC_OK;
}

void lc_base_close(lc_base *b) {
    lc_model_free(&b->model);
    lc_tokenizer_free(b->tok);
    b->tok = NULL;
}
