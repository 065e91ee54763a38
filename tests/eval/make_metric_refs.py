#!/usr/bin/env python3
"""make_metric_refs.py — reference values for tests/eval/test_metrics.c.

Builds (prediction, reference) pairs from the real data in ../shared/data
(SQuAD answers and context sentences, PubMedQA long answers, GSM8K
solutions, the mental-health FAQ with its mojibake) perturbed in seeded
random ways (dropped/duplicated/swapped words, case, punctuation, articles,
numbers), plus hand-written edge cases and random Unicode strings, and scores
them with the Python references:
  - SQuAD's official normalize_answer / exact match / F1 (transcribed below
    from the SQuAD v2.0 evaluate script: the only copy is the script itself),
  - rouge_score.rouge_scorer.RougeScorer(["rougeL"]) (PyPI rouge-score),
  - sacrebleu.corpus_bleu with defaults and its 13a tokenizer (PyPI sacrebleu).
Writes one JSON file for the C test.

usage: make_metric_refs.py SHARED_DIR OUT.json
"""
import collections
import csv
import json
import random
import re
import string
import sys

import sacrebleu
from rouge_score import rouge_scorer
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a


# ---- SQuAD v2.0 evaluate script (official), the functions it scores with ----
def normalize_answer(s):
    def remove_articles(text):
        regex = re.compile(r'\b(a|an|the)\b', re.UNICODE)
        return re.sub(regex, ' ', text)

    def white_space_fix(text):
        return ' '.join(text.split())

    def remove_punc(text):
        exclude = set(string.punctuation)
        return ''.join(ch for ch in text if ch not in exclude)

    def lower(text):
        return text.lower()
    return white_space_fix(remove_articles(remove_punc(lower(s))))


def get_tokens(s):
    if not s:
        return []
    return normalize_answer(s).split()


def compute_exact(a_gold, a_pred):
    return int(normalize_answer(a_gold) == normalize_answer(a_pred))


def compute_f1(a_gold, a_pred):
    gold_toks = get_tokens(a_gold)
    pred_toks = get_tokens(a_pred)
    common = collections.Counter(gold_toks) & collections.Counter(pred_toks)
    num_same = sum(common.values())
    if len(gold_toks) == 0 or len(pred_toks) == 0:
        return int(gold_toks == pred_toks)
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_toks)
    recall = 1.0 * num_same / len(gold_toks)
    return (2 * precision * recall) / (precision + recall)


# ---- label accuracy as lorac defines it (lc_metrics.h) ----
def rouge_words(s):
    return [w for w in re.split(r"[^a-z0-9]+", s.lower()) if w]


def label_find(text, labels):
    words = rouge_words(text)
    lw = [rouge_words(l) for l in labels]
    for i in range(len(words)):
        best, best_len = -1, 0
        for k, l in enumerate(lw):
            if l and len(l) > best_len and words[i:i + len(l)] == l:
                best, best_len = k, len(l)
        if best >= 0:
            return best
    return -1


# ---- pairs ----
def perturb(rng, s):
    words = s.split()
    if not words:
        return s
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(9)
        i = rng.randrange(len(words))
        if op == 0 and len(words) > 1:
            del words[i]
        elif op == 1:
            words.insert(i, words[i])
        elif op == 2:
            j = rng.randrange(len(words))
            words[i], words[j] = words[j], words[i]
        elif op == 3:
            words[i] = words[i].upper()
        elif op == 4:
            words[i] = words[i] + rng.choice([",", ".", "!", "?", ";", "'s", ")", "\"", "-", " ."])
        elif op == 5:
            words.insert(i, rng.choice(["the", "a", "an", "The", "A", "An", "THE"]))
        elif op == 6:
            words[i] = str(rng.randint(0, 20000)) + rng.choice(["", ".5", ",000", "-3", "%"])
        elif op == 7:
            words[i] = words[i].capitalize()
        else:
            words = words[: max(1, len(words) - rng.randint(1, 3))]
        if not words:
            words = ["x"]
    sep = rng.choice([" ", " ", " ", "  ", "\t", "\n"])
    return sep.join(words)


def real_pairs(shared, rng):
    pairs = []
    squad = json.load(open(f"{shared}/data/squad-sample/squad_sample.json"))
    for ex in squad:
        a = ex["answer"]
        pairs.append((perturb(rng, a), a))
    for ex in squad[:30]:  # a whole context sentence against the short answer
        sent = re.split(r"(?<=\.) ", ex["context"])[0]
        pairs.append((sent[:300], ex["answer"]))
    pub = json.load(open(f"{shared}/data/pubmedqa/ori_pqal.json"))
    for k in list(pub)[:40]:
        la = pub[k]["LONG_ANSWER"]
        pairs.append((perturb(rng, la), la))
    with open(f"{shared}/data/gsm8k/test.jsonl") as f:
        for i, line in enumerate(f):
            if i >= 30:
                break
            ans = json.loads(line)["answer"]
            pairs.append((perturb(rng, ans), ans))
    with open(f"{shared}/data/mental-health-faq/Mental_Health_FAQ.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows[:20]:
        resp = r["response"][:600]
        pairs.append((perturb(rng, resp), resp))
    return pairs


HAND = [
    ("", ""), ("", "x"), ("x", ""), ("the", "a"), ("The Cat", "cat"), ("a an the", ""),
    ("the cat sat", "cat sat on mat"), ("Cat!", "cat"), ("the_cat", "the cat"),
    ("théâtre the end", "THÉÂTRE end"), ("éthe x", "x"), ("İstanbul", "i̇stanbul"), ("\u212a", "k"),
    ("ΣΊΣΥΦΟΣ Greek", "σίσυφος greek"), ("ΣΑΣ. Σ ʰΣ AʰΣ AΣʰb ΌΣ'Σ", "σας σ"), ("Straße", "STRASSE"), ("naïve café", "naive cafe"),
    ("price: $1,000.50 (approx.)", "price $1,000.50 approx"), ("3-4 years old.", "3 - 4 years old ."),
    ("&amp;lt;b&amp;gt; &quot;hi&quot; &amp; bye", "<b> \"hi\" & bye"), ("foo<skipped>bar", "foobar"),
    ("co-\noperate\nnow", "cooperate now"), ("trailing space \u3000 ", "trailing space"),
    ("tab\tsep\u00a0nbsp\u2009thin", "tab sep nbsp thin"), ("Mr. Smith, Jr., went home.", "Mr Smith Jr went home"),
    ("e.g. 3.14, 2,5 and 1.", "e.g. 3.14 , 2,5 and 1 ."), ("...", "."), ("a.,b", "a . , b"),
    ("yes", "yes"), ("Yes, it does.", "yes"), ("no", "maybe"), ("The answer is maybe.", "maybe"),
    ("x" * 3, "x" * 3), ("one two three four five", "one two three four five"),
    ("one two three four five six", "one two three four"), ("one two", "one two three four five six"),
    ("日本語 の テキスト。", "日本語のテキスト"), ("emoji 😀 test", "emoji test"), ("\u0085next line", "next line"),
    ("x\x1cy\x1fz", "x y z"), ("_under_score_", "under score"), ("²³ ½ ٣", "2 3"),
]


def random_unicode(rng):
    pools = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x2000, 0x206F), (0x3000, 0x303F),
             (0x1E00, 0x1FFF), (0x2150, 0x218F), (0x10400, 0x1044F), (0x1F600, 0x1F64F)]
    out = []
    for _ in range(rng.randint(0, 40)):
        lo, hi = rng.choice(pools)
        cp = rng.randint(lo, hi)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        out.append(chr(cp) if rng.random() < 0.7 else rng.choice([" ", "the ", "a ", ".", ",", "-"]))
    return "".join(out)


def main():
    shared, out_path = sys.argv[1], sys.argv[2]
    rng = random.Random(1234)
    pairs = real_pairs(shared, rng)
    n_real = len(pairs)
    pairs += HAND
    for _ in range(60):
        a = random_unicode(rng)
        pairs.append((a, perturb(rng, a) if rng.random() < 0.5 else random_unicode(rng)))
    scorer = rouge_scorer.RougeScorer(["rougeL"])
    tok = Tokenizer13a()
    recs = []
    for pred, ref in pairs:
        rl = scorer.score(ref, pred)["rougeL"]
        b = sacrebleu.corpus_bleu([pred], [[ref]])
        recs.append({
            "pred": pred, "ref": ref,
            "norm_pred": normalize_answer(pred),
            "em": compute_exact(ref, pred), "f1": compute_f1(ref, pred),
            "rl_p": rl.precision, "rl_r": rl.recall, "rl_f": rl.fmeasure,
            "tok_pred": tok(pred.rstrip()),
            "bleu": b.score, "counts": b.counts, "totals": b.totals, "sys_len": b.sys_len, "ref_len": b.ref_len,
        })
    corpora = []
    spans = [(0, n_real), (0, 100), (100, 130), (130, 170), (170, 200), (n_real, len(pairs)), (0, len(pairs))]
    for lo, hi in spans:
        b = sacrebleu.corpus_bleu([p for p, _ in pairs[lo:hi]], [[r for _, r in pairs[lo:hi]]])
        corpora.append({"lo": lo, "hi": hi, "bleu": b.score, "bp": b.bp, "precisions": b.precisions})
    labels = ["yes", "no", "maybe"]
    lab = []
    pub = json.load(open(f"{shared}/data/pubmedqa/ori_pqal.json"))
    for k in list(pub)[:60]:
        text = pub[k]["LONG_ANSWER"]
        lab.append({"text": text, "labels": labels, "index": label_find(text, labels)})
    for text in ["Yes.", "MAYBE, but no", "nothing here", "I say: no-yes", "", "the answer: not sure yes"]:
        lab.append({"text": text, "labels": labels, "index": label_find(text, labels)})
    lab.append({"text": "it is not sure at all", "labels": ["sure", "not sure"], "index": 1})
    json.dump({"n_real": n_real, "pairs": recs, "corpora": corpora, "labels": lab}, open(out_path, "w"),
              ensure_ascii=False, indent=0)
    print(f"make_metric_refs: {len(recs)} pairs ({n_real} from real data), {len(corpora)} corpora, "
          f"{len(lab)} label cases -> {out_path}")


if __name__ == "__main__":
    main()
