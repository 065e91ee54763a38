/*
 * cli_info.c — `lorac info MODEL [--adapter A.h5]`: what a base model is
 * (architecture, sizes, weight types, parameter count, tokenizer, chat
 * template, identity) and, for an adapter, its LoRA config and whether it
 * belongs to this model.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_cpu.h"
#include "cli.h"
#include "lc_tokens.h"
#include "lc_adapter.h"
#include "lc_base.h"
#include "lc_chat.h"

enum { O_ADAPTER, O_TOKENIZER, O_COUNT };

static const cli_opt OPTS[O_COUNT] = {
    [O_ADAPTER] = {"adapter", 0, "A.h5", "also describe this adapter and whether it belongs to MODEL"},
    [O_TOKENIZER] = {"tokenizer", 0, "T", "tokenizer.json or directory (default: the model's)"},
};

static const cli_spec SPEC = {
    "info", "lorac info [MODEL [--adapter A.h5] [--tokenizer T]]",
    "Describes a base model (HF directory or .gguf) and, with --adapter, a LoRA adapter file, and the\n"
    "compute path (CPU features, BLAS core, what each precision runs on). Without MODEL: the compute path.",
    OPTS, O_COUNT, 1, 0, NULL};

/* Count each frozen matrix's storage type and bytes: the embeddings, an
 * untied head, learned positions and every projection the family has (its
 * LoRA targets, lc_family.h). */
static void weight_types(const lc_model *m, FILE *f) {
    int count[LC_DT_COUNT] = {0};
    double bytes[LC_DT_COUNT] = {0};
    const lc_family *fam = &m->fam;
    const lc_weight *ws[3] = {&m->tok_emb, m->cfg.tie_embeddings ? NULL : &m->lm_head,
                              m->pos_emb.data ? &m->pos_emb : NULL};
    for (int i = 0; i < 3; i++)
        if (ws[i]) {
            count[ws[i]->type]++;
            bytes[ws[i]->type] += (double)lc_dtype_row_bytes(ws[i]->type, ws[i]->cols) * ws[i]->rows;
        }
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            if (!(fam->lora_targets & (1u << t))) continue;
            const lc_weight *w = lc_lora_target_weight(m, l, (lc_lora_target)t);
            count[w->type]++;
            bytes[w->type] += (double)lc_dtype_row_bytes(w->type, w->cols) * w->rows;
        }
    int L = m->cfg.n_layers, per_norm = fam->norm == LC_NORM_LAYER ? 2 : 1;
    int sandwich = fam->norm_place == LC_NORM_SANDWICH ? 2 * L : 0; /* post-attention and post-MLP norms */
    int qk = m->cfg.n_layers > 0 && m->layers[0].q_norm ? 2 * L : 0;
    int biases = fam->all_bias ? 4 * L : fam->qkv_bias ? 3 * L : 0;
    fprintf(f, "  weights          ");
    for (int t = 0; t < LC_DT_COUNT; t++)
        if (count[t]) fprintf(f, "%s x%d (%.1f MB)  ", lc_dtype_name((lc_dtype)t), count[t], bytes[t] / 1e6);
    fprintf(f, "\n  vectors          F32 x%d (norm weights%s%s%s%s)\n", (2 * L + 1) * per_norm + sandwich + qk + biases,
            per_norm == 2 ? " and biases" : "", sandwich ? " + sandwich norms" : "", qk ? " + q/k norms" : "",
            !biases ? "" : fam->all_bias ? " + linear biases" : " + q/k/v biases");
}

/* The family description (lc_family.h): layer, positions and RoPE scaling. */
static void family_info(const lc_model *m) {
    const lc_family *f = &m->fam;
    const lc_rope_scaling *r = &f->rope;
    static const char *ACT[] = {"SwiGLU", "GeGLU (tanh)", "GELU (tanh)"};
    printf("  family           %s: %s, %s%s, %s%s%s\n", f->name, f->norm == LC_NORM_LAYER ? "LayerNorm" : "RMSNorm",
           f->pos == LC_POS_LEARNED ? "learned positions" : "RoPE", f->qk_norm ? ", q/k RMSNorm" : "",
           ACT[f->act], f->fused_qkv ? ", fused q|k|v" : "", f->all_bias ? ", biases on every linear" : "");
    printf("  rope scaling     ");
    if (f->pos == LC_POS_LEARNED) printf("n/a (learned positions)");
    else if (r->type == LC_ROPE_NONE) printf("none");
    else printf("%s, factor %g", lc_rope_scaling_name(r->type), r->factor);
    if (f->pos != LC_POS_LEARNED && r->type == LC_ROPE_LLAMA3)
        printf(", low_freq_factor %g, high_freq_factor %g, original_max_position %d", r->low_freq_factor,
               r->high_freq_factor, r->original_max_position);
    if (f->pos != LC_POS_LEARNED && r->type == LC_ROPE_YARN)
        printf(", beta_fast %g, beta_slow %g, original_max_position %d, attention_factor %g", r->beta_fast,
               r->beta_slow, r->original_max_position, r->attn_factor);
    printf("%s\n", f->rope_freqs ? " (GGUF rope_freqs divisors)" : "");
}

static void token_line(const lc_tokenizer *t, const char *what, int id) {
    if (id < 0) {
        printf("  %-16s none\n", what);
        return;
    }
    char *s = lc_tokenizer_decode_token(t, id);
    printf("  %-16s %d %s\n", what, id, s ? s : "");
    free(s);
}

static void model_info(const lc_base *b) {
    const lc_model *m = &b->model;
    const lc_model_config *c = &m->cfg;
    printf("model            %s (%s)\n", b->path, b->is_gguf ? "GGUF" : "Hugging Face directory");
    printf("  architecture     %s\n", lc_arch_name(c->arch));
    printf("  layers           %d\n  hidden           %d\n  intermediate     %d\n", c->n_layers, c->hidden_size,
           c->intermediate_size);
    printf("  heads            %d query, %d key/value (group %d), head_dim %d\n", c->n_heads, c->n_kv_heads,
           c->n_heads / c->n_kv_heads, c->head_dim);
    printf("  vocab            %d\n  max positions    %d\n", c->vocab_size, c->max_position);
    family_info(m);
    if (m->fam.pos == LC_POS_ROPE) printf("  rope theta       %g\n", c->rope_theta);
    if (m->fam.norm == LC_NORM_LAYER) printf("  layer norm eps   %g\n", c->layer_norm_eps);
    else printf("  rms eps          %g\n", c->rms_eps);
    printf("  tied embeddings  %s\n  q/k/v bias       %s\n", c->tie_embeddings ? "yes" : "no",
           m->fam.qkv_bias ? "yes" : "no");
    if (c->sliding_window > 0) /* Gemma 3 */
        printf("  sliding window   %d (every %d-th layer global; local rope theta %g)\n", c->sliding_window,
               c->sliding_pattern, (double)c->rope_local_theta);
    if (m->fam.attn_scale > 0) printf("  attention scale  %g (query_pre_attn_scalar %g)\n", (double)m->fam.attn_scale,
                                      (double)c->query_pre_attn_scalar);
    weight_types(m, stdout);
    long long n = (long long)lc_model_param_count(m);
    printf("  parameters       %lld (%.1f M)\n", n, n / 1e6);
    printf("  identity         %s\n", m->identity);
    const lc_tokenizer *t = b->tok;
    printf("tokenizer        %s, %d tokens\n", lc_tokenizer_kind(t), lc_tokenizer_vocab_size(t));
    token_line(t, "bos", lc_tokenizer_bos_id(t));
    token_line(t, "eos", lc_tokenizer_eos_id(t));
    if (c->eos_id >= 0 && c->eos_id != lc_tokenizer_eos_id(t)) token_line(t, "eos (config)", c->eos_id);
    const char *jinja = lc_tokenizer_chat_template(t);
    lc_chat_template *tmpl = NULL;
    if (!jinja) printf("chat template    none in the model (generate uses 'none')\n");
    else if (lc_chat_template_detect(&tmpl, jinja) == LC_OK)
        printf("chat template    %s (detected from the model's Jinja template)\n", lc_chat_template_name(tmpl));
    else printf("chat template    not recognised: %s\n", lc_error_msg());
    lc_chat_template_free(tmpl);
}

/* LoRA parameters of an adapter with config cfg on model m. */
static long long lora_params(const lc_model *m, const lc_lora_config *cfg) {
    long long n = 0;
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++)
            if (cfg->targets & m->fam.lora_targets & (1u << t)) {
                const lc_weight *w = lc_lora_target_weight(m, l, (lc_lora_target)t);
                int r, on;
                float alpha;
                if (lc_lora_module_params(cfg, m->cfg.arch, l, (lc_lora_target)t, &r, &alpha, &on)) r = cfg->r, on = 1;
                if (on) n += (long long)r * (w->rows + w->cols) + (cfg->use_dora ? w->rows : 0);
            }
    return n;
}

static int adapter_info(const lc_base *b, const char *path) {
    lc_adapter_info ai;
    if (lc_adapter_read_info(path, &ai)) {
        fprintf(stderr, "lorac info: adapter '%s': %s\n", path, lc_error_msg());
        return 1;
    }
    printf("adapter          %s\n", path);
    printf("  r                %d\n  alpha            %g\n  scaling          %g (%s)\n", ai.cfg.r, ai.cfg.alpha,
           ai.scale, ai.cfg.rslora ? "alpha / sqrt(r), rsLoRA" : "alpha / r");
    printf("  targets         ");
    for (int t = 0; t < LC_T_COUNT; t++)
        if (ai.cfg.targets & (1u << t)) printf(" %s", lc_lora_target_name((lc_lora_target)t));
    printf("\n  dropout          %g\n", ai.cfg.dropout);
    if (ai.cfg.use_dora) printf("  DoRA             yes (a magnitude per output feature; norm detached, as PEFT)\n");
    int *ids = NULL, ntok = 0;
    if (lc_tokens_parse(ai.cfg.trainable_token_indices, 0, &ids, &ntok) == LC_OK && ntok)
        printf("  trainable tokens %d rows of the embedding%s: %s\n", ntok,
               b->model.cfg.tie_embeddings ? " (and of the tied head)" : "", ai.cfg.trainable_token_indices);
    free(ids);
    if (ai.cfg.add_tokens[0])
        printf("  added tokens     %s as ids %d.. (the base's %d-token vocabulary grows by them)\n", ai.cfg.add_tokens,
               ai.base_vocab_size, ai.base_vocab_size);
    int match = !strcmp(ai.base_identity, b->model.identity);
    long long n = lora_params(&b->model, &ai.cfg) + (long long)ntok * b->model.cfg.hidden_size;
    if (match) printf("  trainable params %lld (%.3f%% of the base)\n", n, 100.0 * n / lc_model_param_count(&b->model));
    printf("  chat template    %s\n", ai.chat_template[0] ? ai.chat_template : "(not recorded)");
    printf("  base             %s (%s)\n", ai.base_source, ai.base_arch);
    printf("  base identity    %s: %s\n", ai.base_identity,
           match ? "matches this model" : "DOES NOT match this model (generate will refuse it)");
    printf("  training state   %s\n", ai.has_train_state ? "yes (a checkpoint: `lorac train --resume` can continue it)"
                                                          : "no (a plain adapter)");
    return 0;
}

/* The compute path: CPU, BLAS core, and what each precision runs on here. */
static void compute_info(void) {
    lc_cpu_features f;
    char line[1024];
    lc_cpu_detect(&f);
    lc_compute_path_describe(line, sizeof line, LC_MATMUL_FP32, 0);
    printf("compute          %s\n", line);
    const char *names[] = {"fp32", "bf16", "auto"};
    printf("  precision     ");
    for (int i = 0; i < 3; i++) {
        lc_precision p;
        int forced;
        lc_matmul_path path = LC_MATMUL_FP32;
        if (!lc_matmul_path_parse(names[i], &p, &forced))
            lc_matmul_path_resolve(p, forced, &f, lc_onednn_available(), &path);
        printf(" %s -> %s%s", names[i], lc_matmul_path_name(path), i < 2 ? ";" : "");
    }
    printf(" (bf16 units: %s; oneDNN %s)\n", lc_cpu_has_bf16_units(&f) ? "yes" : "no", lc_onednn_version());
}

int cli_info(int argc, char **argv) {
    const char *model = NULL, *adapter = NULL, *tokenizer = NULL;
    cli_args args;
    int rc = cli_parse(&SPEC, argc, argv, &args);
    if (rc) return rc == 1 ? 0 : rc;
    for (int i = 0; i < args.n && !rc; i++) {
        const cli_arg *a = &args.v[i];
        if (a->opt == O_ADAPTER) adapter = a->val;
        else if (a->opt == O_TOKENIZER) tokenizer = a->val;
        else if (!model) model = a->val;
        else {
            fprintf(stderr, "lorac info: unexpected argument '%s' (one MODEL; see `lorac info --help`)\n", a->val);
            rc = 2;
        }
    }
    cli_args_free(&args);
    if (rc) return rc;
    if (!model) { /* no model: the compute path alone */
        compute_info();
        return 0;
    }
    lc_base b;
    if (lc_base_open(&b, model, tokenizer)) {
        fprintf(stderr, "lorac info: %s\n", lc_error_msg());
        return 1;
    }
    model_info(&b);
    compute_info();
    rc = adapter ? adapter_info(&b, adapter) : 0;
    lc_base_close(&b);
    return rc;
}
