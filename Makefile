# The two front-door commands: `make demo` (set up, then run the offline demo) and
# `make test` (set up, then lint and run the test suite). Both work on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup system-deps demo test lint clean

# promptfoo (npm), for the promptfoo grader's test (tests/integrations/test_promptfoo_grader.py),
# installed only where npm is; without it that test skips and says why.
PROMPTFOO_VERSION := 0.121.20
PROMPTFOO_STAMP   := .tools/promptfoo/.installed-$(PROMPTFOO_VERSION)

# Set-up speaks one line; what pip says goes to $(SETUP_LOG) (its last lines are shown if it
# fails), so `make demo` on a set-up machine prints SafeBench's output alone.
SETUP_LOG := $(VENV)/setup.log

$(STAMP): pyproject.toml
	@echo "setting up $(VENV): pip install -e '.[dev,ray,inspect]' (log: $(SETUP_LOG))"
	@$(PYTHON) -m venv $(VENV)
	@{ $(BIN)/pip install --upgrade pip && $(BIN)/pip install -e '.[dev,ray,inspect]'; } \
	  > $(SETUP_LOG) 2>&1 || { tail -n 40 $(SETUP_LOG); exit 1; }
	@touch $(STAMP)

# Debian's chromium (+ chromedriver) for the browser tests of the report and the viewer;
# Playwright drives this binary, so no browser is ever downloaded by Playwright itself.
# espeak-ng speaks the dataset's queries offline (safebench media).
system-deps:
	@{ command -v chromium >/dev/null 2>&1 && command -v espeak-ng >/dev/null 2>&1; } || { \
	  if ! command -v apt-get >/dev/null 2>&1; then \
	    echo "warning: no apt-get; install chromium and espeak-ng yourself (browser and speech tests will skip)"; \
	  else \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    log=$$(mktemp); \
	    echo "installing chromium, chromium-driver and espeak-ng (apt-get; log: $$log)"; \
	    { $$SUDO apt-get update && \
	      $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
	        chromium chromium-driver espeak-ng; } > $$log 2>&1 || { tail -n 40 $$log; exit 1; }; \
	  fi; }

$(PROMPTFOO_STAMP):
	@if command -v npm >/dev/null 2>&1; then \
	  echo "installing promptfoo $(PROMPTFOO_VERSION) into .tools/promptfoo (npm, about 280 MB)"; \
	  examples/promptfoo/install.sh $(PROMPTFOO_VERSION) .tools/promptfoo >/dev/null && touch $@; \
	fi

setup: system-deps $(STAMP) $(PROMPTFOO_STAMP)

demo: setup
	@$(BIN)/safebench run examples/offline.yaml

# ruff, then the import contracts in .importlinter (the layers; no cycles; nothing imports
# the CLI or the tests): a back-edge fails here. Then the docs site, strictly (a broken link
# or anchor fails); it is built into .site/, which git ignores.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir .site

# Two workers (pytest-xdist), a test file each at a time (fixtures built once per file):
# much of the suite waits on subprocesses, servers and browsers, so two overlap well even
# on a busy 2-core machine.
test: lint
	$(BIN)/pytest -q -n 2 --dist loadfile

clean:
	rm -rf runs .pytest_cache .ruff_cache
