#!/usr/bin/env bash
# Benchmarks for BENCHMARKS.md, run on an otherwise idle machine, OPENBLAS_CORETYPE unset.
# CIFAR=DIR (a CIFAR-10 binary folder) adds the airnet recipe-epoch comparison.
set -uo pipefail
cd "$(dirname "$0")/.."
C=src/Circumvent.Cli/bin/Release/net10.0/circumvent
export -n OPENBLAS_CORETYPE; unset OPENBLAS_CORETYPE
run() { echo "\$ $*"; "$@" 2>&1; echo; }
uptime
run $C bench --arch cnn-small --steps 20 --compare-pytorch
run $C bench --arch preact-resnet18 --steps 5 --compare-pytorch
run $C bench curve --arch cnn-small --compare-pytorch
run $C bench curve --arch preact-resnet18 --compare-pytorch
run $C bench --arch cnn-small --width 0.5 --steps 20 --compare-pytorch
run $C bench curve --arch cnn-small --width 0.5 --compare-pytorch
run $C bench gemm --compare-pytorch
run env CIRCUMVENT_GEMM=managed $C bench gemm --sizes 1024,2048
run env CIRCUMVENT_CONV_ALGORITHM=direct $C bench --arch preact-resnet18 --steps 5
# Like for like: our direct convolutions (the algorithm PyTorch's CPU backend runs) against PyTorch, same run.
run env CIRCUMVENT_CONV_ALGORITHM=direct $C bench --arch cnn-small --steps 20 --compare-pytorch
run env CIRCUMVENT_CONV_ALGORITHM=direct $C bench --arch preact-resnet18 --steps 5 --compare-pytorch
# airnet with airbench's recipe: one epoch, ours against PyTorch's, alternating (needs CIFAR-10; CIFAR=folder).
if [ -n "${CIFAR:-}" ]; then
  run env CIRCUMVENT=$C bench/recipe-epoch.sh "$CIFAR" 1 5120 1024 3
  run env CIRCUMVENT=$C CIRCUMVENT_CONV_ALGORITHM=direct bench/recipe-epoch.sh "$CIFAR" 1 5120 1024 2
fi
run $C bench --arch cnn-small --steps 10 --profile
run $C bench --arch preact-resnet18 --steps 3 --profile
uptime
