/*
 * eval_io.h — small output helpers shared by `lorac eval` (compare.c) and
 * `lorac sweep` (sweep.c): RFC 4180 CSV fields and JSON numbers.
 */
#ifndef LC_EVAL_IO_H
#define LC_EVAL_IO_H

#include <jansson.h>
#include <stdio.h>

/* Write s as one CSV field, quoted (with "" escapes) only when it holds a
 * comma, quote or newline. */
void eval_csv_field(FILE *f, const char *s);
/* A JSON number, or null for NaN/inf (JSON has neither). New reference. */
json_t *eval_json_num(double v);

#endif
