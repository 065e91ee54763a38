/*
 * lc_metrics.h — scoring generated answers against references, with the
 * numbers the usual Python scorers give (checked to 1e-6 in tests/eval):
 *
 *   exact match, token F1  SQuAD's official evaluate script: lowercase, drop
 *                          ASCII punctuation, drop the words a/an/the, collapse
 *                          whitespace; F1 over the multiset of words (SQuAD v2
 *                          rule: if either side has no word, F1 = EM).
 *   ROUGE-L                PyPI rouge-score, RougeScorer(["rougeL"]) without
 *                          stemming: lowercase, every run of characters other
 *                          than [a-z0-9] is a separator; F = 2PR/(P+R) of the
 *                          longest common subsequence of words.
 *   BLEU                   sacreBLEU corpus_bleu with its defaults: 13a
 *                          tokenizer, mixed case, 4-grams, brevity penalty,
 *                          "exp" smoothing, no effective order; one reference
 *                          per hypothesis. 0..100 as sacreBLEU prints it.
 *   accuracy               label answers (e.g. PubMedQA yes/no/maybe): the
 *                          first label word found in the generation (words as
 *                          for ROUGE) must equal the reference label.
 *
 * Text is UTF-8 (invalid bytes read as U+FFFD). Case mapping and the Unicode
 * classes behind \w and whitespace come from tables generated from Python's
 * str.lower / isalnum / isspace (src/eval/unicode_tables.inc), so non-ASCII
 * text is handled as the Python scorers handle it.
 */
#ifndef LC_METRICS_H
#define LC_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "lc_common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ----------------------------------------------------------- normalisation */

/* SQuAD's normalize_answer(s), malloc'd (caller frees); NULL on NOMEM. */
char *lc_squad_normalize(const char *s);
/* sacreBLEU's 13a tokenisation of one segment (after its rstrip), words
 * separated by single spaces, malloc'd; NULL on NOMEM. */
char *lc_bleu_tokenize_13a(const char *s);

/* ---------------------------------------------------------------- per pair */

/* 1 if the normalised strings are equal, else 0 (SQuAD exact_match_score). */
lc_status lc_metric_em(const char *pred, const char *ref, double *out);
/* SQuAD token F1 in [0, 1]. */
lc_status lc_metric_f1(const char *pred, const char *ref, double *out);
/* rouge-score's rougeL: F-measure in [0, 1]; precision/recall may be NULL. */
lc_status lc_metric_rouge_l(const char *pred, const char *ref, double *f, double *precision, double *recall);

/* Index of the label found first in text (labels compared word by word after
 * the ROUGE tokenisation; at equal positions the longer label wins), or -1. */
int lc_label_find(const char *text, const char *const *labels, int n_labels);

/* ----------------------------------------------------------- corpus BLEU */

typedef struct {
    int64_t sys_len, ref_len; /* words, summed over segments */
    int64_t correct[4];       /* clipped matching n-grams, n = 1..4 */
    int64_t total[4];         /* hypothesis n-grams */
    int n_segments;
} lc_bleu_stats;

/* Add one (hypothesis, reference) segment to *s (zero it first). */
lc_status lc_bleu_add(lc_bleu_stats *s, const char *hyp, const char *ref);
/* sacreBLEU's score (0..100) of the accumulated statistics; bp and
 * precisions[4] (percent) may be NULL. */
double lc_bleu_score(const lc_bleu_stats *s, double *bp, double *precisions);

/* ------------------------------------------------------------ metric sets */

enum {
    LC_METRIC_LOSS = 1u << 0,     /* answer-token loss and perplexity */
    LC_METRIC_EM = 1u << 1,
    LC_METRIC_F1 = 1u << 2,
    LC_METRIC_ROUGE_L = 1u << 3,
    LC_METRIC_BLEU = 1u << 4,
    LC_METRIC_ACCURACY = 1u << 5,
    LC_METRIC_GENERATION = LC_METRIC_EM | LC_METRIC_F1 | LC_METRIC_ROUGE_L | LC_METRIC_BLEU | LC_METRIC_ACCURACY,
    LC_METRIC_ALL = LC_METRIC_LOSS | LC_METRIC_GENERATION,
};

/* Parse "loss,em,f1,rougeL,bleu,accuracy" (any subset, case-insensitive;
 * "all" for every one) into a mask. LC_ERR_ARG naming an unknown one. */
lc_status lc_metrics_parse(const char *spec, unsigned *mask);
/* "loss", "em", "f1", "rougeL", "bleu", "accuracy" for one bit. */
const char *lc_metric_name(unsigned bit);

/* Running sums of the generation metrics over a set of examples. */
typedef struct {
    unsigned mask;
    int n;                 /* examples added */
    double em, f1, rouge_l; /* sums of per-example values in [0, 1] */
    lc_bleu_stats bleu;
    int acc_hits;
} lc_metric_sums;

/* Score one generation against its reference for every metric in s->mask.
 * labels[n_labels] are the allowed labels for accuracy (may be NULL when the
 * mask has no accuracy). */
lc_status lc_metric_sums_add(lc_metric_sums *s, const char *pred, const char *ref, const char *const *labels,
                             int n_labels);
/* The mean of a metric over the examples, as 0..100 (BLEU: the corpus score);
 * NAN if it is not in the mask or no example was added. */
double lc_metric_sums_value(const lc_metric_sums *s, unsigned bit);

#ifdef __cplusplus
}
#endif
#endif /* LC_METRICS_H */
