/*
 * chat.c — chat templates rendered natively (no Jinja engine): the known
 * formats reproduce byte for byte what transformers' apply_chat_template
 * gives with the models' own Jinja templates:
 *   chatml  "<|im_start|>{role}\n{content}<|im_end|>\n", generation prompt
 *           "<|im_start|>assistant\n"; optionally a default system message
 *           inserted when the conversation has none (SmolLM2, Qwen2);
 *   llama2  Meta's Llama-2-chat: "<s>[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user}
 *           [/INST] {assistant} </s>", contents stripped, roles must alternate;
 *   llama3  "<|begin_of_text|><|start_header_id|>{role}<|end_header_id|>\n\n
 *           {content|trim}<|eot_id|>" (Llama 3.0; 3.1+ templates with dates and
 *           tools are refused by detection);
 *   gemma   Gemma 2/3: "<bos><start_of_turn>user\n{content|trim}<end_of_turn>\n
 *           <start_of_turn>model\n{content|trim}<end_of_turn>\n", generation
 *           prompt "<start_of_turn>model\n"; a system message becomes the
 *           first user turn's prefix (content + "\n\n"; Gemma 2's template
 *           refuses it), roles must alternate;
 *   none    contents only: non-assistant content + "\n", assistant content;
 *   custom  a per-message format with {role} and {content} placeholders and
 *           \n, \t, \\ escapes, e.g. "### {role}:\n{content}\n\n".
 * Jinja templates are recognised by fingerprint (distinctive substrings).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lc_chat.h"

enum { CT_CHATML, CT_LLAMA2, CT_LLAMA3, CT_GEMMA, CT_NONE, CT_CUSTOM };

struct lc_chat_template {
    int kind;
    char *name;
    char *default_system; /* chatml: system message used when none is given */
    char *fmt;            /* custom: format with escapes resolved */
    int no_system;        /* gemma: the template refuses a system message (Gemma 2) */
    char *sys_sep;        /* gemma: text after the system message ("\n\n"; NULL = that) */
};

static lc_status oom(void) { return lc_errorf(LC_ERR_NOMEM, "chat template: out of memory"); }

static lc_status make(lc_chat_template **out, int kind, const char *name) {
    lc_chat_template *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        return oom();
    }
    t->kind = kind;
    *out = t;
    return LC_OK;
}

/* Resolve \n, \t, \\ escapes (custom formats come from YAML/CLI strings). */
static char *unescape(const char *s, size_t n) {
    char *o = malloc(n + 1), *p = o;
    if (!o) return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == 'n' || s[i + 1] == 't' || s[i + 1] == '\\')) {
            i++;
            *p++ = s[i] == 'n' ? '\n' : s[i] == 't' ? '\t' : '\\';
        } else {
            *p++ = s[i];
        }
    }
    *p = 0;
    return o;
}

lc_status lc_chat_template_create(lc_chat_template **out, const char *spec) {
    if (!out || !spec) return lc_errorf(LC_ERR_ARG, "lc_chat_template_create: NULL argument");
    *out = NULL;
    if (!strcmp(spec, "chatml")) return make(out, CT_CHATML, "chatml");
    if (!strcmp(spec, "llama2")) return make(out, CT_LLAMA2, "llama2");
    if (!strcmp(spec, "llama3")) return make(out, CT_LLAMA3, "llama3");
    if (!strcmp(spec, "gemma")) return make(out, CT_GEMMA, "gemma");
    if (!strcmp(spec, "none")) return make(out, CT_NONE, "none");
    if (!strstr(spec, "{content}"))
        return lc_errorf(LC_ERR_CONFIG,
                         "chat_template \"%s\": not a known template (chatml, llama2, llama3, gemma, none) "
                         "and, as a custom format, it lacks the {content} placeholder", spec);
    lc_status st = make(out, CT_CUSTOM, "custom");
    if (st) return st;
    if (!((*out)->fmt = unescape(spec, strlen(spec)))) {
        lc_chat_template_free(*out);
        *out = NULL;
        return oom();
    }
    return LC_OK;
}

/* chatml default system message: the text after "<|im_start|>system" + newline
 * (literal or the two characters \n) up to "<|im_end|>", when the template
 * inserts it only for conversations without a system message. */
static char *chatml_default_system(const char *j) {
    if (!strstr(j, "!= 'system'") && !strstr(j, "!= \"system\"")) return NULL;
    const char *p = strstr(j, "<|im_start|>system");
    if (!p) return NULL;
    p += strlen("<|im_start|>system");
    if (*p == '\n') p++;
    else if (p[0] == '\\' && p[1] == 'n') p += 2;
    else return NULL;
    const char *e = strstr(p, "<|im_end|>");
    if (!e) return NULL;
    /* the default message is a literal: reject anything with Jinja syntax in it */
    for (const char *q = p; q < e; q++)
        if (*q == '{' || *q == '}' || *q == '\'' || *q == '"') return NULL;
    return unescape(p, (size_t)(e - p));
}

/* gemma: the literal a template appends to the system message to make the
 * first user turn's prefix, "messages[0]['content'] + '\n\n'" (Gemma 3;
 * some community templates use one newline); NULL if not written so. */
static char *gemma_system_sep(const char *j) {
    static const char key[] = "messages[0]['content'] + '";
    const char *p = strstr(j, key);
    if (!p) return NULL;
    p += sizeof key - 1;
    const char *e = p;
    while (*e && *e != '\'') e += e[0] == '\\' && e[1] ? 2 : 1;
    return *e ? unescape(p, (size_t)(e - p)) : NULL;
}

lc_status lc_chat_template_detect(lc_chat_template **out, const char *j) {
    if (!out) return lc_errorf(LC_ERR_ARG, "lc_chat_template_detect: NULL argument");
    *out = NULL;
    if (!j || !*j)
        return lc_errorf(LC_ERR_UNSUPPORTED,
                         "the model has no chat_template; set `chat_template:` in the run config "
                         "(chatml, llama2, llama3, gemma, none, or a custom format with {role}/{content})");
    if (strstr(j, "<|im_start|>")) {
        lc_status st = make(out, CT_CHATML, "chatml");
        if (st) return st;
        (*out)->default_system = chatml_default_system(j);
        return LC_OK;
    }
    if (strstr(j, "<|start_header_id|>")) {
        if (strstr(j, "Cutting Knowledge") || strstr(j, "tools"))
            return lc_errorf(LC_ERR_UNSUPPORTED,
                             "chat_template looks like Llama 3.1+ (dates/tools), which lorac does "
                             "not reproduce; set `chat_template: llama3` in the run config to use "
                             "the Llama 3.0 format");
        return make(out, CT_LLAMA3, "llama3");
    }
    if (strstr(j, "[INST]") && strstr(j, "<<SYS>>")) return make(out, CT_LLAMA2, "llama2");
    if (strstr(j, "<start_of_turn>") &&
        (strstr(j, "'model'") || strstr(j, "\"model\"") || strstr(j, "<start_of_turn>model"))) {
        lc_status st = make(out, CT_GEMMA, "gemma");
        if (st) return st;
        (*out)->no_system = strstr(j, "System role not supported") != NULL;
        (*out)->sys_sep = gemma_system_sep(j);
        return LC_OK;
    }
    return lc_errorf(LC_ERR_UNSUPPORTED,
                     "chat_template not recognised (looked for <|im_start|> = chatml, "
                     "<|start_header_id|> = llama3, [INST] with <<SYS>> = llama2, "
                     "<start_of_turn> with a 'model' role = gemma); set `chat_template:` in the "
                     "run config to chatml, llama2, llama3, gemma, none, or a custom format with "
                     "{role}/{content}");
}

void lc_chat_template_free(lc_chat_template *t) {
    if (!t) return;
    free(t->name);
    free(t->default_system);
    free(t->fmt);
    free(t->sys_sep);
    free(t);
}

const char *lc_chat_template_name(const lc_chat_template *t) { return t->name; }

const char *lc_chat_template_end_token(const lc_chat_template *t) {
    switch (t->kind) {
    case CT_CHATML: return "<|im_end|>";
    case CT_LLAMA2: return "</s>";
    case CT_LLAMA3: return "<|eot_id|>";
    case CT_GEMMA: return "<end_of_turn>";
    }
    return NULL; /* none, custom: the end is the tokenizer's EOS or plain text */
}

/* ---------------------------------------------------------------- rendering */

typedef struct {
    lc_chat_segment *v;
    int n, cap;
    int failed;
} segs_t;

/* Append text with a train flag, merging with the previous segment when the flag matches. */
static void put(segs_t *s, const char *p, size_t n, int train) {
    if (s->failed || n == 0) return;
    if (s->n && s->v[s->n - 1].train == train) {
        lc_chat_segment *g = &s->v[s->n - 1];
        size_t old = strlen(g->text);
        char *t = realloc(g->text, old + n + 1);
        if (!t) {
            s->failed = 1;
            return;
        }
        memcpy(t + old, p, n);
        t[old + n] = 0;
        g->text = t;
        return;
    }
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 16;
        lc_chat_segment *v = realloc(s->v, (size_t)cap * sizeof *v);
        if (!v) {
            s->failed = 1;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    char *t = malloc(n + 1);
    if (!t) {
        s->failed = 1;
        return;
    }
    memcpy(t, p, n);
    t[n] = 0;
    s->v[s->n++] = (lc_chat_segment){t, train};
}

static void puts_(segs_t *s, const char *p, int train) { put(s, p, strlen(p), train); }

/* Python's str.isspace() for one code point: what str.strip() and Jinja's
 * trim filter remove. */
static int py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

/* The code point of the (valid or not) UTF-8 sequence at s[0..n): *len bytes;
 * invalid bytes read as themselves (never whitespace above 0x7f). */
static uint32_t utf8_at(const unsigned char *s, size_t n, size_t *len) {
    int k = s[0] < 0x80 ? 0 : s[0] >= 0xf0 ? 3 : s[0] >= 0xe0 ? 2 : s[0] >= 0xc0 ? 1 : -1;
    uint32_t c = k == 0 ? s[0] : k == 1 ? s[0] & 0x1fu : k == 2 ? s[0] & 0x0fu : s[0] & 0x07u;
    if (k < 0 || (size_t)k >= n) return *len = 1, 0xfffd;
    for (int i = 1; i <= k; i++) {
        if ((s[i] & 0xc0) != 0x80) return *len = 1, 0xfffd;
        c = c << 6 | (s[i] & 0x3fu);
    }
    *len = (size_t)k + 1;
    return c;
}

/* Python str.strip() (Jinja's trim / .strip()): Unicode whitespace at both ends. */
static void stripped(const char *s, const char **b, size_t *n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t len = strlen(s), a = 0, k;
    while (a < len && py_space(utf8_at(u + a, len - a, &k))) a += k;
    while (len > a) {
        size_t c = len - 1;
        while (c > a && (u[c] & 0xc0) == 0x80 && len - c < 4) c--;
        if (!py_space(utf8_at(u + c, len - c, &k)) || c + k != len) break;
        len = c;
    }
    *b = s + a;
    *n = len - a;
}

static int is_assistant(const lc_chat_msg *m) { return !strcmp(m->role, "assistant"); }

static void render_chatml(const lc_chat_template *t, const lc_chat_msg *m, int n, int gen,
                          segs_t *s) {
    for (int i = 0; i < n; i++) {
        if (i == 0 && t->default_system && strcmp(m[0].role, "system")) {
            puts_(s, "<|im_start|>system\n", 0);
            puts_(s, t->default_system, 0);
            puts_(s, "<|im_end|>\n", 0);
        }
        int tr = is_assistant(&m[i]);
        puts_(s, "<|im_start|>", 0);
        puts_(s, m[i].role, 0);
        puts_(s, "\n", 0);
        puts_(s, m[i].content, tr);
        puts_(s, "<|im_end|>", tr);
        puts_(s, "\n", 0);
    }
    if (gen) puts_(s, "<|im_start|>assistant\n", 0);
}

static lc_status render_llama2(const lc_chat_msg *m, int n, segs_t *s) {
    const char *sys = NULL;
    if (n > 0 && !strcmp(m[0].role, "system")) sys = m[0].content, m++, n--;
    for (int i = 0; i < n; i++) {
        int user = !strcmp(m[i].role, "user");
        if (user != (i % 2 == 0))
            return lc_errorf(LC_ERR_ARG,
                             "llama2 chat template: message %d has role \"%s\": conversation "
                             "roles must alternate user/assistant/user/assistant/...",
                             i + (sys != NULL), m[i].role);
        const char *b;
        size_t k;
        if (user) {
            puts_(s, "<s>[INST] ", 0);
            if (i == 0 && sys) {
                /* strip() applies to the whole "<<SYS>>...<</SYS>>\n\n" + content */
                size_t ls = strlen(sys), lu = strlen(m[i].content);
                char *c = malloc(ls + lu + 32);
                if (!c) return oom();
                strcpy(c, "<<SYS>>\n");
                strcat(c, sys);
                strcat(c, "\n<</SYS>>\n\n");
                strcat(c, m[i].content);
                stripped(c, &b, &k);
                put(s, b, k, 0);
                free(c);
            } else {
                stripped(m[i].content, &b, &k);
                put(s, b, k, 0);
            }
            puts_(s, " [/INST]", 0);
        } else if (is_assistant(&m[i])) {
            stripped(m[i].content, &b, &k);
            puts_(s, " ", 1);
            put(s, b, k, 1);
            puts_(s, " </s>", 1);
        }
    }
    return LC_OK;
}

static void render_llama3(const lc_chat_msg *m, int n, int gen, segs_t *s) {
    for (int i = 0; i < n; i++) {
        const char *b;
        size_t k;
        int tr = is_assistant(&m[i]);
        if (i == 0) puts_(s, "<|begin_of_text|>", 0);
        puts_(s, "<|start_header_id|>", 0);
        puts_(s, m[i].role, 0);
        puts_(s, "<|end_header_id|>\n\n", 0);
        stripped(m[i].content, &b, &k);
        put(s, b, k, tr);
        puts_(s, "<|eot_id|>", tr);
    }
    if (gen) puts_(s, "<|start_header_id|>assistant<|end_header_id|>\n\n", 0);
}

/* Gemma 2/3 (google/gemma-3-*'s chat_template): the template writes
 * bos_token; a leading system message is the first turn's prefix, not
 * trimmed; roles alternate user/model (assistant is called "model"). */
static lc_status render_gemma(const lc_chat_template *t, const lc_chat_msg *m, int n, int gen, segs_t *s) {
    const char *sys = NULL;
    if (n > 0 && !strcmp(m[0].role, "system")) {
        if (t->no_system)
            return lc_errorf(LC_ERR_ARG, "gemma chat template: this model's template does not "
                             "support a system message (System role not supported)");
        sys = m[0].content, m++, n--;
    }
    puts_(s, "<bos>", 0);
    for (int i = 0; i < n; i++) {
        if (!strcmp(m[i].role, "user") != (i % 2 == 0))
            return lc_errorf(LC_ERR_ARG,
                             "gemma chat template: message %d has role \"%s\": conversation "
                             "roles must alternate user/assistant/user/assistant/...",
                             i + (sys != NULL), m[i].role);
        const char *b;
        size_t k;
        int tr = is_assistant(&m[i]);
        puts_(s, "<start_of_turn>", 0);
        puts_(s, tr ? "model" : m[i].role, 0);
        puts_(s, "\n", 0);
        if (i == 0 && sys) puts_(s, sys, 0), puts_(s, t->sys_sep ? t->sys_sep : "\n\n", 0);
        stripped(m[i].content, &b, &k);
        put(s, b, k, tr);
        puts_(s, "<end_of_turn>", tr);
        puts_(s, "\n", 0);
    }
    if (gen) puts_(s, "<start_of_turn>model\n", 0);
    return LC_OK;
}

/* custom: format text between placeholders, with {role} substituted. */
static void put_fmt(segs_t *s, const char *f, size_t n, const char *role, int train) {
    const char *end = f + n;
    while (f < end) {
        const char *r = strstr(f, "{role}");
        if (!r || r >= end) {
            put(s, f, (size_t)(end - f), train);
            return;
        }
        put(s, f, (size_t)(r - f), train);
        puts_(s, role, train);
        f = r + 6;
    }
}

static void render_custom(const lc_chat_template *t, const lc_chat_msg *m, int n, int gen,
                          segs_t *s) {
    const char *c = strstr(t->fmt, "{content}");
    size_t pre = (size_t)(c - t->fmt);
    const char *post = c + 9;
    for (int i = 0; i < n; i++) {
        int tr = is_assistant(&m[i]);
        put_fmt(s, t->fmt, pre, m[i].role, 0);
        puts_(s, m[i].content, tr);
        put_fmt(s, post, strlen(post), m[i].role, tr);
    }
    if (gen) put_fmt(s, t->fmt, pre, "assistant", 0);
}

lc_status lc_chat_render(const lc_chat_template *t, const lc_chat_msg *msgs, int n_msgs,
                         int add_generation_prompt, lc_chat_segment **segs, int *n_segs) {
    if (!t || (!msgs && n_msgs) || n_msgs < 0 || !segs || !n_segs)
        return lc_errorf(LC_ERR_ARG, "lc_chat_render: bad arguments");
    *segs = NULL;
    *n_segs = 0;
    for (int i = 0; i < n_msgs; i++) {
        const char *r = msgs[i].role;
        if (!r || !msgs[i].content)
            return lc_errorf(LC_ERR_ARG, "chat message %d: missing role or content", i);
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant"))
            return lc_errorf(LC_ERR_ARG,
                             "chat message %d: role \"%s\" (expected system, user or assistant)",
                             i, r);
    }
    segs_t s = {0};
    lc_status st = LC_OK;
    switch (t->kind) {
    case CT_CHATML: render_chatml(t, msgs, n_msgs, add_generation_prompt, &s); break;
    case CT_LLAMA2: st = render_llama2(msgs, n_msgs, &s); break;
    case CT_LLAMA3: render_llama3(msgs, n_msgs, add_generation_prompt, &s); break;
    case CT_GEMMA: st = render_gemma(t, msgs, n_msgs, add_generation_prompt, &s); break;
    case CT_CUSTOM: render_custom(t, msgs, n_msgs, add_generation_prompt, &s); break;
    default:
        for (int i = 0; i < n_msgs; i++) {
            int tr = is_assistant(&msgs[i]);
            puts_(&s, msgs[i].content, tr);
            if (!tr) puts_(&s, "\n", 0);
        }
    }
    if (!st && s.failed) st = oom();
    if (st) {
        lc_chat_segments_free(s.v, s.n);
        return st;
    }
    *segs = s.v;
    *n_segs = s.n;
    return LC_OK;
}

void lc_chat_segments_free(lc_chat_segment *segs, int n_segs) {
    for (int i = 0; i < n_segs; i++) free(segs[i].text);
    free(segs);
}
