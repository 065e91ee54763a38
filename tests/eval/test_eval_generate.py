#!/usr/bin/env python3
"""test_eval_generate.py — `lorac eval` answers exactly as `lorac generate` does.

Both go through lc_prompt (include/lc_prompt.h): the same template choice,
the same prompt ids, the same stop set. For the same model, adapter (with a
PATH:SCALE multiplier), prompt and greedy sampling, eval's answers in
generations.jsonl must equal generate's output (after eval's whitespace
trim), byte for byte, on every template lorac supports:

  stories260K (HF dir, no chat template) with a quick adapter trained here:
      none (the model's own), chatml, llama2, llama3, and a custom format;
  SmolLM2-135M-Instruct Q4_1 (GGUF, ChatML detected from its Jinja template)
      with a 2-step adapter trained here: auto -> chatml with the model's
      default system message.

And generation stops at the end-of-turn token: SmolLM2 asked a short question
through its chat template must end with "stop: end token" well before
--max-tokens (issue 15 saw a tuned model run on for 256 tokens).

usage: test_eval_generate.py LORAC STORIES_DIR SMOLLM2_GGUF WORK_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys

FAILED = []
MAX_NEW = 24
PROMPTS = ["What did Tom find?", "Is the ball red?", "Once upon a time, Lily"]


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        FAILED.append(msg)


def run(args):
    return subprocess.run(args, capture_output=True, text=True)


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def train(lorac, model, work, name, extra):
    rows = [{"prompt": f"What did {n} find?", "completion": f" {n} found a {t}."}
            for n in ("Tom", "Sue", "Ben", "Mia") for t in ("ball", "cat")]
    data = os.path.join(work, f"{name}.jsonl")
    write_jsonl(data, rows)
    cfg = os.path.join(work, f"{name}.yaml")
    with open(cfg, "w") as f:
        f.write(f"model: {model}\ndata: {data}\nvalid_data: {data}\nr: 4\nalpha: 8\nlr: 1e-2\nbatch_size: 4\n"
                f"eval_every: 0\nsave_every: 0\nseed: 3\nout_dir: {work}/{name}\n{extra}")
    p = run([lorac, "train", "--config", cfg, "--quiet"])
    check(p.returncode == 0, f"train {name}: exit 0 {p.stderr[-400:]}")
    return os.path.join(work, name, "adapter.h5")


def eval_answers(lorac, model, spec, template, test, out):
    args = [lorac, "eval", "--model", model, "--adapter", spec, "--data", test, "--metrics", "em",
            f"--max-new-tokens={MAX_NEW}", "--out", out, "--quiet"]
    if template:
        args += ["--chat-template", template]
    p = run(args)
    check(p.returncode == 0, f"eval ({template or 'auto'}): exit 0 {p.stderr[-400:]}")
    if p.returncode:
        return None, None
    with open(os.path.join(out, "eval.json")) as f:
        res = json.load(f)
    name = [c["name"] for c in res["candidates"] if c["kind"] == "adapter"][0]
    with open(os.path.join(out, "generations.jsonl")) as f:
        gens = [json.loads(line) for line in f]
    return [g["answers"][name] for g in gens], res["chat_template"]


def generate_answers(lorac, model, spec, template, prompts_file):
    args = [lorac, "generate", "--model", model, "--adapter", spec, "--prompts-file", prompts_file,
            "--max-tokens", str(MAX_NEW), "-q"]
    if template:
        args += ["--chat-template=" + template]
    p = run(args)
    check(p.returncode == 0, f"generate ({template or 'auto'}): exit 0 {p.stderr[-400:]}")
    parts = re.split(r"(?:^|\n)### prompt \d+: [^\n]*\n", p.stdout)
    return [a.strip(" \n\t\r") for a in parts[1:]]


def compare(lorac, model, spec, template, work, tag):
    test = os.path.join(work, "test.jsonl")
    prompts_file = os.path.join(work, "prompts.txt")
    ev, used = eval_answers(lorac, model, spec, template, test, os.path.join(work, f"eval-{tag}"))
    gen = generate_answers(lorac, model, spec, template, prompts_file)
    if ev is None:
        return
    check(len(ev) == len(PROMPTS) and len(gen) == len(PROMPTS),
          f"{tag}: {len(ev)} eval answers, {len(gen)} generate answers (expected {len(PROMPTS)})")
    for i, (a, b) in enumerate(zip(ev, gen)):
        check(a == b, f"{tag} (eval template {used}): prompt {i + 1}: eval {a!r} == generate {b!r}")
    return ev


def main():
    lorac, stories, smollm, work = sys.argv[1:5]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    write_jsonl(os.path.join(work, "test.jsonl"), [{"prompt": p, "completion": " x"} for p in PROMPTS])
    with open(os.path.join(work, "prompts.txt"), "w") as f:
        f.write("".join(p + "\n" for p in PROMPTS))

    ad = train(lorac, stories, work, "stories", "target_modules: all-linear\nmax_steps: 12\nthreads: 1\n")
    spec = ad + ":0.7"
    custom = "### {role}:\\n{content}\\n\\n"
    seen = set()
    for tag, template in (("none", None), ("chatml", "chatml"), ("llama2", "llama2"), ("llama3", "llama3"),
                          ("custom", custom)):
        ev = compare(lorac, stories, spec, template, work, "stories-" + tag)
        if ev:
            seen.add(tuple(ev))
    check(len(seen) >= 3, f"the templates change the prompts (distinct answer sets: {len(seen)})")

    ad = train(lorac, smollm, work, "smollm", "target_modules: q_proj,v_proj\nmax_steps: 2\nmax_seq_len: 96\nchat_template: auto\n")
    compare(lorac, smollm, ad + ":0.7", None, work, "smollm2-chatml")

    # the end-of-turn token ends the answer (not --max-tokens)
    p = run([lorac, "generate", "--model", smollm, "--adapter", ad, "--prompt", "What is 2+2?", "--max-tokens", "96"])
    m = re.search(r"generation: (\d+) tokens.*stop: ([a-z ]+)\]", p.stderr)
    check(p.returncode == 0 and m is not None, f"generate with ChatML: exit 0 and a speed line {p.stderr[-300:]}")
    if m:
        check(m.group(2) == "end token" and int(m.group(1)) < 96,
              f"generate with ChatML stops at <|im_end|>: {m.group(1)} tokens, stop: {m.group(2)}")
    if FAILED:
        print(f"{len(FAILED)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
