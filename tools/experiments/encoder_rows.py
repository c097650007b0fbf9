#!/usr/bin/env python3
"""RESULTS.md's per-cell table of an encoder plan (self-supervised.json, #17): encoder_rows.py RESULTS_JSONL

One row per results line in cell order: the kNN accuracy on the pre-training set before → after the defence, the
probe's ACC and ASR on the attack's downstream set (`attack_downstream`; for the clean encoder, every downstream set's
ACC), CTRL's kNN ASR (`knn_asr_before/after`), and the defence's compute time. A later line of the same cell index
replaces an earlier one (a changed setting gives a cell a new key; the runner keeps both lines).
"""
import json
import sys


def number(x):
    return "–" if x is None else f"{x:.2f}"


def pair(d, field):
    return f"{number(d.get(field + '_before'))} → {number(d.get(field + '_after'))}"


def downstreams(d):
    return sorted({k[len("acc_"):-len("_before")] for k in d if k.startswith("acc_") and k.endswith("_before")})


def main(results):
    with open(results) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    latest = {}
    for d in lines:
        latest[d["index"]] = d
    print("| cell | attack | defence | seed | kNN before → after | downstream | ACC before → after | ASR before → after "
          "| kNN ASR before → after | defence compute, min |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for index in sorted(latest):
        d = latest[index]
        sets = [d["attack_downstream"]] if d.get("attack_downstream") else downstreams(d)
        knn_asr = pair(d, "knn_asr") if "knn_asr_before" in d else ""
        minutes = d.get("defense_compute_seconds", 0) / 60
        for name in sets:
            asr = pair(d, f"asr_{name}") if d.get(f"asr_{name}_before") is not None else ""
            print(f"| {index} | {d['attack']} | {d['defense']} | {d['seed']} | {pair(d, 'knn')} | {name} | "
                  f"{pair(d, f'acc_{name}')} | {asr} | {knn_asr} | {minutes:.1f} |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
