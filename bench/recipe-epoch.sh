#!/bin/sh
# One airnet epoch with airbench's recipe, ours (`circumvent train --recipe airbench`, on CIFAR-10) against
# PyTorch's (bench/pytorch_bench.py --recipe-epoch, the same network and recipe on random images), alternating
# ROUNDS times in one run so both see the same machine load. Usage:
#   bench/recipe-epoch.sh CIFAR10_DIR [WIDTH=1] [IMAGES=5120] [BATCH=1024] [ROUNDS=2]
# Our time is the epoch's images/second as `train` reports it (data loading and augmentation included, test
# evaluation not); the rest of `train` (loading, whitening, evaluation) is outside the epoch on both sides.
set -eu
cifar=$1; width=${2:-1}; images=${3:-5120}; batch=${4:-1024}; rounds=${5:-2}
here=$(cd "$(dirname "$0")" && pwd)
circumvent=${CIRCUMVENT:-circumvent}
python=${PYTHON:-/usr/bin/python3}
out=$(mktemp -d)
for round in $(seq "$rounds"); do
    "$circumvent" train --arch airnet --recipe airbench --width "$width" --limit-train "$images" --epochs 1 --batch-size "$batch" \
        --tta 0 --data "cifar10:$cifar" --out "$out/m$round.safetensors" > "$out/ours$round.log" 2>&1
    ours=$(grep -o 'epoch 1/1 batch [0-9]*/[0-9]* .* \([0-9]*\) img/s' "$out/ours$round.log" | tail -1 | sed 's/.* \([0-9]*\) img\/s/\1/')
    theirs=$("$python" "$here/pytorch_bench.py" --recipe-epoch --arch airnet --width "$width" --images "$images" --batch-size "$batch" --threads 2 --json \
        | "$python" -c 'import json,sys; print(round(json.load(sys.stdin)["recipe_images_per_sec"], 1))')
    echo "round $round: circumvent $ours img/s, pytorch $theirs img/s (airnet width $width, $images images, batch $batch)"
done
rm -rf "$out"
