# The README's commands. `make demo` and `make test` set up .venv first when needed.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo-out

.PHONY: setup demo test bench lint docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[test,train]'
	touch $(STAMP)

demo: $(STAMP)
	bash scripts/demo.sh $(DEMO)

test: $(STAMP)
	bash scripts/install-test-deps.sh
	bash scripts/install-eval-toolchains.sh
	$(BIN)/python -m pytest -q -ra

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

docs: $(STAMP)
	$(BIN)/python -m dscoder_cli.docs_options

lint: $(STAMP)
	$(BIN)/ruff check --select F,E9 dscoder_cli stages tests benchmarks scripts

clean:
	rm -rf $(DEMO) build *.egg-info
