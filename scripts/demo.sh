#!/usr/bin/env bash
# The whole pipeline that exists so far, end to end on a real corpus present on every machine.
set -euo pipefail
OUT=${1:-demo-out}
BIN=.venv/bin
mkdir -p "$OUT"
$BIN/python scripts/demo_sources.py "$OUT/repos.txt"
echo "== dscoder crawl"
$BIN/dscoder crawl "$OUT/repos.txt" "$OUT/files" --shard-size 32 --workers 2
echo "== dscoder filter --rules starcoder"
$BIN/dscoder filter "$OUT/files" "$OUT/filtered" --rules starcoder --workers 2
echo "== dscoder topo-sort"
$BIN/dscoder topo-sort "$OUT/filtered" "$OUT/samples" --workers 2
echo "== dscoder status"
$BIN/dscoder status "$OUT/samples"
