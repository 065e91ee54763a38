/*
 * data_internal.h — helpers shared by the files of src/data (not public).
 */
#ifndef LC_DATA_INTERNAL_H
#define LC_DATA_INTERNAL_H

#include <stddef.h>

#include "lc_data.h"

/* Read a whole file into a malloc'd, NUL-terminated buffer. */
lc_status lc_data_read_file(const char *path, char **buf, size_t *len);

/* Append an example with copies of the given strings (roles[i], contents[i]). */
lc_status lc_data_add_example(lc_dataset *ds, lc_example_kind kind, int line, int n_msgs,
                              const char *const *roles, const char *const *contents);

/* Parse csv text (buf, len) from `path` into ds as prompt/completion examples. */
lc_status lc_data_load_csv(lc_dataset *ds, const char *path, const char *buf, size_t len,
                           const lc_train_config *cfg);

#endif
