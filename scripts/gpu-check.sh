#!/usr/bin/env bash
# The GPU check (issue 22, docs/pretrain.md "On GPUs"): one command on a CUDA machine without
# internet where torch is preinstalled. It installs the wheels carried in WHEELS (made here with
# `make gpu-wheels`) into WORK/site for this Python, then runs scripts/gpu_check.py under a global
# timeout and leaves one JSON report (REPORT, default WORK/gpu-check.json).
#
#   scripts/gpu-check.sh --wheels .gpu-wheels [--report $OUT/gpu-check.json] [--budget 480]
#   scripts/gpu-check.sh --dry-run            # the same steps at tiny size on the CPU (make test runs it)
#
# PYTHON picks the interpreter (default python3: the one that holds torch). Exit 0 when every step
# passed, 1 when one failed (the report says which and why), 2 on a usage error.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
WORK=gpu-check-out
WHEELS=""
REPORT=""
BUDGET=""
DRY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=--dry-run ;;
    --wheels) WHEELS=$2; shift ;;
    --work) WORK=$2; shift ;;
    --report) REPORT=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "gpu-check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ -z "$BUDGET" ]; then
  if [ -n "$DRY" ]; then BUDGET=400; else BUDGET=480; fi
fi

rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
REPORT=${REPORT:-$WORK/gpu-check.json}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
ARGS=(--work "$WORK/run" --report "$REPORT" --budget "$BUDGET" $DRY)
if [ -n "$WHEELS" ]; then
  # only the wheels this Python lacks; its own torch, numpy, transformers, ... stay
  start=$(date +%s)
  "$PY" scripts/gpu_wheels.py install "$WHEELS" "$WORK/site" > "$WORK/install.json" \
    || { echo "gpu-check.sh: installing the wheels of $WHEELS failed" >&2; exit 1; }
  echo "installed the carried wheels in $(( $(date +%s) - start )) s" >&2
  export PYTHONPATH="$WORK/site:$PYTHONPATH"
  ARGS+=(--install-report "$WORK/install.json")
fi
# the driver keeps to BUDGET by itself; this is the backstop
exec timeout --kill-after=20 $(( ${BUDGET%.*} + 60 )) "$PY" scripts/gpu_check.py "${ARGS[@]}"
