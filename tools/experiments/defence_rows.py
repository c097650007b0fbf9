#!/usr/bin/env python3
"""RESULTS.md's per-cell table of a defences plan: defence_rows.py RESULTS_JSONL [FINDINGS_JSONL]

One row per results line (the runner's fields: ACC and ASR before and after the defence, `p_asr` after the
retuning attack, `retune.acc`, QRA's `qra.asr` on the defended model and `qra.clean_model_asr` on the recipe's clean
model when the plan ran QRA, `defense_compute_seconds`) in cell order, and a last column with what the
defence found (`findings`, recorded from build d9cc3dd on): Neural Cleanse's flagged classes and smallest
anomaly index, ANP's threshold and pruned neurons, I-BAU's perturbation norms, PAM's detected target.
FINDINGS_JSONL holds {"key": CELL_KEY, "findings": {...}} lines for cells whose line has none (read back
from their run folders, e.g. an NC cell's anomaly.json).
"""
import json
import sys


def number(x):
    return "" if x is None else f"{x:.2f}"


def found(findings):
    parts = []
    if nc := findings.get("neural_cleanse"):
        flagged = ", ".join(map(str, nc["flagged"])) or "none"
        index = nc.get("min_anomaly_index")
        parts.append(f"NC flagged {flagged}" + ("" if index is None else f" (anomaly index {index:.2f})"))
    if anp := findings.get("anp"):
        threshold = anp.get("threshold")
        parts.append(f"ANP pruned {anp['pruned']} of {anp['neurons']}" + ("" if threshold is None else f" at ≤{threshold:g}"))
    if ibau := findings.get("i-bau"):
        parts.append("I-BAU ‖δ‖ " + ", ".join(f"{v:.1f}" for v in ibau["perturbation_l2_per_round"]))
    if pam := findings.get("pam"):
        parts.append(f"PAM target {pam['detected_target']}")
    return "; ".join(parts)


def main(results, extra=None):
    with open(results) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    more = {}
    if extra:
        with open(extra) as f:
            more = {d["key"]: d["findings"] for d in map(json.loads, f) if d}
    for d in sorted(rows, key=lambda d: d["index"]):
        retune = d.get("retune") or {}
        findings = d.get("findings") or more.get(d["key"]) or {}
        qra = d.get("qra")
        q_asr = "" if qra is None else f"{number(qra.get('asr'))} ({number(qra.get('clean_model_asr'))}) | "
        print(f"| {d['index']} | {d['attack']} {d['poison_rate'] * 100:g}% | {d['defense']} | {d['seed']} | "
              f"{number(d['acc_before'])} → {number(d['acc_after'])} | {number(d['asr_before'])} → {number(d['asr_after'])} | "
              f"**{number(d.get('p_asr'))}** | {number(retune.get('acc'))} | {q_asr}{d.get('defense_compute_seconds', 0) / 60:.1f} | {found(findings)} |")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(*sys.argv[1:])
