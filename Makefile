# The project's front door. Every target works on a fresh Debian machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint services bench bench-fanout bench-workers loadtest clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

## run: the whole engine in one process on the embedded default (no services needed)
run: $(STAMP)
	$(BIN)/party-engine all

## services: install the servers the tests start themselves (Debian packages), where missing
services:
	@scripts/install-services.sh

## test: install what the tests need and run the whole suite (what CI runs)
test: services $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy party_engine workers

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
