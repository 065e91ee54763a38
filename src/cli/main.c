/*
 * main.c — the `lorac` command: parses the verb and hands over to the
 * cli_<verb>.c handler. The only place in lorac that calls exit().
 * Ctrl-C / SIGTERM set the library's interrupt flag (every long phase polls
 * it and unwinds without writing); a second one ends the process at once.
 * A run that was interrupted exits 128 + the signal (130, 143).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lc_cpu.h"
#include "cli.h"
#include "lc_common.h"
#include "lc_dist.h"

static const cli_verb VERBS[] = {
    {"train", "train a LoRA adapter from a config (YAML) and Q&A data", cli_train},
    {"merge", "merge adapters into the base weights (HF directory or GGUF)", cli_merge},
    {"export", "export an adapter for PEFT or llama.cpp (GGUF)", cli_export},
    {"import", "import a PEFT LoRA adapter", cli_import},
    {"eval", "compare base, adapters and merged models on test data (loss, EM, F1, ROUGE-L, BLEU)", cli_eval},
    {"sweep", "train a grid of configs (lr x r x ...) and rank them by validation loss", cli_sweep},
    {"generate", "generate text from a model (+ adapters), streamed to stdout", cli_generate},
    {"chat", "interactive chat with a model (+ adapters) on stdin", cli_chat},
    {"info", "describe a model (and an adapter): sizes, types, tokenizer, template", cli_info},
    {"help", "show this help", cli_help},
};

int cli_help(int argc, char **argv) {
    (void)argc;
    (void)argv;
    printf("lorac — LoRA fine-tuning of small open language models on a CPU\n\n"
           "usage: lorac <verb> [options]\n\nverbs:\n");
    for (size_t i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++)
        printf("  %-10s %s\n", VERBS[i].name, VERBS[i].summary);
    printf("\n`lorac <verb> --help` describes each verb; docs/cli.md has examples.\n");
    return 0;
}

static void on_stop_signal(int sig) {
    if (lc_interrupt_pending()) _exit(128 + sig); /* the second one: no more waiting */
    lc_interrupt_raise(sig);
}

void cli_install_signals(void (*handler)(int)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler ? handler : on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static int run_verb(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) return cli_help(argc, argv);
    cli_install_signals(NULL);
    for (size_t i = 0; i < sizeof VERBS / sizeof VERBS[0]; i++)
        if (!strcmp(argv[1], VERBS[i].name)) {
            int rc = VERBS[i].run(argc - 1, argv + 1);
            int sig = lc_interrupt_pending();
            if (sig) { /* a verb that failed said why; one that ended early (generate) did not */
                if (rc == 0) fprintf(stderr, "lorac %s: stopped by %s\n", argv[1], sig == SIGTERM ? "SIGTERM" : "SIGINT");
                return 128 + sig;
            }
            return rc;
        }
    fprintf(stderr, "lorac: unknown verb '%s' (try `lorac help`)\n", argv[1]);
    return 2;
}

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv); /* OMP_WAIT_POLICY, OpenBLAS core (lc_cpu.h) */
    /* under mpirun: one rank of a data-parallel job (docs/scale-out.md) */
    if (lc_dist_init(&argc, &argv)) {
        fprintf(stderr, "lorac: %s\n", lc_error_msg());
        return 1;
    }
    int rc = run_verb(argc, argv);
    lc_dist_finalize(rc); /* a failed rank ends the whole job */
    return rc;
}
