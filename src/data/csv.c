/*
 * csv.c — RFC 4180 csv reading for lc_dataset_load: a header row, then one
 * prompt/completion example per record, taken from the columns named by
 * csv_prompt_column / csv_completion_column.
 *
 * Quoted fields may hold commas, doubled quotes ("") and line breaks; CRLF or
 * LF ends a record; CRLF inside a quoted field is read as LF. A '"' inside an
 * unquoted field is kept literally (as most spreadsheet exports expect).
 * Blank lines between records are skipped.
 */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

typedef struct {
    const char *path;
    const char *p, *end;
    int line;          /* current line (1-based) */
    char **fields;     /* (n, cap) malloc'd field strings of the current record */
    int n, cap;
    char *tmp;         /* current field being built */
    size_t tlen, tcap;
} csv_reader;

static lc_status tmp_push(csv_reader *r, char c) {
    if (r->tlen + 1 >= r->tcap) {
        size_t cap = r->tcap ? 2 * r->tcap : 256;
        char *t = realloc(r->tmp, cap);
        if (!t) return lc_errorf(LC_ERR_NOMEM, "out of memory reading csv");
        r->tmp = t;
        r->tcap = cap;
    }
    r->tmp[r->tlen++] = c;
    return LC_OK;
}

static lc_status field_end(csv_reader *r) {
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        char **f = realloc(r->fields, (size_t)cap * sizeof *f);
        if (!f) return lc_errorf(LC_ERR_NOMEM, "out of memory reading csv");
        r->fields = f;
        r->cap = cap;
    }
    char *s = malloc(r->tlen + 1);
    if (!s) return lc_errorf(LC_ERR_NOMEM, "out of memory reading csv");
    if (r->tlen) memcpy(s, r->tmp, r->tlen);
    s[r->tlen] = 0;
    r->fields[r->n++] = s;
    r->tlen = 0;
    return LC_OK;
}

static void record_clear(csv_reader *r) {
    for (int i = 0; i < r->n; i++) free(r->fields[i]);
    r->n = 0;
    r->tlen = 0;
}

/* Consume a line ending at r->p if there is one; 1 if consumed. */
static int eat_newline(csv_reader *r) {
    if (r->p < r->end && *r->p == '\r' && r->p + 1 < r->end && r->p[1] == '\n') r->p += 2;
    else if (r->p < r->end && (*r->p == '\n' || *r->p == '\r')) r->p++;
    else return 0;
    r->line++;
    return 1;
}

/* Skip a malformed record: move to the start of the next line. */
static void skip_to_next_line(csv_reader *r) {
    while (r->p < r->end && *r->p != '\n' && *r->p != '\r') r->p++;
    eat_newline(r);
}

/* Read one record into r->fields. *got = 0 at end of input. *start_line =
 * the line the record begins on. */
static lc_status read_record(csv_reader *r, int *got, int *start_line) {
    lc_status st;
    record_clear(r);
    while (r->p < r->end && eat_newline(r)) {} /* blank lines */
    *got = 0;
    *start_line = r->line;
    if (r->p >= r->end) return LC_OK;
    *got = 1;
    for (;;) {
        if (r->p < r->end && *r->p == '"') { /* quoted field */
            int open_line = r->line;
            r->p++;
            for (;;) {
                if (r->p >= r->end)
                    return lc_errorf(LC_ERR_FORMAT, "%s:%d: expected a closing '\"' for the quoted field opened on this line, found end of file",
                                     r->path, open_line);
                char c = *r->p;
                if (c == '"') {
                    if (r->p + 1 < r->end && r->p[1] == '"') {
                        if ((st = tmp_push(r, '"')) != LC_OK) return st;
                        r->p += 2;
                        continue;
                    }
                    r->p++;
                    break;
                }
                if (c == '\r' && r->p + 1 < r->end && r->p[1] == '\n') { r->p++; continue; } /* CRLF -> LF */
                if (c == '\n') r->line++;
                if ((st = tmp_push(r, c)) != LC_OK) return st;
                r->p++;
            }
            if (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r')
                return lc_errorf(LC_ERR_FORMAT, "%s:%d: expected ',' or end of line after a closing '\"', found '%c'",
                                 r->path, r->line, *r->p);
        } else { /* unquoted field */
            while (r->p < r->end && *r->p != ',' && *r->p != '\n' && *r->p != '\r') {
                if ((st = tmp_push(r, *r->p)) != LC_OK) return st;
                r->p++;
            }
        }
        if ((st = field_end(r)) != LC_OK) return st;
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        eat_newline(r);
        return LC_OK;
    }
}

/* The column called name, -1 when absent, -2 - j when it is there twice (j
 * = the second one). */
static int find_column(const csv_reader *r, const char *name) {
    int at = -1;
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->fields[i], name)) {
            if (at >= 0) return -2 - i;
            at = i;
        }
    return at;
}

/* A NUL byte anywhere: LC_ERR_FORMAT with its line (JSONL refuses it too;
 * C strings would cut the field there). */
static lc_status refuse_nul(const char *path, const char *buf, size_t len) {
    const char *z = memchr(buf, 0, len);
    if (!z) return LC_OK;
    int line = 1;
    for (const char *p = buf; p < z; p++) line += *p == '\n';
    return lc_errorf(LC_ERR_FORMAT, "%s:%d: a NUL byte (at byte %zu) in a csv field", path, line, (size_t)(z - buf));
}

static void column_list(const csv_reader *r, char *out, size_t cap) {
    size_t n = 0;
    out[0] = 0;
    for (int i = 0; i < r->n && n + 8 < cap; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s'%s'", i ? ", " : "", r->fields[i]);
}

lc_status lc_data_load_csv(lc_dataset *ds, const char *path, const char *buf, size_t len,
                           const lc_train_config *cfg) {
    csv_reader r = {0};
    lc_status st = LC_OK;
    int got, line;
    r.path = path;
    r.p = buf;
    r.end = buf + len;
    r.line = 1;
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) r.p += 3;
    if ((st = refuse_nul(path, buf, len))) return st;

    if ((st = read_record(&r, &got, &line)) != LC_OK) goto fail;
    if (!got) {
        st = lc_errorf(LC_ERR_FORMAT, "%s:1: expected a csv header row, found an empty file", path);
        goto fail;
    }
    int n_cols = r.n;
    int pc = find_column(&r, cfg->csv_prompt_column), cc = find_column(&r, cfg->csv_completion_column);
    if (pc < -1 || cc < -1) {
        const char *name = pc < -1 ? cfg->csv_prompt_column : cfg->csv_completion_column;
        st = lc_errorf(LC_ERR_FORMAT, "%s:%d: column '%s' appears twice in the header (column %d is a second one); "
                       "rename one", path, line, name, (pc < -1 ? -2 - pc : -2 - cc) + 1);
        goto fail;
    }
    if (pc < 0 || cc < 0) {
        char cols[512];
        column_list(&r, cols, sizeof cols);
        st = lc_errorf(LC_ERR_FORMAT, "%s:%d: expected a column '%s' (%s) in the header, found columns %s",
                       path, line, pc < 0 ? cfg->csv_prompt_column : cfg->csv_completion_column,
                       pc < 0 ? "csv_prompt_column" : "csv_completion_column", cols);
        goto fail;
    }
    for (;;) {
        if ((st = lc_interrupt_check("reading the data"))) goto fail;
        st = read_record(&r, &got, &line);
        if (st == LC_OK && !got) break;
        if (st == LC_OK && r.n != n_cols)
            st = lc_errorf(LC_ERR_FORMAT, "%s:%d: expected %d fields as in the header, found %d", path, line,
                           n_cols, r.n);
        if (st == LC_ERR_FORMAT && cfg->skip_bad_rows) {
            if (!ds->n_skipped) ds->first_skipped_line = line;
            ds->n_skipped++;
            st = LC_OK;
            /* an unterminated quote swallows the rest of the file: stop there */
            if (r.p >= r.end) break;
            if (r.p > buf && r.p[-1] != '\n' && r.p[-1] != '\r') skip_to_next_line(&r);
            continue;
        }
        if (st != LC_OK) goto fail;
        const char *roles[2] = {"user", "assistant"};
        const char *contents[2] = {r.fields[pc], r.fields[cc]};
        if ((st = lc_data_add_example(ds, LC_EX_PROMPT_COMPLETION, line, 2, roles, contents)) != LC_OK) goto fail;
    }
    ds->format = LC_FMT_CSV;
fail:
    record_clear(&r);
    free(r.fields);
    free(r.tmp);
    return st;
}
