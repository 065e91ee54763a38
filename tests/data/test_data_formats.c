/*
 * test_data_formats.c — dataset readers: jsonl prompt/completion, Alpaca,
 * chat messages and text rows (auto-detected or configured), csv with RFC
 * 4180 quoting; a malformed row of each kind gives its own error with the
 * line; skip_bad_rows; the real mental-health csv; deterministic splits.
 *
 * usage: test_data_formats [path/to/Mental_Health_FAQ.csv]
 */
#include "data_test.h"
#include "lc_data.h"

static lc_train_config g_cfg;

static lc_status load_text(lc_dataset *ds, const char *name, const char *text) {
    return lc_dataset_load(ds, tmp_write(name, text, -1), &g_cfg);
}

static int msg_is(const lc_example *e, int i, const char *role, const char *content) {
    int ok = i < e->n_msgs && !strcmp(e->msgs[i].role, role) && !strcmp(e->msgs[i].content, content);
    if (!ok && i < e->n_msgs)
        fprintf(stderr, "  msg %d: (%s, \"%s\") expected (%s, \"%s\")\n", i, e->msgs[i].role, e->msgs[i].content,
                role, content);
    return ok;
}

static void test_prompt_completion(void) {
    lc_dataset ds;
    /* BOM, CRLF, a blank line, an extra key, unicode and escapes */
    CHECK_OK(load_text(&ds, "pc.jsonl",
                       "\xEF\xBB\xBF{\"prompt\": \"Q: 2+2?\\n\", \"completion\": \"4\", \"id\": 1}\r\n"
                       "\r\n"
                       "{\"completion\": \" caf\\u00e9 \\\"x\\\"\", \"prompt\": \"\"}\n"));
    CHECK(ds.n == 2 && ds.format == LC_FMT_PROMPT_COMPLETION);
    if (ds.n == 2) {
        CHECK(ds.ex[0].kind == LC_EX_PROMPT_COMPLETION && ds.ex[0].line == 1 && ds.ex[1].line == 3);
        CHECK(msg_is(&ds.ex[0], 0, "user", "Q: 2+2?\n") && msg_is(&ds.ex[0], 1, "assistant", "4"));
        CHECK(msg_is(&ds.ex[1], 0, "user", "") && msg_is(&ds.ex[1], 1, "assistant", " caf\xC3\xA9 \"x\""));
    }
    lc_dataset_free(&ds);

    CHECK_ERR(load_text(&ds, "pc_bad.jsonl", "{\"prompt\":\"a\",\"completion\":\"b\"}\n\n{\"prompt\":\"a\",\"completion\":5}\n"),
              LC_ERR_FORMAT, "pc_bad.jsonl:3: expected 'completion' to be a string, found an integer");
    CHECK(ds.n == 0 && ds.ex == NULL);
    CHECK_ERR(load_text(&ds, "pc_json.jsonl", "{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"prompt\":\"a\" \"completion\":\"b\"}\n"),
              LC_ERR_FORMAT, "pc_json.jsonl:2: expected a JSON object, found invalid JSON at column");
    CHECK_ERR(load_text(&ds, "pc_mixed.jsonl", "{\"prompt\":\"a\",\"completion\":\"b\"}\n{\"text\":\"abc\"}\n"),
              LC_ERR_FORMAT, "pc_mixed.jsonl:2: expected a row of format prompt_completion (keys prompt, completion) like line 1",
              "found keys: text");
    CHECK_ERR(load_text(&ds, "pc_null.jsonl", "{\"prompt\":null,\"completion\":\"b\"}\n"), LC_ERR_FORMAT,
              "pc_null.jsonl:1: expected 'prompt' to be a string, found null");
    CHECK_ERR(load_text(&ds, "unknown.jsonl", "{\"question\":\"a\",\"answer\":\"b\"}\n"), LC_ERR_FORMAT,
              "unknown.jsonl:1: expected keys prompt+completion, instruction+output, messages or text",
              "found keys: question, answer");
    CHECK_ERR(load_text(&ds, "array.jsonl", "[{\"prompt\":\"a\",\"completion\":\"b\"}]\n"), LC_ERR_FORMAT,
              "array.jsonl:1: expected a JSON object", "found an array");
    CHECK_ERR(load_text(&ds, "empty.jsonl", "\n  \n"), LC_ERR_FORMAT, "empty.jsonl: expected at least one example");
    CHECK_ERR(lc_dataset_load(&ds, "/nonexistent/d.jsonl", &g_cfg), LC_ERR_IO, "/nonexistent/d.jsonl");
}

static void test_alpaca(void) {
    lc_dataset ds;
    CHECK_OK(load_text(&ds, "alpaca.jsonl",
                       "{\"instruction\":\"Translate.\",\"input\":\"hola\",\"output\":\"hello\"}\n"
                       "{\"instruction\":\"Say hi.\",\"input\":\"\",\"output\":\"hi\"}\n"
                       "{\"instruction\":\"Count.\",\"output\":\"1 2 3\"}\n"));
    CHECK(ds.n == 3 && ds.format == LC_FMT_ALPACA);
    if (ds.n == 3) {
        CHECK(ds.ex[0].kind == LC_EX_PROMPT_COMPLETION);
        CHECK(msg_is(&ds.ex[0], 0, "user", "Translate.\n\nhola") && msg_is(&ds.ex[0], 1, "assistant", "hello"));
        CHECK(msg_is(&ds.ex[1], 0, "user", "Say hi.") && msg_is(&ds.ex[2], 0, "user", "Count."));
    }
    lc_dataset_free(&ds);
    CHECK_ERR(load_text(&ds, "alpaca_bad.jsonl",
                        "{\"instruction\":\"a\",\"output\":\"b\"}\n{\"instruction\":\"a\",\"input\":[1],\"output\":\"b\"}\n"),
              LC_ERR_FORMAT, "alpaca_bad.jsonl:2: expected 'input' to be a string, found an array");
    CHECK_ERR(load_text(&ds, "alpaca_miss.jsonl",
                        "{\"instruction\":\"a\",\"output\":\"b\"}\n{\"instruction\":\"a\",\"response\":\"b\"}\n"),
              LC_ERR_FORMAT, "alpaca_miss.jsonl:2: expected a row of format alpaca", "like line 1", "found keys: instruction, response");
}

static void test_chat(void) {
    lc_dataset ds;
    CHECK_OK(load_text(&ds, "chat.jsonl",
                       "{\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                       "{\"role\":\"user\",\"content\":\"Hi\"},{\"role\":\"assistant\",\"content\":\"Hello!\"},"
                       "{\"role\":\"user\",\"content\":\"Bye\"},{\"role\":\"assistant\",\"content\":\"Bye.\"}]}\n"
                       "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"assistant\",\"content\":\"y\"}],\"prompt\":\"p\"}\n"));
    CHECK(ds.n == 2 && ds.format == LC_FMT_CHAT);
    if (ds.n == 2) {
        CHECK(ds.ex[0].kind == LC_EX_CHAT && ds.ex[0].n_msgs == 5 && ds.ex[1].n_msgs == 2);
        CHECK(msg_is(&ds.ex[0], 0, "system", "Be brief.") && msg_is(&ds.ex[0], 4, "assistant", "Bye."));
    }
    lc_dataset_free(&ds);
    CHECK_ERR(load_text(&ds, "chat_role.jsonl",
                        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}\n"
                        "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"},{\"role\":\"bot\",\"content\":\"y\"}]}\n"),
              LC_ERR_FORMAT, "chat_role.jsonl:2: messages[1]: expected role system, user or assistant, found 'bot'");
    CHECK_ERR(load_text(&ds, "chat_content.jsonl", "{\"messages\":[{\"role\":\"user\",\"content\":[\"x\"]}]}\n"),
              LC_ERR_FORMAT, "chat_content.jsonl:1: messages[0]: expected 'content' to be a string, found an array");
    CHECK_ERR(load_text(&ds, "chat_type.jsonl", "{\"messages\":\"hi\"}\n"), LC_ERR_FORMAT,
              "chat_type.jsonl:1: expected 'messages' to be an array, found a string");
    CHECK_ERR(load_text(&ds, "chat_empty.jsonl", "{\"messages\":[]}\n"), LC_ERR_FORMAT,
              "chat_empty.jsonl:1: expected at least one message");
}

static void test_text(void) {
    lc_dataset ds;
    CHECK_OK(load_text(&ds, "text.jsonl", "{\"text\":\"Once upon a time\"}\n{\"text\":\"\"}\n"));
    CHECK(ds.n == 2 && ds.format == LC_FMT_TEXT && ds.ex[0].kind == LC_EX_TEXT);
    if (ds.n == 2) CHECK(msg_is(&ds.ex[0], 0, "text", "Once upon a time"));
    lc_dataset_free(&ds);
    CHECK_ERR(load_text(&ds, "text_bad.jsonl", "{\"text\":\"a\"}\n{\"text\":\"b\"}\n{\"text\":true}\n"), LC_ERR_FORMAT,
              "text_bad.jsonl:3: expected 'text' to be a string, found a boolean");
    /* configured format: rows must have its keys */
    g_cfg.data_format = LC_FMT_TEXT;
    CHECK_ERR(load_text(&ds, "text_cfg.jsonl", "{\"prompt\":\"a\",\"completion\":\"b\"}\n"), LC_ERR_FORMAT,
              "text_cfg.jsonl:1: expected a row of format text (keys text) as data_format says");
    g_cfg.data_format = LC_FMT_AUTO;
}

static void test_skip_bad_rows(void) {
    lc_dataset ds;
    g_cfg.skip_bad_rows = 1;
    CHECK_OK(load_text(&ds, "skip.jsonl",
                       "{\"prompt\":\"a\",\"completion\":\"b\"}\n{bad json\n{\"prompt\":1,\"completion\":\"b\"}\n"
                       "{\"text\":\"t\"}\n{\"prompt\":\"c\",\"completion\":\"d\"}\n"));
    CHECK(ds.n == 2 && ds.n_skipped == 3 && ds.first_skipped_line == 2);
    if (ds.n == 2) CHECK(ds.ex[1].line == 5 && msg_is(&ds.ex[1], 1, "assistant", "d"));
    lc_dataset_free(&ds);
    CHECK_ERR(load_text(&ds, "skip_all.jsonl", "{bad\n{worse\n"), LC_ERR_FORMAT, "all 2 rows are malformed (first at line 1)");
    g_cfg.skip_bad_rows = 0;
}

static void test_csv(const char *faq_path) {
    lc_dataset ds;
    /* quoted commas, doubled quotes, embedded CRLF/LF newlines, CRLF records, BOM, extra column */
    CHECK_OK(load_text(&ds, "qa.csv",
                       "\xEF\xBB\xBFid,prompt,completion\r\n"
                       "1,\"Hello, world\",\"He said \"\"hi\"\"\"\r\n"
                       "2,\"two\r\nlines\",\"a\nb\nc\"\r\n"
                       "3,plain,5\" tall\r\n"
                       "\r\n"
                       "4,,\"\"\n"));
    CHECK(ds.n == 4 && ds.format == LC_FMT_CSV);
    if (ds.n == 4) {
        CHECK(msg_is(&ds.ex[0], 0, "user", "Hello, world") && msg_is(&ds.ex[0], 1, "assistant", "He said \"hi\""));
        CHECK(msg_is(&ds.ex[1], 0, "user", "two\nlines") && msg_is(&ds.ex[1], 1, "assistant", "a\nb\nc"));
        CHECK(msg_is(&ds.ex[2], 0, "user", "plain") && msg_is(&ds.ex[2], 1, "assistant", "5\" tall"));
        CHECK(msg_is(&ds.ex[3], 0, "user", "") && msg_is(&ds.ex[3], 1, "assistant", ""));
        CHECK(ds.ex[0].line == 2 && ds.ex[1].line == 3 && ds.ex[2].line == 7 && ds.ex[3].line == 9);
    }
    lc_dataset_free(&ds);
    /* column mapping */
    strcpy(g_cfg.csv_completion_column, "response");
    CHECK_OK(load_text(&ds, "map.csv", "prompt,response\nq1,r1\nq2,\"r2\"\n"));
    CHECK(ds.n == 2 && msg_is(&ds.ex[1], 1, "assistant", "r2"));
    lc_dataset_free(&ds);
    CHECK_ERR(load_text(&ds, "nocol.csv", "question,answer\nq,a\n"), LC_ERR_FORMAT,
              "nocol.csv:1: expected a column 'prompt' (csv_prompt_column) in the header, found columns 'question', 'answer'");
    CHECK_ERR(load_text(&ds, "fields.csv", "prompt,response\nq1,r1\n\"q2\nstill q2\",r2,extra\nq3,r3\n"), LC_ERR_FORMAT,
              "fields.csv:3: expected 2 fields as in the header, found 3");
    CHECK_ERR(load_text(&ds, "unterminated.csv", "prompt,response\nq1,r1\nq2,\"r2\nq3,r3\n"), LC_ERR_FORMAT,
              "unterminated.csv:3: expected a closing '\"'", "found end of file");
    CHECK_ERR(load_text(&ds, "afterquote.csv", "prompt,response\n\"q1\"x,r1\n"), LC_ERR_FORMAT,
              "afterquote.csv:2: expected ',' or end of line after a closing '\"', found 'x'");
    CHECK_ERR(load_text(&ds, "empty.csv", ""), LC_ERR_FORMAT, "empty.csv:1: expected a csv header row");
    g_cfg.skip_bad_rows = 1;
    CHECK_OK(load_text(&ds, "skip.csv", "prompt,response\nq1,r1\nq2,r2,x\n\"q3\"y,r3\nq4,r4\n"));
    CHECK(ds.n == 2 && ds.n_skipped == 2 && ds.first_skipped_line == 3);
    if (ds.n == 2) CHECK(msg_is(&ds.ex[1], 0, "user", "q4") && ds.ex[1].line == 5);
    lc_dataset_free(&ds);
    g_cfg.skip_bad_rows = 0;
    /* data_format csv forces csv whatever the extension */
    g_cfg.data_format = LC_FMT_CSV;
    CHECK_OK(load_text(&ds, "csv.txt", "prompt,response\na,b\n"));
    CHECK(ds.n == 1);
    lc_dataset_free(&ds);
    g_cfg.data_format = LC_FMT_AUTO;

    if (faq_path) { /* the real file: 98 rows, some spanning many lines */
        CHECK_OK(lc_dataset_load(&ds, faq_path, &g_cfg));
        printf("mental-health FAQ csv: %d examples, last at line %d\n", ds.n, ds.n ? ds.ex[ds.n - 1].line : 0);
        CHECK(ds.n == 98);
        if (ds.n == 98) CHECK(!strcmp(ds.ex[0].msgs[0].content, "What does it mean to have a mental illness?"));
        lc_dataset_free(&ds);
    }
    strcpy(g_cfg.csv_completion_column, "completion");
}

static void test_split(void) {
    char *text = malloc(100 * 64);
    size_t n = 0;
    for (int i = 0; i < 100; i++) n += (size_t)sprintf(text + n, "{\"text\":\"row %d\"}\n", i);
    const char *path = tmp_write("split.jsonl", text, (long)n);
    free(text);
    int seen[3][100];
    for (int run = 0; run < 3; run++) {
        lc_dataset all, tr, va;
        CHECK_OK(lc_dataset_load(&all, path, &g_cfg));
        CHECK_OK(lc_dataset_split(&all, 0.1, run == 2 ? 7 : 42, &tr, &va));
        CHECK(all.n == 0 && tr.n == 90 && va.n == 10);
        memset(seen[run], 0, sizeof seen[run]);
        int ordered = 1, prev = 0;
        for (int i = 0; i < va.n; i++) {
            int k = atoi(va.ex[i].msgs[0].content + 4);
            seen[run][k] = 1;
            if (va.ex[i].line < prev) ordered = 0;
            prev = va.ex[i].line;
        }
        prev = 0;
        for (int i = 0; i < tr.n; i++) {
            int k = atoi(tr.ex[i].msgs[0].content + 4);
            CHECK(seen[run][k] == 0);
            seen[run][k] |= 2;
            if (tr.ex[i].line < prev) ordered = 0;
            prev = tr.ex[i].line;
        }
        CHECK(ordered);
        int all_seen = 1;
        for (int k = 0; k < 100; k++) all_seen &= seen[run][k] != 0;
        CHECK(all_seen);
        lc_dataset_free(&tr);
        lc_dataset_free(&va);
    }
    CHECK(!memcmp(seen[0], seen[1], sizeof seen[0]));  /* same seed: same split */
    CHECK(memcmp(seen[0], seen[2], sizeof seen[0]) != 0); /* other seed: another split */
    /* tiny sets: ratio > 0 keeps >= 1 valid but never all; ratio 0: none */
    lc_dataset all, tr, va;
    CHECK_OK(load_text(&all, "two.jsonl", "{\"text\":\"a\"}\n{\"text\":\"b\"}\n"));
    CHECK_OK(lc_dataset_split(&all, 0.01, 1, &tr, &va));
    CHECK(tr.n == 1 && va.n == 1);
    lc_dataset_free(&tr);
    lc_dataset_free(&va);
    CHECK_OK(load_text(&all, "two.jsonl", "{\"text\":\"a\"}\n{\"text\":\"b\"}\n"));
    CHECK_OK(lc_dataset_split(&all, 0.0, 1, &tr, &va));
    CHECK(tr.n == 2 && va.n == 0);
    lc_dataset_free(&tr);
    lc_dataset_free(&va);
}

int main(int argc, char **argv) {
    tmp_init("fmt");
    g_cfg = lc_train_config_default();
    test_prompt_completion();
    test_alpaca();
    test_chat();
    test_text();
    test_skip_bad_rows();
    test_csv(argc > 1 ? argv[1] : NULL);
    test_split();
    return test_finish("data_formats");
}
