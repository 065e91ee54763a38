/*
 * eval_io.c — CSV fields and JSON numbers for eval/sweep outputs (eval_io.h).
 */
#include "eval_io.h"

#include <math.h>
#include <string.h>

void eval_csv_field(FILE *f, const char *s) {
    if (!strpbrk(s, ",\"\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

json_t *eval_json_num(double v) { return isfinite(v) ? json_real(v) : json_null(); }
