/*
 * adapter_io.c — save and load LoRA adapters and training checkpoints as
 * HDF5 through lc_ckpt (layout in docs/formats.md, contract in lc_adapter.h).
 */
#include "lc_adapter.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_ckpt.h"
#include "lc_tokens.h"

static void targets_string(char *buf, size_t size, unsigned mask) {
    buf[0] = 0;
    for (int t = 0; t < LC_T_COUNT; t++) {
        if (!(mask & (1u << t))) continue;
        size_t n = strlen(buf);
        snprintf(buf + n, size - n, "%s%s", n ? "," : "", lc_lora_target_name((lc_lora_target)t));
    }
}

/* rank_pattern, alpha_pattern, layers_to_transform: JSON text attributes,
 * written only when set (files without them read as "none"). */
static lc_status save_patterns(lc_ckpt *c, const lc_lora_config *cfg) {
    lc_status st = LC_OK;
    if (cfg->rank_pattern[0]) st = lc_ckpt_set_attr_str(c, "adapter", "rank_pattern", cfg->rank_pattern);
    if (!st && cfg->alpha_pattern[0]) st = lc_ckpt_set_attr_str(c, "adapter", "alpha_pattern", cfg->alpha_pattern);
    if (!st && cfg->layers_to_transform[0])
        st = lc_ckpt_set_attr_str(c, "adapter", "layers_to_transform", cfg->layers_to_transform);
    if (!st && cfg->trainable_token_indices[0])
        st = lc_ckpt_set_attr_str(c, "adapter", "trainable_token_indices", cfg->trainable_token_indices);
    if (!st && cfg->add_tokens[0]) st = lc_ckpt_set_attr_str(c, "adapter", "add_tokens", cfg->add_tokens);
    return st;
}

static lc_status read_patterns(const lc_ckpt *c, const char *path, lc_lora_config *cfg) {
    static const char *const keys[5] = {"rank_pattern", "alpha_pattern", "layers_to_transform",
                                        "trainable_token_indices", "add_tokens"};
    char *dst[5] = {cfg->rank_pattern, cfg->alpha_pattern, cfg->layers_to_transform, cfg->trainable_token_indices,
                    cfg->add_tokens};
    for (int i = 0; i < 5; i++) {
        const char *s;
        dst[i][0] = 0;
        if (lc_ckpt_get_attr_str(c, "adapter", keys[i], &s)) continue; /* absent: none */
        if (strlen(s) >= LC_LORA_PATTERN_MAX)
            return lc_errorf(LC_ERR_FORMAT, "%s: attribute adapter/%s is %zu bytes long (at most %d)", path, keys[i],
                             strlen(s), LC_LORA_PATTERN_MAX - 1);
        strcpy(dst[i], s);
    }
    char **strs = NULL;
    int n = 0;
    lc_status st = lc_lora_patterns_check(cfg);
    if (!st) st = lc_tokens_parse_added(cfg->add_tokens, &strs, &n);
    lc_tokens_strs_free(strs, n);
    return st ? lc_error_wrap(st, "%s", path) : LC_OK;
}

/* Number of strings of an add_tokens JSON list (0 for "" or a bad one). */
static int n_added(const char *add_tokens) {
    char **strs = NULL;
    int n = 0;
    if (lc_tokens_parse_added(add_tokens, &strs, &n)) return 0;
    lc_tokens_strs_free(strs, n);
    return n;
}

lc_status lc_adapter_save(const char *path, const lc_lora *lora, const lc_model *base,
                          const char *chat_template, const lc_train_state *state,
                          const char *config_yaml) {
    lc_ckpt *c = NULL;
    lc_status st = lc_ckpt_create(&c);
    if (st) return st;
    char name[512], targets[256];
    const lc_model_config *mc = &base->cfg;
    int r = lora->cfg.r;
    for (int l = 0; l < lora->n_layers && !st; l++)
        for (int t = 0; t < LC_T_COUNT && !st; t++) {
            const lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            int64_t shA[2] = {p->r, p->in}, shB[2] = {p->out, p->r};
            strcpy(name, "adapter/");
            lc_lora_tensor_name(name + 8, sizeof name - 8, l, (lc_lora_target)t, 0);
            st = lc_ckpt_add_f32(c, name, 2, shA, p->A);
            if (st) break;
            lc_lora_tensor_name(name + 8, sizeof name - 8, l, (lc_lora_target)t, 1);
            st = lc_ckpt_add_f32(c, name, 2, shB, p->B);
            if (st || !p->mag) continue;
            int64_t shM[1] = {p->out}; /* DoRA magnitude (out), PEFT's lora_magnitude_vector */
            lc_lora_magnitude_name(name + 8, sizeof name - 8, l, (lc_lora_target)t);
            st = lc_ckpt_add_f32(c, name, 1, shM, p->mag);
        }
    if (!st && lora->tok.n) { /* trainable tokens (n, C), PEFT's trainable_tokens_delta */
        int64_t shT[2] = {lora->tok.n, lora->tok.C};
        st = lc_ckpt_add_f32(c, "adapter/" LC_TOKENS_TENSOR, 2, shT, lora->tok.delta);
    }
    targets_string(targets, sizeof targets, lora->cfg.targets);
    if (!st) st = lc_ckpt_set_attr_str(c, "", "format", LC_ADAPTER_FORMAT);
    /* a DoRA adapter is version 2, one with trainable tokens 3, with added tokens 4: a lorac that does not
     * know them refuses it. base/vocab_size is the base's before the added tokens. */
    int added = n_added(lora->cfg.add_tokens);
    int version = added ? 4 : lora->tok.n ? 3 : lora->cfg.use_dora ? 2 : 1;
    if (!st) st = lc_ckpt_set_attr_i64(c, "", "format_version", version);
    if (!st && lora->cfg.use_dora) st = lc_ckpt_set_attr_i64(c, "adapter", "use_dora", 1);
    if (!st) st = lc_ckpt_set_attr_i64(c, "adapter", "r", r);
    if (!st) st = lc_ckpt_set_attr_f64(c, "adapter", "lora_alpha", lora->cfg.alpha);
    if (!st) st = lc_ckpt_set_attr_f64(c, "adapter", "scaling", lora->scale);
    if (!st) st = lc_ckpt_set_attr_i64(c, "adapter", "use_rslora", lora->cfg.rslora);
    if (!st) st = lc_ckpt_set_attr_f64(c, "adapter", "lora_dropout", lora->cfg.dropout);
    if (!st) st = lc_ckpt_set_attr_str(c, "adapter", "target_modules", targets);
    if (!st) st = lc_ckpt_set_attr_str(c, "adapter", "init_lora_weights", lora->cfg.init_gaussian ? "gaussian" : "kaiming");
    if (!st) st = lc_ckpt_set_attr_i64(c, "adapter", "num_layers", lora->n_layers);
    if (!st) st = save_patterns(c, &lora->cfg);
    if (!st) st = lc_ckpt_set_attr_str(c, "base", "identity", base->identity);
    if (!st) st = lc_ckpt_set_attr_str(c, "base", "architecture", lc_arch_name(mc->arch));
    if (!st) st = lc_ckpt_set_attr_str(c, "base", "source", base->source);
    if (!st) st = lc_ckpt_set_attr_i64(c, "base", "vocab_size", mc->vocab_size - added);
    if (!st) st = lc_ckpt_set_attr_i64(c, "base", "hidden_size", mc->hidden_size);
    if (!st) st = lc_ckpt_set_attr_i64(c, "base", "intermediate_size", mc->intermediate_size);
    if (!st) st = lc_ckpt_set_attr_i64(c, "base", "num_hidden_layers", mc->n_layers);
    if (!st) st = lc_ckpt_set_attr_i64(c, "base", "num_attention_heads", mc->n_heads);
    if (!st) st = lc_ckpt_set_attr_i64(c, "base", "num_key_value_heads", mc->n_kv_heads);
    if (!st) st = lc_ckpt_set_attr_i64(c, "base", "head_dim", mc->head_dim);
    if (!st) st = lc_ckpt_set_attr_str(c, "tokenizer", "chat_template", chat_template ? chat_template : "");
    if (!st && config_yaml) st = lc_ckpt_add_string(c, "config.yaml", config_yaml);
    if (!st && state) {
        int64_t n = (int64_t)lora->n_params;
        st = lc_ckpt_add_f32(c, "optimizer/exp_avg", 1, &n, lora->m);
        if (!st) st = lc_ckpt_add_f32(c, "optimizer/exp_avg_sq", 1, &n, lora->v);
        if (!st) st = lc_ckpt_add_u64(c, "state/epoch_rng", 4, state->epoch_rng);
        int64_t vals[] = {state->step, state->total_steps, state->epoch, state->pos, state->best_step,
                          state->evals_since_best, state->tokens_seen, state->bad_steps};
        if (!st) st = lc_ckpt_add_i64(c, "state/counters", sizeof vals / sizeof vals[0], vals);
        if (!st) st = lc_ckpt_set_attr_f64(c, "state", "best_valid_loss", state->best_valid_loss);
        if (!st) st = lc_ckpt_set_attr_f64(c, "state", "elapsed_s", state->elapsed_s);
        if (!st) st = lc_ckpt_set_attr_i64(c, "", "step", state->step);
    }
    if (!st) st = lc_ckpt_write(c, path);
    lc_ckpt_free(c);
    return st;
}

/* The metadata every adapter file defines (docs/formats.md), opened by name. */
#define ATTR(obj, key) {obj, key, 0, {0}, LC_CKPT_OTHER}
static const lc_ckpt_want META[] = {
    ATTR("", "format"),
    ATTR("", "format_version"),
    ATTR("", "step"),
    ATTR("adapter", "r"),
    ATTR("adapter", "lora_alpha"),
    ATTR("adapter", "scaling"),
    ATTR("adapter", "use_rslora"),
    ATTR("adapter", "lora_dropout"),
    ATTR("adapter", "target_modules"),
    ATTR("adapter", "init_lora_weights"),
    ATTR("adapter", "num_layers"),
    ATTR("base", "identity"),
    ATTR("base", "architecture"),
    ATTR("base", "source"),
    ATTR("base", "vocab_size"),
    ATTR("base", "hidden_size"),
    ATTR("base", "intermediate_size"),
    ATTR("base", "num_hidden_layers"),
    ATTR("base", "num_attention_heads"),
    ATTR("base", "num_key_value_heads"),
    ATTR("base", "head_dim"),
    ATTR("tokenizer", "chat_template"),
    ATTR("state", "best_valid_loss"),
    ATTR("adapter", "use_dora"),
    ATTR("state", "elapsed_s"),
    ATTR("adapter", "rank_pattern"),
    ATTR("adapter", "alpha_pattern"),
    ATTR("adapter", "layers_to_transform"),
    ATTR("adapter", "trainable_token_indices"),
    ATTR("adapter", "add_tokens"),
    {"state/counters", NULL, 1, {8}, LC_CKPT_I64},
    {"state/epoch_rng", NULL, 1, {4}, LC_CKPT_U64},
};
#undef ATTR

static lc_status read_meta(lc_ckpt **c, const char *path) {
    *c = NULL;
    return lc_ckpt_read_named(c, path, META, sizeof META / sizeof META[0]);
}

/* r, alpha and the stored scaling: finite and in range, named by file and key. */
static lc_status check_lora_numbers(const char *path, int64_t r, double alpha, double scale) {
    if (r < 1 || r > 65536)
        return lc_errorf(LC_ERR_FORMAT, "%s: attribute adapter/r = %lld is out of range (an integer in [1, 65536])",
                         path, (long long)r);
    if (!isfinite(alpha) || !(alpha > 0) || alpha > 1e9 || !isfinite((float)alpha))
        return lc_errorf(LC_ERR_NUMERIC, "%s: attribute adapter/lora_alpha = %g: expected a finite number in (0, 1e9]",
                         path, alpha);
    if (!isfinite(scale) || !isfinite((float)scale))
        return lc_errorf(LC_ERR_NUMERIC, "%s: attribute adapter/scaling = %g is not a finite number", path, scale);
    return LC_OK;
}

lc_status lc_adapter_check_mult(const char *spec, double mult) {
    if (!isfinite(mult) || fabs(mult) > LC_ADAPTER_MAX_MULT)
        return lc_errorf(LC_ERR_ARG, "--adapter %s: the scale %g must be a finite number in [-%g, %g]", spec, mult,
                         LC_ADAPTER_MAX_MULT, LC_ADAPTER_MAX_MULT);
    return LC_OK;
}

static lc_status read_info(const lc_ckpt *c, const char *path, lc_adapter_info *info) {
    memset(info, 0, sizeof *info);
    const char *s;
    int64_t i64;
    double f64;
    lc_status st = lc_ckpt_get_attr_str(c, "", "format", &s);
    if (st || strcmp(s, LC_ADAPTER_FORMAT))
        return lc_errorf(LC_ERR_FORMAT, "%s: not a lorac adapter (root attribute format != '%s')", path,
                         LC_ADAPTER_FORMAT);
    if ((st = lc_ckpt_get_attr_i64(c, "", "format_version", &i64))) return st;
    if (i64 > LC_ADAPTER_VERSION)
        return lc_errorf(LC_ERR_UNSUPPORTED, "%s: adapter format version %lld is newer than this lorac (%d)",
                         path, (long long)i64, LC_ADAPTER_VERSION);
    if ((st = lc_ckpt_get_attr_i64(c, "adapter", "r", &i64))) return st;
    if ((st = lc_ckpt_get_attr_f64(c, "adapter", "lora_alpha", &f64))) return st;
    if ((st = lc_ckpt_get_attr_f64(c, "adapter", "scaling", &info->scale))) return st;
    if ((st = check_lora_numbers(path, i64, f64, info->scale))) return st;
    info->cfg.r = (int)i64;
    info->cfg.alpha = (float)f64;
    if ((st = lc_ckpt_get_attr_i64(c, "adapter", "use_rslora", &i64))) return st;
    info->cfg.rslora = (int)i64;
    if ((st = lc_ckpt_get_attr_f64(c, "adapter", "lora_dropout", &f64))) return st;
    info->cfg.dropout = (float)f64;
    if ((st = lc_ckpt_get_attr_str(c, "adapter", "target_modules", &s))) return st;
    if ((st = lc_lora_targets_parse(s, &info->cfg.targets))) return lc_error_wrap(st, "%s", path);
    if ((st = lc_ckpt_get_attr_str(c, "adapter", "init_lora_weights", &s))) return st;
    info->cfg.init_gaussian = !strcmp(s, "gaussian");
    if (lc_ckpt_has_attr(c, "adapter", "use_dora")) { /* absent before DoRA: plain LoRA */
        if ((st = lc_ckpt_get_attr_i64(c, "adapter", "use_dora", &i64))) return st;
        info->cfg.use_dora = i64 != 0;
    }
    if ((st = read_patterns(c, path, &info->cfg))) return st;
    if ((st = lc_ckpt_get_attr_i64(c, "base", "vocab_size", &i64))) return st;
    info->base_vocab_size = (int)i64;
    if ((st = lc_ckpt_get_attr_str(c, "base", "identity", &s))) return st;
    snprintf(info->base_identity, sizeof info->base_identity, "%s", s);
    if ((st = lc_ckpt_get_attr_str(c, "base", "architecture", &s))) return st;
    snprintf(info->base_arch, sizeof info->base_arch, "%s", s);
    if ((st = lc_ckpt_get_attr_str(c, "base", "source", &s))) return st;
    snprintf(info->base_source, sizeof info->base_source, "%s", s);
    if ((st = lc_ckpt_get_attr_str(c, "tokenizer", "chat_template", &s))) return st;
    snprintf(info->chat_template, sizeof info->chat_template, "%s", s);
    info->has_train_state = lc_ckpt_find(c, "state/counters") != NULL;
    return LC_OK;
}

lc_status lc_adapter_read_info(const char *path, lc_adapter_info *info) {
    lc_ckpt *c = NULL;
    lc_status st = read_meta(&c, path);
    if (!st) st = read_info(c, path, info);
    lc_ckpt_free(c);
    return st;
}

/* The tensors the format defines for this lora's targets (and the AdamW
 * moments for a resume), opened by name with their shapes checked first. */
static lc_status read_tensors(lc_ckpt **c, const char *path, const lc_lora *lora, int with_state) {
    size_t cap = 3 * (size_t)lora->n_layers * LC_T_COUNT + 3, n = 0;
    lc_ckpt_want *w = calloc(cap, sizeof *w);
    char (*names)[160] = calloc(cap, sizeof *names);
    lc_status st = LC_OK;
    if (!w || !names) {
        st = lc_errorf(LC_ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int l = 0; l < lora->n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            const lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            for (int isB = 0; isB < 2; isB++) {
                strcpy(names[n], "adapter/");
                lc_lora_tensor_name(names[n] + 8, sizeof names[n] - 8, l, (lc_lora_target)t, isB);
                w[n] = (lc_ckpt_want){names[n], NULL, 2, {isB ? p->out : p->r, isB ? p->r : p->in},
                                      LC_CKPT_F32};
                n++;
            }
            if (!p->mag) continue;
            strcpy(names[n], "adapter/");
            lc_lora_magnitude_name(names[n] + 8, sizeof names[n] - 8, l, (lc_lora_target)t);
            w[n] = (lc_ckpt_want){names[n], NULL, 1, {p->out}, LC_CKPT_F32};
            n++;
        }
    if (lora->tok.n)
        w[n++] = (lc_ckpt_want){"adapter/" LC_TOKENS_TENSOR, NULL, 2, {lora->tok.n, lora->tok.C}, LC_CKPT_F32};
    if (with_state) {
        w[n++] = (lc_ckpt_want){"optimizer/exp_avg", NULL, 1, {(int64_t)lora->n_params}, LC_CKPT_F32};
        w[n++] = (lc_ckpt_want){"optimizer/exp_avg_sq", NULL, 1, {(int64_t)lora->n_params}, LC_CKPT_F32};
    }
    st = lc_ckpt_read_named(c, path, w, n);
done:
    free(w);
    free(names);
    return st;
}

/* Copy every module's A, B (and DoRA magnitude) from the opened checkpoint
 * into lora, checking each shape. */
static lc_status copy_adapter_tensors(lc_ckpt *c, lc_lora *lora) {
    lc_status st = LC_OK;
    char name[512];
    for (int l = 0; l < lora->n_layers && !st; l++)
        for (int t = 0; t < LC_T_COUNT && !st; t++) {
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            int64_t shA[2] = {p->r, p->in}, shB[2] = {p->out, p->r};
            strcpy(name, "adapter/");
            lc_lora_tensor_name(name + 8, sizeof name - 8, l, (lc_lora_target)t, 0);
            st = lc_ckpt_copy_tensor(c, name, 2, shA, p->A);
            if (st) break;
            lc_lora_tensor_name(name + 8, sizeof name - 8, l, (lc_lora_target)t, 1);
            st = lc_ckpt_copy_tensor(c, name, 2, shB, p->B);
            if (st || !p->mag) continue;
            int64_t shM[1] = {p->out};
            lc_lora_magnitude_name(name + 8, sizeof name - 8, l, (lc_lora_target)t);
            st = lc_ckpt_copy_tensor(c, name, 1, shM, p->mag);
        }
    if (!st && lora->tok.n) {
        int64_t shT[2] = {lora->tok.n, lora->tok.C};
        st = lc_ckpt_copy_tensor(c, "adapter/" LC_TOKENS_TENSOR, 2, shT, lora->tok.delta);
    }
    return st;
}

/* The training state of a resumable adapter: AdamW moments into lora->m and
 * lora->v, the counters and epoch RNG into state. */
static lc_status read_train_state(lc_ckpt *c, const char *path, int has_train_state, lc_lora *lora,
                                  lc_train_state *state) {
    lc_status st;
    if (!has_train_state)
        return lc_errorf(LC_ERR_FORMAT, "%s: an adapter without training state cannot be resumed", path);
    int64_t n = (int64_t)lora->n_params;
    const int64_t *cnt;
    const uint64_t *rng;
    size_t ncnt, nrng;
    if ((st = lc_ckpt_copy_tensor(c, "optimizer/exp_avg", 1, &n, lora->m))) return st;
    if ((st = lc_ckpt_copy_tensor(c, "optimizer/exp_avg_sq", 1, &n, lora->v))) return st;
    if ((st = lc_ckpt_get_i64(c, "state/counters", &cnt, &ncnt))) return st;
    if ((st = lc_ckpt_get_u64(c, "state/epoch_rng", &rng, &nrng))) return st;
    if (ncnt != 8 || nrng != 4)
        return lc_errorf(LC_ERR_FORMAT, "%s: state/counters has %zu values (expected 8), state/epoch_rng %zu (expected 4)",
                         path, ncnt, nrng);
    memset(state, 0, sizeof *state);
    state->step = cnt[0];
    state->total_steps = cnt[1];
    state->epoch = cnt[2];
    state->pos = cnt[3];
    state->best_step = cnt[4];
    state->evals_since_best = cnt[5];
    state->tokens_seen = cnt[6];
    state->bad_steps = cnt[7];
    memcpy(state->epoch_rng, rng, sizeof state->epoch_rng);
    if ((st = lc_ckpt_get_attr_f64(c, "state", "best_valid_loss", &state->best_valid_loss))) return st;
    return lc_ckpt_get_attr_f64(c, "state", "elapsed_s", &state->elapsed_s);
}

lc_status lc_adapter_load(const char *path, const lc_model *base, lc_lora *lora, lc_train_state *state,
                          lc_adapter_info *info_out, int allow_other_base) {
    memset(lora, 0, sizeof *lora);
    lc_ckpt *c = NULL;
    lc_adapter_info info;
    lc_status st = read_meta(&c, path);
    if (!st) st = read_info(c, path, &info);
    if (st) goto done;
    if (!allow_other_base && strcmp(info.base_identity, base->identity)) {
        const char *a = strrchr(info.base_source, '/'), *b = strrchr(base->source, '/');
        int same_name = !strcmp(a ? a + 1 : info.base_source, b ? b + 1 : base->source);
        st = lc_errorf(LC_ERR_MISMATCH,
                       "%s: adapter was trained on base %.16s… (%s), but the model given is %.16s… (%s)%s", path,
                       info.base_identity, info.base_source, base->identity, base->source,
                       same_name ? "; if this is the same file, the adapter may predate the current identity rule "
                                   "for GGUF files (docs/formats.md, section 3.4, says how to re-key it)"
                                 : "");
        goto done;
    }
    int added = n_added(info.cfg.add_tokens);
    if (added && base->cfg.vocab_size != info.base_vocab_size + added) {
        st = lc_errorf(LC_ERR_MISMATCH,
                       "%s: the adapter adds %d tokens (add_tokens %s) to a base of %d; the model "
                       "given has %d rows (apply them first: lc_base_prepare_adapter)",
                       path, added, info.cfg.add_tokens, info.base_vocab_size, base->cfg.vocab_size);
        goto done;
    }
    int64_t nl;
    if ((st = lc_ckpt_get_attr_i64(c, "adapter", "num_layers", &nl))) goto done;
    if (nl != base->cfg.n_layers) {
        st = lc_errorf(LC_ERR_MISMATCH, "%s: adapter has %lld layers, the model %d", path, (long long)nl,
                       base->cfg.n_layers);
        goto done;
    }
    lc_rng dummy;
    lc_rng_seed(&dummy, 0);
    if ((st = lc_lora_init(lora, base, &info.cfg, &dummy))) goto done;
    if (fabs(lora->scale - info.scale) > 1e-6 * fabs(info.scale)) {
        st = lc_errorf(LC_ERR_FORMAT, "%s: stored scaling %g disagrees with r/alpha/rslora (%g)", path,
                       info.scale, lora->scale);
        goto done;
    }
    if ((st = read_tensors(&c, path, lora, state != NULL))) goto done;
    if ((st = copy_adapter_tensors(c, lora))) goto done;
    if (state && (st = read_train_state(c, path, info.has_train_state, lora, state))) goto done;
    if (info_out) *info_out = info;
done:
    if (st) lc_lora_free(lora);
    lc_ckpt_free(c);
    return st;
}

char *lc_adapter_config_yaml(const char *path) {
    lc_ckpt *c = NULL;
    const char *text;
    char *out = NULL;
    static const lc_ckpt_want W[] = {{"config.yaml", NULL, -1, {0}, LC_CKPT_STRING}};
    if (lc_ckpt_read_named(&c, path, W, 1) == LC_OK && lc_ckpt_get_string(c, "config.yaml", &text) == LC_OK)
        out = strdup(text);
    lc_ckpt_free(c);
    return out;
}
