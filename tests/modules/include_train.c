/* include_train.c — compiled by tests/modules/CMakeLists.txt against two
 * targets: one that links lc_train (must compile) and one that links only
 * lc_tokenizer (must NOT compile: lc_train.h is not visible to it). */
#include "lc_train.h"

int lc_modules_probe(void) { return (int)sizeof(lc_train_result); }
