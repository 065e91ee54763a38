/*
 * test_prompt.c — lc_prompt (include/lc_prompt.h) on the real tokenizers of
 * the fixtures: the stop set (SmolLM2: <|im_end|> + <|endoftext|> whatever the
 * template; stories260K: </s> only; GPT-2: <|endoftext|>), the adapter spec
 * parser PATH[:SCALE] and its errors, the BOS rule of encoding and the
 * template choice (explicit > adapter's > model's; the model's default
 * system message kept for a named template of the same kind).
 *
 * The SmolLM tokenizer fixture has no chat template: the test gives it the
 * Jinja template of the real SmolLM2-135M-Instruct GGUF (tokenizer.chat_template).
 *
 * With --gemma3 GEMMA3.gguf instead: the real Gemma 3 270M tokenizer (its GGUF
 * has no chat template): auto gives the family's "gemma", the prompt renders
 * and encodes as <bos><start_of_turn>user\n...<end_of_turn>\n<start_of_turn>model\n
 * with one BOS, a training row's trained ids end in <end_of_turn>, and the
 * stop set is {<eos>, <end_of_turn>}.
 *
 * usage: test_prompt STORIES_DIR SMOLLM_TOKENIZER_DIR GPT2_TOKENIZER_DIR SMOLLM2.gguf
 *        test_prompt --gemma3 GEMMA3.gguf
 */
#include <math.h>

#include "data_test.h"
#include "lc_base.h"
#include "lc_gguf.h"
#include "lc_prompt.h"

static int has(const int32_t *ids, int n, int id) {
    for (int i = 0; i < n; i++)
        if (ids[i] == id) return 1;
    return 0;
}

static void test_stop_sets(const lc_tokenizer *stories, const lc_tokenizer *smollm, const lc_tokenizer *gpt2) {
    int32_t s[LC_PROMPT_MAX_STOP];
    lc_chat_template *chatml = NULL, *none = NULL;
    CHECK(lc_chat_template_create(&chatml, "chatml") == LC_OK && lc_chat_template_create(&none, "none") == LC_OK);
    int im_end = lc_tokenizer_token_id(smollm, "<|im_end|>"), eot = lc_tokenizer_token_id(smollm, "<|endoftext|>");
    CHECK(im_end >= 0 && eot >= 0 && im_end != eot);
    /* SmolLM2: EOS (<|im_end|>) and <|endoftext|>, with either template: one rule for every verb */
    int n = lc_prompt_stop_ids(smollm, chatml, -1, 49152, s);
    CHECK(n == 2 && has(s, n, im_end) && has(s, n, eot));
    n = lc_prompt_stop_ids(smollm, none, eot, 49152, s); /* model eos already in: no duplicate */
    CHECK(n == 2 && has(s, n, im_end) && has(s, n, eot));
    n = lc_prompt_stop_ids(smollm, NULL, -1, 49152, s); /* raw */
    CHECK(n == 2);
    /* stories260K (Llama SentencePiece): </s> = 2 only; ids outside the vocab are dropped */
    n = lc_prompt_stop_ids(stories, chatml, 2, 512, s);
    CHECK(n == 1 && s[0] == 2 && lc_tokenizer_eos_id(stories) == 2);
    CHECK(lc_prompt_stop_ids(stories, none, 2, 2, s) == 0);
    /* GPT-2: <|endoftext|> = 50256 (its EOS) */
    n = lc_prompt_stop_ids(gpt2, none, 50256, 50257, s);
    CHECK(n == 1 && s[0] == 50256);
    lc_chat_template_free(chatml);
    lc_chat_template_free(none);
}

static void test_adapter_spec(void) {
    char path[64];
    float sc = 0;
    CHECK(lc_prompt_adapter_spec("x.h5", path, sizeof path, &sc) == LC_OK && !strcmp(path, "x.h5") && sc == 1.0f);
    CHECK(lc_prompt_adapter_spec("run/a.h5:0.5", path, sizeof path, &sc) == LC_OK && !strcmp(path, "run/a.h5") &&
          sc == 0.5f);
    CHECK(lc_prompt_adapter_spec("a.h5:-2", path, sizeof path, &sc) == LC_OK && !strcmp(path, "a.h5") && sc == -2.0f);
    CHECK(lc_prompt_adapter_spec("a.h5:1e-3", path, sizeof path, &sc) == LC_OK && sc == 1e-3f);
    /* range is checked where the scale is used (lc_adapter_check_mult): NaN parses */
    CHECK(lc_prompt_adapter_spec("a.h5:nan", path, sizeof path, &sc) == LC_OK && isnan(sc));
    CHECK_ERR(lc_prompt_adapter_spec("x.h5:abc", path, sizeof path, &sc), LC_ERR_ARG, "'x.h5:abc'", "not a number",
              "'abc'", "PATH[:SCALE]");
    CHECK_ERR(lc_prompt_adapter_spec("x.h5:", path, sizeof path, &sc), LC_ERR_ARG, "'x.h5:'", "not a number");
    CHECK_ERR(lc_prompt_adapter_spec(":0.5", path, sizeof path, &sc), LC_ERR_ARG, "':0.5'", "the path is empty");
    CHECK_ERR(lc_prompt_adapter_spec("", path, sizeof path, &sc), LC_ERR_ARG, "empty");
    CHECK_ERR(lc_prompt_adapter_spec("a-very-long-adapter-path-that-does-not-fit-in-the-buffer-given.h5:2", path, 16,
                                     &sc), LC_ERR_ARG, "longer than 15 bytes");
    /* a file whose name has a colon: the whole spec is the path */
    char tmpl[] = "/tmp/lc_prompt_XXXXXX";
    char *dir = mkdtemp(tmpl);
    CHECK(dir != NULL);
    if (dir) {
        char file[128], p2[160];
        snprintf(file, sizeof file, "%s/a:b", dir);
        FILE *f = fopen(file, "w");
        CHECK(f != NULL);
        if (f) fclose(f);
        CHECK(lc_prompt_adapter_spec(file, p2, sizeof p2, &sc) == LC_OK && !strcmp(p2, file) && sc == 1.0f);
        snprintf(p2, sizeof p2, "%s:3", file);
        CHECK(lc_prompt_adapter_spec(p2, path, sizeof path, &sc) == LC_OK && !strcmp(path, file) && sc == 3.0f);
        unlink(file);
        rmdir(dir);
    }
}

static void test_encode_and_build(const lc_tokenizer *stories, const lc_tokenizer *smollm) {
    int32_t *ids = NULL, *ref = NULL;
    int n = 0, nr = 0;
    /* BOS: the first piece gets it, once, even when the text starts with "<s>" */
    CHECK(lc_prompt_encode_piece(stories, "<s>Once", 1, &ids, &n) == LC_OK && n >= 2 && ids[0] == 1 && ids[1] != 1);
    free(ids);
    CHECK(lc_prompt_encode_piece(stories, "Once", 0, &ids, &n) == LC_OK && n >= 1 && ids[0] != 1);
    free(ids);
    /* template none + a prompt/completion row: "[BOS] prompt", as lc_rows_build; raw: the same */
    lc_chat_template *none = NULL, *t = NULL;
    CHECK(lc_chat_template_create(&none, "none") == LC_OK);
    lc_chat_msg user = {"user", "Once upon a time"};
    CHECK(lc_prompt_encode_piece(stories, user.content, 1, &ref, &nr) == LC_OK);
    CHECK(lc_prompt_build(stories, none, &user, 1, 1, &ids, &n, NULL) == LC_OK && n == nr &&
          !memcmp(ids, ref, (size_t)n * sizeof *ids));
    free(ids);
    CHECK(lc_prompt_build(stories, NULL, &user, 1, 0, &ids, &n, NULL) == LC_OK && n == nr &&
          !memcmp(ids, ref, (size_t)n * sizeof *ids));
    free(ids);
    free(ref);
    /* SmolLM2, auto: its ChatML with the default system message and the generation prompt */
    char *text = NULL, note[256];
    CHECK(lc_prompt_template_resolve(&t, "auto", NULL, smollm, NULL, note, sizeof note) == LC_OK && t &&
          !strcmp(lc_chat_template_name(t), "chatml") && !note[0]);
    CHECK(t && lc_prompt_build(smollm, t, &user, 1, 1, &ids, &n, &text) == LC_OK && text &&
          !strncmp(text, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM", 62) &&
          strstr(text, "<|im_start|>user\nOnce upon a time<|im_end|>\n<|im_start|>assistant\n") &&
          ids[0] == lc_tokenizer_token_id(smollm, "<|im_start|>") && n > 20);
    free(ids);
    free(text);
    lc_chat_template_free(t);
    lc_chat_template_free(none);
}

static void test_template_choice(const lc_tokenizer *stories, const lc_tokenizer *smollm) {
    lc_chat_template *t = NULL;
    char note[256];
    lc_chat_msg user = {"user", "Hi"};
    lc_chat_segment *segs = NULL;
    int n_segs = 0;
    /* a named template of the model's kind keeps the model's default system message */
    CHECK(lc_prompt_template_resolve(&t, "chatml", NULL, smollm, NULL, NULL, 0) == LC_OK);
    CHECK(t && lc_chat_render(t, &user, 1, 1, &segs, &n_segs) == LC_OK && n_segs > 0 &&
          strstr(segs[0].text, "SmolLM"));
    lc_chat_segments_free(segs, n_segs);
    lc_chat_template_free(t);
    /* explicit beats the adapter's record, with a note */
    CHECK(lc_prompt_template_resolve(&t, "llama3", "chatml", smollm, NULL, note, sizeof note) == LC_OK &&
          !strcmp(lc_chat_template_name(t), "llama3") && strstr(note, "trained with chat template 'chatml'"));
    lc_chat_template_free(t);
    /* the adapter's record beats the model's */
    CHECK(lc_prompt_template_resolve(&t, NULL, "llama2", smollm, NULL, note, sizeof note) == LC_OK &&
          !strcmp(lc_chat_template_name(t), "llama2") && strstr(note, "the model's: chatml"));
    lc_chat_template_free(t);
    CHECK_ERR(lc_prompt_template_resolve(&t, "", "custom", smollm, NULL, NULL, 0), LC_ERR_CONFIG, "custom chat template",
              "--chat-template FORMAT");
    CHECK(t == NULL);
    CHECK_ERR(lc_prompt_template_resolve(&t, "chatmlx{", NULL, smollm, NULL, NULL, 0), LC_ERR_CONFIG, "chatmlx{");
    /* no template in the model: none */
    CHECK(lc_prompt_template_resolve(&t, NULL, NULL, stories, NULL, NULL, 0) == LC_OK &&
          !strcmp(lc_chat_template_name(t), "none"));
    lc_chat_template_free(t);
    CHECK(lc_prompt_template_resolve(&t, "auto", NULL, stories, "llama", NULL, 0) == LC_OK &&
          !strcmp(lc_chat_template_name(t), "none"));
    lc_chat_template_free(t);
    /* no template in the model, family gemma3 (Gemma 3 270M's GGUF): the built-in gemma */
    CHECK(lc_prompt_template_resolve(&t, "auto", NULL, stories, "gemma3", NULL, 0) == LC_OK &&
          !strcmp(lc_chat_template_name(t), "gemma") && !strcmp(lc_chat_template_end_token(t), "<end_of_turn>"));
    lc_chat_template_free(t);
    CHECK(lc_prompt_family_template("gemma3_text") && !lc_prompt_family_template("qwen2") &&
          !lc_prompt_family_template(NULL));
    /* the model's own template still beats the family default; explicit beats both */
    CHECK(lc_prompt_template_resolve(&t, NULL, NULL, smollm, "gemma3", NULL, 0) == LC_OK &&
          !strcmp(lc_chat_template_name(t), "chatml"));
    lc_chat_template_free(t);
    CHECK(lc_prompt_template_resolve(&t, "none", NULL, stories, "gemma3", NULL, 0) == LC_OK &&
          !strcmp(lc_chat_template_name(t), "none"));
    lc_chat_template_free(t);
}

/* Gemma 3 270M: no Jinja template in the GGUF, so the family default. */
static int test_gemma3(const char *gguf) {
    lc_tokenizer *tok = NULL;
    if (lc_base_open_tokenizer(&tok, gguf, NULL)) {
        fprintf(stderr, "FAIL: tokenizer of %s: %s\n", gguf, lc_error_msg());
        return 1;
    }
    int bos = lc_tokenizer_token_id(tok, "<bos>"), eos = lc_tokenizer_token_id(tok, "<eos>");
    int sot = lc_tokenizer_token_id(tok, "<start_of_turn>"), eot = lc_tokenizer_token_id(tok, "<end_of_turn>");
    int nl = lc_tokenizer_token_id(tok, "\n");
    CHECK(bos == lc_tokenizer_bos_id(tok) && eos == lc_tokenizer_eos_id(tok) && sot >= 0 && eot >= 0 && nl >= 0);
    CHECK(lc_tokenizer_chat_template(tok) == NULL, "the GGUF has no tokenizer.chat_template");
    lc_chat_template *t = NULL;
    char note[256];
    CHECK_OK(lc_prompt_template_resolve(&t, "auto", NULL, tok, "gemma3", note, sizeof note));
    CHECK(t && !strcmp(lc_chat_template_name(t), "gemma"));
    if (!t) return lc_tokenizer_free(tok), test_finish("test_prompt");
    /* the prompt: one BOS (the template's <bos> and the tokenizer's are one), turns as tokens */
    lc_chat_msg user = {"user", "What is 2+2?"};
    int32_t *ids = NULL, *ref = NULL;
    int n = 0, nr = 0;
    char *text = NULL;
    CHECK_OK(lc_prompt_build(tok, t, &user, 1, 1, &ids, &n, &text));
    CHECK(text && !strcmp(text, "<bos><start_of_turn>user\nWhat is 2+2?<end_of_turn>\n<start_of_turn>model\n"));
    CHECK_OK(lc_tokenizer_encode(tok, text, strlen(text), 0, &ref, &nr));
    CHECK(n == nr && n > 8 && !memcmp(ids, ref, (size_t)n * sizeof *ids), "prompt ids = the text's ids");
    CHECK(n > 8 && ids[0] == bos && ids[1] == sot && ids[3] == nl && ids[n - 5] == eot && ids[n - 4] == nl &&
              ids[n - 3] == sot && ids[n - 1] == nl,
          "<bos> <start_of_turn> user \\n ... <end_of_turn> \\n <start_of_turn> model \\n");
    free(ids);
    free(ref);
    free(text);
    /* a training row: the trained segment is the answer + <end_of_turn> */
    lc_chat_msg conv[] = {{"user", "What is 2+2?"}, {"assistant", " 4 "}};
    lc_chat_segment *segs = NULL;
    int ns = 0;
    CHECK_OK(lc_chat_render(t, conv, 2, 0, &segs, &ns));
    for (int i = 0; i < ns; i++) {
        if (!segs[i].train) continue;
        CHECK(!strcmp(segs[i].text, "4<end_of_turn>"));
        CHECK_OK(lc_prompt_encode_piece(tok, segs[i].text, 0, &ids, &n));
        CHECK(n == 2 && ids[1] == eot, "answer ids end in <end_of_turn>");
        free(ids);
    }
    lc_chat_segments_free(segs, ns);
    /* stop set: <eos> and <end_of_turn> */
    int32_t s[LC_PROMPT_MAX_STOP];
    n = lc_prompt_stop_ids(tok, t, eos, lc_tokenizer_vocab_size(tok), s);
    CHECK(n == 2 && has(s, n, eos) && has(s, n, eot), "stop set {<eos>, <end_of_turn>}");
    lc_chat_template_free(t);
    lc_tokenizer_free(tok);
    return test_finish("test_prompt");
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--gemma3")) return test_gemma3(argv[2]);
    if (argc < 5) {
        fprintf(stderr, "usage: %s STORIES_DIR SMOLLM_TOKENIZER_DIR GPT2_TOKENIZER_DIR SMOLLM2.gguf\n", argv[0]);
        return 2;
    }
    lc_tokenizer *stories = NULL, *smollm = NULL, *gpt2 = NULL;
    lc_gguf *g = NULL;
    const char *jinja = NULL;
    if (lc_tokenizer_load(&stories, argv[1]) || lc_tokenizer_load(&smollm, argv[2]) ||
        lc_tokenizer_load(&gpt2, argv[3]) || lc_gguf_open(&g, argv[4]) ||
        lc_gguf_get_str(g, "tokenizer.chat_template", &jinja) || lc_tokenizer_set_chat_template(smollm, jinja)) {
        fprintf(stderr, "FAIL loading the fixture tokenizers: %s\n", lc_error_msg());
        return 1;
    }
    lc_gguf_close(g);
    test_stop_sets(stories, smollm, gpt2);
    test_adapter_spec();
    test_encode_and_build(stories, smollm);
    test_template_choice(stories, smollm);
    lc_tokenizer_free(stories);
    lc_tokenizer_free(smollm);
    lc_tokenizer_free(gpt2);
    return test_finish("test_prompt");
}
