/*
 * cli_opts.c — one option table per verb (cli_spec) drives both the parser
 * (getopt_long: --key=value, --key value, `--` ends the options, bundled
 * short flags -qf, unambiguous prefixes --max-t) and `lorac VERB --help`,
 * so the help cannot disagree with what is parsed. docs/cli.md carries the
 * same text (tests/cli/test_cli_help.sh compares them).
 *
 * An option "max-new-tokens" is also accepted as "max_new_tokens" (not shown
 * in the help). train and sweep take every config key (lc_config.h) as a
 * --KEY VALUE option too, in both spellings.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lc_config.h"
#include "lc_prompt.h"

#define VAL_OPT 1000 /* getopt val of table option i: VAL_OPT + i */
#define VAL_KEY 3000 /* of config key k: VAL_KEY + k */

static void print_opt_line(FILE *f, const char *left, const char *help) {
    int w = fprintf(f, "  %s", left);
    const char *line = help;
    for (int first = 1; line; first = 0) {
        const char *nl = strchr(line, '\n');
        int len = nl ? (int)(nl - line) : (int)strlen(line);
        if (!first || w > 25) {
            fputc('\n', f);
            w = 0;
        }
        fprintf(f, "%*s%.*s", 27 - w, "", len, line);
        line = nl ? nl + 1 : NULL;
    }
    fputc('\n', f);
}

void cli_help_print(FILE *f, const cli_spec *spec) {
    fprintf(f, "usage: %s\n", spec->usage);
    if (spec->about) fprintf(f, "\n%s\n", spec->about);
    fprintf(f, "\noptions:\n");
    print_opt_line(f, "-h, --help", "show this help");
    for (int i = 0; i < spec->n_opts; i++) {
        const cli_opt *o = &spec->opts[i];
        char left[96];
        int n = o->short_name ? snprintf(left, sizeof left, "-%c, ", o->short_name) : 0;
        snprintf(left + n, sizeof left - n, "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
        print_opt_line(f, left, o->help);
    }
    if (spec->more_help) spec->more_help(f);
}

/* The long options: each table option (and its underscore spelling), then
 * the config keys (and their dash spellings) for train and sweep. Names
 * that needed a copy are in *owned (freed by the caller). */
static struct option *long_options(const cli_spec *spec, char ***owned, int *n_owned) {
    int n_keys = 0;
    if (spec->config_keys)
        while (lc_train_config_key_name(n_keys)) n_keys++;
    struct option *lo = calloc((size_t)(2 * spec->n_opts + 2 * n_keys + 2), sizeof *lo);
    *owned = calloc((size_t)(spec->n_opts + n_keys + 1), sizeof **owned);
    *n_owned = 0;
    if (!lo || !*owned) {
        free(lo);
        return NULL;
    }
    int n = 0;
    lo[n++] = (struct option){"help", no_argument, NULL, 'h'};
    for (int i = 0; i < spec->n_opts; i++) {
        const cli_opt *o = &spec->opts[i];
        int has_arg = o->arg ? required_argument : no_argument;
        lo[n++] = (struct option){o->name, has_arg, NULL, VAL_OPT + i};
        if (!strchr(o->name, '-')) continue;
        char *alt = strdup(o->name);
        if (!alt) continue;
        for (char *c = alt; *c; c++)
            if (*c == '-') *c = '_';
        (*owned)[(*n_owned)++] = alt;
        lo[n++] = (struct option){alt, has_arg, NULL, VAL_OPT + i};
    }
    for (int k = 0; k < n_keys; k++) {
        const char *name = lc_train_config_key_name(k);
        lo[n++] = (struct option){name, required_argument, NULL, VAL_KEY + k};
        if (!strchr(name, '_')) continue;
        char *alt = strdup(name);
        if (!alt) continue;
        for (char *c = alt; *c; c++)
            if (*c == '_') *c = '-';
        (*owned)[(*n_owned)++] = alt;
        lo[n++] = (struct option){alt, required_argument, NULL, VAL_KEY + k};
    }
    return lo;
}

static int push_arg(cli_args *a, int opt, const char *name, const char *val) {
    if (a->n == a->cap) {
        int cap = a->cap ? 2 * a->cap : 16;
        cli_arg *v = realloc(a->v, (size_t)cap * sizeof *v);
        if (!v) return -1;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = (cli_arg){opt, name, val};
    return 0;
}

/* After an unknown --word in train/sweep: the config's "did you mean". */
static void key_hint(const char *verb, const char *word) {
    char name[128];
    if (strncmp(word, "--", 2)) return;
    snprintf(name, sizeof name, "%.*s", (int)strcspn(word + 2, "="), word + 2);
    lc_train_config probe = lc_train_config_default();
    if (lc_train_config_set(&probe, name, "0") && strstr(lc_error_msg(), "did you mean"))
        fprintf(stderr, "lorac %s: %s\n", verb, lc_error_msg());
}

/* getopt_long over argv; fills a (in argv order, positionals last). */
static int run_getopt(const cli_spec *spec, int argc, char **argv, const struct option *lo, cli_args *a) {
    char shorts[64] = "+h";
    size_t ns = 2;
    for (int i = 0; i < spec->n_opts && ns + 3 < sizeof shorts; i++)
        if (spec->opts[i].short_name) {
            shorts[ns++] = spec->opts[i].short_name;
            if (spec->opts[i].arg) shorts[ns++] = ':';
        }
    shorts[ns] = 0;
    if (!spec->positional) shorts[0] = '-'; /* a stray word comes back as option 1, in order */
    char prog[64], *argv0 = argv[0];
    snprintf(prog, sizeof prog, "lorac %s", spec->verb);
    argv[0] = prog; /* getopt's own messages: "lorac eval: unrecognized option '--x'" */
    optind = 0;     /* glibc: start afresh */
    opterr = 1;
    int c, rc = 0, idx;
    while (!rc && (c = getopt_long(argc, argv, shorts + (spec->positional ? 1 : 0), lo, &idx)) != -1) {
        if (c == 'h') rc = 1;
        else if (c == '?' || c == ':') {
            rc = 2;
            if (spec->config_keys) key_hint(spec->verb, argv[optind - 1]);
        }
        else if (c == 1) {
            fprintf(stderr, "lorac %s: unexpected argument '%s'\n", spec->verb, optarg);
            rc = 2;
        } else if (c >= VAL_KEY) {
            if (push_arg(a, CLI_KEY, lc_train_config_key_name(c - VAL_KEY), optarg)) rc = 3;
        } else {
            int i = c >= VAL_OPT ? c - VAL_OPT : -1;
            for (int k = 0; k < spec->n_opts && i < 0; k++)
                if (spec->opts[k].short_name == c) i = k;
            if (push_arg(a, i, spec->opts[i].name, optarg)) rc = 3;
        }
    }
    for (int i = optind; !rc && i < argc; i++)
        if (push_arg(a, CLI_POSITIONAL, NULL, argv[i])) rc = 3;
    argv[0] = argv0;
    return rc;
}

int cli_parse(const cli_spec *spec, int argc, char **argv, cli_args *a) {
    memset(a, 0, sizeof *a);
    char **owned = NULL;
    int n_owned = 0;
    struct option *lo = long_options(spec, &owned, &n_owned);
    int rc = lo ? run_getopt(spec, argc, argv, lo, a) : 3;
    for (int i = 0; i < n_owned; i++) free(owned[i]);
    free(owned);
    free(lo);
    if (rc == 1) cli_help_print(stdout, spec);
    if (rc == 2) fprintf(stderr, "(see `lorac %s --help`)\n", spec->verb);
    if (rc == 3) fprintf(stderr, "lorac %s: out of memory parsing the options\n", spec->verb);
    if (rc) cli_args_free(a);
    return rc == 3 ? 2 : rc;
}

void cli_args_free(cli_args *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}

int cli_parse_int(const char *verb, const char *opt, const char *v, long lo, long hi, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        fprintf(stderr, "lorac %s: --%s expects an integer in [%ld, %ld], found '%s'\n", verb, opt, lo, hi, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int cli_parse_double(const char *verb, const char *opt, const char *v, double lo, double hi, double *out) {
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= lo && d <= hi)) {
        fprintf(stderr, "lorac %s: --%s expects a number in [%g, %g], found '%s'\n", verb, opt, lo, hi, v);
        return -1;
    }
    *out = d;
    return 0;
}

int cli_adapter_arg(const char *verb, const char *spec, char **path, float *scale) {
    char buf[4096];
    if (lc_prompt_adapter_spec(spec, buf, sizeof buf, scale)) {
        fprintf(stderr, "lorac %s: %s\n", verb, lc_error_msg());
        return -1;
    }
    if (!(*path = strdup(buf))) {
        fprintf(stderr, "lorac %s: out of memory\n", verb);
        return -1;
    }
    return 0;
}
