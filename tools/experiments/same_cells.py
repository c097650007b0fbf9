#!/usr/bin/env python3
"""Whether two results files hold the same cells with the same numbers: same_cells.py A.jsonl B.jsonl

Made to check that two builds compute a plan's cells alike before a long plan switches build between
cells (experiments/builds-equivalence.yaml runs every defence of defences.json at small settings).
Compared: every field of every line of A against the line of the same cell key in B, except what is
expected to differ between two runs of one cell — times, where the model file is, how many units ran
now or were resumed, and `findings` (recorded from d9cc3dd on). Exit 1 when any line differs.
"""
import json
import sys

IGNORED = {"wall_time_seconds", "defense_compute_seconds", "finished_at", "findings", "units_run",
           "units_resumed", "seconds", "path"}


def lines(path):
    with open(path) as f:
        return {d["key"]: d for d in map(json.loads, f) if d}


def numbers(node):
    if isinstance(node, dict):
        return {k: numbers(v) for k, v in node.items() if k not in IGNORED and not k.endswith("_seconds")}
    if isinstance(node, list):
        return [numbers(v) for v in node]
    return node


def main(a_path, b_path):
    a, b = lines(a_path), lines(b_path)
    differ = 0
    for key, line in a.items():
        if key not in b:
            print(f"cell {key} ({line['defense']}) is not in {b_path}")
            differ += 1
            continue
        left, right = numbers(line), numbers(b[key])
        for field in sorted(set(left) | set(right)):
            if left.get(field) != right.get(field):
                print(f"cell {key} ({line['defense']}): {field}: {left.get(field)} vs {right.get(field)}")
                differ += 1
    print(f"{len(a)} cells compared, {differ} differences (times, places, findings aside)")
    return 1 if differ else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
