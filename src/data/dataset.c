/*
 * dataset.c — read a training file into examples (jsonl rows of
 * prompt/completion, Alpaca, chat messages or plain text; csv is in csv.c)
 * and split off a validation set deterministically.
 *
 * Every malformed row is reported as "path:LINE: expected ..., found ...";
 * under skip_bad_rows it is skipped and counted instead.
 */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "data_internal.h"

/* ---- file and example helpers ---- */

lc_status lc_data_read_file(const char *path, char **buf, size_t *len) {
    lc_status st = LC_OK;
    char *b = NULL;
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        return lc_errorf(LC_ERR_IO, "%s: not a regular file (%s); give a .jsonl or .csv file", path,
                         S_ISDIR(sb.st_mode) ? "a directory" : "a device, pipe or socket");
    FILE *f = fopen(path, "rb");
    if (!f) return lc_errorf(LC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) goto io_fail;
    long size = ftell(f);
    if (size < 0 || fseek(f, 0, SEEK_SET) != 0) goto io_fail;
    b = malloc((size_t)size + 1);
    if (!b) {
        st = lc_errorf(LC_ERR_NOMEM, "%s: cannot allocate %ld bytes", path, size);
        goto fail;
    }
    if (fread(b, 1, (size_t)size, f) != (size_t)size) goto io_fail;
    b[size] = 0;
    *buf = b;
    *len = (size_t)size;
    fclose(f);
    return LC_OK;
io_fail:
    st = lc_errorf(LC_ERR_IO, "%s: read error: %s", path, strerror(errno));
fail:
    free(b);
    fclose(f);
    return st;
}

lc_status lc_data_add_example(lc_dataset *ds, lc_example_kind kind, int line, int n_msgs,
                              const char *const *roles, const char *const *contents) {
    if (ds->n == ds->cap) {
        int cap = ds->cap ? 2 * ds->cap : 64;
        lc_example *ex = realloc(ds->ex, (size_t)cap * sizeof *ex);
        if (!ex) return lc_errorf(LC_ERR_NOMEM, "out of memory reading examples");
        ds->ex = ex;
        ds->cap = cap;
    }
    lc_example *e = &ds->ex[ds->n];
    e->kind = kind;
    e->line = line;
    e->n_msgs = 0;
    e->msgs = calloc((size_t)n_msgs, sizeof *e->msgs);
    if (!e->msgs) return lc_errorf(LC_ERR_NOMEM, "out of memory reading examples");
    ds->n++; /* counted now so lc_dataset_free releases partial copies */
    for (int i = 0; i < n_msgs; i++) {
        e->msgs[i].role = strdup(roles[i]);
        e->msgs[i].content = strdup(contents[i]);
        e->n_msgs++;
        if (!e->msgs[i].role || !e->msgs[i].content)
            return lc_errorf(LC_ERR_NOMEM, "out of memory reading examples");
    }
    return LC_OK;
}

static void example_free(lc_example *e) {
    for (int i = 0; i < e->n_msgs; i++) {
        free(e->msgs[i].role);
        free(e->msgs[i].content);
    }
    free(e->msgs);
}

void lc_dataset_free(lc_dataset *ds) {
    for (int i = 0; i < ds->n; i++) example_free(&ds->ex[i]);
    free(ds->ex);
    memset(ds, 0, sizeof *ds);
}

/* ---- jsonl ---- */

static const char *json_type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

/* "a, b, c" (truncated) for messages. */
static void key_list(const json_t *obj, char *out, size_t cap) {
    const char *k;
    json_t *v;
    size_t n = 0;
    out[0] = 0;
    json_object_foreach((json_t *)obj, k, v) {
        (void)v;
        if (n + strlen(k) + 8 >= cap) {
            snprintf(out + n, cap - n, ", ...");
            return;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? ", " : "", k);
    }
    if (!n) snprintf(out, cap, "(none)");
}

static const char *format_keys(lc_data_format f) {
    switch (f) {
    case LC_FMT_PROMPT_COMPLETION: return "prompt, completion";
    case LC_FMT_ALPACA: return "instruction, input (optional), output";
    case LC_FMT_CHAT: return "messages";
    case LC_FMT_TEXT: return "text";
    default: return "?";
    }
}

static lc_data_format detect_format(const json_t *obj) {
    if (json_object_get(obj, "messages")) return LC_FMT_CHAT;
    if (json_object_get(obj, "prompt") && json_object_get(obj, "completion")) return LC_FMT_PROMPT_COMPLETION;
    if (json_object_get(obj, "instruction") && json_object_get(obj, "output")) return LC_FMT_ALPACA;
    if (json_object_get(obj, "text")) return LC_FMT_TEXT;
    return LC_FMT_AUTO;
}

/* Where the row is: "path:LINE". */
typedef struct {
    const char *path;
    int line;
} row_loc;

/* obj[key] as a string; missing (when required) or non-string is an error. */
static lc_status get_str(const json_t *obj, const char *key, int required, const char **out,
                         row_loc loc) {
    json_t *v = json_object_get(obj, key);
    *out = "";
    if (!v || (json_is_null(v) && !required)) {
        if (!required) return LC_OK;
        char keys[256];
        key_list(obj, keys, sizeof keys);
        return lc_errorf(LC_ERR_FORMAT, "%s:%d: expected key '%s', found keys: %s", loc.path, loc.line,
                         key, keys);
    }
    if (!json_is_string(v))
        return lc_errorf(LC_ERR_FORMAT, "%s:%d: expected '%s' to be a string, found %s", loc.path,
                         loc.line, key, json_type_name(v));
    *out = json_string_value(v);
    return LC_OK;
}

static lc_status add_prompt_completion(lc_dataset *ds, int line, const char *prompt, const char *completion) {
    const char *roles[2] = {"user", "assistant"}, *contents[2] = {prompt, completion};
    return lc_data_add_example(ds, LC_EX_PROMPT_COMPLETION, line, 2, roles, contents);
}

static lc_status parse_alpaca(lc_dataset *ds, const json_t *obj, row_loc loc) {
    const char *ins, *inp, *out;
    lc_status st;
    if ((st = get_str(obj, "instruction", 1, &ins, loc)) != LC_OK) return st;
    if ((st = get_str(obj, "input", 0, &inp, loc)) != LC_OK) return st;
    if ((st = get_str(obj, "output", 1, &out, loc)) != LC_OK) return st;
    if (!inp[0]) return add_prompt_completion(ds, loc.line, ins, out);
    size_t n = strlen(ins) + strlen(inp) + 3;
    char *prompt = malloc(n);
    if (!prompt) return lc_errorf(LC_ERR_NOMEM, "out of memory reading examples");
    snprintf(prompt, n, "%s\n\n%s", ins, inp);
    st = add_prompt_completion(ds, loc.line, prompt, out);
    free(prompt);
    return st;
}

static lc_status parse_chat(lc_dataset *ds, const json_t *obj, row_loc loc) {
    static const char *const ROLES[] = {"system", "user", "assistant"};
    json_t *msgs = json_object_get(obj, "messages");
    if (!json_is_array(msgs))
        return lc_errorf(LC_ERR_FORMAT, "%s:%d: expected 'messages' to be an array, found %s", loc.path,
                         loc.line, json_type_name(msgs));
    size_t n = json_array_size(msgs);
    if (n == 0)
        return lc_errorf(LC_ERR_FORMAT, "%s:%d: expected at least one message in 'messages', found none",
                         loc.path, loc.line);
    const char **roles = malloc(n * sizeof *roles), **contents = malloc(n * sizeof *contents);
    lc_status st = LC_OK;
    if (!roles || !contents) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory reading examples");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(msgs, i);
        if (!json_is_object(m)) {
            st = lc_errorf(LC_ERR_FORMAT, "%s:%d: messages[%zu]: expected an object with 'role' and 'content', found %s",
                           loc.path, loc.line, i, json_type_name(m));
            goto fail;
        }
        json_t *r = json_object_get(m, "role"), *c = json_object_get(m, "content");
        if (!json_is_string(r) || !json_is_string(c)) {
            const char *which = !json_is_string(r) ? "role" : "content";
            json_t *bad = !json_is_string(r) ? r : c;
            st = lc_errorf(LC_ERR_FORMAT, "%s:%d: messages[%zu]: expected '%s' to be a string, found %s",
                           loc.path, loc.line, i, which, bad ? json_type_name(bad) : "no such key");
            goto fail;
        }
        roles[i] = json_string_value(r);
        contents[i] = json_string_value(c);
        int ok = 0;
        for (int k = 0; k < 3; k++) ok |= !strcmp(roles[i], ROLES[k]);
        if (!ok) {
            st = lc_errorf(LC_ERR_FORMAT, "%s:%d: messages[%zu]: expected role system, user or assistant, found '%s'",
                           loc.path, loc.line, i, roles[i]);
            goto fail;
        }
    }
    st = lc_data_add_example(ds, LC_EX_CHAT, loc.line, (int)n, roles, contents);
fail:
    free(roles);
    free(contents);
    return st;
}

/* One jsonl line. *fmt is the dataset's format (AUTO until the first row);
 * *fmt_line is where it was decided (0: from the config). */
static lc_status parse_jsonl_line(lc_dataset *ds, const char *text, size_t len, row_loc loc,
                                  lc_data_format *fmt, int *fmt_line) {
    json_error_t err;
    json_t *obj = json_loadb(text, len, JSON_DECODE_ANY, &err);
    lc_status st = LC_OK;
    if (!obj)
        return lc_errorf(LC_ERR_FORMAT, "%s:%d: expected a JSON object, found invalid JSON at column %d: %s",
                         loc.path, loc.line, err.column, err.text);
    if (!json_is_object(obj)) {
        st = lc_errorf(LC_ERR_FORMAT, "%s:%d: expected a JSON object (one per line: jsonl), found %s%s",
                       loc.path, loc.line, json_type_name(obj),
                       json_is_array(obj) && loc.line == 1 ? " (a JSON array file? write one object per line)" : "");
        goto fail;
    }
    lc_data_format want = *fmt;
    if (want == LC_FMT_AUTO) {
        want = detect_format(obj);
        if (want == LC_FMT_AUTO) {
            char keys[256];
            key_list(obj, keys, sizeof keys);
            st = lc_errorf(LC_ERR_FORMAT, "%s:%d: expected keys prompt+completion, instruction+output, messages or text; found keys: %s",
                           loc.path, loc.line, keys);
            goto fail;
        }
        *fmt = want;
        *fmt_line = loc.line;
    } else {
        /* Same shape as the first row (or the configured format). */
        int has = 0;
        switch (want) {
        case LC_FMT_PROMPT_COMPLETION: has = json_object_get(obj, "prompt") && json_object_get(obj, "completion"); break;
        case LC_FMT_ALPACA: has = json_object_get(obj, "instruction") && json_object_get(obj, "output"); break;
        case LC_FMT_CHAT: has = json_object_get(obj, "messages") != NULL; break;
        case LC_FMT_TEXT: has = json_object_get(obj, "text") != NULL; break;
        default: break;
        }
        if (!has) {
            char keys[256], why[64];
            key_list(obj, keys, sizeof keys);
            if (*fmt_line) snprintf(why, sizeof why, "like line %d", *fmt_line);
            else snprintf(why, sizeof why, "as data_format says");
            st = lc_errorf(LC_ERR_FORMAT, "%s:%d: expected a row of format %s (keys %s) %s, found keys: %s", loc.path,
                           loc.line, lc_data_format_name(want), format_keys(want), why, keys);
            goto fail;
        }
    }
    switch (want) {
    case LC_FMT_PROMPT_COMPLETION: {
        const char *p, *c;
        if ((st = get_str(obj, "prompt", 1, &p, loc)) != LC_OK) goto fail;
        if ((st = get_str(obj, "completion", 1, &c, loc)) != LC_OK) goto fail;
        st = add_prompt_completion(ds, loc.line, p, c);
        break;
    }
    case LC_FMT_ALPACA: st = parse_alpaca(ds, obj, loc); break;
    case LC_FMT_CHAT: st = parse_chat(ds, obj, loc); break;
    case LC_FMT_TEXT: {
        const char *t, *role = "text";
        if ((st = get_str(obj, "text", 1, &t, loc)) != LC_OK) goto fail;
        st = lc_data_add_example(ds, LC_EX_TEXT, loc.line, 1, &role, &t);
        break;
    }
    default: st = lc_errorf(LC_ERR_ARG, "%s: data_format csv given for a jsonl file", loc.path);
    }
fail:
    json_decref(obj);
    return st;
}

static int is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isspace((unsigned char)s[i])) return 0;
    return 1;
}

static lc_status load_jsonl(lc_dataset *ds, const char *path, const char *buf, size_t len,
                            const lc_train_config *cfg) {
    lc_data_format fmt = cfg->data_format;
    int fmt_line = 0, line = 0;
    size_t pos = 0;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) pos = 3; /* UTF-8 BOM */
    while (pos < len) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (!(line & 1023)) {
            lc_status ist = lc_interrupt_check("reading the data");
            if (ist) return ist;
        }
        if (n && s[n - 1] == '\r') n--;
        if (is_blank(s, n)) continue;
        row_loc loc = {path, line};
        lc_status st = parse_jsonl_line(ds, s, n, loc, &fmt, &fmt_line);
        if (st == LC_ERR_FORMAT && cfg->skip_bad_rows) {
            if (!ds->n_skipped) ds->first_skipped_line = line;
            ds->n_skipped++;
            continue;
        }
        if (st != LC_OK) return st;
    }
    ds->format = fmt;
    return LC_OK;
}

static int has_csv_ext(const char *path) {
    size_t n = strlen(path);
    return n >= 4 && !strcasecmp(path + n - 4, ".csv");
}

lc_status lc_dataset_load(lc_dataset *ds, const char *path, const lc_train_config *cfg) {
    char *buf = NULL;
    size_t len = 0;
    memset(ds, 0, sizeof *ds);
    lc_status st = lc_data_read_file(path, &buf, &len);
    if (st != LC_OK) return st;
    int csv = cfg->data_format == LC_FMT_CSV || (cfg->data_format == LC_FMT_AUTO && has_csv_ext(path));
    st = csv ? lc_data_load_csv(ds, path, buf, len, cfg) : load_jsonl(ds, path, buf, len, cfg);
    if (st != LC_OK) goto fail;
    if (ds->n == 0) {
        if (ds->n_skipped)
            st = lc_errorf(LC_ERR_FORMAT, "%s: all %d rows are malformed (first at line %d); nothing to train on",
                           path, ds->n_skipped, ds->first_skipped_line);
        else
            st = lc_errorf(LC_ERR_FORMAT, "%s: expected at least one example, found none", path);
        goto fail;
    }
    free(buf);
    return LC_OK;
fail:
    free(buf);
    lc_dataset_free(ds);
    return st;
}

/* ---- split ---- */

static lc_status take(lc_dataset *dst, lc_example *e) {
    if (dst->n == dst->cap) {
        int cap = dst->cap ? 2 * dst->cap : 64;
        lc_example *ex = realloc(dst->ex, (size_t)cap * sizeof *ex);
        if (!ex) return lc_errorf(LC_ERR_NOMEM, "out of memory splitting examples");
        dst->ex = ex;
        dst->cap = cap;
    }
    dst->ex[dst->n++] = *e;
    memset(e, 0, sizeof *e);
    return LC_OK;
}

lc_status lc_dataset_split(lc_dataset *all, double ratio, uint64_t seed, lc_dataset *train,
                           lc_dataset *valid) {
    lc_status st = LC_OK;
    int n = all->n;
    memset(train, 0, sizeof *train);
    memset(valid, 0, sizeof *valid);
    if (!(ratio >= 0 && ratio < 1)) return lc_errorf(LC_ERR_ARG, "split ratio %g: expected [0, 1)", ratio);
    int nv = (int)(ratio * n + 0.5);
    if (ratio > 0 && n >= 2 && nv < 1) nv = 1;
    if (nv > n - 1) nv = n > 0 ? n - 1 : 0;
    uint8_t *is_valid = calloc((size_t)n + 1, 1);
    int32_t *perm = malloc(((size_t)n + 1) * sizeof *perm);
    if (!is_valid || !perm) {
        st = lc_errorf(LC_ERR_NOMEM, "out of memory splitting examples");
        goto fail;
    }
    lc_rng rng;
    lc_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)lc_rng_below(&rng, (uint32_t)i + 1);
        int32_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    for (int i = 0; i < nv; i++) is_valid[perm[i]] = 1;
    for (int i = 0; i < n; i++) {
        st = take(is_valid[i] ? valid : train, &all->ex[i]);
        if (st != LC_OK) goto fail;
    }
    train->format = valid->format = all->format;
    train->n_skipped = all->n_skipped;
    train->first_skipped_line = all->first_skipped_line;
    free(all->ex);
    memset(all, 0, sizeof *all);
    free(is_valid);
    free(perm);
    return LC_OK;
fail:
    /* examples moved so far are owned by train/valid; the rest stay in all */
    free(is_valid);
    free(perm);
    return st;
}
