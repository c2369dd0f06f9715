# cdp — run `make` for the list of targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The processor's hot modules, compiled with mypyc beside their sources (`cdp/native.py`); built
# again whenever a source of theirs may have changed. NATIVE=0 keeps everything pure Python.
NATIVE ?= 1
NATIVE_STAMP := build/native/.built
NATIVE_INPUTS := $(wildcard identity/*.py profiles/*.py) cdp/native.py scripts/native.py pyproject.toml
PYTEST_ARGS ?=

.PHONY: help install native browser run test lint format bench clean

help: ## Show the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-8s\033[0m %s\n", $$1, $$2}'

install: $(STAMP) native ## Create .venv, install cdp with its test extras, compile its hot modules

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

native: $(STAMP) $(if $(filter 1,$(NATIVE)),$(NATIVE_STAMP)) ## Compile the processor's hot modules (mypyc)
ifneq ($(NATIVE),1)
	$(BIN)/python scripts/native.py clean
endif

$(NATIVE_STAMP): $(STAMP) $(NATIVE_INPUTS)
	@mkdir -p build
	$(BIN)/python scripts/native.py build > build/native.log 2>&1 || { tail -n 40 build/native.log; exit 1; }
	@touch $(NATIVE_STAMP)

# The console's e2e test drives Debian's chromium with Playwright (no `playwright install`).
# As root on Debian/Ubuntu this installs it; elsewhere it only warns and the browser test skips.
browser: install ## Install Debian's chromium for the console's browser test (apt-get, as root)
	@if [ -x /usr/bin/chromium ]; then \
		echo "chromium: $$(/usr/bin/chromium --version 2>/dev/null | head -1)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		export DEBIAN_FRONTEND=noninteractive; \
		{ apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
		|| echo "warning: apt-get could not install chromium; the console's browser test will skip"; \
	else \
		echo "warning: not root with apt-get: install chromium yourself or the console's browser test will skip"; \
	fi

run: install ## Run the whole platform (embedded Kafka + Postgres unless configured)
	$(BIN)/cdp up

test: install browser ## Run the tests: unit, integration (real Kafka + Postgres) and e2e
	@$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests for: $(PYTEST_ARGS)"; exit 0; fi; exit $$rc

lint: install ## ruff format --check, ruff check, mypy --strict
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/python scripts/typecheck.py

format: install ## Format and autofix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## Benchmarks (figures printed and written under bench-results/)
	$(BIN)/cdp bench ingest

clean: ## Remove the venv, the compiled modules, the embedded stack's data and caches
	-$(BIN)/python scripts/native.py clean
	rm -rf $(VENV) .cdp build .pytest_cache .mypy_cache .ruff_cache
