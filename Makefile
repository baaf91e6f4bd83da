# The two front-door commands: `make demo` (set up, then run the offline demo) and
# `make test` (set up, then lint and run the test suite). Both work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/safebench run examples/offline.yaml

lint: setup
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf runs .pytest_cache .ruff_cache
