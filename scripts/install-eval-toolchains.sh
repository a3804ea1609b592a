#!/usr/bin/env bash
# Install the Debian toolchains `dscoder eval` runs generated programs with (see docs/eval.md and
# ../shared/eval-sandbox.md section 5). Idempotent: packages already installed are not touched, and
# with all of them present the script does nothing (no apt-get update). Needs root (or sudo).
#
#   python3 + python3-numpy  the sandboxed Python (HumanEval's import prefix needs numpy)
#   python3-sympy python3-venv  PAL-Math's MATH programs import sympy; the DS-1000 env is a venv of it
#   g++ libssl-dev           humaneval-cpp (task 162 links -lcrypto)
#   default-jdk-headless libjavatuples-java   humaneval-java (every prompt imports org.javatuples)
#   nodejs node-typescript   humaneval-js, humaneval-ts
#   php-cli                  humaneval-php
#   mono-mcs mono-runtime    humaneval-cs (Debian has no csc; mcs as DeepSeek's scripts use)
#   bash                     humaneval-sh
set -euo pipefail

PACKAGES=(python3 python3-numpy python3-sympy python3-venv g++ libssl-dev default-jdk-headless libjavatuples-java
          nodejs node-typescript php-cli mono-mcs mono-runtime bash)

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-eval-toolchains: not a Debian/Ubuntu system; install these yourself: ${PACKAGES[*]}" >&2
  exit 0
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

# nodejs from nodesource (as on this machine kind) provides node but may be named differently or
# conflict with Debian's package; count it present when `node` runs.
if command -v node >/dev/null 2>&1; then
  filtered=()
  for pkg in "${missing[@]}"; do [[ "$pkg" == nodejs ]] || filtered+=("$pkg"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-eval-toolchains: all present"
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-eval-toolchains: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi

echo "install-eval-toolchains: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-eval-toolchains: done"
