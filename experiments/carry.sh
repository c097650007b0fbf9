#!/usr/bin/env bash
# Carries an experiment run's unfinished work to the next machine through the repository.
#
# Our sessions run on machines that keep nothing but the git checkout: a plan that needs more
# than one session would start over each time. The runner already resumes from its out folder
# (results.jsonl, cached models and their training states, the defences' run folders); this copies
# the part of that folder a later run needs into experiments/results/in-progress/NAME/, to be
# committed, and copies it back on the next machine. Stop the run first (SIGTERM or Ctrl-C: the
# runner saves its states); a state written while copying could be torn.
#
#   experiments/carry.sh save NAME OUT [FILE...]   copy OUT (and the given files, by absolute path)
#   experiments/carry.sh restore NAME OUT          copy back into OUT (and the files to their paths)
#
# The carry is a plain folder (NAME/out mirrors OUT, NAME/files/ABSOLUTE/PATH holds each FILE), not
# an archive, so that git stores a file that did not change between two saves (a finished model, the
# encoder a plan starts from) once: a repacked archive is a new blob of its whole size every time.
# Git compresses what it stores, so packing here would gain nothing. A save replaces the folder
# whole, so a file the run no longer has does not linger.
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
carried="$here/results/in-progress/$name"

case $verb in
save)
  [ -d "$out" ] || { echo "carry: out folder '$out' not found" >&2; exit 2; }
  for file in "$@"; do
    [ -f "$file" ] || { echo "carry: file '$file' not found" >&2; exit 2; }
  done
  mkdir -p "$(dirname "$carried")"
  # Built beside the carry (same file system) and swapped in by rename, so a failed save leaves
  # the previous carry as it was.
  stage=$(mktemp -d "$carried.saving.XXXXXX")
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/out" "$stage/files"
  excludes=(--exclude='*.lock')
  if [ -d "$out/runs" ]; then
    for run in "$out"/runs/*/; do
      [ -f "$run/purified.safetensors" ] && excludes+=(--exclude="./runs/$(basename "$run")")
    done
  fi
  tar -C "$out" "${excludes[@]}" -cf - . | tar -C "$stage/out" -xf -
  for file in "$@"; do
    abs=$(realpath -s "$file")
    mkdir -p "$stage/files$(dirname "$abs")"
    cp -p "$abs" "$stage/files$abs"
  done
  chmod 755 "$stage"
  rm -rf "$carried.old"
  [ -e "$carried" ] && mv "$carried" "$carried.old"
  mv "$stage" "$carried"
  rm -rf "$carried.old"
  echo "carry: $carried ($(du -sh "$carried" | cut -f1)) from $out${*:+ and $#} ${*:+file(s)}"
  ;;
restore)
  [ -d "$carried/out" ] || { echo "carry: no carried folder '$carried'" >&2; exit 2; }
  mkdir -p "$out"
  cp -a "$carried/out/." "$out/"
  if [ -d "$carried/files" ] && [ -n "$(ls -A "$carried/files")" ]; then cp -a "$carried/files/." /; fi
  echo "carry: restored $carried into $out"
  ;;
*) usage ;;
esac
