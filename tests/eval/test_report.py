#!/usr/bin/env python3
"""test_report.py — report.html of `train`, `eval` and `sweep`, rendered in a
real headless browser (Debian's chromium; missing chromium is a FAILURE).

On the real stories260K model, with data whose prompts, references and file
names hold < & " ' and non-ASCII text:
A. `lorac train` (log_every 1, eval_every 3, save_every 4, test_data) is
   stopped with SIGINT after its first checkpoint: report.html says
   "stopped" with the resume command and draws exactly the train steps
   metrics.jsonl holds. Then `--resume`: report.html says "finished", the
   train-loss and lr polylines have max_steps points, the validation
   polyline one per evaluation (step 0 included), and each polyline's
   data-points equals its number of coordinate pairs.
B. `lorac eval --out RUN/eval`: report.html has the candidates table (base
   and the adapter) and every example with its prompt, reference and
   answers; the special-character prompt reads back from the browser's DOM
   exactly; RUN/report.html is rewritten with the answers, still "finished".
C. `lorac sweep` (2 trials): report.html embeds curves.svg (a train and a
   valid polyline per trial), links each trial's report.html, which exists.
Every page: chromium --headless --dump-dom loads it with no console message
(a control page with console.error proves the check can fail), it has no
<script> and references nothing outside itself, and a screenshot is
written (WORK_DIR/*.png, non-trivial PNG).

usage: test_report.py LORAC MODEL_DIR WORK_DIR
"""
import html.parser
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

FAILED = []
SPECIAL = "Tom & \"Sue\" <b>met</b> 'Zoë' — naïve café ☃ </div><script>x</script>"


def check(cond, msg):
    print(("ok   " if cond else "FAIL ") + msg)
    if not cond:
        FAILED.append(msg)


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Dom(html.parser.HTMLParser):
    """Polylines (attributes) and the text of elements with a given class."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.polylines, self.texts, self.stack, self.scripts, self.links = [], {}, [], 0, []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "polyline":
            self.polylines.append(a)
        if tag == "script":
            self.scripts += 1
        for k in ("href", "src"):
            if k in a:
                self.links.append(a[k])
        if tag not in ("polyline", "line", "rect", "circle", "meta", "br", "img", "link", "path"):
            self.stack.append((tag, (a.get("class") or "").split()))

    def handle_endtag(self, tag):
        while self.stack:
            t, _ = self.stack.pop()
            if t == tag:
                break

    def handle_data(self, data):
        for _, classes in self.stack:
            for c in classes:
                self.texts.setdefault(c, []).append(data)


def parse(text):
    d = Dom()
    d.feed(text)
    return d


def render(chromium, page, shot, work):
    """Load page in headless chromium: (dumped DOM, console lines, returncode)."""
    prof = os.path.join(work, "chromium-profile")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + prof,
            "--enable-logging=stderr", "--v=0", "--allow-file-access-from-files"]
    url = "file://" + os.path.abspath(page)
    p = subprocess.run(base + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    console = [l for l in p.stderr.splitlines() if ":CONSOLE" in l]
    if shot:
        q = subprocess.run(base + ["--hide-scrollbars", "--window-size=1280,2200", "--screenshot=" + shot, url],
                           capture_output=True, text=True, timeout=120)
        check(q.returncode == 0 and os.path.exists(shot) and os.path.getsize(shot) > 20000
              and open(shot, "rb").read(8) == b"\x89PNG\r\n\x1a\n",
              f"screenshot {shot} written ({os.path.getsize(shot) if os.path.exists(shot) else 0} bytes)")
        console += [l for l in q.stderr.splitlines() if ":CONSOLE" in l]
    return p.stdout, console, p.returncode


def check_page(chromium, page, shot, work, what):
    raw = open(page, encoding="utf-8").read()
    src = parse(raw)
    check(src.scripts == 0, f"{what}: no <script>")
    external = [l for l in src.links if re.match(r"^\s*([a-z][a-z0-9+.-]*:|//)", l, re.I)]
    check(not external and not re.search(r"url\(|@import", raw), f"{what}: references nothing outside itself {external}")
    dom, console, rc = render(chromium, page, shot, work)
    check(rc == 0 and "</html>" in dom, f"{what}: chromium loaded it (rc {rc}, {len(dom)} bytes of DOM)")
    check(not console, f"{what}: no console messages {console[:3]}")
    return parse(dom), dom


def points(poly):
    return len(poly.get("points", "").split())


def polys(dom, cls):
    return [p for p in dom.polylines if cls in (p.get("class") or "").split()]


def metrics_steps(run):
    train, valid = {}, {}
    for line in open(os.path.join(run, "metrics.jsonl")):
        o = json.loads(line)
        if o.get("loss") is not None:
            train[o["step"]] = o["loss"]
        if o.get("valid_loss") is not None:
            valid[o["step"]] = o["valid_loss"]
    return train, valid


def make_data(work):
    names = ["Lily", "Tom", "Sue", "Ben", "Max", "Anna", "Tim", "Mia"]
    things = ["ball", "cat", "dog", "tree", "cake", "car", "hat", "box"]
    rows = [{"prompt": f"What did {names[i % 8]} find?", "completion": f" {names[i % 8]} found a {things[(3 * i) % 8]}."}
            for i in range(24)]
    rows[20] = {"prompt": SPECIAL, "completion": " A <cat> & a \"dog\" — ünïcode."}
    files = {"train & <b>.jsonl": rows[:16], "valid 'é'.jsonl": rows[16:20], "test.jsonl": rows[20:24]}
    for name, part in files.items():
        with open(os.path.join(work, name), "w", encoding="utf-8") as f:
            for r in part:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main():
    lorac, model, work = sys.argv[1:4]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    chromium = find_chromium()
    check(chromium is not None, "chromium is installed (apt-get install chromium; scripts/setup.sh does)")
    if not chromium:
        return
    # the console check can fail: a control page that logs an error
    ctl = os.path.join(work, "control.html")
    with open(ctl, "w") as f:
        f.write("<!DOCTYPE html><html><body><script>console.error('control')</script></body></html>")
    _, console, _ = render(chromium, ctl, None, work)
    check(any("control" in l for l in console), "console check sees console.error on a control page")

    make_data(work)
    cfg = os.path.join(work, "cfg.yaml")
    run = os.path.join(work, "run")
    with open(cfg, "w", encoding="utf-8") as f:
        f.write(f"model: {model}\ndata: \"{work}/train & <b>.jsonl\"\nvalid_data: \"{work}/valid 'é'.jsonl\"\n"
                f"test_data: {work}/test.jsonl\n"
                "r: 4\nalpha: 8\ntarget_modules: all-linear\nbatch_size: 4\nmax_steps: 300\nlr: 3e-3\n"
                "lr_schedule: cosine\nwarmup_steps: 5\n"
                f"eval_every: 3\nsave_every: 4\nlog_every: 1\nseed: 3\nthreads: 1\nout_dir: {run}\n")

    # A. stopped, then resumed
    p = subprocess.Popen([lorac, "train", "--config", cfg, "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    t0 = time.time()
    while time.time() - t0 < 60 and p.poll() is None and not os.path.exists(os.path.join(run, "checkpoint-4.h5")):
        time.sleep(0.005)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    check(p.returncode == 130, f"train stopped by SIGINT (rc {p.returncode}) {err[-300:]}")
    page = os.path.join(run, "report.html")
    check(os.path.exists(page), "a stopped run has report.html")
    train, valid = metrics_steps(run)
    last = max(train) if train else 0
    check(0 < last < 300, f"stopped at step {last}")
    dom, text = check_page(chromium, page, None, work, "stopped train report")
    check("stopped" in text and "--resume" in text and f"at step {last}" in text,
          "stopped report says where it stopped and how to continue")
    tl = polys(dom, "train-loss")
    check(len(tl) == 1 and points(tl[0]) == len(train) == int(tl[0].get("data-points", -1)),
          f"stopped report: train-loss polyline has the {len(train)} logged steps")

    p = subprocess.run([lorac, "train", "--resume", run, "--quiet"], capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"resumed run finishes {p.stderr[-300:]}")
    train, valid = metrics_steps(run)
    check(sorted(train) == list(range(1, 301)), "metrics.jsonl holds steps 1..300 once each after the resume")
    dom, text = check_page(chromium, page, os.path.join(work, "train-report.png"), work, "train report")
    check("finished" in text and "stopped" not in text, "resumed report says finished")
    tl, vl, lr = polys(dom, "train-loss"), polys(dom, "valid-loss"), polys(dom, "lr")
    check(len(tl) == 1 and points(tl[0]) == 300 == int(tl[0].get("data-points", -1)), "train-loss polyline: 300 points")
    check(len(lr) == 1 and points(lr[0]) == 300, "lr polyline: 300 points")
    check(len(vl) == 1 and points(vl[0]) == len(valid) == 101, f"valid-loss polyline: {len(valid)} points (0, 3, .. 300)")
    cfgtext = "".join(dom.texts.get("config", []))
    check(f"{work}/train & <b>.jsonl" in cfgtext and "valid 'é'.jsonl" in cfgtext,
          "config.yaml shown with its < & ' and non-ASCII text intact")
    check("frozen matmuls fp32" in "".join(dom.texts.get("compute", [])), "compute path shown")
    check("test loss" in text and 'class="eval"' in text, "held-out test loss table present")

    # B. eval report
    ev = os.path.join(run, "eval")  # inside the run: the run's report gains the answers
    p = subprocess.run([lorac, "eval", "--model", model, "--adapter", os.path.join(run, "adapter.h5"), "--data",
                        f"{work}/test.jsonl", "--max-new-tokens", "12", "--out", ev, "--quiet"],
                       capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"eval runs {p.stderr[-300:]}")
    dom, text = check_page(chromium, os.path.join(ev, "report.html"), os.path.join(work, "eval-report.png"), work,
                           "eval report")
    qs = dom.texts.get("q", [])
    check(any(SPECIAL in q for q in qs), "the prompt with < & \" ' and non-ASCII reads back exactly from the DOM")
    check(text.count('class="ex"') == 4, "4 examples shown")
    gens = [json.loads(l) for l in open(os.path.join(ev, "generations.jsonl"), encoding="utf-8")]
    cands = [c["name"] for c in json.load(open(os.path.join(ev, "eval.json")))["candidates"]]
    answer_texts = "".join(dom.texts.get("answer", []))
    check(len(cands) == 2 and all(g["answers"][c] in answer_texts for g in gens for c in cands),
          f"every answer of {cands} shown exactly")
    check(re.search(r"<th>token F1</th>", text) and re.search(r"<td>base</td>", text), "candidates table with F1")

    dom, text = check_page(chromium, page, None, work, "train report with its eval")
    check(text.count('class="ex"') == 4 and 'href="eval/report.html"' in text and "finished" in text,
          "the run's report now shows the 4 scored examples and links eval/report.html")
    tl = polys(dom, "train-loss")
    check(len(tl) == 1 and points(tl[0]) == 300, "... and still its 300-step train curve")

    # C. sweep report
    sw = os.path.join(work, "sweep")
    p = subprocess.run([lorac, "sweep", "--config", cfg, "--max_steps", "6", "--lr", "1e-3,1e-2", "--out", sw,
                        "--quiet"], capture_output=True, text=True, timeout=300)
    check(p.returncode == 0, f"sweep runs {p.stderr[-300:]}")
    dom, text = check_page(chromium, os.path.join(sw, "report.html"), os.path.join(work, "sweep-report.png"), work,
                           "sweep report")
    check(len(dom.polylines) == 4 and all(points(q) == 6 for q in dom.polylines[0::2]),
          f"sweep report: curves.svg inline with 2 train + 2 valid polylines ({len(dom.polylines)})")
    trials = sorted(d for d in os.listdir(sw) if d.startswith("trial-"))
    check(len(trials) == 2 and all(f'href="{t}/report.html"' in text for t in trials), "links to both trials")
    for t in trials:
        tp = os.path.join(sw, t, "report.html")
        check(os.path.exists(tp), f"{t}/report.html written")


if __name__ == "__main__":
    main()
    print(f"{len(FAILED)} check(s) failed" if FAILED else "all checks passed")
    sys.exit(1 if FAILED else 0)
