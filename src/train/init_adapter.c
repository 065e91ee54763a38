/*
 * init_adapter.c — `init_adapter: PATH`: start a training run from the
 * weights of an existing adapter (a lorac HDF5 adapter or checkpoint, or a
 * PEFT adapter directory) with fresh optimizer state: step 0, AdamW moments
 * 0, a new schedule. The adapter must have exactly the modules, ranks and
 * scales the run's config gives (target_modules, r, alpha, rslora,
 * rank_pattern, alpha_pattern, layers_to_transform, trainable_token_indices);
 * dropout may differ.
 */
#include <math.h>
#include <string.h>
#include <sys/stat.h>

#include "lc_adapter.h"
#include "lc_deploy.h"

/* First module where have (the file) and want (the config) differ, as an
 * error naming it; LC_OK when they agree module by module. */
static lc_status compare_layout(const char *path, const lc_lora *have, const lc_lora *want, lc_arch arch) {
    char name[160];
    for (int l = 0; l < want->n_layers; l++)
        for (int t = 0; t < LC_T_COUNT; t++) {
            const lc_lora_pair *a = lc_lora_get(have, l, (lc_lora_target)t), *b = lc_lora_get(want, l, (lc_lora_target)t);
            lc_lora_module_name(name, sizeof name, arch, l, (lc_lora_target)t);
            if (!a->A != !b->A)
                return lc_errorf(LC_ERR_MISMATCH, "init_adapter %s: module %s %s in the file but %s in the run's config "
                                 "(target_modules / layers_to_transform must agree)", path, name,
                                 a->A ? "is adapted" : "is not adapted", b->A ? "is" : "not");
            if (!a->A) continue;
            if (a->r != b->r)
                return lc_errorf(LC_ERR_MISMATCH, "init_adapter %s: module %s has rank %d in the file, the config gives %d "
                                 "(r / rank_pattern must agree)", path, name, a->r, b->r);
            if (fabsf(a->scale - b->scale) > 1e-6f * fabsf(b->scale))
                return lc_errorf(LC_ERR_MISMATCH, "init_adapter %s: module %s has scale %g in the file, the config gives "
                                 "%g (alpha / alpha_pattern / rslora must agree)", path, name, (double)a->scale,
                                 (double)b->scale);
        }
    if (have->tok.n != want->tok.n ||
        (want->tok.n && memcmp(have->tok.ids, want->tok.ids, (size_t)want->tok.n * sizeof *want->tok.ids)))
        return lc_errorf(LC_ERR_MISMATCH,
                         "init_adapter %s: the file trains %d token rows, the run's config %d or other ids "
                         "(trainable_token_indices must agree)", path, have->tok.n, want->tok.n);
    return LC_OK;
}

lc_status lc_adapter_init_from(lc_lora *lora, const lc_model *base, const char *path) {
    struct stat sb;
    lc_lora src;
    lc_status st;
    if (stat(path, &sb) != 0) return lc_errorf(LC_ERR_IO, "init_adapter %s: no such file or directory", path);
    if (S_ISDIR(sb.st_mode)) st = lc_deploy_import_peft(path, base, &src);
    else st = lc_adapter_load(path, base, &src, NULL, NULL, 0);
    if (st) return lc_error_wrap(st, "init_adapter");
    st = compare_layout(path, &src, lora, base->cfg.arch);
    if (!st) {
        LC_ASSERT(src.n_params == lora->n_params); /* same modules and ranks: same layout */
        memcpy(lora->params, src.params, lora->n_params * sizeof(float));
        memset(lora->m, 0, lora->n_params * sizeof(float));
        memset(lora->v, 0, lora->n_params * sizeof(float));
    }
    lc_lora_free(&src);
    return st;
}
