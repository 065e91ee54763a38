/*
 * cli.h — the verbs of the `lorac` command. Each handler gets argv starting
 * at the verb and returns the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef LC_CLI_H
#define LC_CLI_H

#include <stdio.h>

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_verb;

int cli_help(int argc, char **argv);
/* SIGINT/SIGTERM handler for the verbs (NULL: main.c's, which sets the
 * library's interrupt flag; a second signal exits at once). */
void cli_install_signals(void (*handler)(int));
int cli_train(int argc, char **argv);
int cli_generate(int argc, char **argv);
int cli_chat(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_sweep(int argc, char **argv);
int cli_merge(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_import(int argc, char **argv);

/* ------------------------------------------------ options (cli_opts.c) */

/* One option of a verb: the table is both the parser's and --help's. */
typedef struct {
    const char *name;  /* long name without "--" ("max-tokens") */
    char short_name;   /* 'q' for -q, 0 for none */
    const char *arg;   /* the value's placeholder ("N"); NULL: a flag without value */
    const char *help;  /* what it does; '\n' starts a continuation line */
} cli_opt;

typedef struct {
    const char *verb;
    const char *usage;  /* synopsis after "usage: " (continuation lines indented) */
    const char *about;  /* paragraphs after the synopsis, or NULL */
    const cli_opt *opts;
    int n_opts;
    int positional;     /* words that are not options are arguments (info's MODEL); else an error */
    int config_keys;    /* every config key is an option --KEY VALUE too (train, sweep) */
    void (*more_help)(FILE *f); /* printed after the options (train: the keys), or NULL */
} cli_spec;

#define CLI_POSITIONAL (-1) /* cli_arg.opt of a word that is not an option */
#define CLI_KEY (-2)        /* cli_arg.opt of a config key; name is the key */

typedef struct {
    int opt;          /* index into the verb's table, CLI_POSITIONAL or CLI_KEY */
    const char *name; /* the option's long name (table spelling) or the key */
    const char *val;  /* its value, NULL for a flag */
} cli_arg;

typedef struct {
    cli_arg *v;
    int n, cap;
} cli_args;

/* Parse argv (argv[0] is the verb) with getopt_long against spec. Returns
 * 0 with the options in *a (argv order, positionals last), 1 after printing
 * --help to stdout, 2 after printing a usage error to stderr. Free *a with
 * cli_args_free. */
int cli_parse(const cli_spec *spec, int argc, char **argv, cli_args *a);
void cli_args_free(cli_args *a);
/* `lorac VERB --help`, generated from the table. */
void cli_help_print(FILE *f, const cli_spec *spec);
/* A number in [lo, hi] from option --opt of verb, else an error naming both
 * (printed) and -1. */
int cli_parse_int(const char *verb, const char *opt, const char *v, long lo, long hi, int *out);
int cli_parse_double(const char *verb, const char *opt, const char *v, double lo, double hi, double *out);
/* An --adapter PATH[:SCALE] argument (lc_prompt_adapter_spec; the scale's
 * range is checked by its user): path malloc'd into *path; error printed, -1. */
int cli_adapter_arg(const char *verb, const char *spec, char **path, float *scale);

#endif
