/*
 * lc_report.h — report.html: one self-contained page per output directory
 * of `train`, `sweep` and `eval` that a person would rather look at than
 * read. Inline CSS and inline SVG only (no script, no network, no external
 * file), all text HTML-escaped (invalid UTF-8 shown as U+FFFD).
 *
 *  - a train run: status (finished, or stopped with the resume command),
 *    the numbers that matter, the train and validation loss curves and the
 *    learning-rate curve (from metrics.jsonl, so a run that was stopped and
 *    resumed is drawn as the one continuous run it is), the held-out test
 *    loss of base vs tuned, the scored answers of an eval written to
 *    RUN/eval, the run's config.yaml and the compute path.
 *  - an eval: the candidates table (loss, perplexity, EM, F1, ROUGE-L,
 *    BLEU, accuracy; the best of each column marked), every example's
 *    prompt, reference and each candidate's answer, the settings and the
 *    compute path (from eval.json and generations.jsonl).
 *  - a sweep: the ranked trials table, curves.svg inline, a link to each
 *    trial's own report (written too), the best trial's config.
 *
 * Every report is rebuilt from the files on disk and written atomically
 * (lc_fs_write_atomic), so it is right whenever it is (re)written. Under
 * mpirun only rank 0 writes. On failure the functions print one line
 * "lorac: report.html not written: <reason>" to `warn` (if not NULL) and
 * return the status; the caller's own error message stays in place (a
 * report never hides why training stopped).
 */
#ifndef LC_REPORT_H
#define LC_REPORT_H

#include <stdio.h>

#include "lc_common.h"
#include "lc_sweep.h"
#include "lc_train.h"

#ifdef __cplusplus
extern "C" {
#endif

/* dir/report.html of a train run. res: what lc_train_run filled in (its
 * matmul_path names the compute path; NULL or empty: the path the config's
 * precision resolves to here); run_status: what lc_train_run returned:
 * LC_OK "finished", LC_ERR_INTERRUPTED "stopped, continue with lorac train
 * --resume DIR"; any other error writes nothing (the run may have failed to
 * claim dir, which can hold another run or be in use) and gives LC_OK, as
 * does a dir without metrics.jsonl (nothing ran). */
lc_status lc_report_train(const char *dir, const lc_train_result *res, lc_status run_status, FILE *warn);

/* dir/report.html of `lorac eval --out dir` (reads dir/eval.json and
 * dir/generations.jsonl). When dir's parent is a run directory (holds
 * metrics.jsonl and config.yaml: `--out RUN/eval`), RUN/report.html is
 * rewritten too, now with the scored answers. dir NULL: nothing, LC_OK. */
lc_status lc_report_eval(const char *dir, FILE *warn);

/* dir/report.html of a finished sweep, and each trial's own report.html. */
lc_status lc_report_sweep(const char *dir, const lc_sweep_result *res, FILE *warn);

/* Write s into f as HTML text (also safe inside a double- or single-quoted
 * attribute): & < > " ' as entities, invalid UTF-8 and C0 controls other
 * than tab/newline/CR as U+FFFD; valid UTF-8 passes through. */
void lc_html_escape(FILE *f, const char *s);

#ifdef __cplusplus
}
#endif
#endif /* LC_REPORT_H */
