#!/usr/bin/env python3
"""test_llamacpp.py — llama.cpp (llama-cpp-python) runs what lorac deploys.

usage: test_llamacpp.py base|merged|adapter LORAC LORAC_REF MODEL.gguf TRAIN.jsonl WORK [require]

MODEL is SmolLM2-135M-Instruct Q4_1 or Gemma 3 270M Q4_K_M (the same checks;
llamacpp_gemma3_* in CMakeLists.txt). With "require", a missing MODEL or
llama_cpp is a failure (exit 1), not a skip.

Adapters (made once, kept in WORK): `lorac train` for 3 steps at lr 1e-2 on the
first 8 rows of TRAIN.jsonl, from MODEL (chat template from the model):
  A: r 8, alpha 16, all-linear;  B: r 4, alpha 8, rsLoRA, q_proj,k_proj,down_proj.

base:    MODEL itself (quantised) in both, no adapter. Per prompt: tokens equal;
         teacher-forced on lorac's greedy sequence (N_NEW tokens or EOS), the
         logits differ by rms <= Q_BASE_RMS and llama.cpp's arg-max is lorac's
         greedy token at every position except near-ties (lorac's margin between
         the two < Q_NEAR_TIE): the same greedy continuation up to llama.cpp's
         8-bit activation rounding (see Q4_1 below; it is the "floor" of the
         adapter check). How far llama.cpp's greedy decoding follows lorac's is
         reported; `lorac generate
         --raw` prints lorac's greedy ids as llama.cpp detokenises them.

merged:  `lorac merge --gguf-type f32` of A, loaded by llama.cpp. Per prompt:
         tokens equal; llama.cpp's greedy decoding reproduces lorac's up to 32
         greedy tokens (stop at EOS; near-ties where lorac's margin < 2 tol may
         swap) and the text is identical to `lorac generate --raw`; logits of
         every position of prompt + greedy tokens within F32_REL * max |logit|
         (fp32 on both sides, F32 KV cache; Gemma 3: F32_REL_GELU16, ggml's
         GELU is an fp16 table).
adapter: `lorac export --format gguf` of A and B, loaded with lora_path:
         (1) on an F32 base (MODEL dequantised: `lorac merge --adapter A.h5:0`)
             vs lorac F32 base + adapter unmerged: fp32 tolerance as above;
         (2) on MODEL itself (Q4_1) vs lorac Q4_1 + adapter. llama.cpp rounds the
             activations to 8 bits for Q4_1 matmuls and lorac does not, so greedy
             decoding may part at a near-tie; teacher-forced on lorac's greedy
             sequence, rms logit diff(adapter) <= 1.5 * floor, floor being the same
             rms diff without adapter, and the adapter's effect (logits with -
             without it) differs by rms <= 2 * floor (two noisy runs);
             `lorac generate --adapter` prints lorac's greedy ids (as llama.cpp
             detokenises them).
Every adapter must also change lorac's own greedy output (else the test is blind).
llama.cpp's greedy sequence is read off one teacher-forced prefill of prompt +
lorac's greedy ids (its arg-max at each position must be lorac's next token, and a
stop id after a sequence that stopped early): that is exactly llama.cpp's greedy
decoding of the prompt, without len(gen) single-token evals (Llama.greedy_forced).
Exit 0 pass, 1 fail, 77 skipped (no llama_cpp or no MODEL).
"""
import os
import shutil
import subprocess
import sys

try:
    import numpy as np
except ImportError:  # llama-cpp-python needs numpy: then it is missing too
    np = None

PROMPTS = [
    "The capital of France is",
    "How do I reset my lamp? The",
    "Once upon a time, in a small village,",
]
N_NEW = 32
# fp32 vs fp32: lorac and ggml sum in different orders (OpenBLAS / ggml's SIMD
# dot products, their own softmax and RMSNorm); on SmolLM2 (30 layers, |logit|
# 26-37) that moves the logits by 4.5e-5 .. 1.04e-4 (measured, merged and
# adapter). Tolerance relative to the largest |logit| of the sequence: 2.6e-4 .. 3.7e-4.
F32_REL = 1e-5
# Gemma 3 (GeGLU): ggml's CPU GELU is not fp32 arithmetic either: it looks up a
# table indexed by the fp16-rounded input and returns an fp16 value
# (GGML_GELU_FP16 in ggml-cpu). Emulating that in the PyTorch reference
# (tests/gemma3/gemma3_torch.py --ggml-gelu) moves
# Gemma 3 270M's logits by 8.6e-3 (3.8e-4 of max|logit|, base model,
# "The capital of France is"); lorac (= the fp32 reference
# within 3e-6 of max|logit|, tests/gemma3) vs llama.cpp F32 measured 1.0e-2 ..
# 1.8e-2 (3.6e-4 .. 5.3e-4 of max|logit|, merged) and 1.2e-2 .. 3.1e-2 (4.1e-4 ..
# 8.6e-4, GGUF adapters A and B on the F32 base), greedy ids identical.
# Tolerance ~2.3x the worst; a wrong weight (a merged tensor in the wrong row order,
# a 2x adapter) moves logits by whole units.
F32_REL_GELU16 = 2e-3
# Q4_1: llama.cpp quantises the activations to Q8_1 before each Q4_1 matmul;
# lorac multiplies with fp32 activations (lorac's Q4_1 logits equal its F32
# GGUF's within 5e-5, and its dequantisation equals gguf-py's exactly), so
# llama.cpp Q4_1 vs llama.cpp F32 of the same weights already differ by
# 0.9 - 1.2 (max abs), 0.28 (rms): that is the floor, measured per run without
# adapter. With adapters the rms diff measured 0.18 - 0.32 (<= 1.16 floor) and the
# adapter's effect (rms 1.8 - 4.2) differed by rms 0.28 - 0.42 (<= 1.5 floor); an
# adapter llama.cpp ignored or scaled 2x would differ by ~its effect.
Q4_RMS_MULT = 1.5
# Quantised base vs lorac without adapter (mode base). Gemma 3 270M Q4_K_M
# (Q5_0/Q8_0 matmuls: Q8_0 activations; Q4_K/Q6_K: Q8_K), teacher-forced, the
# PyTorch reference on the dequantised weights (= lorac's fp32 arithmetic) vs
# llama.cpp measured rms 0.18 - 0.48, max abs 1.2 - 1.9 (max |logit| 22 - 98,
# tests/gemma3/gemma3_torch.py); SmolLM2 Q4_1 rms 0.28. A wrong window, norm or
# rope gives rms of several units. Tolerances: ~2x the worst measured.
Q_BASE_RMS = 1.0
Q_NEAR_TIE = 4.0
Q4_EFFECT_MULT = 2.0

failures = 0


def fail(msg):
    global failures
    failures += 1
    print("FAIL " + msg, flush=True)


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        print("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(cmd), p.stdout[-3000:], p.stderr[-3000:]))
        sys.exit(1)
    return p


def train_adapter(lorac, model, rows, work, name, extra):
    """WORK/name/adapter.h5, trained once (atomically: built in name.tmp)."""
    final = os.path.join(work, name)
    path = os.path.join(final, "adapter.h5")
    if os.path.exists(path):
        return path
    tmp = final + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    cfg = os.path.join(work, name + ".yaml")
    with open(cfg, "w") as f:
        f.write("model: %s\ndata: %s\nsplit: 0\nchat_template: auto\nmax_seq_len: 128\n"
                "lr: 1e-2\nlr_schedule: constant\nmax_steps: 3\nbatch_size: 8\nseed: 7\n"
                "eval_every: 0\nsave_every: 0\nthreads: 2\nout_dir: %s\n%s" % (model, rows, tmp, extra))
    run([lorac, "train", "--config", cfg, "--quiet"])
    os.rename(tmp, final)
    return path


def lorac_ref(ref, model, adapter, prompt, work, n_new=N_NEW, keep=None):
    """(prompt ids, logits (k, V) of the last k = min(keep, n) prompt positions (all
    without keep), greedy ids, stop ids) from lorac_ref."""
    out = os.path.join(work, "ref.bin")
    run([ref, model, adapter or "-", prompt, str(n_new), out] + ([str(keep)] if keep else []))
    raw = np.fromfile(out, dtype="<i4")
    n, V, n_gen, eos_tok, eos_cfg, k = (int(x) for x in raw[:6])
    ids = raw[6:6 + n].tolist()
    logits = raw[6 + n:6 + n + k * V].view("<f4").reshape(k, V)
    gen = raw[6 + n + k * V:].tolist()
    assert len(gen) == n_gen, "lorac_ref output truncated"
    os.remove(out)
    return ids, logits, gen, {eos_tok, eos_cfg} - {-1}


def rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def lorac_text(lorac, model, adapter, prompt):
    cmd = [lorac, "generate", "--model", model, "--raw", "--max-tokens", str(N_NEW), "--threads", "2", "--quiet",
           "--prompt", prompt]
    if adapter:
        cmd[4:4] = ["--adapter", adapter]
    out = run(cmd).stdout
    assert out.endswith("\n")
    return out[:-1]


class Llama:
    def __init__(self, model, lora=None):
        import llama_cpp
        # n_ctx 128: prompt + N_NEW tokens fit; llama.cpp and llama-cpp-python each
        # keep n_ctx x vocab floats of logits (Gemma 3: 262,144 wide)
        kw = dict(n_ctx=128, n_batch=128, logits_all=True, n_threads=2, n_threads_batch=2, seed=0, verbose=False,
                  type_k=0, type_v=0)  # GGML_TYPE_F32 KV cache: no f16 rounding of K and V
        if lora:
            kw["lora_path"] = lora
        self.llm = llama_cpp.Llama(model_path=model, **kw)

    def tokenize(self, text):
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)

    def logits(self, ids):
        """Logits (n, V) of every position of ids, one prefill from an empty cache."""
        llm = self.llm
        llm.reset()
        llm.eval(ids)
        return np.array(llm.scores[:len(ids)], dtype=np.float32)

    def greedy_forced(self, ids, gen, stops):
        """llama.cpp's logits of every position of ids + gen (one prefill) and, from
        them, how many of lorac's greedy tokens gen llama.cpp's own greedy decoding
        would reproduce: its arg-max after ids + gen[:j] is gen[j] for j < k (and,
        when gen stopped before N_NEW, a stop id after all of gen). k == len(gen)
        and agree == True mean llama.cpp's free-running greedy output is gen, token
        for token, without decoding it step by step (one batch instead of len(gen)
        single-token evals: the Gemma 3 head is 262,144 wide)."""
        logits = self.logits(ids + gen)
        n = len(ids)
        picks = [int(np.argmax(logits[n - 1 + j])) for j in range(len(gen) + 1)]
        k = next((j for j in range(len(gen)) if picks[j] != gen[j]), len(gen))
        agree = k == len(gen) and (len(gen) == N_NEW or picks[len(gen)] in stops)
        return logits, k, picks, agree

    def text(self, ids):
        return self.llm.detokenize(ids, special=True).decode("utf-8", errors="replace")


def compare(label, lorac, ref, model_l, adapter_l, llama, tol_fn):
    """One model pair on every prompt: tokens equal; llama.cpp's greedy decoding
    reproduces lorac's greedy ids (Llama.greedy_forced) and `lorac generate` text (when lorac is given) identical; logits
    of every position of prompt + greedy ids within tol_fn(max |logit|). Returns the
    max abs logit diff."""
    worst = 0.0
    for i, prompt in enumerate(PROMPTS):
        ids, _, gen, stops = lorac_ref(ref, model_l, adapter_l, prompt, WORK)
        lids = llama.tokenize(prompt)
        if lids != ids:
            fail("%s prompt %d: token ids differ: lorac %s, llama.cpp %s" % (label, i, ids, lids))
            continue
        # logits of every position of prompt + lorac's greedy tokens, on both sides
        lg = lorac_ref(ref, model_l, adapter_l, "ids:" + ",".join(str(x) for x in ids + gen), WORK)[1]
        llg, _, picks, agree = llama.greedy_forced(ids, gen, stops)
        plg = llg[:len(ids)]
        d = np.abs(llg.astype(np.float64) - lg)
        dmax, dlast, ref_max = float(d.max()), float(d[len(ids) - 1].max()), float(np.abs(lg).max())
        tol = tol_fn(ref_max)
        print("%s prompt %d: %d+%d tokens, logits max abs diff %.3e (last prompt position %.3e, max |logit| %.1f, "
              "tol %.3e), next-token top-5 lorac %s llama.cpp %s"
              % (label, i, len(ids), len(gen), dmax, dlast, ref_max, tol,
                 np.argsort(-lg[len(ids) - 1])[:5].tolist(), np.argsort(-plg[-1])[:5].tolist()))
        worst = max(worst, dmax)
        if not dmax <= tol:
            fail("%s prompt %d: logits differ by %.3e > %.3e" % (label, i, dmax, tol))
        # llama.cpp's batched prefill and its one-token decode sum in different orders,
        # so at a near-tie its arg-max may differ from lorac's token: accepted where
        # lorac's own margin is < 2 tol (both logits within tol of llama.cpp's can
        # then swap; the logits check above holds either way), a failure otherwise.
        n = len(ids)
        flips = [(j, float(lg[n - 1 + j, gen[j]] - lg[n - 1 + j, picks[j]]))
                 for j in range(len(gen)) if picks[j] != gen[j]]
        hard = [(j, m) for j, m in flips if not m < 2 * tol]
        stop_ok = len(gen) == N_NEW or picks[len(gen)] in stops
        if hard or not stop_ok:
            j = hard[0][0] if hard else len(gen)
            fail("%s prompt %d: greedy tokens differ at %d: lorac %s, llama.cpp picks %d there%s"
                 % (label, i, j, gen, picks[j], " (not a stop id)" if j == len(gen) else
                    " (lorac's margin %.3e >= 2 tol)" % hard[0][1]))
        else:
            print("%s prompt %d: %d greedy tokens identical%s: %r"
                  % (label, i, len(gen), "" if agree else " but for near-ties at %s (lorac's margins %s < 2 tol)"
                     % ([j for j, _ in flips], ["%.2e" % m for _, m in flips]), llama.text(gen)))
        if lorac:
            t = lorac_text(lorac, model_l, adapter_l, prompt)
            if t != llama.text(gen):
                fail("%s prompt %d: `lorac generate` text %r != llama.cpp text %r" % (label, i, t, llama.text(gen)))
    return worst


def compare_q4(label, lorac, ref, model, adapter_h5, llama_base, llama_lora, floor):
    """Q4_1 base: llama.cpp multiplies with Q8_1-rounded activations, lorac with fp32 ones,
    so greedy decoding may part at a near-tie. Teacher-forced on lorac's greedy sequence
    (prompt + generated ids): rms logit diff over every position <= Q4_RMS_MULT * floor,
    and the adapter's own effect (logits with - without adapter, on each side) equal
    within rms Q4_EFFECT_MULT * floor; how far llama.cpp's greedy decoding
    would follow lorac's is reported.
    `lorac generate --adapter` text must equal lorac's greedy ids as llama.cpp
    detokenises them. Returns (max rms diff, max relative error of the adapter's effect)."""
    worst = wdelta = 0.0
    tol, etol = Q4_RMS_MULT * floor, Q4_EFFECT_MULT * floor
    for i, prompt in enumerate(PROMPTS):
        ids, _, gen, stops = lorac_ref(ref, model, adapter_h5, prompt, WORK)
        seq = "ids:" + ",".join(str(x) for x in ids + gen)
        lg = lorac_ref(ref, model, adapter_h5, seq, WORK)[1]
        lg0 = lorac_ref(ref, model, None, seq, WORK)[1]
        llg, k, picks, agree = llama_lora.greedy_forced(ids, gen, stops)
        llg0 = llama_base.logits(ids + gen)
        diff = llg.astype(np.float64) - lg
        d, r = float(np.abs(diff).max()), rms(diff)
        dl, dc = lg.astype(np.float64) - lg0, llg.astype(np.float64) - llg0
        derr, dsize = rms(dc - dl), rms(dl)
        print("%s prompt %d: %d positions, logits rms diff %.3e (tol %.3e), max abs %.3e; adapter effect rms %.3e, "
              "llama.cpp's differs by rms %.3e (%.1f%%, tol %.3e); llama.cpp's greedy decoding would reproduce %d of "
              "lorac's %d tokens%s"
              % (label, i, len(lg), r, tol, d, dsize, derr, 100 * derr / dsize, etol, k, len(gen),
                 "" if agree else " (then lorac %s, llama.cpp %d)" % (gen[k:k + 1], picks[k])))
        worst, wdelta = max(worst, r), max(wdelta, derr / dsize)
        if not r <= tol:
            fail("%s prompt %d: logits differ by rms %.3e > %.3e" % (label, i, r, tol))
        if not derr <= etol:
            fail("%s prompt %d: the adapter's effect (rms %.3e) differs by rms %.3e > %.3e"
                 % (label, i, dsize, derr, etol))
        t = lorac_text(lorac, model, adapter_h5, prompt)
        if t != llama_lora.text(gen):
            fail("%s prompt %d: `lorac generate` text %r != lorac's greedy ids as llama.cpp decodes them %r"
                 % (label, i, t, llama_lora.text(gen)))
    return worst, wdelta


def q4_floor(ref, model, llama_base):
    """rms logit diff lorac vs llama.cpp on the Q4_1 base without adapter, teacher-forced
    on lorac's greedy sequences: llama.cpp's own activation rounding."""
    floor = 0.0
    for prompt in PROMPTS:
        ids, _, gen, _ = lorac_ref(ref, model, None, prompt, WORK)
        lg = lorac_ref(ref, model, None, "ids:" + ",".join(str(x) for x in ids + gen), WORK)[1]
        llg = llama_base.logits(ids + gen)
        floor = max(floor, rms(llg.astype(np.float64) - lg))
    return floor


def must_change(label, ref, model, adapter):
    """The adapter must change lorac's greedy output on some prompt (else the checks are blind)."""
    changed = 0
    for prompt in PROMPTS:
        g0 = lorac_ref(ref, model, None, prompt, WORK)[2]
        g1 = lorac_ref(ref, model, adapter, prompt, WORK)[2]
        changed += g0 != g1
    print("%s: changes lorac's greedy output on %d of %d prompts" % (label, changed, len(PROMPTS)))
    if not changed:
        fail("%s does not change any greedy output: the comparison would not see a wrong adapter" % label)


def f32_rel(model):
    """F32 logits tolerance (relative to max |logit|) for MODEL's family."""
    import gguf
    arch = gguf.GGUFReader(model).fields["general.architecture"].contents()
    return F32_REL_GELU16 if arch == "gemma3" else F32_REL


def merged(lorac, ref, model, a):
    out = os.path.join(WORK, "merged-f32.gguf")
    try:
        p = run([lorac, "merge", "--model", model, "--adapter", a, "--out", out, "--gguf-type", "f32"])
        print(p.stdout.strip())
        must_change("adapter A", ref, model, a)
        rel = f32_rel(model)
        w = compare("merged f32", lorac, ref, out, None, Llama(out), lambda m: rel * m)
        print("merged f32 GGUF: max abs logit diff lorac vs llama.cpp %.3e" % w)
    finally:
        if os.path.exists(out):
            os.remove(out)


def adapter(lorac, ref, model, a, b):
    f32 = os.path.join(WORK, "base-f32.gguf")
    ga, gb = os.path.join(WORK, "A.gguf"), os.path.join(WORK, "B.gguf")
    try:
        for h5, g in ((a, ga), (b, gb)):
            if os.path.exists(g):
                os.remove(g)
            run([lorac, "export", "--adapter", h5, "--model", model, "--format", "gguf", "--out", g])
        must_change("adapter B", ref, model, b)
        # (1) F32 base: fp32 on both sides
        run([lorac, "merge", "--model", model, "--adapter", a + ":0", "--out", f32, "--gguf-type", "f32"])
        for h5, g, name in ((a, ga, "A"), (b, gb, "B")):
            rel = f32_rel(model)
            w = compare("F32 base + adapter %s" % name, None, ref, f32, h5, Llama(f32, g), lambda m: rel * m)
            print("F32 base + GGUF adapter %s: max abs logit diff %.3e" % (name, w))
        os.remove(f32)
        # (2) Q4_1 base: the floor without adapter, then each adapter
        base = Llama(model)
        floor = q4_floor(ref, model, base)
        print("Q4_1 floor (no adapter; lorac fp32 activations vs llama.cpp Q8_1 activations): %.3e" % floor)
        for h5, g, name in ((a, ga, "A"), (b, gb, "B")):
            w, rel = compare_q4("Q4_1 base + adapter %s" % name, lorac, ref, model, h5, base, Llama(model, g), floor)
            print("Q4_1 base + GGUF adapter %s: rms logit diff %.3e (floor %.3e), adapter effect error %.1f%%"
                  % (name, w, floor, 100 * rel))
    finally:
        if os.path.exists(f32):
            os.remove(f32)


def base_greedy(lorac, ref, model):
    """The quantised GGUF itself: identical greedy text, bounded teacher-forced rms."""
    llm = Llama(model)
    for i, prompt in enumerate(PROMPTS):
        ids, _, gen, stops = lorac_ref(ref, model, None, prompt, WORK, keep=1)
        lids = llm.tokenize(prompt)
        if lids != ids:
            fail("base prompt %d: token ids differ: lorac %s, llama.cpp %s" % (i, ids, lids))
            continue
        lg = lorac_ref(ref, model, None, "ids:" + ",".join(str(x) for x in ids + gen), WORK, n_new=0)[1]
        llg, k, _, _ = llm.greedy_forced(ids, gen, stops)
        diff = llg.astype(np.float64) - lg
        r, mx = rms(diff), float(np.abs(lg).max())
        # teacher-forced: llama.cpp's choice at each position that predicts a greedy token
        pos = range(len(ids) - 1, len(ids) + len(gen) - 1)
        ties = [(j, float(lg[j, gen[j - len(ids) + 1]] - lg[j, int(np.argmax(llg[j]))]))
                for j in pos if int(np.argmax(llg[j])) != gen[j - len(ids) + 1]]
        print("base prompt %d: %d+%d tokens, teacher-forced logits rms diff %.3e (tol %.3e), max abs %.3e "
              "(max |logit| %.1f); llama.cpp's arg-max differs at %d of %d positions (lorac's margins %s, tol %.1f); "
              "llama.cpp's greedy decoding would reproduce %d of %d tokens: %r"
              % (i, len(ids), len(gen), r, Q_BASE_RMS, float(np.abs(diff).max()), mx, len(ties), len(gen),
                 ["%.3f" % m for _, m in ties], Q_NEAR_TIE, k, len(gen), llm.text(gen)))
        if not r <= Q_BASE_RMS:
            fail("base prompt %d: logits differ by rms %.3e > %.3e" % (i, r, Q_BASE_RMS))
        for j, m in ties:
            if not m < Q_NEAR_TIE:
                fail("base prompt %d: at position %d llama.cpp picks another token, lorac's margin %.3f is no near-tie"
                     % (i, j, m))
        t = lorac_text(lorac, model, None, prompt)
        if t != llm.text(gen):
            fail("base prompt %d: `lorac generate` text %r != lorac's greedy ids as llama.cpp decodes them %r"
                 % (i, t, llm.text(gen)))


def main():
    global WORK
    if len(sys.argv) not in (7, 8) or sys.argv[1] not in ("base", "merged", "adapter") or \
            (len(sys.argv) == 8 and sys.argv[7] != "require"):
        print(__doc__)
        return 2
    what, lorac, ref, model, data, WORK = sys.argv[1:7]
    missing = 1 if len(sys.argv) == 8 else 77
    try:
        if np is None:
            raise ImportError("numpy is not installed")
        import llama_cpp  # noqa: F401
    except ImportError as e:
        print("%s: llama_cpp not importable (%s); pip install llama-cpp-python" % ("FAIL" if missing == 1 else "SKIP", e))
        return missing
    if not os.path.exists(model):
        print("%s: %s not found (scripts/setup.sh / scripts/fetch_gemma3.sh download it)"
              % ("FAIL" if missing == 1 else "SKIP", model))
        return missing
    if what == "base":
        base_greedy(lorac, ref, model)
        print("base: %s" % ("FAILED (%d)" % failures if failures else "ok"))
        return 1 if failures else 0
    os.makedirs(WORK, exist_ok=True)
    rows = os.path.join(WORK, "train8.jsonl")
    with open(data) as f, open(rows + ".tmp", "w") as g:
        g.writelines(f.readlines()[:8])
    os.replace(rows + ".tmp", rows)
    a = train_adapter(lorac, model, rows, WORK, "adapter-A", "r: 8\nalpha: 16\ntarget_modules: all-linear\n")
    if what == "merged":
        merged(lorac, ref, model, a)
    else:
        b = train_adapter(lorac, model, rows, WORK, "adapter-B",
                          "r: 4\nalpha: 8\nrslora: true\ntarget_modules: q_proj,k_proj,down_proj\n")
        adapter(lorac, ref, model, a, b)
    print("%s: %s" % (what, "FAILED (%d)" % failures if failures else "ok"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
