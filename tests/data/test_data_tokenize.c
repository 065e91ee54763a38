/*
 * test_data_tokenize.c — examples to training rows with the real
 * stories260K tokenizer: which positions carry loss for prompt/completion
 * (mask_prompt on and off), text, chat messages and a chat template;
 * BOS once, EOS at the end; truncation and dropping. Expected ids come from
 * the HF `tokenizers` library on the same tokenizer.json.
 *
 * usage: test_data_tokenize path/to/stories260K-hf/tokenizer.json
 */
#include "data_test.h"
#include "lc_data.h"

static lc_tokenizer *g_tok;
static lc_train_config g_cfg;

static void print_ids(const char *what, const int32_t *v, int n) {
    fprintf(stderr, "  %s:", what);
    for (int i = 0; i < n; i++) fprintf(stderr, " %d", v[i]);
    fprintf(stderr, "\n");
}

static int same_ids(const char *what, const int32_t *got, const int32_t *want, int n) {
    if (!memcmp(got, want, (size_t)n * sizeof *got)) return 1;
    fprintf(stderr, "  %s differs\n", what);
    print_ids("got ", got, n);
    print_ids("want", want, n);
    return 0;
}

static lc_status rows_from(lc_rows *rows, const char *name, const char *jsonl, const char *tmpl_name) {
    lc_dataset ds;
    lc_chat_template *tmpl = NULL;
    lc_status st = lc_dataset_load(&ds, tmp_write(name, jsonl, -1), &g_cfg);
    if (st != LC_OK) return st;
    strcpy(g_cfg.chat_template, tmpl_name);
    st = lc_data_template_resolve(&tmpl, &g_cfg, g_tok, NULL);
    if (st == LC_OK) st = lc_rows_build(rows, &ds, g_tok, tmpl, &g_cfg);
    lc_chat_template_free(tmpl);
    lc_dataset_free(&ds);
    return st;
}

/* Decode the target ids (labels != -1) of row r as one string (malloc'd). */
static char *decode_targets(const lc_rows *rows, int r) {
    int64_t a = rows->offsets[r], b = rows->offsets[r + 1];
    int32_t *t = malloc((size_t)(b - a) * sizeof *t);
    int n = 0;
    for (int64_t s = a; s < b; s++)
        if (rows->labels[s] >= 0) t[n++] = rows->labels[s];
    char *text = lc_tokenizer_decode(g_tok, t, n, 0);
    free(t);
    return text;
}

static void test_prompt_completion_none(void) {
    /* HF: "Q: Who is Lily?\n" -> [1, 410, 473, 467, 410, 448, 415, 414, 410, 293, 317, 450, 13]
     *     "A girl."           -> [410, 447, 298, 315, 421, 426] (no special tokens), EOS = 2 */
    static const int32_t ids[20] = {1, 410, 473, 467, 410, 448, 415, 414, 410, 293, 317, 450, 13,
                                    410, 447, 298, 315, 421, 426, 2};
    const char *jsonl = "{\"prompt\":\"Q: Who is Lily?\\n\",\"completion\":\"A girl.\"}\n";
    lc_rows rows;
    CHECK_OK(rows_from(&rows, "pc.jsonl", jsonl, "none"));
    CHECK(rows.n_rows == 1 && rows.n_tokens == 20);
    if (rows.n_tokens == 20) {
        CHECK(same_ids("ids", rows.ids, ids, 20));
        /* mask_prompt: positions 12..18 predict the completion and EOS */
        int32_t want[20];
        for (int j = 0; j < 20; j++) want[j] = (j >= 12 && j <= 18) ? ids[j + 1] : -1;
        CHECK(same_ids("labels (mask_prompt)", rows.labels, want, 20));
        CHECK(rows.n_loss_tokens == 7);
    }
    lc_rows_free(&rows);

    g_cfg.mask_prompt = 0;
    CHECK_OK(rows_from(&rows, "pc.jsonl", jsonl, "none"));
    if (rows.n_tokens == 20) {
        int32_t want[20];
        for (int j = 0; j < 20; j++) want[j] = j < 19 ? ids[j + 1] : -1;
        CHECK(same_ids("labels (no mask)", rows.labels, want, 20));
    }
    lc_rows_free(&rows);
    g_cfg.mask_prompt = 1;

    /* truncation at 15: loss only on the first two completion tokens */
    g_cfg.max_seq_len = 15;
    CHECK_OK(rows_from(&rows, "pc.jsonl", jsonl, "none"));
    CHECK(rows.n_rows == 1 && rows.n_tokens == 15 && rows.n_truncated == 1);
    if (rows.n_tokens == 15) {
        int32_t want[15];
        for (int j = 0; j < 15; j++) want[j] = (j == 12 || j == 13) ? ids[j + 1] : -1;
        CHECK(same_ids("labels (truncated)", rows.labels, want, 15));
    }
    lc_rows_free(&rows);
    /* truncation at 13: the completion is cut off entirely -> row dropped */
    g_cfg.max_seq_len = 13;
    CHECK_OK(rows_from(&rows, "pc.jsonl", jsonl, "none"));
    CHECK(rows.n_rows == 0 && rows.n_truncated == 1 && rows.n_dropped_no_loss == 1);
    lc_rows_free(&rows);
    g_cfg.max_seq_len = 15;
    g_cfg.truncation = LC_TRUNC_DROP;
    CHECK_OK(rows_from(&rows, "pc.jsonl", jsonl, "none"));
    CHECK(rows.n_rows == 0 && rows.n_dropped_long == 1);
    lc_rows_free(&rows);
    g_cfg.truncation = LC_TRUNC_TRUNCATE;
    g_cfg.max_seq_len = 512;
}

static void test_text(void) {
    static const int32_t ids[6] = {1, 403, 407, 261, 378, 2}; /* "Once upon a time" + EOS */
    static const int32_t lab[6] = {403, 407, 261, 378, 2, -1};
    lc_rows rows;
    CHECK_OK(rows_from(&rows, "text.jsonl", "{\"text\":\"Once upon a time\"}\n", "none"));
    CHECK(rows.n_rows == 1 && rows.n_tokens == 6);
    if (rows.n_tokens == 6) CHECK(same_ids("text ids", rows.ids, ids, 6) && same_ids("text labels", rows.labels, lab, 6));
    lc_rows_free(&rows);
}

static void test_alpaca_none(void) {
    /* prompt "Say hi.\n\nLily" */
    lc_rows rows;
    CHECK_OK(rows_from(&rows, "alpaca.jsonl", "{\"instruction\":\"Say hi.\",\"input\":\"Lily\",\"output\":\"Hello\"}\n", "none"));
    CHECK(rows.n_rows == 1);
    if (rows.n_rows == 1) {
        char *t = decode_targets(&rows, 0);
        /* only the output (+ EOS) is learnt; instruction and input are context */
        CHECK(t && strstr(t, "Hello") && strstr(t, "</s>") && !strstr(t, "Lily") && !strstr(t, "Say"));
        if (t) printf("alpaca targets decode to \"%s\"\n", t);
        free(t);
        CHECK(rows.ids[0] == 1 && rows.ids[rows.n_tokens - 1] == 2);
    }
    lc_rows_free(&rows);
}

/* Chat data and a chat template: only assistant turns carry loss, BOS once. */
static void test_chat(void) {
    const char *chat = "{\"messages\":[{\"role\":\"system\",\"content\":\"Be kind.\"},"
                       "{\"role\":\"user\",\"content\":\"Who is Lily?\"},{\"role\":\"assistant\",\"content\":\"A girl.\"},"
                       "{\"role\":\"user\",\"content\":\"And Tom?\"},{\"role\":\"assistant\",\"content\":\"A boy.\"}]}\n";
    static const char *const TEMPLATES[] = {"none", "chatml", "llama2"};
    for (int k = 0; k < 3; k++) {
        lc_rows rows;
        lc_status st = rows_from(&rows, "chat.jsonl", chat, TEMPLATES[k]);
        CHECK_OK(st);
        if (st != LC_OK || rows.n_rows != 1) continue;
        int n_bos = 0;
        for (int64_t s = 0; s < rows.n_tokens; s++) n_bos += rows.ids[s] == 1;
        char *t = decode_targets(&rows, 0);
        printf("chat template %-6s: %lld tokens, %lld carry loss, targets decode to \"%s\"\n", TEMPLATES[k],
               (long long)rows.n_tokens, (long long)rows.n_loss_tokens, t ? t : "(null)");
        /* BOS first and never doubled; llama2 writes "<s>" before each [INST] turn (2 here) */
        CHECK(rows.ids[0] == 1 && rows.ids[1] != 1 && n_bos == (k == 2 ? 2 : 1));
        CHECK(t && strstr(t, "A girl.") && strstr(t, "A boy."));
        CHECK(t && !strstr(t, "Lily") && !strstr(t, "Tom") && !strstr(t, "kind"));
        if (k == 0) CHECK(rows.ids[rows.n_tokens - 1] == 2 && rows.labels[rows.n_tokens - 2] == 2);
        free(t);
        lc_rows_free(&rows);
    }
    /* prompt/completion under a chat template: the completion is the assistant reply */
    lc_rows rows;
    CHECK_OK(rows_from(&rows, "pc_chat.jsonl", "{\"prompt\":\"Who is Lily?\",\"completion\":\"A girl.\"}\n", "chatml"));
    if (rows.n_rows == 1) {
        char *t = decode_targets(&rows, 0);
        CHECK(t && strstr(t, "A girl.") && !strstr(t, "Lily"));
        free(t);
    }
    lc_rows_free(&rows);
    /* auto: the stories tokenizer has no chat_template -> "none" */
    lc_chat_template *tmpl = NULL;
    strcpy(g_cfg.chat_template, "auto");
    CHECK_OK(lc_data_template_resolve(&tmpl, &g_cfg, g_tok, NULL));
    CHECK(tmpl && !strcmp(lc_chat_template_name(tmpl), "none"));
    lc_chat_template_free(tmpl);
    strcpy(g_cfg.chat_template, "none");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s tokenizer.json\n", argv[0]);
        return 2;
    }
    tmp_init("tok");
    g_cfg = lc_train_config_default();
    if (lc_tokenizer_load(&g_tok, argv[1]) != LC_OK) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], lc_error_msg());
        return 1;
    }
    test_prompt_completion_none();
    test_text();
    test_alpaca_none();
    test_chat();
    lc_tokenizer_free(g_tok);
    return test_finish("data_tokenize");
}
