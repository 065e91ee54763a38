/*
 * test_metrics.c — lc_metrics.h against the Python references written by
 * make_metric_refs.py (SQuAD evaluate script, rouge-score, sacreBLEU) on real
 * pairs, hand cases and random Unicode; plus values computed by hand here.
 * Prints the max abs error of each metric; exits 1 on any mismatch.
 *
 * usage: test_metrics REFS.json
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lc_metrics.h"


#include "../lc_test.h"

static double num(json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }
static const char *str(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void track(double *maxerr, double got, double want, double tol, const char *what, int i) {
    double e = fabs(got - want);
    if (e > *maxerr) *maxerr = e;
    if (!(e <= tol)) {
        fprintf(stderr, "FAIL pair %d %s: got %.9g want %.9g\n", i, what, got, want);
        g_fail = 1;
    }
}

static void hand_cases(void) {
    double v, p, r;
    /* F1: "cat sat" vs "cat sat on mat": P 1, R 1/2 -> 2/3 */
    lc_metric_f1("the cat sat", "cat sat on mat", &v);
    CHECK(fabs(v - 2.0 / 3.0) < 1e-12, "f1 hand 1: %g", v);
    lc_metric_f1("x b b c", "b b b d", &v); /* common b,b: P 2/4, R 2/4 -> 0.5 */
    CHECK(fabs(v - 0.5) < 1e-12, "f1 hand 2: %g", v);
    lc_metric_em("The  Cat!", "cat", &v);
    CHECK(v == 1.0, "em hand: %g", v);
    /* ROUGE-L: pred 5 words, ref 6 words, LCS 5 -> P 1, R 5/6, F 10/11 */
    lc_metric_rouge_l("the cat on the mat", "The cat sat on the mat.", &v, &p, &r);
    CHECK(fabs(p - 1.0) < 1e-12 && fabs(r - 5.0 / 6.0) < 1e-12 && fabs(v - 10.0 / 11.0) < 1e-12,
          "rougeL hand: P %g R %g F %g", p, r, v);
    /* BLEU: identical 4+ word sentence -> 100; half-length hypothesis -> BP exp(1 - 2) */
    lc_bleu_stats s = {0};
    lc_bleu_add(&s, "one two three four five six", "one two three four five six");
    CHECK(fabs(lc_bleu_score(&s, NULL, NULL) - 100.0) < 1e-9, "bleu identical");
    lc_bleu_stats s2 = {0};
    double bp, prec[4];
    lc_bleu_add(&s2, "a b c d", "a b c d e f g h");
    double sc = lc_bleu_score(&s2, &bp, prec);
    CHECK(fabs(bp - exp(-1.0)) < 1e-12 && fabs(sc - 100.0 * exp(-1.0)) < 1e-9, "bleu bp: %g %g", bp, sc);
    /* 3 words: no 4-gram at all -> total[3] = 0 -> score 0 */
    lc_bleu_stats s3 = {0};
    lc_bleu_add(&s3, "a b c", "a b c");
    CHECK(lc_bleu_score(&s3, NULL, NULL) == 0.0, "bleu 3 words");
    char *t = lc_bleu_tokenize_13a("Hello, world! It costs $1,000.50 (3-4 days).");
    CHECK(t && !strcmp(t, "Hello , world ! It costs $ 1,000.50 ( 3 - 4 days ) ."), "13a: '%s'", t ? t : "(null)");
    free(t);
    char *n = lc_squad_normalize("  The Quick,  brown FOX -- an apple a day ");
    CHECK(n && !strcmp(n, "quick brown fox apple day"), "squad normalize: '%s'", n ? n : "(null)");
    free(n);
    const char *yn[] = {"yes", "no", "maybe"};
    CHECK(lc_label_find("Maybe; yes", yn, 3) == 2, "label maybe");
    CHECK(lc_label_find("nope", yn, 3) == -1, "label none");
    unsigned mask = 0;
    CHECK(lc_metrics_parse("loss,EM,f1,rougeL,bleu,accuracy", &mask) == LC_OK && mask == LC_METRIC_ALL,
          "parse all: %x", mask);
    CHECK(lc_metrics_parse("f1,bogus", &mask) == LC_ERR_ARG && strstr(lc_error_msg(), "bogus"), "parse bad");
    lc_metric_sums sums = {.mask = LC_METRIC_GENERATION};
    lc_metric_sums_add(&sums, "Yes.", "yes", yn, 3);
    lc_metric_sums_add(&sums, "no idea", "maybe", yn, 3);
    CHECK(lc_metric_sums_value(&sums, LC_METRIC_ACCURACY) == 50.0, "accuracy 50");
    CHECK(lc_metric_sums_value(&sums, LC_METRIC_EM) == 50.0, "em 50");
    CHECK(isnan(lc_metric_sums_value(&sums, LC_METRIC_LOSS)), "loss not a generation metric");
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: test_metrics REFS.json\n");
        return 2;
    }
    hand_cases();
    json_error_t jerr;
    json_t *root = json_load_file(argv[1], 0, &jerr);
    if (!root) {
        fprintf(stderr, "cannot read %s: %s (line %d)\n", argv[1], jerr.text, jerr.line);
        return 1;
    }
    json_t *pairs = json_object_get(root, "pairs");
    size_t np = json_array_size(pairs);
    double e_em = 0, e_f1 = 0, e_rp = 0, e_rr = 0, e_rf = 0, e_bleu = 0;
    int tok_bad = 0, norm_bad = 0, stat_bad = 0;
    for (size_t i = 0; i < np; i++) {
        json_t *o = json_array_get(pairs, i);
        const char *pred = str(o, "pred"), *ref = str(o, "ref");
        double em, f1, rp, rr, rf;
        if (lc_metric_em(pred, ref, &em) || lc_metric_f1(pred, ref, &f1) || lc_metric_rouge_l(pred, ref, &rf, &rp, &rr)) {
            fprintf(stderr, "FAIL pair %zu: %s\n", i, lc_error_msg());
            return 1;
        }
        track(&e_em, em, num(o, "em"), 0, "em", (int)i);
        track(&e_f1, f1, num(o, "f1"), 1e-6, "f1", (int)i);
        track(&e_rp, rp, num(o, "rl_p"), 1e-6, "rougeL precision", (int)i);
        track(&e_rr, rr, num(o, "rl_r"), 1e-6, "rougeL recall", (int)i);
        track(&e_rf, rf, num(o, "rl_f"), 1e-6, "rougeL F", (int)i);
        char *norm = lc_squad_normalize(pred), *tok = lc_bleu_tokenize_13a(pred);
        if (!norm || strcmp(norm, str(o, "norm_pred"))) {
            if (norm_bad++ < 5) fprintf(stderr, "FAIL pair %zu normalize: '%s' want '%s'\n", i, norm, str(o, "norm_pred"));
            g_fail = 1;
        }
        if (!tok || strcmp(tok, str(o, "tok_pred"))) {
            if (tok_bad++ < 5) fprintf(stderr, "FAIL pair %zu 13a: '%s' want '%s'\n", i, tok, str(o, "tok_pred"));
            g_fail = 1;
        }
        free(norm);
        free(tok);
        lc_bleu_stats s = {0};
        lc_bleu_add(&s, pred, ref);
        int ok = s.sys_len == (int64_t)num(o, "sys_len") && s.ref_len == (int64_t)num(o, "ref_len");
        for (int k = 0; k < 4; k++)
            ok &= s.correct[k] == (int64_t)json_integer_value(json_array_get(json_object_get(o, "counts"), k)) &&
                  s.total[k] == (int64_t)json_integer_value(json_array_get(json_object_get(o, "totals"), k));
        if (!ok) {
            if (stat_bad++ < 5) fprintf(stderr, "FAIL pair %zu bleu statistics differ\n", i);
            g_fail = 1;
        }
        track(&e_bleu, lc_bleu_score(&s, NULL, NULL), num(o, "bleu"), 1e-6, "sentence bleu", (int)i);
    }
    printf("metrics: %zu pairs (%d from real data): max abs err em %.3g f1 %.3g rougeL P %.3g R %.3g F %.3g "
           "pair-bleu %.3g; normalize/13a/bleu-stat mismatches %d/%d/%d\n",
           np, (int)num(root, "n_real"), e_em, e_f1, e_rp, e_rr, e_rf, e_bleu, norm_bad, tok_bad, stat_bad);
    json_t *corp = json_object_get(root, "corpora");
    double e_corp = 0, e_bp = 0, e_prec = 0;
    for (size_t c = 0; c < json_array_size(corp); c++) {
        json_t *o = json_array_get(corp, c);
        int lo = (int)num(o, "lo"), hi = (int)num(o, "hi");
        lc_bleu_stats s = {0};
        for (int i = lo; i < hi; i++) {
            json_t *p = json_array_get(pairs, (size_t)i);
            lc_bleu_add(&s, str(p, "pred"), str(p, "ref"));
        }
        double bp, prec[4], sc = lc_bleu_score(&s, &bp, prec);
        track(&e_corp, sc, num(o, "bleu"), 1e-6, "corpus bleu", (int)c);
        track(&e_bp, bp, num(o, "bp"), 1e-9, "corpus bp", (int)c);
        for (int k = 0; k < 4; k++)
            track(&e_prec, prec[k], json_number_value(json_array_get(json_object_get(o, "precisions"), k)), 1e-9,
                  "corpus precision", (int)c);
        printf("  corpus [%d, %d): BLEU %.6f (sacreBLEU %.6f)\n", lo, hi, sc, num(o, "bleu"));
    }
    printf("metrics: %zu corpora: max abs err BLEU %.3g, BP %.3g, precisions %.3g\n", json_array_size(corp), e_corp,
           e_bp, e_prec);
    json_t *labs = json_object_get(root, "labels");
    int lab_bad = 0;
    for (size_t i = 0; i < json_array_size(labs); i++) {
        json_t *o = json_array_get(labs, i);
        json_t *la = json_object_get(o, "labels");
        const char *names[8];
        int nl = (int)json_array_size(la);
        for (int k = 0; k < nl && k < 8; k++) names[k] = json_string_value(json_array_get(la, (size_t)k));
        int got = lc_label_find(str(o, "text"), names, nl), want = (int)num(o, "index");
        if (got != want) {
            fprintf(stderr, "FAIL label case %zu: got %d want %d ('%.60s')\n", i, got, want, str(o, "text"));
            lab_bad++;
            g_fail = 1;
        }
    }
    printf("metrics: %zu label cases, %d mismatches\n", json_array_size(labs), lab_bad);
    json_decref(root);
    printf("%s\n", g_fail ? "test_metrics: FAILED" : "test_metrics: OK");
    return lc_test_failed();
}
