#!/usr/bin/env bash
# The retuning attack's references on clean models for the defences table (issue #18, RESULTS.md "The retuning attack on
# clean models"): a clean cnn-small x0.5 of experiments/defences.json's recipe (15 epochs, SGD 0.05, one warm-up epoch,
# cosine, weight decay 5e-4, crop + flip) per seed, then `purify --defense none --retune` with each attack of the plan's
# trigger (the adaptive attack's trigger is BadNet's): RA's 1,000 training images with 5 of them poisoned, 5 epochs, and
# its ASR (P-ASR) on a model that never saw the backdoor.
#
#   experiments/ra-clean-references.sh CIFAR10_DIR TRIGGERS_DIR [OUT_DIR]
#
# TRIGGERS_DIR holds hello_kitty.ppm and lf_cifar10_preactresnet18.npy (../shared/data/triggers). Re-running skips what
# is finished (a stopped training continues from OUT.train-state). One line per report is appended to
# experiments/results/defences-ra-clean.jsonl.
set -euo pipefail
DATA=${1:?usage: ra-clean-references.sh CIFAR10_DIR TRIGGERS_DIR [OUT_DIR]}
T=${2:?usage: ra-clean-references.sh CIFAR10_DIR TRIGGERS_DIR [OUT_DIR]}
OUT=${3:-experiments/models/ra-clean}
C=${CIRCUMVENT:-src/Circumvent.Cli/bin/Release/net10.0/circumvent}
RESULTS=experiments/results/defences-ra-clean.jsonl
mkdir -p "$OUT"
for s in 0 1; do
  clean="$OUT/clean-seed$s.safetensors"
  [ -f "$clean" ] || "$C" train --arch cnn-small --width 0.5 --data "cifar10:$DATA" --epochs 15 --batch-size 128 --lr 0.05 \
    --warmup-epochs 1 --weight-decay 0.0005 --schedule cosine --seed "$s" --out "$clean"
  for a in "badnet" "blended --trigger-image $T/hello_kitty.ppm --alpha 0.2" "sig" "wanet" "lf --trigger-image $T/lf_cifar10_preactresnet18.npy"; do
    name=${a%% *}
    report="$OUT/ra-$name-s$s.json"
    [ -f "$report" ] && continue
    # shellcheck disable=SC2086 # $a is the attack and its options, split on purpose
    "$C" purify --model "$clean" --data "cifar10:$DATA" --defense none --retune --attack $a --target 0 --seed "$s" \
      --out "$OUT/ra-$name-s$s.safetensors" --report "$report"
    python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))))' "$report" >> "$RESULTS"
  done
done
