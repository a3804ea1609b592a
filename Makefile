# The README's commands. `make demo` and `make test` set up .venv first when needed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo-out

.PHONY: setup demo test bench bench-scale lint docs clean gpu-check gpu-check-dry gpu-wheels ds1000-env

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test,train,eval]'
	touch $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh $(DEMO)

test: $(STAMP)
	bash scripts/install-test-deps.sh
	bash scripts/install-eval-toolchains.sh
	bash scripts/make-ds1000-env.sh $(DS1000_ENV)
	$(BIN)/python -m pytest -q -ra

# DS-1000's libraries for the sandboxed programs, in a venv of /usr/bin/python3 (docs/eval.md, DS-1000)
DS1000_ENV ?= .venv-ds1000
ds1000-env:
	bash scripts/make-ds1000-env.sh $(DS1000_ENV)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# the data chain on the demo and the site-packages corpus, --workers 1 and 2 (docs/architecture.md)
BENCH_SCALE_ARGS ?=
bench-scale: $(STAMP)
	$(BIN)/python -m benchmarks.bench_scale $(BENCH_SCALE_ARGS)

docs: $(STAMP)
	$(BIN)/python -m dscoder_cli.docs_options

lint: $(STAMP)
	$(BIN)/ruff check --select F,E9 dscoder_cli stages tests benchmarks scripts

# The GPU check (docs/pretrain.md, "On GPUs"). On the CUDA machine, with the preinstalled torch and
# the wheels made here by `make gpu-wheels` (no .venv there: its torch pin is the CPU build):
#   make gpu-check WHEELS=.gpu-wheels GPU_CHECK_ARGS="--report $$OUT/gpu-check.json"
WHEELS ?= .gpu-wheels
GPU_IMAGE ?= scripts/gpu-image-h200.txt
GPU_CHECK_ARGS ?=

gpu-check:
	bash scripts/gpu-check.sh --wheels $(WHEELS) $(GPU_CHECK_ARGS)

# the same steps at tiny size on this CPU (tests/test_gpu_check.py runs it in `make test`)
gpu-check-dry: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/gpu-check.sh --dry-run $(GPU_CHECK_ARGS)

# cp312 manylinux wheels of everything dscoder needs but torch, minus what GPU_IMAGE lists
gpu-wheels: $(STAMP)
	$(BIN)/python scripts/gpu_wheels.py download $(WHEELS) --python-version 3.12 --have $(GPU_IMAGE)

clean:
	rm -rf $(DEMO) build *.egg-info gpu-check-out bench-scale-out
