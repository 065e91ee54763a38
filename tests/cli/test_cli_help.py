#!/usr/bin/env python3
"""test_cli_help.py — `lorac VERB --help` is generated from each verb's option
table (src/cli/cli_opts.c); docs/cli.md carries the same text, and the
parser follows getopt_long's conventions.

1. For every verb, the block between `<!-- BEGIN lorac VERB --help -->` and
   `<!-- END lorac VERB --help -->` in docs/cli.md equals `lorac VERB --help`
   byte for byte. `--update` rewrites the blocks instead (then commit).
2. Every option the help lists is accepted by the parser (an unknown option
   is rejected with exit 2), and `-h` equals `--help`.
3. Conventions: --key=value, unambiguous prefixes (--max-new=4), ambiguous
   ones refused naming the candidates, `--` ends the options, bundled short
   flags (-qh), an unknown option names the verb and points to --help, a
   mistyped config key in train gets "did you mean".

usage: test_cli_help.py LORAC DOCS_CLI_MD [--update]
"""
import re
import subprocess
import sys

VERBS = ["train", "generate", "chat", "info", "merge", "export", "import", "eval", "sweep"]
FAILED = []


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg, flush=True)
    if not cond:
        FAILED.append(msg)


def run(lorac, *args):
    return subprocess.run([lorac, *args], capture_output=True, text=True)


def block(verb, text):
    return f"<!-- BEGIN lorac {verb} --help -->\n```text\n{text}```\n<!-- END lorac {verb} --help -->"


def block_re(verb):
    return re.compile(re.escape(f"<!-- BEGIN lorac {verb} --help -->") + r".*?" +
                      re.escape(f"<!-- END lorac {verb} --help -->"), re.S)


def docs_blocks(lorac, docs, update):
    with open(docs) as f:
        md = f.read()
    helps = {}
    for verb in VERBS:
        p = run(lorac, verb, "--help")
        check(p.returncode == 0 and p.stdout.startswith("usage: lorac " + verb), f"lorac {verb} --help: exit 0, usage")
        helps[verb] = p.stdout
        q = run(lorac, verb, "-h")
        check(q.stdout == p.stdout, f"lorac {verb} -h equals --help")
        m = block_re(verb).search(md)
        if update and m:
            md = md[:m.start()] + block(verb, p.stdout) + md[m.end():]
        elif update:
            print(f"note: docs/cli.md has no help block for {verb}; add the markers under its section")
        else:
            check(m is not None and m.group(0) == block(verb, p.stdout),
                  f"docs/cli.md block for `lorac {verb} --help` equals the program's (run this test with --update)")
    if update:
        with open(docs, "w") as f:
            f.write(md)
    return helps


def options_parse(lorac, helps):
    for verb, text in helps.items():
        head, _, keys = text.partition("\nkeys (")  # train: every config key takes a value
        opts = re.findall(r"^  (?:-\w, )?--([a-z][a-z0-9_-]*)( \S)?", head, re.M)
        opts += [(k, "v") for k in re.findall(r"^  --([a-z][a-z0-9_]*) ", keys, re.M)]
        check(len(opts) >= 2, f"{verb}: the help lists its options ({len(opts)})")
        for o, has_value in opts:
            if o == "help":
                continue
            value = ["x"] if has_value else []
            p = run(lorac, verb, f"--{o}", *value, "--definitely-not-an-option")
            check(p.returncode == 2 and "definitely-not-an-option" in p.stderr and f"unrecognized option" in p.stderr
                  and f"lorac {verb} --help" in p.stderr and f"'--{o}'" not in p.stderr,
                  f"{verb} --{o} is parsed; an unknown option after it is refused ({p.stderr.strip()[:120]!r})")


def conventions(lorac):
    missing = "/nonexistent/model-dir"
    p = run(lorac, "generate", "--mod=" + missing, "--prompt", "hi", "--sys=S", "--max-t", "3", "-q")  # prefixes, =
    check(p.returncode == 1 and missing in p.stderr,
          f"generate --mod=M --sys=S --max-t 3: parsed, fails on the model ({p.stderr.strip()[:100]!r})")
    p = run(lorac, "generate", "--model", missing, "--prom", "hi")
    check(p.returncode == 2 and "ambiguous" in p.stderr, "generate --prom: ambiguous (--prompt, --prompts-file)")
    p = run(lorac, "generate", "--m", missing, "--prompt", "hi")
    check(p.returncode == 2 and "ambiguous" in p.stderr and "--model" in p.stderr and "--max-tokens" in p.stderr,
          f"generate --m: ambiguous, both candidates named ({p.stderr.strip()[:160]!r})")
    p = run(lorac, "info", "--", "--adapter")
    check(p.returncode == 1 and "--adapter" in p.stderr, f"info -- --adapter: '--adapter' is the MODEL after -- ({p.stderr.strip()[:100]!r})")
    p = run(lorac, "generate", "-qh")
    check(p.returncode == 0 and p.stdout.startswith("usage: lorac generate"), "generate -qh: bundled short flags (help)")
    p = run(lorac, "eval", "--model", missing, "--data", "x.jsonl", "--max-new-tokens=abc")
    check(p.returncode == 2 and "--max-new-tokens" in p.stderr and "'abc'" in p.stderr,
          f"eval --max-new-tokens=abc: exit 2 naming the option and the value ({p.stderr.strip()[:120]!r})")
    p = run(lorac, "eval", "--model", missing, "--data", "x.jsonl", "--max_new_tokens", "0")
    check(p.returncode == 2 and "--max-new-tokens" in p.stderr, "eval --max_new_tokens: the underscore spelling is accepted")
    p = run(lorac, "merge", "--model", missing, "--adapter", "a.h5:abc", "--out", "/tmp/x")
    check(p.returncode == 2 and "'a.h5:abc'" in p.stderr and "not a number" in p.stderr,
          f"merge --adapter a.h5:abc: names the spec, a number expected ({p.stderr.strip()[:120]!r})")
    p = run(lorac, "train", "--config", "/nonexistent.yaml", "--lrr", "1")
    check(p.returncode == 2 and "did you mean 'lr'" in p.stderr, f"train --lrr: did you mean 'lr' ({p.stderr.strip()[:160]!r})")
    p = run(lorac, "generate", "stray", "--model", missing)
    check(p.returncode == 2 and "unexpected argument 'stray'" in p.stderr, "generate: a stray word is refused")


def main():
    lorac, docs = sys.argv[1:3]
    update = "--update" in sys.argv[3:]
    helps = docs_blocks(lorac, docs, update)
    if not update:
        options_parse(lorac, helps)
        conventions(lorac)
    if FAILED:
        print(f"{len(FAILED)} check(s) failed")
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
