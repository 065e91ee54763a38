/*
 * cli_generate.c — `lorac generate` (one prompt, or one per line of a file)
 * and `lorac chat` (an interactive conversation on stdin): base model +
 * LoRA adapters applied unmerged, chat template, streaming output, stop at
 * EOS / end-of-turn token / stop strings, speed report on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "lc_adapter.h"
#include "lc_base.h"
#include "lc_chat.h"
#include "lc_infer.h"
#include "lc_prompt.h"
#include "lc_sample.h"

#define MAX_ADAPTERS 8
#define MAX_STOPS 16

typedef struct {
    const char *model, *tokenizer, *prompt, *prompts_file, *system, *tmpl;
    const char *adapter_path[MAX_ADAPTERS];
    float adapter_mult[MAX_ADAPTERS];
    int n_adapters;
    const char *stops[MAX_STOPS];
    int n_stops;
    int max_tokens, ctx, threads, raw, quiet;
    lc_sample_params sp;
    unsigned long long seed;
} gen_opts;

/* Everything a generation needs, opened once. */
typedef struct {
    lc_base base;
    int base_open;
    lc_lora lora[MAX_ADAPTERS];
    int n_lora;
    lc_chat_template *tmpl; /* NULL with --raw */
    lc_infer *inf;
    lc_sampler *smp;
    int32_t stop_ids[LC_PROMPT_MAX_STOP];
    int n_stop_ids;
    int max_tokens; /* --max-tokens, clamped to the context */
} session;

/* ------------------------------------------------------------ options */

enum {
    O_MODEL, O_ADAPTER, O_SYSTEM, O_TEMPLATE, O_RAW, O_MAX_TOKENS, O_TEMPERATURE, O_TOP_K, O_TOP_P, O_REP_PENALTY,
    O_SEED, O_STOP, O_CTX, O_THREADS, O_TOKENIZER, O_QUIET,
    O_PROMPT, O_PROMPTS_FILE, /* generate only: last, so chat's table is a prefix */
    O_COUNT
};

static const cli_opt OPTS[O_COUNT] = {
    [O_MODEL] = {"model", 0, "M", "HF model directory or .gguf file (required)"},
    [O_ADAPTER] = {"adapter", 0, "A.h5[:S]", "LoRA adapter applied unmerged, scale multiplier S (default 1); repeatable"},
    [O_SYSTEM] = {"system", 0, "S", "system message"},
    [O_TEMPLATE] = {"chat-template", 0, "T",
                    "auto (default: the adapter's recorded template, else the model's),\n"
                    "none, chatml, llama2, llama3, gemma, or a custom format with {role}/{content}"},
    [O_RAW] = {"raw", 0, NULL,
               "no template: the prompt is the exact model input (tokenizer BOS added);\nspecial tokens are printed"},
    [O_MAX_TOKENS] = {"max-tokens", 0, "N", "tokens to generate at most (default 256)"},
    [O_TEMPERATURE] = {"temperature", 0, "T", "0 = greedy (default), else sample from softmax(logits / T)"},
    [O_TOP_K] = {"top-k", 0, "K", "keep the K most likely tokens (default 0 = all)"},
    [O_TOP_P] = {"top-p", 0, "P", "keep the smallest set with mass >= P (default 1)"},
    [O_REP_PENALTY] = {"repetition-penalty", 0, "R", "HF semantics: penalise tokens already present (default 1 = off)"},
    [O_SEED] = {"seed", 0, "S", "RNG seed for sampling (default 0): same seed, same text"},
    [O_STOP] = {"stop", 0, "STR", "stop when STR appears in the output (not printed); repeatable"},
    [O_CTX] = {"ctx", 0, "N", "context length of the KV cache (default min(model max, 4096))"},
    [O_THREADS] = {"threads", 0, "N", "CPU threads (default: all cores)"},
    [O_TOKENIZER] = {"tokenizer", 0, "T", "tokenizer.json or directory (default: the model's)"},
    [O_QUIET] = {"quiet", 'q', NULL, "no speed report on stderr"},
    [O_PROMPT] = {"prompt", 0, "TEXT", "the user message (or the raw text with --raw / template none)"},
    [O_PROMPTS_FILE] = {"prompts-file", 0, "F", "one prompt per line; each is answered in turn"},
};

static const char GEN_ABOUT[] =
    "Generates a continuation of each prompt, streamed to stdout as it is produced. Generation\n"
    "stops at EOS, the chat template's end-of-turn token or any known end token of the vocabulary\n"
    "(lc_prompt.h), a --stop string, or --max-tokens; eval answers the same way.";

static const cli_spec GENERATE_SPEC = {
    "generate",
    "lorac generate --model M [--adapter A.h5[:SCALE] ...] (--prompt TEXT | --prompts-file F) [options]",
    GEN_ABOUT, OPTS, O_COUNT, 0, 0, NULL};

static const cli_spec CHAT_SPEC = {
    "chat", "lorac chat --model M [--adapter A.h5[:SCALE] ...] [options]",
    "Interactive chat: type a message and press Enter; /reset starts over, /exit or EOF ends.",
    OPTS, O_PROMPT, 0, 0, NULL};

static void opts_free(gen_opts *o) {
    for (int i = 0; i < o->n_adapters; i++) free((char *)o->adapter_path[i]);
    o->n_adapters = 0;
}

/* Sampling and size options; 0 or -1 (error printed). */
static int set_number(gen_opts *o, const char *verb, const cli_arg *a) {
    double d = 0;
    int bad = 0;
    switch (a->opt) {
    case O_MAX_TOKENS: bad = cli_parse_int(verb, a->name, a->val, 1, 1000000000, &o->max_tokens); break;
    case O_CTX: bad = cli_parse_int(verb, a->name, a->val, 2, 10000000, &o->ctx); break;
    case O_THREADS: bad = cli_parse_int(verb, a->name, a->val, 0, 4096, &o->threads); break;
    case O_TOP_K: bad = cli_parse_int(verb, a->name, a->val, 0, 1000000000, &o->sp.top_k); break;
    case O_TEMPERATURE: bad = cli_parse_double(verb, a->name, a->val, 0, 1e6, &d); o->sp.temperature = (float)d; break;
    case O_TOP_P: bad = cli_parse_double(verb, a->name, a->val, 1e-9, 1, &d); o->sp.top_p = (float)d; break;
    case O_REP_PENALTY:
        bad = cli_parse_double(verb, a->name, a->val, 1e-6, 1e6, &d);
        o->sp.repetition_penalty = (float)d;
        break;
    case O_SEED:
        bad = cli_parse_double(verb, a->name, a->val, 0, 1.8e19, &d);
        o->seed = strtoull(a->val, NULL, 10);
        break;
    }
    return bad;
}

/* One parsed option into *o; 0 or -1 (error printed). */
static int set_opt(gen_opts *o, const char *verb, const cli_arg *a) {
    switch (a->opt) {
    case O_MODEL: o->model = a->val; return 0;
    case O_TOKENIZER: o->tokenizer = a->val; return 0;
    case O_PROMPT: o->prompt = a->val; return 0;
    case O_PROMPTS_FILE: o->prompts_file = a->val; return 0;
    case O_SYSTEM: o->system = a->val; return 0;
    case O_TEMPLATE: o->tmpl = a->val; return 0;
    case O_RAW: o->raw = 1; return 0;
    case O_QUIET: o->quiet = 1; return 0;
    case O_ADAPTER:
        if (o->n_adapters == MAX_ADAPTERS) {
            fprintf(stderr, "lorac %s: at most %d adapters\n", verb, MAX_ADAPTERS);
            return -1;
        }
        if (cli_adapter_arg(verb, a->val, (char **)&o->adapter_path[o->n_adapters], &o->adapter_mult[o->n_adapters]))
            return -1;
        o->n_adapters++;
        if (lc_adapter_check_mult(a->val, o->adapter_mult[o->n_adapters - 1])) {
            fprintf(stderr, "lorac %s: %s\n", verb, lc_error_msg());
            return -1;
        }
        return 0;
    case O_STOP:
        if (o->n_stops == MAX_STOPS || !*a->val) {
            fprintf(stderr, "lorac %s: --stop takes a non-empty string, at most %d of them\n", verb, MAX_STOPS);
            return -1;
        }
        o->stops[o->n_stops++] = a->val;
        return 0;
    }
    return set_number(o, verb, a);
}

/* Returns 0 ok, 2 usage error, 1 after --help (caller returns 0). */
static int parse_opts(gen_opts *o, int argc, char **argv, int chat) {
    const cli_spec *spec = chat ? &CHAT_SPEC : &GENERATE_SPEC;
    memset(o, 0, sizeof *o);
    o->tmpl = "auto";
    o->max_tokens = 256;
    o->sp = lc_sample_default_params();
    cli_args args;
    int rc = cli_parse(spec, argc, argv, &args);
    for (int i = 0; i < args.n && !rc; i++)
        if (set_opt(o, spec->verb, &args.v[i])) rc = 2;
    cli_args_free(&args);
    if (rc) return rc;
    if (!o->model) {
        fprintf(stderr, "lorac %s: --model is required (see --help)\n", spec->verb);
        return 2;
    }
    if (!chat && !!o->prompt == !!o->prompts_file) {
        fprintf(stderr, "lorac generate: give exactly one of --prompt and --prompts-file\n");
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------ session */

static void session_close(session *s) {
    lc_sampler_free(s->smp);
    lc_infer_free(s->inf);
    lc_chat_template_free(s->tmpl);
    for (int i = 0; i < s->n_lora; i++) lc_lora_free(&s->lora[i]);
    if (s->base_open) lc_base_close(&s->base);
    memset(s, 0, sizeof *s);
}

/* The chat template (lc_prompt_template_resolve): --chat-template, else
 * the adapters' recorded one (they should agree), else the model's. */
static int resolve_template(session *s, const gen_opts *o, const lc_adapter_info *info) {
    if (o->raw) return 0;
    const char *recorded = NULL, *from = NULL;
    for (int i = 0; i < o->n_adapters; i++)
        if (info[i].chat_template[0]) {
            if (recorded && strcmp(recorded, info[i].chat_template))
                fprintf(stderr, "lorac: warning: adapters disagree on the chat template (%s: %s, %s: %s)\n", from,
                        recorded, o->adapter_path[i], info[i].chat_template);
            if (!recorded) {
                recorded = info[i].chat_template;
                from = o->adapter_path[i];
            }
        }
    char note[512];
    if (lc_prompt_template_resolve(&s->tmpl, o->tmpl, recorded, s->base.tok, s->base.model.fam.name, note,
                                   sizeof note)) {
        fprintf(stderr, "lorac: %s%s%s\n", from ? from : "", from ? ": " : "", lc_error_msg());
        return -1;
    }
    if (note[0]) fprintf(stderr, "lorac: note: %s%s%s\n", from ? from : "", from ? ": " : "", note);
    return 0;
}

static int session_open(session *s, const gen_opts *o, int ctx_default) {
    memset(s, 0, sizeof *s);
    lc_adapter_info info[MAX_ADAPTERS];
    lc_infer_adapter ad[MAX_ADAPTERS];
    if (lc_base_open(&s->base, o->model, o->tokenizer)) {
        fprintf(stderr, "lorac: %s\n", lc_error_msg());
        return -1;
    }
    s->base_open = 1;
    for (int i = 0; i < o->n_adapters; i++) {
        if (lc_base_prepare_adapter(&s->base, o->adapter_path[i]) || /* its add_tokens, if any */
            lc_adapter_load(o->adapter_path[i], &s->base.model, &s->lora[i], NULL, &info[i], 0)) {
            fprintf(stderr, "lorac: %s\n", lc_error_msg()); /* the message names the file */
            goto fail;
        }
        s->n_lora++;
        ad[i].lora = &s->lora[i];
        ad[i].mult = o->adapter_mult[i];
    }
    if (resolve_template(s, o, info)) goto fail;
    const lc_model_config *c = &s->base.model.cfg;
    int ctx = o->ctx ? o->ctx : (c->max_position > 0 && c->max_position < ctx_default ? c->max_position : ctx_default);
    if (c->max_position > 0 && ctx > c->max_position)
        fprintf(stderr, "lorac: warning: --ctx %d exceeds the model's %d positions\n", ctx, c->max_position);
    s->max_tokens = o->max_tokens;
    if (s->max_tokens > ctx - 1) {
        s->max_tokens = ctx - 1;
        fprintf(stderr, "lorac: warning: --max-tokens %d does not fit the context of %d tokens; generating at most %d "
                "(fewer after a long prompt)\n", o->max_tokens, ctx, s->max_tokens);
    }
    if (lc_infer_create(&s->inf, &s->base.model, ad, s->n_lora, ctx) ||
        lc_sampler_create(&s->smp, c->vocab_size, &o->sp, o->seed)) {
        fprintf(stderr, "lorac: %s\n", lc_error_msg());
        goto fail;
    }
    s->n_stop_ids = lc_prompt_stop_ids(s->base.tok, s->tmpl, c->eos_id, c->vocab_size, s->stop_ids);
    return 0;
fail:
    session_close(s);
    return -1;
}

/* ------------------------------------------------------------ prompts */

typedef struct {
    int32_t *v;
    int n, cap;
} ids_t;

static int ids_append(ids_t *b, const int32_t *ids, int n) {
    if (b->n + n > b->cap) {
        int cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n) cap *= 2;
        int32_t *v = realloc(b->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        b->v = v;
        b->cap = cap;
    }
    memcpy(b->v + b->n, ids, (size_t)n * sizeof *ids);
    b->n += n;
    return 0;
}

/* The model input for a conversation ending with a user message
 * (lc_prompt_build): one message without a system one is laid out as a
 * prompt/completion row, as eval does for such rows. */
static int build_prompt(const session *s, const lc_chat_msg *msgs, int n_msgs, ids_t *out) {
    free(out->v);
    memset(out, 0, sizeof *out);
    if (lc_prompt_build(s->base.tok, s->tmpl, msgs, n_msgs, 1, &out->v, &out->n, NULL)) {
        fprintf(stderr, "lorac: %s\n", lc_error_msg());
        return -1;
    }
    out->cap = out->n;
    return 0;
}

/* ------------------------------------------------------------ streaming */

typedef struct {
    const lc_tokenizer *tok;
    ids_t gen;
    size_t printed;      /* bytes of the decoded text already written */
    const char *const *stops;
    int n_stops, skip_special, stopped, failed;
    char *text;          /* the latest decoded text */
    size_t len;
} stream_t;

/* Bytes at the end of text[len] that must wait: an incomplete UTF-8
 * character (decoded as U+FFFD) or the start of a stop string. */
static size_t holdback(const stream_t *st) {
    size_t hold = 0;
    while (hold + 3 <= st->len && !memcmp(st->text + st->len - hold - 3, "\xEF\xBF\xBD", 3)) hold += 3;
    for (int i = 0; i < st->n_stops; i++) {
        size_t sl = strlen(st->stops[i]);
        for (size_t k = sl - 1; k > hold; k--)
            if (k <= st->len && !memcmp(st->text + st->len - k, st->stops[i], k)) {
                hold = k;
                break;
            }
    }
    return hold;
}

static void emit(stream_t *st, size_t upto) {
    if (upto > st->printed) {
        fwrite(st->text + st->printed, 1, upto - st->printed, stdout);
        fflush(stdout);
        st->printed = upto;
    }
}

static int on_token(void *ctx, int32_t id) {
    stream_t *st = ctx;
    if (lc_interrupt_pending()) return 1; /* Ctrl-C / SIGTERM: stop at once */
    if (ids_append(&st->gen, &id, 1)) return st->failed = 1;
    free(st->text);
    st->text = lc_tokenizer_decode_len(st->tok, st->gen.v, st->gen.n, st->skip_special, &st->len);
    if (!st->text) return st->failed = 1;
    size_t cut = st->len;
    for (int i = 0; i < st->n_stops; i++) {
        char *p = memmem(st->text, st->len, st->stops[i], strlen(st->stops[i]));
        if (p && (size_t)(p - st->text) < cut) cut = (size_t)(p - st->text);
    }
    if (cut < st->len) {
        st->len = cut; /* the answer ends before the stop string */
        st->stopped = 1;
        emit(st, cut);
        return 1;
    }
    if (st->printed > st->len) st->printed = st->len; /* decoding changed earlier text: never reprint */
    emit(st, st->len - holdback(st));
    return 0;
}

static const char *reason_name(lc_stop_reason r) {
    switch (r) {
    case LC_STOP_MAX_TOKENS: return "max tokens";
    case LC_STOP_TOKEN: return "end token";
    case LC_STOP_CALLBACK: return "stop string";
    case LC_STOP_CONTEXT: return "context full";
    }
    return "?";
}

/* Generate the answer to msgs, streaming it; *answer (may be NULL) receives
 * the final text (malloc'd). Returns 0, or -1 after printing the error. */
static int answer(session *s, const gen_opts *o, const lc_chat_msg *msgs, int n_msgs, char **answer_text) {
    ids_t prompt = {0};
    stream_t st = {s->base.tok, {0}, 0, o->stops, o->n_stops, !o->raw, 0, 0, NULL, 0};
    lc_gen_stats g;
    int rc = -1;
    if (build_prompt(s, msgs, n_msgs, &prompt)) goto done;
    if (prompt.n >= lc_infer_max_len(s->inf)) {
        fprintf(stderr, "lorac: the prompt has %d tokens, more than the context (%d) allows%s\n", prompt.n,
                lc_infer_max_len(s->inf) - 1, n_msgs > 1 ? "; /reset starts a new conversation" : "; raise --ctx");
        goto done;
    }
    if (lc_infer_generate(s->inf, s->smp, prompt.v, prompt.n, s->max_tokens, s->stop_ids, s->n_stop_ids, on_token,
                          &st, NULL, &g)) {
        fprintf(stderr, "lorac: %s\n", lc_error_msg());
        goto done;
    }
    if (st.failed) {
        fprintf(stderr, "lorac: out of memory while decoding the output\n");
        goto done;
    }
    if (st.text) emit(&st, st.len); /* anything held back */
    fputc('\n', stdout);
    fflush(stdout);
    if (!o->quiet)
        fprintf(stderr,
                "[prompt: %d tokens (%d cached), %.2f s, %.1f tok/s | generation: %d tokens, %.2f s, %.1f tok/s | "
                "stop: %s]\n",
                g.n_prompt, g.n_prompt - g.n_prompt_run, g.prompt_s, g.prompt_s > 0 ? g.n_prompt_run / g.prompt_s : 0,
                g.n_gen, g.gen_s, g.gen_s > 0 ? g.n_gen / g.gen_s : 0, reason_name(g.reason));
    if (answer_text) {
        *answer_text = st.text ? strndup(st.text, st.len) : strdup("");
        if (!*answer_text) goto done;
    }
    rc = 0;
done:
    free(prompt.v);
    free(st.gen.v);
    free(st.text);
    return rc;
}

/* ------------------------------------------------------------ verbs */

static int run_prompts_file(session *s, const gen_opts *o) {
    struct stat sb;
    if (stat(o->prompts_file, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fprintf(stderr, "lorac: --prompts-file %s is a directory; give a text file with one prompt per line\n",
                o->prompts_file);
        return 1;
    }
    FILE *f = fopen(o->prompts_file, "r");
    if (!f) {
        fprintf(stderr, "lorac: cannot open prompts file '%s': %s\n", o->prompts_file, strerror(errno));
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0, k = 0;
    while ((n = getline(&line, &cap, f)) >= 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        lc_chat_msg msgs[2] = {{"system", o->system}, {"user", line}};
        int sys = o->system != NULL;
        printf("%s### prompt %d: %s\n", k ? "\n" : "", k + 1, line);
        k++;
        if (answer(s, o, msgs + !sys, 1 + sys, NULL) || lc_interrupt_pending()) {
            rc = 1;
            break;
        }
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "lorac: reading prompts file '%s': %s\n", o->prompts_file, strerror(errno));
        rc = 1;
    }
    free(line);
    fclose(f);
    return rc;
}

/* What generate and chat (chat 1) do first: parse the options, set the
 * threads, open the model. 1 when the session is open (end it with
 * session_end); else 0, o freed and *rc the exit code (0 after --help). */
static int session_start(gen_opts *o, session *s, int argc, char **argv, int chat, int *rc) {
    int r = parse_opts(o, argc, argv, chat);
    *rc = r == 1 ? 0 : r;
    if (!r) {
        lc_threads_init(o->threads);
        if (!session_open(s, o, 4096)) return 1;
        *rc = 1;
    }
    opts_free(o);
    return 0;
}

static void session_end(session *s, gen_opts *o) {
    session_close(s);
    opts_free(o);
}

int cli_generate(int argc, char **argv) {
    gen_opts o;
    session s;
    int rc;
    if (!session_start(&o, &s, argc, argv, 0, &rc)) return rc;
    if (o.prompts_file) {
        rc = run_prompts_file(&s, &o);
    } else {
        lc_chat_msg msgs[2] = {{"system", o.system}, {"user", o.prompt}};
        int sys = o.system != NULL;
        rc = answer(&s, &o, msgs + !sys, 1 + sys, NULL) ? 1 : 0;
    }
    session_end(&s, &o);
    return rc;
}

/* The conversation so far (contents malloc'd). */
typedef struct {
    lc_chat_msg *v;
    int n, cap;
} convo_t;

static void convo_clear(convo_t *c, int keep) {
    for (int i = keep; i < c->n; i++) free((char *)c->v[i].content);
    c->n = keep;
}

static int convo_add(convo_t *c, const char *role, const char *content) {
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        lc_chat_msg *v = realloc(c->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        c->v = v;
        c->cap = cap;
    }
    char *dup = strdup(content);
    if (!dup) return -1;
    c->v[c->n].role = role;
    c->v[c->n++].content = dup;
    return 0;
}

int cli_chat(int argc, char **argv) {
    gen_opts o;
    session s;
    int rc;
    if (!session_start(&o, &s, argc, argv, 1, &rc)) return rc;
    if (o.raw) fprintf(stderr, "lorac chat: --raw keeps no conversation; each line is a fresh prompt\n");
    int tty = isatty(0), keep = 0;
    convo_t c = {0};
    if (o.system && convo_add(&c, "system", o.system)) rc = 1;
    keep = c.n;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while (!rc) {
        if (tty) fprintf(stderr, "> ");
        if ((n = getline(&line, &cap, stdin)) < 0) break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        if (!n) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) {
            convo_clear(&c, keep);
            fprintf(stderr, "(conversation cleared)\n");
            continue;
        }
        if (o.raw) convo_clear(&c, keep);
        char *reply = NULL;
        if (convo_add(&c, "user", line)) {
            rc = 1;
            break;
        }
        if (answer(&s, &o, c.v, c.n, &reply)) {
            convo_clear(&c, c.n - 1); /* drop the unanswered message; the user may /reset */
            if (!tty) rc = 1;
            continue;
        }
        if (convo_add(&c, "assistant", reply)) rc = 1;
        free(reply);
        if (lc_interrupt_pending()) { /* Ctrl-C during a reply stops the reply; at the prompt it ends the chat */
            lc_interrupt_reset();
            fprintf(stderr, "(reply stopped)\n");
        }
    }
    free(line);
    convo_clear(&c, 0);
    free(c.v);
    session_end(&s, &o);
    return rc;
}
