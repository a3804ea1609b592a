#!/usr/bin/env bash
# The DS-1000 eval environment (docs/eval.md, DS-1000): a venv of /usr/bin/python3 -- the interpreter
# the sandboxed programs run -- holding the DS-1000 libraries that install on Python 3.11 on a CPU, so
# the project's own .venv does not move. The sandbox shows this folder read-only and runs its
# bin/python (a link to /usr/bin/python3 that finds the venv's site-packages by its pyvenv.cfg).
#
#   bash scripts/make-ds1000-env.sh [DEST]      (default .venv-ds1000; `make ds1000-env`)
#
# DS-1000's own environment pins older releases (numpy 1.21, pandas 1.3, ...) that have no wheels for
# 3.11; these are the nearest that do. torch and tensorflow are added with DS1000_EXTRA="torch tensorflow-cpu"
# (large; the tests use the libraries present).
set -euo pipefail
DEST=${1:-.venv-ds1000}
PY=${DS1000_PYTHON:-/usr/bin/python3}
PACKAGES=(numpy==1.26.4 pandas==2.2.3 scipy==1.13.1 scikit-learn==1.5.2 matplotlib==3.9.4)
read -r -a EXTRA <<< "${DS1000_EXTRA:-}"

if [[ ! -x "$PY" ]]; then
  echo "make-ds1000-env: $PY not found (the sandbox runs /usr/bin/python3: apt-get install python3 python3-venv)" >&2
  exit 1
fi
if [[ -f "$DEST/.installed" ]] && [[ "$(cat "$DEST/.installed")" == "${PACKAGES[*]} ${EXTRA[*]}" ]]; then
  echo "make-ds1000-env: $DEST is up to date"
  exit 0
fi
if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c "import ensurepip" >/dev/null 2>&1; then
  echo "make-ds1000-env: installing python3-venv" >&2
  apt-get install -y -qq python3-venv >/dev/null || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }
fi
"$PY" -m venv "$DEST"
"$DEST/bin/python" -m pip install -q --upgrade pip
"$DEST/bin/python" -m pip install -q "${PACKAGES[@]}" "${EXTRA[@]}"
chmod -R a+rX "$DEST"  # the sandboxed programs run as another uid
echo "${PACKAGES[*]} ${EXTRA[*]}" > "$DEST/.installed"
"$DEST/bin/python" -c "import numpy, pandas, scipy, sklearn, matplotlib; print('make-ds1000-env: ready:', numpy.__version__, pandas.__version__, scipy.__version__, sklearn.__version__, matplotlib.__version__)"
