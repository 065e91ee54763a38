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
    int32_t stop_ids[4];
    int n_stop_ids;
    int max_tokens; /* --max-tokens, clamped to the context */
} session;

static void usage(FILE *f, int chat) {
    fprintf(f,
            "usage: lorac %s --model M [--adapter A.h5[:SCALE] ...] %s\n"
            "         [--system S] [--chat-template auto|none|chatml|llama2|llama3|FORMAT] [--raw]\n"
            "         [--max-tokens N] [--temperature T] [--top-k K] [--top-p P] [--repetition-penalty R]\n"
            "         [--seed S] [--stop STR ...] [--ctx N] [--threads N] [--tokenizer T] [--quiet]\n\n",
            chat ? "chat" : "generate", chat ? "" : "(--prompt TEXT | --prompts-file F)");
    fprintf(f,
            "%s"
            "  --model M            HF model directory or .gguf file\n"
            "  --adapter A.h5[:S]   LoRA adapter applied unmerged, scale multiplier S (default 1); repeatable\n"
            "%s"
            "  --system S           system message\n"
            "  --chat-template T    auto (default: the adapter's recorded template, else the model's),\n"
            "                       none, chatml, llama2, llama3, or a custom format with {role}/{content}\n"
            "  --raw                no template: the prompt is the exact model input (tokenizer BOS added);\n"
            "                       special tokens are printed\n"
            "  --max-tokens N       tokens to generate at most (default 256)\n"
            "  --temperature T      0 = greedy (default), else sample from softmax(logits / T)\n"
            "  --top-k K, --top-p P keep the K most likely tokens / the smallest set with mass >= P\n"
            "  --repetition-penalty R  HF semantics: penalise tokens already present (default 1 = off)\n"
            "  --seed S             RNG seed for sampling (default 0): same seed, same text\n"
            "  --stop STR           stop when STR appears in the output (not printed); repeatable\n"
            "  --ctx N              context length of the KV cache (default min(model max, 4096))\n"
            "  --threads N          CPU threads (default: all cores)\n"
            "  --quiet              no speed report on stderr\n",
            chat ? "Interactive chat: type a message and press Enter; /reset starts over, /exit or EOF "
                   "ends.\n\n"
                 : "Generates a continuation of each prompt, streamed to stdout as it is produced.\n\n",
            chat ? "" : "  --prompt TEXT        the user message (or the raw text with --raw / template none)\n"
                        "  --prompts-file F     one prompt per line; each is answered in turn\n");
}

/* ------------------------------------------------------------ options */

static int parse_num(const char *flag, const char *v, double lo, double hi, double *out) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "lorac: %s expects a number in [%g, %g], found '%s'\n", flag, lo, hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

/* "path.h5" or "path.h5:0.5" (the suffix counts as a scale only if numeric). */
static int parse_adapter(gen_opts *o, const char *spec) {
    if (o->n_adapters == MAX_ADAPTERS) {
        fprintf(stderr, "lorac: at most %d adapters\n", MAX_ADAPTERS);
        return -1;
    }
    char *copy = strdup(spec), *colon = strrchr(copy, ':');
    float mult = 1.0f;
    if (colon) {
        char *end;
        double d = strtod(colon + 1, &end);
        if (end != colon + 1 && !*end) {
            if (lc_adapter_check_mult(spec, d)) {
                fprintf(stderr, "lorac: %s\n", lc_error_msg());
                free(copy);
                return -1;
            }
            mult = (float)d;
            *colon = 0;
        }
    }
    o->adapter_path[o->n_adapters] = copy; /* freed at exit with the options */
    o->adapter_mult[o->n_adapters++] = mult;
    return 0;
}

static void opts_free(gen_opts *o) {
    for (int i = 0; i < o->n_adapters; i++) free((char *)o->adapter_path[i]);
}

/* Returns 0 ok, 2 usage error, 1 after --help (caller returns 0). */
static int parse_opts(gen_opts *o, int argc, char **argv, int chat) {
    memset(o, 0, sizeof *o);
    o->tmpl = "auto";
    o->max_tokens = 256;
    o->sp = lc_sample_default_params();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, chat);
            return 1;
        }
        if (!strcmp(a, "--raw")) { o->raw = 1; continue; }
        if (!strcmp(a, "--quiet")) { o->quiet = 1; continue; }
        if (strncmp(a, "--", 2) || !v) {
            fprintf(stderr, "lorac %s: unexpected argument '%s'%s (see --help)\n", chat ? "chat" : "generate", a,
                    !strncmp(a, "--", 2) ? " without a value" : "");
            return 2;
        }
        i++;
        int bad = 0;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--tokenizer")) o->tokenizer = v;
        else if (!strcmp(a, "--adapter")) bad = parse_adapter(o, v);
        else if (!strcmp(a, "--prompt") && !chat) o->prompt = v;
        else if (!strcmp(a, "--prompts-file") && !chat) o->prompts_file = v;
        else if (!strcmp(a, "--system")) o->system = v;
        else if (!strcmp(a, "--chat-template")) o->tmpl = v;
        else if (!strcmp(a, "--stop")) {
            if (o->n_stops == MAX_STOPS || !*v) {
                fprintf(stderr, "lorac: --stop takes a non-empty string, at most %d of them\n", MAX_STOPS);
                return 2;
            }
            o->stops[o->n_stops++] = v;
        } else if (!strcmp(a, "--max-tokens")) {
            bad = parse_num(a, v, 1, 1e9, &d);
            o->max_tokens = (int)d;
        } else if (!strcmp(a, "--ctx")) {
            bad = parse_num(a, v, 2, 1e7, &d);
            o->ctx = (int)d;
        } else if (!strcmp(a, "--threads")) {
            bad = parse_num(a, v, 0, 4096, &d);
            o->threads = (int)d;
        } else if (!strcmp(a, "--temperature")) {
            bad = parse_num(a, v, 0, 1e6, &d);
            o->sp.temperature = (float)d;
        } else if (!strcmp(a, "--top-k")) {
            bad = parse_num(a, v, 0, 1e9, &d);
            o->sp.top_k = (int)d;
        } else if (!strcmp(a, "--top-p")) {
            bad = parse_num(a, v, 1e-9, 1, &d);
            o->sp.top_p = (float)d;
        } else if (!strcmp(a, "--repetition-penalty")) {
            bad = parse_num(a, v, 1e-6, 1e6, &d);
            o->sp.repetition_penalty = (float)d;
        } else if (!strcmp(a, "--seed")) {
            bad = parse_num(a, v, 0, 1.8e19, &d);
            o->seed = strtoull(v, NULL, 10);
        } else {
            fprintf(stderr, "lorac %s: unknown option '%s' (see --help)\n", chat ? "chat" : "generate", a);
            return 2;
        }
        if (bad) return 2;
    }
    if (!o->model) {
        fprintf(stderr, "lorac %s: --model is required (see --help)\n", chat ? "chat" : "generate");
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

/* The model's own template (detected from its Jinja), or NULL if it has none
 * or it is not recognised (then *why says so). */
static lc_chat_template *model_template(const lc_tokenizer *tok, const char **why) {
    const char *jinja = lc_tokenizer_chat_template(tok);
    lc_chat_template *t = NULL;
    *why = "the model has no chat template";
    if (jinja && lc_chat_template_detect(&t, jinja) != LC_OK) {
        *why = "the model's chat template is not recognised";
        return NULL;
    }
    return t;
}

/* Pick the chat template: --chat-template, else the adapter's recorded one,
 * else the model's, else none. Warns when an explicit choice or the model's
 * template differs from what the adapter was trained with. */
static int resolve_template(session *s, const gen_opts *o, const lc_adapter_info *info) {
    if (o->raw) return 0;
    const char *why = NULL, *recorded = NULL, *from = NULL;
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
    lc_chat_template *model_t = model_template(s->base.tok, &why);
    lc_status st = LC_OK;
    if (strcmp(o->tmpl, "auto")) {
        st = lc_chat_template_create(&s->tmpl, o->tmpl);
        if (st) lc_error_wrap(st, "--chat-template '%s'", o->tmpl);
        if (!st && recorded && strcmp(lc_chat_template_name(s->tmpl), recorded))
            fprintf(stderr, "lorac: warning: %s was trained with chat template '%s'; using '%s' as asked\n", from,
                    recorded, lc_chat_template_name(s->tmpl));
        if (!st && model_t && !strcmp(lc_chat_template_name(model_t), lc_chat_template_name(s->tmpl))) {
            lc_chat_template_free(s->tmpl); /* same kind: keep the model's (it knows its default system) */
            s->tmpl = model_t;
            model_t = NULL;
        }
    } else if (recorded && !strcmp(recorded, "custom")) {
        st = lc_errorf(LC_ERR_CONFIG, "%s was trained with a custom chat template whose format the adapter does not "
                       "record; pass it again with --chat-template FORMAT", from);
    } else if (recorded) {
        if (model_t && !strcmp(lc_chat_template_name(model_t), recorded)) {
            s->tmpl = model_t;
            model_t = NULL;
        } else {
            st = lc_chat_template_create(&s->tmpl, recorded);
            if (st) lc_error_wrap(st, "%s stores the chat template '%s'", from, recorded);
            if (!st && model_t)
                fprintf(stderr, "lorac: note: using the adapter's chat template '%s' (the model's: %s)\n", recorded,
                        model_t ? lc_chat_template_name(model_t) : "none");
        }
    } else if (model_t) {
        s->tmpl = model_t;
        model_t = NULL;
    } else {
        if (!strcmp(why, "the model's chat template is not recognised"))
            fprintf(stderr, "lorac: warning: %s; using 'none' (set --chat-template)\n", why);
        st = lc_chat_template_create(&s->tmpl, "none");
    }
    lc_chat_template_free(model_t);
    if (st) fprintf(stderr, "lorac: %s\n", lc_error_msg());
    return st ? -1 : 0;
}

/* End-of-generation tokens: EOS, and the template's end-of-turn token. */
static void add_stop_id(session *s, int id) {
    if (id < 0 || id >= s->base.model.cfg.vocab_size) return;
    for (int i = 0; i < s->n_stop_ids; i++)
        if (s->stop_ids[i] == id) return;
    if (s->n_stop_ids < 4) s->stop_ids[s->n_stop_ids++] = id;
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
        if (lc_adapter_load(o->adapter_path[i], &s->base.model, &s->lora[i], NULL, &info[i], 0)) {
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
    add_stop_id(s, lc_tokenizer_eos_id(s->base.tok));
    add_stop_id(s, c->eos_id);
    const char *name = s->tmpl ? lc_chat_template_name(s->tmpl) : "";
    if (!strcmp(name, "chatml")) add_stop_id(s, lc_tokenizer_token_id(s->base.tok, "<|im_end|>"));
    if (!strcmp(name, "llama3")) add_stop_id(s, lc_tokenizer_token_id(s->base.tok, "<|eot_id|>"));
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

/* Encode one piece as training does: the first piece gets the tokenizer's
 * special tokens (BOS), and a BOS the template wrote is not doubled. */
static int encode_piece(const lc_tokenizer *tok, const char *text, ids_t *out) {
    int32_t *ids = NULL;
    int n = 0, first = out->n == 0, skip = 0, bos = lc_tokenizer_bos_id(tok);
    if (lc_tokenizer_encode(tok, text, strlen(text), first, &ids, &n)) {
        fprintf(stderr, "lorac: %s\n", lc_error_msg());
        return -1;
    }
    if (first && bos >= 0 && n >= 2 && ids[0] == bos && ids[1] == bos) skip = 1;
    int rc = ids_append(out, ids + skip, n - skip);
    free(ids);
    return rc;
}

/* The model input for a conversation ending with a user message: raw text,
 * plain prompt (template none, no system: "[BOS] prompt" as training's
 * prompt/completion rows), or the rendered template with the generation
 * prompt, encoded segment by segment as in training. */
static int build_prompt(const session *s, const lc_chat_msg *msgs, int n_msgs, ids_t *out) {
    out->n = 0;
    if (!s->tmpl) return encode_piece(s->base.tok, msgs[n_msgs - 1].content, out);
    if (!strcmp(lc_chat_template_name(s->tmpl), "none") && n_msgs == 1)
        return encode_piece(s->base.tok, msgs[0].content, out);
    lc_chat_segment *segs = NULL;
    int n_segs = 0, rc = 0;
    if (lc_chat_render(s->tmpl, msgs, n_msgs, 1, &segs, &n_segs)) {
        fprintf(stderr, "lorac: %s\n", lc_error_msg());
        return -1;
    }
    for (int i = 0; i < n_segs && !rc; i++) rc = encode_piece(s->base.tok, segs[i].text, out);
    lc_chat_segments_free(segs, n_segs);
    return rc;
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

int cli_generate(int argc, char **argv) {
    gen_opts o;
    int rc = parse_opts(&o, argc, argv, 0);
    if (rc) {
        opts_free(&o);
        return rc == 1 ? 0 : rc;
    }
    lc_threads_init(o.threads);
    session s;
    if (session_open(&s, &o, 4096)) {
        opts_free(&o);
        return 1;
    }
    if (o.prompts_file) {
        rc = run_prompts_file(&s, &o);
    } else {
        lc_chat_msg msgs[2] = {{"system", o.system}, {"user", o.prompt}};
        int sys = o.system != NULL;
        rc = answer(&s, &o, msgs + !sys, 1 + sys, NULL) ? 1 : 0;
    }
    session_close(&s);
    opts_free(&o);
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
    int rc = parse_opts(&o, argc, argv, 1);
    if (rc) {
        opts_free(&o);
        return rc == 1 ? 0 : rc;
    }
    lc_threads_init(o.threads);
    session s;
    if (session_open(&s, &o, 4096)) {
        opts_free(&o);
        return 1;
    }
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
    session_close(&s);
    opts_free(&o);
    return rc;
}
