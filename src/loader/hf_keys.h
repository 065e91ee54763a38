/*
 * hf_keys.h — private to the loader: typed reads of config.json keys with
 * HF's "absent or null means default" rule and one message shape for a bad
 * value ("<path>: "<key>" must be <want>, found <json>"). Implemented in
 * hf_config.c; used by it and by hf_gpt2.c.
 */
#ifndef LC_LOADER_HF_KEYS_H
#define LC_LOADER_HF_KEYS_H

#include <jansson.h>

#include "lc_common.h"
#include "lc_family.h" /* lc_rope_scaling */

/* LC_ERR_CONFIG: "<path>: "<key>" must be <want>, found <v as short JSON>". */
lc_status hf_key_bad(const char *path, const char *key, const char *want, const json_t *v);
/* Positive int key; absent or null gives `def` (def < 0: required). */
lc_status hf_key_pos_int(const char *path, json_t *o, const char *key, int def, int *out);
/* Positive number; absent or null gives `def`. */
lc_status hf_key_pos_float(const char *path, json_t *o, const char *key, double def, float *out);
/* true/false; absent or null gives `def`. */
lc_status hf_key_bool(const char *path, json_t *o, const char *key, int def, int *out);
/* Token id: int, null (-1) or a list (first element; empty = -1). */
lc_status hf_key_token_id(const char *path, json_t *o, const char *key, int *out);
/* rope_scaling / rope_parameters object root[key] (null: unchanged) into rs,
 * and its rope_theta into *theta when present (hf_config.c). */
lc_status hf_parse_rope(const char *path, json_t *root, const char *key, float *theta, lc_rope_scaling *rs);

#endif /* LC_LOADER_HF_KEYS_H */
