/*
 * test_tokens_oracle.c — lorac's trainable tokens (trainable_token_indices)
 * against PEFT on a whole model; the reference file and PEFT's saved adapter
 * come from tests/oracle/tokens_oracle.py, which runs this binary (ctest
 * oracle_tokens_stories: tied head, oracle_tokens_qwen2: untied).
 *
 * usage: test_tokens_oracle <hf_model_dir> <ref.safetensors> <peft_adapter_dir> <export_dir>
 *
 *   1. a fresh adapter's token rows are the embedding rows E[ids] (PEFT's
 *      init), exactly; the tied flag is the model's;
 *   2. A, B and the token rows set to the reference's; PEFT's adapter
 *      directory imported (lc_deploy_import_peft) holds the same numbers
 *      (bit-identical: both float32); an HDF5 round trip (lc_adapter_save /
 *      load) too; the adapter exported to export_dir (lc_deploy_export_peft)
 *      is loaded by PEFT in tokens_oracle.py afterwards;
 *   3. lc_forward logits (1e-5 · max|ref|) and loss (1e-5 rel); the
 *      generation engine (lc_infer: prefill and decode) on row 0;
 *   4. lc_forward_backward: loss, every lora_A / lora_B gradient and the
 *      token rows' gradient (1e-4 · max|ref|); the same gradients bit for
 *      bit with gradient checkpointing and as one trial of a two-trial pass;
 *   5. 3 AdamW steps (lr 1e-2, wd 0.01 — Trainer decays the delta, PEFT's
 *      LoRA+ puts it in A's group — clip 1.0, eps 1e-4: see tokens_oracle.py
 *      ADAMW): loss and pre-clip grad norm
 *      before each, every parameter after (1e-4 · max|ref| or the file's
 *      "<name>.after3_atol", 4 × the measured float32 noise);
 *   6. lc_merge_lora of that state against PEFT's merge_and_unload: the
 *      embedding and the LM head (1e-4 · max|ref|, as the parameters after 3
 *      steps they hold), and for an untied model the head unchanged.
 * With add_tokens (reference metadata "add_tokens", cases *-add): before step 1 the model grows by the new tokens
 * (lc_tokens_grow_vocab) and its embedding / LM head must equal the
 * resized ones of the reference (new rows the exact mean: 1e-6 · max|ref|,
 * float32 rounding of a double mean); the tokenizer (when the model has one)
 * gives HF's ids and decodes for the reference text after
 * lc_tokenizer_add_special, and refuses a token already present, a duplicate
 * and an empty one; step 2 is the HDF5 round trip (add_tokens and the base
 * vocabulary kept; refused by an ungrown model), PEFT's own save of the
 * resized model refused by the import, and the PEFT export (loaded by PEFT
 * in tokens_oracle.py; refused for a base without tokenizer.json);
 * steps 3-6 as above on the grown model, the batch holding the new ids.
 * Tolerances are today's oracle tolerances (tests/oracle/README.md).
 * Exits 0 only if every check passes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_adapter.h"
#include "lc_cpu.h"
#include "lc_deploy.h"
#include "lc_loader.h"
#include "lc_tokenizer.h"
#include "lc_tokens.h"
#include "oracle_harness.h"

#define STEPS 3

/* mode 0: copy the reference's A/B/delta into lora; 1: compare gradients
 * ("<name>.grad"); 2: compare parameters ("<name>.after3", atol from the file). */
static int each_tensor(lc_lora *lora, const lc_safetensors *st, int mode) {
    char name[256], key[300];
    int n_mod = lora->n_layers * LC_T_COUNT * 2;
    for (int i = 0; i <= n_mod; i++) {
        float *x, *g;
        size_t n;
        if (i == n_mod) { /* the token rows */
            snprintf(name, sizeof name, "%s", LC_TOKENS_TENSOR);
            x = lora->tok.delta, g = lora->tok.ddelta, n = (size_t)lora->tok.n * lora->tok.C;
        } else {
            int l = i / (LC_T_COUNT * 2), t = i / 2 % LC_T_COUNT, isB = i % 2;
            lc_lora_pair *p = lc_lora_get(lora, l, (lc_lora_target)t);
            if (!p->A) continue;
            lc_lora_tensor_name(name, sizeof name, l, (lc_lora_target)t, isB);
            x = isB ? p->B : p->A, g = isB ? p->dB : p->dA, n = (size_t)p->r * (isB ? p->out : p->in);
        }
        snprintf(key, sizeof key, "%s%s", name, mode == 0 ? "" : mode == 1 ? ".grad" : ".after3");
        float *ref = oracle_ref_get(st, key, LC_ST_F32, n), atol = 0;
        if (!ref) return -1;
        if (mode == 0) memcpy(x, ref, n * sizeof(float));
        if (mode == 1) oracle_compare(key, g, ref, n, ORACLE_TOL_GRAD, 0);
        if (mode == 2) {
            snprintf(key, sizeof key, "%s.after3_atol", name);
            if (oracle_ref_scalar_f32(st, key, &atol)) return free(ref), -1;
            snprintf(key, sizeof key, "%s.after3", name);
            oracle_compare(key, x, ref, n, ORACLE_TOL_PARAM, atol);
        }
        free(ref);
    }
    return 0;
}

/* add_tokens cases: the reference's "add_tokens" metadata, or NULL. */
static const char *added_json(const oracle_case *c) { return lc_safetensors_meta(&c->st, "add_tokens"); }

/* The tokenizer of dir after add_tokens against HF's (text_ids, decodes),
 * and its refusals. */
static int tokenizer_checks(const oracle_case *c, const char *dir, char **strs, int n) {
    lc_tokenizer *t = NULL;
    const lc_st_tensor *ti = lc_safetensors_find(&c->st, "text_ids");
    const char *text = lc_safetensors_meta(&c->st, "text"), *dec = lc_safetensors_meta(&c->st, "decoded"),
               *dec_skip = lc_safetensors_meta(&c->st, "decoded_skip");
    if (!ti) return 0; /* a model without a tokenizer (tiny-qwen2) */
    int nref = (int)ti->shape[0], nids = 0;
    int32_t *ref = oracle_ref_get(&c->st, "text_ids", LC_ST_I32, (size_t)nref), *ids = NULL;
    if (!ref || !text || !dec || !dec_skip || lc_tokenizer_load(&t, dir)) return free(ref), lc_tokenizer_free(t), -1;
    int V = lc_tokenizer_vocab_size(t);
    const char *dup[2] = {"<x>", "<x>"}, *empty[1] = {""}, *have[1] = {"<s>"};
    oracle_check(lc_tokenizer_add_special(t, dup, 2) == LC_ERR_ARG && strstr(lc_error_msg(), "twice"),
                 "add_tokens refuses a token listed twice");
    oracle_check(lc_tokenizer_add_special(t, empty, 1) == LC_ERR_ARG && strstr(lc_error_msg(), "empty"),
                 "add_tokens refuses an empty token");
    oracle_check(lc_tokenizer_add_special(t, have, 1) == LC_ERR_ARG && strstr(lc_error_msg(), "(id 1)"),
                 "add_tokens refuses a token already in the vocabulary, naming its id");
    oracle_check(lc_tokenizer_vocab_size(t) == V, "a refused add_tokens leaves the tokenizer as it was");
    int ok = !lc_tokenizer_add_special(t, (const char *const *)strs, n) && lc_tokenizer_vocab_size(t) == V + n;
    for (int i = 0; ok && i < n; i++) ok = lc_tokenizer_token_id(t, strs[i]) == V + i;
    oracle_check(ok, "added tokens get ids V .. V+n-1 (HF add_tokens)");
    ok = ok && !lc_tokenizer_encode(t, text, strlen(text), 1, &ids, &nids) && nids == nref &&
         !memcmp(ids, ref, (size_t)nref * sizeof *ids);
    printf("  text with the new tokens: %d ids (HF %d):", nids, nref);
    for (int i = 0; i < nids; i++) printf(" %d", ids[i]);
    printf("\n");
    oracle_check(ok, "encode(text with the new tokens) = HF's ids after add_tokens");
    char *d = ok ? lc_tokenizer_decode(t, ref, nref, 0) : NULL, *ds = ok ? lc_tokenizer_decode(t, ref, nref, 1) : NULL;
    oracle_check(d && !strcmp(d, dec), "decode = HF's decode (the new tokens printed)");
    oracle_check(ds && !strcmp(ds, dec_skip), "decode(skip_special) = HF's (the new tokens dropped)");
    free(d), free(ds), free(ids), free(ref);
    lc_tokenizer_free(t);
    return 0;
}

/* add_tokens: grow c->m and compare its rows with the resized reference. */
static int add_setup(oracle_case *c, const char *dir) {
    char **strs = NULL;
    int n = 0, V0 = c->V;
    if (lc_tokens_parse_added(added_json(c), &strs, &n) || lc_tokens_grow_vocab(&c->m, n)) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return lc_tokens_strs_free(strs, n), -1;
    }
    c->V = c->m.cfg.vocab_size;
    size_t C = (size_t)c->m.cfg.hidden_size, VC = (size_t)c->V * C;
    printf("add_tokens %s: vocabulary %d -> %d\n", added_json(c), V0, c->V);
    float *emb = oracle_ref_get(&c->st, "embed_tokens", LC_ST_F32, VC),
          *head = oracle_ref_get(&c->st, "lm_head", LC_ST_F32, VC);
    int rc = emb && head && c->m.tok_emb.rows == c->V ? 0 : -1;
    if (!rc) { /* new rows: the mean in double, rounded once; old rows bit-identical */
        oracle_compare("grown embed_tokens (old rows + mean rows) vs resize_token_embeddings", c->m.tok_emb.data, emb,
                       VC, 1e-6, 0);
        oracle_compare("grown lm_head vs resize_token_embeddings", c->m.lm_head.data, head, VC, 1e-6, 0);
        oracle_check(!memcmp(c->m.tok_emb.data, emb, (size_t)V0 * C * sizeof(float)),
                     "old embedding rows bit-identical");
        oracle_check((c->m.lm_head.data == c->m.tok_emb.data) == (c->m.cfg.tie_embeddings != 0),
                     "a tied head follows the grown embedding; an untied one is its own");
        rc = tokenizer_checks(c, dir, strs, n);
    }
    free(emb), free(head);
    lc_tokens_strs_free(strs, n);
    return rc;
}

/* The adapter: r/alpha of the reference, all-linear, its token ids. */
static int make_adapter(oracle_case *c) {
    const lc_st_tensor *ti = lc_safetensors_find(&c->st, "meta.ids");
    int n = ti ? (int)ti->shape[0] : 0;
    int32_t *ids = n ? oracle_ref_get(&c->st, "meta.ids", LC_ST_I32, (size_t)n) : NULL;
    int32_t *tied = oracle_ref_get(&c->st, "meta.tied", LC_ST_I32, 1);
    if (!ids || !tied) return free(ids), free(tied), -1;
    lc_lora_config cfg = lc_lora_default_config();
    cfg.r = c->r, cfg.alpha = c->alpha;
    size_t k = (size_t)snprintf(cfg.trainable_token_indices, LC_LORA_PATTERN_MAX, "[");
    if (added_json(c)) snprintf(cfg.add_tokens, sizeof cfg.add_tokens, "%s", added_json(c));
    for (int i = 0; i < n; i++)
        k += (size_t)snprintf(cfg.trainable_token_indices + k, LC_LORA_PATTERN_MAX - k, "%s%d", i ? ", " : "", ids[i]);
    snprintf(cfg.trainable_token_indices + k, LC_LORA_PATTERN_MAX - k, "]");
    lc_rng rng;
    lc_rng_seed(&rng, 1);
    if (lc_lora_targets_parse_arch("all-linear", c->m.cfg.arch, &cfg.targets) ||
        lc_lora_init(&c->lora, &c->m, &cfg, &rng)) {
        fprintf(stderr, "%s\n", lc_error_msg());
        return free(ids), free(tied), -1;
    }
    c->have_lora = 1;
    printf("trainable_token_indices %s, tied head %d\n", cfg.trainable_token_indices, tied[0]);
    oracle_check(c->lora.tok.n == n && c->lora.tok.tied == tied[0], "token rows and tied flag as PEFT's");
    int same = c->lora.tok.n == n;
    const float *E = (const float *)c->m.tok_emb.data; /* (V, C) fp32 in these fixtures */
    for (int j = 0; same && j < n; j++)
        same = !memcmp(c->lora.tok.delta + (size_t)j * c->lora.tok.C, E + (size_t)ids[j] * c->lora.tok.C,
                       (size_t)c->lora.tok.C * sizeof(float));
    oracle_check(same, "fresh token rows = embedding rows E[ids] (PEFT init)");
    free(ids), free(tied);
    return 0;
}

/* add_tokens: the HDF5 adapter keeps the strings and the base's vocabulary;
 * a model that did not grow refuses it; the PEFT export is refused. */
static int added_io_checks(oracle_case *c, const char *dir, const char *h5, const char *peft_dir,
                           const char *export_dir) {
    lc_adapter_info info;
    lc_model plain;
    lc_lora l;
    if (lc_adapter_read_info(h5, &info)) return -1;
    oracle_check(!strcmp(info.cfg.add_tokens, c->lora.cfg.add_tokens) && info.base_vocab_size == c->V - 2,
                 "HDF5 adapter: add_tokens and the base's vocabulary size stored");
    if (lc_model_load_hf(&plain, dir)) return -1;
    oracle_check(lc_adapter_load(h5, &plain, &l, NULL, NULL, 0) == LC_ERR_MISMATCH && strstr(lc_error_msg(), "adds 2"),
                 "an ungrown model refuses the adapter, naming the added tokens");
    lc_model_free(&plain);
    char tj[4096];
    snprintf(tj, sizeof tj, "%s/tokenizer.json", dir);
    FILE *f = fopen(tj, "r");
    if (f) fclose(f);
    lc_lora imp;
    if (strcmp(peft_dir, "-")) /* PEFT's own save of a resized vocabulary */
        oracle_check(lc_deploy_import_peft(peft_dir, &c->m, &imp) == LC_ERR_UNSUPPORTED &&
                         strstr(lc_error_msg(), "resized embedding"),
                     "PEFT's adapter with a resized embedding: import refused, naming it");
    if (f) /* loaded by PEFT after the resize in tokens_oracle.py */
        return lc_deploy_export_peft(&c->lora, &c->m, NULL, export_dir) ? -1 : 0;
    oracle_check(lc_deploy_export_peft(&c->lora, &c->m, NULL, export_dir) == LC_ERR_UNSUPPORTED &&
                     strstr(lc_error_msg(), "tokenizer.json"),
                 "PEFT export with add_tokens of a base without tokenizer.json refused");
    return 0;
}

/* Step 2: PEFT's directory imported, the HDF5 round trip, and the export. */
static int io_checks(oracle_case *c, const char *dir, const char *peft_dir, const char *export_dir) {
    lc_lora imp, back;
    char h5[4096];
    size_t bytes = c->lora.n_params * sizeof(float);
    int add = added_json(c) != NULL;
    if (!add) { /* add_tokens cases: PEFT's directory is refused (added_io_checks) */
        if (lc_deploy_import_peft(peft_dir, &c->m, &imp)) return -1;
        oracle_check(imp.n_params == c->lora.n_params && imp.tok.n == c->lora.tok.n &&
                         !memcmp(imp.params, c->lora.params, bytes),
                     "PEFT's saved adapter imported: A, B and token rows bit-identical");
        lc_lora_free(&imp);
    }
    snprintf(h5, sizeof h5, "%s.h5", export_dir);
    if (lc_adapter_save(h5, &c->lora, &c->m, NULL, NULL, NULL) || lc_adapter_load(h5, &c->m, &back, NULL, NULL, 0))
        return -1;
    oracle_check(back.n_params == c->lora.n_params && back.tok.n == c->lora.tok.n &&
                     !memcmp(back.params, c->lora.params, bytes),
                 "HDF5 adapter round trip: A, B and token rows bit-identical");
    lc_lora_free(&back);
    if (add) return added_io_checks(c, dir, h5, peft_dir, export_dir);
    return lc_deploy_export_peft(&c->lora, &c->m, NULL, export_dir) ? -1 : 0;
}

/* Step 4b: the same gradients (bit for bit) with gradient checkpointing, and
 * as trial 1 of a two-trial pass (lc_forward_backward_multi) whose trial 0
 * is a plain LoRA adapter: the token rows' gradient stays with its trial.
 * g0 (n_params): the gradients of the plain pass. */
static int grad_variants(oracle_case *c, const float *g0) {
    lc_acts *ck = NULL, *mk = NULL;
    lc_lora plain;
    memset(&plain, 0, sizeof plain);
    double ls[2];
    int64_t nt[2];
    size_t bytes = c->lora.n_params * sizeof(float);
    lc_lora_config pc = c->lora.cfg;
    pc.trainable_token_indices[0] = 0;
    lc_rng rng;
    lc_rng_seed(&rng, 3);
    lc_status st = lc_acts_create_ex(&ck, &c->m, &c->lora, c->B, c->T, 1);
    if (!st) lc_lora_zero_grad(&c->lora), st = lc_forward_backward(&c->m, &c->lora, ck, &c->batch,
                                                                      1.0f / (float)c->n_ref, 0, ls, nt);
    if (!st) oracle_check(!memcmp(g0, c->lora.grads, bytes), "gradients with grad_checkpointing bit-identical");
    if (!st) st = lc_lora_init(&plain, &c->m, &pc, &rng);
    lc_lora *two[2] = {&plain, &c->lora};
    const lc_lora *ctwo[2] = {&plain, &c->lora};
    lc_batch bb[2] = {c->batch, c->batch};
    float gs[2] = {1.0f / (float)c->n_ref, 1.0f / (float)c->n_ref};
    uint64_t seeds[2] = {0, 0};
    if (!st) st = lc_acts_create_multi(&mk, &c->m, ctwo, 2, c->B, c->T, 0);
    if (!st) {
        lc_lora_zero_grad(&plain), lc_lora_zero_grad(&c->lora);
        st = lc_forward_backward_multi(&c->m, two, 2, mk, bb, gs, seeds, ls, nt);
    }
    if (!st) oracle_check(!memcmp(g0, c->lora.grads, bytes), "gradients as trial 1 of a 2-trial pass bit-identical");
    lc_lora_free(&plain);
    lc_acts_free(ck);
    lc_acts_free(mk);
    return st ? -1 : 0;
}

/* Step 5: 3 AdamW steps as make_refs.ADAMW. */
static int adamw_steps(oracle_case *c) {
    float *losses = oracle_ref_get(&c->st, "losses_3", LC_ST_F32, STEPS);
    float *norms = oracle_ref_get(&c->st, "grad_norms_3", LC_ST_F32, STEPS);
    int rc = losses && norms ? 0 : -1;
    lc_adamw_params opt = lc_adamw_default_params();
    opt.lr = 1e-2f, opt.weight_decay = 0.01f, opt.max_grad_norm = 1.0f, opt.eps = 1e-4f; /* tokens_oracle.ADAMW */
    memset(c->lora.m, 0, c->lora.n_params * sizeof(float));
    memset(c->lora.v, 0, c->lora.n_params * sizeof(float));
    for (int s = 0; !rc && s < STEPS; s++) {
        char what[64];
        double gn = 0, loss_sum = 0;
        int64_t nt = 0;
        lc_lora_zero_grad(&c->lora);
        if (lc_forward_backward(&c->m, &c->lora, c->acts, &c->batch, 1.0f / (float)c->n_ref, (uint64_t)s, &loss_sum,
                                &nt) ||
            lc_lora_optimizer_step(&c->lora, &opt, s + 1, &gn)) {
            rc = -1;
            break;
        }
        snprintf(what, sizeof what, "step %d loss", s + 1);
        oracle_compare_scalar(what, loss_sum / (double)nt, losses[s], ORACLE_TOL_LOSS);
        snprintf(what, sizeof what, "step %d grad norm (pre-clip)", s + 1);
        oracle_compare_scalar(what, gn, norms[s], ORACLE_TOL_NORM);
    }
    free(losses), free(norms);
    return rc || each_tensor(&c->lora, &c->st, 2) ? -1 : 0;
}

/* Step 6: lorac's merge against PEFT's merge_and_unload. */
static int merge_check(oracle_case *c) {
    size_t VC = (size_t)c->V * c->m.cfg.hidden_size;
    float *emb = oracle_ref_get(&c->st, "merged.embed_tokens", LC_ST_F32, VC);
    float *head = oracle_ref_get(&c->st, "merged.lm_head", LC_ST_F32, VC);
    float *orig = oracle_ref_get(&c->st, "embed_tokens", LC_ST_F32, VC);
    int rc = emb && head && orig && !lc_merge_lora(&c->m, &c->lora, 1.0f) ? 0 : -1;
    if (!rc) {
        oracle_compare("merged embed_tokens (lc_merge_lora vs merge_and_unload)", c->m.tok_emb.data, emb, VC,
                       ORACLE_TOL_PARAM, 0);
        oracle_compare("merged lm_head (lc_merge_lora vs merge_and_unload)", c->m.lm_head.data, head, VC,
                       ORACLE_TOL_PARAM, 0);
        oracle_check(c->lora.tok.tied ? c->m.lm_head.data == c->m.tok_emb.data
                                      : !memcmp(c->m.lm_head.data, head, VC * sizeof(float)),
                     c->lora.tok.tied ? "tied head shares the merged embedding" : "untied head unchanged by the merge");
        int others = 1; /* rows outside ids keep the base's values exactly */
        for (int v = 0; v < c->V; v++) {
            int in = 0;
            for (int j = 0; j < c->lora.tok.n; j++) in |= c->lora.tok.ids[j] == v;
            size_t C = (size_t)c->m.cfg.hidden_size;
            if (!in) others &= !memcmp((const float *)c->m.tok_emb.data + v * C, orig + v * C, C * sizeof(float));
        }
        oracle_check(others, "merge leaves every other embedding row bit-identical");
    }
    free(emb), free(head), free(orig);
    return rc;
}

static int run(const char *dir, const char *ref_path, const char *peft_dir, const char *export_dir) {
    oracle_case c;
    int rc = -1;
    float ref_loss = 0, *ref_logits = NULL, *g0 = NULL;
    double loss_sum = 0;
    int64_t nt = 0;
    if (oracle_open(&c, dir, ref_path) || (added_json(&c) && add_setup(&c, dir)) || make_adapter(&c) ||
        each_tensor(&c.lora, &c.st, 0))
        goto fail;
    printf("model %s, batch B=%d T=%d, %d targets, LoRA r=%d alpha=%g\n", dir, c.B, c.T, c.n_ref, c.r, c.alpha);
    if (io_checks(&c, dir, peft_dir, export_dir)) goto fail_msg;
    size_t BTV = (size_t)c.B * c.T * c.V;
    c.logits = malloc(BTV * sizeof(float));
    ref_logits = oracle_ref_get(&c.st, "logits", LC_ST_F32, BTV);
    if (!c.logits || !ref_logits || oracle_ref_scalar_f32(&c.st, "loss", &ref_loss)) goto fail;
    if (lc_acts_create(&c.acts, &c.m, &c.lora, c.B, c.T)) goto fail_msg;
    if (lc_forward(&c.m, &c.lora, 1.0f, c.acts, &c.batch, &loss_sum, &nt, c.logits)) goto fail_msg;
    oracle_compare("logits (lc_forward)", c.logits, ref_logits, BTV, ORACLE_TOL_LOGITS, 0);
    oracle_compare_scalar("loss (lc_forward)", loss_sum / (double)nt, ref_loss, ORACLE_TOL_LOSS);
    if (oracle_infer_check(&c, ref_logits)) goto fail_msg;
    lc_lora_zero_grad(&c.lora);
    if (lc_forward_backward(&c.m, &c.lora, c.acts, &c.batch, 1.0f / (float)c.n_ref, 0, &loss_sum, &nt))
        goto fail_msg;
    oracle_compare_scalar("loss (lc_forward_backward)", loss_sum / (double)nt, ref_loss, ORACLE_TOL_LOSS);
    if (each_tensor(&c.lora, &c.st, 1)) goto fail;
    if (!(g0 = malloc(c.lora.n_params * sizeof(float)))) goto fail;
    memcpy(g0, c.lora.grads, c.lora.n_params * sizeof(float));
    if (grad_variants(&c, g0)) goto fail_msg;
    if (adamw_steps(&c)) goto fail_msg;
    if (merge_check(&c)) goto fail_msg;
    rc = 0;
    goto fail;
fail_msg:
    fprintf(stderr, "%s\n", lc_error_msg());
fail:
    if (rc) oracle_failures++;
    free(ref_logits);
    free(g0);
    oracle_close(&c);
    return rc;
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv);
    if (argc != 5) {
        fprintf(stderr, "usage: %s <hf_model_dir> <ref.safetensors> <peft_adapter_dir> <export_dir>\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    lc_threads_init(0);
    run(argv[1], argv[2], argv[3], argv[4]);
    printf("%d checks, %d failed: %s\n", oracle_checks, oracle_failures, oracle_failures ? "FAIL" : "PASS");
    return oracle_failures ? 1 : 0;
}
