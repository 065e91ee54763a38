/*
 * test_data_config.c — the run configuration: documented defaults, YAML
 * loading of every key, `--key value` overrides of every key, the text of
 * each bad key / bad value error (key, value and line), cross-field
 * validation, and the to_yaml -> load round trip.
 */
#include <math.h>

#include "data_test.h"
#include "lc_config.h"

/* The YAML line written by to_yaml for `key` (without the newline), static. */
static const char *yaml_line(const lc_train_config *c, const char *key) {
    static char line[8192];
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lc_train_config_to_yaml(c, f);
    fclose(f);
    line[0] = 0;
    size_t kl = strlen(key);
    for (char *p = buf; p && *p;) {
        char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (n > kl + 1 && !strncmp(p, key, kl) && p[kl] == ':') {
            snprintf(line, sizeof line, "%.*s", (int)n, p);
            break;
        }
        p = nl ? nl + 1 : NULL;
    }
    free(buf);
    return line;
}

static void test_defaults(void) {
    lc_train_config c = lc_train_config_default();
    CHECK(c.model[0] == 0 && c.data[0] == 0 && c.tokenizer[0] == 0);
    CHECK(c.split == 0.1 && c.data_format == LC_FMT_AUTO);
    CHECK(!strcmp(c.csv_prompt_column, "prompt") && !strcmp(c.csv_completion_column, "completion"));
    CHECK(c.r == 8 && c.alpha == 16 && c.dropout == 0 && !strcmp(c.target_modules, "q_proj,v_proj"));
    CHECK(c.rslora == 0 && c.init_gaussian == 0);
    CHECK(c.lr == 2e-4 && c.lr_schedule == LC_SCHED_COSINE && c.warmup_steps == 0 && c.warmup_ratio == 0);
    CHECK(c.weight_decay == 0 && c.max_grad_norm == 1.0);
    CHECK(c.adam_beta1 == 0.9 && c.adam_beta2 == 0.999 && c.adam_eps == 1e-8);
    CHECK(c.batch_size == 4 && c.grad_accum == 1 && c.epochs == 1 && c.max_steps == -1);
    CHECK(c.max_seq_len == 512 && c.truncation == LC_TRUNC_TRUNCATE && c.packing == 0);
    CHECK(c.padding_free == LC_PF_AUTO && c.batch_tokens == 0);
    CHECK(c.mask_prompt == 1 && !strcmp(c.chat_template, "none") && c.seed == 42);
    CHECK(c.eval_every == 100 && c.save_every == 100 && c.keep_last == 3);
    CHECK(!strcmp(c.out_dir, "runs/lora") && c.loraplus_lr_ratio == 1.0);
    CHECK(c.early_stopping_patience == 0 && c.max_nan_steps == 3 && c.threads == 0);
    CHECK(c.skip_bad_rows == 0 && c.log_every == 10);
    /* defaults lack model and data: validate says so */
    CHECK_ERR(lc_train_config_validate(&c), LC_ERR_CONFIG, "'model' is required");
    /* a token budget needs padding-free batches */
    strcpy(c.model, "m");
    strcpy(c.data, "d.jsonl");
    CHECK_OK(lc_train_config_validate(&c));
    c.batch_tokens = 2048;
    CHECK_OK(lc_train_config_validate(&c));
    c.padding_free = LC_PF_OFF;
    CHECK_ERR(lc_train_config_validate(&c), LC_ERR_CONFIG, "'batch_tokens' is 2048", "'padding_free' is false");
}

/* Every key through lc_train_config_set; the saved YAML line shows the value. */
static void test_overrides(void) {
    static const char *const CASES[][3] = {
        {"model", "/m/dir", "model: \"/m/dir\""},
        {"tokenizer", "tok.json", "tokenizer: \"tok.json\""},
        {"data", "train.jsonl", "data: \"train.jsonl\""},
        {"valid_data", "v.jsonl", "valid_data: \"v.jsonl\""},
        {"test_data", "t.jsonl", "test_data: \"t.jsonl\""},
        {"split", "0.25", "split: 0.25"},
        {"data_format", "alpaca", "data_format: alpaca"},
        {"csv_prompt_column", "question", "csv_prompt_column: \"question\""},
        {"csv_completion_column", "response", "csv_completion_column: \"response\""},
        {"skip_bad_rows", "yes", "skip_bad_rows: true"},
        {"r", "16", "r: 16"},
        {"alpha", "32", "alpha: 32"},
        {"dropout", "0.05", "dropout: 0.05"},
        {"target_modules", "v_proj, q_proj,down_proj", "target_modules: \"q_proj,v_proj,down_proj\""},
        {"rslora", "true", "rslora: true"},
        {"use_dora", "true", "use_dora: true"},
        {"rank_pattern", "{\"q_proj\":16, \"layers\\\\.0\\\\..*\": 4}",
         "rank_pattern: {\"q_proj\": 16, \"layers\\\\.0\\\\..*\": 4}"},
        {"alpha_pattern", "{\"v_proj\": 32.5}", "alpha_pattern: {\"v_proj\": 32.5}"},
        {"layers_to_transform", "0,2, 5", "layers_to_transform: [0, 2, 5]"},
        {"trainable_token_indices", "3,17", "trainable_token_indices: [3, 17]"},
        {"add_tokens", "<|tool|>", "add_tokens: [\"<|tool|>\"]"},
        {"neftune_alpha", "5", "neftune_alpha: 5"},
        {"init_adapter", "runs/a/adapter.h5", "init_adapter: \"runs/a/adapter.h5\""},
        {"init", "gaussian", "init: gaussian"},
        {"lr", "1e-3", "lr: 0.001"},
        {"lr_schedule", "linear", "lr_schedule: linear"},
        {"warmup_steps", "10", "warmup_steps: 10"},
        {"warmup_ratio", "0.03", "warmup_ratio: 0.03"},
        {"weight_decay", "0.01", "weight_decay: 0.01"},
        {"max_grad_norm", "0", "max_grad_norm: 0"},
        {"adam_beta1", "0.8", "adam_beta1: 0.8"},
        {"adam_beta2", "0.95", "adam_beta2: 0.95"},
        {"adam_eps", "1e-6", "adam_eps: 1e-06"},
        {"batch_size", "2", "batch_size: 2"},
        {"batch_tokens", "4096", "batch_tokens: 4096"},
        {"padding_free", "false", "padding_free: false"},
        {"grad_accum", "8", "grad_accum: 8"},
        {"epochs", "3", "epochs: 3"},
        {"max_steps", "200", "max_steps: 200"},
        {"max_seq_len", "256", "max_seq_len: 256"},
        {"truncation", "drop", "truncation: drop"},
        {"packing", "on", "packing: true"},
        {"seed", "18446744073709551615", "seed: 18446744073709551615"},
        {"eval_every", "0", "eval_every: 0"},
        {"save_every", "50", "save_every: 50"},
        {"keep_last", "0", "keep_last: 0"},
        {"out_dir", "out/x", "out_dir: \"out/x\""},
        {"loraplus_lr_ratio", "16", "loraplus_lr_ratio: 16"},
        {"mask_prompt", "false", "mask_prompt: false"},
        {"grad_checkpointing", "true", "grad_checkpointing: true"},
        {"precision", "bf16", "precision: bf16"},
        {"chat_template", "chatml", "chat_template: \"chatml\""},
        {"early_stopping_patience", "2", "early_stopping_patience: 2"},
        {"max_nan_steps", "0", "max_nan_steps: 0"},
        {"threads", "2", "threads: 2"},
        {"log_every", "1", "log_every: 1"},
    };
    int n = (int)(sizeof CASES / sizeof CASES[0]);
    /* every key in the saved YAML is covered here */
    lc_train_config d = lc_train_config_default();
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lc_train_config_to_yaml(&d, f);
    fclose(f);
    int n_lines = 0;
    for (char *p = buf; *p; p++) n_lines += *p == '\n';
    free(buf);
    CHECK(n_lines - 1 == n); /* minus the comment line */
    for (int i = 0; i < n; i++) {
        lc_train_config c = lc_train_config_default();
        lc_status st = lc_train_config_set(&c, CASES[i][0], CASES[i][1]);
        CHECK_OK(st);
        char got[8192];
        snprintf(got, sizeof got, "%s", yaml_line(&c, CASES[i][0]));
        if (strcmp(got, CASES[i][2])) {
            fprintf(stderr, "  set %s=%s: saved '%s', expected '%s'\n", CASES[i][0], CASES[i][1], got, CASES[i][2]);
            g_fail++;
        }
        g_checks++;
        /* the value differs from the default (so the override did something) */
        CHECK(strcmp(got, yaml_line(&d, CASES[i][0])) != 0);
    }
    /* flags with dashes, and leading dashes */
    lc_train_config c = lc_train_config_default();
    CHECK_OK(lc_train_config_set(&c, "--max-seq-len", "64"));
    CHECK(c.max_seq_len == 64);
    CHECK_OK(lc_train_config_set(&c, "target_modules", "all-linear"));
    CHECK(!strcmp(c.target_modules, "all-linear"));
    CHECK_OK(lc_train_config_set(&c, "target_modules", "all"));
    CHECK(!strcmp(c.target_modules, "all-linear"));
    CHECK_OK(lc_train_config_set(&c, "max_steps", "-1"));
    CHECK(c.max_steps == -1);
}

static void test_bad_flags(void) {
    lc_train_config c = lc_train_config_default();
    CHECK_ERR(lc_train_config_set(&c, "lrr", "0.1"), LC_ERR_CONFIG, "--lrr", "unknown key 'lrr'",
              "did you mean 'lr'?", "allowed keys: model,");
    CHECK_ERR(lc_train_config_set(&c, "learning_rate", "0.1"), LC_ERR_CONFIG, "did you mean 'lr'?");
    CHECK_ERR(lc_train_config_set(&c, "lora_alpha", "8"), LC_ERR_CONFIG, "did you mean 'alpha'?");
    CHECK_ERR(lc_train_config_set(&c, "zzzzzzzz", "1"), LC_ERR_CONFIG, "unknown key 'zzzzzzzz'; allowed keys");
    CHECK_ERR(lc_train_config_set(&c, "lr", "fast"), LC_ERR_CONFIG, "--lr", "'fast'", "'lr'", "(0, 10]");
    CHECK_ERR(lc_train_config_set(&c, "lr", "0"), LC_ERR_CONFIG, "'0' for 'lr'");
    CHECK_ERR(lc_train_config_set(&c, "lr", "nan"), LC_ERR_CONFIG, "'nan' for 'lr'");
    CHECK_ERR(lc_train_config_set(&c, "r", "0"), LC_ERR_CONFIG, "'0' for 'r'", "[1, 65536]");
    CHECK_ERR(lc_train_config_set(&c, "r", "8.5"), LC_ERR_CONFIG, "'8.5' for 'r'");
    CHECK_ERR(lc_train_config_set(&c, "batch_size", "99999999999999"), LC_ERR_CONFIG, "'batch_size'");
    CHECK_ERR(lc_train_config_set(&c, "warmup_ratio", "1"), LC_ERR_CONFIG, "'1' for 'warmup_ratio'", "[0, 1)");
    CHECK_ERR(lc_train_config_set(&c, "dropout", "-0.1"), LC_ERR_CONFIG, "'dropout'", "[0, 1)");
    CHECK_ERR(lc_train_config_set(&c, "packing", "maybe"), LC_ERR_CONFIG, "'maybe' for 'packing'", "true or false");
    CHECK_ERR(lc_train_config_set(&c, "padding_free", "maybe"), LC_ERR_CONFIG, "'maybe' for 'padding_free'",
              "auto, true, false");
    CHECK_ERR(lc_train_config_set(&c, "batch_tokens", "-1"), LC_ERR_CONFIG, "'-1' for 'batch_tokens'");
    CHECK_ERR(lc_train_config_set(&c, "batch_tokens", "many"), LC_ERR_CONFIG, "'many' for 'batch_tokens'");
    CHECK_ERR(lc_train_config_set(&c, "precision", "fp16"), LC_ERR_CONFIG, "'fp16' for 'precision'",
              "fp32, bf16, auto");
    CHECK_ERR(lc_train_config_set(&c, "lr_schedule", "step"), LC_ERR_CONFIG, "'step' for 'lr_schedule'",
              "constant, linear, cosine");
    CHECK_ERR(lc_train_config_set(&c, "data_format", "parquet"), LC_ERR_CONFIG, "'parquet'",
              "auto, prompt_completion, alpaca, chat, text, csv");
    CHECK_ERR(lc_train_config_set(&c, "init", "xavier"), LC_ERR_CONFIG, "'xavier' for 'init'", "kaiming, gaussian");
    CHECK_ERR(lc_train_config_set(&c, "truncation", "cut"), LC_ERR_CONFIG, "'cut' for 'truncation'");
    CHECK_ERR(lc_train_config_set(&c, "target_modules", "q_proj,qkv_proj"), LC_ERR_CONFIG,
              "unknown module 'qkv_proj'", "target_modules");
    CHECK_ERR(lc_train_config_set(&c, "target_modules", " , "), LC_ERR_CONFIG, "'target_modules'");
    CHECK_ERR(lc_train_config_set(&c, "seed", "-3"), LC_ERR_CONFIG, "'-3' for 'seed'");
    CHECK_ERR(lc_train_config_set(&c, "max_steps", "-2"), LC_ERR_CONFIG, "'max_steps'");
    char longv[LC_CFG_PATH_MAX + 10];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    CHECK_ERR(lc_train_config_set(&c, "model", longv), LC_ERR_CONFIG, "'model'", "at most 1023");
    /* failed sets leave the config untouched */
    lc_train_config d = lc_train_config_default();
    CHECK(c.lr == d.lr && c.r == d.r && c.packing == d.packing && !strcmp(c.target_modules, d.target_modules));
}

static void test_yaml_load(void) {
    const char *p = tmp_write("full.yaml",
                              "# a run\n"
                              "model: ../shared/fixtures/models/stories260K-hf\n"
                              "data: train.jsonl\n"
                              "tokenizer:\n"
                              "r: 4\n"
                              "alpha: 8.0\n"
                              "lr: 5e-4\n"
                              "target_modules:\n"
                              "  - v_proj\n"
                              "  - q_proj\n"
                              "  - o_proj\n"
                              "rslora: yes\n"
                              "packing: false\n"
                              "chat_template: 'chatml'\n"
                              "out_dir: \"runs/a b\"\n"
                              "seed: 7\n"
                              "max_steps: 30\n",
                              -1);
    lc_train_config c = lc_train_config_default();
    CHECK_OK(lc_train_config_load_yaml(&c, p));
    CHECK(!strcmp(c.model, "../shared/fixtures/models/stories260K-hf") && !strcmp(c.data, "train.jsonl"));
    CHECK(c.tokenizer[0] == 0 && c.r == 4 && c.alpha == 8 && c.lr == 5e-4 && c.rslora == 1);
    CHECK(!strcmp(c.target_modules, "q_proj,v_proj,o_proj"));
    CHECK(!strcmp(c.chat_template, "chatml") && !strcmp(c.out_dir, "runs/a b") && c.seed == 7);
    CHECK(c.max_steps == 30 && c.batch_size == 4); /* untouched key keeps its default */
    CHECK_OK(lc_train_config_validate(&c));

    p = tmp_write("flow.yaml", "target_modules: [gate_proj, up_proj, down_proj]\n", -1);
    CHECK_OK(lc_train_config_load_yaml(&c, p));
    CHECK(!strcmp(c.target_modules, "gate_proj,up_proj,down_proj"));
    p = tmp_write("empty.yaml", "# nothing\n", -1);
    CHECK_OK(lc_train_config_load_yaml(&c, p));
}

/* Each bad YAML: the message names the file and line, the key and the value. */
/* rank_pattern / alpha_pattern as YAML mappings (key order kept: PEFT's
 * first match wins), layers_to_transform as a list; saved YAML loads back
 * identical; bad regex, rank and layer values name the line and key. */
static void test_yaml_patterns(void) {
    lc_train_config c = lc_train_config_default();
    const char *p = tmp_write("patterns.yaml",
                              "rank_pattern:\n"
                              "  'model\\.layers\\.2\\.self_attn\\.q_proj': 5\n"
                              "  q_proj: 2\n"
                              "alpha_pattern: {o_proj: 3.5}\n"
                              "layers_to_transform: [0, 2]\n", -1);
    CHECK_OK(lc_train_config_load_yaml(&c, p));
    CHECK(!strcmp(c.rank_pattern, "{\"model\\\\.layers\\\\.2\\\\.self_attn\\\\.q_proj\": 5, \"q_proj\": 2}"));
    CHECK(!strcmp(c.alpha_pattern, "{\"o_proj\": 3.5}"));
    CHECK(!strcmp(c.layers_to_transform, "[0, 2]"));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    lc_train_config_to_yaml(&c, f);
    fclose(f);
    const char *q = tmp_write("patterns_saved.yaml", buf, -1);
    lc_train_config back = lc_train_config_default();
    CHECK_OK(lc_train_config_load_yaml(&back, q));
    CHECK(!strcmp(back.rank_pattern, c.rank_pattern) && !strcmp(back.alpha_pattern, c.alpha_pattern) &&
          !strcmp(back.layers_to_transform, c.layers_to_transform));
    free(buf);
    /* the defaults save as null and load back empty */
    lc_train_config d = lc_train_config_default();
    CHECK(!strcmp(yaml_line(&d, "rank_pattern"), "rank_pattern: null"));
    p = tmp_write("bad_regex.yaml", "r: 8\nrank_pattern: {'q_proj(': 4}\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_regex.yaml:2", "rank_pattern",
              "'q_proj('", "not a valid regular expression");
    p = tmp_write("bad_rank.yaml", "rank_pattern:\n  q_proj: 2.5\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_rank.yaml:2", "integer rank");
    p = tmp_write("bad_layers.yaml", "layers_to_transform: [0, -1]\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_layers.yaml:1", "layers_to_transform",
              "integers >= 0");
    p = tmp_write("nested.yaml", "rank_pattern: {q_proj: [1, 2]}\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "nested.yaml:1", "rank_pattern");
    CHECK_ERR(lc_train_config_set(&c, "rank_pattern", "{\"q_proj\": 0}"), LC_ERR_CONFIG, "--rank_pattern",
              "[1, 65536]");
    /* trainable_token_indices: a list, or {embed_tokens: [...]}; repeated ids, other modules refused */
    p = tmp_write("tokens.yaml", "trainable_token_indices: {embed_tokens: [3, 17]}\n", -1);
    CHECK_OK(lc_train_config_load_yaml(&c, p));
    CHECK(!strcmp(c.trainable_token_indices, "{\"embed_tokens\": [3, 17]}"));
    p = tmp_write("bad_tokens.yaml", "r: 8\ntrainable_token_indices: [3, 3]\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_tokens.yaml:2", "trainable_token_indices",
              "listed twice");
    p = tmp_write("bad_tokens_module.yaml", "trainable_token_indices: {q_proj: [3]}\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_tokens_module.yaml:1", "'q_proj'",
              "not supported");
    CHECK_ERR(lc_train_config_set(&c, "trainable_token_indices", "[-1]"), LC_ERR_CONFIG,
              "--trainable_token_indices", "not a token id");
    /* add_tokens: a list of strings (YAML plain, quoted or flow), one string alone from a flag */
    p = tmp_write("add.yaml", "add_tokens:\n  - <|tool|>\n  - \"<obs>\"\n", -1);
    CHECK_OK(lc_train_config_load_yaml(&c, p));
    CHECK(!strcmp(c.add_tokens, "[\"<|tool|>\", \"<obs>\"]"));
    CHECK_OK(lc_train_config_set(&c, "add_tokens", "[\"<a>\", \"<b>\"]"));
    CHECK(!strcmp(c.add_tokens, "[\"<a>\", \"<b>\"]"));
    CHECK_OK(lc_train_config_set(&c, "add_tokens", "[]"));
    CHECK(!c.add_tokens[0]);
    p = tmp_write("bad_add.yaml", "r: 8\nadd_tokens: [\"<a>\", \"<a>\"]\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_add.yaml:2", "'add_tokens'", "listed twice");
    p = tmp_write("bad_add_empty.yaml", "add_tokens: [\"<a>\", \"\"]\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_add_empty.yaml:1", "entry 1 is empty");
    p = tmp_write("bad_add_num.yaml", "add_tokens: [\"<a>\", 5]\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_add_num.yaml:1", "entry 1 is not a string");
}

static void test_yaml_errors(void) {
    lc_train_config c = lc_train_config_default();
    const char *p = tmp_write("config.yaml", "model: m\n\nlrr: 0.1\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "config.yaml:3: unknown key 'lrr' (did you mean 'lr'?)",
              "allowed keys: model, tokenizer, data");
    p = tmp_write("bad_lr.yaml", "model: m\nr: 8\nlr: fast\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_lr.yaml:3: bad value 'fast' for 'lr'", "(0, 10]");
    p = tmp_write("bad_bool.yaml", "packing: 2\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_bool.yaml:1:", "'2' for 'packing'");
    p = tmp_write("bad_enum.yaml", "\n\nlr_schedule: warmup_cosine\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_enum.yaml:3:", "'warmup_cosine'", "'lr_schedule'");
    p = tmp_write("bad_list.yaml", "lr: [1, 2]\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_list.yaml:1:", "'lr'", "found a list");
    p = tmp_write("bad_map.yaml", "r:\n  a: 1\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_map.yaml:2:", "'r'", "found a mapping");
    p = tmp_write("bad_tm.yaml", "r: 4\ntarget_modules:\n  - q_proj\n  - attn\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "bad_tm.yaml:3:", "unknown module 'attn'");
    p = tmp_write("null.yaml", "r:\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "null.yaml:1:", "missing value for 'r'");
    p = tmp_write("dup.yaml", "r: 4\nalpha: 8\nr: 16\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_CONFIG, "dup.yaml:3: duplicate key 'r' (first set at line 1)");
    p = tmp_write("syntax.yaml", "r: 4\nalpha: [8\nlr: 1\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_FORMAT, "syntax.yaml:", "YAML syntax error");
    p = tmp_write("list.yaml", "- r: 4\n", -1);
    CHECK_ERR(lc_train_config_load_yaml(&c, p), LC_ERR_FORMAT, "list.yaml:1: expected a mapping");
    CHECK_ERR(lc_train_config_load_yaml(&c, "/nonexistent/x.yaml"), LC_ERR_IO, "/nonexistent/x.yaml");
}

static void test_validate(void) {
    lc_train_config c = lc_train_config_default();
    CHECK_OK(lc_train_config_set(&c, "model", "m"));
    CHECK_ERR(lc_train_config_validate(&c), LC_ERR_CONFIG, "'data' is required");
    CHECK_OK(lc_train_config_set(&c, "data", "d.jsonl"));
    CHECK_OK(lc_train_config_validate(&c));
    lc_train_config v = c;
    v.warmup_steps = 10;
    v.warmup_ratio = 0.1;
    CHECK_ERR(lc_train_config_validate(&v), LC_ERR_CONFIG, "'warmup_steps'", "'warmup_ratio'");
    v = c;
    v.warmup_ratio = 1.5;
    CHECK_ERR(lc_train_config_validate(&v), LC_ERR_CONFIG, "'warmup_ratio' is 1.5", "[0, 1)");
    v = c;
    v.r = 0;
    CHECK_ERR(lc_train_config_validate(&v), LC_ERR_CONFIG, "'r' is 0");
    v = c;
    v.split = 0;
    v.early_stopping_patience = 3;
    CHECK_ERR(lc_train_config_validate(&v), LC_ERR_CONFIG, "'early_stopping_patience'", "valid_data");
    strcpy(v.valid_data, "v.jsonl");
    CHECK_OK(lc_train_config_validate(&v));
    v = c;
    strcpy(v.csv_completion_column, "prompt");
    CHECK_ERR(lc_train_config_validate(&v), LC_ERR_CONFIG, "'csv_prompt_column'", "must differ");
    v = c;
    v.packing = 1;
    v.truncation = LC_TRUNC_DROP;
    CHECK_ERR(lc_train_config_validate(&v), LC_ERR_CONFIG, "'packing'");
}

/* to_yaml -> load gives the same config, including awkward strings. */
static void test_round_trip(void) {
    lc_train_config a = lc_train_config_default();
    CHECK_OK(lc_train_config_set(&a, "model", "/models/my \"quoted\" dir: yes # not a comment"));
    CHECK_OK(lc_train_config_set(&a, "data", "données/train.jsonl"));
    CHECK_OK(lc_train_config_set(&a, "chat_template", "{% for m in messages %}\n\t{{ m.content }}\\{% endfor %}"));
    CHECK_OK(lc_train_config_set(&a, "lr", "0.1"));
    CHECK_OK(lc_train_config_set(&a, "adam_eps", "3.3333333333333335e-07"));
    CHECK_OK(lc_train_config_set(&a, "alpha", "1.1"));
    CHECK_OK(lc_train_config_set(&a, "dropout", "0.30000000000000004"));
    CHECK_OK(lc_train_config_set(&a, "seed", "12345678901234"));
    CHECK_OK(lc_train_config_set(&a, "target_modules", "all-linear"));
    CHECK_OK(lc_train_config_set(&a, "csv_prompt_column", "null"));
    CHECK_OK(lc_train_config_set(&a, "tokenizer", "~"));
    CHECK_OK(lc_train_config_set(&a, "out_dir", "true"));
    CHECK_OK(lc_train_config_set(&a, "lr_schedule", "constant"));
    CHECK_OK(lc_train_config_set(&a, "data_format", "chat"));
    CHECK_OK(lc_train_config_set(&a, "mask_prompt", "0"));
    char path[600];
    snprintf(path, sizeof path, "%s/saved.yaml", g_tmpdir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_OK(lc_train_config_to_yaml(&a, f));
    fclose(f);
    lc_train_config b = lc_train_config_default();
    CHECK_OK(lc_train_config_load_yaml(&b, path));
    CHECK(!strcmp(a.model, b.model) && !strcmp(a.data, b.data) && !strcmp(a.chat_template, b.chat_template));
    CHECK(a.lr == b.lr && a.adam_eps == b.adam_eps && a.alpha == b.alpha && a.dropout == b.dropout);
    CHECK(a.seed == b.seed && !strcmp(b.target_modules, "all-linear"));
    CHECK(!strcmp(b.csv_prompt_column, "null") && !strcmp(b.tokenizer, "~") && !strcmp(b.out_dir, "true"));
    CHECK(b.lr_schedule == LC_SCHED_CONSTANT && b.data_format == LC_FMT_CHAT && b.mask_prompt == 0);
    /* byte-identical saved form */
    char *s1 = NULL, *s2 = NULL;
    size_t l1 = 0, l2 = 0;
    FILE *m1 = open_memstream(&s1, &l1), *m2 = open_memstream(&s2, &l2);
    lc_train_config_to_yaml(&a, m1);
    lc_train_config_to_yaml(&b, m2);
    fclose(m1);
    fclose(m2);
    CHECK(l1 == l2 && !memcmp(s1, s2, l1));
    free(s1);
    free(s2);
}

int main(void) {
    tmp_init("cfg");
    test_defaults();
    test_overrides();
    test_yaml_patterns();
    test_bad_flags();
    test_yaml_load();
    test_yaml_errors();
    test_validate();
    test_round_trip();
    return test_finish("data_config");
}
