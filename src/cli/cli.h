/*
 * cli.h — the verbs of the `lorac` command. Each handler gets argv starting
 * at the verb and returns the process exit status (0 ok, 1 failure, 2 usage).
 */
#ifndef LC_CLI_H
#define LC_CLI_H

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

#endif
