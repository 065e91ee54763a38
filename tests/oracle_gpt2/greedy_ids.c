/*
 * greedy_ids.c — greedy generation on token ids, for Python oracles that
 * compare lorac's KV-cache generation (lc_infer_generate) with transformers'
 * without going through a tokenizer.
 *
 * usage: greedy_ids MODEL_DIR ADAPTER.h5|- N_NEW ID [ID ...]
 *   MODEL_DIR  an HF model directory; ADAPTER.h5 a lorac adapter applied
 *   unmerged with multiplier 1, or "-" for the base alone.
 * Prints the N_NEW generated ids on one line, space separated (no stop
 * token: generation runs the full N_NEW). Exit 0, or 1 with the error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lc_adapter.h"
#include "lc_cpu.h"
#include "lc_infer.h"
#include "lc_loader.h"

int main(int argc, char **argv) {
    lc_compute_env_prepare(argv);
    if (argc < 5) {
        fprintf(stderr, "usage: %s MODEL_DIR ADAPTER.h5|- N_NEW ID [ID ...]\n", argv[0]);
        return 2;
    }
    int n_new = atoi(argv[3]), n_prompt = argc - 4, rc = 1;
    int32_t *prompt = malloc((size_t)n_prompt * sizeof *prompt), *out = malloc((size_t)(n_new + 1) * sizeof *out);
    for (int i = 0; prompt && i < n_prompt; i++) prompt[i] = (int32_t)atoi(argv[4 + i]);
    lc_model m;
    memset(&m, 0, sizeof m);
    lc_lora lora;
    memset(&lora, 0, sizeof lora);
    lc_infer *s = NULL;
    lc_sampler *smp = NULL;
    int have_lora = strcmp(argv[2], "-") != 0;
    lc_infer_adapter ad = {&lora, 1.0f};
    lc_sample_params sp = lc_sample_default_params(); /* greedy */
    lc_gen_stats st;
    if (!prompt || !out || n_new < 1) goto done;
    if (lc_model_load_hf(&m, argv[1]) || (have_lora && lc_adapter_load(argv[2], &m, &lora, NULL, NULL, 0)) ||
        lc_infer_create(&s, &m, have_lora ? &ad : NULL, have_lora, n_prompt + n_new) ||
        lc_sampler_create(&smp, m.cfg.vocab_size, &sp, 0) ||
        lc_infer_generate(s, smp, prompt, n_prompt, n_new, NULL, 0, NULL, NULL, out, &st))
        goto done;
    for (int i = 0; i < st.n_gen; i++) printf("%s%d", i ? " " : "", out[i]);
    printf("\n");
    rc = 0;
done:
    if (rc) fprintf(stderr, "greedy_ids: %s\n", lc_error_msg());
    lc_sampler_free(smp);
    lc_infer_free(s);
    if (have_lora) lc_lora_free(&lora);
    lc_model_free(&m);
    free(prompt);
    free(out);
    return rc;
}
