/*
 * test_chat.c — chat templates against transformers' apply_chat_template:
 * reads the cases written by make_chat_cases.py (real Jinja templates of
 * SmolLM2-Instruct, ChatML, Qwen2, Llama-2-chat, Llama-3; conversations with
 * and without system, multi-turn, with/without generation prompt), detects
 * each template by fingerprint, renders, and compares the text exactly. Also
 * checks the train flags (only assistant content + end token), the named
 * templates, a custom format, "none", and the errors.
 *
 * usage: test_chat CHAT_CASES_JSON
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_chat.h"
#include "../lc_test.h"

static char *concat(const lc_chat_segment *s, int n, int only_train) {
    size_t len = 0;
    for (int i = 0; i < n; i++) len += strlen(s[i].text);
    char *o = calloc(len + 1, 1);
    for (int i = 0; i < n; i++)
        if (!only_train || s[i].train) strcat(o, s[i].text);
    return o;
}

static void show_diff(const char *want, const char *got) {
    size_t i = 0;
    while (want[i] && want[i] == got[i]) i++;
    printf("    first difference at byte %zu\n    want: \"%.80s\"\n    got:  \"%.80s\"\n", i,
           want + i, got + i);
}

/* Text the assistant turns should contribute with train = 1. */
static char *expected_train(const char *kind, const lc_chat_msg *m, int n) {
    static char buf[1 << 14];
    buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(m[i].role, "assistant")) continue;
        const char *c = m[i].content;
        size_t a = 0, b = strlen(c);
        if (strcmp(kind, "chatml")) { /* llama2/llama3/gemma strip the content */
            while (a < b && strchr(" \t\n\r", c[a])) a++;
            while (b > a && strchr(" \t\n\r", c[b - 1])) b--;
        }
        if (!strcmp(kind, "llama2")) strcat(buf, " ");
        strncat(buf, c + a, b - a);
        strcat(buf, !strcmp(kind, "chatml") ? "<|im_end|>" :
                    !strcmp(kind, "llama2") ? " </s>" :
                    !strcmp(kind, "gemma")  ? "<end_of_turn>" : "<|eot_id|>");
    }
    return buf;
}

static void run_case(const json_t *c, int idx) {
    char what[256];
    const char *tmpl = json_string_value(json_object_get(c, "template"));
    const json_t *kindj = json_object_get(c, "kind");
    const char *kind = json_is_string(kindj) ? json_string_value(kindj) : NULL;
    const json_t *msgs = json_object_get(c, "messages");
    int gen = json_is_true(json_object_get(c, "gen"));
    const char *expected = json_string_value(json_object_get(c, "expected"));
    int n = (int)json_array_size(msgs);
    lc_chat_msg m[16];
    for (int i = 0; i < n && i < 16; i++) {
        m[i].role = json_string_value(json_object_get(json_array_get(msgs, i), "role"));
        m[i].content = json_string_value(json_object_get(json_array_get(msgs, i), "content"));
    }
    lc_chat_template *t = NULL;
    lc_status st = lc_chat_template_detect(&t, tmpl);
    if (!kind) {
        snprintf(what, sizeof what, "case %d: unknown template must be refused", idx);
        CHECK(st == LC_ERR_UNSUPPORTED && strstr(lc_error_msg(), "chat_template"), "%s", what);
        printf("  case %d: unrecognised template -> %s\n", idx, lc_error_msg());
        return;
    }
    snprintf(what, sizeof what, "case %d: detect as %s", idx, kind);
    CHECK(st == LC_OK && !strcmp(lc_chat_template_name(t), kind), "%s", what);
    if (st) return;
    for (int pass = 0; pass < 2; pass++) {
        /* pass 1: the named template, for templates without a default system message */
        if (pass == 1) {
            lc_chat_template_free(t);
            t = NULL;
            if (strstr(tmpl, "!= 'system'") || strstr(tmpl, "System role not supported")) break;
            if (lc_chat_template_create(&t, kind)) {
                CHECK(0, "create named template");
                break;
            }
        }
        lc_chat_segment *segs = NULL;
        int ns = 0;
        st = lc_chat_render(t, m, n, gen, &segs, &ns);
        if (!expected) {
            snprintf(what, sizeof what, "case %d (%s): HF raised, lorac must refuse", idx, kind);
            CHECK(st == LC_ERR_ARG, "%s", what);
            continue;
        }
        snprintf(what, sizeof what, "case %d (%s%s, %d msgs, gen %d): render", idx, kind,
                 pass ? " by name" : "", n, gen);
        if (st) {
            printf("    error: %s\n", lc_error_msg());
            CHECK(0, "%s", what);
            continue;
        }
        char *got = concat(segs, ns, 0), *train = concat(segs, ns, 1);
        CHECK(strcmp(got, expected) == 0, "%s", what);
        if (strcmp(got, expected)) show_diff(expected, got);
        snprintf(what, sizeof what, "case %d (%s): train segments = assistant content + end", idx,
                 kind);
        CHECK(strcmp(train, expected_train(kind, m, n)) == 0, "%s", what);
        free(got);
        free(train);
        lc_chat_segments_free(segs, ns);
    }
    lc_chat_template_free(t);
}

static void render_expect(const char *spec, const lc_chat_msg *m, int n, int gen,
                          const char *want, const char *want_train) {
    lc_chat_template *t;
    lc_chat_segment *s;
    int ns;
    char what[256];
    snprintf(what, sizeof what, "template \"%s\"", spec);
    if (lc_chat_template_create(&t, spec) || lc_chat_render(t, m, n, gen, &s, &ns)) {
        printf("    error: %s\n", lc_error_msg());
        CHECK(0, "%s", what);
        return;
    }
    char *got = concat(s, ns, 0), *train = concat(s, ns, 1);
    CHECK(!strcmp(got, want) && !strcmp(train, want_train), "%s", what);
    if (strcmp(got, want)) show_diff(want, got);
    free(got);
    free(train);
    lc_chat_segments_free(s, ns);
    lc_chat_template_free(t);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_chat CHAT_CASES_JSON\n");
        return 2;
    }
    json_error_t err;
    json_t *cases = json_load_file(argv[1], 0, &err);
    if (!json_is_array(cases)) {
        printf("FAIL: %s:%d: %s\n", argv[1], err.line, err.text);
        return 1;
    }
    size_t n = json_array_size(cases);
    for (size_t i = 0; i < n; i++) run_case(json_array_get(cases, i), (int)i);
    printf("HF oracle: %zu cases\n", n);
    json_decref(cases);

    lc_chat_msg conv[] = {{"system", "Sys"}, {"user", "Hello"}, {"assistant", "Hi!"}};
    render_expect("### {role}:\\n{content}\\n\\n", conv, 3, 1,
                  "### system:\nSys\n\n### user:\nHello\n\n### assistant:\nHi!\n\n### assistant:\n",
                  "Hi!\n\n");
    render_expect("<|{role}|>{content}</s>", conv + 1, 2, 0, "<|user|>Hello</s><|assistant|>Hi!</s>",
                  "Hi!</s>");
    render_expect("none", conv, 3, 1, "Sys\nHello\nHi!", "Hi!");
    /* gemma by name (the family default for Gemma 3 270M, whose GGUF has no template) */
    render_expect("gemma", conv, 3, 1,
                  "<bos><start_of_turn>user\nSys\n\nHello<end_of_turn>\n<start_of_turn>model\nHi!"
                  "<end_of_turn>\n<start_of_turn>model\n",
                  "Hi!<end_of_turn>");
    /* a Gemma template whose system prefix ends in one newline is rendered with one */
    {
        lc_chat_template *g = NULL;
        lc_chat_segment *gs = NULL;
        int gn = 0;
        const char *j1 = "{{ bos_token }}{%- set first_user_prefix = messages[0]['content'] + '\\n' -%}"
                         "{%- set role = \"model\" -%}{{ '<start_of_turn>' + role }}";
        CHECK(lc_chat_template_detect(&g, j1) == LC_OK && !strcmp(lc_chat_template_name(g), "gemma"),
              "gemma template with a one-newline system prefix detected");
        if (g && lc_chat_render(g, conv, 3, 0, &gs, &gn) == LC_OK) {
            char *got = concat(gs, gn, 0);
            CHECK(!strcmp(got, "<bos><start_of_turn>user\nSys\nHello<end_of_turn>\n<start_of_turn>model\n"
                               "Hi!<end_of_turn>\n"), "gemma one-newline system prefix rendered");
            free(got);
            lc_chat_segments_free(gs, gn);
        } else {
            CHECK(0, "gemma one-newline template renders");
        }
        lc_chat_template_free(g);
    }
    lc_chat_template *t = NULL;
    CHECK(lc_chat_template_create(&t, "chatmk") == LC_ERR_CONFIG, "unknown name is an error");
    printf("  unknown name -> %s\n", lc_error_msg());
    CHECK(lc_chat_template_detect(&t, NULL) == LC_ERR_UNSUPPORTED, "no template is an error");
    CHECK(lc_chat_template_detect(&t, "{{ '<|start_header_id|>' }} Cutting Knowledge Date") ==
              LC_ERR_UNSUPPORTED, "llama 3.1 template refused");
    lc_chat_msg badrole[] = {{"tool", "x"}};
    CHECK(lc_chat_template_create(&t, "chatml") == LC_OK, "create chatml");
    lc_chat_segment *s;
    int ns;
    CHECK(lc_chat_render(t, badrole, 1, 0, &s, &ns) == LC_ERR_ARG, "unknown role refused");
    lc_chat_template_free(t);
    if (g_fail) printf("FAIL: %d chat checks failed\n", g_fail);
    else printf("all chat checks passed\n");
    return lc_test_finish("test_chat");
}
