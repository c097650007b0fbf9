#!/usr/bin/env python3
"""An ANP cell's pruning read back from its run folder: anp_readback.py RUN_FOLDER CELL_KEY [GRID_STEP GRID_MAX]

For ANP cells run by builds before d9cc3dd, which did not record the threshold they chose. The folder
(PLAN_OUT/runs/CELL/purified.safetensors.run) keeps the optimised masks (round1.neuron-masks.safetensors) and the pruned
model (round1.prune.safetensors), in which a pruned neuron's BN weight is 0. The pruned set is every neuron whose mask is
at most the threshold, so the threshold lies in [largest pruned mask, smallest kept mask); the grid values there
(0, 0.05, ..., 0.9 by default) are the candidates, and the defence takes the largest that qualifies. Prints one
defences-findings.jsonl line: {"key": ..., "findings": {"anp": {"pruned", "neurons", "threshold", ...}}}.
Needs only the standard library (safetensors is an 8-byte header length, a JSON header, raw little-endian data).
"""
import array
import json
import os
import struct
import sys


def read_f32(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    body = data[8 + length:]
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__" or entry["dtype"] != "F32":
            continue
        start, end = entry["data_offsets"]
        values = array.array("f")
        values.frombytes(body[start:end])
        if sys.byteorder != "little":
            values.byteswap()
        tensors[name] = list(values)
    return tensors


def main(folder, key, step="0.05", top="0.9"):
    masks = read_f32(os.path.join(folder, "round1.neuron-masks.safetensors"))
    model = read_f32(os.path.join(folder, "round1.prune.safetensors"))
    pruned, kept = [], []
    for name, values in masks.items():
        layer = name[: -len(".neuron_mask")]
        for mask, weight in zip(values, model[layer + ".weight"]):
            (pruned if weight == 0 else kept).append(mask)
    low = max(pruned, default=float("-inf"))
    high = min(kept, default=float("inf"))
    grid = [round(i * float(step), 10) for i in range(int(round(float(top) / float(step))) + 1)]
    candidates = [t for t in grid if low <= t < high]
    findings = {
        "pruned": len(pruned),
        "neurons": len(pruned) + len(kept),
        "threshold": max(candidates) if candidates else None,
        "threshold_interval": [low if pruned else None, high if kept else None],
        "read_back_from": "round1.neuron-masks.safetensors and round1.prune.safetensors",
    }
    print(json.dumps({"key": key, "findings": {"anp": findings}}, separators=(",", ":")))


if __name__ == "__main__":
    if len(sys.argv) not in (3, 5):
        sys.exit(__doc__)
    main(*sys.argv[1:])
