#!/usr/bin/env python3
"""make_demo_data.py — build lorac's built-in demo dataset (data/demo/*.jsonl).

The data is a fictional product-support knowledge base for "Lumen", a made-up
brand of smart desk lamps. Everything below was written by hand for lorac: 20
short facts, each with one canonical answer and eight differently worded
customer questions. Nothing is derived from ../shared or the web.

    python3 scripts/make_demo_data.py            # (re)write data/demo/{train,valid,test}.jsonl
    python3 scripts/make_demo_data.py --check    # exit 1 if the committed files differ

The facts come in groups of neighbours that are easy to mix up: the light
output of the four models, four error codes, three "only this model has it"
features, warranty against Lumen Care, shipping against returns. Many
questions name or contrast a neighbour ("Is the Mini as bright as the Arc?",
"Can the mini charge my phone"), so the model has to learn which fact a
question is about, not only the answers' wording.

Split (deterministic, no RNG for the split itself): each fact is marked
"valid", "test" or "train"; a valid/test fact lends its LAST question to that
file and trains on the other seven, a train fact trains on all eight. So every
held-out question asks about a fact that train states in seven other
phrasings. Train rows are then shuffled with a fixed seed
(random.Random(20240), whose shuffle is stable across CPython 3 versions) so a
loader that keeps file order does not see one fact eight times in a row.
Standard library only.
"""
import argparse
import json
import os
import random
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, "data", "demo")
SHUFFLE_SEED = 20240
MAX_ANSWER_WORDS = 25
N_QUESTIONS = 8

# Each fact: (key, split, answer, [8 questions]). split is where the fact's last
# question goes ("train" keeps all eight in train.jsonl).
FACTS = [
    # ------------------------------------------------ light output of the four models
    ("mini_light", "train",
     "The Lumen Mini (LM-100) gives 350 lumens at 6 W and runs on its built-in battery.",
     ["How bright is the Lumen Mini?",
      "What's the wattage of the Mini?",
      "How many lumens does the LM-100 give?",
      "lumen mini brightness",
      "Is the Mini as bright as the Arc?",
      "What are the light output and power of the Lumen Mini?",
      "how many watts does the small lumen lamp use",
      "Tell me the lumens of the Mini model."]),
    ("arc_light", "valid",
     "The Lumen Arc (LA-200) gives 600 lumens at 10 W and runs from its 12 V adapter.",
     ["How bright is the Lumen Arc?",
      "How many lumens does the LA-200 give?",
      "What's the wattage of the Arc?",
      "lumen arc brightness",
      "Not the Pro, the regular Arc: how bright is it?",
      "What power supply does the Lumen Arc use?",
      "how many watts is the standard arc",
      "What is the light output of the basic Arc model?"]),
    ("arcpro_light", "test",
     "The Lumen Arc Pro (LA-300) gives 900 lumens at 14 W, the most of any Lumen lamp.",
     ["How bright is the Lumen Arc Pro?",
      "How many lumens does the LA-300 give?",
      "What's the wattage of the Arc Pro?",
      "arc pro brightness",
      "Which Lumen lamp is the brightest?",
      "Is the Arc Pro brighter than the Halo?",
      "how many watts does the arc pro draw",
      "I need lots of light. How many lumens can the Arc Pro put out?"]),
    ("halo_light", "train",
     "The Lumen Halo (LH-400) is an 18 cm ring light giving 800 lumens at 12 W.",
     ["How bright is the Lumen Halo?",
      "How many lumens does the LH-400 give?",
      "What's the wattage of the Halo?",
      "halo brightness",
      "How big is the Halo ring?",
      "Is the Halo brighter than the Arc?",
      "what is the lumen halo",
      "Tell me the size and output of the Halo ring light."]),
    # ------------------------------------------------ features only one model has
    ("battery", "test",
     "Only the Lumen Mini has a battery: about 5 hours at full brightness. The Arc, Arc Pro "
     "and Halo need mains power.",
     ["Which Lumen lamps have a battery?",
      "How long does the Lumen Mini battery last?",
      "Does the Arc have a battery?",
      "mini battery life",
      "Can I use the Arc Pro without plugging it in?",
      "How many hours does the LM-100 run on a charge?",
      "does the halo run on batteries",
      "I want a lamp I can carry around unplugged. Which model works cordless?"]),
    ("connectivity", "valid",
     "Only the Lumen Mini has no Wi-Fi: it connects by Bluetooth. The Arc, Arc Pro and Halo "
     "have 2.4 GHz Wi-Fi.",
     ["Which Lumen lamps have Wi-Fi?",
      "Does the Lumen Mini have Wi-Fi?",
      "Can I connect my Arc to Wi-Fi?",
      "does the halo have wifi",
      "Is the Mini Bluetooth only?",
      "What wireless connection does the Arc Pro use?",
      "which lumen lamp cant go on my home network",
      "Will the Mini join my Wi-Fi like the Arc does?"]),
    ("qi_pad", "test",
     "Only the Lumen Arc Pro has a Qi pad, in its base. It charges phones at up to 10 W.",
     ["Which Lumen lamp can charge my phone?",
      "Does the Arc Pro have wireless charging?",
      "How fast is the Qi pad on the LA-300?",
      "qi charger lumen",
      "Does the Halo have a phone charger?",
      "Where is the wireless charging pad on the Arc Pro?",
      "can the mini charge my phone",
      "Can the regular Arc charge my phone wirelessly too?"]),
    ("halo_webcam", "valid",
     "The Lumen Halo has a 1/4-inch screw on top for a webcam of up to 300 g.",
     ["Can I mount a webcam on the Lumen Halo?",
      "What is the screw on top of the Halo for?",
      "How heavy a camera can the Halo hold?",
      "halo webcam mount",
      "Does the LH-400 have a camera thread?",
      "Is the Halo good for video calls with my webcam on it?",
      "weight limit for the halo mounting screw",
      "Where do I attach my webcam on the ring light?"]),
    # ------------------------------------------------ error codes (the status light blinks red N times)
    ("err_e1", "train",
     "E1 means the supply voltage is too low. Use the original Lumen adapter in a wall socket.",
     ["What does error E1 mean?",
      "My lamp shows E1.",
      "e1 error lumen",
      "I'm getting error code 1 on my Arc.",
      "The status light blinks red once and pauses. What's wrong?",
      "Why does my Halo say E1 when plugged into a USB hub?",
      "What should I do about error 1?",
      "E1 on the app, what now"]),
    ("err_e3", "test",
     "E3 means the lamp cannot reach the Lumen cloud. Check your internet; the touch panel "
     "still works.",
     ["What does error E3 mean?",
      "My lamp shows E3. Can I still use it?",
      "e3 error lumen",
      "I'm getting error code 3 on my Halo.",
      "The status light blinks red three times. What's wrong?",
      "lumen says e3, is the cloud down?",
      "What should I do about error 3?",
      "E3 keeps appearing on my Arc Pro, what does it mean?"]),
    ("err_e6", "valid",
     "E6 means the firmware download failed its checksum. Keep the lamp plugged in and update "
     "again.",
     ["What does error E6 mean?",
      "My update failed with E6.",
      "e6 error lumen",
      "I'm getting error code 6 on my Arc.",
      "The status light blinks red six times. What's wrong?",
      "E6 after a firmware update, what now?",
      "What should I do about error 6?",
      "Why did the update stop with E6 on my Halo?"]),
    ("err_e7", "test",
     "E7 means the LED driver overheated. Unplug the lamp for 10 minutes and keep the vents "
     "clear.",
     ["What does error E7 mean?",
      "My lamp turned off and shows E7.",
      "e7 error lumen",
      "I'm getting error code 7 on my Arc Pro.",
      "The status light blinks red seven times. What's wrong?",
      "lamp got hot and says e7",
      "What should I do about error 7?",
      "How do I fix E7 on my Halo?"]),
    # ------------------------------------------------ app and firmware
    ("fw_update", "train",
     "In the Lumen Home app, open Settings > Firmware > Check for updates. An update takes "
     "about 6 minutes.",
     ["How do I update my lamp's firmware?",
      "Where is the firmware update in the Lumen Home app?",
      "How long does a firmware update take?",
      "update firmware lumen arc",
      "How do I install the newest firmware on my Halo?",
      "Is there a new software version for my lamp, and how do I get it?",
      "firmware update steps",
      "Can I check for lamp updates in the app?"]),
    ("pairing", "test",
     "Hold the power button for 5 seconds until the light blinks green, then tap Add lamp in "
     "the Lumen Home app.",
     ["How do I pair my lamp with the app?",
      "How do I add a new lamp to the Lumen Home app?",
      "how do i put the lamp in pairing mode",
      "What's the setup process for a new Arc?",
      "How do I connect my lamp to my phone?",
      "pairing lumen halo",
      "How long do I hold the power button to pair?",
      "I just unboxed my Arc Pro. How do I get it into the app?"]),
    # ------------------------------------------------ warranty
    ("warranty", "valid",
     "Lumen lamps have a 2-year warranty from delivery. The Mini's battery is covered for 1 "
     "year.",
     ["How long is the warranty on Lumen lamps?",
      "Is the Mini's battery under warranty?",
      "When does my warranty start?",
      "warranty period lumen",
      "How many years is the Arc covered?",
      "What's the standard guarantee on a Lumen lamp?",
      "is the mini battery covered as long as the lamp",
      "My Halo is 18 months old. Is it still under warranty?"]),
    ("lumen_care", "test",
     "Lumen Care extends the warranty to 5 years. It costs $19 for the Mini and $29 for "
     "other models.",
     ["What is Lumen Care?",
      "How much does the extended warranty cost?",
      "Can I extend my warranty?",
      "lumen care price",
      "How long does the warranty last with Lumen Care?",
      "Is Lumen Care cheaper for the Mini?",
      "what does lumen care cost for the arc pro",
      "I'd like 5 years of cover on my Halo. How much is that?"]),
    # ------------------------------------------------ shipping and returns
    ("returns", "valid",
     "You can return a lamp within 30 days of delivery for a full refund. Return shipping is "
     "free.",
     ["What is your return policy?",
      "Can I return a lamp I've already used?",
      "How many days do I have to return my lamp?",
      "do i pay for return shipping",
      "I don't like my Halo. Can I send it back?",
      "return lumen lamp",
      "Is there a money-back period?",
      "Bought an Arc three weeks ago and changed my mind. Can I still get a refund?"]),
    ("shipping", "test",
     "Standard shipping is free and takes 3 to 6 business days. Express costs $12 and takes "
     "1 to 2 days.",
     ["What shipping options are there?",
      "How much is express shipping?",
      "How long does standard delivery take?",
      "is shipping free",
      "Can I get my lamp faster?",
      "shipping cost lumen",
      "How many days does express delivery take?",
      "How long will standard shipping take, and is there a faster option?"]),
    ("countries", "valid",
     "Lumen ships to the United States, Canada, the United Kingdom and the European Union "
     "only.",
     ["Which countries do you ship to?",
      "Do you ship to Australia?",
      "Can I order a Lumen lamp from Germany?",
      "do you deliver to canada",
      "Is international shipping available?",
      "Can I buy from Japan?",
      "where does lumen deliver",
      "I live in Brazil. Can you send me a lamp?"]),
    # ------------------------------------------------ safety
    ("indoor", "valid",
     "Lumen lamps are for dry indoor use only (IP20): not in bathrooms and not outdoors.",
     ["Can I use a Lumen lamp outside?",
      "Is the lamp safe in a bathroom?",
      "What is the IP rating of Lumen lamps?",
      "is the arc waterproof",
      "Can I put my Halo on the balcony?",
      "Can the Mini go in the garden?",
      "lumen lamp in the shower room",
      "Is the Arc Pro OK on my patio table?"]),
]


def split_rows():
    """Return (train, valid, test) lists of {"prompt", "completion"} dicts."""
    train, valid, test = [], [], []
    for _key, split, answer, questions in FACTS:
        held = {"valid": valid, "test": test}.get(split)
        for j, q in enumerate(questions):
            row = {"prompt": q, "completion": answer}
            (held if held is not None and j == len(questions) - 1 else train).append(row)
    random.Random(SHUFFLE_SEED).shuffle(train)
    return train, valid, test


def validate():
    """Check the hand-written table; raise ValueError naming the fact on a problem."""
    keys, seen = set(), {}
    for i, fact in enumerate(FACTS):
        if len(fact) != 4:
            raise ValueError("fact %d: expected (key, split, answer, questions)" % i)
        key, split, answer, questions = fact
        if key in keys:
            raise ValueError("fact %s: duplicate key" % key)
        keys.add(key)
        if split not in ("train", "valid", "test"):
            raise ValueError("fact %s: split %r, expected train, valid or test" % (key, split))
        n_words = len(answer.split())
        if n_words > MAX_ANSWER_WORDS:
            raise ValueError("fact %s: answer has %d words, expected <= %d"
                             % (key, n_words, MAX_ANSWER_WORDS))
        if len(questions) != N_QUESTIONS:
            raise ValueError("fact %s: expected %d questions, found %d"
                             % (key, N_QUESTIONS, len(questions)))
        for q in questions:
            norm = " ".join(q.lower().replace("?", "").replace(".", "").split())
            if norm in seen:
                raise ValueError("fact %s: question %r duplicates one of fact %s"
                                 % (key, q, seen[norm]))
            seen[norm] = key
        for s in [answer] + questions:
            if s != s.strip() or "  " in s or "\n" in s:
                raise ValueError("fact %s: stray whitespace in %r" % (key, s))

def render(rows):
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=OUT_DIR, help="output directory (default data/demo)")
    ap.add_argument("--check", action="store_true",
                    help="compare with the files in --out instead of writing; exit 1 if they differ")
    args = ap.parse_args()

    validate()
    train, valid, test = split_rows()
    answers = {r["completion"] for r in train}
    for r in valid + test:  # held-out questions must be about facts train teaches
        if r["completion"] not in answers:
            raise ValueError("held-out question %r: its answer is not in train" % r["prompt"])
    files = {"train.jsonl": render(train), "valid.jsonl": render(valid), "test.jsonl": render(test)}

    if args.check:
        bad = 0
        for name, text in files.items():
            path = os.path.join(args.out, name)
            try:
                with open(path, encoding="utf-8") as f:
                    ok = f.read() == text
            except OSError as e:
                print("%s: cannot read: %s" % (path, e), file=sys.stderr)
                ok = False
            if not ok:
                print("%s: differs from what make_demo_data.py generates" % path, file=sys.stderr)
                bad += 1
        if bad:
            return 1
        print("data/demo is up to date: %d facts, train %d, valid %d, test %d"
              % (len(FACTS), len(train), len(valid), len(test)))
        return 0

    os.makedirs(args.out, exist_ok=True)
    for name, text in files.items():
        with open(os.path.join(args.out, name), "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    print("wrote %s: %d facts, train %d, valid %d, test %d"
          % (args.out, len(FACTS), len(train), len(valid), len(test)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
