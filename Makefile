# The two commands a new user needs are `make demo` and `make test`.
# Everything installs from the package registries into .venv; nothing is downloaded at run time.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip

.PHONY: demo test lint typecheck unit chaos bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Stamp files so that a second `make` does not reinstall; they are redone when pyproject.toml changes.
$(VENV)/.sim-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[sim]'
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(PIP) install --quiet -e '.[dev,sim]'
	touch $@

demo: $(VENV)/.sim-installed
	$(BIN)/meshshift demo $(DEMO_ARGS)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

# The long forms of tests/reliability; their figures become docs/reliability.md.
chaos: $(VENV)/.dev-installed
	MESHSHIFT_CHAOS_RUNS=100 $(BIN)/pytest tests/reliability -m "not browser" --timeout 3600 $(PYTEST_ARGS)
	$(BIN)/python -m tests.reliability.report

bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# Regenerates the docs that are derived from code (a test fails when they are stale).
docs: $(VENV)/.dev-installed
	$(BIN)/python -m migration.spec_reference > docs/spec-reference.md

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info
