#!/usr/bin/env bash
# Carries an experiment run's unfinished work to the next machine through the repository.
#
# Our sessions run on machines that keep nothing but the git checkout: a plan that needs more
# than one session would start over each time. The runner already resumes from its out folder
# (results.jsonl, cached models and their training states, the defences' run folders); this packs
# the part of that folder a later run needs into experiments/results/in-progress/NAME.tar.gz, to be
# committed, and unpacks it on the next machine. Stop the run first (SIGTERM or Ctrl-C: the runner
# saves its states); a state written while packing could be torn.
#
#   experiments/carry.sh save NAME OUT [FILE...]   pack OUT (and the given files, by absolute path)
#   experiments/carry.sh restore NAME OUT          unpack into OUT (and the files to their paths)
#
# Left out: the run folder of every finished defence (one holding purified.safetensors; its numbers
# are in results.jsonl) and *.lock files. Cell and model keys do not depend on where the checkout is,
# so OUT may be another folder on the next machine; the FILEs go back to the paths they came from.
set -euo pipefail
usage() { echo "usage: $0 save NAME OUT [FILE...] | restore NAME OUT" >&2; exit 2; }
[ $# -ge 3 ] || usage
verb=$1 name=$2 out=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
archive="$here/results/in-progress/$name.tar.gz"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

case $verb in
save)
  [ -d "$out" ] || { echo "carry: out folder '$out' not found" >&2; exit 2; }
  mkdir -p "$stage/out" "$stage/files" "$(dirname "$archive")"
  excludes=(--exclude='*.lock')
  if [ -d "$out/runs" ]; then
    for run in "$out"/runs/*/; do
      [ -f "$run/purified.safetensors" ] && excludes+=(--exclude="./runs/$(basename "$run")")
    done
  fi
  tar -C "$out" "${excludes[@]}" -cf - . | tar -C "$stage/out" -xf -
  for file in "$@"; do
    [ -f "$file" ] || { echo "carry: file '$file' not found" >&2; exit 2; }
    abs=$(realpath -s "$file")
    mkdir -p "$stage/files$(dirname "$abs")"
    cp -p "$abs" "$stage/files$abs"
  done
  tar -C "$stage" -czf "$archive.tmp" out files
  mv "$archive.tmp" "$archive"
  echo "carry: $archive ($(du -h "$archive" | cut -f1)) from $out${*:+ and $#} ${*:+file(s)}"
  ;;
restore)
  [ -f "$archive" ] || { echo "carry: no archive '$archive'" >&2; exit 2; }
  tar -C "$stage" -xzf "$archive"
  mkdir -p "$out"
  cp -a "$stage/out/." "$out/"
  if [ -n "$(ls -A "$stage/files")" ]; then cp -a "$stage/files/." /; fi
  echo "carry: restored $archive into $out"
  ;;
*) usage ;;
esac
