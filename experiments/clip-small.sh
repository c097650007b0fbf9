#!/usr/bin/env bash
# CLIP-style TSC at a scale that runs on two cores (issue #21, RESULTS.md "CLIP-style TSC"):
# a small CLIP (cnn-small x0.5 image tower) pre-trained on CIFAR-10 with label-made captions, BadEncoder on its image
# tower (target truck = 9, the authors' 10x10 white patch at 21,21, three CIFAR-10 train trucks as references), then
# TSC and MCR with --objective clip on 5% clean data; every model scored zero-shot by `circumvent eval --json`.
#
#   experiments/clip-small.sh CIFAR10_DIR [OUT_DIR] [SEED]
#
# SEED (default 0) seeds the CLIP's initialisation and shuffling (pretrain --seed SEED), BadEncoder (--seed 100+SEED)
# and the defences' clean subset, permutations and curves (purify --seed SEED). Seed 0 is the development seed on which
# the TSC variant "3 rounds, curves at 5e-3" was first chosen; it left 30% on seed 1, so "5 rounds at 5e-3" was chosen on
# seeds 0-1 and tested on held-out seed 2. Seeds other than 0 run the authors' settings, both variants and MCR.
#
# Re-running resumes: a finished model is not trained again, a stopped one continues from its saved state
# (pretrain's OUT.train-state, purify's OUT.run folder). Results are appended to experiments/results/clip.jsonl
# (one line per model: acc, asr, command), once per model.
set -euo pipefail
DATA=${1:?usage: clip-small.sh CIFAR10_DIR [OUT_DIR]}
SEED=${3:-0}
OUT=${2:-experiments/models/clip}
[[ $SEED == 0 ]] || OUT=${2:-experiments/models/clip-seed$SEED}
BIN=${CIRCUMVENT:-circumvent}
RESULTS=experiments/results/clip.jsonl
mkdir -p "$OUT" "$(dirname "$RESULTS")"

step() { # step OUTPUT COMMAND... : runs the command unless OUTPUT exists, at low priority, with its time logged
  local output=$1; shift
  if [[ -f $output ]]; then echo "have $output"; return; fi
  echo "+ $*"
  local start=$SECONDS
  nice -n 10 "$@"
  echo "  took $((SECONDS - start)) s"
}

record() { # record NAME MODEL [ATTACK OPTIONS...] : zero-shot ACC/ASR of MODEL as one line of RESULTS (once per NAME and SEED)
  local name=$1 model=$2; shift 2
  if [[ -f $RESULTS ]] && jq -e --arg name "$name" --argjson seed "$SEED" 'select(.model == $name and .seed == $seed)' "$RESULTS" \
      | grep -q .; then return; fi
  local command="circumvent eval --model $model --data cifar10:$DATA --json $*"
  nice -n 10 "$BIN" eval --model "$model" --data "cifar10:$DATA" --json "$@" | tail -n 1 |
    jq -c --arg name "$name" --argjson seed "$SEED" --arg command "$command" --arg made "${MADE[$name]}" \
      '{model: $name, seed: $seed, acc, asr, made_by: $made, command: $command}' >> "$RESULTS"
  tail -n 1 "$RESULTS"
}

# Three CIFAR-10 train trucks (the first of data_batch_1) as BadEncoder's references, PPM files.
for k in 0 1 2; do
  [[ -f $OUT/truck$k.ppm ]] || python3 - "$DATA" "$OUT" <<'PY'
import sys
data, out = sys.argv[1], sys.argv[2]
raw = open(f"{data}/data_batch_1.bin", "rb").read()
trucks = [raw[i * 3073 + 1:(i + 1) * 3073] for i in range(len(raw) // 3073) if raw[i * 3073] == 9][:3]
for k, planes in enumerate(trucks):  # CHW planes -> HWC pixels
    pixels = bytes(planes[c * 1024 + p] for p in range(1024) for c in range(3))
    open(f"{out}/truck{k}.ppm", "wb").write(b"P6\n32 32\n255\n" + pixels)
PY
done

declare -A MADE
TRIGGER=(--attack badnet --patch-size 10 --patch-position 21,21 --target 9)

MADE[clean]="circumvent pretrain --method clip --arch cnn-small --width 0.5 --data cifar10:$DATA --epochs 10 --seed $SEED --out $OUT/clip-clean.safetensors"
step "$OUT/clip-clean.safetensors" $BIN pretrain --method clip --arch cnn-small --width 0.5 --data "cifar10:$DATA" --epochs 10 --seed "$SEED" --out "$OUT/clip-clean.safetensors"
record clean "$OUT/clip-clean.safetensors" "${TRIGGER[@]}"

MADE[badencoder]="circumvent pretrain --method badencoder --encoder $OUT/clip-clean.safetensors --reference $OUT/truck0.ppm --reference $OUT/truck1.ppm --reference $OUT/truck2.ppm --target 9 --data cifar10:$DATA --limit-train 5000 --batch-size 128 --epochs 10 --lr 0.01 --seed $((100 + SEED)) --out $OUT/clip-badencoder.safetensors"
step "$OUT/clip-badencoder.safetensors" $BIN pretrain --method badencoder --encoder "$OUT/clip-clean.safetensors" \
  --reference "$OUT/truck0.ppm" --reference "$OUT/truck1.ppm" --reference "$OUT/truck2.ppm" --target 9 \
  --data "cifar10:$DATA" --limit-train 5000 --batch-size 128 --epochs 10 --lr 0.01 --seed $((100 + SEED)) --out "$OUT/clip-badencoder.safetensors"
record badencoder "$OUT/clip-badencoder.safetensors"

for defense in tsc mcr; do
  MADE[$defense]="circumvent purify --model $OUT/clip-badencoder.safetensors --data cifar10:$DATA --objective clip --defense $defense --curve-epochs 20 --clean-fraction 0.05 --seed $SEED --out $OUT/clip-$defense.safetensors --report $OUT/clip-$defense.json"
  step "$OUT/clip-$defense.safetensors" $BIN purify --model "$OUT/clip-badencoder.safetensors" --data "cifar10:$DATA" --objective clip \
    --defense $defense --curve-epochs 20 --clean-fraction 0.05 --seed "$SEED" --out "$OUT/clip-$defense.safetensors" --report "$OUT/clip-$defense.json"
  record $defense "$OUT/clip-$defense.safetensors"
done

# Variants of TSC beyond the authors' CLIP settings: the curves at SimCLR's rate 5e-3, then also three rounds; one model line each.
# Five rounds is the rule chosen on seeds 0 and 1 (three left 30% on seed 1) and tested on held-out seed 2.
declare -A VARIANT=([tsc-curve-lr-5e-3]="--curve-lr 0.005" [tsc-curve-lr-5e-3-rounds-3]="--curve-lr 0.005 --rounds 3"
                    [tsc-curve-lr-5e-3-rounds-5]="--curve-lr 0.005 --rounds 5")
NAMES=(tsc-curve-lr-5e-3 tsc-curve-lr-5e-3-rounds-3 tsc-curve-lr-5e-3-rounds-5)
[[ $SEED == 0 ]] || NAMES=(tsc-curve-lr-5e-3-rounds-3 tsc-curve-lr-5e-3-rounds-5)
for name in "${NAMES[@]}"; do
  # shellcheck disable=SC2086 # the knobs are words
  MADE[$name]="circumvent purify --model $OUT/clip-badencoder.safetensors --data cifar10:$DATA --objective clip --defense tsc --curve-epochs 20 ${VARIANT[$name]} --clean-fraction 0.05 --seed $SEED --out $OUT/clip-$name.safetensors --report $OUT/clip-$name.json"
  # shellcheck disable=SC2086
  step "$OUT/clip-$name.safetensors" $BIN purify --model "$OUT/clip-badencoder.safetensors" --data "cifar10:$DATA" --objective clip \
    --defense tsc --curve-epochs 20 ${VARIANT[$name]} --clean-fraction 0.05 --seed "$SEED" --out "$OUT/clip-$name.safetensors" --report "$OUT/clip-$name.json"
  record $name "$OUT/clip-$name.safetensors"
done
